//===- NF4.cpp - 4-bit NormalFloat block quantization ---------------------===//

#include "qopt/Support/NF4.h"

#include <algorithm>
#include <cmath>

namespace qopt {

const float kNF4Levels[16] = {-1.0f,
                              -0.6961928009986877f,
                              -0.5250730514526367f,
                              -0.39491748809814453f,
                              -0.28444138169288635f,
                              -0.18477343022823334f,
                              -0.09105003625154495f,
                              0.0f,
                              0.07958029955625534f,
                              0.16093020141124725f,
                              0.24611230194568634f,
                              0.33791524171829224f,
                              0.44070982933044434f,
                              0.5626170039176941f,
                              0.7229568362236023f,
                              1.0f};

uint8_t nearestNF4(float v) {
  // Above the midpoint between two levels goes up; exactly on it stays.
  uint8_t code = 0;
  for (int i = 0; i < 15; ++i)
    if (v > (kNF4Levels[i] + kNF4Levels[i + 1]) * 0.5f)
      code = uint8_t(i + 1);
  return code;
}

bool quantizeNF4(const float *w, int64_t rows, int64_t cols, int64_t block,
                 std::vector<uint8_t> &packed, std::vector<float> &absmax) {
  packed.assign(size_t(rows * cols / 2), 0);
  absmax.assign(size_t(rows * (cols / block)), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < cols / block; ++b) {
      const float *v = w + r * cols + b * block;
      float m = 0;
      for (int64_t i = 0; i < block; ++i) {
        if (!std::isfinite(v[i]))
          return false;
        m = std::fmax(m, std::fabs(v[i]));
      }
      absmax[size_t(r * (cols / block) + b)] = m;
      for (int64_t i = 0; i < block; ++i) {
        uint8_t code = m > 0 ? nearestNF4(v[i] / m) : uint8_t(7);
        int64_t k = b * block + i;
        packed[size_t((r * cols + k) / 2)] |= uint8_t(code << ((k % 2) * 4));
      }
    }
  return true;
}

DoubleQuantizedScales doubleQuantize(const std::vector<float> &scales,
                                     int64_t block) {
  DoubleQuantizedScales out;
  double sum = 0;
  for (float s : scales)
    sum += s;
  out.offset = scales.empty() ? 0.0f : float(sum / double(scales.size()));
  out.codes.resize(scales.size());
  for (size_t b = 0; b < scales.size(); b += size_t(block)) {
    size_t end = std::min(scales.size(), b + size_t(block));
    float m = 0;
    for (size_t i = b; i < end; ++i)
      m = std::fmax(m, std::fabs(scales[i] - out.offset));
    float s = m > 0 ? m / 127.0f : 1.0f;
    out.scales.push_back(s);
    for (size_t i = b; i < end; ++i)
      out.codes[i] = int8_t(std::clamp(
          std::nearbyint((scales[i] - out.offset) / s), -127.0f, 127.0f));
  }
  return out;
}

} // namespace qopt
