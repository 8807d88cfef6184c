//===- TernaryTest.cpp - BitNet b1.58 ternary weights and int8 tokens -----===//
//
// Expected values are worked by hand from shared/REFERENCE.md (BitNet's
// code form: gamma = max(mean|W|, 1e-5), round half to even, clamp), not
// produced by the code under test.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Ternary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace qopt;

namespace {

TEST(Ternary, AbsmeanHandWorked) {
  // mean |W| = 4.7 / 8 = 0.5875; W / 0.5875 = 0.51, -1.02, 0.085, 2.04,
  // -0.17, 0, 0.77, -3.4 -> round, clamp to [-1, 1].
  const float w[8] = {0.3f, -0.6f, 0.05f, 1.2f, -0.1f, 0.0f, 0.45f, -2.0f};
  TernaryWeight t;
  ASSERT_TRUE(ternarizeAbsmean(w, 8, t));
  EXPECT_FLOAT_EQ(t.gamma, 0.5875f);
  EXPECT_EQ(t.values, (std::vector<int8_t>{1, -1, 0, 1, 0, 0, 1, -1}));
}

TEST(Ternary, AbsmeanTiesRoundHalfToEven) {
  // gamma = (0.5 + 0.5 + 1.5 + 1.5) / 4 = 1 exactly: 0.5 -> 0, -0.5 -> 0,
  // 1.5 -> 2 -> clamp 1, -1.5 -> -2 -> clamp -1.
  const float w[4] = {0.5f, -0.5f, 1.5f, -1.5f};
  TernaryWeight t;
  ASSERT_TRUE(ternarizeAbsmean(w, 4, t));
  EXPECT_EQ(t.gamma, 1.0f);
  EXPECT_EQ(t.values, (std::vector<int8_t>{0, 0, 1, -1}));
}

TEST(Ternary, AbsmeanEpsilonFloor) {
  const float zeros[4] = {0, 0, 0, 0};
  TernaryWeight t;
  ASSERT_TRUE(ternarizeAbsmean(zeros, 4, t));
  EXPECT_EQ(t.gamma, 1e-5f);
  EXPECT_EQ(t.values, (std::vector<int8_t>{0, 0, 0, 0}));
  // mean 1e-7 < eps: W / 1e-5 = +-0.01 -> 0.
  const float tiny[2] = {1e-7f, -1e-7f};
  ASSERT_TRUE(ternarizeAbsmean(tiny, 2, t));
  EXPECT_EQ(t.gamma, 1e-5f);
  EXPECT_EQ(t.values, (std::vector<int8_t>{0, 0}));
  const float bad[2] = {1.0f, std::numeric_limits<float>::infinity()};
  EXPECT_FALSE(ternarizeAbsmean(bad, 2, t));
}

TEST(Ternary, DetectsThreeValuedTensors) {
  TernaryWeight t;
  const float w[4] = {0.25f, -0.25f, 0.0f, 0.25f};
  ASSERT_TRUE(detectTernary(w, 4, t));
  EXPECT_EQ(t.gamma, 0.25f);
  EXPECT_EQ(t.values, (std::vector<int8_t>{1, -1, 0, 1}));
  const float negZero[2] = {-0.0f, -0.7f};
  ASSERT_TRUE(detectTernary(negZero, 2, t));
  EXPECT_EQ(t.gamma, 0.7f);
  EXPECT_EQ(t.values, (std::vector<int8_t>{0, -1}));
  const float zeros[3] = {0, 0, 0};
  ASSERT_TRUE(detectTernary(zeros, 3, t));
  EXPECT_EQ(t.gamma, 1.0f);
  // Two magnitudes, or a magnitude off by one ulp, are not ternary.
  const float two[3] = {0.25f, -0.5f, 0.0f};
  EXPECT_FALSE(detectTernary(two, 3, t));
  const float ulp[2] = {0.25f, -std::nextafter(0.25f, 1.0f)};
  EXPECT_FALSE(detectTernary(ulp, 2, t));
  const float nan[2] = {0.25f, std::nanf("")};
  EXPECT_FALSE(detectTernary(nan, 2, t));
}

TEST(Ternary, PackLayout) {
  // Codes t + 1 = 0 1 2 1 | 2 2 0 0 at bits 0, 2, 4, 6 of each byte:
  // 0 + 1*4 + 2*16 + 1*64 = 0x64; 2 + 2*4 = 0x0A.
  const int8_t t[8] = {-1, 0, 1, 0, 1, 1, -1, -1};
  std::vector<uint8_t> p = packTernary(t, 1, 8);
  EXPECT_EQ(p, (std::vector<uint8_t>{0x64, 0x0A}));
  int8_t back[8];
  unpackTernary(p.data(), 1, 8, back);
  EXPECT_EQ(std::vector<int8_t>(back, back + 8), std::vector<int8_t>(t, t + 8));
  // Rows are independent: row 1 starts at byte K/4.
  const int8_t two[8] = {1, 1, 1, 1, -1, -1, -1, -1};
  EXPECT_EQ(packTernary(two, 2, 4), (std::vector<uint8_t>{0xAA, 0x00}));
  EXPECT_EQ(ternaryFromCode(3), 0);
}

TEST(Ternary, TokenQuantization) {
  // absmax 2 -> s = 127 / 2 = 63.5; 0.5 * 63.5 = 31.75 -> 32,
  // 1 * 63.5 = 63.5 -> 64 (tie to even), -2 * 63.5 = -127.
  const float x[3] = {0.5f, -2.0f, 1.0f};
  float s = tokenScale(x, 3);
  EXPECT_EQ(s, 63.5f);
  EXPECT_EQ(quantizeToken(0.5f, s), 32);
  EXPECT_EQ(quantizeToken(1.0f, s), 64);
  EXPECT_EQ(quantizeToken(-2.0f, s), -127);
  EXPECT_EQ(quantizeToken(2.5f, 1.0f), 2);
  EXPECT_EQ(quantizeToken(10.0f, s), 127);
  EXPECT_EQ(quantizeToken(-10.0f, s), -128);
  const float zeros[2] = {0, 0};
  EXPECT_EQ(tokenScale(zeros, 2), 127.0f / 1e-5f);
}

TEST(Ternary, StatsAndSQNR) {
  // gamma = 2.5 / 4 = 0.625; 1.6 -> 1, -1.6 -> -1, 0.8 -> 1, 0 -> 0.
  // noise = 2 * 0.375^2 + 0.125^2 = 0.296875, signal = 2.25.
  const float w[4] = {1.0f, -1.0f, 0.5f, 0.0f};
  TernaryWeight t;
  ASSERT_TRUE(ternarizeAbsmean(w, 4, t));
  EXPECT_EQ(t.values, (std::vector<int8_t>{1, -1, 1, 0}));
  EXPECT_NEAR(ternarySQNR(w, t), 10.0 * std::log10(2.25 / 0.296875), 1e-9);
  TernaryStats s = ternaryStats(t);
  EXPECT_DOUBLE_EQ(s.zeroShare, 0.25);
  EXPECT_EQ(s.packedBytes, 1);
  const float exact[4] = {0.5f, 0.0f, -0.5f, 0.5f};
  ASSERT_TRUE(detectTernary(exact, 4, t));
  EXPECT_TRUE(std::isinf(ternarySQNR(exact, t)));
}

} // namespace
