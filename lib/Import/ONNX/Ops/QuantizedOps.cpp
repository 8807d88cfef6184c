//===- QuantizedOps.cpp - integer and QLinear ONNX operators --------------===//
//
// DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger and
// QLinearConv. Integer inputs (uint8/int8, signedness from the ONNX dtype)
// are extended to i32 before the zero points are subtracted and before any
// multiplication; products accumulate in i32. QLinear results are
// requantized in f32 as onnxruntime does: acc * (scale_a * scale_b /
// scale_y), rounded half to even, plus the output zero point, saturated.
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

bool isInt8Kind(int32_t dt) { return dt == kUInt8 || dt == kInt8; }

/// Input `i` must be uint8 or int8.
LogicalResult requireInt8(ONNXNode &n, int64_t i, StringRef what) {
  if (!isInt8Kind(n.inputDType(i)))
    return n.emitError() << what << " must be uint8 or int8, got "
                         << dtypeName(n.inputDType(i));
  return success();
}

/// Zero point `zp` (when given) must have the dtype of its tensor `of`.
LogicalResult requireSameDType(ONNXNode &n, int64_t zp, int64_t of,
                               StringRef what) {
  if (n.hasInput(zp) && n.inputDType(zp) != n.inputDType(of))
    return n.emitError() << what << " has dtype " << dtypeName(n.inputDType(zp))
                         << ", expected " << dtypeName(n.inputDType(of));
  return success();
}

LogicalResult requireFloatScale(ONNXNode &n, int64_t i, StringRef what) {
  if (!isFloatDType(n.inputDType(i)))
    return n.emitError() << what << " must be a float tensor, got "
                         << dtypeName(n.inputDType(i));
  return success();
}

/// How a scale or zero point applies: one value, or one per index of an
/// axis of size `axisLen`. Returns whether it is per-axis.
FailureOr<bool> paramKind(ONNXNode &n, int64_t i, StringRef what,
                          int64_t axisLen, StringRef axisName) {
  RankedTensorType t = n.inputType(i);
  if (t.getRank() == 0 || (t.getRank() == 1 && t.getDimSize(0) == 1))
    return false;
  if (!axisName.empty() && t.getRank() == 1 &&
      (t.getDimSize(0) == axisLen || ShapedType::isDynamic(axisLen) ||
       t.isDynamicDim(0)))
    return true;
  auto diag = n.emitError() << what << " must be a scalar";
  if (!axisName.empty())
    diag << " or have " << axisLen << " values (one per " << axisName << ")";
  return diag << ", got " << t;
}

/// `v` ([L]) reshaped to [L, 1 x ones] so that it broadcasts along an axis
/// `ones` dims before the last.
Value withTrailingOnes(OpBuilder &b, Location loc, Value v, int64_t ones) {
  if (ones == 0)
    return v;
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape{ty.getDimSize(0)};
  ReassociationIndices all{0};
  for (int64_t i = 0; i < ones; ++i) {
    shape.push_back(1);
    all.push_back(i + 1);
  }
  return tensor::ExpandShapeOp::create(b, loc, ty.clone(shape), v,
                                       SmallVector<ReassociationIndices>{all});
}

/// The single element of a [] or [1] tensor.
Value extractScalar(OpBuilder &b, Location loc, Value v) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<Value> idx;
  if (ty.getRank() == 1)
    idx.push_back(arith::ConstantIndexOp::create(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, v, idx);
}

Value toI32(OpBuilder &b, Location loc, Value v, bool isUnsigned) {
  return convertScalar(b, loc, v, b.getI32Type(), isUnsigned, false);
}

Value toF32(OpBuilder &b, Location loc, Value v, bool isUnsigned = false) {
  return convertScalar(b, loc, v, b.getF32Type(), isUnsigned, false);
}

/// One operand of an integer matmul: the tensor, its signedness, and its
/// zero point (null, a scalar, or one per row of A / column of B).
struct IntOperand {
  Value v;
  bool isUnsigned;
  Value zp;
  bool zpPerAxis;
};

