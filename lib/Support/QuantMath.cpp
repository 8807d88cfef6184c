//===- QuantMath.cpp - uniform affine quantization arithmetic -------------===//

#include "qopt/Support/QuantMath.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qopt {

StorageRange storageRange(StorageType type) {
  switch (type) {
  case StorageType::Int8:
    return {-128, 127};
  case StorageType::UInt8:
    return {0, 255};
  case StorageType::Int4:
    return {-8, 7};
  case StorageType::UInt4:
    return {0, 15};
  case StorageType::Int16:
    return {-32768, 32767};
  case StorageType::UInt16:
    return {0, 65535};
  case StorageType::Int32:
    return {std::numeric_limits<int32_t>::min(),
            std::numeric_limits<int32_t>::max()};
  }
  return {0, 0};
}

bool isSigned(StorageType type) {
  return type == StorageType::Int8 || type == StorageType::Int4 ||
         type == StorageType::Int16 || type == StorageType::Int32;
}

StorageRange symmetricStorageRange(StorageType type) {
  StorageRange r = storageRange(type);
  if (isSigned(type))
    r.min = -r.max;
  return r;
}

std::optional<StorageType> parseStorageType(const std::string &name) {
  static const std::pair<const char *, StorageType> names[] = {
      {"int8", StorageType::Int8},   {"uint8", StorageType::UInt8},
      {"int4", StorageType::Int4},   {"uint4", StorageType::UInt4},
      {"int16", StorageType::Int16}, {"uint16", StorageType::UInt16},
      {"int32", StorageType::Int32}};
  for (const auto &[n, t] : names)
    if (name == n)
      return t;
  return std::nullopt;
}

double roundHalfToEven(double x) {
  // std::nearbyint honours the current rounding mode; the default mode is
  // round-to-nearest-even, but do not depend on the caller's setting.
  double r = std::round(x); // ties away from zero
  if (std::fabs(x - std::trunc(x)) == 0.5)
    r = 2.0 * std::round(x / 2.0);
  return r;
}

int64_t quantizeValue(float x, QuantParams params, StorageRange range) {
  if (std::isnan(x))
    return std::clamp(params.zeroPoint, range.min, range.max);
  // Divide in float as the ONNX reference does, then round in double so that
  // values beyond the int64 range saturate instead of overflowing.
  double v = roundHalfToEven(static_cast<double>(x / params.scale)) +
             static_cast<double>(params.zeroPoint);
  if (v <= static_cast<double>(range.min))
    return range.min;
  if (v >= static_cast<double>(range.max))
    return range.max;
  return static_cast<int64_t>(v);
}

float dequantizeValue(int64_t q, QuantParams params) {
  return static_cast<float>(q - params.zeroPoint) * params.scale;
}

std::optional<QuantParams> chooseQuantParams(float rmin, float rmax,
                                             StorageType type, bool symmetric) {
  if (!std::isfinite(rmin) || !std::isfinite(rmax) || rmin > rmax)
    return std::nullopt;
  StorageRange r = symmetric ? symmetricStorageRange(type) : storageRange(type);
  double qmin = static_cast<double>(r.min), qmax = static_cast<double>(r.max);

  double lo = std::min(static_cast<double>(rmin), 0.0);
  double hi = std::max(static_cast<double>(rmax), 0.0);
  if (symmetric) {
    double a = std::max(std::fabs(lo), std::fabs(hi));
    lo = -a;
    hi = a;
  }

  QuantParams p;
  double scale = (hi - lo) / (qmax - qmin);
  if (!(scale >= static_cast<double>(std::numeric_limits<float>::min()))) {
    // All-zero (or denormal) range: any positive scale represents it; pick
    // 1.0 as onnxruntime does and a zero point that maps 0 exactly.
    p.scale = 1.0f;
    p.zeroPoint =
        symmetric ? static_cast<int64_t>(roundHalfToEven((qmin + qmax) / 2.0))
                  : std::clamp<int64_t>(0, r.min, r.max);
    return p;
  }
  p.scale = static_cast<float>(scale);
  if (symmetric) {
    p.zeroPoint = static_cast<int64_t>(roundHalfToEven((qmin + qmax) / 2.0));
  } else {
    double zp = roundHalfToEven(qmin - lo / static_cast<double>(p.scale));
    p.zeroPoint = static_cast<int64_t>(std::clamp(zp, qmin, qmax));
  }
  return p;
}

std::optional<std::vector<QuantParams>>
choosePerAxisParams(const std::vector<float> &data,
                    const std::vector<int64_t> &shape, int64_t axis,
                    StorageType type, bool symmetric) {
  int64_t rank = static_cast<int64_t>(shape.size());
  if (axis < 0 || axis >= rank)
    return std::nullopt;
  int64_t total = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    // Hostile shapes: negative dims and products beyond int64 are rejected.
    if (shape[i] < 0 || __builtin_mul_overflow(total, shape[i], &total))
      return std::nullopt;
    if (i > axis)
      inner *= shape[i];
  }
  if (total != static_cast<int64_t>(data.size()))
    return std::nullopt;

  int64_t channels = shape[axis];
  std::vector<float> mins(channels, std::numeric_limits<float>::infinity());
  std::vector<float> maxs(channels, -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < total; ++i) {
    if (!std::isfinite(data[i]))
      return std::nullopt;
    int64_t c = (i / inner) % channels;
    mins[c] = std::min(mins[c], data[i]);
    maxs[c] = std::max(maxs[c], data[i]);
  }
  std::vector<QuantParams> params;
  params.reserve(channels);
  for (int64_t c = 0; c < channels; ++c) {
    // An empty tensor has no observations: treat each channel as all-zero.
    float lo = total == 0 ? 0.0f : mins[c], hi = total == 0 ? 0.0f : maxs[c];
    std::optional<QuantParams> p = chooseQuantParams(lo, hi, type, symmetric);
    if (!p)
      return std::nullopt;
    params.push_back(*p);
  }
  return params;
}

} // namespace qopt
