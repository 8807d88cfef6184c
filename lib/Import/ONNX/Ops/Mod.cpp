//===- Mod.cpp - the ONNX Mod operator ------------------------------------===//
//
// Mod(A, B) with numpy broadcasting, as one linalg.generic:
//   * fmod = 1: A - trunc(A / B) * B, the sign of A (C fmod; arith.remf /
//     arith.remsi / arith.remui);
//   * fmod = 0: A - floor(A / B) * B, the sign of B (numpy.mod, which the
//     ONNX reference implementation calls, also for floats): the truncated
//     remainder plus B when it is nonzero and its sign differs from B's; a
//     float zero remainder takes B's sign.
// An integer divisor of zero is a run-time error naming the node (an import
// error when the divisor is a constant), as for Div; a float one gives NaN.
// f16 and bf16 are computed in f32 (exact: the remainder is representable).
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;
using namespace mlir::arith;

namespace {

/// numpy.mod / C fmod of two floats of the same type.
Value floatMod(OpBuilder &b, Location l, Value x, Value y, bool fmod) {
  Type ty = x.getType();
  bool narrow = ty.getIntOrFloatBitWidth() < 32;
  if (narrow) {
    x = ExtFOp::create(b, l, b.getF32Type(), x);
    y = ExtFOp::create(b, l, b.getF32Type(), y);
  }
  Value r = RemFOp::create(b, l, x, y);
  if (!fmod) {
    Value zero = scalarConstant(b, l, r.getType(), 0.0);
    // Unordered: a NaN remainder (x infinite, y zero, a NaN operand) takes
    // the adjusting branch and stays NaN.
    Value nonzero = CmpFOp::create(b, l, CmpFPredicate::UNE, r, zero);
    Value rNeg = CmpFOp::create(b, l, CmpFPredicate::OLT, r, zero);
    Value yNeg = CmpFOp::create(b, l, CmpFPredicate::OLT, y, zero);
    Value differ = XOrIOp::create(b, l, rNeg, yNeg);
    Value adjusted = SelectOp::create(
        b, l, differ, AddFOp::create(b, l, r, y).getResult(), r);
    Value signedZero = math::CopySignOp::create(b, l, zero, y);
    r = SelectOp::create(b, l, nonzero, adjusted, signedZero);
  }
  if (narrow)
    r = TruncFOp::create(b, l, ty, r);
  return r;
}

/// The integer remainder; the divisor's zeros were asserted away before the
/// loop. The select keeps the remainder itself from trapping (speculated or
/// vectorized lanes, and INT_MIN % -1, which is 0 as x % 1 is).
Value intMod(OpBuilder &b, Location l, Value x, Value y, bool isUnsigned,
             bool fmod) {
  Type t = y.getType();
  Value one = ConstantIntOp::create(b, l, t, 1);
  Value zero = ConstantIntOp::create(b, l, t, 0);
  Value bad = CmpIOp::create(b, l, CmpIPredicate::eq, y, zero);
  if (!isUnsigned)
    bad = OrIOp::create(b, l, bad,
                        CmpIOp::create(b, l, CmpIPredicate::eq, y,
                                       ConstantIntOp::create(b, l, t, -1)));
  Value safe = SelectOp::create(b, l, bad, one, y);
  if (isUnsigned)
    return RemUIOp::create(b, l, x, safe);
  Value r = RemSIOp::create(b, l, x, safe);
  if (fmod)
    return r;
  Value nonzero = CmpIOp::create(b, l, CmpIPredicate::ne, r, zero);
  Value rNeg = CmpIOp::create(b, l, CmpIPredicate::slt, r, zero);
  Value yNeg = CmpIOp::create(b, l, CmpIPredicate::slt, safe, zero);
  Value fix = AndIOp::create(b, l, nonzero, XOrIOp::create(b, l, rNeg, yNeg));
  return SelectOp::create(b, l, fix, AddIOp::create(b, l, r, safe).getResult(),
                          r);
}

LogicalResult buildMod(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<int64_t> fmod = n.getInt("fmod", 0);
  if (failed(fmod))
    return failure();
  if (*fmod != 0 && *fmod != 1)
    return n.emitError() << "fmod must be 0 or 1, got " << *fmod;
  int32_t dtype = n.inputDType(0);
  if (n.inputDType(1) != dtype)
    return n.emitError() << "input #1 has dtype " << dtypeName(n.inputDType(1))
                         << ", input #0 has " << dtypeName(dtype);
  bool isFloat = isFloatDType(dtype);
  bool isUnsigned = isUnsignedDType(dtype);
  Type elemTy = n.inputType(0).getElementType();
  if (dtype == kBool || (!isFloat && !elemTy.isInteger()) ||
      (isFloat && !isa<FloatType>(elemTy)))
    return n.emitError() << "dtype " << dtypeName(dtype) << " is not supported";
  if (!isFloat) {
    // An integer remainder by zero is undefined behaviour once compiled;
    // onnxruntime refuses a constant zero divisor at load, so do we.
    if (auto ints = n.constantInts(1)) {
      if (llvm::is_contained(*ints, 0))
        return n.emitError() << "integer modulo by a constant divisor "
                                "(input #1) holding zero";
    } else {
      assertNoElement(
          n, n.input(1),
          [](OpBuilder &b, Location l, Value d) -> Value {
            return CmpIOp::create(b, l, CmpIPredicate::eq, d,
                                  ConstantIntOp::create(b, l, d.getType(), 0));
          },
          "integer modulo by zero (input #1)");
    }
  }
  bool f = *fmod == 1;
  auto r = buildElementwise(n, {n.input(0), n.input(1)}, elemTy,
                            [&](OpBuilder &b, Location l, ValueRange a) {
                              return isFloat ? floatMod(b, l, a[0], a[1], f)
                                             : intMod(b, l, a[0], a[1],
                                                      isUnsigned, f);
                            });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, dtype);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerModOps(OpRegistry &r) {
  r.add("", "Mod", 10, buildMod);
}
