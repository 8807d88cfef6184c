//===- Shape.cpp - Shape, Size, ConstantOfShape, Range --------------------===//
//
// Shape-like results are constants when their values are known (a Range
// of at most kMaxFoldElements is computed at import), so that the shape
// subgraphs exporters emit (Shape -> Slice -> Concat -> Reshape) end in
// the constants that Reshape, Expand, Tile and friends need; otherwise
// tensor.from_elements, linalg.fill or a linalg.generic.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

LogicalResult buildShape(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  int64_t rank = n.inputType(0).getRank();
  int64_t start = 0, end = rank;
  if (n.opset >= 15) {
    FailureOr<int64_t> s = n.getInt("start", 0);
    FailureOr<int64_t> e = n.getInt("end", rank);
    if (failed(s) || failed(e))
      return failure();
    // Negative counts from the back; out of range clamps to [0, rank].
    auto norm = [&](int64_t v) {
      return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank);
    };
    start = norm(*s);
    end = std::max(norm(*e), start);
  }
  SmallVector<OpFoldResult> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(dimOFR(n.b, n.loc, n.input(0), d));
  setSymbolicOutput(n, dims, /*scalar=*/false, n.b.getI64Type(), kInt64);
  return success();
}

LogicalResult buildSize(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  SmallVector<OpFoldResult> dims;
  for (int64_t d = 0; d < n.inputType(0).getRank(); ++d)
    dims.push_back(dimOFR(n.b, n.loc, n.input(0), d));
  setSymbolicOutput(n, {product(n.b, n.loc, dims)}, /*scalar=*/true,
                    n.b.getI64Type(), kInt64);
  return success();
}

/// A tensor of `ty` filled with `value`: a splat constant when small,
/// otherwise linalg.fill.
Value filled(OpBuilder &b, Location loc, RankedTensorType ty, TypedAttr value) {
  if (ty.getNumElements() <= kMaxFoldElements)
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, value));
  Value init =
      tensor::EmptyOp::create(b, loc, ty.getShape(), ty.getElementType());
  Value v = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, v, init).getResult(0);
}

LogicalResult buildConstantOfShape(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  if (n.inputDType(0) != kInt64)
    return n.emitError() << "the shape (input #0) must be int64, got "
                         << dtypeName(n.inputDType(0));
  FailureOr<SmallVector<OpFoldResult>> sizes = dynamicInts(n, 0, "the shape");
  if (failed(sizes))
    return failure();
  SmallVector<int64_t> shape;
  for (OpFoldResult s : *sizes)
    shape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
  for (OpFoldResult s : *sizes)
    if (getConstantIntValue(s).value_or(0) < 0)
      return n.emitError() << "the shape " << shapeString(shape)
                           << " has a negative entry";
  for (OpFoldResult s : *sizes)
    if (auto v = dyn_cast<Value>(s))
      assertAtRunTime(n,
                      arith::CmpIOp::create(n.b, n.loc,
                                            arith::CmpIPredicate::sge, v,
                                            cIndex(n.b, n.loc, 0)),
                      "the shape has a negative entry at run time");
  TypedAttr value = n.b.getF32FloatAttr(0.0f);
  int32_t dtype = kFloat;
  if (const onnx::TensorProto *t = n.getTensor("value")) {
    auto a = tensorToAttr(*t, /*resourceName=*/"", n.importer.source,
                          n.b.getContext(), [&] { return n.emitError(); });
    if (failed(a))
      return failure();
    auto dense = dyn_cast<DenseElementsAttr>(*a);
    if (!dense || dense.getNumElements() != 1)
      return n.emitError() << "attribute 'value' must hold one element";
    value = cast<TypedAttr>(*dense.getValues<Attribute>().begin());
    dtype = t->data_type();
  } else if (n.hasAttr("value")) {
    return failure(); // wrong attribute type, reported
  }
  auto ty = RankedTensorType::get(shape, value.getType());
  if (!ty.hasStaticShape()) {
    assertSizesFit(n, *sizes);
    Value init = emptyTensor(n.b, n.loc, *sizes, value.getType());
    Value v = arith::ConstantOp::create(n.b, n.loc, value);
    n.setOutput(0, linalg::FillOp::create(n.b, n.loc, v, init).getResult(0),
                dtype);
    return success();
  }
  n.setOutput(0, filled(n.b, n.loc, ty, value), dtype);
  return success();
}

/// Reads Range's start, limit and delta into `v` with `read`
/// (constantFloats or constantInts): they set the output size, so they must
/// be constants.
template <typename T, typename ReadFn>
LogicalResult readRangeInputs(ONNXNode &n, SmallVector<T> &v, ReadFn read) {
  static const char *names[] = {"start", "limit", "delta"};
  for (int64_t i = 0; i < 3; ++i) {
    std::optional<SmallVector<T>> c = read(i);
    if (!c)
      return n.emitError() << names[i]
                           << " must be a constant; a Range of "
                              "data-dependent size is not supported";
    v.push_back((*c)[0]);
  }
  if (v[2] == 0)
    return n.emitError() << "delta must not be 0";
  return success();
}

