//===- DepthwiseKernelsTest.cpp - depthwise convs and vector math ---------===//
//
// qopt_kernel_conv2d_depthwise_f32 (DepthwiseKernels.cpp) against a
// double-precision reference: 3x3 and 5x5 windows, strides 1 and 2,
// asymmetric and no padding, dilation 2, channel multipliers, 1x1 to
// 112x112 maps, strided input / output views, every epilogue. And Simd.h's
// exp / sigmoid / tanh / erf / GELU of each ISA against double precision on
// dense grids, asserting the error bounds Simd.h documents.
// kernel-variants.test runs the kernel tests with each ISA.
//
//===----------------------------------------------------------------------===//

#include "Conv.h"
#include "Simd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

extern "C" {
void qopt_kernel_conv2d_depthwise_f32(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t);
}

namespace {

using qopt::rt::ConvAct;

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

struct DwCase {
  int64_t n, g, mult, h, w, padT, padB, padL, padR, kh, kw, sh, sw, dh, dw;
  int64_t inColStride, outColStride;
};

std::ostream &operator<<(std::ostream &os, const DwCase &c) {
  return os << c.n << "x" << c.g << "x" << c.h << "x" << c.w << " mult "
            << c.mult << " pads " << c.padT << "," << c.padB << "," << c.padL
            << "," << c.padR << " k" << c.kh << "x" << c.kw << " s" << c.sh
            << "," << c.sw << " d" << c.dh << "," << c.dw << " col strides "
            << c.inColStride << "," << c.outColStride;
}

struct Epi {
  bool accumulate, bias, residual;
  ConvAct act;
  float alpha, beta;
};

void runCase(const DwCase &c, const Epi &e) {
  const int64_t hp = c.h + c.padT + c.padB, wp = c.w + c.padL + c.padR;
  const int64_t oh = (hp - c.dh * (c.kh - 1) - 1) / c.sh + 1;
  const int64_t ow = (wp - c.dw * (c.kw - 1) - 1) / c.sw + 1;
  ASSERT_GT(oh, 0);
  ASSERT_GT(ow, 0);
  std::mt19937 rng(uint32_t(c.g * 31 + c.h * 7 + c.kh));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto fill = [&](std::vector<float> &v) {
    for (float &x : v)
      x = dist(rng);
  };
  // Input [N, G, h, w] with column stride inColStride (NaN between).
  const int64_t inW = c.inColStride, inH = c.w * inW + 1, inG = c.h * inH,
                inN = c.g * inG;
  std::vector<float> in(size_t(c.n * inN), std::nanf(""));
  for (int64_t i = 0; i < c.n * c.g * c.h; ++i)
    for (int64_t x = 0; x < c.w; ++x)
      in[size_t(i * inH + x * inW)] = dist(rng);
  const int64_t f = c.g * c.mult;
  std::vector<float> filter(size_t(f * c.kh * c.kw));
  fill(filter);
  std::vector<float> bias(size_t(f * 3));
  fill(bias);
  const int64_t outW = c.outColStride, outH = ow * outW + 2, outF = oh * outH,
                outN = f * outF;
  std::vector<float> out(size_t(c.n * outN)), res(size_t(c.n * outN));
  fill(out);
  fill(res);
  std::vector<float> before = out;
  qopt_kernel_conv2d_depthwise_f32(
      c.n, c.g, c.mult, c.h, c.w, c.padT, c.padL, c.kh, c.kw, oh, ow, c.sh,
      c.sw, c.dh, c.dw, addr(in.data()), inN, inG, inH, inW,
      addr(filter.data()), c.mult * c.kh * c.kw, c.kh * c.kw, c.kw, 1,
      addr(out.data()), outN, c.mult * outF, outF, outH, outW,
      e.bias ? addr(bias.data()) : 0, 3, int64_t(e.act), floatBits(e.alpha),
      floatBits(e.beta), e.residual ? addr(res.data()) : 0, outN, outF, outH,
      outW, e.accumulate);
  for (int64_t b = 0; b < c.n; ++b)
    for (int64_t o = 0; o < f; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double s = 0;
          const int64_t gi = o / c.mult;
          for (int64_t y = 0; y < c.kh; ++y)
            for (int64_t x = 0; x < c.kw; ++x) {
              int64_t sy = i * c.sh + y * c.dh - c.padT,
                      sx = j * c.sw + x * c.dw - c.padL;
              if (sy < 0 || sy >= c.h || sx < 0 || sx >= c.w)
                continue;
              s +=
                  double(in[size_t(b * inN + gi * inG + sy * inH + sx * inW)]) *
                  filter[size_t((o * c.kh + y) * c.kw + x)];
            }
          size_t at = size_t(b * outN + o * outF + i * outH + j * outW);
          if (e.accumulate)
            s += before[at];
          if (e.bias)
            s += bias[size_t(o * 3)];
          if (e.residual)
            s += res[at];
          double want = activation(e.act, s, e.alpha, e.beta);
          ASSERT_NEAR(out[at], want, 2e-5 * (1 + std::abs(want)))
              << c << " act " << int(e.act) << " at n" << b << " f" << o << " y"
              << i << " x" << j;
        }
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t col = (int64_t(i) % outF) % outH;
    if (col >= ow * outW || col % outW != 0)
      ASSERT_EQ(out[i], before[i]) << c << " wrote outside, at " << i;
  }
}

