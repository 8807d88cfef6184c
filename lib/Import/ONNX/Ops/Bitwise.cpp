//===- Bitwise.cpp - BitShift, BitwiseAnd/Or/Xor/Not, BitCast -------------===//
//
// Each is one broadcasting linalg.generic. BitShift follows the ONNX-28
// definition for out-of-range amounts (negative or >= the bit width): 0, or
// -1 for a right shift of a negative signed value (arith's shifts are poison
// there, so the amount is tested first). BitCast reinterprets the bits of
// each element (arith.bitcast; bool is one byte, read back as != 0).
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

bool isIntDType(int32_t dtype) {
  switch (dtype) {
  case kUInt8:
  case kUInt16:
  case kUInt32:
  case kUInt64:
  case kInt8:
  case kInt16:
  case kInt32:
  case kInt64:
    return true;
  default:
    return false;
  }
}

/// Requires input `i` to be an 8- to 64-bit integer tensor of input 0's
/// dtype.
LogicalResult requireInt(ONNXNode &n, int64_t i) {
  if (!isIntDType(n.inputDType(i)))
    return n.emitError() << "input #" << i
                         << " must be an integer tensor (8 to 64 bits), got "
                         << dtypeName(n.inputDType(i));
  if (n.inputDType(i) != n.inputDType(0))
    return n.emitError() << "input #" << i << " has dtype "
                         << dtypeName(n.inputDType(i)) << ", input #0 has "
                         << dtypeName(n.inputDType(0));
  return success();
}

using IntBinFn =
    std::function<Value(OpBuilder &, Location, Value, Value, bool isUnsigned)>;

OpBuilderFn intBinary(IntBinFn fn) {
  return [fn](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(2, 2, 1, 1)) || failed(requireInt(n, 0)) ||
        failed(requireInt(n, 1)))
      return failure();
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    auto r = buildElementwise(n, {n.input(0), n.input(1)},
                              n.inputType(0).getElementType(),
                              [&](OpBuilder &b, Location l, ValueRange a) {
                                return fn(b, l, a[0], a[1], isUnsigned);
                              });
    if (failed(r))
      return failure();
    n.setOutput(0, *r, n.inputDType(0));
    return success();
  };
}

/// x << y or x >> y with ONNX-28's results for amounts outside [0, width).
Value shift(OpBuilder &b, Location l, Value x, Value y, bool left,
            bool isUnsigned) {
  using namespace arith;
  Type t = x.getType();
  unsigned w = t.getIntOrFloatBitWidth();
  Value width = ConstantIntOp::create(b, l, t, w);
  Value zero = ConstantIntOp::create(b, l, t, 0);
  // Unsigned: y >= width; signed: y < 0 or y >= width, which is the same
  // unsigned comparison.
  Value outOfRange = CmpIOp::create(b, l, CmpIPredicate::uge, y, width);
  if (!left && !isUnsigned) {
    // An arithmetic shift by width - 1 is the sign fill.
    Value safe = SelectOp::create(b, l, outOfRange,
                                  ConstantIntOp::create(b, l, t, w - 1), y);
    return ShRSIOp::create(b, l, x, safe);
  }
  Value safe = SelectOp::create(b, l, outOfRange, zero, y);
  Value r = left ? ShLIOp::create(b, l, x, safe).getResult()
                 : ShRUIOp::create(b, l, x, safe).getResult();
  return SelectOp::create(b, l, outOfRange, zero, r);
}

LogicalResult buildBitShift(ONNXNode &n) {
  FailureOr<std::string> dir = n.getString("direction", "");
  if (failed(dir))
    return failure();
  if (*dir != "LEFT" && *dir != "RIGHT")
    return n.emitError() << "direction '" << *dir
                         << "' is not one of 'LEFT', 'RIGHT'";
  if (n.numInputs() >= 1 && n.hasInput(0) && n.opset < 28 &&
      !isUnsignedDType(n.inputDType(0)))
    return n.emitError() << "signed dtype " << dtypeName(n.inputDType(0))
                         << " needs opset 28";
  bool left = *dir == "LEFT";
  return intBinary(
      [left](OpBuilder &b, Location l, Value x, Value y, bool isUnsigned) {
        return shift(b, l, x, y, left, isUnsigned);
      })(n);
}

LogicalResult buildBitwiseNot(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)) || failed(requireInt(n, 0)))
    return failure();
  auto r = buildElementwise(
      n, {n.input(0)}, n.inputType(0).getElementType(),
      [](OpBuilder &b, Location l, ValueRange a) -> Value {
        return arith::XOrIOp::create(
            b, l, a[0], arith::ConstantIntOp::create(b, l, a[0].getType(), -1));
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, n.inputDType(0));
  return success();
}

/// Storage bits of one element of ONNX dtype `dtype` (bool: one byte).
unsigned storageBits(Type t, int32_t dtype) {
  return dtype == kBool ? 8 : t.getIntOrFloatBitWidth();
}

LogicalResult buildBitCast(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> to = n.getRequiredInt("to");
  if (failed(to))
    return failure();
  int32_t src = n.inputDType(0), dst = static_cast<int32_t>(*to);
  if (src == kInt4 || src == kUInt4 || src == kInt2 || src == kUInt2)
    return n.emitError() << "input dtype " << dtypeName(src)
                         << " is not supported";
  FailureOr<Type> toTy = elementTypeForNode(n, dst);
  if (failed(toTy))
    return failure();
  Type srcTy = n.inputType(0).getElementType();
  if (!srcTy.isIntOrFloat() || !toTy->isIntOrFloat())
    return n.emitError() << "dtypes " << dtypeName(src) << " and "
                         << dtypeName(dst) << " are not supported";
  if (storageBits(srcTy, src) != storageBits(*toTy, dst))
    return n.emitError() << "input dtype " << dtypeName(src) << " ("
                         << storageBits(srcTy, src) << " bits) and 'to' "
                         << dtypeName(dst) << " (" << storageBits(*toTy, dst)
                         << " bits) differ in width";
  Type resTy = *toTy;
  auto r = buildElementwise(
      n, {n.input(0)}, resTy,
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value x = a[0];
        if (src == kBool)
          x = arith::ExtUIOp::create(b, l, b.getI8Type(), x);
        if (x.getType() != resTy && dst != kBool)
          return arith::BitcastOp::create(b, l, resTy, x).getResult();
        if (dst == kBool) {
          if (x.getType() != b.getI8Type())
            x = arith::BitcastOp::create(b, l, b.getI8Type(), x);
          return arith::CmpIOp::create(
                     b, l, arith::CmpIPredicate::ne, x,
                     arith::ConstantIntOp::create(b, l, b.getI8Type(), 0))
              .getResult();
        }
        return x;
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, dst);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerBitwiseOps(OpRegistry &r) {
  using namespace arith;
  r.add("", "BitShift", 11, buildBitShift);
  r.add("", "BitwiseAnd", 18,
        intBinary([](OpBuilder &b, Location l, Value x, Value y, bool) {
          return AndIOp::create(b, l, x, y).getResult();
        }));
  r.add("", "BitwiseOr", 18,
        intBinary([](OpBuilder &b, Location l, Value x, Value y, bool) {
          return OrIOp::create(b, l, x, y).getResult();
        }));
  r.add("", "BitwiseXor", 18,
        intBinary([](OpBuilder &b, Location l, Value x, Value y, bool) {
          return XOrIOp::create(b, l, x, y).getResult();
        }));
  r.add("", "BitwiseNot", 18, buildBitwiseNot);
  r.add("", "BitCast", 26, buildBitCast);
}
