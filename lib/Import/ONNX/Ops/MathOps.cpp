//===- MathOps.cpp - trigonometric, small element-wise and window ops -----===//
//
// Acos, Acosh, Asin, Asinh, Atan, Atanh, Cosh, Sinh, Tan (math dialect ops,
// libm calls once lowered), Shrink, Swish, LpNormalization,
// MeanVarianceNormalization, LRN, Hardmax, EyeLike, Det and
// Upsample-7 (ReverseSequence: Spatial.cpp). Each is one or a few
// linalg.generic ops; statistics accumulate in f32 for 16-bit floats.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

Value toType(OpBuilder &b, Location l, Value v, Type ty) {
  return convertScalar(b, l, v, ty, false, false);
}

Value cst(OpBuilder &b, Location l, Value like, double v) {
  return scalarConstant(b, l, like.getType(), v);
}

LogicalResult requireFloat(ONNXNode &n, int64_t i = 0) {
  if (!isFloatDType(n.inputDType(i)))
    return n.emitError() << "input #" << i << " must be a float tensor, got "
                         << dtypeName(n.inputDType(i));
  return success();
}

using ScalarFn = std::function<Value(OpBuilder &, Location, Value)>;

/// A float-only unary op `y = fn(x)`, computed in f32 for 16-bit floats.
OpBuilderFn unaryFloat(ScalarFn fn) {
  return [fn](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    Type elemTy = n.inputType(0).getElementType();
    Type ct = accumulatorType(elemTy);
    auto r = buildElementwise(n, {n.input(0)}, elemTy,
                              [&](OpBuilder &b, Location l, ValueRange a) {
                                Value x = toType(b, l, a[0], ct);
                                return toType(b, l, fn(b, l, x), elemTy);
                              });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
}

template <typename OpT> OpBuilderFn mathUnary() {
  return unaryFloat([](OpBuilder &b, Location l, Value x) -> Value {
    return OpT::create(b, l, x);
  });
}

//===----------------------------------------------------------------------===//
// Shrink, Swish
//===----------------------------------------------------------------------===//

LogicalResult buildShrink(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<double> bias = n.getFloat("bias", 0.0);
  FailureOr<double> lambd = n.getFloat("lambd", 0.5);
  if (failed(bias) || failed(lambd))
    return failure();
  int32_t dt = n.inputDType(0);
  if (dt == kBool)
    return n.emitError() << "dtype bool is not supported";
  bool isUnsigned = isUnsignedDType(dt);
  Type elemTy = n.inputType(0).getElementType();
  // Integers are compared and shifted in f64, then converted back.
  Type ct =
      isa<FloatType>(elemTy) ? accumulatorType(elemTy) : Type(n.b.getF64Type());
  auto r = buildElementwise(
      n, {n.input(0)}, elemTy, [&](OpBuilder &b, Location l, ValueRange a) {
        using namespace arith;
        Value x = convertScalar(b, l, a[0], ct, isUnsigned, false);
        Value lo =
            CmpFOp::create(b, l, CmpFPredicate::OLT, x, cst(b, l, x, -*lambd));
        Value hi =
            CmpFOp::create(b, l, CmpFPredicate::OGT, x, cst(b, l, x, *lambd));
        Value y = SelectOp::create(
            b, l, lo, AddFOp::create(b, l, x, cst(b, l, x, *bias)),
            SelectOp::create(b, l, hi,
                             SubFOp::create(b, l, x, cst(b, l, x, *bias)),
                             cst(b, l, x, 0.0)));
        return convertScalar(b, l, y, elemTy, false, isUnsigned);
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, dt);
  return success();
}

LogicalResult buildSwish(ONNXNode &n) {
  FailureOr<double> alpha = n.getFloat("alpha", 1.0);
  if (failed(alpha))
    return failure();
  double a = *alpha;
  return unaryFloat([a](OpBuilder &b, Location l, Value x) -> Value {
    using namespace arith;
    // x * sigmoid(alpha * x)
    Value one = cst(b, l, x, 1.0);
    Value ax = MulFOp::create(b, l, x, cst(b, l, x, a));
    Value e = math::ExpOp::create(b, l, NegFOp::create(b, l, ax));
    return DivFOp::create(b, l, x, AddFOp::create(b, l, one, e));
  })(n);
}

//===----------------------------------------------------------------------===//
// LpNormalization, MeanVarianceNormalization
//===----------------------------------------------------------------------===//

LogicalResult buildLpNormalization(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", -1);
  FailureOr<int64_t> p = n.getInt("p", 2);
  if (failed(axisAttr) || failed(p))
    return failure();
  if (*p != 1 && *p != 2)
    return n.emitError() << "p " << *p << " is not 1 or 2";
  FailureOr<int64_t> axis = inputAxis(n, *axisAttr);
  if (failed(axis))
    return failure();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value x = n.input(0);
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  SmallVector<bool> reduced(rank, false);
  reduced[*axis] = true;
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap kept = keptDimsMap(reduced, ctx);
  bool l1 = *p == 1;
  Value norm = reduceLoops(
      b, loc, x, reduced, {x}, {id}, ct, scalarConstant(b, loc, ct, 0.0),
      [&](OpBuilder &nb, Location l, ValueRange a, Value acc) -> Value {
        Value v = toType(nb, l, a[0], ct);
        v = l1 ? math::AbsFOp::create(nb, l, v).getResult()
               : arith::MulFOp::create(nb, l, v, v).getResult();
        return arith::AddFOp::create(nb, l, acc, v);
      });
  Value y = parallelGeneric(
      b, loc, {x, norm}, {id, kept}, emptyTensorLike(b, loc, xTy, x),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value v = toType(nb, l, a[0], ct);
        Value nv = l1 ? a[1] : math::SqrtOp::create(nb, l, a[1]).getResult();
        Value zero = cst(nb, l, v, 0.0);
        // A zero norm gives 0, not NaN (the ONNX reference).
        Value isZero =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, nv, zero);
        Value q = arith::SelectOp::create(nb, l, isZero, zero,
                                          arith::DivFOp::create(nb, l, v, nv));
        return toType(nb, l, q, elemTy);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildMVN(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
    return failure();
  FailureOr<SmallVector<int64_t>> axes = n.getInts("axes", {0, 2, 3});
  if (failed(axes))
    return failure();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value x = n.input(0);
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  SmallVector<bool> reduced(rank, false);
  for (int64_t a : *axes) {
    FailureOr<int64_t> ax = n.normalizeAxis(a, rank, "axis");
    if (failed(ax))
      return failure();
    if (reduced[*ax])
      return n.emitError() << "axis " << a << " is given twice";
    reduced[*ax] = true;
  }
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap kept = keptDimsMap(reduced, ctx);
  Value count = reducedCount(b, loc, x, reduced, ct);
  // Y = (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9), as the ONNX function.
  auto sum = [&](bool squares) {
    return reduceLoops(
        b, loc, x, reduced, {x}, {id}, ct, scalarConstant(b, loc, ct, 0.0),
        [&](OpBuilder &nb, Location l, ValueRange a, Value acc) -> Value {
          Value v = toType(nb, l, a[0], ct);
          if (squares)
            v = arith::MulFOp::create(nb, l, v, v);
          return arith::AddFOp::create(nb, l, acc, v);
        });
  };
  Value s1 = sum(false), s2 = sum(true);
  Value y = parallelGeneric(
      b, loc, {x, s1, s2}, {id, kept, kept}, emptyTensorLike(b, loc, xTy, x),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        using namespace arith;
        Value v = toType(nb, l, a[0], ct);
        Value mean = DivFOp::create(nb, l, a[1], count);
        Value ex2 = DivFOp::create(nb, l, a[2], count);
        Value var =
            SubFOp::create(nb, l, ex2, MulFOp::create(nb, l, mean, mean));
        Value sd = AddFOp::create(nb, l, math::SqrtOp::create(nb, l, var),
                                  cst(nb, l, v, 1e-9));
        return toType(nb, l,
                      DivFOp::create(nb, l, SubFOp::create(nb, l, v, mean), sd),
                      elemTy);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// LRN
//===----------------------------------------------------------------------===//

LogicalResult buildLRN(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
    return failure();
  FailureOr<double> alpha = n.getFloat("alpha", 1e-4);
  FailureOr<double> beta = n.getFloat("beta", 0.75);
  FailureOr<double> bias = n.getFloat("bias", 1.0);
  FailureOr<int64_t> size = n.getRequiredInt("size");
  if (failed(alpha) || failed(beta) || failed(bias) || failed(size))
    return failure();
  if (*size < 1)
    return n.emitError() << "size " << *size << " must be >= 1";
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  if (rank < 3)
    return n.emitError() << "input must have rank >= 3 ([N, C, D1..Dk]), got "
                         << rank;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value x = n.input(0);
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  // square_sum[n, c, ...] = sum of x[n, c', ...]^2 for c' in
  // [c - floor((size-1)/2), c + ceil((size-1)/2)] within [0, C): loop `rank`
  // walks the window.
  int64_t before = (*size - 1) / 2;
  Value channels = dimValue(b, loc, x, 1);
  Value init = linalg::FillOp::create(b, loc, scalarConstant(b, loc, ct, 0.0),
                                      emptyTensorLike(b, loc, xTy.clone(ct), x))
                   .getResult(0);
  Value window =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{*size}, b.getI1Type());
  SmallVector<utils::IteratorType> iters(rank + 1,
                                         utils::IteratorType::parallel);
  iters.back() = utils::IteratorType::reduction;
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{window}, ValueRange{init},
      ArrayRef<AffineMap>{
          AffineMap::get(rank + 1, 0, {getAffineDimExpr(rank, ctx)}, ctx),
          dimRangeMap(ctx, rank + 1, 0, rank)},
      iters, [&](OpBuilder &nb, Location l, ValueRange args) {
        using namespace arith;
        Value c = linalg::IndexOp::create(nb, l, 1);
        Value k = linalg::IndexOp::create(nb, l, rank);
        Value cc = SubIOp::create(nb, l, AddIOp::create(nb, l, c, k),
                                  cIndex(nb, l, before));
        Value inRange = AndIOp::create(
            nb, l,
            CmpIOp::create(nb, l, CmpIPredicate::sge, cc, cIndex(nb, l, 0)),
            CmpIOp::create(nb, l, CmpIPredicate::slt, cc, channels));
        Value safe = SelectOp::create(nb, l, inRange, cc, cIndex(nb, l, 0));
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i)
          coords.push_back(i == 1 ? safe : linalg::IndexOp::create(nb, l, i));
        Value v =
            toType(nb, l, tensor::ExtractOp::create(nb, l, x, coords), ct);
        Value sq = MulFOp::create(nb, l, v, v);
        Value s = AddFOp::create(nb, l, args[1], sq);
        linalg::YieldOp::create(
            nb, l, SelectOp::create(nb, l, inRange, s, args[1]).getResult());
      });
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  double scale = *alpha / static_cast<double>(*size);
  Value y = parallelGeneric(
      b, loc, {x, g.getResult(0)}, {id, id}, emptyTensorLike(b, loc, xTy, x),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        using namespace arith;
        Value v = toType(nb, l, a[0], ct);
        Value d =
            AddFOp::create(nb, l, cst(nb, l, v, *bias),
                           MulFOp::create(nb, l, a[1], cst(nb, l, v, scale)));
        Value pw = math::PowFOp::create(nb, l, d, cst(nb, l, v, *beta));
        return toType(nb, l, DivFOp::create(nb, l, v, pw), elemTy);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Hardmax
//===----------------------------------------------------------------------===//

/// Hardmax: 1 at the first maximum along `axis` (opset 13), or, before
/// opset 13, along the flattened dims from `axis` on (default 1).
OpBuilderFn hardmax(bool coerced) {
  return [coerced](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    FailureOr<int64_t> axisAttr = n.getInt("axis", coerced ? 1 : -1);
    if (failed(axisAttr))
      return failure();
    FailureOr<int64_t> axis = inputAxis(n, *axisAttr);
    if (failed(axis))
      return failure();
    OpBuilder &b = n.b;
    Location loc = n.loc;
    MLIRContext *ctx = b.getContext();
    Value x = n.input(0);
    RankedTensorType xTy = n.inputType(0);
    int64_t rank = xTy.getRank();
    Type elemTy = xTy.getElementType();
    SmallVector<bool> reduced(rank, false);
    for (int64_t i = *axis; i < (coerced ? rank : *axis + 1); ++i)
      reduced[i] = true;
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap kept = keptDimsMap(reduced, ctx);
    Value max = reduceLoops(
        b, loc, x, reduced, {x}, {id}, elemTy,
        extremeConstant(b, loc, elemTy, /*lowest=*/true, false),
        [&](OpBuilder &nb, Location l, ValueRange a, Value acc) -> Value {
          return arith::MaximumFOp::create(nb, l, a[0], acc);
        });
    // The row-major position of an element within the reduced dims.
    auto position = [&](OpBuilder &nb, Location l) -> Value {
      Value pos = cIndex(nb, l, 0);
      for (int64_t i = 0; i < rank; ++i)
        if (reduced[i])
          pos = arith::AddIOp::create(
              nb, l, arith::MulIOp::create(nb, l, pos, dimValue(nb, l, x, i)),
              linalg::IndexOp::create(nb, l, i));
      return pos;
    };
    Type i64 = b.getI64Type();
    Value first = reduceLoops(
        b, loc, x, reduced, {x, max}, {id, kept}, i64,
        arith::ConstantIntOp::create(b, loc, i64,
                                     std::numeric_limits<int64_t>::max()),
        [&](OpBuilder &nb, Location l, ValueRange a, Value acc) -> Value {
          Value isMax = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                              a[0], a[1]);
          Value pos = arith::IndexCastOp::create(nb, l, i64, position(nb, l));
          return arith::SelectOp::create(
              nb, l, isMax, arith::MinSIOp::create(nb, l, acc, pos), acc);
        });
    Value y = parallelGeneric(
        b, loc, {first}, {kept}, emptyTensorLike(b, loc, xTy, x),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value pos = arith::IndexCastOp::create(nb, l, i64, position(nb, l));
          Value hit =
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, pos, a[0]);
          return arith::SelectOp::create(nb, l, hit,
                                         scalarConstant(nb, l, elemTy, 1.0),
                                         scalarConstant(nb, l, elemTy, 0.0));
        });
    n.setOutput(0, y, n.inputDType(0));
    return success();
  };
}

//===----------------------------------------------------------------------===//
// EyeLike
//===----------------------------------------------------------------------===//

LogicalResult buildEyeLike(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> dtype = n.getInt("dtype", n.inputDType(0));
  FailureOr<int64_t> k = n.getInt("k", 0);
  if (failed(dtype) || failed(k))
    return failure();
  RankedTensorType xTy = n.inputType(0);
  if (xTy.getRank() != 2)
    return n.emitError() << "input must have rank 2, got " << xTy.getRank();
  FailureOr<Type> elemTy = elementTypeForNode(n, static_cast<int32_t>(*dtype));
  if (failed(elemTy))
    return failure();
  if (!elemTy->isIntOrFloat())
    return n.emitError() << "dtype " << dtypeName(*dtype)
                         << " is not supported";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Type et = *elemTy;
  int64_t diag = *k;
  Value y = parallelGeneric(
      b, loc, {}, {}, emptyTensorLike(b, loc, xTy.clone(et), n.input(0)),
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        Value i = linalg::IndexOp::create(nb, l, 0);
        Value j = linalg::IndexOp::create(nb, l, 1);
        Value on = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::eq,
            arith::AddIOp::create(nb, l, i, cIndex(nb, l, diag)), j);
        if (et.isInteger(1))
          return on;
        return arith::SelectOp::create(nb, l, on, scalarConstant(nb, l, et, 1),
                                       scalarConstant(nb, l, et, 0));
      });
  n.setOutput(0, y, static_cast<int32_t>(*dtype));
  return success();
}

