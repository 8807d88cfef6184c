//===- Ternary.cpp - BitNet b1.58 ternary weights and int8 tokens ---------===//

#include "qopt/Support/Ternary.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace qopt {

float absMean(const float *w, int64_t count) {
  if (count <= 0)
    return 0.0f;
  double sum = 0;
  for (int64_t i = 0; i < count; ++i)
    sum += std::fabs(double(w[i]));
  return float(sum / double(count));
}

bool ternarizeAbsmean(const float *w, int64_t count, TernaryWeight &out) {
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(w[i]))
      return false;
  out.gamma = std::max(absMean(w, count), kTernaryEps);
  out.values.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    // std::nearbyint rounds half to even in the default rounding mode.
    float q = std::nearbyint(w[i] / out.gamma);
    out.values[size_t(i)] = int8_t(std::clamp(q, -1.0f, 1.0f));
  }
  return true;
}

bool detectTernary(const float *w, int64_t count, TernaryWeight &out) {
  float g = 0;
  out.values.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    float v = w[i];
    if (!std::isfinite(v))
      return false;
    if (v == 0.0f) {
      out.values[size_t(i)] = 0;
      continue;
    }
    float a = std::fabs(v);
    if (g == 0)
      g = a;
    else if (a != g)
      return false;
    out.values[size_t(i)] = v > 0 ? 1 : -1;
  }
  out.gamma = g > 0 ? g : 1.0f;
  return true;
}

std::vector<uint8_t> packTernary(const int8_t *t, int64_t rows, int64_t cols) {
  std::vector<uint8_t> packed(size_t(rows * (cols / 4)), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k)
      packed[size_t(r * (cols / 4) + k / 4)] |=
          uint8_t(ternaryCode(t[r * cols + k]) << (2 * (k % 4)));
  return packed;
}

void unpackTernary(const uint8_t *packed, int64_t rows, int64_t cols,
                   int8_t *t) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k)
      t[r * cols + k] =
          ternaryFromCode(packed[r * (cols / 4) + k / 4] >> (2 * (k % 4)));
}

float tokenScale(const float *x, int64_t k) {
  float m = 0;
  for (int64_t i = 0; i < k; ++i)
    m = std::fmax(m, std::fabs(x[i]));
  return 127.0f / std::max(m, kTernaryEps);
}

int8_t quantizeToken(float x, float s) {
  float q = std::nearbyint(x * s);
  if (std::isnan(q))
    return 0;
  return int8_t(std::clamp(q, -128.0f, 127.0f));
}

TernaryStats ternaryStats(const TernaryWeight &w) {
  TernaryStats s;
  int64_t zeros = std::count(w.values.begin(), w.values.end(), int8_t(0));
  s.zeroShare =
      w.values.empty() ? 0.0 : double(zeros) / double(w.values.size());
  s.packedBytes = int64_t(w.values.size() / 4);
  return s;
}

double ternarySQNR(const float *w, const TernaryWeight &t) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < t.values.size(); ++i) {
    double d = double(w[i]) - double(float(t.values[i]) * t.gamma);
    signal += double(w[i]) * double(w[i]);
    noise += d * d;
  }
  if (noise == 0)
    return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

} // namespace qopt