/// numpy matmul of integer A and B into i32:
///   sum_k (ext(a) - ext(a_zp)) * (ext(b) - ext(b_zp)),
/// with numpy broadcasting of the batch dims and 1-D operands.
FailureOr<Value> integerMatmul(ONNXNode &n, IntOperand a, IntOperand b) {
  MLIRContext *ctx = n.b.getContext();
  if (cast<RankedTensorType>(a.v.getType()).getRank() == 0 ||
      cast<RankedTensorType>(b.v.getType()).getRank() == 0)
    return n.emitError() << "inputs must have rank >= 1";
  SmallVector<Value> zps;
  if (a.zp)
    zps.push_back(a.zp);
  if (b.zp)
    zps.push_back(b.zp);
  auto zpMaps = [&](int64_t loops, AffineExpr dm, AffineExpr dn) {
    auto zpMap = [&](const IntOperand &o, AffineExpr axis) {
      SmallVector<AffineExpr> e;
      if (o.zpPerAxis)
        e.push_back(axis);
      else if (cast<RankedTensorType>(o.zp.getType()).getRank() == 1)
        e.push_back(getAffineConstantExpr(0, ctx));
      return AffineMap::get(loops, 0, e, ctx);
    };
    SmallVector<AffineMap> maps;
    if (a.zp)
      maps.push_back(zpMap(a, dm));
    if (b.zp)
      maps.push_back(zpMap(b, dn));
    return maps;
  };
  return buildMatmul(
      n, a.v, b.v, n.b.getI32Type(), zps, zpMaps,
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        Value x = toI32(nb, l, args[0], a.isUnsigned);
        Value y = toI32(nb, l, args[1], b.isUnsigned);
        unsigned next = 2;
        if (a.zp)
          x = arith::SubIOp::create(nb, l, x,
                                    toI32(nb, l, args[next++], a.isUnsigned));
        if (b.zp)
          y = arith::SubIOp::create(nb, l, y,
                                    toI32(nb, l, args[next++], b.isUnsigned));
        Value p = arith::MulIOp::create(nb, l, x, y);
        return arith::AddIOp::create(nb, l, args.back(), p).getResult();
      });
}

/// Rounds f32 `v` half to even, adds zero point `zp` (already f32) and
/// saturates to the range of `dtype` (uint8 / int8), giving an i8.
Value roundAndSaturate(OpBuilder &b, Location loc, Value v, Value zp,
                       int32_t dtype) {
  bool isUnsigned = dtype == kUInt8;
  Value r = math::RoundEvenOp::create(b, loc, v);
  if (zp)
    r = arith::AddFOp::create(b, loc, r, zp);
  Type f32 = b.getF32Type();
  r = arith::MaximumFOp::create(
      b, loc, r, scalarConstant(b, loc, f32, isUnsigned ? 0 : -128));
  r = arith::MinimumFOp::create(
      b, loc, r, scalarConstant(b, loc, f32, isUnsigned ? 255 : 127));
  return convertScalar(b, loc, r, b.getI8Type(), false, isUnsigned);
}

/// Requantizes an i32 accumulator: each of `scales` (broadcastable to acc,
/// the first two multiplied, then divided by the third) and the output zero
/// point `yZp` of dtype `yDType`.
FailureOr<Value> requantize(ONNXNode &n, Value acc, Value s1, Value s2,
                            Value yScale, Value yZp, int32_t yDType) {
  bool yUnsigned = yDType == kUInt8;
  // Single-value [1] parameters as rank 0, so that they never widen a
  // rank-0 result.
  SmallVector<Value> ins{acc};
  for (Value p : {s1, s2, yScale, yZp}) {
    auto t = cast<RankedTensorType>(p.getType());
    if (t.getRank() == 1 && t.getDimSize(0) == 1)
      p = tensor::CollapseShapeOp::create(n.b, n.loc,
                                          t.clone(ArrayRef<int64_t>{}), p,
                                          ArrayRef<ReassociationIndices>{});
    ins.push_back(p);
  }
  return buildElementwise(
      n, ins, n.b.getI8Type(), [&](OpBuilder &b, Location l, ValueRange a) {
        // As onnxruntime: one f32 multiplier s1 * s2 / sy.
        Value mult =
            arith::MulFOp::create(b, l, toF32(b, l, a[1]), toF32(b, l, a[2]));
        mult = arith::DivFOp::create(b, l, mult, toF32(b, l, a[3]));
        Value v = arith::MulFOp::create(b, l, toF32(b, l, a[0]), mult);
        return roundAndSaturate(b, l, v, toF32(b, l, a[4], yUnsigned), yDType);
      });
}

//===----------------------------------------------------------------------===//
// DynamicQuantizeLinear
//===----------------------------------------------------------------------===//

