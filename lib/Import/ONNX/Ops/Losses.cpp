//===- Losses.cpp - NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss ----===//
//
// Both losses gather one class score per sample: input [N, C, d1..dk],
// target [N, d1..dk] of class indices. One linalg.generic over the target's
// shape reads input[n, target, d...] (tensor.extract) and the class weight,
// giving the per-sample loss -w * input and its weight w (0 for targets equal
// to ignore_index); 'sum' and 'mean' (sum of losses / sum of weights, as
// onnxruntime and the ONNX reference do) reduce those in the compute type
// (f32 for 16-bit floats). A target outside [0, C) that is not ignore_index
// is a run-time error naming the node. SoftmaxCrossEntropyLoss is the same
// on LogSoftmax(input) along axis 1, which is its optional second output.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

Value toType(OpBuilder &b, Location l, Value v, Type ty) {
  return convertScalar(b, l, v, ty, false, false);
}

/// The attributes and inputs both losses share, checked.
struct LossSpec {
  std::string reduction;
  std::optional<int64_t> ignoreIndex;
  Value weight; // null when absent
};

FailureOr<LossSpec> readLossSpec(ONNXNode &n) {
  LossSpec s;
  FailureOr<std::string> red = n.getString("reduction", "mean");
  if (failed(red))
    return failure();
  if (*red != "none" && *red != "sum" && *red != "mean")
    return n.emitError() << "reduction '" << *red
                         << "' is not one of 'none', 'sum', 'mean'";
  s.reduction = *red;
  if (n.hasAttr("ignore_index")) {
    FailureOr<int64_t> ii = n.getRequiredInt("ignore_index");
    if (failed(ii))
      return failure();
    s.ignoreIndex = *ii;
  }
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "scores (input #0) must be a float tensor, got "
                         << dtypeName(n.inputDType(0));
  RankedTensorType xTy = n.inputType(0);
  if (xTy.getRank() < 2)
    return n.emitError() << "scores (input #0) must have rank >= 2 "
                            "([N, C, d1..dk]), got rank "
                         << xTy.getRank();
  if (n.inputDType(1) != kInt32 && n.inputDType(1) != kInt64)
    return n.emitError() << "target (input #1) must be int32 or int64, got "
                         << dtypeName(n.inputDType(1));
  RankedTensorType tTy = n.inputType(1);
  if (tTy.getRank() != xTy.getRank() - 1)
    return n.emitError() << "target (input #1) must have rank "
                         << xTy.getRank() - 1 << " ([N, d1..dk]), got "
                         << tTy.getRank();
  for (int64_t i = 0; i < tTy.getRank(); ++i) {
    int64_t xd = i == 0 ? 0 : i + 1;
    int64_t a = tTy.getDimSize(i), bsz = xTy.getDimSize(xd);
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(bsz) && a != bsz)
      return n.emitError() << "target dim " << i << " is " << a
                           << ", scores dim " << xd << " is " << bsz;
  }
  if (n.hasInput(2)) {
    if (n.inputDType(2) != n.inputDType(0))
      return n.emitError() << "weight (input #2) has dtype "
                           << dtypeName(n.inputDType(2)) << ", scores have "
                           << dtypeName(n.inputDType(0));
    RankedTensorType wTy = n.inputType(2);
    if (wTy.getRank() != 1)
      return n.emitError() << "weight (input #2) must have rank 1 ([C]), got "
                           << wTy.getRank();
    if (!wTy.isDynamicDim(0) && !xTy.isDynamicDim(1) &&
        wTy.getDimSize(0) != xTy.getDimSize(1))
      return n.emitError() << "weight (input #2) has " << wTy.getDimSize(0)
                           << " elements, there are " << xTy.getDimSize(1)
                           << " classes";
    s.weight = n.input(2);
  }
  return s;
}

