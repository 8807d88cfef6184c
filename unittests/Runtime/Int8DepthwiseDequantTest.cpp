//===- Int8DepthwiseDequantTest.cpp - int8 depthwise, fused epilogue ------===//
//
// qopt_kernel_conv2d_depthwise_s8_dequant (DepthwiseKernels.cpp) against
// the loop it replaces, written here as the generated code computes it:
// the exact i32 sums (qopt_kernel_conv2d_depthwise_s8, itself tested
// against an integer reference in Int8DepthwiseKernelsTest.cpp), then per
// element bias[f] + f32(sum - corr[f]) * scale[f] (a product, then a sum),
// the activation, and qopt.quantize's lowering to int8 (NaN -> zp, else
// clamp(roundeven(v / s), lo, hi) + zp). None, Relu and Clip are what the
// loop computes, so the results must be equal; HardSwish is compared with
// the kernels' form (x * clamp(fma(x, 1/6, 0.5), 0, 1), the float depthwise
// epilogue's) exactly and with the loop's (x / 6 + 0.5) within its rounding.
// Cases: the correction equal to the padding's (zero point · Σ w, the
// usual) and not, a bias vector and a constant, f32 and int8 outputs,
// strided outputs, and windows past the 512 taps of the f32 path.
// kernel-variants.test runs the suite (DepthwiseKernel in its name) with
// each ISA.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