LogicalResult buildDynamicQuantizeLinear(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 3, 3)))
    return failure();
  if (n.inputDType(0) != kFloat)
    return n.emitError() << "x must be a float tensor, got "
                         << dtypeName(n.inputDType(0));
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value x = n.input(0);
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  Type f32 = b.getF32Type();
  // min and max in one pass; starting both at 0 widens the range to
  // include 0.
  auto scalarTy = RankedTensorType::get({}, f32);
  Value zero = scalarConstant(b, loc, f32, 0);
  Value init =
      linalg::FillOp::create(
          b, loc, zero,
          tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, f32).getResult())
          .getResult(0);
  AffineMap toScalar = AffineMap::get(rank, 0, {}, ctx);
  auto mm = linalg::GenericOp::create(
      b, loc, TypeRange{scalarTy, scalarTy}, ValueRange{x},
      ValueRange{init, init},
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                          toScalar, toScalar},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location l, ValueRange a) {
        linalg::YieldOp::create(
            nb, l,
            ValueRange{
                arith::MinimumFOp::create(nb, l, a[1], a[0]).getResult(),
                arith::MaximumFOp::create(nb, l, a[2], a[0]).getResult()});
      });
  Value lo = tensor::ExtractOp::create(b, loc, mm.getResult(0), ValueRange{});
  Value hi = tensor::ExtractOp::create(b, loc, mm.getResult(1), ValueRange{});
  // scale = (max - min) / 255; as onnxruntime, 1 when the range is empty
  // (all zeros) instead of a division by zero.
  Value range = arith::SubFOp::create(b, loc, hi, lo);
  Value scale =
      arith::DivFOp::create(b, loc, range, scalarConstant(b, loc, f32, 255));
  Value empty =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, range, zero);
  scale = arith::SelectOp::create(b, loc, empty, scalarConstant(b, loc, f32, 1),
                                  scale);
  // zero point = round(saturate(0 - min / scale)).
  Value zpF =
      arith::NegFOp::create(b, loc, arith::DivFOp::create(b, loc, lo, scale));
  zpF = arith::MaximumFOp::create(b, loc, zpF, zero);
  zpF =
      arith::MinimumFOp::create(b, loc, zpF, scalarConstant(b, loc, f32, 255));
  zpF = math::RoundEvenOp::create(b, loc, zpF);
  Value zp = convertScalar(b, loc, zpF, b.getI8Type(), false, true);

  FailureOr<Value> y = buildElementwise(
      n, {x}, b.getI8Type(), [&](OpBuilder &nb, Location l, ValueRange a) {
        Value v = arith::DivFOp::create(nb, l, a[0], scale);
        return roundAndSaturate(nb, l, v, zpF, kUInt8);
      });
  if (failed(y))
    return failure();
  n.setOutput(0, *y, kUInt8);
  n.setOutput(1, tensor::FromElementsOp::create(b, loc, scalarTy, scale),
              kFloat);
  n.setOutput(2,
              tensor::FromElementsOp::create(
                  b, loc, RankedTensorType::get({}, b.getI8Type()), zp),
              kUInt8);
  return success();
}

//===----------------------------------------------------------------------===//
// MatMulInteger and QLinearMatMul
//===----------------------------------------------------------------------===//

/// Rows of A (dim -2; 1 for a vector) and columns of B (dim -1).
int64_t rowsOf(RankedTensorType t) {
  return t.getRank() >= 2 ? t.getDimSize(t.getRank() - 2) : 1;
}
int64_t colsOf(RankedTensorType t) {
  return t.getRank() >= 2 ? t.getDimSize(t.getRank() - 1) : 1;
}

/// A's and B's operands with their zero points at inputs aZp and bZp.
FailureOr<std::pair<IntOperand, IntOperand>>
matmulOperands(ONNXNode &n, int64_t a, int64_t aZp, int64_t b, int64_t bZp) {
  if (failed(requireInt8(n, a, "A")) || failed(requireInt8(n, b, "B")) ||
      failed(requireSameDType(n, aZp, a, "A's zero point")) ||
      failed(requireSameDType(n, bZp, b, "B's zero point")))
    return failure();
  IntOperand oa{n.input(a), isUnsignedDType(n.inputDType(a)), Value(), false};
  IntOperand ob{n.input(b), isUnsignedDType(n.inputDType(b)), Value(), false};
  RankedTensorType aTy = n.inputType(a), bTy = n.inputType(b);
  if (n.hasInput(aZp)) {
    FailureOr<bool> per = paramKind(n, aZp, "A's zero point", rowsOf(aTy),
                                    aTy.getRank() >= 2 ? "row of A" : "");
    if (failed(per))
      return failure();
    oa.zp = n.input(aZp);
    oa.zpPerAxis = *per;
  }
  if (n.hasInput(bZp)) {
    FailureOr<bool> per = paramKind(n, bZp, "B's zero point", colsOf(bTy),
                                    bTy.getRank() >= 2 ? "column of B" : "");
    if (failed(per))
      return failure();
    ob.zp = n.input(bZp);
    ob.zpPerAxis = *per;
  }
  return std::make_pair(oa, ob);
}

