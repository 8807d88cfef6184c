//===- BitLinearPattern.cpp - the exporter's BitLinear subgraphs ----------===//

#include "BitLinearPattern.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The generic that produces `v` (its only result), on tensors.
linalg::GenericOp genericOf(Value v) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g->getNumResults() != 1 || !g.hasPureTensorSemantics())
    return {};
  return g;
}

/// The body's ops, without the yield.
SmallVector<Operation *> bodyOps(linalg::GenericOp g) {
  SmallVector<Operation *> ops;
  for (Operation &op : g.getBody()->without_terminator())
    ops.push_back(&op);
  return ops;
}

/// The value a body operand stands for: the generic's input for an input
/// block argument, the value itself when defined outside the body.
Value outerValue(linalg::GenericOp g, Value bodyValue) {
  if (auto arg = dyn_cast<BlockArgument>(bodyValue)) {
    if (arg.getOwner() != g.getBody() ||
        arg.getArgNumber() >= unsigned(g.getNumDpsInputs()))
      return {};
    return g.getDpsInputs()[arg.getArgNumber()];
  }
  if (bodyValue.getParentBlock() == g.getBody())
    return {};
  return bodyValue;
}

/// A constant scalar (scalar arith.constant, or a splat / rank-0 tensor).
std::optional<double> scalarOf(Value v) {
  if (!v)
    return std::nullopt;
  FloatAttr f;
  if (matchPattern(v, m_Constant(&f)))
    return f.getValueAsDouble();
  DenseFPElementsAttr d;
  if (matchPattern(v, m_Constant(&d)) && d.isSplat())
    return d.getSplatValue<APFloat>().convertToDouble();
  return std::nullopt;
}

/// `v = OpTy(a[, b])` in a one-op element-wise generic: the outer values.
template <typename OpTy>
std::optional<SmallVector<Value, 2>> elementwise(Value v) {
  linalg::GenericOp g = genericOf(v);
  if (!g || g.getNumReductionLoops() != 0)
    return std::nullopt;
  SmallVector<Operation *> ops = bodyOps(g);
  if (ops.size() != 1 || !isa<OpTy>(ops[0]) ||
      g.getBody()->getTerminator()->getOperand(0) != ops[0]->getResult(0))
    return std::nullopt;
  SmallVector<Value, 2> out;
  for (Value operand : ops[0]->getOperands()) {
    Value outer = outerValue(g, operand);
    if (!outer)
      return std::nullopt;
    out.push_back(outer);
  }
  return out;
}

/// `v = min(max(x, lo), hi)` (ONNX Clip as imported) with constant bounds.
std::optional<Value> clipOf(Value v, double lo, double hi) {
  linalg::GenericOp g = genericOf(v);
  if (!g)
    return std::nullopt;
  SmallVector<Operation *> ops = bodyOps(g);
  if (ops.size() != 2 || !isa<arith::MaximumFOp, arith::MaxNumFOp>(ops[0]) ||
      !isa<arith::MinimumFOp, arith::MinNumFOp>(ops[1]) ||
      ops[1]->getOperand(0) != ops[0]->getResult(0))
    return std::nullopt;
  Value x = outerValue(g, ops[0]->getOperand(0));
  if (!x || scalarOf(outerValue(g, ops[0]->getOperand(1))) != lo ||
      scalarOf(outerValue(g, ops[1]->getOperand(1))) != hi)
    return std::nullopt;
  return x;
}

/// `v = max(x, 1e-5)` (a clamp from below): x.
std::optional<Value> floorEpsOf(Value v) {
  auto m = elementwise<arith::MaximumFOp>(v);
  if (!m)
    m = elementwise<arith::MaxNumFOp>(v);
  if (!m || m->size() != 2 || scalarOf((*m)[1]) != double(1e-5f))
    return std::nullopt;
  return (*m)[0];
}

/// `v = x + (clamp(round(x * s), lo, hi) / s - x)`: x and s.
std::optional<std::pair<Value, Value>> fakeQuantOf(Value v, double lo,
                                                   double hi) {
  auto add = elementwise<arith::AddFOp>(v);
  if (!add)
    return std::nullopt;
  for (int first = 0; first < 2; ++first) {
    Value x = (*add)[first];
    auto sub = elementwise<arith::SubFOp>((*add)[1 - first]);
    if (!sub || (*sub)[1] != x)
      continue;
    auto div = elementwise<arith::DivFOp>((*sub)[0]);
    if (!div)
      continue;
    Value s = (*div)[1];
    std::optional<Value> clipped = clipOf((*div)[0], lo, hi);
    if (!clipped)
      continue;
    auto round = elementwise<math::RoundEvenOp>(*clipped);
    if (!round)
      continue;
    auto mul = elementwise<arith::MulFOp>((*round)[0]);
    if (!mul || !(((*mul)[0] == x && (*mul)[1] == s) ||
                  ((*mul)[1] == x && (*mul)[0] == s)))
      continue;
    return std::make_pair(x, s);
  }
  return std::nullopt;
}

