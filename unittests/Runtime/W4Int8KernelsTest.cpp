//===- W4Int8KernelsTest.cpp - int4 weights × int8 activations ------------===//
//
// qopt_kernel_matmul_w4 with int8 activations (formats 3 and 4, what a
// layer compiled with --w4-activations=int8 calls; W4Int8Kernels.cpp)
// against an integer reference written here: the activations quantized per
// block by the documented rule, exact i64 sums of code × activation, then
// the scales in double. The suite's name matches kernel-variants.test's
// *WeightOnlyMatmulKernel* filter, so the AVX2 and portable microkernels
// run too.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include "Threads.h"
#include "W4Int8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

extern "C" void qopt_kernel_matmul_w4(int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t,
                                      int64_t);

namespace {

template <typename T> int64_t addr(const T *p) {
  return reinterpret_cast<int64_t>(p);
}

struct W4Case {
  int64_t m, n, k, group;
  bool isSigned;
};

/// Drops the kernels' cached panels (keyed by the weight's address) at the
/// end of a test's scope.
struct ClearCaches {
  ~ClearCaches() { qopt::rt::clearKernelCaches(); }
};

struct W4Problem {
  W4Case p;
  int64_t groups, rowBytes;
  std::vector<float> a, scale;
  std::vector<int> q;     // weight values: int4 [-8, 7] or uint4 [0, 15]
  std::vector<int8_t> zp; // uint4
  std::vector<int8_t> stored;

  W4Problem(const W4Case &p, unsigned seed, bool integerA) : p(p) {
    std::mt19937 gen(seed);
    groups = (p.k + p.group - 1) / p.group;
    rowBytes = groups * p.group / 2;
    std::uniform_int_distribution<int> code(p.isSigned ? -8 : 0,
                                            p.isSigned ? 7 : 15);
    std::uniform_int_distribution<int> z(0, 15), act(-127, 127), pow2(-3, 2);
    std::normal_distribution<float> normal;
    q.resize(p.n * p.k);
    for (int &v : q)
      v = code(gen);
    zp.resize(p.n * groups);
    for (int8_t &v : zp)
      v = int8_t(z(gen));
    scale.resize(p.n * groups);
    for (float &s : scale)
      s = integerA ? std::ldexp(1.0f, pow2(gen))
                   : std::fabs(normal(gen)) + 0.01f;
    a.resize(p.m * p.k);
    for (float &v : a)
      v = integerA ? float(act(gen)) : normal(gen);
    if (integerA)
      // Every block's max |x| is 127: the activation scale is exactly 1.
      for (int64_t i = 0; i < p.m; ++i)
        for (int64_t g = 0; g < groups; ++g)
          a[i * p.k + g * p.group] = (g % 2) ? -127.0f : 127.0f;
    stored.assign(p.n * rowBytes, 0);
    for (int64_t j = 0; j < p.n; ++j)
      for (int64_t l = 0; l < p.k; ++l)
        stored[j * rowBytes + l / 2] |=
            int8_t((q[j * p.k + l] & 15) << (l % 2 * 4));
  }

  /// `int8`: the kernel's int8-activation formats (3: int4, 4: uint4).
  std::vector<float> run(bool int8) const {
    std::vector<float> out(p.m * p.n, 0.0f);
    int64_t format = p.isSigned ? (int8 ? 3 : 1) : (int8 ? 4 : 0);
    qopt_kernel_matmul_w4(p.m, p.n, p.k, p.group, format, addr(a.data()), p.k,
                          1, addr(stored.data()), rowBytes, 1,
                          addr(scale.data()), groups, 1,
                          p.isSigned ? 0 : addr(zp.data()), groups, 1,
                          addr(out.data()), p.n, 1, 1);
    return out;
  }

  int wv(int64_t j, int64_t l) const {
    return q[j * p.k + l] - (p.isSigned ? 0 : zp[j * groups + l / p.group]);
  }

  /// The reference: per block s = max|x| / 127, q = round-half-even(x / s)
  /// (float division, as documented), Σ q·w in i64, scales in double.
  /// `bound` gets Σ |term| for a tolerance on the float combination.
  std::vector<double> reference(std::vector<double> &bound) const {
    std::vector<double> ref(p.m * p.n, 0.0);
    bound.assign(p.m * p.n, 0.0);
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t k0 = g * p.group, k1 = std::min(p.k, k0 + p.group);
        float amax = 0;
        for (int64_t l = k0; l < k1; ++l)
          amax = std::max(amax, std::fabs(a[i * p.k + l]));
        const float s = amax / 127.0f;
        std::vector<int64_t> xq(p.k, 0);
        if (amax > 0)
          for (int64_t l = k0; l < k1; ++l)
            xq[l] = std::lrint(a[i * p.k + l] / s);
        for (int64_t j = 0; j < p.n; ++j) {
          int64_t sum = 0;
          for (int64_t l = k0; l < k1; ++l)
            sum += xq[l] * wv(j, l);
          double term = double(scale[j * groups + g]) * double(s) * double(sum);
          ref[i * p.n + j] += term;
          bound[i * p.n + j] += std::fabs(term);
        }
      }
    return ref;
  }
};