/// The loss of scores `x` (already log-probabilities) against the node's
/// target (input #1), reduced as `spec` says, in x's element type.
Value buildNLL(ONNXNode &n, Value x, const LossSpec &spec) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value target = n.input(1);
  auto xTy = cast<RankedTensorType>(x.getType());
  auto tTy = cast<RankedTensorType>(target.getType());
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  Type tElem = tTy.getElementType();
  int64_t rank = tTy.getRank();

  for (int64_t i = 0; i < rank; ++i)
    assertSameSize(n, target, i, x, i == 0 ? 0 : i + 1,
                   "target dim " + Twine(i) +
                       " differs from the scores' at run time");
  if (spec.weight)
    assertSameSize(n, spec.weight, 0, x, 1,
                   "weight size differs from the class count at run time");

  // Targets must name a class unless ignored.
  Value classes = dimValue(b, loc, x, 1);
  Value classesT = arith::IndexCastOp::create(b, loc, tElem, classes);
  std::optional<int64_t> ii = spec.ignoreIndex;
  assertNoElement(
      n, target,
      [&](OpBuilder &nb, Location l, Value t) -> Value {
        Value zero = arith::ConstantIntOp::create(nb, l, tElem, 0);
        Value bad = arith::OrIOp::create(
            nb, l,
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, t, zero),
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, t,
                                  classesT));
        if (ii) {
          Value ign = arith::ConstantIntOp::create(nb, l, tElem, *ii);
          bad = arith::AndIOp::create(
              nb, l, bad,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ne, t, ign));
        }
        return bad;
      },
      "target (input #1) holds a class index outside [0, C) that is not "
      "ignore_index");

  // Per sample: loss = -w[t] * x[n, t, d...] and its weight w[t]; both 0
  // for an ignored target.
  Value lossInit = emptyTensorLike(b, loc, tTy.clone(ct), target);
  Value weightInit = emptyTensorLike(b, loc, tTy.clone(ct), target);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  Value weight = spec.weight;
  auto g = linalg::GenericOp::create(
      b, loc, TypeRange{lossInit.getType(), weightInit.getType()},
      ValueRange{target}, ValueRange{lossInit, weightInit},
      ArrayRef<AffineMap>{id, id, id},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value t = args[0];
        Value zeroF = scalarConstant(nb, l, ct, 0.0);
        Value valid = arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1);
        if (ii)
          valid = arith::CmpIOp::create(
              nb, l, arith::CmpIPredicate::ne, t,
              arith::ConstantIntOp::create(nb, l, tElem, *ii));
        // An ignored target may be any value: read class 0 instead.
        Value cls = arith::SelectOp::create(
            nb, l, valid,
            arith::IndexCastOp::create(nb, l, nb.getIndexType(), t),
            cIndex(nb, l, 0));
        SmallVector<Value> coords{loopIndex(nb, l, 0), cls};
        for (int64_t i = 1; i < rank; ++i)
          coords.push_back(loopIndex(nb, l, i));
        Value score =
            toType(nb, l, tensor::ExtractOp::create(nb, l, x, coords), ct);
        Value w = scalarConstant(nb, l, ct, 1.0);
        if (weight)
          w = toType(nb, l,
                     tensor::ExtractOp::create(nb, l, weight, ValueRange{cls}),
                     ct);
        w = arith::SelectOp::create(nb, l, valid, w, zeroF);
        Value loss = arith::NegFOp::create(
            nb, l, arith::MulFOp::create(nb, l, score, w));
        loss = arith::SelectOp::create(nb, l, valid, loss, zeroF);
        linalg::YieldOp::create(nb, l, ValueRange{loss, w});
      });
  Value loss = g.getResult(0), wts = g.getResult(1);

  if (spec.reduction == "none")
    return parallelGeneric(b, loc, {loss}, {id},
                           emptyTensorLike(b, loc, tTy.clone(elemTy), target),
                           [&](OpBuilder &nb, Location l, ValueRange a) {
                             return toType(nb, l, a[0], elemTy);
                           });
  SmallVector<bool> all(rank, true);
  auto sumOf = [&](Value v) {
    return reduceLoops(
        b, loc, v, all, {v}, {id}, ct, scalarConstant(b, loc, ct, 0.0),
        [](OpBuilder &nb, Location l, ValueRange a, Value acc) {
          return arith::AddFOp::create(nb, l, acc, a[0]).getResult();
        });
  };
  Value total = sumOf(loss);
  Value wTotal = spec.reduction == "mean" ? sumOf(wts) : Value();
  AffineMap scalar = AffineMap::get(0, 0, {}, ctx);
  SmallVector<Value> ins{total};
  if (wTotal)
    ins.push_back(wTotal);
  SmallVector<AffineMap> maps(ins.size(), scalar);
  Value out = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, elemTy);
  return parallelGeneric(b, loc, ins, maps, out,
                         [&](OpBuilder &nb, Location l, ValueRange a) {
                           Value v = a[0];
                           if (a.size() > 1)
                             v = arith::DivFOp::create(nb, l, v, a[1]);
                           return toType(nb, l, v, elemTy);
                         });
}

/// LogSoftmax of `x` along axis 1, in x's element type (computed in the
/// accumulator type).
Value logSoftmaxAxis1(OpBuilder &b, Location loc, Value x) {
  MLIRContext *ctx = b.getContext();
  auto xTy = cast<RankedTensorType>(x.getType());
  int64_t rank = xTy.getRank();
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  SmallVector<bool> reduced(rank, false);
  reduced[1] = true;
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap kept = keptDimsMap(reduced, ctx);
  Value max = reduceLoops(
      b, loc, x, reduced, {x}, {id}, ct,
      extremeConstant(b, loc, ct, /*lowest=*/true, /*isUnsigned=*/false),
      [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
        return arith::MaximumFOp::create(nb, l, toType(nb, l, a[0], ct), acc)
            .getResult();
      });
  Value sum = reduceLoops(
      b, loc, x, reduced, {x, max}, {id, kept}, ct,
      scalarConstant(b, loc, ct, 0.0),
      [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
        Value d = arith::SubFOp::create(nb, l, toType(nb, l, a[0], ct), a[1]);
        return arith::AddFOp::create(nb, l, acc, math::ExpOp::create(nb, l, d))
            .getResult();
      });
  return parallelGeneric(
      b, loc, {x, max, sum}, {id, kept, kept}, emptyTensorLike(b, loc, xTy, x),
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value d = arith::SubFOp::create(nb, l, toType(nb, l, a[0], ct), a[1]);
        Value r =
            arith::SubFOp::create(nb, l, d, math::LogOp::create(nb, l, a[2]));
        return toType(nb, l, r, elemTy);
      });
}

LogicalResult buildNLLLoss(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  FailureOr<LossSpec> spec = readLossSpec(n);
  if (failed(spec))
    return failure();
  n.setOutput(0, buildNLL(n, n.input(0), *spec), n.inputDType(0));
  return success();
}

LogicalResult buildSoftmaxCrossEntropy(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 2)))
    return failure();
  FailureOr<LossSpec> spec = readLossSpec(n);
  if (failed(spec))
    return failure();
  Value logp = logSoftmaxAxis1(n.b, n.loc, n.input(0));
  n.setOutput(0, buildNLL(n, logp, *spec), n.inputDType(0));
  n.setOutput(1, logp, n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerLossOps(OpRegistry &r) {
  // Opsets 12 and 13 differ in the types they admit only (13 adds bfloat16
  // and double).
  r.add("", "NegativeLogLikelihoodLoss", 12, buildNLLLoss);
  r.add("", "SoftmaxCrossEntropyLoss", 12, buildSoftmaxCrossEntropy);
}
