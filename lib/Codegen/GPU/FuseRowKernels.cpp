//===- FuseRowKernels.cpp - softmax / layer norm as one kernel per chain --===//
//
// Softmax, layer norm, RMS norm and reductions reach the buffer level as a
// chain of linalg ops over the same rows: a fill of a per-row buffer, a
// reduction along the last dimension into it, a per-row scalar op (mean =
// sum / n), more reductions, an element-wise op that reads the row and its
// per-row scalars. The generic GPU path makes one kernel of each op and
// runs every reduction sequentially in one thread per row. This pass turns
// each such chain into a single gpu.launch with one block per row: stages
// run one after another with a barrier in between; element-wise stages
// stride the row over the block's threads; reductions accumulate a partial
// per thread and combine them with gpu.all_reduce; per-row scalar stages
// run in thread 0. Intermediate buffers stay as they are (they are per
// row, so each block reads back what it wrote, from L1/L2).
//
// An op belongs to a chain with R row dimensions when its first R loops are
// parallel, it has at most one more loop (the column), every operand is
// indexed by exactly the row loops first (then, optionally, the column) or
// by no row loop at all (a per-column vector broadcast over the rows, such
// as layer norm's scale), and its row extents equal the chain's. Chains
// without a reduction are left to the generic path.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <optional>

