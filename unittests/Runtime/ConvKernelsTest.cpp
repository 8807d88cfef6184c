//===- ConvKernelsTest.cpp - direct / packed f32 convs and epilogues
//-------===//
//
// qopt_kernel_conv2d_nchw_f32_fused (ConvKernels.cpp) against a double
// precision reference over odd sizes, strides, dilations, paddings already
// in the input (strided views), output strides and every epilogue; each
// case through the direct kernel and through the GEMM path ($QOPT_CONV).
// kernel-variants.test runs them with each microkernel ISA.
//
//===----------------------------------------------------------------------===//

#include "Conv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
void qopt_kernel_conv2d_nchw_f32_fused(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
void qopt_kernel_conv2d_grouped_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t,
                                    int64_t);
void qopt_kernel_conv2d_nchw_s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t);
}

namespace {

using qopt::rt::ConvAct;

struct ConvCase {
  int64_t n, c, h, w, f, kh, kw, sh, sw, dh, dw;
  /// Extra elements at the end of each input row and output row (strided
  /// views into larger buffers), and the output's column stride.
  int64_t inRowPad, outRowPad, outColStride;
};

std::ostream &operator<<(std::ostream &os, const ConvCase &c) {
  return os << c.n << "x" << c.c << "x" << c.h << "x" << c.w << " f" << c.f
            << " k" << c.kh << "x" << c.kw << " s" << c.sh << "," << c.sw
            << " d" << c.dh << "," << c.dw << " pads " << c.inRowPad << ","
            << c.outRowPad << " ocs " << c.outColStride;
}

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }

int64_t floatBits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return int64_t(u);
}

