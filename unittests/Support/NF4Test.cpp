//===- NF4Test.cpp - 4-bit NormalFloat block quantization -----------------===//
//
// Levels and block rule from shared/REFERENCE.md (QLoRA): blocks scaled by
// absmax, each value the index of the nearest of the 16 levels.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/NF4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using namespace qopt;

namespace {

TEST(NF4, LevelsAreQLoRAs) {
  const double want[16] = {-1.0,
                           -0.6961928009986877,
                           -0.5250730514526367,
                           -0.39491748809814453,
                           -0.28444138169288635,
                           -0.18477343022823334,
                           -0.09105003625154495,
                           0.0,
                           0.07958029955625534,
                           0.16093020141124725,
                           0.24611230194568634,
                           0.33791524171829224,
                           0.44070982933044434,
                           0.5626170039176941,
                           0.7229568362236023,
                           1.0};
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(kNF4Levels[i], float(want[i])) << i;
}

TEST(NF4, NearestLevel) {
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(nearestNF4(kNF4Levels[i]), i) << i;
  EXPECT_EQ(nearestNF4(-2.0f), 0);
  EXPECT_EQ(nearestNF4(2.0f), 15);
  for (int i = 0; i < 15; ++i) {
    float mid = (kNF4Levels[i] + kNF4Levels[i + 1]) * 0.5f;
    // Exactly between two levels: the lower one; just above: the upper.
    EXPECT_EQ(nearestNF4(mid), i) << i;
    EXPECT_EQ(nearestNF4(std::nextafter(mid, 2.0f)), i + 1) << i;
  }
}

TEST(NF4, BlocksScaleByAbsmaxAndPackLowNibbleFirst) {
  // One row, two blocks of 4.
  std::vector<float> w = {2.0f, -1.0f, 0.0f, -0.5f, 0.1f, 0.2f, -0.4f, 0.05f};
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  ASSERT_TRUE(quantizeNF4(w.data(), 1, 8, 4, packed, absmax));
  ASSERT_EQ(absmax.size(), 2u);
  EXPECT_EQ(absmax[0], 2.0f);
  EXPECT_EQ(absmax[1], 0.4f);
  std::vector<uint8_t> codes;
  for (uint8_t b : packed) {
    codes.push_back(b & 15);
    codes.push_back(b >> 4);
  }
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(codes[i], nearestNF4(w[i] / absmax[i / 4])) << i;
  EXPECT_EQ(codes[0], 15); // 2 / 2 = 1
  EXPECT_EQ(codes[2], 7);  // 0
  EXPECT_EQ(codes[6], 0);  // -0.4 / 0.4 = -1
  // Dequantization is level * absmax, exactly.
  EXPECT_EQ(dequantizeNF4(codes[1], absmax[0]), kNF4Levels[codes[1]] * 2.0f);
  // Error of a block is at most half the widest gap between levels, scaled.
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_LE(std::fabs(dequantizeNF4(codes[i], absmax[i / 4]) - w[i]),
              0.5f * (1.0f - 0.7229568362236023f) * absmax[i / 4] + 1e-7f);
}

TEST(NF4, ZeroBlockAndNonFinite) {
  std::vector<float> w(4, 0.0f);
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  ASSERT_TRUE(quantizeNF4(w.data(), 1, 4, 4, packed, absmax));
  EXPECT_EQ(absmax[0], 0.0f);
  EXPECT_EQ(packed[0], 0x77);
  EXPECT_EQ(packed[1], 0x77);
  w[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(quantizeNF4(w.data(), 1, 4, 4, packed, absmax));
  w[2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(quantizeNF4(w.data(), 1, 4, 4, packed, absmax));
}

TEST(NF4, DoubleQuantizedScales) {
  // 600 scales: blocks of 256, 256, 88; int8 codes around the mean.
  std::vector<float> scales;
  for (int i = 0; i < 600; ++i)
    scales.push_back(0.01f + 0.001f * float((i * 37) % 101));
  DoubleQuantizedScales dq = doubleQuantize(scales);
  double mean = 0;
  for (float s : scales)
    mean += s;
  mean /= double(scales.size());
  EXPECT_FLOAT_EQ(dq.offset, float(mean));
  ASSERT_EQ(dq.scales.size(), 3u);
  ASSERT_EQ(dq.codes.size(), scales.size());
  for (size_t b = 0; b < 3; ++b) {
    float m = 0;
    for (size_t i = b * 256; i < std::min<size_t>(600, (b + 1) * 256); ++i)
      m = std::fmax(m, std::fabs(scales[i] - dq.offset));
    EXPECT_FLOAT_EQ(dq.scales[b], m / 127.0f);
  }
  for (size_t i = 0; i < scales.size(); ++i) {
    EXPECT_GE(dq.codes[i], -127);
    EXPECT_LE(dq.codes[i], 127);
    // Round to nearest: within half a step of the original.
    EXPECT_LE(std::fabs(dq.value(i) - scales[i]),
              0.5f * dq.scales[i / 256] + 1e-7f)
        << i;
  }
  // All equal: step 1, codes 0, values exact.
  DoubleQuantizedScales flat = doubleQuantize(std::vector<float>(10, 0.5f));
  EXPECT_EQ(flat.scales[0], 1.0f);
  EXPECT_EQ(flat.value(3), 0.5f);
}

} // namespace