namespace mlir::qopt {
#define GEN_PASS_DEF_GPUFUSEROWKERNELSPASS
#include "qopt/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// How a stage walks its row.
enum class StageKind {
  RowScalar, ///< no column loop: one value per row (thread 0)
  Columns,   ///< a parallel column loop (threads stride the row)
  Reduce     ///< a reduction column loop (partials + gpu.all_reduce)
};

/// A reduction's combiner: the op yielding `combiner(%out, value)`.
struct Combiner {
  Operation *op = nullptr;
  arith::AtomicRMWKind identity;
  gpu::AllReduceOperation reduce;
};

std::optional<Combiner> classifyCombiner(Operation *op) {
  using K = arith::AtomicRMWKind;
  using R = gpu::AllReduceOperation;
  auto make = [&](K k, R r) { return Combiner{op, k, r}; };
  return llvm::TypeSwitch<Operation *, std::optional<Combiner>>(op)
      .Case([&](arith::AddFOp) { return make(K::addf, R::ADD); })
      .Case([&](arith::MulFOp) { return make(K::mulf, R::MUL); })
      .Case([&](arith::MaximumFOp) { return make(K::maximumf, R::MAXIMUMF); })
      .Case([&](arith::MinimumFOp) { return make(K::minimumf, R::MINIMUMF); })
      .Case([&](arith::MaxNumFOp) { return make(K::maxnumf, R::MAXNUMF); })
      .Case([&](arith::MinNumFOp) { return make(K::minnumf, R::MINNUMF); })
      .Case([&](arith::AddIOp) { return make(K::addi, R::ADD); })
      .Case([&](arith::MulIOp) { return make(K::muli, R::MUL); })
      .Case([&](arith::MaxSIOp) { return make(K::maxs, R::MAXSI); })
      .Case([&](arith::MinSIOp) { return make(K::mins, R::MINSI); })
      .Case([&](arith::MaxUIOp) { return make(K::maxu, R::MAXUI); })
      .Case([&](arith::MinUIOp) { return make(K::minu, R::MINUI); })
      .Case([&](arith::AndIOp) { return make(K::andi, R::AND); })
      .Case([&](arith::OrIOp) { return make(K::ori, R::OR); })
      .Case([&](arith::XOrIOp) { return make(K::xori, R::XOR); })
      .Default([](Operation *) { return std::nullopt; });
}

/// One linalg op of a chain.
struct Stage {
  linalg::LinalgOp op;
  StageKind kind;
  Combiner combiner; // Reduce only
};

/// The extent of `buffer`'s dimension `d` as a static size or the SSA value
/// that allocated it; null when unknown (then it matches nothing).
OpFoldResult extentOf(Value buffer, int64_t d) {
  auto ty = cast<MemRefType>(buffer.getType());
  if (!ty.isDynamicDim(d))
    return IntegerAttr::get(IndexType::get(buffer.getContext()),
                            ty.getDimSize(d));
  if (auto alloc = buffer.getDefiningOp<gpu::AllocOp>())
    return alloc.getDynamicSizes()[ty.getDynamicDimIndex(d)];
  if (auto alloc = buffer.getDefiningOp<memref::AllocOp>())
    return alloc.getDynamicSizes()[ty.getDynamicDimIndex(d)];
  return OpFoldResult();
}

bool sameExtent(OpFoldResult a, OpFoldResult b) {
  if (!a || !b)
    return false;
  if (auto va = dyn_cast<Value>(a))
    return va == dyn_cast<Value>(b);
  return isa<Attribute>(b) && cast<Attribute>(a) == cast<Attribute>(b);
}

/// The row extents of `op` for `rows` row loops (from its first output), or
/// nothing when `op` cannot be a stage with that many rows.
std::optional<Stage> asStage(linalg::LinalgOp op, unsigned rows) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1)
    return std::nullopt;
  if (!isa<linalg::GenericOp, linalg::FillOp>(op.getOperation()))
    return std::nullopt;
  unsigned loops = op.getNumLoops();
  if (loops != rows && loops != rows + 1)
    return std::nullopt;
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  for (unsigned i = 0; i < rows; ++i)
    if (iters[i] != utils::IteratorType::parallel)
      return std::nullopt;
  Stage s{op, StageKind::RowScalar, {}};
  if (loops == rows + 1)
    s.kind = iters[rows] == utils::IteratorType::reduction ? StageKind::Reduce
                                                           : StageKind::Columns;
  if (s.kind != StageKind::RowScalar && rows == 0)
    return std::nullopt; // a whole-tensor reduction is not a row chain
  // Every operand: rows first (then maybe the column), or no row at all.
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue; // a scalar (fill's value)
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (!map.isProjectedPermutation())
      return std::nullopt;
    bool isInit = op.isDpsInit(&operand);
    SmallVector<unsigned> dims;
    for (AffineExpr e : map.getResults())
      dims.push_back(cast<AffineDimExpr>(e).getPosition());
    bool usesRow = llvm::any_of(dims, [&](unsigned d) { return d < rows; });
    if (!usesRow) {
      if (isInit)
        return std::nullopt;
      continue; // broadcast over the rows
    }
    if (dims.size() < rows)
      return std::nullopt;
    for (unsigned i = 0; i < rows; ++i)
      if (dims[i] != i)
        return std::nullopt;
    if (dims.size() > rows + 1 ||
        (dims.size() == rows + 1 && dims[rows] != rows))
      return std::nullopt;
    // The output holds one value per row for a reduction, the whole row
    // otherwise.
    if (isInit &&
        dims.size() != (s.kind == StageKind::Columns ? rows + 1 : rows))
      return std::nullopt;
  }
  // The body: pure ops, and for a reduction a recognised combiner of the
  // accumulator that nothing else reads.
  Block *body = op.getBlock();
  for (Operation &inner : body->without_terminator())
    if (!isPure(&inner) || inner.getNumRegions() != 0)
      return std::nullopt;
  if (s.kind == StageKind::Reduce) {
    BlockArgument acc = body->getArguments().back();
    Value yielded = body->getTerminator()->getOperand(0);
    Operation *comb = yielded.getDefiningOp();
    if (!comb || comb->getBlock() != body || !acc.hasOneUse() ||
        acc.getUses().begin()->getOwner() != comb ||
        comb->getNumOperands() != 2 || !comb->getResult(0).hasOneUse())
      return std::nullopt;
    std::optional<Combiner> c = classifyCombiner(comb);
    if (!c)
      return std::nullopt;
    // gpu.all_reduce shuffles 32-bit values: narrower ones are widened for
    // it, 64-bit ones stay on the generic path.
    if (!acc.getType().isIntOrFloat() ||
        acc.getType().getIntOrFloatBitWidth() > 32)
      return std::nullopt;
    s.combiner = *c;
  }
  return s;
}

/// Row extents of a stage: the first `rows` dims of its output.
SmallVector<OpFoldResult> rowExtents(linalg::LinalgOp op, unsigned rows) {
  Value out = op.getDpsInitOperand(0)->get();
  SmallVector<OpFoldResult> ext;
  for (unsigned i = 0; i < rows; ++i)
    ext.push_back(extentOf(out, i));
  return ext;
}