//===----------------------------------------------------------------------===//
// Det
//===----------------------------------------------------------------------===//

/// Det of [..., M, M]: Gaussian elimination with partial pivoting, unrolled
/// for the static M (at most kMaxDetSize) in the body of one
/// linalg.generic over the batch dims, computed in f32 for 16-bit floats.
/// Row swaps are selects (a swap whenever a later row's entry is larger in
/// magnitude), each flipping the sign; a zero pivot column gives 0.
constexpr int64_t kMaxDetSize = 8;

LogicalResult buildDet(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
    return failure();
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  if (rank < 2)
    return n.emitError() << "input must have rank >= 2 ([..., M, M]), got "
                         << rank;
  int64_t m = xTy.getDimSize(rank - 1);
  if (xTy.isDynamicDim(rank - 1) || xTy.isDynamicDim(rank - 2))
    return n.emitError() << "the matrix dims must be static";
  if (xTy.getDimSize(rank - 2) != m)
    return n.emitError() << "matrices must be square, got "
                         << xTy.getDimSize(rank - 2) << "x" << m;
  if (m > kMaxDetSize || m < 1)
    return n.emitError() << "matrices of size " << m
                         << " are not supported (1 to " << kMaxDetSize << ")";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  int64_t batch = rank - 2;
  auto outTy = RankedTensorType::get(xTy.getShape().drop_back(2), elemTy);
  Value y = parallelGeneric(
      b, loc, {}, {}, emptyTensorLike(b, loc, outTy, x),
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        using namespace arith;
        SmallVector<Value> prefix;
        for (int64_t i = 0; i < batch; ++i)
          prefix.push_back(linalg::IndexOp::create(nb, l, i));
        SmallVector<SmallVector<Value>> a(m, SmallVector<Value>(m));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < m; ++j) {
            SmallVector<Value> c(prefix);
            c.push_back(cIndex(nb, l, i));
            c.push_back(cIndex(nb, l, j));
            a[i][j] = toType(nb, l, tensor::ExtractOp::create(nb, l, x, c), ct);
          }
        Value zero = scalarConstant(nb, l, ct, 0.0);
        Value det = scalarConstant(nb, l, ct, 1.0);
        for (int64_t k = 0; k < m; ++k) {
          for (int64_t r = k + 1; r < m; ++r) {
            Value swap = CmpFOp::create(nb, l, CmpFPredicate::OGT,
                                        math::AbsFOp::create(nb, l, a[r][k]),
                                        math::AbsFOp::create(nb, l, a[k][k]));
            for (int64_t j = k; j < m; ++j) {
              Value top = SelectOp::create(nb, l, swap, a[r][j], a[k][j]);
              Value bottom = SelectOp::create(nb, l, swap, a[k][j], a[r][j]);
              a[k][j] = top;
              a[r][j] = bottom;
            }
            det =
                SelectOp::create(nb, l, swap, NegFOp::create(nb, l, det), det);
          }
          Value pivot = a[k][k];
          Value isZero = CmpFOp::create(nb, l, CmpFPredicate::OEQ, pivot, zero);
          for (int64_t r = k + 1; r < m; ++r) {
            Value f = SelectOp::create(nb, l, isZero, zero,
                                       DivFOp::create(nb, l, a[r][k], pivot));
            for (int64_t j = k + 1; j < m; ++j)
              a[r][j] = SubFOp::create(nb, l, a[r][j],
                                       MulFOp::create(nb, l, f, a[k][j]));
          }
          det = MulFOp::create(nb, l, det, pivot);
        }
        return toType(nb, l, det, elemTy);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Upsample (deprecated)
//===----------------------------------------------------------------------===//

/// Upsample-7 (scales attribute; Upsample-9 with scales as an input is
/// Resize-10's builder, Resize.cpp): y[i...] = x[floor(i_d / scale_d)...],
/// output dims floor(dim * scale). Only mode 'nearest'.
LogicalResult buildUpsample7(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<std::string> mode = n.getString("mode", "nearest");
  if (failed(mode))
    return failure();
  if (!n.hasAttr("scales"))
    return n.emitError() << "attribute 'scales' is required";
  FailureOr<SmallVector<double>> scalesOr = n.getFloats("scales", {});
  if (failed(scalesOr))
    return failure();
  SmallVector<double> scales = *scalesOr;
  if (*mode != "nearest")
    return n.emitError() << "mode '" << *mode
                         << "' is not supported (only 'nearest')";
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  if (static_cast<int64_t>(scales.size()) != rank)
    return n.emitError() << "scales has " << scales.size()
                         << " values, the input has rank " << rank;
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank; ++i) {
    if (!(scales[i] >= 1.0))
      return n.emitError() << "scale " << scales[i] << " of dim " << i
                           << " is below 1";
    if (xTy.isDynamicDim(i)) {
      if (scales[i] != 1.0)
        return n.emitError() << "dynamic dim " << i << " with scale "
                             << scales[i] << " is not supported";
      shape.push_back(ShapedType::kDynamic);
      continue;
    }
    shape.push_back(static_cast<int64_t>(
        std::floor(static_cast<double>(xTy.getDimSize(i)) * scales[i])));
  }
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  auto outTy = RankedTensorType::get(shape, xTy.getElementType());
  Value y = parallelGeneric(
      b, loc, {}, {}, emptyTensorLike(b, loc, outTy, x),
      [&](OpBuilder &nb, Location l, ValueRange) -> Value {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i) {
          Value idx = linalg::IndexOp::create(nb, l, i);
          if (scales[i] == 1.0) {
            coords.push_back(idx);
            continue;
          }
          Value f = arith::UIToFPOp::create(
              nb, l, nb.getF64Type(),
              arith::IndexCastOp::create(nb, l, nb.getI64Type(), idx));
          Value q = math::FloorOp::create(
              nb, l,
              arith::DivFOp::create(
                  nb, l, f, scalarConstant(nb, l, nb.getF64Type(), scales[i])));
          Value src = arith::IndexCastOp::create(
              nb, l, nb.getIndexType(),
              arith::FPToSIOp::create(nb, l, nb.getI64Type(), q));
          coords.push_back(arith::MinSIOp::create(
              nb, l, src, cIndex(nb, l, xTy.getDimSize(i) - 1)));
        }
        return tensor::ExtractOp::create(nb, l, x, coords);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerMathOps(OpRegistry &r) {
  r.add("", "Acos", 7, mathUnary<math::AcosOp>());
  r.add("", "Acosh", 9, mathUnary<math::AcoshOp>());
  r.add("", "Asin", 7, mathUnary<math::AsinOp>());
  r.add("", "Asinh", 9, mathUnary<math::AsinhOp>());
  r.add("", "Atan", 7, mathUnary<math::AtanOp>());
  r.add("", "Atanh", 9, mathUnary<math::AtanhOp>());
  r.add("", "Cosh", 9, mathUnary<math::CoshOp>());
  r.add("", "Sinh", 9, mathUnary<math::SinhOp>());
  r.add("", "Tan", 7, mathUnary<math::TanOp>());
  r.add("", "Shrink", 9, buildShrink);
  r.add("", "Swish", 24, buildSwish);
  r.add("", "LpNormalization", 1, buildLpNormalization);
  r.add("", "MeanVarianceNormalization", 9, buildMVN);
  r.add("", "LRN", 1, buildLRN);
  r.add("", "Hardmax", 1, hardmax(/*coerced=*/true));
  r.add("", "Hardmax", 13, hardmax(/*coerced=*/false));
  r.add("", "EyeLike", 9, buildEyeLike);
  r.add("", "Det", 11, buildDet);
  r.add("", "Upsample", 7, buildUpsample7);
  // Upsample-9 (scales as an input) is Resize-10's builder (Resize.cpp),
  // which has the linear mode too.
}
