//===- Elementwise.cpp - element-wise ONNX operators ----------------------===//
//
// Arithmetic, comparison, logic, activations and casts: each becomes one
// broadcasting linalg.generic whose body uses arith/math.
//
//===----------------------------------------------------------------------===//

#include "../Tensors.h"
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

using ScalarFn = std::function<Value(OpBuilder &, Location, Value)>;
using ScalarBinFn = std::function<Value(OpBuilder &, Location, Value, Value)>;

Value cst(OpBuilder &b, Location l, Value like, double v) {
  return scalarConstant(b, l, like.getType(), v);
}

/// Requires every input to have the dtype of input 0.
LogicalResult checkSameDType(ONNXNode &n) {
  for (int64_t i = 1; i < n.numInputs(); ++i)
    if (n.hasInput(i) && n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(n.inputDType(0));
  return success();
}

LogicalResult requireFloat(ONNXNode &n, int64_t i = 0) {
  if (!isFloatDType(n.inputDType(i)))
    return n.emitError() << "input #" << i << " must be a float tensor, got "
                         << dtypeName(n.inputDType(i));
  return success();
}

/// A float-only unary op `y = fn(x)`.
OpBuilderFn unaryFloat(ScalarFn fn) {
  return [fn](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    auto r = buildElementwise(
        n, {n.input(0)}, n.inputType(0).getElementType(),
        [&](OpBuilder &b, Location l, ValueRange a) { return fn(b, l, a[0]); });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
}

/// A binary op with a float and an integer body (null: not for that kind);
/// `resultBool` for comparisons.
OpBuilderFn binary(
    ScalarBinFn floatFn,
    std::function<Value(OpBuilder &, Location, Value, Value, bool isUnsigned)>
        intFn,
    bool resultBool = false) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(2, 2, 1, 1)) || failed(checkSameDType(n)))
      return failure();
    bool isFloat = isFloatDType(n.inputDType(0));
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    if ((isFloat && !floatFn) || (!isFloat && !intFn))
      return n.emitError() << "dtype " << dtypeName(n.inputDType(0))
                           << " is not supported";
    Type elemTy =
        resultBool ? n.b.getI1Type() : n.inputType(0).getElementType();
    auto r =
        buildElementwise(n, {n.input(0), n.input(1)}, elemTy,
                         [&](OpBuilder &b, Location l, ValueRange a) {
                           return isFloat ? floatFn(b, l, a[0], a[1])
                                          : intFn(b, l, a[0], a[1], isUnsigned);
                         });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, resultBool ? kBool : n.inputDType(0));
    return success();
  };
}

template <typename FOp, typename IOp> OpBuilderFn arithBinary() {
  return binary([](OpBuilder &b, Location l, Value x,
                   Value y) -> Value { return FOp::create(b, l, x, y); },
                [](OpBuilder &b, Location l, Value x, Value y, bool) -> Value {
                  return IOp::create(b, l, x, y);
                });
}

OpBuilderFn compare(arith::CmpFPredicate fp, arith::CmpIPredicate sp,
                    arith::CmpIPredicate up) {
  return binary(
      [=](OpBuilder &b, Location l, Value x, Value y) -> Value {
        return arith::CmpFOp::create(b, l, fp, x, y);
      },
      [=](OpBuilder &b, Location l, Value x, Value y,
          bool isUnsigned) -> Value {
        return arith::CmpIOp::create(b, l, isUnsigned ? up : sp, x, y);
      },
      /*resultBool=*/true);
}

/// Min/Max/Sum/Mean over one or more broadcast inputs.
OpBuilderFn
variadic(ScalarBinFn floatFn,
         std::function<Value(OpBuilder &, Location, Value, Value, bool)> intFn,
         bool mean = false) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1 << 20, 1, 1)) || failed(checkSameDType(n)))
      return failure();
    bool isFloat = isFloatDType(n.inputDType(0));
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    if (!isFloat && !intFn)
      return n.emitError() << "dtype " << dtypeName(n.inputDType(0))
                           << " is not supported";
    SmallVector<Value> ins;
    for (int64_t i = 0; i < n.numInputs(); ++i)
      ins.push_back(n.input(i));
    auto r =
        buildElementwise(n, ins, n.inputType(0).getElementType(),
                         [&](OpBuilder &b, Location l, ValueRange a) {
                           Value acc = a[0];
                           for (Value v : a.drop_front())
                             acc = isFloat ? floatFn(b, l, acc, v)
                                           : intFn(b, l, acc, v, isUnsigned);
                           if (mean)
                             acc = arith::DivFOp::create(
                                 b, l, acc, cst(b, l, acc, double(a.size())));
                           return acc;
                         });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
}

