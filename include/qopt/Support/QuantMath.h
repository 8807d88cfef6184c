//===- QuantMath.h - uniform affine quantization arithmetic -----*- C++ -*-===//
//
/// \file
/// The scalar arithmetic of uniform affine quantization as ONNX
/// QuantizeLinear/DequantizeLinear define it, and the choice of scale and zero
/// point from an observed range. Plain C++ with no LLVM/MLIR dependency: the
/// compiler, the runtime and the tests share it. Formulas: shared/REFERENCE.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_QUANTMATH_H
#define QOPT_SUPPORT_QUANTMATH_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qopt {

/// Integer storage of quantized values.
enum class StorageType { Int8, UInt8, Int4, UInt4, Int16, UInt16, Int32 };

/// The inclusive integer range of a storage type.
struct StorageRange {
  int64_t min;
  int64_t max;
};

/// Full range of `type`: int8 [-128, 127], uint8 [0, 255], int4 [-8, 7], ...
StorageRange storageRange(StorageType type);

/// Range used for symmetric quantization: signed types drop their most
/// negative value so that the range is symmetric around 0 (int8 [-127, 127],
/// as onnxruntime does); unsigned types keep their full range.
StorageRange symmetricStorageRange(StorageType type);

/// Whether `type` is a signed integer type.
bool isSigned(StorageType type);

/// Parses "int8", "uint8", "int4", "uint4", "int16", "uint16", "int32".
std::optional<StorageType> parseStorageType(const std::string &name);

/// Scale and zero point of one tensor or channel.
struct QuantParams {
  float scale;
  int64_t zeroPoint;
};

/// Rounds to the nearest integer, ties to even (IEEE roundTiesToEven), as
/// QuantizeLinear specifies: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0.
double roundHalfToEven(double x);

/// q = saturate(round_half_to_even(x / scale) + zeroPoint) in [range.min,
/// range.max]. NaN maps to the zero point (as a 0 would).
int64_t quantizeValue(float x, QuantParams params, StorageRange range);

/// x = (q - zeroPoint) * scale, computed in float as DequantizeLinear does.
float dequantizeValue(int64_t q, QuantParams params);

/// Chooses scale and zero point for values observed in [rmin, rmax].
///
/// Asymmetric: the range is first widened to include 0 so that 0 is exactly
/// representable; scale = (rmax - rmin) / (qmax - qmin) and zero point =
/// round_half_to_even(qmin - rmin / scale), clamped to the range.
/// Symmetric: a = max(|rmin|, |rmax|) over symmetricStorageRange(type):
/// scale = 2a / (qmax - qmin), zero point = the range's midpoint (0 for int8,
/// 128 for uint8).
/// A degenerate range (all zero) gets scale 1.0 and the zero point that maps
/// 0 exactly. Returns std::nullopt when rmin or rmax is not finite or
/// rmin > rmax.
std::optional<QuantParams> chooseQuantParams(float rmin, float rmax,
                                             StorageType type, bool symmetric);

/// Per-axis parameters for a C-order tensor of `shape`: the min/max of each
/// index along `axis`, then chooseQuantParams for each. Returns std::nullopt
/// on a bad axis, a data size that does not match the shape, or non-finite
/// data.
std::optional<std::vector<QuantParams>>
choosePerAxisParams(const std::vector<float> &data,
                    const std::vector<int64_t> &shape, int64_t axis,
                    StorageType type, bool symmetric);

} // namespace qopt

#endif // QOPT_SUPPORT_QUANTMATH_H
