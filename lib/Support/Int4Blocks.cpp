//===- Int4Blocks.cpp - block-wise symmetric int4 weight scales -----------===//

#include "qopt/Support/Int4Blocks.h"
#include "qopt/Support/QuantMath.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qopt {

std::optional<Int4Scale> parseInt4Scale(const std::string &name) {
  if (name == "mse")
    return Int4Scale::MSE;
  if (name == "signed-extreme")
    return Int4Scale::SignedExtreme;
  if (name == "absmax")
    return Int4Scale::AbsMax;
  if (name == "minmax")
    return Int4Scale::MinMax;
  return std::nullopt;
}

const char *int4ScaleName(Int4Scale method) {
  switch (method) {
  case Int4Scale::MSE:
    return "mse";
  case Int4Scale::SignedExtreme:
    return "signed-extreme";
  case Int4Scale::AbsMax:
    return "absmax";
  case Int4Scale::MinMax:
    return "minmax";
  }
  return "?";
}

float signedExtremeScale(const float *v, int64_t len) {
  // MLAS starts from (FLT_MAX, -FLT_MAX) and does not widen to 0.
  float lo = std::numeric_limits<float>::max(), hi = -lo;
  for (int64_t i = 0; i < len; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  if (len == 0)
    return 0.0f;
  float m = std::fabs(hi) > std::fabs(lo) ? hi : lo;
  return -m / 8.0f;
}

int quantizeInt4Ort(float v, float scale) {
  // Separate statements: no fused multiply-add, as in MLAS's build.
  float r = scale != 0.0f ? 1.0f / scale : 0.0f;
  float t = v * r;
  t = t + 8.0f;
  t = std::clamp(std::roundf(t), 0.0f, 15.0f);
  return static_cast<int>(t) - 8;
}

double int4MseCandidate(int i) {
  // 1.0 first (onnxruntime's scale), then 0.99 ... 0.80, then 8/7 (the
  // absmax range: the extreme at ±7).
  if (i <= 20)
    return 1.0 - 0.01 * i;
  return 8.0 / 7.0;
}

std::optional<float> quantizeInt4Block(const float *v, int64_t len,
                                       Int4Scale method, int8_t *q) {
  if (method == Int4Scale::MinMax)
    return std::nullopt; // an asymmetric rule
  for (int64_t i = 0; i < len; ++i)
    if (!std::isfinite(v[i]))
      return std::nullopt;
  if (method == Int4Scale::AbsMax) {
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < len; ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    std::optional<QuantParams> p =
        chooseQuantParams(lo, hi, StorageType::Int4, /*symmetric=*/true);
    if (!p)
      return std::nullopt;
    StorageRange range = storageRange(StorageType::Int4);
    for (int64_t i = 0; i < len; ++i)
      q[i] = static_cast<int8_t>(quantizeValue(v[i], *p, range));
    return p->scale;
  }
  float base = signedExtremeScale(v, len);
  float best = base;
  if (method == Int4Scale::MSE && base != 0.0f) {
    double bestErr = std::numeric_limits<double>::infinity();
    for (int c = 0; c < kInt4MseCandidates; ++c) {
      float s =
          static_cast<float>(static_cast<double>(base) * int4MseCandidate(c));
      double err = 0;
      for (int64_t i = 0; i < len && err < bestErr; ++i) {
        double d = static_cast<double>(v[i]) -
                   static_cast<double>(
                       static_cast<float>(quantizeInt4Ort(v[i], s)) * s);
        err += d * d;
      }
      if (err < bestErr) {
        bestErr = err;
        best = s;
      }
    }
  }
  for (int64_t i = 0; i < len; ++i)
    q[i] = static_cast<int8_t>(quantizeInt4Ort(v[i], best));
  return best;
}

std::optional<UInt4Params> quantizeUInt4Block(const float *v, int64_t len,
                                              Int4Scale method, int8_t *q) {
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < len; ++i) {
    if (!std::isfinite(v[i]))
      return std::nullopt;
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  StorageRange range = storageRange(StorageType::UInt4);
  auto params = [&](double alpha) {
    return chooseQuantParams(static_cast<float>(lo * alpha),
                             static_cast<float>(hi * alpha), StorageType::UInt4,
                             /*symmetric=*/false);
  };
  std::optional<QuantParams> best = params(1.0);
  if (!best)
    return std::nullopt;
  if (method == Int4Scale::MSE && hi > lo) {
    double bestErr = std::numeric_limits<double>::infinity();
    for (int c = 0; c <= 20; ++c) {
      std::optional<QuantParams> p = params(1.0 - 0.01 * c);
      if (!p)
        continue;
      double err = 0;
      for (int64_t i = 0; i < len && err < bestErr; ++i) {
        double d = static_cast<double>(v[i]) -
                   static_cast<double>(
                       dequantizeValue(quantizeValue(v[i], *p, range), *p));
        err += d * d;
      }
      if (err < bestErr) {
        bestErr = err;
        best = p;
      }
    }
  }
  for (int64_t i = 0; i < len; ++i)
    q[i] = static_cast<int8_t>(quantizeValue(v[i], *best, range));
  return UInt4Params{best->scale, static_cast<int>(best->zeroPoint)};
}

} // namespace qopt