/// Unary ops defined for floats and (signed) integers alike.
OpBuilderFn unaryAny(ScalarFn floatFn, ScalarFn intFn) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    bool isFloat = isFloatDType(n.inputDType(0));
    if (!isFloat && n.inputDType(0) == kBool)
      return n.emitError() << "dtype bool is not supported";
    auto r = buildElementwise(n, {n.input(0)}, n.inputType(0).getElementType(),
                              [&](OpBuilder &b, Location l, ValueRange a) {
                                return isFloat ? floatFn(b, l, a[0])
                                               : intFn(b, l, a[0]);
                              });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
}

Value sigmoid(OpBuilder &b, Location l, Value x) {
  Value one = cst(b, l, x, 1.0);
  Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
  return arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e));
}

Value softplus(OpBuilder &b, Location l, Value x) {
  // log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) to not
  // overflow for large x.
  Value ax = math::AbsFOp::create(b, l, x);
  Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, ax));
  Value relu = arith::MaximumFOp::create(b, l, x, cst(b, l, x, 0.0));
  return arith::AddFOp::create(b, l, relu, math::Log1pOp::create(b, l, e));
}

/// Builder for an activation with float attributes read from the node.
OpBuilderFn activation(
    SmallVector<std::pair<StringRef, double>> attrs,
    std::function<Value(OpBuilder &, Location, Value, ArrayRef<double>)> fn) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    SmallVector<double> values;
    for (auto [name, def] : attrs) {
      FailureOr<double> v = n.getFloat(name, def);
      if (failed(v))
        return failure();
      values.push_back(*v);
    }
    auto r = buildElementwise(n, {n.input(0)}, n.inputType(0).getElementType(),
                              [&](OpBuilder &b, Location l, ValueRange a) {
                                return fn(b, l, a[0], values);
                              });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
}

LogicalResult buildClip(ONNXNode &n) {
  if (failed(n.checkArity(1, 3, 1, 1)))
    return failure();
  bool isFloat = isFloatDType(n.inputDType(0));
  bool isUnsigned = isUnsignedDType(n.inputDType(0));
  Type elemTy = n.inputType(0).getElementType();
  SmallVector<Value> ins{n.input(0)};
  std::optional<double> lo, hi;
  if (n.opset < 11) {
    FailureOr<double> mn =
        n.getFloat("min", -std::numeric_limits<float>::max());
    FailureOr<double> mx = n.getFloat("max", std::numeric_limits<float>::max());
    if (failed(mn) || failed(mx))
      return failure();
    lo = *mn;
    hi = *mx;
  } else {
    for (int64_t i = 1; i < 3; ++i)
      if (n.hasInput(i)) {
        if (n.inputType(i).getNumElements() != 1)
          return n.emitError() << "input #" << i << " must be a scalar";
        if (n.inputDType(i) != n.inputDType(0))
          return n.emitError()
                 << "input #" << i << " has dtype "
                 << dtypeName(n.inputDType(i)) << ", input #0 has "
                 << dtypeName(n.inputDType(0));
      }
  }
  // Scalar min/max inputs are read inside the body with a zero-dim map.
  Value minV = n.hasInput(1) && n.opset >= 11 ? n.input(1) : Value();
  Value maxV = n.hasInput(2) && n.opset >= 11 ? n.input(2) : Value();
  if (minV)
    ins.push_back(minV);
  if (maxV)
    ins.push_back(maxV);
  auto r = buildElementwise(
      n, ins, elemTy, [&](OpBuilder &b, Location l, ValueRange a) {
        Value x = a[0];
        int64_t k = 1;
        Value mn = minV ? a[k++] : (lo ? cst(b, l, x, *lo) : Value());
        Value mx = maxV ? a[k++] : (hi ? cst(b, l, x, *hi) : Value());
        if (mn)
          x = isFloat      ? arith::MaximumFOp::create(b, l, x, mn).getResult()
              : isUnsigned ? arith::MaxUIOp::create(b, l, x, mn).getResult()
                           : arith::MaxSIOp::create(b, l, x, mn).getResult();
        if (mx)
          x = isFloat      ? arith::MinimumFOp::create(b, l, x, mx).getResult()
              : isUnsigned ? arith::MinUIOp::create(b, l, x, mx).getResult()
                           : arith::MinSIOp::create(b, l, x, mx).getResult();
        return x;
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, n.inputDType(0));
  return success();
}

/// Whether `t` is one of the 8- or 4-bit float formats.
bool isSmallFloat(Type t) {
  auto ft = dyn_cast<FloatType>(t);
  return ft && ft.getWidth() <= 8;
}

/// Cast to a 4- or 2-bit integer: integers and bools keep their low bits
/// (ONNX: "discard higher bits"); floats truncate toward zero and give 0
/// outside the target's range or for NaN (undefined in ONNX; 0 is what the
/// ONNX reference and its test data compute, onnxruntime wraps instead).
LogicalResult castToSubByteInt(ONNXNode &n, int32_t to) {
  unsigned bits = (to == kInt4 || to == kUInt4) ? 4 : 2;
  bool dstU = isUnsignedDType(to), srcU = isUnsignedDType(n.inputDType(0));
  Type toTy = n.b.getIntegerType(bits);
  Type srcTy = n.inputType(0).getElementType();
  if (!srcTy.isIntOrFloat())
    return n.emitError() << "input dtype " << dtypeName(n.inputDType(0))
                         << " is not supported";
  double lo = dstU ? 0.0 : -std::ldexp(1.0, bits - 1);
  double hi = dstU ? std::ldexp(1.0, bits) - 1 : std::ldexp(1.0, bits - 1) - 1;
  auto r = buildElementwise(
      n, {n.input(0)}, toTy, [&](OpBuilder &b, Location l, ValueRange a) {
        auto ft = dyn_cast<FloatType>(a[0].getType());
        if (!ft)
          return convertScalar(b, l, a[0], toTy, srcU, dstU);
        Type ct = ft.getWidth() < 32 ? Type(b.getF32Type()) : Type(ft);
        Value x = math::TruncOp::create(
            b, l, convertScalar(b, l, a[0], ct, false, false));
        Value ok = arith::AndIOp::create(
            b, l,
            arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, x,
                                  scalarConstant(b, l, ct, lo)),
            arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLE, x,
                                  scalarConstant(b, l, ct, hi)));
        Value safe =
            arith::SelectOp::create(b, l, ok, x, scalarConstant(b, l, ct, 0));
        Value i = arith::FPToSIOp::create(b, l, b.getI32Type(), safe);
        return Value(arith::TruncIOp::create(b, l, toTy, i));
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, to);
  return success();
}

