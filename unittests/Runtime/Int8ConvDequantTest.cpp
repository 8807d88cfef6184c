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
    int64_t, int64_t, int64_t, int64_t);
}

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
  for (int64_t constant : {0, 1, 1}) {
    std::vector<float> out(size_t(n * f * oh * rowStride),
                           std::numeric_limits<float>::quiet_NaN());
    qopt_kernel_conv2d_nchw_s8_dequant(
        n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw, addr(in.data()),
        c * h * w, h * w, w, 1, addr(filter.data()), c * kh * kw, kh * kw, kw,
        1, addr(out.data()), f * oh * rowStride, oh * rowStride, rowStride, 1,
        addr(corr.data()), 2, addr(scale.data()), 2, addr(bias.data()), 2, 0,
        constant);
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
      addr(scale.data()), 1, addr(bias.data()), 1, 0, 0);
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
        1, 0, 0, int64_t(bBits), 1);
    for (int64_t i = 0; i < f * oh * ow; ++i) {
      int64_t o = i / (oh * ow);
      volatile float prod =
          float(sums[size_t(i)] - corr[size_t(o)]) * scale[size_t(o)];
      float want = b + prod;
      ASSERT_EQ(bits(out[size_t(i)]), bits(want)) << i << " bias " << b;
    }
  }
}

} // namespace
