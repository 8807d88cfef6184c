//===- IntegerConv.h - int8 convolution with a float epilogue ---*- C++ -*-===//
//
// Shared by qopt-quantize (W8A8 convolutions from calibration) and
// qopt-fold-qdq (convolutions of QDQ models, scales from the model).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TRANSFORMS_INTEGERCONV_H
#define QOPT_LIB_TRANSFORMS_INTEGERCONV_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <vector>

namespace mlir::qopt {

/// A constant holding `values` as a dense_resource blob named `name`.
template <typename T>
Value makeBlobConstant(OpBuilder &b, Location loc, RankedTensorType type,
                       StringRef name, ArrayRef<T> values) {
  auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(values);
  return arith::ConstantOp::create(
      b, loc, DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

/// Per output channel of the int8 filter `w` (row-major, `channels` rows):
/// zx * sum(w[channel]), what the epilogue subtracts from the integer sums
/// for an input zero point `zx`.
std::vector<int32_t> zeroPointCorrections(ArrayRef<int8_t> w, int64_t channels,
                                          int64_t zx);

/// The float epilogue `init + float(acc - corr) * scale` of an integer
/// convolution: a linalg.generic over parallel loops reading `ins` (acc,
/// init, corr, scale) and writing `out`, with `maps` (the four inputs',
/// then out's).
linalg::GenericOp createDequantEpilogue(OpBuilder &b, Location loc,
                                        Type resultType, ValueRange ins,
                                        Value out, ArrayRef<AffineMap> maps);

/// Replaces the f32 `conv` by: its input `x` (conv's own input, or a value
/// of the same type holding the same values) quantized per tensor with
/// scale `sx` and zero point `zx` (`xSigned`: int8, else uint8, shifted by
/// -128 to int8: the same values), an i8 x i8 -> i32 convolution with the
/// int8 filter `w` (conv's filter shape, scales `ws` per output filter),
/// and the epilogue `init + float(acc - zx' * sum(w[f])) * sx * ws[f]`,
/// where init is conv's accumulator operand (bias or zeros). Discardable
/// attributes move to the epilogue. `name` names the new weight blobs.
void replaceWithIntegerConv(OpBuilder &b, linalg::Conv2DNchwFchwOp conv,
                            Value x, double sx, int64_t zx, bool xSigned,
                            ArrayRef<int8_t> w, ArrayRef<double> ws,
                            StringRef name);

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_INTEGERCONV_H