LogicalResult buildMatMulInteger(ONNXNode &n) {
  if (failed(n.checkArity(2, 4, 1, 1)))
    return failure();
  auto ops = matmulOperands(n, 0, 2, 1, 3);
  if (failed(ops))
    return failure();
  FailureOr<Value> y = integerMatmul(n, ops->first, ops->second);
  if (failed(y))
    return failure();
  n.setOutput(0, *y, kInt32);
  return success();
}

LogicalResult buildQLinearMatMul(ONNXNode &n) {
  if (failed(n.checkArity(8, 8, 1, 1)))
    return failure();
  // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
  // y_zero_point.
  auto ops = matmulOperands(n, 0, 2, 3, 5);
  if (failed(ops))
    return failure();
  if (failed(requireFloatScale(n, 1, "a_scale")) ||
      failed(requireFloatScale(n, 4, "b_scale")) ||
      failed(requireFloatScale(n, 6, "y_scale")))
    return failure();
  int32_t yDType = n.inputDType(7);
  if (!isInt8Kind(yDType))
    return n.emitError() << "y_zero_point must be uint8 or int8, got "
                         << dtypeName(yDType);
  RankedTensorType aTy = n.inputType(0), bTy = n.inputType(3);
  FailureOr<bool> aPer = paramKind(n, 1, "a_scale", rowsOf(aTy),
                                   aTy.getRank() >= 2 ? "row of a" : "");
  FailureOr<bool> bPer = paramKind(n, 4, "b_scale", colsOf(bTy),
                                   bTy.getRank() >= 2 ? "column of b" : "");
  if (failed(aPer) || failed(bPer) ||
      failed(paramKind(n, 6, "y_scale", 1, "")) ||
      failed(paramKind(n, 7, "y_zero_point", 1, "")))
    return failure();
  FailureOr<Value> acc = integerMatmul(n, ops->first, ops->second);
  if (failed(acc))
    return failure();
  // A per-row scale broadcasts along the rows: [M] -> [M, 1].
  Value aScale = n.input(1);
  if (*aPer)
    aScale = withTrailingOnes(n.b, n.loc, aScale, bTy.getRank() >= 2 ? 1 : 0);
  FailureOr<Value> y =
      requantize(n, *acc, aScale, n.input(4), n.input(6), n.input(7), yDType);
  if (failed(y))
    return failure();
  n.setOutput(0, *y, yDType);
  return success();
}

//===----------------------------------------------------------------------===//
// ConvInteger and QLinearConv
//===----------------------------------------------------------------------===//

