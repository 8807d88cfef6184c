//===- QDQGrid.cpp - fake quants that change nothing ----------------------===//
//
// A QDQ model puts a QuantizeLinear -> DequantizeLinear pair behind every
// op: after a Reshape, Transpose, Flatten, MaxPool, ReLU, Concat or nearest
// Resize (a gather) whose
// input already came through a pair of the same scale, the new pair
// changes nothing, and a pair whose value only moves (or goes through a
// max) into the next integer layer's quantization is absorbed by it. qopt-
// fold-qdq has turned the pairs into qopt.fake_quant; this removes the ones
// that are the identity, so that those ops move the integers' float images
// without a requantization pass. Every removal is exact.
//
//===----------------------------------------------------------------------===//

#include "QDQGrid.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// Per-tensor quantization grid: the values (k - 0) * scale for integer k
/// in [lo, hi] (lo = quant_min - zero_point), computed in f32 as the
/// lowering computes them.
struct Grid {
  float scale;
  int64_t lo, hi;

  /// Every point of `this` is a point of `o` (same scale, narrower range).
  bool within(const Grid &o) const {
    return scale == o.scale && lo >= o.lo && hi <= o.hi;
  }
};

std::optional<Grid> gridOf(FakeQuantOp fq) {
  if (fq.getAxis() || fq.getScale().size() != 1 ||
      fq.getZeroPoint().size() != 1)
    return std::nullopt;
  int64_t zp = fq.getZeroPoint()[0];
  return Grid{float(fq.getScale()[0]), int64_t(fq.getQuantMin()) - zp,
              int64_t(fq.getQuantMax()) - zp};
}

std::optional<Grid> gridOf(Type elementType) {
  auto t = dyn_cast<quant::UniformQuantizedType>(elementType);
  if (!t)
    return std::nullopt;
  return Grid{float(t.getScale()), t.getStorageTypeMin() - t.getZeroPoint(),
              t.getStorageTypeMax() - t.getZeroPoint()};
}

/// The grid a static qopt.qlinear quantizes its input to.
std::optional<Grid> gridOf(QLinearOp q) {
  if (q.getActivation() != ActivationMode::Static || !q.getInputScale() ||
      !q.getInputZeroPoint() || !q.getInputStorage())
    return std::nullopt;
  bool isSigned = *q.getInputStorage() == ActivationStorage::Int8;
  int64_t zp = *q.getInputZeroPoint();
  int64_t qmin = isSigned ? -128 : 0, qmax = isSigned ? 127 : 255;
  return Grid{float(q.getInputScale()->convertToDouble()), qmin - zp,
              qmax - zp};
}

/// What is known of a value's elements relative to a grid.
enum class OnGrid {
  No,
  /// Every element is a grid point.
  Yes,
  /// Every element is a grid point or the lowest float / -inf (the padding
  /// and the initial value of a max pool).
  YesOrLowest,
};

OnGrid meet(OnGrid a, OnGrid b) {
  if (a == OnGrid::No || b == OnGrid::No)
    return OnGrid::No;
  if (a == OnGrid::YesOrLowest || b == OnGrid::YesOrLowest)
    return OnGrid::YesOrLowest;
  return OnGrid::Yes;
}

OnGrid constantOnGrid(double c, const Grid &g) {
  if (c == -std::numeric_limits<double>::infinity() ||
      c == double(std::numeric_limits<float>::lowest()))
    return OnGrid::YesOrLowest;
  double k = std::nearbyint(c / double(g.scale));
  if (k < double(g.lo) || k > double(g.hi))
    return OnGrid::No;
  // As the dequantization computes the point: (float)k * scale in f32.
  return float(k) * g.scale == float(c) && double(float(c)) == c ? OnGrid::Yes
                                                                 : OnGrid::No;
}