/// Range whose start, limit or delta are only known at run time: the count
/// max(ceil((limit - start) / delta), 0) is computed when the model runs
/// and sizes a dynamic result.
LogicalResult buildDynamicRange(ONNXNode &n, Type et, bool isFloat) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  static const char *names[] = {"start", "limit", "delta"};
  Value start, delta, count;
  Value zeroIdx = cIndex(b, loc, 0);
  auto scalarIdx = [&](int64_t i) {
    return SmallVector<Value>(n.inputType(i).getRank(), zeroIdx);
  };
  if (isFloat) {
    SmallVector<Value> v;
    for (int64_t i = 0; i < 3; ++i) {
      if (std::optional<SmallVector<double>> c = n.constantFloats(i))
        v.push_back(scalarConstant(b, loc, et, (*c)[0]));
      else
        v.push_back(
            tensor::ExtractOp::create(b, loc, n.input(i), scalarIdx(i)));
    }
    Value zero = scalarConstant(b, loc, et, 0);
    assertAtRunTime(
        n, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, v[2], zero),
        "delta is 0 at run time");
    Value q = math::CeilOp::create(
        b, loc,
        arith::DivFOp::create(b, loc, arith::SubFOp::create(b, loc, v[1], v[0]),
                              v[2]));
    q = arith::MaximumFOp::create(b, loc, q, zero);
    // Checked before the conversion, which a huge or NaN count breaks.
    assertAtRunTime(
        n,
        arith::CmpFOp::create(
            b, loc, arith::CmpFPredicate::OLT, q,
            scalarConstant(b, loc, et,
                           static_cast<double>(kMaxRunTimeElements))),
        "the range has too many elements at run time");
    count = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        arith::FPToSIOp::create(b, loc, b.getI64Type(), q));
    start = v[0];
    delta = v[2];
  } else {
    SmallVector<OpFoldResult> v;
    for (int64_t i = 0; i < 3; ++i) {
      FailureOr<SmallVector<OpFoldResult>> e = dynamicInts(n, i, names[i]);
      if (failed(e))
        return failure();
      v.push_back((*e)[0]);
    }
    std::optional<int64_t> cd = getConstantIntValue(v[2]);
    if (cd == 0)
      return n.emitError() << "delta must not be 0";
    Value d = toValue(b, loc, v[2]);
    if (!cd)
      assertAtRunTime(
          n,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, d, zeroIdx),
          "delta is 0 at run time");
    Value diff = arith::SubIOp::create(b, loc, toValue(b, loc, v[1]),
                                       toValue(b, loc, v[0]));
    count = arith::MaxSIOp::create(
        b, loc, arith::CeilDivSIOp::create(b, loc, diff, d), zeroIdx);
    start = arith::IndexCastOp::create(b, loc, et, toValue(b, loc, v[0]));
    delta = arith::IndexCastOp::create(b, loc, et, d);
  }
  if (!isFloat)
    assertSizesFit(n, {count});
  auto ty = RankedTensorType::get({ShapedType::kDynamic}, et);
  Value init = tensor::EmptyOp::create(b, loc, ty, ValueRange{count});
  Value y =
      linalg::GenericOp::create(
          b, loc, ty, ValueRange{}, ValueRange{init},
          AffineMap::getMultiDimIdentityMap(1, b.getContext()),
          {utils::IteratorType::parallel},
          [&](OpBuilder &nb, Location nl, ValueRange) {
            Value i = linalg::IndexOp::create(nb, nl, 0);
            Value r;
            if (isFloat) {
              Value fi = arith::UIToFPOp::create(
                  nb, nl, et,
                  arith::IndexCastUIOp::create(nb, nl, nb.getI64Type(), i));
              r = arith::AddFOp::create(
                  nb, nl, start, arith::MulFOp::create(nb, nl, fi, delta));
            } else {
              Value ii = arith::IndexCastOp::create(nb, nl, et, i);
              r = arith::AddIOp::create(
                  nb, nl, start, arith::MulIOp::create(nb, nl, ii, delta));
            }
            linalg::YieldOp::create(nb, nl, r);
          })
          .getResult(0);
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildRange(ONNXNode &n) {
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  int32_t dt = n.inputDType(0);
  for (int64_t i = 1; i < 3; ++i)
    if (n.inputDType(i) != dt)
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(dt);
  if (dt != kFloat && dt != kDouble && dt != kFloat16 && dt != kBFloat16 &&
      dt != kInt16 && dt != kInt32 && dt != kInt64)
    return n.emitError() << "dtype " << dtypeName(dt)
                         << " is not supported (float, double, float16, "
                            "bfloat16, int16, int32, int64)";
  for (int64_t i = 0; i < 3; ++i)
    if (n.inputType(i).getRank() != 0 &&
        !(n.inputType(i).hasStaticShape() &&
          n.inputType(i).getNumElements() == 1))
      return n.emitError() << "input #" << i << " must be a scalar";
  Type et = n.inputType(0).getElementType();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  bool isFloat = isFloatDType(dt);
  for (int64_t i = 0; i < 3; ++i)
    if (isFloat ? !n.constantFloats(i) : !n.constantInts(i))
      return buildDynamicRange(n, et, isFloat);
  int64_t count;
  double fs = 0, fd = 0;
  int64_t is = 0, id = 0;
  if (isFloat) {
    SmallVector<double> v;
    if (failed(readRangeInputs(n, v,
                               [&](int64_t i) { return n.constantFloats(i); })))
      return failure();
    // The count as the spec computes it, ceil((limit - start) / delta), in
    // the input's precision (f16 and bf16 round each step as they would).
    const llvm::fltSemantics &cs = cast<FloatType>(et).getFloatSemantics();
    auto inPrecision = [&](double x) {
      APFloat a(x);
      bool lost;
      a.convert(cs, APFloat::rmNearestTiesToEven, &lost);
      return a;
    };
    APFloat q = inPrecision(v[1]);
    q.subtract(inPrecision(v[0]), APFloat::rmNearestTiesToEven);
    q.divide(inPrecision(v[2]), APFloat::rmNearestTiesToEven);
    bool lostQ;
    q.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lostQ);
    double c = std::ceil(q.convertToDouble());
    if (!(c < 1e9))
      return n.emitError() << "the range has too many elements";
    count = std::max<int64_t>(static_cast<int64_t>(c), 0);
    fs = v[0];
    fd = v[2];
  } else {
    SmallVector<int64_t> v;
    if (failed(readRangeInputs(n, v,
                               [&](int64_t i) { return n.constantInts(i); })))
      return failure();
    // ceil((limit - start) / delta) without overflow for int64 inputs.
    APInt diff = APInt(128, v[1], true) - APInt(128, v[0], true);
    APInt delta(128, v[2], true);
    APInt q = diff.sdiv(delta), r = diff.srem(delta);
    if (!r.isZero() && (r.isNegative() == delta.isNegative()))
      q += 1;
    if (q.isNegative())
      q = 0;
    if (q.sgt(APInt(128, 1000000000)))
      return n.emitError() << "the range has too many elements";
    count = q.getSExtValue();
    is = v[0];
    id = v[2];
  }
  auto ty = RankedTensorType::get({count}, et);
  if (count <= kMaxFoldElements) {
    // Accumulated like the spec's loop (value += delta), in the element
    // type's precision.
    SmallVector<Attribute> vals;
    const llvm::fltSemantics *sem =
        isFloat ? &cast<FloatType>(et).getFloatSemantics() : nullptr;
    APFloat acc(fs), step(fd);
    bool lost;
    if (isFloat) {
      acc.convert(*sem, APFloat::rmNearestTiesToEven, &lost);
      step.convert(*sem, APFloat::rmNearestTiesToEven, &lost);
    }
    for (int64_t i = 0; i < count; ++i) {
      if (isFloat) {
        vals.push_back(FloatAttr::get(et, acc));
        acc.add(step, APFloat::rmNearestTiesToEven);
      } else {
        vals.push_back(b.getIntegerAttr(et, is + i * id));
      }
    }
    n.setOutput(
        0, arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, vals)),
        dt);
    return success();
  }
  Value init = tensor::EmptyOp::create(b, loc, ty.getShape(), et);
  SmallVector<AffineMap> maps{
      AffineMap::getMultiDimIdentityMap(1, b.getContext())};
  Value y =
      linalg::GenericOp::create(
          b, loc, ty, ValueRange{}, ValueRange{init}, maps,
          {utils::IteratorType::parallel},
          [&](OpBuilder &nb, Location nl, ValueRange) {
            Value i = linalg::IndexOp::create(nb, nl, 0);
            Value r;
            if (isFloat) {
              Value fi = arith::UIToFPOp::create(
                  nb, nl, et,
                  arith::IndexCastUIOp::create(nb, nl, nb.getI64Type(), i));
              r = arith::AddFOp::create(
                  nb, nl, scalarConstant(nb, nl, et, fs),
                  arith::MulFOp::create(nb, nl, fi,
                                        scalarConstant(nb, nl, et, fd)));
            } else {
              Value ii = arith::IndexCastOp::create(nb, nl, et, i);
              r = arith::AddIOp::create(
                  nb, nl,
                  arith::ConstantOp::create(nb, nl, nb.getIntegerAttr(et, is)),
                  arith::MulIOp::create(
                      nb, nl, ii,
                      arith::ConstantOp::create(nb, nl,
                                                nb.getIntegerAttr(et, id))));
            }
            linalg::YieldOp::create(nb, nl, r);
          })
          .getResult(0);
  n.setOutput(0, y, dt);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerShapeOps(OpRegistry &r) {
  // Several since-versions share a builder that checks n.opset itself.
  for (int64_t v : {1, 15})
    r.add("", "Shape", v, buildShape);
  r.add("", "Size", 1, buildSize);
  r.add("", "ConstantOfShape", 9, buildConstantOfShape);
  r.add("", "Range", 11, buildRange);
}
