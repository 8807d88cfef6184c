//===- Int8DepthwiseKernelsTest.cpp - int8 depthwise convolutions ---------===//
//
// qopt_kernel_conv2d_depthwise_s8 (DepthwiseKernels.cpp) against a scalar
// int64 reference written here: 3x3, 5x5 and 7x7 windows, strides 1 and 2,
// dilation 2, channel multipliers, 1x1 to 112x112 maps, implicit padding
// with a zero point (symmetric, asymmetric, none), strided views, the
// extremes of int8 (every product -128 * -128, and (127 - (-128)) * -128
// against the padding value), the accumulation into what the output
// holds, and windows on both sides of the 512 taps the f32 path keeps
// exact. The results must be equal, not close. kernel-variants.test runs
// the suite (its name has DepthwiseKernel in it) with each ISA.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

extern "C" void qopt_kernel_conv2d_depthwise_s8(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

namespace {

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }

struct S8Case {
  int64_t n, g, mult, h, w, kh, kw, sh, sw, dh, dw;
  int64_t padT = 0, padL = 0, padB = 0, padR = 0, padValue = 0;
};

struct S8Problem {
  S8Case c;
  int64_t oh, ow;
  std::vector<int8_t> x, f;
  std::vector<int32_t> out;

  S8Problem(const S8Case &c, unsigned seed, bool extreme = false) : c(c) {
    oh = (c.h + c.padT + c.padB - (c.kh - 1) * c.dh - 1) / c.sh + 1;
    ow = (c.w + c.padL + c.padR - (c.kw - 1) * c.dw - 1) / c.sw + 1;
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int> v(-128, 127), start(-1000, 1000);
    x.resize(size_t(c.n * c.g * c.h * c.w));
    f.resize(size_t(c.g * c.mult * c.kh * c.kw));
    for (int8_t &e : x)
      e = extreme ? int8_t(-128) : int8_t(v(gen));
    for (int8_t &e : f)
      e = extreme ? int8_t(-128) : int8_t(v(gen));
    out.resize(size_t(c.n * c.g * c.mult * oh * ow));
    for (int32_t &e : out)
      e = start(gen); // the kernel adds to what the output holds
  }

  /// Dense NCHW buffers: x [N, G, H, W], f [G, M, KH, KW], out [N, G, M,
  /// OH, OW].
  std::vector<int32_t> run() const {
    std::vector<int32_t> o = out;
    qopt_kernel_conv2d_depthwise_s8(
        c.n, c.g, c.mult, c.h, c.w, c.padT, c.padL, c.padValue, c.kh, c.kw, oh,
        ow, c.sh, c.sw, c.dh, c.dw, addr(x.data()), c.g * c.h * c.w, c.h * c.w,
        c.w, 1, addr(f.data()), c.mult * c.kh * c.kw, c.kh * c.kw, c.kw, 1,
        addr(o.data()), c.g * c.mult * oh * ow, c.mult * oh * ow, oh * ow, ow,
        1);
    return o;
  }

  std::vector<int32_t> reference() const {
    std::vector<int32_t> o = out;
    for (int64_t b = 0; b < c.n; ++b)
      for (int64_t gi = 0; gi < c.g; ++gi)
        for (int64_t m = 0; m < c.mult; ++m)
          for (int64_t y = 0; y < oh; ++y)
            for (int64_t xx = 0; xx < ow; ++xx) {
              int64_t sum = 0;
              for (int64_t ky = 0; ky < c.kh; ++ky)
                for (int64_t kx = 0; kx < c.kw; ++kx) {
                  int64_t yy = y * c.sh + ky * c.dh - c.padT;
                  int64_t cc = xx * c.sw + kx * c.dw - c.padL;
                  int64_t v =
                      yy >= 0 && yy < c.h && cc >= 0 && cc < c.w
                          ? int64_t(x[size_t(((b * c.g + gi) * c.h + yy) * c.w +
                                             cc)])
                          : c.padValue;
                  sum += v *
                         f[size_t(((gi * c.mult + m) * c.kh + ky) * c.kw + kx)];
                }
              o[size_t((((b * c.g + gi) * c.mult + m) * oh + y) * ow + xx)] +=
                  int32_t(sum);
            }
    return o;
  }
};

class Int8DepthwiseKernel : public ::testing::TestWithParam<S8Case> {};

TEST_P(Int8DepthwiseKernel, EqualsIntegerReference) {
  S8Problem p(GetParam(), 7);
  EXPECT_EQ(p.run(), p.reference());
}

TEST_P(Int8DepthwiseKernel, ExtremeProductsStayExact) {
  S8Problem p(GetParam(), 8, /*extreme=*/true);
  EXPECT_EQ(p.run(), p.reference());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8DepthwiseKernel,
    ::testing::Values(
        S8Case{1, 16, 1, 114, 114, 3, 3, 1, 1, 1, 1},
        S8Case{1, 24, 1, 57, 57, 3, 3, 2, 2, 1, 1},
        S8Case{2, 8, 2, 16, 18, 3, 3, 1, 1, 1, 1},
        S8Case{1, 40, 1, 18, 18, 5, 5, 1, 1, 1, 1},
        S8Case{1, 12, 1, 20, 20, 5, 5, 2, 2, 1, 1},
        S8Case{1, 6, 1, 19, 23, 3, 3, 1, 1, 2, 2},
        S8Case{1, 5, 3, 13, 13, 7, 7, 1, 2, 1, 1},
        S8Case{1, 3, 1, 3, 3, 3, 3, 1, 1, 1, 1},
        S8Case{3, 200, 1, 9, 9, 3, 3, 1, 1, 1, 1},
        // Implicit padding with a zero point.
        S8Case{1, 16, 1, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, -28},
        S8Case{1, 24, 1, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 127},
        S8Case{1, 8, 1, 14, 14, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, -128},
        S8Case{2, 6, 2, 13, 11, 3, 3, 1, 2, 2, 1, 0, 1, 2, 0, 5},
        S8Case{1, 4, 1, 7, 7, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 100},
        S8Case{1, 3, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, -3}));

/// 22 x 22 = 484 taps (exact in f32) and 23 x 23 (the integer path),
/// padded with 127 around inputs of -128: every product (x - 127) · w of
/// the f32 path at its largest.
TEST(Int8DepthwiseKernel, WideWindows) {
  for (int64_t k : {22, 23}) {
    S8Case c{1, 2, 1, k + 3, k + 2, k, k, 1, 1, 1, 1, 2, 2, 2, 2, 127};
    S8Problem p(c, 9, /*extreme=*/true);
    EXPECT_EQ(p.run(), p.reference()) << k << "x" << k;
    S8Problem r(c, 10);
    EXPECT_EQ(r.run(), r.reference()) << k << "x" << k;
  }
}

/// A strided input view (every other column of a wider buffer) and an
/// output with a channel stride larger than the plane.
TEST(Int8DepthwiseKernel, StridedViews) {
  const int64_t g = 4, h = 10, w = 12, oh = 8, ow = 10;
  std::mt19937 gen(3);
  std::uniform_int_distribution<int> v(-128, 127);
  std::vector<int8_t> x(size_t(g * h * w * 2)), f(size_t(g * 9));
  for (int8_t &e : x)
    e = int8_t(v(gen));
  for (int8_t &e : f)
    e = int8_t(v(gen));
  std::vector<int32_t> out(size_t(g * (oh * ow + 5)), 7);
  qopt_kernel_conv2d_depthwise_s8(1, g, 1, h, w, 0, 0, 0, 3, 3, oh, ow, 1, 1, 1,
                                  1, addr(x.data()), 0, h * w * 2, w * 2, 2,
                                  addr(f.data()), 9, 9, 3, 1, addr(out.data()),
                                  0, oh * ow + 5, oh * ow, ow, 1);
  for (int64_t gi = 0; gi < g; ++gi)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t xx = 0; xx < ow; ++xx) {
        int32_t sum = 7;
        for (int64_t ky = 0; ky < 3; ++ky)
          for (int64_t kx = 0; kx < 3; ++kx)
            sum += int32_t(x[size_t(gi * h * w * 2 + (y + ky) * w * 2 +
                                    (xx + kx) * 2)]) *
                   f[size_t(gi * 9 + ky * 3 + kx)];
        ASSERT_EQ(out[size_t(gi * (oh * ow + 5) + y * ow + xx)], sum)
            << gi << " " << y << " " << xx;
      }
  // The padding between channel planes is untouched.
  for (int64_t gi = 0; gi < g; ++gi)
    for (int64_t e = oh * ow; e < oh * ow + 5; ++e)
      EXPECT_EQ(out[size_t(gi * (oh * ow + 5) + e)], 7);
}

} // namespace
