//===- Int4BlocksTest.cpp - block-wise symmetric int4 scales --------------===//
//
// Expected values are worked by hand from the formulas: onnxruntime's
// MatMulNBits quantizer (MLAS range2scale: the signed extreme / -8, q =
// roundf(w / s + 8) - 8) and REFERENCE.md's symmetric formula (max|w| / 7).
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Int4Blocks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace qopt;

namespace {

std::vector<int> quantize(const std::vector<float> &v, Int4Scale method,
                          float &scale) {
  std::vector<int8_t> q(v.size());
  std::optional<float> s =
      quantizeInt4Block(v.data(), int64_t(v.size()), method, q.data());
  EXPECT_TRUE(s.has_value());
  scale = s.value_or(0.0f);
  return std::vector<int>(q.begin(), q.end());
}

TEST(Int4Blocks, SignedExtremeScale) {
  // The extreme keeps its sign; the scale is its negative eighth.
  std::vector<float> pos{1.0f, -0.5f, 0.25f, 0.0f};
  EXPECT_EQ(signedExtremeScale(pos.data(), 4), -0.125f);
  std::vector<float> neg{-3.0f, 1.0f, 2.0f};
  EXPECT_EQ(signedExtremeScale(neg.data(), 3), 0.375f);
  // |max| == |min|: the minimum (MLAS's `fabs(max) > fabs(min)`).
  std::vector<float> tie{-2.0f, 2.0f};
  EXPECT_EQ(signedExtremeScale(tie.data(), 2), 0.25f);
  // Not widened to 0: an all-positive block's extreme is its maximum.
  std::vector<float> allPos{0.5f, 0.75f};
  EXPECT_EQ(signedExtremeScale(allPos.data(), 2), -0.09375f);
}

TEST(Int4Blocks, OrtRounding) {
  // roundf(w / s + 8): ties away from zero, i.e. up after the +8 shift.
  EXPECT_EQ(quantizeInt4Ort(1.0f, -0.125f), -8);
  EXPECT_EQ(quantizeInt4Ort(-0.5f, -0.125f), 4);
  EXPECT_EQ(quantizeInt4Ort(0.0f, -0.125f), 0);
  // w / s = -2.5 -> 5.5 -> 6 -> -2 (round half to even would give -2 too;
  // -1.5 -> 6.5 -> 7 -> -1 where half-to-even gives -2).
  EXPECT_EQ(quantizeInt4Ort(0.3125f, -0.125f), -2);
  EXPECT_EQ(quantizeInt4Ort(0.1875f, -0.125f), -1);
  // Saturation at both ends; a zero scale maps everything to 0.
  EXPECT_EQ(quantizeInt4Ort(5.0f, 0.125f), 7);
  EXPECT_EQ(quantizeInt4Ort(-5.0f, 0.125f), -8);
  EXPECT_EQ(quantizeInt4Ort(3.0f, 0.0f), 0);
}

TEST(Int4Blocks, SignedExtremeBlock) {
  float s;
  EXPECT_EQ(quantize({1.0f, -0.5f, 0.25f, 0.0f}, Int4Scale::SignedExtreme, s),
            (std::vector<int>{-8, 4, -2, 0}));
  EXPECT_EQ(s, -0.125f);
  EXPECT_EQ(quantize({-3.0f, 1.0f, 0.0f, 0.0f}, Int4Scale::SignedExtreme, s),
            (std::vector<int>{-8, 3, 0, 0}));
  EXPECT_EQ(s, 0.375f);
  // An all-zero block: scale -0 (0 / -8), every value 0.
  EXPECT_EQ(quantize({0.0f, 0.0f}, Int4Scale::SignedExtreme, s),
            (std::vector<int>{0, 0}));
  EXPECT_EQ(s, 0.0f);
}

TEST(Int4Blocks, AbsMaxBlock) {
  // REFERENCE.md symmetric: 1/7, q = round_half_to_even(w * 7).
  float s;
  EXPECT_EQ(quantize({1.0f, -0.5f, 0.25f, 0.0f}, Int4Scale::AbsMax, s),
            (std::vector<int>{7, -3, 2, 0}));
  EXPECT_FLOAT_EQ(s, 1.0f / 7.0f);
  // An all-zero block: scale 1.0 as onnxruntime's QuantizeLinear.
  EXPECT_EQ(quantize({0.0f, 0.0f}, Int4Scale::AbsMax, s),
            (std::vector<int>{0, 0}));
  EXPECT_EQ(s, 1.0f);
}

TEST(Int4Blocks, MseBlock) {
  float s;
  // Exact at -1/8: kept (ties go to onnxruntime's scale).
  EXPECT_EQ(quantize({1.0f, -0.5f, 0.25f, 0.0f}, Int4Scale::MSE, s),
            (std::vector<int>{-8, 4, -2, 0}));
  EXPECT_EQ(s, -0.125f);
  // [1, 0.3, 0.3, 0.3]: at -1/8 the 0.3s become 0.25 (error 3 * 0.05^2 =
  // 0.0075); at -1/7 the 1 is -7 (exact) and the 0.3s -2 = 0.2857 (error
  // 3 * 0.0143^2 = 0.0006): the 8/7 candidate wins.
  EXPECT_EQ(quantize({1.0f, 0.3f, 0.3f, 0.3f}, Int4Scale::MSE, s),
            (std::vector<int>{-7, -2, -2, -2}));
  EXPECT_FLOAT_EQ(s, -1.0f / 7.0f);
  // [-3, 1]: 0.99 * 3/8 = 0.37125 maps -3 to -8 (-2.97) and 1 to 3
  // (1.11375): 0.0009 + 0.0129 < 0 + 0.0156 at 3/8.
  EXPECT_EQ(quantize({-3.0f, 1.0f, 0.0f, 0.0f}, Int4Scale::MSE, s),
            (std::vector<int>{-8, 3, 0, 0}));
  EXPECT_FLOAT_EQ(s, 0.37125f);
}

TEST(Int4Blocks, MseNeverWorseThanSignedExtreme) {
  // Pseudo-random blocks: the chosen error is at most onnxruntime's.
  uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return float(int32_t(seed >> 8) - (1 << 23)) / float(1 << 23);
  };
  for (int block = 0; block < 200; ++block) {
    std::vector<float> v(32);
    for (float &x : v)
      x = next() * next() * 3.0f;
    auto sse = [&](Int4Scale method) {
      float s;
      std::vector<int> q = quantize(v, method, s);
      double e = 0;
      for (size_t i = 0; i < v.size(); ++i)
        e += std::pow(double(v[i]) - double(float(q[i]) * s), 2);
      return e;
    };
    EXPECT_LE(sse(Int4Scale::MSE), sse(Int4Scale::SignedExtreme))
        << "block " << block;
  }
}