/// Ops that may sit between the stages of a chain: they read and write no
/// buffer the chain touches, so the chain can run after them.
bool isTransparent(Operation *op) {
  return isa<arith::ConstantOp, memref::DimOp, gpu::AllocOp, memref::AllocOp,
             memref::ExpandShapeOp, memref::CollapseShapeOp, memref::SubViewOp,
             memref::CastOp, memref::ReinterpretCastOp>(op);
}

struct GPUFuseRowKernelsPass
    : public qopt::impl::GPUFuseRowKernelsPassBase<GPUFuseRowKernelsPass> {
  using GPUFuseRowKernelsPassBase::GPUFuseRowKernelsPassBase;

  void runOnOperation() override {
    if (blockSize < 32 || blockSize > 1024 || blockSize % 32 != 0) {
      getOperation()->emitError("qopt-gpu-fuse-row-kernels: block-size must "
                                "be a multiple of 32 in [32, 1024], not ")
          << static_cast<int64_t>(blockSize);
      return signalPassFailure();
    }
    SmallVector<Block *> blocks;
    getOperation()->walk([&](Block *b) {
      if (!b->getParentOp()->getParentOfType<gpu::LaunchOp>() &&
          !isa<gpu::LaunchOp>(b->getParentOp()))
        blocks.push_back(b);
    });
    for (Block *b : blocks)
      for (SmallVector<Stage> &chain : findChains(*b))
        emitChain(chain);
  }

  /// Maximal runs of stages over the same rows, in program order.
  SmallVector<SmallVector<Stage>> findChains(Block &block) {
    SmallVector<SmallVector<Stage>> chains;
    SmallVector<linalg::LinalgOp> run;
    // The row counts R for which every op of `run` is a stage with R rows
    // of the same extents.
    SmallVector<unsigned> rowCounts;

    auto flush = [&]() {
      // A reduction pins R to its loops - 1, so a chain with one has a
      // single reading left.
      if (!run.empty() && rowCounts.size() == 1) {
        SmallVector<Stage> chain;
        for (linalg::LinalgOp op : run)
          chain.push_back(*asStage(op, rowCounts.front()));
        if (llvm::any_of(chain, [](const Stage &s) {
              return s.kind == StageKind::Reduce;
            }))
          chains.push_back(std::move(chain));
      }
      run.clear();
      rowCounts.clear();
    };
    auto readings = [](linalg::LinalgOp op) {
      SmallVector<unsigned> counts;
      unsigned loops = op.getNumLoops();
      for (unsigned rows : {loops, loops - 1})
        if (loops > 0 && asStage(op, rows) &&
            llvm::all_of(rowExtents(op, rows),
                         [](OpFoldResult e) { return bool(e); }))
          counts.push_back(rows);
      return counts;
    };

    for (Operation &op : block) {
      auto lop = dyn_cast<linalg::LinalgOp>(&op);
      if (!lop) {
        if (!isTransparent(&op))
          flush();
        continue;
      }
      SmallVector<unsigned> own = readings(lop);
      SmallVector<unsigned> common;
      for (unsigned rows : own) {
        if (!llvm::is_contained(rowCounts, rows))
          continue;
        SmallVector<OpFoldResult> a = rowExtents(lop, rows),
                                  b = rowExtents(run.front(), rows);
        if (llvm::all_of(llvm::zip(a, b), [](auto p) {
              return sameExtent(std::get<0>(p), std::get<1>(p));
            }))
          common.push_back(rows);
      }
      if (common.empty()) {
        flush();
        if (own.empty())
          continue;
        common = own; // the op starts the next run
      }
      run.push_back(lop);
      rowCounts = common;
    }
    flush();
    return chains;
  }

  /// One gpu.launch for `chain`, in place of its last op.
  void emitChain(SmallVector<Stage> &chain) {
    linalg::LinalgOp last = chain.back().op;
    unsigned rows = 0;
    for (Stage &s : chain)
      if (s.kind == StageKind::Reduce)
        rows = s.op.getNumLoops() - 1;
    Location loc = last.getLoc();
    OpBuilder b(last);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);

    // Host side: row extents, their product (the grid) and each stage's
    // loop ranges (for its column extent).
    SmallVector<Value> rowSizes;
    Value out = chain.front().op.getDpsInitOperand(0)->get();
    for (unsigned i = 0; i < rows; ++i)
      rowSizes.push_back(getValueOrCreateConstantIndexOp(
          b, loc, memref::getMixedSize(b, loc, out, i)));
    Value numRows = rowSizes.front();
    for (Value s : ArrayRef(rowSizes).drop_front())
      numRows = arith::MulIOp::create(b, loc, numRows, s);
    SmallVector<Value> colSizes;
    for (Stage &s : chain) {
      if (s.kind == StageKind::RowScalar) {
        colSizes.push_back(Value());
        continue;
      }
      SmallVector<Range> ranges = s.op.createLoopRanges(b, loc);
      colSizes.push_back(
          getValueOrCreateConstantIndexOp(b, loc, ranges[rows].size));
    }
    // Rows known to be short need fewer threads (whole warps).
    int64_t widest = 0;
    for (Value c : colSizes) {
      if (!c)
        continue;
      std::optional<int64_t> n = getConstantIntValue(c);
      widest = n ? std::max(widest, *n) : blockSize;
    }
    int64_t numThreads =
        std::clamp<int64_t>(llvm::alignTo(widest, 32), 32, blockSize);
    Value threads = arith::ConstantIndexOp::create(b, loc, numThreads);

    auto launch =
        gpu::LaunchOp::create(b, loc, numRows, one, one, threads, one, one);
    OpBuilder kb = OpBuilder::atBlockBegin(&launch.getBody().front());
    Value tid = launch.getThreadIds().x;
    Value bdim = launch.getBlockSize().x;
    // Row indices from the block index (row-major).
    SmallVector<Value> rowIdx =
        rows == 1
            ? SmallVector<Value>{launch.getBlockIds().x}
            : SmallVector<Value>(affine::AffineDelinearizeIndexOp::create(
                                     kb, loc, launch.getBlockIds().x, rowSizes)
                                     .getResults());
    Value zero = arith::ConstantIndexOp::create(kb, loc, 0);
    Value isFirst =
        arith::CmpIOp::create(kb, loc, arith::CmpIPredicate::eq, tid, zero);

    for (auto [i, s] : llvm::enumerate(chain)) {
      if (i > 0)
        gpu::BarrierOp::create(kb, loc);
      switch (s.kind) {
      case StageKind::RowScalar: {
        auto ifOp = scf::IfOp::create(kb, loc, isFirst, false);
        OpBuilder tb = ifOp.getThenBodyBuilder();
        emitPoint(tb, loc, s.op, rowIdx, Value());
        break;
      }
      case StageKind::Columns: {
        auto loop = scf::ForOp::create(kb, loc, tid, colSizes[i], bdim);
        OpBuilder lb = OpBuilder::atBlockBegin(loop.getBody());
        emitPoint(lb, loc, s.op, rowIdx, loop.getInductionVar());
        break;
      }
      case StageKind::Reduce:
        emitReduction(kb, loc, s, rowIdx, tid, colSizes[i], bdim, isFirst);
        break;
      }
    }
    gpu::TerminatorOp::create(kb, loc);
    for (Stage &s : chain)
      s.op->erase();
  }

  /// Indices of `operand` at row `rowIdx`, column `col`.
  static SmallVector<Value> indicesOf(linalg::LinalgOp op, OpOperand &operand,
                                      ArrayRef<Value> rowIdx, Value col) {
    SmallVector<Value> idx;
    for (AffineExpr e : op.getMatchingIndexingMap(&operand).getResults()) {
      unsigned d = cast<AffineDimExpr>(e).getPosition();
      idx.push_back(d < rowIdx.size() ? rowIdx[d] : col);
    }
    return idx;
  }

  /// Loads every input at (row, col) and clones the body up to, not
  /// including, `stopAt` (the combiner of a reduction; null: the whole
  /// body). Returns the mapping.
  static IRMapping cloneBody(OpBuilder &b, Location loc, linalg::LinalgOp op,
                             ArrayRef<Value> rowIdx, Value col,
                             Operation *stopAt, bool loadInits) {
    IRMapping map;
    Block *body = op.getBlock();
    for (OpOperand &operand : op->getOpOperands()) {
      BlockArgument arg = body->getArgument(operand.getOperandNumber());
      if ((op.isDpsInit(&operand) && !loadInits) || arg.use_empty())
        continue;
      Value v = operand.get();
      if (isa<MemRefType>(v.getType()))
        v = memref::LoadOp::create(b, loc, v,
                                   indicesOf(op, operand, rowIdx, col));
      map.map(arg, v);
    }
    for (Operation &inner : body->without_terminator()) {
      if (&inner == stopAt)
        continue;
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        uint64_t d = index.getDim();
        map.map(index.getResult(), d < rowIdx.size() ? rowIdx[d] : col);
        continue;
      }
      b.clone(inner, map);
    }
    return map;
  }

  /// An element-wise (or per-row) point: loads, body, stores.
  static void emitPoint(OpBuilder &b, Location loc, linalg::LinalgOp op,
                        ArrayRef<Value> rowIdx, Value col) {
    IRMapping map = cloneBody(b, loc, op, rowIdx, col, nullptr,
                              /*loadInits=*/true);
    Operation *yield = op.getBlock()->getTerminator();
    OpOperand *init = op.getDpsInitOperand(0);
    memref::StoreOp::create(b, loc, map.lookup(yield->getOperand(0)),
                            init->get(), indicesOf(op, *init, rowIdx, col));
  }

  /// A reduction: per-thread partials over a strided walk of the row,
  /// gpu.all_reduce, then thread 0 folds the total into the output.
  static void emitReduction(OpBuilder &b, Location loc, const Stage &s,
                            ArrayRef<Value> rowIdx, Value tid, Value cols,
                            Value bdim, Value isFirst) {
    linalg::LinalgOp op = s.op;
    Operation *comb = s.combiner.op;
    BlockArgument acc = op.getBlock()->getArguments().back();
    Type ty = acc.getType();
    Value identity = arith::getIdentityValue(s.combiner.identity, ty, b, loc);
    auto loop = scf::ForOp::create(b, loc, tid, cols, bdim, identity);
    {
      OpBuilder lb = OpBuilder::atBlockBegin(loop.getBody());
      IRMapping map = cloneBody(lb, loc, op, rowIdx, loop.getInductionVar(),
                                comb, /*loadInits=*/false);
      Value value = comb->getOperand(0) == acc ? comb->getOperand(1)
                                               : comb->getOperand(0);
      IRMapping cm;
      cm.map(acc, loop.getRegionIterArgs()[0]);
      cm.map(value, map.lookupOrDefault(value));
      Operation *next = lb.clone(*comb, cm);
      scf::YieldOp::create(lb, loc, next->getResult(0));
    }
    // Narrow types are combined as 32-bit values (exact for integers: the
    // signed min/max sign-extend, the rest wrap the same way after the
    // truncation; float16/bfloat16 partials are added in float32).
    Value partial = loop.getResult(0);
    Type wide = ty;
    if (ty.getIntOrFloatBitWidth() < 32) {
      using K = arith::AtomicRMWKind;
      bool isSigned =
          s.combiner.identity == K::maxs || s.combiner.identity == K::mins;
      if (isa<FloatType>(ty)) {
        wide = b.getF32Type();
        partial = arith::ExtFOp::create(b, loc, wide, partial);
      } else {
        wide = b.getI32Type();
        partial =
            isSigned
                ? arith::ExtSIOp::create(b, loc, wide, partial).getResult()
                : arith::ExtUIOp::create(b, loc, wide, partial).getResult();
      }
    }
    Value total =
        gpu::AllReduceOp::create(
            b, loc, partial,
            gpu::AllReduceOperationAttr::get(b.getContext(), s.combiner.reduce),
            /*uniform=*/true)
            .getResult();
    if (wide != ty)
      total = isa<FloatType>(ty)
                  ? arith::TruncFOp::create(b, loc, ty, total).getResult()
                  : arith::TruncIOp::create(b, loc, ty, total).getResult();
    auto ifOp = scf::IfOp::create(b, loc, isFirst, false);
    OpBuilder tb = ifOp.getThenBodyBuilder();
    OpOperand *init = op.getDpsInitOperand(0);
    SmallVector<Value> idx = indicesOf(op, *init, rowIdx, Value());
    Value old = memref::LoadOp::create(tb, loc, init->get(), idx);
    Value value =
        comb->getOperand(0) == acc ? comb->getOperand(1) : comb->getOperand(0);
    IRMapping cm;
    cm.map(acc, old);
    cm.map(value, total);
    Operation *folded = tb.clone(*comb, cm);
    memref::StoreOp::create(tb, loc, folded->getResult(0), init->get(), idx);
  }
};

} // namespace