/// The value of a scalar f32 constant (or a splat tensor constant).
std::optional<double> scalarConstant(Value v) {
  FloatAttr f;
  if (matchPattern(v, m_Constant(&f)))
    return f.getValueAsDouble();
  DenseFPElementsAttr d;
  if (matchPattern(v, m_Constant(&d)) && d.isSplat())
    return d.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

bool isMax(Operation *op) {
  return isa<arith::MaximumFOp, arith::MaxNumFOp>(op);
}
bool isMin(Operation *op) {
  return isa<arith::MinimumFOp, arith::MinNumFOp>(op);
}

/// A linalg op whose input is read through windows (h * stride + kh): a
/// pool.
bool isWindowed(linalg::LinalgOp op) {
  return op.getNumReductionLoops() > 0 &&
         llvm::any_of(op.getDpsInputOperands(), [&](OpOperand *o) {
           return !op.getMatchingIndexingMap(o).isProjectedPermutation();
         });
}

struct GridAnalysis {
  static constexpr int kMaxDepth = 64;

  OnGrid of(Value v, const Grid &g, int depth = 0) {
    if (depth > kMaxDepth)
      return OnGrid::No;
    if (std::optional<double> c = scalarConstant(v))
      return constantOnGrid(*c, g);
    Operation *def = v.getDefiningOp();
    if (!def)
      return OnGrid::No;
    if (auto fq = dyn_cast<FakeQuantOp>(def)) {
      std::optional<Grid> own = gridOf(fq);
      return own && own->within(g) ? OnGrid::Yes : OnGrid::No;
    }
    if (auto dq = dyn_cast<DequantizeOp>(def)) {
      std::optional<Grid> own =
          gridOf(dq.getInput().getType().getElementType());
      return own && own->within(g) &&
                     dq.getResult().getType().getElementType().isF32()
                 ? OnGrid::Yes
                 : OnGrid::No;
    }
    // Moves: the same elements, elsewhere.
    if (auto e = dyn_cast<tensor::ExpandShapeOp>(def))
      return of(e.getSrc(), g, depth + 1);
    if (auto c = dyn_cast<tensor::CollapseShapeOp>(def))
      return of(c.getSrc(), g, depth + 1);
    if (auto r = dyn_cast<tensor::ReshapeOp>(def))
      return of(r.getSource(), g, depth + 1);
    if (auto c = dyn_cast<tensor::CastOp>(def))
      return of(c.getSource(), g, depth + 1);
    if (auto s = dyn_cast<tensor::ExtractSliceOp>(def))
      return of(s.getSource(), g, depth + 1);
    if (auto t = dyn_cast<linalg::TransposeOp>(def))
      return of(t.getInput(), g, depth + 1);
    if (auto b = dyn_cast<linalg::BroadcastOp>(def))
      return of(b.getInput(), g, depth + 1);
    if (auto f = dyn_cast<linalg::FillOp>(def)) {
      std::optional<double> c = scalarConstant(f.getInputs()[0]);
      return c ? constantOnGrid(*c, g) : OnGrid::No;
    }
    if (auto p = dyn_cast<tensor::PadOp>(def)) {
      Value pad = p.getConstantPaddingValue();
      if (!pad)
        return OnGrid::No;
      return meet(of(p.getSource(), g, depth + 1), of(pad, g, depth + 1));
    }
    if (auto c = dyn_cast<tensor::ConcatOp>(def)) {
      OnGrid s = OnGrid::Yes;
      for (Value in : c.getInputs())
        s = meet(s, of(in, g, depth + 1));
      return s;
    }
    if (auto gen = dyn_cast<linalg::GenericOp>(def))
      return ofGeneric(gen, cast<OpResult>(v).getResultNumber(), g, depth);
    return OnGrid::No;
  }

  /// A generic whose yielded value is a tree of max/min over its operands
  /// and constants (ReLU, Clip, a max pool): on the grid where its leaves
  /// are.
  OnGrid ofGeneric(linalg::GenericOp gen, unsigned result, const Grid &g,
                   int depth) {
    Block &body = gen.getRegion().front();
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    std::function<OnGrid(Value, int)> expr = [&](Value x, int d) -> OnGrid {
      if (d > kMaxDepth)
        return OnGrid::No;
      if (auto arg = dyn_cast<BlockArgument>(x)) {
        if (arg.getOwner() != &body)
          return OnGrid::No;
        return of(gen->getOperand(arg.getArgNumber()), g, depth + 1);
      }
      if (std::optional<double> c = scalarConstant(x))
        return constantOnGrid(*c, g);
      Operation *op = x.getDefiningOp();
      if (!op || op->getBlock() != &body)
        return OnGrid::No;
      // A gather (a nearest Resize / Upsample, the importer's index
      // tables): one element of the tensor it reads.
      if (auto ex = dyn_cast<tensor::ExtractOp>(op))
        return of(ex.getTensor(), g, depth + 1);
      if (isMin(op))
        return meet(expr(op->getOperand(0), d + 1),
                    expr(op->getOperand(1), d + 1));
      if (isMax(op)) {
        OnGrid a = expr(op->getOperand(0), d + 1);
        OnGrid b = expr(op->getOperand(1), d + 1);
        if (a == OnGrid::No || b == OnGrid::No)
          return OnGrid::No;
        // max(grid point, lowest) is the grid point.
        if (a == OnGrid::Yes || b == OnGrid::Yes)
          return OnGrid::Yes;
        return OnGrid::YesOrLowest;
      }
      return OnGrid::No;
    };
    OnGrid s = expr(yield.getOperand(result), 0);
    // A reduction over an empty (or possibly empty) range yields its
    // initial value.
    if (gen.getNumReductionLoops() > 0) {
      SmallVector<int64_t> ranges = gen.getStaticLoopRanges();
      SmallVector<utils::IteratorType> iters = gen.getIteratorTypesArray();
      bool mayBeEmpty = false;
      for (auto [r, it] : llvm::zip(ranges, iters))
        if (it == utils::IteratorType::reduction && (r <= 0))
          mayBeEmpty = true; // 0, or dynamic (negative)
      if (mayBeEmpty)
        s = meet(s, of(gen.getDpsInitOperand(result)->get(), g, depth + 1));
    }
    // Each window of a pool holds at least one element of its input (ONNX
    // requires pads smaller than the kernel): its max is never the padding.
    if (s == OnGrid::YesOrLowest && isWindowed(gen) &&
        llvm::all_of(body.without_terminator(),
                     [](Operation &op) { return isMax(&op); }))
      return OnGrid::Yes;
    return s;
  }
};

/// True when `op` computes a tree of max/min over its operands and
/// constants only: monotone (non-decreasing) in each input.
bool isMaxMinTree(linalg::GenericOp gen) {
  for (Operation &op : gen.getRegion().front().without_terminator())
    if (!isMax(&op) && !isMin(&op) && !isa<arith::ConstantOp>(op))
      return false;
  return true;
}

/// Every use of `v` reaches, through monotone ops that only move, pad or
/// take max/min of values, a quantization onto a grid within `g`: then
/// Q(f(FQ_g(x))) = f(Q(FQ_g(x))) = f(Q(x)) = Q(f(x)).
bool absorbedDownstream(Value v, const Grid &g, int depth = 0) {
  if (depth > 32)
    return false;
  if (v.use_empty())
    return false;
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (isa<tensor::DimOp>(user))
      continue;
    if (auto q = dyn_cast<QuantizeOp>(user)) {
      std::optional<Grid> t = gridOf(q.getResult().getType().getElementType());
      if (!t || !t->within(g))
        return false;
      continue;
    }
    if (auto fq = dyn_cast<FakeQuantOp>(user)) {
      std::optional<Grid> t = gridOf(fq);
      if (!t || !t->within(g))
        return false;
      continue;
    }
    if (auto ql = dyn_cast<QLinearOp>(user)) {
      std::optional<Grid> t = gridOf(ql);
      if (use.getOperandNumber() != 0 || !t || !t->within(g))
        return false;
      continue;
    }
    bool mover =
        isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::CastOp,
            tensor::ExtractSliceOp, tensor::ConcatOp>(user) ||
        (isa<tensor::ReshapeOp>(user) && use.getOperandNumber() == 0) ||
        (isa<tensor::PadOp>(user) && use.getOperandNumber() == 0) ||
        (isa<linalg::TransposeOp, linalg::BroadcastOp>(user) &&
         use.getOperandNumber() == 0);
    if (auto gen = dyn_cast<linalg::GenericOp>(user))
      mover = gen.isDpsInput(&use) && isMaxMinTree(gen) &&
              gen->getNumResults() == 1;
    if (!mover)
      return false;
    for (Value r : user->getResults())
      if (!absorbedDownstream(r, g, depth + 1))
        return false;
  }
  return true;
}

} // namespace

GridSimplification mlir::qopt::removeRedundantFakeQuants(ModuleOp module) {
  GridSimplification result;
  SmallVector<FakeQuantOp> fqs;
  module.walk([&](FakeQuantOp fq) { fqs.push_back(fq); });
  GridAnalysis analysis;
  // Pairs on values already on their grid, in program order (a later one
  // may rely on an earlier one that stays).
  SmallVector<FakeQuantOp> kept;
  for (FakeQuantOp fq : fqs) {
    std::optional<Grid> g = gridOf(fq);
    if (g && analysis.of(fq.getInput(), *g) == OnGrid::Yes) {
      fq.getResult().replaceAllUsesWith(fq.getInput());
      fq.erase();
      ++result.onGrid;
      continue;
    }
    kept.push_back(fq);
  }
  // Pairs the next layer's quantization absorbs.
  for (FakeQuantOp fq : kept) {
    std::optional<Grid> g = gridOf(fq);
    if (!g || !absorbedDownstream(fq.getResult(), *g))
      continue;
    fq.getResult().replaceAllUsesWith(fq.getInput());
    fq.erase();
    ++result.absorbed;
  }
  return result;
}