class DepthwiseKernelShapes : public ::testing::TestWithParam<DwCase> {};

TEST_P(DepthwiseKernelShapes, MatchesDoubleReference) {
  runCase(GetParam(), {false, true, false, ConvAct::None, 0, 0});
  runCase(GetParam(), {true, false, false, ConvAct::None, 0, 0});
  runCase(GetParam(), {false, true, true, ConvAct::Relu, 0, 0});
}

TEST_P(DepthwiseKernelShapes, AppliesEveryActivation) {
  const std::pair<ConvAct, std::pair<float, float>> acts[] = {
      {ConvAct::Clip, {0.0f, 6.0f}}, {ConvAct::LeakyRelu, {0.1f, 0}},
      {ConvAct::Sigmoid, {0, 0}},    {ConvAct::HardSwish, {1 / 6.0f, 0.5f}},
      {ConvAct::SiLU, {0, 0}},       {ConvAct::GeluErf, {0, 0}},
      {ConvAct::GeluTanh, {0, 0}}};
  for (auto [act, ab] : acts)
    runCase(GetParam(), {false, true, false, act, ab.first, ab.second});
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DepthwiseKernelShapes,
    ::testing::Values(
        // MobileNet: 3x3 pad 1, stride 1 and 2, narrow and wide maps.
        DwCase{1, 16, 1, 112, 112, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
        DwCase{1, 24, 1, 56, 56, 1, 1, 1, 1, 3, 3, 2, 2, 1, 1, 1, 1},
        DwCase{2, 40, 1, 7, 7, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
        DwCase{1, 33, 1, 14, 14, 1, 1, 1, 1, 3, 3, 2, 2, 1, 1, 1, 1},
        // 5x5 pad 2, stride 1 / 2, odd sizes.
        DwCase{1, 9, 1, 15, 13, 2, 2, 2, 2, 5, 5, 1, 1, 1, 1, 1, 1},
        DwCase{1, 9, 1, 15, 13, 2, 2, 2, 2, 5, 5, 2, 2, 1, 1, 1, 1},
        // Asymmetric / no padding, mixed strides, dilation, multiplier.
        DwCase{1, 5, 2, 11, 17, 0, 1, 2, 0, 3, 3, 1, 2, 1, 1, 1, 1},
        DwCase{1, 6, 1, 20, 19, 2, 2, 2, 2, 3, 3, 1, 1, 2, 2, 1, 1},
        DwCase{1, 4, 3, 9, 9, 0, 0, 0, 0, 3, 3, 2, 1, 1, 1, 1, 1},
        // 1x1 map, 7x1 window, strided input and output views.
        DwCase{1, 8, 1, 1, 1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
        DwCase{1, 3, 1, 16, 10, 3, 3, 0, 0, 7, 1, 1, 1, 1, 1, 1, 1},
        DwCase{1, 7, 1, 12, 12, 1, 1, 1, 1, 3, 3, 2, 2, 1, 1, 2, 3},
        DwCase{1, 2, 1, 200, 300, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1}));

//===----------------------------------------------------------------------===//
// Simd.h's vector math against double precision.
//===----------------------------------------------------------------------===//

struct MathErrors {
  double exp = 0, sigmoid = 0, silu = 0, tanh = 0, erfAbs = 0, erfRel = 0,
         geluErf = 0, geluTanh = 0;
};

double relErr(double got, double want) {
  return std::abs(got - want) / std::max(std::abs(want), 1e-30);
}

/// Errors of namespace NS's functions over [-lo, hi] in `steps` points.
#define QOPT_MEASURE(NS)                                                       \
  MathErrors measure_##NS() {                                                  \
    using qopt::rt::NS::V;                                                     \
    MathErrors m;                                                              \
    const int steps = 400000;                                                  \
    float x[V::L], y[V::L];                                                    \
    auto apply = [&](auto fn, double a, double b, auto ref, double &err,       \
                     bool rel, double mixed = 0) {                             \
      for (int i = 0; i < steps; i += V::L) {                                  \
        for (int l = 0; l < V::L; ++l)                                         \
          x[l] = float(a + (b - a) * double(i + l) / steps);                   \
        V::store(y, fn(V::load(x)));                                           \
        for (int l = 0; l < V::L; ++l) {                                       \
          double want = ref(double(x[l]));                                     \
          double e =                                                           \
              rel ? relErr(y[l], want)                                         \
                  : std::abs(y[l] - want) /                                    \
                        std::max(1.0, rel ? 1.0 : std::abs(want) * mixed);     \
          err = std::max(err, e);                                              \
        }                                                                      \
      }                                                                        \
    };                                                                         \
    namespace ns = qopt::rt::NS;                                               \
    apply([](V::T v) { return ns::vexp(v); }, -87, 88,                         \
          [](double v) { return std::exp(v); }, m.exp, true);                  \
    apply([](V::T v) { return ns::vsigmoid(v); }, -80, 30,                     \
          [](double v) { return 1 / (1 + std::exp(-v)); }, m.sigmoid, true);   \
    apply([](V::T v) { return ns::vact(6, 0, 0, v); }, -80, 80,                \
          [](double v) { return v / (1 + std::exp(-v)); }, m.silu, true);      \
    apply([](V::T v) { return ns::vtanh(v); }, -12, 12,                        \
          [](double v) { return std::tanh(v); }, m.tanh, true);                \
    apply([](V::T v) { return ns::verf(v); }, -7, 7,                           \
          [](double v) { return std::erf(v); }, m.erfAbs, false);              \
    apply([](V::T v) { return ns::verf(v); }, 1e-3, 7,                         \
          [](double v) { return std::erf(v); }, m.erfRel, true);               \
    apply(                                                                     \
        [](V::T v) { return ns::vact(7, 0, 0, v); }, -6, 10,                   \
        [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, \
        m.geluErf, false, 1.0);                                                \
    apply([](V::T v) { return ns::vact(8, 0, 0, v); }, -6, 10,                 \
          [](double v) {                                                       \
            return 0.5 * v *                                                   \
                   (1 + std::tanh(std::sqrt(2 / M_PI) *                        \
                                  (v + 0.044715 * v * v * v)));                \
          },                                                                   \
          m.geluTanh, false, 1.0);                                             \
    return m;                                                                  \
  }

QOPT_MEASURE(simdgen)
#if defined(__x86_64__)
QOPT_SIMD512_BEGIN
QOPT_MEASURE(simd512)
QOPT_SIMD_END
QOPT_SIMD256_BEGIN
QOPT_MEASURE(simd256)
QOPT_SIMD_END
#endif

void checkBounds(const MathErrors &m, const char *isa) {
  // The bounds Simd.h documents (GELU: |err| / max(1, |gelu|)).
  EXPECT_LE(m.exp, 3e-7) << isa;
  EXPECT_LE(m.sigmoid, 4e-7) << isa;
  EXPECT_LE(m.silu, 4e-7) << isa;
  EXPECT_LE(m.tanh, 3e-7) << isa;
  EXPECT_LE(m.erfAbs, 1e-7) << isa;
  EXPECT_LE(m.erfRel, 2e-7) << isa;
  EXPECT_LE(m.geluErf, 3e-7) << isa;
  EXPECT_LE(m.geluTanh, 4e-7) << isa;
  std::printf("%s: exp %.2g sigmoid %.2g silu %.2g tanh %.2g erf abs %.2g "
              "rel %.2g gelu(erf) abs %.2g gelu(tanh) abs %.2g\n",
              isa, m.exp, m.sigmoid, m.silu, m.tanh, m.erfAbs, m.erfRel,
              m.geluErf, m.geluTanh);
}

TEST(SimdMath, PortableWithinBounds) {
  checkBounds(measure_simdgen(), "generic");
}

#if defined(__x86_64__)
TEST(SimdMath, AVX2WithinBounds) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "no AVX2 + FMA";
  checkBounds(measure_simd256(), "avx2");
}

TEST(SimdMath, AVX512WithinBounds) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq"))
    GTEST_SKIP() << "no AVX-512";
  checkBounds(measure_simd512(), "avx512");
}
#endif

} // namespace

