//===- MatmulEpilogue.cpp - what a matmul kernel call can absorb ----------===//
//
// Bufferization leaves an f32 MatMul/Gemm (+ bias) + element-wise tail as
//
//   %c = memref.alloc()
//   linalg.generic ins(%bias : [N]) outs(%c) { yield bias }   // or a
//       broadcast of it along the last dim, or zeros
//   linalg.generic (contraction) ins(%a, %b) outs(%c)
//   linalg.generic ins(%c[, %residual]) outs(%dst) { act(x [+ r]) }
//
// qopt_kernel_matmul_f32_fused computes all of it into %dst: each C block
// starts at the bias, accumulates A·B, then gets the residual and the
// activation (ConvEpilogue.cpp's matcher: Relu, Clip, LeakyRelu, HardSwish,
// Sigmoid, SiLU and GELU in its erf and tanh forms) while it is in cache.
// The conditions are the conv epilogue's: %c fresh and read only by the
// consumer, %dst not aliasing A, B or the bias, nothing in between touching
// the buffers involved. When only the consumer fails them, the bias is
// still taken over.
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// Whether `init` writes all of `c` (rank r) with zeros or with a rank-1
/// `bias` along its last dim; sets `bias`.
bool isMatmulInit(Operation *init, Value c, Value &bias) {
  int64_t rank = cast<MemRefType>(c.getType()).getRank();
  if (convZeroInitOf(init, c))
    return true;
  auto isBiasType = [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getRank() == 1 && t.getElementType().isF32();
  };
  if (auto b = dyn_cast<linalg::BroadcastOp>(init)) {
    SmallVector<int64_t> dims;
    for (int64_t i = 0; i + 1 < rank; ++i)
      dims.push_back(i);
    if (b.getInit() != c || !isBiasType(b.getInput()) ||
        b.getDimensions() != ArrayRef<int64_t>(dims))
      return false;
    bias = b.getInput();
    return true;
  }
  auto g = dyn_cast<linalg::GenericOp>(init);
  if (!g || !g.hasPureBufferSemantics() || g.getNumDpsInputs() != 1 ||
      g.getNumDpsInits() != 1 || g.getDpsInitOperand(0)->get() != c ||
      g.getNumParallelLoops() != g.getNumLoops() ||
      g.getNumLoops() != unsigned(rank) ||
      !isBiasType(g.getDpsInputOperand(0)->get()))
    return false;
  SmallVector<AffineMap> maps = g.getIndexingMapsArray();
  if (maps[0].getNumResults() != 1)
    return false;
  auto last = dyn_cast<AffineDimExpr>(maps[0].getResult(0));
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (!maps[1].isIdentity() || !last || last.getPosition() != rank - 1 ||
      body.getOperations().size() != 1 ||
      yield.getOperand(0) != body.getArgument(0))
    return false;
  bias = g.getDpsInputOperand(0)->get();
  return true;
}

/// Whether an op strictly between `from` and `to` may write one of `read`
/// (buffers the call reads at `to` instead of at `from`) or uses one of
/// `owned` at all. Linalg ops on buffers and copies say what they write;
/// anything else with memref operands (or regions) counts as using them
/// all. Reading A or B in between (e.g. SwiGLU's up projection of the
/// same input) is fine.
bool clobberedBetween(Operation *from, Operation *to, ArrayRef<Value> read,
                      ArrayRef<Value> owned) {
  auto in = [](ArrayRef<Value> set, Value v) {
    return isa<MemRefType>(v.getType()) &&
           llvm::is_contained(set, convBaseBuffer(v));
  };
  for (Operation *op = from->getNextNode(); op && op != to;
       op = op->getNextNode()) {
    if (auto l = dyn_cast<linalg::LinalgOp>(op);
        l && l.hasPureBufferSemantics()) {
      for (Value v : op->getOperands())
        if (in(owned, v))
          return true;
      for (OpOperand &init : l.getDpsInitsMutable())
        if (in(read, init.get()))
          return true;
      continue;
    }
    if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      if (in(owned, copy.getSource()) || in(owned, copy.getTarget()) ||
          in(read, copy.getTarget()))
        return true;
      continue;
    }
    if (isa<memref::AllocOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
            memref::SubViewOp>(op))
      continue;
    WalkResult r = op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        if (in(owned, v) || in(read, v))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return true;
    // A kernel call takes addresses (i64): whatever it reaches is unknown.
    if (isa<func::CallOp>(op))
      return true;
  }
  return false;
}

} // namespace

std::optional<ConvEpilogueMatch>
mlir::qopt::matchMatmulEpilogue(linalg::LinalgOp op, unsigned nDim) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1)
    return std::nullopt;
  Value c = op.getDpsInitOperand(0)->get();
  auto cTy = dyn_cast<MemRefType>(c.getType());
  if (!cTy || !cTy.getElementType().isF32() ||
      !c.getDefiningOp<memref::AllocOp>())
    return std::nullopt;
  // The output's last dim must be the kernel's N (the bias runs along it).
  AffineMap cMap = op.getIndexingMapsArray().back();
  if (!cMap.getNumResults())
    return std::nullopt;
  auto lastDim = dyn_cast<AffineDimExpr>(cMap.getResults().back());
  if (!lastDim || lastDim.getPosition() != nDim)
    return std::nullopt;
  Block *block = op->getBlock();
  ConvEpilogueMatch m;
  SmallVector<linalg::GenericOp> readers;
  int others = 0;
  for (Operation *user : c.getUsers()) {
    if (user == op.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    if (user->getBlock() != block)
      return std::nullopt;
    if (user->isBeforeInBlock(op)) {
      if (m.init)
        return std::nullopt;
      m.init = user;
      continue;
    }
    auto g = dyn_cast<linalg::GenericOp>(user);
    if (g && g.getDpsInitOperand(0)->get() != c)
      readers.push_back(g);
    else
      ++others;
  }
  if (!m.init || !isMatmulInit(m.init, c, m.bias))
    return std::nullopt;
  m.dst = c;
  auto bare = [&] {
    m.consumer = {};
    m.residual = {};
    m.gated = false;
    m.dst = c;
    m.act = ConvEpilogueAct::None;
    m.alpha = m.beta = 0;
    return m;
  };
  if (readers.size() != 1 || others || !matchConvConsumer(readers[0], c, m))
    return bare();
  // The call runs at the consumer's position: A, B and the bias must hold
  // there what they held at the matmul, %dst must not be used in between.
  // (The residual is read there by the consumer anyway.)
  Value a = convBaseBuffer(op.getDpsInputOperand(0)->get());
  Value b = convBaseBuffer(op.getDpsInputOperand(1)->get());
  Value dst = convBaseBuffer(m.dst);
  SmallVector<Value> read{a, b};
  bool ok = convDistinctBuffers(dst, a) && convDistinctBuffers(dst, b);
  if (m.bias) {
    ok = ok && convDistinctBuffers(dst, convBaseBuffer(m.bias));
    read.push_back(convBaseBuffer(m.bias));
  }
  if (m.residual)
    ok = ok && convDistinctBuffers(convBaseBuffer(m.residual), dst);
  if (!ok || clobberedBetween(op, m.consumer, read, {dst, c}))
    return bare();
  return m;
}