/// The single-reduction generic over `in` whose body is OpTy(out, in) /
/// OpTy(in, out): its input.
template <typename OpTy> std::optional<Value> reductionOf(Value v) {
  linalg::GenericOp g = genericOf(v);
  if (!g || g.getNumReductionLoops() == 0 || g.getNumDpsInputs() != 1)
    return std::nullopt;
  SmallVector<Operation *> ops = bodyOps(g);
  if (ops.size() != 1 || !isa<OpTy>(ops[0]))
    return std::nullopt;
  return g.getDpsInputs()[0];
}

/// The weight side: S = 1 / max(mean |w|, 1e-5) for the constant w.
bool isWeightScaleOf(Value s, Value w) {
  auto div = elementwise<arith::DivFOp>(s);
  if (!div || scalarOf((*div)[0]) != 1.0)
    return false;
  std::optional<Value> mean = floorEpsOf((*div)[1]);
  if (!mean)
    return false;
  auto byCount = elementwise<arith::DivFOp>(*mean);
  if (!byCount)
    return false;
  auto wTy = cast<RankedTensorType>(w.getType());
  if (scalarOf((*byCount)[1]) != double(wTy.getNumElements()))
    return false;
  std::optional<Value> abs = reductionOf<arith::AddFOp>((*byCount)[0]);
  if (!abs)
    return false;
  auto a = elementwise<math::AbsFOp>(*abs);
  return a && (*a)[0] == w;
}

/// The activation side: s = 127 / max(max_k |x|, 1e-5) (keepdims).
bool isTokenScaleOf(Value s, Value x) {
  auto div = elementwise<arith::DivFOp>(s);
  if (!div || scalarOf((*div)[0]) != 127.0)
    return false;
  std::optional<Value> absmax = floorEpsOf((*div)[1]);
  if (!absmax)
    return false;
  Value m = *absmax;
  if (auto e = m.getDefiningOp<tensor::ExpandShapeOp>())
    m = e.getSrc();
  std::optional<Value> abs = reductionOf<arith::MaximumFOp>(m);
  if (!abs)
    abs = reductionOf<arith::MaxNumFOp>(m);
  if (!abs)
    return false;
  auto a = elementwise<math::AbsFOp>(*abs);
  return a && (*a)[0] == x;
}

} // namespace

std::optional<ExportedBitLinear>
mlir::qopt::matchExportedBitLinear(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->n.size() != 1 ||
      !dims->batch.empty())
    return std::nullopt;
  // B is [K, N] indexed (k, n); A (..., m, k); the accumulator starts at 0.
  AffineMap bMap = op.getIndexingMapsArray()[1];
  if (bMap.getNumResults() != 2 ||
      bMap.getResult(0) != getAffineDimExpr(dims->k[0], op.getContext()) ||
      bMap.getResult(1) != getAffineDimExpr(dims->n[0], op.getContext()))
    return std::nullopt;
  SmallVector<Operation *> ops = bodyOps(op);
  if (ops.size() != 2 || !isa<arith::MulFOp>(ops[0]) ||
      !isa<arith::AddFOp>(ops[1]))
    return std::nullopt;
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  if (!fill || scalarOf(fill.getInputs()[0]) != 0.0)
    return std::nullopt;
  auto transpose = op.getDpsInputs()[1].getDefiningOp<linalg::TransposeOp>();
  if (!transpose || transpose.getPermutation() != ArrayRef<int64_t>{1, 0})
    return std::nullopt;
  auto weight = fakeQuantOf(transpose.getInput(), -1.0, 1.0);
  if (!weight)
    return std::nullopt;
  auto [w, scale] = *weight;
  auto c = w.getDefiningOp<arith::ConstantOp>();
  auto wTy = dyn_cast<RankedTensorType>(w.getType());
  if (!c || !wTy || wTy.getRank() != 2 || !wTy.hasStaticShape() ||
      !wTy.getElementType().isF32() || !isWeightScaleOf(scale, w))
    return std::nullopt;
  ExportedBitLinear out{op, w, op.getDpsInputs()[0], Value()};
  if (auto act = fakeQuantOf(out.input, -128.0, 127.0);
      act && isTokenScaleOf(act->second, act->first))
    out.activation = act->first;
  return out;
}