/// The integer convolution of input x (index xi) with w (wi) and their zero
/// points (xZp scalar, wZp scalar or per output channel), in i32; `bias`
/// ([M] i32) may be null.
FailureOr<Value> integerConv(ONNXNode &n, int64_t xi, int64_t xZp, int64_t wi,
                             int64_t wZp, Value bias) {
  if (failed(requireInt8(n, xi, "x")) || failed(requireInt8(n, wi, "w")) ||
      failed(requireSameDType(n, xZp, xi, "x's zero point")) ||
      failed(requireSameDType(n, wZp, wi, "w's zero point")))
    return failure();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  bool xUnsigned = isUnsignedDType(n.inputDType(xi));
  bool wUnsigned = isUnsignedDType(n.inputDType(wi));
  RankedTensorType wTy = n.inputType(wi);
  if (wTy.getRank() < 3)
    return n.emitError() << "w must have rank >= 3, got " << wTy;
  // The weight minus its zero point, once, in i32.
  SmallVector<Value> wIns{n.input(wi)};
  if (n.hasInput(wZp)) {
    FailureOr<bool> per = paramKind(n, wZp, "w's zero point", wTy.getDimSize(0),
                                    "output channel");
    if (failed(per))
      return failure();
    wIns.push_back(
        *per ? withTrailingOnes(b, loc, n.input(wZp), wTy.getRank() - 1)
             : n.input(wZp));
  }
  FailureOr<Value> w32 = buildElementwise(
      n, wIns, b.getI32Type(), [&](OpBuilder &nb, Location l, ValueRange a) {
        Value w = toI32(nb, l, a[0], wUnsigned);
        if (a.size() > 1)
          w = arith::SubIOp::create(nb, l, w, toI32(nb, l, a[1], wUnsigned));
        return w;
      });
  if (failed(w32))
    return failure();
  // x is padded with its zero point, which the product subtracts again.
  Value padValue = scalarConstant(b, loc, n.inputType(xi).getElementType(), 0);
  Value xZp32;
  if (n.hasInput(xZp)) {
    if (failed(paramKind(n, xZp, "x's zero point", 1, "")))
      return failure();
    padValue = extractScalar(b, loc, n.input(xZp));
    xZp32 = toI32(b, loc, padValue, xUnsigned);
  }
  return buildConvolution(
      n, n.input(xi), *w32, bias, padValue, b.getI32Type(),
      [&](OpBuilder &nb, Location l, Value x, Value w) -> Value {
        Value v = toI32(nb, l, x, xUnsigned);
        if (xZp32)
          v = arith::SubIOp::create(nb, l, v, xZp32);
        return arith::MulIOp::create(nb, l, v, w);
      });
}

LogicalResult buildConvInteger(ONNXNode &n) {
  if (failed(n.checkArity(2, 4, 1, 1)))
    return failure();
  // x, w, x_zero_point, w_zero_point.
  FailureOr<Value> y = integerConv(n, 0, 2, 1, 3, Value());
  if (failed(y))
    return failure();
  n.setOutput(0, *y, kInt32);
  return success();
}

LogicalResult buildQLinearConv(ONNXNode &n) {
  if (failed(n.checkArity(8, 9, 1, 1)))
    return failure();
  // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
  // y_zero_point, B.
  if (failed(requireFloatScale(n, 1, "x_scale")) ||
      failed(requireFloatScale(n, 4, "w_scale")) ||
      failed(requireFloatScale(n, 6, "y_scale")))
    return failure();
  int32_t yDType = n.inputDType(7);
  if (!isInt8Kind(yDType))
    return n.emitError() << "y_zero_point must be uint8 or int8, got "
                         << dtypeName(yDType);
  RankedTensorType wTy = n.inputType(3);
  if (wTy.getRank() < 3)
    return n.emitError() << "w must have rank >= 3, got " << wTy;
  FailureOr<bool> wPer =
      paramKind(n, 4, "w_scale", wTy.getDimSize(0), "output channel");
  if (failed(wPer) || failed(paramKind(n, 1, "x_scale", 1, "")) ||
      failed(paramKind(n, 6, "y_scale", 1, "")) ||
      failed(paramKind(n, 7, "y_zero_point", 1, "")))
    return failure();
  Value bias;
  if (n.hasInput(8)) {
    if (n.inputDType(8) != kInt32)
      return n.emitError() << "bias B must be int32, got "
                           << dtypeName(n.inputDType(8));
    bias = n.input(8);
  }
  FailureOr<Value> acc = integerConv(n, 0, 2, 3, 5, bias);
  if (failed(acc))
    return failure();
  // A per-channel w_scale broadcasts along dim 1 of [N, M, spatial...].
  Value wScale = n.input(4);
  if (*wPer)
    wScale = withTrailingOnes(n.b, n.loc, wScale, wTy.getRank() - 2);
  FailureOr<Value> y =
      requantize(n, *acc, n.input(1), wScale, n.input(6), n.input(7), yDType);
  if (failed(y))
    return failure();
  n.setOutput(0, *y, yDType);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerQuantizedOps(OpRegistry &r) {
  r.add("", "DynamicQuantizeLinear", 11, buildDynamicQuantizeLinear);
  r.add("", "MatMulInteger", 10, buildMatMulInteger);
  // Opset 21 only widened the types (float8 etc.), which are rejected here.
  r.add("", "QLinearMatMul", 10, buildQLinearMatMul);
  r.add("", "QLinearMatMul", 21, buildQLinearMatMul);
  r.add("", "ConvInteger", 10, buildConvInteger);
  r.add("", "QLinearConv", 10, buildQLinearConv);
}
