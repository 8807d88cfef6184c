//===- PoolKernelCalls.cpp - 2-D pools as kernel calls --------------------===//
//
// The importer's MaxPool / AveragePool over NCHW f32 (lib/Import/ONNX/Ops/
// Conv.cpp, poolGeneric) reaches the buffer level as
//
//   linalg.generic (n, c, oh, ow, kh, kw)
//       ins(%x [n, c, oh * SH + kh * DH, ow * SW + kw * DW], %window [kh, kw])
//       outs(%out [n, c, oh, ow]) { maximumf(out, pre(x)) }   (or out + x)
//
// where pre(x) is x or maximumf(x, c) (a ReLU qopt-fuse-elementwise pulled
// in), %window only gives the kernel loops their sizes, and %out holds the
// -inf / 0 fill. It becomes one qopt_kernel_pool2d_f32 call
// (lib/Runtime/PoolKernels.cpp), which reduces in the loop's order and so
// gives the loop's results bit for bit. The fill, the padded copy of x and
// AveragePool's division stay as they are.
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

constexpr StringLiteral kPoolKernel = "qopt_kernel_pool2d_f32";

/// What the body computes.
struct PoolBody {
  bool sum = false;
  bool clamp = false;
  float lo = 0.0f;
};

/// maximumf(out, pre(x)) or out + x, pre(x) = x | maximumf(x, constant).
std::optional<PoolBody> matchBody(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  Value in = body.getArgument(0), acc = body.getArgument(2);
  if (!body.getArgument(1).use_empty())
    return std::nullopt;
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  Operation *combine = yield.getOperand(0).getDefiningOp();
  if (!combine || combine->getBlock() != &body ||
      combine->getNumOperands() != 2)
    return std::nullopt;
  Value a = combine->getOperand(0), b = combine->getOperand(1);
  Value other = a == acc ? b : b == acc ? a : Value();
  if (!other || other == acc)
    return std::nullopt;
  PoolBody r;
  size_t ops = body.getOperations().size();
  if (isa<arith::AddFOp>(combine)) {
    if (other != in || ops != 2)
      return std::nullopt;
    r.sum = true;
    return r;
  }
  if (!isa<arith::MaximumFOp>(combine))
    return std::nullopt;
  if (other == in)
    return ops == 2 ? std::optional<PoolBody>(r) : std::nullopt;
  auto pre = other.getDefiningOp<arith::MaximumFOp>();
  if (!pre || pre->getBlock() != &body || ops != 3)
    return std::nullopt;
  Value c = pre.getLhs() == in   ? pre.getRhs()
            : pre.getRhs() == in ? pre.getLhs()
                                 : Value();
  FloatAttr value;
  if (!c || !matchPattern(c, m_Constant(&value)))
    return std::nullopt;
  r.clamp = true;
  r.lo = value.getValue().convertToFloat();
  return r;
}

struct PoolToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getLibraryCall() ||
        op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
        op.getNumLoops() != 6)
      return failure();
    Value x = op.getDpsInputOperand(0)->get();
    Value window = op.getDpsInputOperand(1)->get();
    Value out = op.getDpsInitOperand(0)->get();
    auto xTy = dyn_cast<MemRefType>(x.getType());
    auto wTy = dyn_cast<MemRefType>(window.getType());
    auto oTy = dyn_cast<MemRefType>(out.getType());
    if (!xTy || !wTy || !oTy || xTy.getRank() != 4 || wTy.getRank() != 2 ||
        oTy.getRank() != 4 || !xTy.getElementType().isF32() ||
        !oTy.getElementType().isF32())
      return failure();
    auto iters = op.getIteratorTypesArray();
    for (unsigned i = 0; i < 6; ++i)
      if (iters[i] != (i < 4 ? utils::IteratorType::parallel
                             : utils::IteratorType::reduction))
        return failure();
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    auto dimsAre = [](AffineMap m, ArrayRef<unsigned> want) {
      if (m.getNumResults() != want.size())
        return false;
      for (auto [e, d] : llvm::zip(m.getResults(), want)) {
        auto de = dyn_cast<AffineDimExpr>(e);
        if (!de || de.getPosition() != d)
          return false;
      }
      return true;
    };
    if (!dimsAre(maps[2], {0, 1, 2, 3}) || !dimsAre(maps[1], {4, 5}) ||
        maps[0].getNumResults() != 4 ||
        !dimsAre(maps[0].getSliceMap(0, 2), {0, 1}))
      return failure();
    auto rows = convWindowIndex(maps[0].getResult(2), 6, 2, 4);
    auto cols = convWindowIndex(maps[0].getResult(3), 6, 3, 5);
    if (!rows || !cols)
      return rewriter.notifyMatchFailure(op, "not a sliding window");
    std::optional<PoolBody> body = matchBody(op);
    if (!body)
      return rewriter.notifyMatchFailure(op, "not a max or sum pool body");
    if (convBaseBuffer(x) == convBaseBuffer(out))
      return rewriter.notifyMatchFailure(op, "in place");

    Location loc = op.getLoc();
    auto i64 = [&](Value idx) -> Value {
      return arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                        idx);
    };
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(rewriter, loc, v, 64);
    };
    auto dim = [&](Value v, int64_t d) {
      return i64(getValueOrCreateConstantIndexOp(
          rewriter, loc, memref::getMixedSize(rewriter, loc, v, d)));
    };
    auto describe = [&](Value memref, SmallVectorImpl<Value> &args) {
      auto meta =
          memref::ExtractStridedMetadataOp::create(rewriter, loc, memref);
      Value base =
          memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, memref);
      Value elem = arith::ConstantIndexOp::create(rewriter, loc, 4);
      Value offBytes =
          arith::MulIOp::create(rewriter, loc, meta.getOffset(), elem);
      args.push_back(i64(arith::AddIOp::create(rewriter, loc, base, offBytes)));
      for (Value s : meta.getStrides())
        args.push_back(i64(s));
    };
    SmallVector<Value> args{constant(body->sum ? 1 : 0)};
    for (int64_t d = 0; d < 4; ++d)
      args.push_back(dim(out, d));
    args.append({dim(window, 0), dim(window, 1), constant(rows->first),
                 constant(cols->first), constant(rows->second),
                 constant(cols->second)});
    describe(x, args);
    describe(out, args);
    args.append({constant(body->clamp ? 1 : 0),
                 constant(int64_t(llvm::bit_cast<uint32_t>(body->lo)))});

    auto module = op->getParentOfType<ModuleOp>();
    auto kernel = module.lookupSymbol<func::FuncOp>(kPoolKernel);
    if (!kernel) {
      OpBuilder::InsertionGuard g(rewriter);
      rewriter.setInsertionPointToStart(module.getBody());
      SmallVector<Type> types(args.size(), rewriter.getI64Type());
      kernel = func::FuncOp::create(rewriter, module.getLoc(), kPoolKernel,
                                    rewriter.getFunctionType(types, {}));
      kernel.setPrivate();
    }
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    // The window buffer only sized the loops: drop it when nothing else
    // uses it.
    if (auto alloc = window.getDefiningOp<memref::AllocOp>();
        alloc && llvm::all_of(alloc->getUsers(), [](Operation *u) {
          return isa<memref::DeallocOp>(u);
        })) {
      for (Operation *u : llvm::make_early_inc_range(alloc->getUsers()))
        rewriter.eraseOp(u);
      rewriter.eraseOp(alloc);
    }
    return success();
  }
};

} // namespace

void mlir::qopt::populatePoolKernelCallPatterns(RewritePatternSet &patterns) {
  patterns.add<PoolToKernelCall>(patterns.getContext());
}