/// Cast, with ONNX's `saturate` for float8/float4 results: out-of-range
/// values (and infinities) clamp to the largest finite value; without it
/// they become infinity or NaN (qopt-expand-small-float-casts). Conversions
/// from or to the small formats go through f32.
LogicalResult castTo(ONNXNode &n, int32_t to, bool saturate = true) {
  if (to == kInt4 || to == kUInt4 || to == kInt2 || to == kUInt2)
    return castToSubByteInt(n, to);
  auto toTy = elementTypeForNode(n, to);
  if (failed(toTy))
    return failure();
  bool srcU = isUnsignedDType(n.inputDType(0)), dstU = isUnsignedDType(to);
  Type srcTy = n.inputType(0).getElementType();
  bool viaF32 = isSmallFloat(srcTy) || isSmallFloat(*toTy);
  auto r = buildElementwise(
      n, {n.input(0)}, *toTy, [&](OpBuilder &b, Location l, ValueRange a) {
        if (!viaF32)
          return convertScalar(b, l, a[0], *toTy, srcU, dstU);
        Value x = convertScalar(b, l, a[0], b.getF32Type(), srcU, false);
        if (isSmallFloat(*toTy) && saturate) {
          llvm::APFloat big = llvm::APFloat::getLargest(
              cast<FloatType>(*toTy).getFloatSemantics());
          bool lost;
          big.convert(llvm::APFloat::IEEEsingle(),
                      llvm::APFloat::rmNearestTiesToEven, &lost);
          Value hi = arith::ConstantFloatOp::create(b, l, b.getF32Type(), big);
          Value lo = arith::NegFOp::create(b, l, hi);
          // minimumf/maximumf keep NaN a NaN.
          x = arith::MaximumFOp::create(
              b, l, arith::MinimumFOp::create(b, l, x, hi), lo);
        }
        return convertScalar(b, l, x, *toTy, false, dstU);
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, to);
  return success();
}

} // namespace

FailureOr<Type> mlir::qopt::onnx_import::elementTypeForNode(ONNXNode &n,
                                                            int32_t dtype) {
  // Element types map as for initializers; computing in 4-bit types (their
  // Cast saturation rules) is not supported.
  if (dtype == kInt4 || dtype == kUInt4 || dtype == kInt2 || dtype == kUInt2)
    return n.emitError() << "the result has unsupported dtype "
                         << dtypeName(dtype);
  return elementTypeFor(
      dtype, n.b.getContext(), [&] { return n.emitError(); }, "the result");
}