double activation(ConvAct act, double v, double alpha, double beta) {
  switch (act) {
  case ConvAct::None:
    return v;
  case ConvAct::Relu:
    return v > 0 ? v : 0;
  case ConvAct::Clip:
    return std::min(std::max(v, alpha), beta);
  case ConvAct::LeakyRelu:
    return v < 0 ? alpha * v : v;
  case ConvAct::Sigmoid:
    return 1 / (1 + std::exp(-v));
  case ConvAct::HardSwish:
    return v * std::min(std::max(alpha * v + beta, 0.0), 1.0);
  case ConvAct::SiLU:
    return v / (1 + std::exp(-v));
  case ConvAct::GeluErf:
    return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
  case ConvAct::GeluTanh:
    return 0.5 * v *
           (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  return v;
}

struct Epi {
  bool accumulate, bias, residual;
  ConvAct act;
  float alpha, beta;
};

/// Runs one case with one epilogue; `path` is $QOPT_CONV ("" = default).
void runCase(const ConvCase &cc, const Epi &e, const char *path) {
  const int64_t oh = (cc.h - cc.dh * (cc.kh - 1) - 1) / cc.sh + 1;
  const int64_t ow = (cc.w - cc.dw * (cc.kw - 1) - 1) / cc.sw + 1;
  ASSERT_GT(oh, 0);
  ASSERT_GT(ow, 0);
  std::mt19937 rng(uint32_t(cc.c * 131 + cc.f * 7 + cc.kh));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto fill = [&](std::vector<float> &v) {
    for (float &x : v)
      x = dist(rng);
  };
  // Input rows of w + inRowPad elements (the pad holds garbage: NaN).
  const int64_t inH = cc.w + cc.inRowPad, inC = cc.h * inH, inN = cc.c * inC;
  std::vector<float> in(size_t(cc.n * inN));
  fill(in);
  for (int64_t i = 0; i < cc.n * cc.c * cc.h; ++i)
    for (int64_t j = cc.w; j < inH; ++j)
      in[size_t(i * inH + j)] = std::nanf("");
  std::vector<float> filter(size_t(cc.f * cc.c * cc.kh * cc.kw));
  fill(filter);
  std::vector<float> bias(size_t(cc.f * 2));
  fill(bias);
  const int64_t outW = cc.outColStride, outH = ow * outW + cc.outRowPad,
                outF = oh * outH, outN = cc.f * outF;
  std::vector<float> out(size_t(cc.n * outN)), res(size_t(cc.n * outN));
  fill(out);
  fill(res);
  std::vector<float> before = out;
  setenv("QOPT_CONV", path, 1);
  qopt_kernel_conv2d_nchw_f32_fused(
      cc.n, cc.c, cc.h, cc.w, cc.f, cc.kh, cc.kw, oh, ow, cc.sh, cc.sw, cc.dh,
      cc.dw, addr(in.data()), inN, inC, inH, 1, addr(filter.data()),
      cc.c * cc.kh * cc.kw, cc.kh * cc.kw, cc.kw, 1, addr(out.data()), outN,
      outF, outH, outW, e.bias ? addr(bias.data()) : 0, 2, int64_t(e.act),
      floatBits(e.alpha), floatBits(e.beta), e.residual ? addr(res.data()) : 0,
      outN, outF, outH, outW, e.accumulate);
  unsetenv("QOPT_CONV");
  for (int64_t b = 0; b < cc.n; ++b)
    for (int64_t o = 0; o < cc.f; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double s = 0;
          for (int64_t ci = 0; ci < cc.c; ++ci)
            for (int64_t y = 0; y < cc.kh; ++y)
              for (int64_t x = 0; x < cc.kw; ++x)
                s += double(in[size_t(b * inN + ci * inC +
                                      (i * cc.sh + y * cc.dh) * inH +
                                      j * cc.sw + x * cc.dw)]) *
                     filter[size_t(((o * cc.c + ci) * cc.kh + y) * cc.kw + x)];
          size_t at = size_t(b * outN + o * outF + i * outH + j * outW);
          if (e.accumulate)
            s += before[at];
          if (e.bias)
            s += bias[size_t(o * 2)];
          if (e.residual)
            s += res[at];
          double want = activation(e.act, s, e.alpha, e.beta);
          ASSERT_NEAR(out[at], want, 1e-4 * (1 + std::abs(want)))
              << cc << " path '" << path << "' act " << int(e.act) << " at n"
              << b << " f" << o << " y" << i << " x" << j;
        }
  // Elements between the output's pixels are untouched.
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t inImage = int64_t(i) % outF, col = inImage % outH;
    if (col >= ow * outW || col % outW != 0)
      ASSERT_EQ(out[i], before[i]) << cc << " wrote outside, at " << i;
  }
}

class ConvKernelShapes : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvKernelShapes, MatchesDoubleReferenceOnBothPaths) {
  for (const char *path : {"", "gemm"}) {
    runCase(GetParam(), {true, false, false, ConvAct::None, 0, 0}, path);
    runCase(GetParam(), {false, true, true, ConvAct::Relu, 0, 0}, path);
  }
}

TEST_P(ConvKernelShapes, AppliesEveryActivation) {
  const Epi epis[] = {{false, true, false, ConvAct::Clip, -0.5f, 1.5f},
                      {false, true, true, ConvAct::LeakyRelu, 0.1f, 0},
                      {true, false, true, ConvAct::Sigmoid, 0, 0},
                      {false, true, false, ConvAct::HardSwish, 1 / 6.0f, 0.5f},
                      {false, true, true, ConvAct::SiLU, 0, 0}};
  for (const Epi &e : epis)
    runCase(GetParam(), e, "");
}