class W4Int8WeightOnlyMatmulKernel : public ::testing::TestWithParam<W4Case> {};

TEST_P(W4Int8WeightOnlyMatmulKernel, ExactOnIntegerActivations) {
  ClearCaches clear;
  W4Problem prob(GetParam(), 1, /*integerA=*/true);
  std::vector<float> out = prob.run(true);
  // Activation scale 1, weight scales powers of two: every partial result
  // is exact in float, so the kernel's output is the integer sum itself.
  for (int64_t i = 0; i < prob.p.m; ++i)
    for (int64_t j = 0; j < prob.p.n; ++j) {
      double want = 0;
      for (int64_t l = 0; l < prob.p.k; ++l)
        want += double(prob.a[i * prob.p.k + l]) * prob.wv(j, l) *
                double(prob.scale[j * prob.groups + l / prob.p.group]);
      ASSERT_EQ(double(out[i * prob.p.n + j]), want)
          << "row " << i << " column " << j << " (" << qopt::rt::w4Int8Isa()
          << ")";
    }
}

TEST_P(W4Int8WeightOnlyMatmulKernel, MatchesIntegerReference) {
  ClearCaches clear;
  W4Problem prob(GetParam(), 2, /*integerA=*/false);
  std::vector<float> out = prob.run(true);
  std::vector<double> bound;
  std::vector<double> ref = prob.reference(bound);
  for (size_t e = 0; e < out.size(); ++e)
    ASSERT_NEAR(out[e], ref[e], 1e-5 * bound[e] + 1e-6)
        << "element " << e << " (" << qopt::rt::w4Int8Isa() << ")";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, W4Int8WeightOnlyMatmulKernel,
    ::testing::Values(W4Case{1, 33, 256, 32, true},
                      W4Case{1, 64, 512, 128, false},
                      W4Case{2, 40, 688, 32, true},  // partial last group
                      W4Case{3, 17, 100, 32, false}, // K not a multiple of 8
                      W4Case{4, 96, 256, 64, true}, W4Case{5, 50, 136, 8, true},
                      W4Case{8, 33, 688, 128, false},
                      W4Case{32, 256, 256, 32, true},
                      W4Case{33, 70, 300, 32, false}));

/// The added error is the activation's rounding only: against the f32
/// path's result, within half an activation step per element.
TEST(W4Int8WeightOnlyMatmulKernel, ErrorWithinActivationRounding) {
  ClearCaches clear;
  W4Problem prob({4, 64, 512, 32, true}, 3, false);
  std::vector<float> f32 = prob.run(false);
  std::vector<float> i8 = prob.run(true);
  for (int64_t i = 0; i < prob.p.m; ++i)
    for (int64_t j = 0; j < prob.p.n; ++j) {
      double bound = 0;
      for (int64_t g = 0; g < prob.groups; ++g) {
        float amax = 0;
        double wsum = 0;
        for (int64_t l = g * 32; l < std::min(prob.p.k, g * 32 + 32); ++l) {
          amax = std::max(amax, std::fabs(prob.a[i * prob.p.k + l]));
          wsum += std::abs(prob.wv(j, l));
        }
        bound += 0.5 * amax / 127.0 * wsum * prob.scale[j * prob.groups + g];
      }
      ASSERT_LE(std::fabs(i8[i * prob.p.n + j] - f32[i * prob.p.n + j]),
                bound * 1.001 + 1e-4);
    }
}

/// Where the path does not apply, the f32 path runs: a group not a
/// multiple of 8, NF4, a NaN activation (propagated as the f32 path does).
TEST(W4Int8WeightOnlyMatmulKernel, FallsBackToF32Path) {
  ClearCaches clear;
  W4Problem odd({2, 20, 100, 50, true}, 4, false);
  std::vector<float> f32 = odd.run(false);
  W4Problem nan({1, 20, 64, 32, true}, 5, false);
  nan.a[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(odd.run(true), f32);
  std::vector<float> out = nan.run(true);
  for (float v : out)
    EXPECT_TRUE(std::isnan(v));
}

} // namespace
