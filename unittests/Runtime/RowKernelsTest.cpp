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