namespace {

/// Opsets 1-6 of the arithmetic ops: with `broadcast` = 1, B broadcasts to
/// A's shape from dimension `axis` (default: aligned with A's last dims);
/// without it the shapes must be equal; opsets 1-5 also carry the ignored
/// `consumed_inputs`. Rewritten to opset 7's numpy broadcasting by giving B
/// trailing unit dims, then built by `modern`.
OpBuilderFn legacyBroadcast(OpBuilderFn modern) {
  return [modern](ONNXNode &n) -> LogicalResult {
    FailureOr<int64_t> broadcast = n.getInt("broadcast", 0);
    FailureOr<int64_t> axis =
        n.getInt("axis", std::numeric_limits<int64_t>::min());
    if (failed(broadcast) || failed(axis) ||
        (n.opset < 6 && failed(n.getInts("consumed_inputs", {}))))
      return failure();
    if (n.numInputs() != 2 || !n.hasInput(1))
      return modern(n);
    RankedTensorType a = n.inputType(0), bTy = n.inputType(1);
    if (!*broadcast) {
      if (a.getShape() != bTy.getShape())
        return n.emitError() << "inputs of shapes " << a << " and " << bTy
                             << " need broadcast = 1";
      return modern(n);
    }
    if (*axis == std::numeric_limits<int64_t>::min())
      return modern(n); // suffix alignment is numpy's
    FailureOr<int64_t> ax = n.normalizeAxis(*axis, a.getRank());
    if (failed(ax))
      return failure();
    int64_t trailing = a.getRank() - *ax - bTy.getRank();
    if (trailing < 0)
      return n.emitError() << "B of rank " << bTy.getRank()
                           << " does not fit A of rank " << a.getRank()
                           << " from axis " << *ax;
    if (trailing > 0) {
      SmallVector<int64_t> shape(bTy.getShape());
      shape.append(trailing, 1);
      SmallVector<ReassociationIndices> re;
      for (int64_t i = 0; i < bTy.getRank(); ++i)
        re.push_back({i});
      if (re.empty())
        re.push_back({});
      for (int64_t t = 0; t < trailing; ++t)
        re.back().push_back(bTy.getRank() + t);
      if (bTy.getRank() == 0) {
        // A scalar B broadcasts like numpy already.
        return modern(n);
      }
      auto outTy = RankedTensorType::get(shape, bTy.getElementType());
      SmallVector<OpFoldResult> sizes;
      for (int64_t i = 0; i < bTy.getRank(); ++i)
        sizes.push_back(tensor::getMixedSize(n.b, n.loc, n.input(1), i));
      for (int64_t t = 0; t < trailing; ++t)
        sizes.push_back(n.b.getIndexAttr(1));
      n.replaceInput(1, tensor::ExpandShapeOp::create(n.b, n.loc, outTy,
                                                      n.input(1), re, sizes));
    }
    return modern(n);
  };
}

} // namespace