std::vector<int> quantizeU(const std::vector<float> &v, Int4Scale method,
                           UInt4Params &p) {
  std::vector<int8_t> q(v.size());
  std::optional<UInt4Params> r =
      quantizeUInt4Block(v.data(), int64_t(v.size()), method, q.data());
  EXPECT_TRUE(r.has_value());
  p = r.value_or(UInt4Params{0.0f, 0});
  return std::vector<int>(q.begin(), q.end());
}

TEST(Int4Blocks, UInt4MinMax) {
  // REFERENCE.md asymmetric: [-0.5, 1] -> scale 1.5/15 = 0.1, zero point
  // round(0.5 / 0.1) = 5; 1 -> 15, -0.5 -> 0.
  UInt4Params p;
  EXPECT_EQ(quantizeU({1.0f, -0.5f}, Int4Scale::MinMax, p),
            (std::vector<int>{15, 0}));
  EXPECT_FLOAT_EQ(p.scale, 0.1f);
  EXPECT_EQ(p.zeroPoint, 5);
  // Widened to include 0: [0.2, 0.75] -> scale 0.75/15 = 0.05, zero point
  // 0; 0.2 -> 4.
  EXPECT_EQ(quantizeU({0.2f, 0.75f}, Int4Scale::MinMax, p),
            (std::vector<int>{4, 15}));
  EXPECT_FLOAT_EQ(p.scale, 0.05f);
  EXPECT_EQ(p.zeroPoint, 0);
}

TEST(Int4Blocks, UInt4Mse) {
  // [1, 0.3, 0.3, 0.3]: the full range (scale 1/15) puts 0.3 at 4.5 -> 4
  // (0.267, error 3 * 0.033^2 = 0.0033); the range 0.97 · [0, 1] (scale
  // 0.0647) maps 1 to 15 (0.97) and 0.3 to 5 (0.323): 0.0009 + 3 * 0.0005 =
  // 0.0025, the least among α = 1 ... 0.8.
  UInt4Params p;
  EXPECT_EQ(quantizeU({1.0f, 0.3f, 0.3f, 0.3f}, Int4Scale::MSE, p),
            (std::vector<int>{15, 5, 5, 5}));
  EXPECT_FLOAT_EQ(p.scale, 0.97f / 15.0f);
  EXPECT_EQ(p.zeroPoint, 0);
  // Exact at the full range: kept.
  EXPECT_EQ(quantizeU({1.0f, -0.5f}, Int4Scale::MSE, p),
            (std::vector<int>{15, 0}));
  EXPECT_FLOAT_EQ(p.scale, 0.1f);
}

TEST(Int4Blocks, UInt4MseNeverWorseThanMinMax) {
  uint32_t seed = 777;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return float(int32_t(seed >> 8) - (1 << 23)) / float(1 << 23);
  };
  for (int block = 0; block < 200; ++block) {
    std::vector<float> v(32);
    for (float &x : v)
      x = next() * next() * 2.0f + 0.1f;
    auto sse = [&](Int4Scale method) {
      UInt4Params p;
      std::vector<int> q = quantizeU(v, method, p);
      double e = 0;
      for (size_t i = 0; i < v.size(); ++i)
        e += std::pow(
            double(v[i]) - double(float(q[i] - p.zeroPoint) * p.scale), 2);
      return e;
    };
    EXPECT_LE(sse(Int4Scale::MSE), sse(Int4Scale::MinMax)) << "block " << block;
  }
}

TEST(Int4Blocks, NotFinite) {
  std::vector<float> v{1.0f, std::numeric_limits<float>::infinity()};
  std::vector<int8_t> q(2);
  for (Int4Scale m :
       {Int4Scale::MSE, Int4Scale::SignedExtreme, Int4Scale::AbsMax})
    EXPECT_FALSE(quantizeInt4Block(v.data(), 2, m, q.data()).has_value());
  EXPECT_FALSE(
      quantizeUInt4Block(v.data(), 2, Int4Scale::MSE, q.data()).has_value());
}

TEST(Int4Blocks, Names) {
  for (Int4Scale m : {Int4Scale::MSE, Int4Scale::SignedExtreme,
                      Int4Scale::AbsMax, Int4Scale::MinMax})
    EXPECT_EQ(parseInt4Scale(int4ScaleName(m)), m);
  EXPECT_FALSE(parseInt4Scale("max7").has_value());
}

} // namespace