INSTANTIATE_TEST_SUITE_P(
    Odd, ConvKernelShapes,
    ::testing::Values(
        // n, c, h, w, f, kh, kw, sh, sw, dh, dw, inRowPad, outRowPad, ocs
        ConvCase{1, 16, 20, 20, 16, 1, 1, 1, 1, 1, 1, 0, 0, 1},  // 1x1
        ConvCase{2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 0, 0, 1},     // odd f
        ConvCase{1, 8, 9, 9, 20, 3, 3, 1, 1, 1, 1, 0, 0, 1},     // 7x7 flat
        ConvCase{1, 8, 9, 9, 20, 3, 3, 1, 1, 1, 1, 5, 3, 1},     // strided
        ConvCase{1, 4, 17, 33, 9, 3, 3, 2, 1, 1, 1, 0, 0, 1},    // sh 2
        ConvCase{1, 3, 15, 15, 10, 3, 3, 2, 2, 1, 1, 0, 0, 1},   // sw 2
        ConvCase{1, 5, 13, 14, 7, 3, 2, 1, 1, 2, 3, 0, 0, 1},    // dilated
        ConvCase{1, 2, 5, 70, 3, 1, 3, 1, 1, 1, 1, 0, 0, 1},     // ow 68
        ConvCase{1, 40, 6, 6, 17, 3, 3, 1, 1, 1, 1, 0, 0, 1},    // K 360
        ConvCase{2, 6, 1, 40, 1, 1, 5, 1, 1, 1, 1, 0, 0, 1},     // 1-D, f 1
        ConvCase{1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 2, 0, 2},      // out cs 2
        ConvCase{1, 7, 12, 12, 33, 5, 5, 1, 1, 1, 1, 0, 0, 1},   // 5x5
        ConvCase{1, 5, 13, 21, 6, 3, 3, 2, 2, 2, 3, 1, 0, 1},    // s2 d3
        ConvCase{2, 9, 11, 40, 12, 5, 3, 2, 3, 1, 1, 0, 2, 1})); // sw 3

/// The int8 kernel (direct VNNI path where the CPU has it, the GEMM path
/// with QOPT_CONV=gemm) against exact integer loops, same cases.
void runInt8Case(const ConvCase &cc, const char *path) {
  const int64_t oh = (cc.h - cc.dh * (cc.kh - 1) - 1) / cc.sh + 1;
  const int64_t ow = (cc.w - cc.dw * (cc.kw - 1) - 1) / cc.sw + 1;
  std::mt19937 rng(uint32_t(cc.c * 17 + cc.f));
  std::uniform_int_distribution<int> byte(-128, 127), small(-1000, 1000);
  const int64_t inH = cc.w + cc.inRowPad, inC = cc.h * inH, inN = cc.c * inC;
  std::vector<int8_t> in(size_t(cc.n * inN));
  for (int8_t &v : in)
    v = int8_t(byte(rng));
  std::vector<int8_t> filter(size_t(cc.f * cc.c * cc.kh * cc.kw));
  for (int8_t &v : filter)
    v = int8_t(byte(rng));
  const int64_t outW = cc.outColStride, outH = ow * outW + cc.outRowPad,
                outF = oh * outH, outN = cc.f * outF;
  std::vector<int32_t> out(size_t(cc.n * outN));
  for (int32_t &v : out)
    v = small(rng);
  std::vector<int32_t> before = out;
  setenv("QOPT_CONV", path, 1);
  qopt_kernel_conv2d_nchw_s8(cc.n, cc.c, cc.h, cc.w, cc.f, cc.kh, cc.kw, oh, ow,
                             cc.sh, cc.sw, cc.dh, cc.dw, addr(in.data()), inN,
                             inC, inH, 1, addr(filter.data()),
                             cc.c * cc.kh * cc.kw, cc.kh * cc.kw, cc.kw, 1,
                             addr(out.data()), outN, outF, outH, outW);
  unsetenv("QOPT_CONV");
  std::vector<int32_t> want = before;
  for (int64_t b = 0; b < cc.n; ++b)
    for (int64_t o = 0; o < cc.f; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int64_t s = 0;
          for (int64_t ci = 0; ci < cc.c; ++ci)
            for (int64_t y = 0; y < cc.kh; ++y)
              for (int64_t x = 0; x < cc.kw; ++x)
                s += int64_t(in[size_t(b * inN + ci * inC +
                                       (i * cc.sh + y * cc.dh) * inH +
                                       j * cc.sw + x * cc.dw)]) *
                     filter[size_t(((o * cc.c + ci) * cc.kh + y) * cc.kw + x)];
          want[size_t(b * outN + o * outF + i * outH + j * outW)] += int32_t(s);
        }
  ASSERT_EQ(out, want) << cc << " path '" << path << "'";
}