extern "C" void qopt_kernel_conv2d_depthwise_s8(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
extern "C" void qopt_kernel_conv2d_depthwise_s8_dequant(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

namespace {

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }
int64_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return int64_t(u);
}

enum Act { None = 0, Relu = 1, Clip = 2, HardSwish = 5 };

struct Case {
  int64_t g, mult, h, w, k, s, pad, padValue;
  Act act;
  bool toInt8, corrIsPadding, biasVector;
  int64_t outGap = 0; // extra elements after each output row (a view)
};

struct Problem {
  Case c;
  int64_t oh, ow, f;
  std::vector<int8_t> x, wt;
  std::vector<int32_t> corr;
  std::vector<float> scale, bias;
  float biasValue = 0.375f, qScale = 0.04f, qLo = -131, qHi = 124, qZp = 3;

  explicit Problem(const Case &c) : c(c) {
    oh = (c.h + 2 * c.pad - c.k) / c.s + 1;
    ow = (c.w + 2 * c.pad - c.k) / c.s + 1;
    f = c.g * c.mult;
    std::mt19937 gen(unsigned(c.g * 31 + c.k));
    std::uniform_int_distribution<int> v(-128, 127);
    std::uniform_real_distribution<float> u(-1, 1);
    x.resize(size_t(c.g * c.h * c.w));
    wt.resize(size_t(f * c.k * c.k));
    for (int8_t &e : x)
      e = int8_t(v(gen));
    for (int8_t &e : wt)
      e = int8_t(v(gen));
    for (int64_t o = 0; o < f; ++o) {
      int32_t sum = 0;
      for (int64_t t = 0; t < c.k * c.k; ++t)
        sum += wt[size_t(o * c.k * c.k + t)];
      corr.push_back(c.corrIsPadding ? int32_t(c.padValue) * sum
                                     : int32_t(v(gen)) * 977);
      // Scales that put the values around the int8 range.
      scale.push_back(std::abs(u(gen)) * 2e-4f + 1e-5f);
      bias.push_back(u(gen));
    }
  }

  int64_t rowStride() const { return ow + c.outGap; }
  int64_t planeStride() const { return oh * rowStride(); }

  std::vector<int32_t> sums() const {
    std::vector<int32_t> o(size_t(f * oh * ow), 0);
    qopt_kernel_conv2d_depthwise_s8(
        1, c.g, c.mult, c.h, c.w, c.pad, c.pad, c.padValue, c.k, c.k, oh, ow,
        c.s, c.s, 1, 1, addr(x.data()), c.g * c.h * c.w, c.h * c.w, c.w, 1,
        addr(wt.data()), c.mult * c.k * c.k, c.k * c.k, c.k, 1, addr(o.data()),
        f * oh * ow, c.mult * oh * ow, oh * ow, ow, 1);
    return o;
  }

  /// The dequantized, activated value of output channel o from sum s;
  /// `loopForm`: HardSwish as the generated loop computes it.
  float value(int64_t o, int32_t s, bool loopForm) const {
    int32_t centered = int32_t(uint32_t(s) - uint32_t(corr[size_t(o)]));
    float prod = float(centered) * scale[size_t(o)];
    float v = (c.biasVector ? bias[size_t(o)] : biasValue) + prod;
    switch (c.act) {
    case Relu:
      return v > 0.0f ? v : 0.0f;
    case Clip: {
      float t = v < -0.5f ? -0.5f : v;
      return t > 2.0f ? 2.0f : t;
    }
    case HardSwish: {
      float gate = loopForm ? v / 6.0f + 0.5f : std::fma(v, 1.0f / 6.0f, 0.5f);
      gate = gate < 0.0f ? 0.0f : gate;
      gate = gate > 1.0f ? 1.0f : gate;
      return v * gate;
    }
    default:
      return v;
    }
  }

  int8_t quantize(float v) const {
    if (v != v)
      return int8_t(qZp);
    float t = std::nearbyint(v / qScale);
    t = t < qLo ? qLo : t;
    t = t > qHi ? qHi : t;
    return int8_t(int(t + qZp));
  }

  /// Runs the kernel into `out` (f32 or int8 elements, by c.toInt8).
  void run(void *out) const {
    float alpha = c.act == Clip ? -0.5f : 1.0f / 6.0f;
    float beta = c.act == Clip ? 2.0f : 0.5f;
    int64_t q = c.toInt8;
    qopt_kernel_conv2d_depthwise_s8_dequant(
        1, c.g, c.mult, c.h, c.w, c.pad, c.pad, c.padValue, c.k, c.k, oh, ow,
        c.s, c.s, 1, 1, addr(x.data()), c.g * c.h * c.w, c.h * c.w, c.w, 1,
        addr(wt.data()), c.mult * c.k * c.k, c.k * c.k, c.k, 1, addr(out),
        f * planeStride(), planeStride(), rowStride(), 1, addr(corr.data()), 1,
        addr(scale.data()), 1, c.biasVector ? addr(bias.data()) : 0,
        c.biasVector ? 1 : 0, bits(biasValue), int64_t(c.act), bits(alpha),
        bits(beta), q, q ? bits(qScale) : 0, q ? bits(qLo) : 0,
        q ? bits(qHi) : 0, q ? bits(qZp) : 0);
  }
};

class Int8DepthwiseKernelDequant : public ::testing::TestWithParam<Case> {};

TEST_P(Int8DepthwiseKernelDequant, EqualsTheLoop) {
  const Problem p(GetParam());
  const Case &c = p.c;
  const std::vector<int32_t> sums = p.sums();
  const int64_t n = p.f * p.planeStride();
  std::vector<float> outF(size_t(n), -7.0f);
  std::vector<int8_t> outQ(size_t(n), int8_t(77));
  if (c.toInt8)
    p.run(outQ.data());
  else
    p.run(outF.data());
  int64_t checked = 0, distinct = 0;
  for (int64_t o = 0; o < p.f; ++o)
    for (int64_t y = 0; y < p.oh; ++y) {
      for (int64_t xx = 0; xx < p.ow; ++xx) {
        const int32_t s = sums[size_t((o * p.oh + y) * p.ow + xx)];
        const int64_t at = o * p.planeStride() + y * p.rowStride() + xx;
        const float want = p.value(o, s, /*loopForm=*/false);
        if (c.toInt8) {
          ASSERT_EQ(outQ[size_t(at)], p.quantize(want))
              << o << " " << y << " " << xx;
          distinct += p.quantize(want) != p.quantize(p.value(o, s, true));
        } else {
          ASSERT_EQ(bits(outF[size_t(at)]), bits(want))
              << o << " " << y << " " << xx << ": " << outF[size_t(at)]
              << " vs " << want;
          const float loop = p.value(o, s, /*loopForm=*/true);
          // The loop's HardSwish gate (x / 6 + 0.5) differs from the
          // fused one in its last bit (6e-8 at most, times |x| < 3 where
          // the gate is not 0 or 1).
          ASSERT_LE(std::abs(outF[size_t(at)] - loop),
                    2e-7f + 2e-7f * std::abs(loop))
              << o << " " << y << " " << xx;
        }
        ++checked;
      }
      // What lies between the rows of a view is not written.
      for (int64_t e = p.ow; e < p.rowStride(); ++e) {
        const int64_t at = o * p.planeStride() + y * p.rowStride() + e;
        if (c.toInt8)
          ASSERT_EQ(outQ[size_t(at)], int8_t(77));
        else
          ASSERT_EQ(outF[size_t(at)], -7.0f);
      }
    }
  EXPECT_EQ(checked, p.f * p.oh * p.ow);
  // None, Relu and Clip are the loop's own: no int8 value differs.
  if (c.act != HardSwish)
    EXPECT_EQ(distinct, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8DepthwiseKernelDequant,
    ::testing::Values(
        // MobileNet-like: 3x3 and 5x5, strides 1 and 2, zero-point padding.
        Case{16, 1, 28, 28, 3, 1, 1, -28, HardSwish, true, true, true},
        Case{24, 1, 29, 29, 3, 2, 1, 5, HardSwish, false, true, true},
        Case{40, 1, 14, 14, 5, 1, 2, 100, Relu, true, true, true},
        Case{12, 1, 15, 17, 5, 2, 2, -128, None, false, true, false},
        Case{8, 2, 9, 11, 3, 1, 1, 0, Clip, true, false, true},
        Case{6, 1, 7, 7, 3, 1, 1, 17, None, true, false, false},
        Case{5, 1, 20, 19, 3, 1, 1, 1, Relu, false, false, true, 3},
        Case{7, 1, 12, 12, 3, 2, 1, -3, HardSwish, true, true, true, 5},
        // 23 x 23 = 529 taps: the i32 path of wide windows.
        Case{2, 1, 26, 25, 23, 1, 2, 127, Relu, true, true, true},
        Case{2, 1, 26, 25, 23, 1, 2, -9, HardSwish, false, false, false}));

} // namespace