void mlir::qopt::onnx_import::registerElementwiseOps(OpRegistry &r) {
  using namespace arith;
  OpBuilderFn add = [a = arithBinary<AddFOp, AddIOp>()](ONNXNode &n) {
    return tryFuseLinearBias(n) ? success() : a(n);
  };
  r.add("", "Add", 1, legacyBroadcast(add));
  r.add("", "Add", 7, add);
  r.add("", "Sub", 1, legacyBroadcast(arithBinary<SubFOp, SubIOp>()));
  r.add("", "Mul", 1, legacyBroadcast(arithBinary<MulFOp, MulIOp>()));
  r.add("", "Sub", 7, arithBinary<SubFOp, SubIOp>());
  r.add("", "Mul", 7, arithBinary<MulFOp, MulIOp>());
  OpBuilderFn div = binary(
      [](OpBuilder &b, Location l, Value x, Value y) -> Value {
        return DivFOp::create(b, l, x, y);
      },
      [](OpBuilder &b, Location l, Value x, Value y, bool u) -> Value {
        // The divisor's zeros were asserted away before the loop; the
        // selects keep the division itself from trapping (speculated or
        // vectorized lanes) and make INT_MIN / -1 wrap to INT_MIN as numpy
        // does, rather than raise SIGFPE.
        Type t = y.getType();
        Value one = ConstantIntOp::create(b, l, t, 1);
        Value zero = ConstantIntOp::create(b, l, t, 0);
        Value bad = CmpIOp::create(b, l, CmpIPredicate::eq, y, zero);
        if (!u) {
          unsigned w = t.getIntOrFloatBitWidth();
          Value minusOne = ConstantIntOp::create(b, l, t, -1);
          Value intMin = ConstantOp::create(
              b, l, t, b.getIntegerAttr(t, llvm::APInt::getSignedMinValue(w)));
          bad = OrIOp::create(
              b, l, bad,
              AndIOp::create(
                  b, l, CmpIOp::create(b, l, CmpIPredicate::eq, y, minusOne),
                  CmpIOp::create(b, l, CmpIPredicate::eq, x, intMin)));
        }
        Value safe = SelectOp::create(b, l, bad, one, y);
        return u ? DivUIOp::create(b, l, x, safe).getResult()
                 : DivSIOp::create(b, l, x, safe).getResult();
      });
  // An integer division by a constant zero is undefined behaviour once
  // compiled (LLVM may fold it to anything); onnxruntime refuses such a
  // model at load, so do we.
  div = [d = div](ONNXNode &n) -> LogicalResult {
    if (n.numInputs() == 2 && n.hasInput(1) && !isFloatDType(n.inputDType(1))) {
      if (auto ints = n.constantInts(1)) {
        if (llvm::is_contained(*ints, 0))
          return n.emitError() << "integer division by a constant divisor "
                                  "(input #1) holding zero";
      } else {
        assertNoElement(
            n, n.input(1),
            [](OpBuilder &b, Location l, Value d) -> Value {
              return CmpIOp::create(
                  b, l, CmpIPredicate::eq, d,
                  ConstantIntOp::create(b, l, d.getType(), 0));
            },
            "integer division by zero (input #1)");
      }
    }
    return d(n);
  };
  r.add("", "Div", 1, legacyBroadcast(div));
  r.add("", "Div", 7, div);
  OpBuilderFn pow = [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(2, 2, 1, 1)))
      return failure();
    bool baseUnsigned = isUnsignedDType(n.inputDType(0));
    bool expUnsigned = isUnsignedDType(n.inputDType(1));
    Type elemTy = n.inputType(0).getElementType();
    if (n.inputDType(0) == kBool || n.inputDType(1) == kBool)
      return n.emitError() << "bool inputs are not supported";
    // An integer base (opset 12+) is raised in f64 and converted back, as
    // onnxruntime does; exact while the result fits in 53 bits.
    bool intBase = isa<IntegerType>(elemTy);
    Type computeTy = intBase ? n.b.getF64Type() : elemTy;
    // x^2 and x^3 (GELU's tanh form, variances) as products: libm's powf
    // was 13% of GPT-2's time. onnxruntime special-cases the same two
    // exponents, so the results agree bit for bit.
    if (!intBase && n.inputType(1).getRank() <= n.inputType(0).getRank())
      if (auto e = n.constantFloats(1);
          e && e->size() == 1 && ((*e)[0] == 2.0 || (*e)[0] == 3.0)) {
        bool cube = (*e)[0] == 3.0;
        auto sq = buildElementwise(
            n, {n.input(0)}, elemTy,
            [&](OpBuilder &b, Location l, ValueRange a) -> Value {
              Value x2 = MulFOp::create(b, l, a[0], a[0]);
              return cube ? MulFOp::create(b, l, x2, a[0]).getResult() : x2;
            });
        if (failed(sq))
          return failure();
        n.setOutput(0, *sq, n.inputDType(0));
        return success();
      }
    auto r = buildElementwise(
        n, {n.input(0), n.input(1)}, elemTy,
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value x = convertScalar(b, l, a[0], computeTy, baseUnsigned, false);
          Value e = convertScalar(b, l, a[1], computeTy, expUnsigned, false);
          Value p = math::PowFOp::create(b, l, x, e);
          return intBase ? convertScalar(b, l, p, elemTy, false, baseUnsigned)
                         : p;
        });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
  r.add("", "Pow", 1, legacyBroadcast(pow));
  r.add("", "Pow", 7, pow);
  // Opset 6 of Max/Min/Sum/Mean takes equal shapes only, which numpy
  // broadcasting (opset 8) covers.
  OpBuilderFn max =
      variadic([](OpBuilder &b, Location l, Value x,
                  Value y) -> Value { return MaximumFOp::create(b, l, x, y); },
               [](OpBuilder &b, Location l, Value x, Value y, bool u) -> Value {
                 return u ? MaxUIOp::create(b, l, x, y).getResult()
                          : MaxSIOp::create(b, l, x, y).getResult();
               });
  r.add("", "Max", 6, max);
  r.add("", "Max", 8, max);
  OpBuilderFn min =
      variadic([](OpBuilder &b, Location l, Value x,
                  Value y) -> Value { return MinimumFOp::create(b, l, x, y); },
               [](OpBuilder &b, Location l, Value x, Value y, bool u) -> Value {
                 return u ? MinUIOp::create(b, l, x, y).getResult()
                          : MinSIOp::create(b, l, x, y).getResult();
               });
  r.add("", "Min", 6, min);
  r.add("", "Min", 8, min);
  auto addF = [](OpBuilder &b, Location l, Value x, Value y) -> Value {
    return AddFOp::create(b, l, x, y);
  };
  OpBuilderFn sum = variadic(
      addF, [](OpBuilder &b, Location l, Value x, Value y, bool) -> Value {
        return AddIOp::create(b, l, x, y);
      });
  r.add("", "Sum", 6, sum);
  r.add("", "Sum", 8, sum);
  OpBuilderFn mean = variadic(addF, nullptr, /*mean=*/true);
  r.add("", "Mean", 6, mean);
  r.add("", "Mean", 8, mean);

  r.add("", "Equal", 11,
        compare(CmpFPredicate::OEQ, CmpIPredicate::eq, CmpIPredicate::eq));
  r.add("", "Less", 9,
        compare(CmpFPredicate::OLT, CmpIPredicate::slt, CmpIPredicate::ult));
  r.add("", "LessOrEqual", 12,
        compare(CmpFPredicate::OLE, CmpIPredicate::sle, CmpIPredicate::ule));
  r.add("", "Greater", 9,
        compare(CmpFPredicate::OGT, CmpIPredicate::sgt, CmpIPredicate::ugt));
  r.add("", "GreaterOrEqual", 12,
        compare(CmpFPredicate::OGE, CmpIPredicate::sge, CmpIPredicate::uge));

  auto logic = [](auto makeOp) {
    return binary(nullptr,
                  [makeOp](OpBuilder &b, Location l, Value x, Value y,
                           bool) -> Value { return makeOp(b, l, x, y); });
  };
  r.add("", "And", 7, logic([](OpBuilder &b, Location l, Value x, Value y) {
          return AndIOp::create(b, l, x, y).getResult();
        }));
  r.add("", "Or", 7, logic([](OpBuilder &b, Location l, Value x, Value y) {
          return OrIOp::create(b, l, x, y).getResult();
        }));
  r.add("", "Xor", 7, logic([](OpBuilder &b, Location l, Value x, Value y) {
          return XOrIOp::create(b, l, x, y).getResult();
        }));
  r.add("", "Not", 1, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    if (n.inputDType(0) != kBool)
      return n.emitError() << "input must be bool";
    auto r = buildElementwise(
        n, {n.input(0)}, n.b.getI1Type(),
        [](OpBuilder &b, Location l, ValueRange a) -> Value {
          return XOrIOp::create(b, l, a[0],
                                scalarConstant(b, l, a[0].getType(), 1));
        });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, kBool);
    return success();
  });
  r.add("", "Where", 9, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(3, 3, 1, 1)))
      return failure();
    if (n.inputDType(0) != kBool)
      return n.emitError() << "condition must be bool";
    if (n.inputDType(1) != n.inputDType(2))
      return n.emitError() << "X and Y must have one dtype";
    auto r =
        buildElementwise(n, {n.input(0), n.input(1), n.input(2)},
                         n.inputType(1).getElementType(),
                         [](OpBuilder &b, Location l, ValueRange a) -> Value {
                           return SelectOp::create(b, l, a[0], a[1], a[2]);
                         });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(1));
    return success();
  });

  // Unary float math.
  auto mathOp = [](auto tag) {
    using OpT = decltype(tag);
    return unaryFloat([](OpBuilder &b, Location l, Value x) -> Value {
      return OpT::create(b, l, x);
    });
  };
  r.add("", "Exp", 6, mathOp(math::ExpOp()));
  r.add("", "Log", 6, mathOp(math::LogOp()));
  r.add("", "Sqrt", 6, mathOp(math::SqrtOp()));
  r.add("", "Sin", 7, mathOp(math::SinOp()));
  r.add("", "Cos", 7, mathOp(math::CosOp()));
  r.add("", "Tanh", 6, mathOp(math::TanhOp()));
  r.add("", "Erf", 9, mathOp(math::ErfOp()));
  r.add("", "Floor", 6, mathOp(math::FloorOp()));
  r.add("", "Ceil", 6, mathOp(math::CeilOp()));
  r.add("", "Round", 11, mathOp(math::RoundEvenOp()));
  r.add("", "Reciprocal", 6,
        unaryFloat([](OpBuilder &b, Location l, Value x) -> Value {
          return DivFOp::create(b, l, cst(b, l, x, 1.0), x);
        }));
  r.add("", "Sigmoid", 6, unaryFloat(sigmoid));
  r.add("", "Softplus", 1, unaryFloat(softplus));
  r.add("", "Softsign", 1,
        unaryFloat([](OpBuilder &b, Location l, Value x) -> Value {
          Value d = AddFOp::create(b, l, cst(b, l, x, 1.0),
                                   math::AbsFOp::create(b, l, x));
          return DivFOp::create(b, l, x, d);
        }));
  r.add("", "Mish", 18,
        unaryFloat([](OpBuilder &b, Location l, Value x) -> Value {
          return MulFOp::create(b, l, x,
                                math::TanhOp::create(b, l, softplus(b, l, x)));
        }));
  r.add("", "HardSwish", 14,
        unaryFloat([](OpBuilder &b, Location l, Value x) -> Value {
          Value t =
              AddFOp::create(b, l, DivFOp::create(b, l, x, cst(b, l, x, 6.0)),
                             cst(b, l, x, 0.5));
          t = MinimumFOp::create(b, l,
                                 MaximumFOp::create(b, l, t, cst(b, l, x, 0.0)),
                                 cst(b, l, x, 1.0));
          return MulFOp::create(b, l, x, t);
        }));
  r.add("", "IsNaN", 9, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    auto r = buildElementwise(
        n, {n.input(0)}, n.b.getI1Type(),
        [](OpBuilder &b, Location l, ValueRange a) -> Value {
          return CmpFOp::create(b, l, CmpFPredicate::UNO, a[0], a[0]);
        });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, kBool);
    return success();
  });
  r.add("", "IsInf", 10, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    FailureOr<int64_t> neg = n.getInt("detect_negative", 1);
    FailureOr<int64_t> pos = n.getInt("detect_positive", 1);
    if (failed(neg) || failed(pos))
      return failure();
    auto r = buildElementwise(
        n, {n.input(0)}, n.b.getI1Type(),
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value inf = cst(b, l, a[0], std::numeric_limits<double>::infinity());
          Value isPos = CmpFOp::create(b, l, CmpFPredicate::OEQ, a[0], inf);
          Value isNeg = CmpFOp::create(b, l, CmpFPredicate::OEQ, a[0],
                                       NegFOp::create(b, l, inf));
          Value f = scalarConstant(b, l, b.getI1Type(), 0);
          Value res = *pos ? isPos : f;
          return *neg ? OrIOp::create(b, l, res, isNeg).getResult() : res;
        });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, kBool);
    return success();
  });

  // Unary for floats and integers.
  r.add("", "Neg", 6,
        unaryAny([](OpBuilder &b, Location l,
                    Value x) -> Value { return NegFOp::create(b, l, x); },
                 [](OpBuilder &b, Location l, Value x) -> Value {
                   return SubIOp::create(b, l, cst(b, l, x, 0), x);
                 }));
  r.add("", "Abs", 6,
        unaryAny([](OpBuilder &b, Location l,
                    Value x) -> Value { return math::AbsFOp::create(b, l, x); },
                 [](OpBuilder &b, Location l, Value x) -> Value {
                   return math::AbsIOp::create(b, l, x);
                 }));
  r.add("", "Relu", 6,
        unaryAny(
            [](OpBuilder &b, Location l, Value x) -> Value {
              return MaximumFOp::create(b, l, x, cst(b, l, x, 0.0));
            },
            [](OpBuilder &b, Location l, Value x) -> Value {
              return MaxSIOp::create(b, l, x, cst(b, l, x, 0));
            }));
  r.add("", "Sign", 9,
        unaryAny(
            [](OpBuilder &b, Location l, Value x) -> Value {
              Value zero = cst(b, l, x, 0.0);
              Value pos = SelectOp::create(
                  b, l, CmpFOp::create(b, l, CmpFPredicate::OGT, x, zero),
                  cst(b, l, x, 1.0), zero);
              return SelectOp::create(
                  b, l, CmpFOp::create(b, l, CmpFPredicate::OLT, x, zero),
                  cst(b, l, x, -1.0), pos);
            },
            [](OpBuilder &b, Location l, Value x) -> Value {
              Value zero = cst(b, l, x, 0);
              Value pos = SelectOp::create(
                  b, l, CmpIOp::create(b, l, CmpIPredicate::sgt, x, zero),
                  cst(b, l, x, 1), zero);
              return SelectOp::create(
                  b, l, CmpIOp::create(b, l, CmpIPredicate::slt, x, zero),
                  cst(b, l, x, -1), pos);
            }));

  // Activations with attributes.
  r.add("", "LeakyRelu", 6,
        activation(
            {{"alpha", 0.01}},
            [](OpBuilder &b, Location l, Value x, ArrayRef<double> p) -> Value {
              Value neg = CmpFOp::create(b, l, CmpFPredicate::OLT, x,
                                         cst(b, l, x, 0.0));
              return SelectOp::create(
                  b, l, neg, MulFOp::create(b, l, x, cst(b, l, x, p[0])), x);
            }));
  auto elu = [](OpBuilder &b, Location l, Value x, double alpha) -> Value {
    Value neg = CmpFOp::create(b, l, CmpFPredicate::OLT, x, cst(b, l, x, 0.0));
    Value em1 = math::ExpM1Op::create(b, l, x);
    return SelectOp::create(b, l, neg,
                            MulFOp::create(b, l, em1, cst(b, l, x, alpha)), x);
  };
  r.add("", "Elu", 6,
        activation({{"alpha", 1.0}},
                   [elu](OpBuilder &b, Location l, Value x,
                         ArrayRef<double> p) { return elu(b, l, x, p[0]); }));
  r.add("", "Selu", 6,
        activation({{"alpha", 1.67326319217681884765625},
                    {"gamma", 1.05070102214813232421875}},
                   [elu](OpBuilder &b, Location l, Value x,
                         ArrayRef<double> p) -> Value {
                     return MulFOp::create(b, l, elu(b, l, x, p[0]),
                                           cst(b, l, x, p[1]));
                   }));
  r.add("", "Celu", 12,
        activation(
            {{"alpha", 1.0}},
            [](OpBuilder &b, Location l, Value x, ArrayRef<double> p) -> Value {
              // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
              Value a = cst(b, l, x, p[0]);
              Value e = math::ExpM1Op::create(b, l, DivFOp::create(b, l, x, a));
              Value neg = MinimumFOp::create(b, l, cst(b, l, x, 0.0),
                                             MulFOp::create(b, l, a, e));
              return AddFOp::create(
                  b, l, MaximumFOp::create(b, l, x, cst(b, l, x, 0.0)), neg);
            }));
  r.add("", "HardSigmoid", 6,
        activation(
            {{"alpha", 0.2}, {"beta", 0.5}},
            [](OpBuilder &b, Location l, Value x, ArrayRef<double> p) -> Value {
              Value t = AddFOp::create(
                  b, l, MulFOp::create(b, l, x, cst(b, l, x, p[0])),
                  cst(b, l, x, p[1]));
              return MinimumFOp::create(
                  b, l, MaximumFOp::create(b, l, t, cst(b, l, x, 0.0)),
                  cst(b, l, x, 1.0));
            }));
  r.add("", "ThresholdedRelu", 10,
        activation(
            {{"alpha", 1.0}},
            [](OpBuilder &b, Location l, Value x, ArrayRef<double> p) -> Value {
              Value gt = CmpFOp::create(b, l, CmpFPredicate::OGT, x,
                                        cst(b, l, x, p[0]));
              return SelectOp::create(b, l, gt, x, cst(b, l, x, 0.0));
            }));
  // PRelu-6 takes a slope of X's shape or broadcastable to it.
  OpBuilderFn prelu = binary(
      [](OpBuilder &b, Location l, Value x, Value slope) -> Value {
        Value neg =
            CmpFOp::create(b, l, CmpFPredicate::OLT, x, cst(b, l, x, 0.0));
        return SelectOp::create(b, l, neg, MulFOp::create(b, l, x, slope), x);
      },
      nullptr);
  // PRelu-6 applies a 1-D slope of X's dim-1 size per channel (PyTorch's
  // export): aligned at axis 1, it is opset-6 broadcasting.
  r.add("", "PRelu", 6, [prelu](ONNXNode &n) -> LogicalResult {
    if (n.numInputs() == 2 && n.hasInput(1)) {
      RankedTensorType x = n.inputType(0), slope = n.inputType(1);
      if (slope.getRank() == 1 && x.getRank() > 2 &&
          slope.getDimSize(0) == x.getDimSize(1) && slope.getDimSize(0) != 1 &&
          !slope.isDynamicDim(0)) {
        SmallVector<int64_t> shape{slope.getDimSize(0)};
        shape.append(x.getRank() - 2, 1);
        ReassociationIndices all =
            llvm::to_vector(llvm::seq<int64_t>(0, x.getRank() - 1));
        n.replaceInput(1,
                       tensor::ExpandShapeOp::create(
                           n.b, n.loc,
                           RankedTensorType::get(shape, slope.getElementType()),
                           n.input(1), ArrayRef<ReassociationIndices>{all}));
      }
    }
    return prelu(n);
  });
  r.add("", "PRelu", 9, prelu);
  r.add("", "Gelu", 20, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireFloat(n)))
      return failure();
    FailureOr<std::string> approx = n.getString("approximate", "none");
    if (failed(approx))
      return failure();
    if (*approx != "none" && *approx != "tanh")
      return n.emitError() << "approximate '" << *approx
                           << "' is not one of 'none', 'tanh'";
    bool useTanh = *approx == "tanh";
    auto r = buildElementwise(
        n, {n.input(0)}, n.inputType(0).getElementType(),
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value x = a[0];
          Value half = cst(b, l, x, 0.5), one = cst(b, l, x, 1.0);
          Value inner;
          if (useTanh) {
            // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
            Value x3 = MulFOp::create(b, l, x, MulFOp::create(b, l, x, x));
            Value t = AddFOp::create(
                b, l, x, MulFOp::create(b, l, x3, cst(b, l, x, 0.044715)));
            inner = math::TanhOp::create(
                b, l,
                MulFOp::create(b, l, t, cst(b, l, x, std::sqrt(2.0 / M_PI))));
          } else {
            inner = math::ErfOp::create(
                b, l, MulFOp::create(b, l, x, cst(b, l, x, M_SQRT1_2)));
          }
          return MulFOp::create(b, l, MulFOp::create(b, l, half, x),
                                AddFOp::create(b, l, one, inner));
        });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  });
  r.add("", "Clip", 6, buildClip);

  r.add("", "Cast", 6, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    FailureOr<int64_t> to = n.getRequiredInt("to");
    if (failed(to))
      return failure();
    int64_t saturate = 1;
    if (n.opset >= 19) {
      FailureOr<int64_t> s = n.getInt("saturate", 1);
      if (failed(s))
        return failure();
      saturate = *s;
    }
    return castTo(n, static_cast<int32_t>(*to), saturate != 0);
  });
  r.add("", "CastLike", 15, [](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(2, 2, 1, 1)))
      return failure();
    int64_t saturate = 1;
    if (n.opset >= 19) {
      FailureOr<int64_t> s = n.getInt("saturate", 1);
      if (failed(s))
        return failure();
      saturate = *s;
    }
    return castTo(n, n.inputDType(1), saturate != 0);
  });
}