//===----------------------------------------------------------------------===//
// qopt_kernel_matmul_f32_fused (Kernels.cpp's GEMM with GemmEpilogue).
//===----------------------------------------------------------------------===//

extern "C" void qopt_kernel_matmul_f32_fused(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

namespace {

struct MmCase {
  int64_t b0, m, n, k;
  bool bias, residual, gated, bConstant;
};

void runMatmul(const MmCase &c, ConvAct act, float alpha, float beta) {
  std::mt19937 rng(uint32_t(c.m * 7 + c.n * 3 + c.k));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto vec = [&](int64_t size) {
    std::vector<float> v(static_cast<size_t>(size));
    for (float &x : v)
      x = dist(rng);
    return v;
  };
  // A [b0, m, k], B [k, n] shared by the batch (a weight) or [b0, n, k]
  // (transposed, per batch); C and the residual [b0, m, n] with a padded
  // row stride.
  const int64_t ldc = c.n + 3;
  std::vector<float> a = vec(c.b0 * c.m * c.k), bias = vec(c.n * 2),
                     res = vec(c.b0 * c.m * ldc), out = vec(c.b0 * c.m * ldc);
  const bool shared = c.bConstant;
  std::vector<float> b = vec(shared ? c.k * c.n : c.b0 * c.n * c.k);
  const int64_t bB0 = shared ? 0 : c.n * c.k, bK = shared ? c.n : 1,
                bN = shared ? 1 : c.k;
  std::vector<float> before = out;
  qopt_kernel_matmul_f32_fused(
      c.b0, 1, c.m, c.n, c.k, addr(a.data()), c.m * c.k, 0, c.k, 1,
      addr(b.data()), bB0, 0, bK, bN, addr(out.data()), c.m * ldc, 0, ldc, 1,
      c.bConstant, c.bias ? addr(bias.data()) : 0, 2, int64_t(act),
      floatBits(alpha), floatBits(beta), c.residual ? addr(res.data()) : 0,
      c.m * ldc, 0, ldc, 1, c.gated);
  for (int64_t i0 = 0; i0 < c.b0; ++i0)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = c.bias ? bias[size_t(j * 2)] : 0.0;
        for (int64_t p = 0; p < c.k; ++p)
          s += double(a[size_t((i0 * c.m + i) * c.k + p)]) *
               b[size_t(i0 * bB0 + p * bK + j * bN)];
        size_t at = size_t((i0 * c.m + i) * ldc + j);
        double want;
        if (c.gated)
          want = activation(act, s, alpha, beta) * res[at];
        else
          want = activation(act, s + (c.residual ? res[at] : 0.0), alpha, beta);
        ASSERT_NEAR(out[at], want, 1e-4 * (1 + std::abs(want)))
            << "b0 " << c.b0 << " m " << c.m << " n " << c.n << " k " << c.k
            << " act " << int(act) << " at " << i0 << "," << i << "," << j;
      }
  // The padding columns of C are untouched.
  for (int64_t r = 0; r < c.b0 * c.m; ++r)
    for (int64_t j = c.n; j < ldc; ++j)
      ASSERT_EQ(out[size_t(r * ldc + j)], before[size_t(r * ldc + j)]);
}

TEST(FusedMatmulKernel, EveryEpilogueMatchesDoubleReference) {
  const MmCase cases[] = {
      {1, 1, 1, 1, true, false, false, false},
      {1, 7, 33, 19, true, true, false, true},
      {2, 13, 70, 300, true, false, false, false},
      {1, 130, 300, 64, false, true, false, true},
      {1, 32, 688, 256, false, true, true, true},
      {3, 5, 17, 9, true, true, true, false},
  };
  const std::pair<ConvAct, std::pair<float, float>> acts[] = {
      {ConvAct::None, {0, 0}},        {ConvAct::Relu, {0, 0}},
      {ConvAct::Clip, {-1.0f, 2.0f}}, {ConvAct::LeakyRelu, {0.1f, 0}},
      {ConvAct::Sigmoid, {0, 0}},     {ConvAct::HardSwish, {1 / 6.0f, 0.5f}},
      {ConvAct::SiLU, {0, 0}},        {ConvAct::GeluErf, {0, 0}},
      {ConvAct::GeluTanh, {0, 0}}};
  for (const MmCase &c : cases)
    for (auto [act, ab] : acts)
      runMatmul(c, act, ab.first, ab.second);
}

} // namespace
