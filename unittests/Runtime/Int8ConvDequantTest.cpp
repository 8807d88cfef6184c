//===- Int8ConvDequantTest.cpp - int8 conv with its dequantizing epilogue -===//
//
// qopt_kernel_conv2d_nchw_s8_dequant against the plain int8 kernel followed
// by the epilogue loop qopt-fold-qdq's convolutions compile to (f32(sum -
// corr) * scale, then bias + that, each rounded once): bit for bit, on
// the direct VNNI path (unit column stride) and the scratch-buffer path
// (strided columns, or QOPT_KERNEL=avx2/generic in kernel-variants.test).
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

extern "C" {
void qopt_kernel_conv2d_nchw_s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t);
void qopt_kernel_conv2d_nchw_s8_dequant(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t);
}

namespace qopt::rt {
void clearKernelCaches();
} // namespace qopt::rt

namespace {

template <typename T> int64_t addr(const T *p) {
  return reinterpret_cast<int64_t>(p);
}

struct Case {
  int64_t n, c, h, w, f, kh, kw, sh, sw, dh, dw;
};

class Int8ConvDequantKernel : public ::testing::TestWithParam<Case> {};

uint32_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

TEST_P(Int8ConvDequantKernel, EqualsTheEpilogueLoopBitForBit) {
  auto [n, c, h, w, f, kh, kw, sh, sw, dh, dw] = GetParam();
  const int64_t oh = (h - dh * (kh - 1) - 1) / sh + 1;
  const int64_t ow = (w - dw * (kw - 1) - 1) / sw + 1;
  std::mt19937 gen(unsigned(n * 131 + c * 17 + f));
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> in(size_t(n * c * h * w)),
      filter(size_t(f * c * kh * kw));
  for (int8_t &v : in)
    v = int8_t(byte(gen));
  for (int8_t &v : filter)
    v = int8_t(byte(gen));
  // The epilogue's parameters with strides 2 (views of every other
  // element); scales of onnxruntime's size (input scale x weight scale),
  // corrections as zero point x filter row sum.
  std::uniform_real_distribution<float> sd(1e-6f, 1e-3f), bd(-2.0f, 2.0f);
  std::vector<float> scale(size_t(2 * f)), bias(size_t(2 * f));
  std::vector<int32_t> corr(size_t(2 * f));
  for (int64_t o = 0; o < f; ++o) {
    scale[size_t(2 * o)] = sd(gen);
    bias[size_t(2 * o)] = bd(gen);
    corr[size_t(2 * o)] = int32_t(byte(gen)) * 1000;
  }
  std::vector<int32_t> sums(size_t(n * f * oh * ow), 0);
  qopt_kernel_conv2d_nchw_s8(n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw,
                             addr(in.data()), c * h * w, h * w, w, 1,
                             addr(filter.data()), c * kh * kw, kh * kw, kw, 1,
                             addr(sums.data()), f * oh * ow, oh * ow, ow, 1);
  std::vector<float> ref(sums.size());
  for (size_t i = 0; i < sums.size(); ++i) {
    int64_t o = int64_t(i) / (oh * ow) % f;
    volatile float prod =
        float(sums[i] - corr[size_t(2 * o)]) * scale[size_t(2 * o)];
    ref[i] = bias[size_t(2 * o)] + prod;
  }
  // Output rows padded to ow + 3 (a view of a larger buffer), NaN-filled:
  // every element must be written, the padding left alone.
  const int64_t rowStride = ow + 3;
  // Filter rearranged per call, then as a constant twice (the second call
  // reads the cached words).
  // Earlier tests' filters may have had this address and layout.
  qopt::rt::clearKernelCaches();
  for (int64_t constant : {0, 1, 1}) {
    std::vector<float> out(size_t(n * f * oh * rowStride),
                           std::numeric_limits<float>::quiet_NaN());
    qopt_kernel_conv2d_nchw_s8_dequant(
        n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw, addr(in.data()),
        c * h * w, h * w, w, 1, addr(filter.data()), c * kh * kw, kh * kw, kw,
        1, addr(out.data()), f * oh * rowStride, oh * rowStride, rowStride, 1,
        addr(corr.data()), 2, addr(scale.data()), 2, addr(bias.data()), 2, 0,
        constant, 0, 0, 0, 0, 0);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t o = 0; o < f; ++o)
        for (int64_t y = 0; y < oh; ++y)
          for (int64_t x = 0; x < rowStride; ++x) {
            float got = out[size_t(((b * f + o) * oh + y) * rowStride + x)];
            if (x >= ow) {
              ASSERT_TRUE(std::isnan(got));
              continue;
            }
            float want = ref[size_t(((b * f + o) * oh + y) * ow + x)];
            ASSERT_EQ(bits(got), bits(want))
                << "at " << b << "," << o << "," << y << "," << x << ": " << got
                << " vs " << want << " (constant " << constant << ")";
          }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8ConvDequantKernel,
    ::testing::Values(Case{1, 3, 18, 18, 8, 3, 3, 1, 1, 1, 1},
                      Case{2, 16, 16, 16, 8, 1, 1, 1, 1, 1, 1},
                      Case{1, 32, 10, 10, 64, 3, 3, 1, 1, 1, 1},
                      Case{1, 5, 11, 13, 9, 3, 3, 2, 2, 1, 1},
                      Case{2, 3, 9, 8, 5, 3, 2, 2, 1, 1, 2},
                      Case{1, 7, 12, 40, 33, 1, 1, 1, 1, 1, 1}));

// A non-contiguous output (W stride 2): the tile's scalar store path.
TEST(Int8ConvDequantKernel, StridedOutputColumns) {
  const int64_t c = 4, h = 8, w = 8, f = 3, oh = 6, ow = 6;
  std::vector<int8_t> in(size_t(c * h * w)), filter(size_t(f * c * 9));
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = int8_t(int(i * 37 % 256) - 128);
  for (size_t i = 0; i < filter.size(); ++i)
    filter[i] = int8_t(int(i * 91 % 256) - 128);
  std::vector<float> scale{0.01f, 0.002f, 0.0003f}, bias{0.5f, -0.25f, 1.0f};
  std::vector<int32_t> corr{7, -300, 12345};
  std::vector<int32_t> sums(size_t(f * oh * ow), 0);
  qopt_kernel_conv2d_nchw_s8(1, c, h, w, f, 3, 3, oh, ow, 1, 1, 1, 1,
                             addr(in.data()), c * h * w, h * w, w, 1,
                             addr(filter.data()), c * 9, 9, 3, 1,
                             addr(sums.data()), f * oh * ow, oh * ow, ow, 1);
  std::vector<float> out(size_t(f * oh * ow * 2), -7.0f);
  qopt_kernel_conv2d_nchw_s8_dequant(
      1, c, h, w, f, 3, 3, oh, ow, 1, 1, 1, 1, addr(in.data()), c * h * w,
      h * w, w, 1, addr(filter.data()), c * 9, 9, 3, 1, addr(out.data()),
      f * oh * ow * 2, oh * ow * 2, ow * 2, 2, addr(corr.data()), 1,
      addr(scale.data()), 1, addr(bias.data()), 1, 0, 0, 0, 0, 0, 0, 0);
  for (int64_t i = 0; i < f * oh * ow; ++i) {
    int64_t o = i / (oh * ow);
    volatile float prod =
        float(sums[size_t(i)] - corr[size_t(o)]) * scale[size_t(o)];
    float want = bias[size_t(o)] + prod;
    ASSERT_EQ(bits(out[size_t(2 * i)]), bits(want)) << i;
    ASSERT_EQ(out[size_t(2 * i + 1)], -7.0f) << i;
  }
}

// No bias vector (a convolution without bias): one constant for every
// channel, passed as its f32 bits; -0.0 shows that it is added (x + -0.0
// keeps x, +0.0 would turn -0.0 sums into +0.0).
TEST(Int8ConvDequantKernel, ConstantBias) {
  const int64_t c = 8, h = 6, w = 6, f = 2, oh = 6, ow = 6;
  std::vector<int8_t> in(size_t(c * h * w)), filter(size_t(f * c));
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = int8_t(int(i * 29 % 256) - 128);
  for (size_t i = 0; i < filter.size(); ++i)
    filter[i] = int8_t(int(i * 53 % 256) - 128);
  std::vector<float> scale{0.01f, 0.5f};
  std::vector<int32_t> corr{0, 11};
  std::vector<int32_t> sums(size_t(f * oh * ow), 0);
  qopt_kernel_conv2d_nchw_s8(1, c, h, w, f, 1, 1, oh, ow, 1, 1, 1, 1,
                             addr(in.data()), c * h * w, h * w, w, 1,
                             addr(filter.data()), c, 1, 1, 1, addr(sums.data()),
                             f * oh * ow, oh * ow, ow, 1);
  for (float b : {0.25f, -0.0f}) {
    uint32_t bBits = bits(b);
    std::vector<float> out(size_t(f * oh * ow), 99.0f);
    qopt_kernel_conv2d_nchw_s8_dequant(
        1, c, h, w, f, 1, 1, oh, ow, 1, 1, 1, 1, addr(in.data()), c * h * w,
        h * w, w, 1, addr(filter.data()), c, 1, 1, 1, addr(out.data()),
        f * oh * ow, oh * ow, ow, 1, addr(corr.data()), 1, addr(scale.data()),
        1, 0, 0, int64_t(bBits), 1, 0, 0, 0, 0, 0);
    for (int64_t i = 0; i < f * oh * ow; ++i) {
      int64_t o = i / (oh * ow);
      volatile float prod =
          float(sums[size_t(i)] - corr[size_t(o)]) * scale[size_t(o)];
      float want = b + prod;
      ASSERT_EQ(bits(out[size_t(i)]), bits(want)) << i << " bias " << b;
    }
  }
}

// qopt.quantize's lowering applied to the dequantized value, as the loop
// computes it: NaN -> zp, else clamp(roundeven(v / s), lo, hi) + zp.
int8_t quantizeLikeTheLoop(float v, float s, float lo, float hi, float zp) {
  if (std::isnan(v))
    return int8_t(zp);
  volatile float t = v / s;
  float r = std::nearbyint(float(t));
  r = r < lo ? lo : r;
  r = r > hi ? hi : r;
  return int8_t(int(r + zp));
}

// Requantized to int8 in the epilogue (the next integer layer's input):
// the int8 values the quantize loop computes from the f32 ones, exactly,
// on the VNNI path (contiguous and strided output) and the scratch path
// (stride 2); the scale puts many values on half steps and past both
// bounds.
class Int8ConvRequantKernel : public ::testing::TestWithParam<Case> {};

TEST_P(Int8ConvRequantKernel, EqualsTheQuantizeLoop) {
  auto [n, c, h, w, f, kh, kw, sh, sw, dh, dw] = GetParam();
  const int64_t oh = (h - dh * (kh - 1) - 1) / sh + 1;
  const int64_t ow = (w - dw * (kw - 1) - 1) / sw + 1;
  std::mt19937 gen(unsigned(7 + c * 3 + f));
  std::uniform_int_distribution<int> byte(-128, 127);
  std::vector<int8_t> in(size_t(n * c * h * w)),
      filter(size_t(f * c * kh * kw));
  for (int8_t &v : in)
    v = int8_t(byte(gen));
  for (int8_t &v : filter)
    v = int8_t(byte(gen));
  std::vector<float> scale(static_cast<size_t>(f)),
      bias(static_cast<size_t>(f));
  std::vector<int32_t> corr(static_cast<size_t>(f));
  for (int64_t o = 0; o < f; ++o) {
    scale[size_t(o)] = 0.25f / float(1 + o % 3); // halves and thirds
    bias[size_t(o)] = float(byte(gen)) * 0.5f;
    corr[size_t(o)] = int32_t(byte(gen)) * 10;
  }
  std::vector<int32_t> sums(size_t(n * f * oh * ow), 0);
  qopt_kernel_conv2d_nchw_s8(n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw,
                             addr(in.data()), c * h * w, h * w, w, 1,
                             addr(filter.data()), c * kh * kw, kh * kw, kw, 1,
                             addr(sums.data()), f * oh * ow, oh * ow, ow, 1);
  // uint8 storage with zero point 100, shifted to int8 as IntegerConv does:
  // zp -28, bounds -128 - (-28) = -100 and 127 - (-28) = 155.
  const float s = 37.5f, lo = -100.0f, hi = 155.0f, zp = -28.0f;
  for (int64_t colStride : {1, 2}) {
    std::vector<int8_t> out(size_t(n * f * oh * ow * colStride), 77);
    qopt_kernel_conv2d_nchw_s8_dequant(
        n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw, addr(in.data()),
        c * h * w, h * w, w, 1, addr(filter.data()), c * kh * kw, kh * kw, kw,
        1, addr(out.data()), f * oh * ow * colStride, oh * ow * colStride,
        ow * colStride, colStride, addr(corr.data()), 1, addr(scale.data()), 1,
        addr(bias.data()), 1, 0, 0, 1, int64_t(bits(s)), int64_t(bits(lo)),
        int64_t(bits(hi)), int64_t(bits(zp)));
    int clamped = 0;
    for (size_t i = 0; i < sums.size(); ++i) {
      int64_t o = int64_t(i) / (oh * ow) % f;
      volatile float prod = float(sums[i] - corr[size_t(o)]) * scale[size_t(o)];
      float v = bias[size_t(o)] + prod;
      int8_t want = quantizeLikeTheLoop(v, s, lo, hi, zp);
      clamped += want == int8_t(lo + zp) || want == int8_t(int(hi + zp));
      ASSERT_EQ(int(out[i * size_t(colStride)]), int(want))
          << "at " << i << " v " << v << " stride " << colStride;
      if (colStride == 2)
        ASSERT_EQ(out[i * 2 + 1], 77);
    }
    EXPECT_GT(clamped, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8ConvRequantKernel,
    ::testing::Values(Case{1, 16, 10, 10, 24, 3, 3, 1, 1, 1, 1},
                      Case{2, 8, 16, 16, 8, 1, 1, 1, 1, 1, 1},
                      Case{1, 5, 11, 13, 9, 3, 3, 2, 2, 1, 1},
                      // One output pixel: the GEMV path (convS8Gemv).
                      Case{2, 64, 3, 3, 40, 3, 3, 1, 1, 1, 1}));

// A NaN bias makes every value NaN: the zero point, as the loop writes.
TEST(Int8ConvRequantKernel, NaNIsTheZeroPoint) {
  std::vector<int8_t> in(4 * 4 * 4, 3), filter(2 * 4, 5);
  std::vector<float> scale{0.5f, 0.5f};
  std::vector<int32_t> corr{0, 0};
  std::vector<int8_t> out(2 * 4 * 4, 0);
  float nan = std::numeric_limits<float>::quiet_NaN();
  qopt_kernel_conv2d_nchw_s8_dequant(
      1, 4, 4, 4, 2, 1, 1, 4, 4, 1, 1, 1, 1, addr(in.data()), 64, 16, 4, 1,
      addr(filter.data()), 4, 1, 1, 1, addr(out.data()), 32, 16, 4, 1,
      addr(corr.data()), 1, addr(scale.data()), 1, 0, 0, int64_t(bits(nan)), 0,
      1, int64_t(bits(1.0f)), int64_t(bits(-100.0f)), int64_t(bits(155.0f)),
      int64_t(bits(-28.0f)));
  for (int8_t v : out)
    ASSERT_EQ(int(v), -28);
}

// A constant filter is rearranged once: changed in place, the kernel still
// computes with the cached words until the caches are cleared (a model
// unloaded), then with the new values.
TEST(Int8ConvDequantKernel, ConstantFilterIsCachedUntilCleared) {
  qopt::rt::clearKernelCaches();
  std::vector<int8_t> in(4 * 4 * 4, 2), filter(4, 1);
  std::vector<float> scale{1.0f};
  std::vector<int32_t> corr{0};
  std::vector<float> out(16, 0.0f);
  auto run = [&](int64_t constant) {
    qopt_kernel_conv2d_nchw_s8_dequant(
        1, 4, 4, 4, 1, 1, 1, 4, 4, 1, 1, 1, 1, addr(in.data()), 64, 16, 4, 1,
        addr(filter.data()), 4, 1, 1, 1, addr(out.data()), 16, 16, 4, 1,
        addr(corr.data()), 1, addr(scale.data()), 1, 0, 0, 0, constant, 0, 0, 0,
        0, 0);
    return out[5];
  };
  EXPECT_EQ(run(1), 8.0f); // 4 channels x 2 x 1
  filter.assign(4, 3);
  if (std::string(qopt_kernel_isa_int8()) == "avx512vnni")
    EXPECT_EQ(run(1), 8.0f); // the direct kernel's cached words
  EXPECT_EQ(run(0), 24.0f);
  qopt::rt::clearKernelCaches();
  EXPECT_EQ(run(1), 24.0f);
}

} // namespace
