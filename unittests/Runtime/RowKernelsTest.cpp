//===- RowKernelsTest.cpp - per-row reduction kernels ---------------------===//
//
// qopt_kernel_row_absmax_f32 against a double-precision reference, with
// every path the runtime can pick (test/Runtime/kernel-variants.test runs
// these under QOPT_KERNEL).
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

extern "C" void qopt_kernel_row_absmax_f32(int64_t, int64_t, int64_t, int64_t,
                                           int64_t, int64_t, int64_t);

namespace {

template <typename T> int64_t addr(const T *p) {
  return reinterpret_cast<int64_t>(p);
}

struct AbsMaxCase {
  int64_t m, k;
  bool columnMajor; // x stored [K, M]: the strided (portable) path
};

class RowAbsMaxKernel : public ::testing::TestWithParam<AbsMaxCase> {};

TEST_P(RowAbsMaxKernel, MatchesReference) {
  auto [m, k, columnMajor] = GetParam();
  std::mt19937 gen(unsigned(m * 131 + k));
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> x(size_t(m * k));
  for (float &v : x)
    v = d(gen);
  const int64_t xM = columnMajor ? 1 : k, xK = columnMajor ? m : 1;
  // Initial values: 0 (what the lowering fills), and for odd rows one above
  // every |x| of the row, which must survive.
  std::vector<float> out(size_t(m), 0.0f), ref(size_t(m), 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    double best = 0;
    for (int64_t j = 0; j < k; ++j)
      best = std::max(best, std::fabs(double(x[i * xM + j * xK])));
    if (i % 2) {
      out[i] = float(best) + 1.0f;
      ref[i] = out[i];
    } else {
      ref[i] = float(best);
    }
  }
  qopt_kernel_row_absmax_f32(m, k, addr(x.data()), xM, xK, addr(out.data()), 1);
  EXPECT_EQ(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RowAbsMaxKernel,
    ::testing::Values(AbsMaxCase{1, 1, false}, AbsMaxCase{3, 15, false},
                      AbsMaxCase{5, 16, false}, AbsMaxCase{7, 17, false},
                      AbsMaxCase{2, 33, false}, AbsMaxCase{32, 256, false},
                      AbsMaxCase{32, 688, false}, AbsMaxCase{130, 1000, false},
                      AbsMaxCase{9, 47, true}, AbsMaxCase{64, 1100, true}));

/// A NaN anywhere in a row (or already in the output) gives NaN for that
/// row only, as arith.maximumf does; -0 and +0 give 0; infinities win.
TEST(RowAbsMaxKernel, NaNInfinityAndSignedZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const int64_t k = 40;
  std::vector<float> x(size_t(5 * k), 0.5f);
  x[0 * k + 37] = nan; // row 0: NaN in the masked tail
  x[1 * k + 3] = -inf; // row 1: -inf
  for (int64_t j = 0; j < k; ++j)
    x[2 * k + j] = -0.0f; // row 2: all -0
  x[3 * k + 20] = -7.0f;  // row 3: the maximum is negative
  std::vector<float> out{0, 0, 0, 0, nan};
  qopt_kernel_row_absmax_f32(5, k, addr(x.data()), k, 1, addr(out.data()), 1);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_FALSE(std::signbit(out[2]));
  EXPECT_EQ(out[3], 7.0f);
  EXPECT_TRUE(std::isnan(out[4])); // NaN initial value
}

} // namespace

//===- w8a8-dynamic row quantization and dequantization -------------------===//

extern "C" void qopt_kernel_quantize_rows_s8(int64_t, int64_t, int64_t, int64_t,
                                             int64_t, int64_t, int64_t, int64_t,
                                             int64_t, int64_t);
extern "C" void qopt_kernel_dequant_rows_f32(int64_t, int64_t, int64_t, int64_t,
                                             int64_t, int64_t, int64_t, int64_t,
                                             int64_t, int64_t, int64_t, int64_t,
                                             int64_t, int64_t);

namespace {

/// quantizeInFloat's arithmetic (QOptToLinalg.cpp): x / s, round half to
/// even, maxnum(-128), minnum(127), NaN x → 0.
int8_t quantizeRef(float x, float s) {
  if (std::isnan(x))
    return 0;
  float v = std::nearbyint(x / s);
  if (!(v >= -128.0f)) // NaN quotient: maxnum gives -128
    v = -128.0f;
  return int8_t(std::min(v, 127.0f));
}

class RowQuantKernel : public ::testing::TestWithParam<AbsMaxCase> {};

TEST_P(RowQuantKernel, QuantizeMatchesReferenceExactly) {
  auto [m, k, columnMajor] = GetParam();
  std::mt19937 gen(unsigned(m * 7 + k));
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> x(static_cast<size_t>(m * k)), s(static_cast<size_t>(m));
  for (float &v : x)
    v = d(gen);
  for (int64_t i = 0; i < m; ++i)
    s[size_t(i)] = 0.05f + 0.01f * float(i);
  // Ties (x / s = n + 0.5 exactly with s = 0.5), saturation, NaN, ±inf.
  s[0] = 0.5f;
  const int64_t xM = columnMajor ? 1 : k, xK = columnMajor ? m : 1;
  float special[] = {1.25f,
                     -1.25f,
                     0.75f,
                     1e9f,
                     -1e9f,
                     std::numeric_limits<float>::quiet_NaN(),
                     std::numeric_limits<float>::infinity(),
                     -std::numeric_limits<float>::infinity(),
                     -0.0f};
  for (int64_t j = 0; j < std::min<int64_t>(k, 9); ++j)
    x[size_t(j * xK)] = special[j];
  std::vector<int8_t> q(size_t(m * k), 99);
  qopt_kernel_quantize_rows_s8(m, k, addr(x.data()), xM, xK, addr(s.data()), 1,
                               addr(q.data()), xM, xK);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j)
      ASSERT_EQ(int(q[size_t(i * xM + j * xK)]),
                int(quantizeRef(x[size_t(i * xM + j * xK)], s[size_t(i)])))
          << "row " << i << " k " << j;
  if (k >= 3) { // the ties round to even: 2.5 → 2, -2.5 → -2, 1.5 → 2
    EXPECT_EQ(q[0], 2);
    EXPECT_EQ(q[size_t(xK)], -2);
    EXPECT_EQ(q[size_t(2 * xK)], 2);
  }
}

TEST_P(RowQuantKernel, DequantMatchesReferenceExactly) {
  auto [m, n, columnMajor] = GetParam();
  std::mt19937 gen(unsigned(m * 11 + n));
  std::uniform_int_distribution<int32_t> d(-200000, 200000);
  std::normal_distribution<float> f(0.0f, 0.01f);
  std::vector<int32_t> acc(size_t(m * n));
  std::vector<float> ws(static_cast<size_t>(n)), sx(static_cast<size_t>(m)),
      bias(static_cast<size_t>(n));
  for (int32_t &v : acc)
    v = d(gen);
  for (float &v : ws)
    v = std::fabs(f(gen)) + 1e-4f;
  for (float &v : sx)
    v = std::fabs(f(gen)) + 1e-4f;
  for (float &v : bias)
    v = f(gen) * 100.0f;
  const int64_t aM = columnMajor ? 1 : n, aN = columnMajor ? m : 1;
  for (bool withBias : {false, true}) {
    std::vector<float> y(size_t(m * n), -1.0f);
    qopt_kernel_dequant_rows_f32(
        m, n, addr(acc.data()), aM, aN, addr(ws.data()), 1, addr(sx.data()), 1,
        withBias ? addr(bias.data()) : 0, 1, addr(y.data()), aM, aN);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        volatile float scale = sx[size_t(i)] * ws[size_t(j)];
        volatile float v = float(acc[size_t(i * aM + j * aN)]) * scale;
        float want = withBias ? v + bias[size_t(j)] : float(v);
        ASSERT_EQ(y[size_t(i * aM + j * aN)], want)
            << "row " << i << " column " << j << " bias " << withBias;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RowQuantKernel,
    ::testing::Values(AbsMaxCase{1, 7, false}, AbsMaxCase{3, 16, false},
                      AbsMaxCase{5, 37, false}, AbsMaxCase{64, 1024, false},
                      AbsMaxCase{4, 33, true}, AbsMaxCase{300, 700, false}));

} // namespace
