//===- PoolKernelsTest.cpp - qopt_kernel_pool2d_f32 -----------------------===//
//
// qopt_kernel_pool2d_f32 (PoolKernels.cpp) against a scalar loop in the
// generated code's order (maximum as arith.maximumf defines it: NaN if
// either operand is, +0 above -0): max and sum pools, windows 2x2 to 3x3,
// strides 1, 2 and 3, dilation 2, maps from 1x1 to 32x33 (vector tails),
// a fused ReLU clamp, strided input / output views, NaN and signed zeros in
// the data. Results must match bit for bit (any NaN for NaN).
// kernel-variants.test runs them with each ISA.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

extern "C" void qopt_kernel_pool2d_f32(int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t);

namespace {

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }

int64_t floatBits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return int64_t(u);
}

/// IEEE 754-2019 maximum, written independently of the kernel's.
float refMaximum(float a, float b) {
  if (a != a || b != b)
    return std::numeric_limits<float>::quiet_NaN();
  if (a == 0.0f && b == 0.0f)
    return (std::signbit(a) && std::signbit(b)) ? -0.0f : 0.0f;
  return std::fmax(a, b);
}

struct Case {
  int64_t n, c, h, w, kh, kw, sh, sw, dh, dw;
  bool sum, clamp;
  float lo;
  bool special;  // NaNs and signed zeros in x
  int64_t xPadW; // extra elements after each input row (a view)
  int64_t oStep; // output inner stride (1: contiguous)
};

void runCase(const Case &k, unsigned seed) {
  const int64_t oh = (k.h - (k.kh - 1) * k.dh - 1) / k.sh + 1;
  const int64_t ow = (k.w - (k.kw - 1) * k.dw - 1) / k.sw + 1;
  ASSERT_GT(oh, 0);
  ASSERT_GT(ow, 0);
  const int64_t xW = 1, xH = k.w + k.xPadW, xC = k.h * xH, xN = k.c * xC;
  std::vector<float> x(size_t(k.n * xN));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float &v : x)
    v = u(rng);
  if (k.special) {
    for (size_t i = 0; i < x.size(); i += 7)
      x[i] = (i / 7) % 3 == 0   ? std::numeric_limits<float>::quiet_NaN()
             : (i / 7) % 3 == 1 ? -0.0f
                                : 0.0f;
  }
  const int64_t oW = k.oStep, oH = ow * oW, oC = oh * oH, oN = k.c * oC;
  const float init = k.sum ? 0.0f : -std::numeric_limits<float>::infinity();
  std::vector<float> out(size_t(k.n * oN), 123.0f), ref;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t c = 0; c < k.c; ++c)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z)
          out[n * oN + c * oC + y * oH + z * oW] = init;
  ref = out;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t c = 0; c < k.c; ++c)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z) {
          float &acc = ref[n * oN + c * oC + y * oH + z * oW];
          for (int64_t i = 0; i < k.kh; ++i)
            for (int64_t j = 0; j < k.kw; ++j) {
              float v = x[n * xN + c * xC + (y * k.sh + i * k.dh) * xH +
                          (z * k.sw + j * k.dw) * xW];
              if (k.sum) {
                acc = acc + v;
              } else {
                if (k.clamp)
                  v = refMaximum(v, k.lo);
                acc = refMaximum(acc, v);
              }
            }
        }
  qopt_kernel_pool2d_f32(k.sum ? 1 : 0, k.n, k.c, oh, ow, k.kh, k.kw, k.sh,
                         k.sw, k.dh, k.dw, addr(x.data()), xN, xC, xH, xW,
                         addr(out.data()), oN, oC, oH, oW, k.clamp ? 1 : 0,
                         floatBits(k.lo));
  int64_t nans = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(ref[i])) {
      ++nans;
      EXPECT_TRUE(std::isnan(out[i])) << "at " << i;
      continue;
    }
    EXPECT_EQ(floatBits(out[i]), floatBits(ref[i]))
        << "at " << i << ": " << out[i] << " vs " << ref[i];
  }
  if (k.special && !k.sum)
    EXPECT_GT(nans, 0);
}

TEST(PoolKernel, MaxPool2x2Stride2) {
  for (int64_t hw : {2, 8, 16, 17, 32, 33, 65})
    runCase({2, 3, hw, hw, 2, 2, 2, 2, 1, 1, false, false, 0.0f, false, 0, 1},
            unsigned(hw));
}

TEST(PoolKernel, MaxPoolFusedRelu) {
  for (int64_t hw : {8, 16, 32, 35})
    runCase({1, 4, hw, hw, 2, 2, 2, 2, 1, 1, false, true, 0.0f, false, 0, 1},
            unsigned(hw));
  runCase({1, 2, 20, 20, 3, 3, 1, 1, 1, 1, false, true, 0.5f, false, 0, 1}, 3);
}

TEST(PoolKernel, MaxPoolNaNAndSignedZeros) {
  for (bool clamp : {false, true}) {
    runCase({1, 3, 32, 32, 2, 2, 2, 2, 1, 1, false, clamp, 0.0f, true, 0, 1},
            7);
    runCase({1, 3, 13, 19, 3, 3, 1, 1, 1, 1, false, clamp, 0.0f, true, 0, 1},
            8);
  }
  // All-zero windows of either sign: +0 wins, -0 only when all are -0.
  runCase({1, 1, 4, 40, 2, 2, 2, 2, 1, 1, false, true, -0.0f, true, 0, 1}, 9);
}

TEST(PoolKernel, WindowsStridesDilations) {
  runCase({1, 2, 15, 31, 3, 3, 2, 2, 1, 1, false, false, 0.0f, false, 0, 1}, 1);
  runCase({1, 2, 15, 31, 3, 3, 1, 1, 2, 2, false, false, 0.0f, false, 0, 1}, 2);
  runCase({1, 2, 16, 50, 3, 2, 3, 3, 1, 1, false, false, 0.0f, false, 0, 1}, 3);
  runCase({2, 2, 9, 40, 2, 3, 1, 2, 2, 3, false, true, 0.0f, true, 0, 1}, 4);
  runCase({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, 0.0f, false, 0, 1}, 5);
}

TEST(PoolKernel, SumPools) {
  for (int64_t hw : {4, 16, 17, 32})
    runCase({2, 3, hw, hw, 2, 2, 2, 2, 1, 1, true, false, 0.0f, false, 0, 1},
            unsigned(hw));
  runCase({1, 3, 21, 23, 3, 3, 1, 1, 1, 1, true, false, 0.0f, false, 0, 1}, 6);
  runCase({1, 3, 21, 23, 3, 3, 3, 3, 1, 1, true, false, 0.0f, true, 0, 1}, 7);
}

TEST(PoolKernel, StridedViews) {
  // Input rows padded (a subview of a wider buffer), and an output whose
  // inner stride is 2 (the scalar path).
  runCase({1, 2, 16, 16, 2, 2, 2, 2, 1, 1, false, true, 0.0f, true, 5, 1}, 1);
  runCase({1, 2, 16, 16, 2, 2, 2, 2, 1, 1, false, true, 0.0f, true, 0, 2}, 2);
  runCase({1, 2, 16, 18, 3, 3, 1, 1, 1, 1, true, false, 0.0f, false, 3, 2}, 3);
}

TEST(PoolKernel, ManyRowsAcrossThreads) {
  runCase({4, 64, 64, 64, 2, 2, 2, 2, 1, 1, false, true, 0.0f, false, 0, 1},
          11);
}

} // namespace