TEST_P(ConvKernelShapes, Int8MatchesIntegerLoopsOnBothPaths) {
  for (const char *path : {"", "gemm"})
    runInt8Case(GetParam(), path);
}

/// Grouped and depthwise convolutions (x [N, G, C, H, W], w [G, F, C, KH,
/// KW]) against a double-precision reference, on both paths.
TEST(ConvKernelGrouped, MatchesDoubleReference) {
  struct G {
    int64_t n, g, c, f, h, w, kh, kw, sh, sw, dh, dw;
  };
  for (G t : {G{2, 16, 1, 1, 23, 37, 3, 3, 1, 1, 1, 1},
              G{1, 8, 1, 1, 20, 21, 5, 5, 2, 2, 1, 1},
              G{1, 6, 1, 2, 15, 15, 3, 3, 1, 1, 2, 2},
              G{2, 4, 4, 3, 11, 13, 3, 3, 1, 2, 1, 1}})
    for (const char *path : {"", "gemm"}) {
      const int64_t oh = (t.h - t.dh * (t.kh - 1) - 1) / t.sh + 1;
      const int64_t ow = (t.w - t.dw * (t.kw - 1) - 1) / t.sw + 1;
      std::mt19937 rng(uint32_t(t.g * 7 + t.kh));
      std::normal_distribution<float> dist(0.0f, 1.0f);
      std::vector<float> in(size_t(t.n * t.g * t.c * t.h * t.w)),
          filter(size_t(t.g * t.f * t.c * t.kh * t.kw)),
          out(size_t(t.n * t.g * t.f * oh * ow));
      for (auto *v : {&in, &filter, &out})
        for (float &x : *v)
          x = dist(rng);
      std::vector<float> before = out;
      const int64_t inC = t.h * t.w, inG = t.c * inC, inN = t.g * inG;
      const int64_t fC = t.kh * t.kw, fF = t.c * fC, fG = t.f * fF;
      const int64_t outF = oh * ow, outG = t.f * outF, outN = t.g * outG;
      setenv("QOPT_CONV", path, 1);
      qopt_kernel_conv2d_grouped_f32(
          t.n, t.g, t.c, t.f, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw,
          addr(in.data()), inN, inG, inC, t.w, 1, addr(filter.data()), fG, fF,
          fC, t.kw, 1, addr(out.data()), outN, outG, outF, ow, 1);
      unsetenv("QOPT_CONV");
      for (int64_t b = 0; b < t.n; ++b)
        for (int64_t gi = 0; gi < t.g; ++gi)
          for (int64_t o = 0; o < t.f; ++o)
            for (int64_t i = 0; i < oh; ++i)
              for (int64_t j = 0; j < ow; ++j) {
                double s = 0;
                for (int64_t ci = 0; ci < t.c; ++ci)
                  for (int64_t y = 0; y < t.kh; ++y)
                    for (int64_t x = 0; x < t.kw; ++x)
                      s += double(in[size_t(b * inN + gi * inG + ci * inC +
                                            (i * t.sh + y * t.dh) * t.w +
                                            j * t.sw + x * t.dw)]) *
                           filter[size_t(gi * fG + o * fF + ci * fC + y * t.kw +
                                         x)];
                size_t at =
                    size_t(b * outN + gi * outG + o * outF + i * ow + j);
                double want = s + before[at];
                ASSERT_NEAR(out[at], want, 1e-4 * (1 + std::abs(want)))
                    << "g" << t.g << " path '" << path << "' at " << at;
              }
    }
}

} // namespace
