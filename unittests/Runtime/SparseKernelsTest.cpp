//===- SparseKernelsTest.cpp - 2:4 storage and its GEMV -------------------===//
//
// The packing round-trips; the 2:4 GEMV equals a double-precision product
// and the dense f32 kernel on the same (zeroed) weight, with each code path
// (test/Runtime/sparse24-variants.test runs them under QOPT_KERNEL).
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Sparse24.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

extern "C" {
void qopt_kernel_matmul_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t);
void qopt_kernel_gemv_sparse24_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                                   int64_t);
const char *qopt_kernel_isa_sparse24(void);
}

namespace {

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }

/// A random [n, k] weight with exactly `keep` nonzeros in every group of 4.
std::vector<float> random24(int64_t n, int64_t k, int keep, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> w(size_t(n * k), 0.0f);
  for (int64_t g = 0; g < n * k / 4; ++g) {
    int pos[4] = {0, 1, 2, 3};
    std::shuffle(pos, pos + 4, rng);
    for (int j = 0; j < keep; ++j)
      w[size_t(g * 4 + pos[j])] = d(rng);
  }
  return w;
}

} // namespace

TEST(Sparse24Test, PackRoundTrips) {
  for (int keep : {0, 1, 2}) {
    std::vector<float> w = random24(5, 48, keep, 11 + keep);
    std::vector<float> values;
    std::vector<uint8_t> meta;
    ASSERT_TRUE(qopt::pack24(w.data(), 5, 48, values, meta));
    EXPECT_EQ(values.size(), size_t(5 * 24));
    EXPECT_EQ(meta.size(), size_t(5 * 6));
    EXPECT_EQ(qopt::unpack24(values, meta, 5, 48), w);
  }
}

TEST(Sparse24Test, PackLayout) {
  // Group 0 keeps positions 1 and 3, group 1 positions 0 and 2.
  std::vector<float> w{0, 5, 0, 6, 7, 0, 8, 0};
  std::vector<float> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), 1, 8, values, meta));
  EXPECT_EQ(values, (std::vector<float>{5, 6, 7, 8}));
  ASSERT_EQ(meta.size(), 1u);
  EXPECT_EQ(meta[0], uint8_t((1 | 3 << 2) | (0 | 2 << 2) << 4));
}

TEST(Sparse24Test, PackRefusesDenseGroupsAndOddK) {
  std::vector<float> w{1, 2, 3, 0, 0, 0, 0, 0};
  std::vector<float> values;
  std::vector<uint8_t> meta;
  EXPECT_FALSE(qopt::pack24(w.data(), 1, 8, values, meta));
  std::vector<float> v(12, 0.0f);
  EXPECT_FALSE(qopt::pack24(v.data(), 1, 12, values, meta)); // k % 8 != 0
}

class Sparse24Kernel
    : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(Sparse24Kernel, MatchesDoubleAndDenseKernel) {
  auto [n, k] = GetParam();
  std::vector<float> w = random24(n, k, 2, unsigned(n * 131 + k));
  std::mt19937 rng(5);
  std::normal_distribution<float> d;
  std::vector<float> x(static_cast<size_t>(k));
  for (float &v : x)
    v = d(rng);
  std::vector<float> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), n, k, values, meta));
  std::vector<float> y(size_t(n), -1.0f), dense(size_t(n), 0.0f);
  qopt_kernel_gemv_sparse24_f32(n, k, addr(x.data()), addr(values.data()),
                                addr(meta.data()), addr(y.data()));
  // Dense: x [1, k] times Wᵀ (B[l, j] = W[j, l]), accumulating into 0.
  qopt_kernel_matmul_f32(1, 1, 1, n, k, addr(x.data()), k, 0, k, 1,
                         addr(w.data()), 0, 0, 1, k, addr(dense.data()), n, 0,
                         n, 1, 1);
  for (int64_t r = 0; r < n; ++r) {
    double ref = 0, mag = 0;
    for (int64_t l = 0; l < k; ++l) {
      ref += double(w[size_t(r * k + l)]) * x[size_t(l)];
      mag += std::fabs(double(w[size_t(r * k + l)]) * x[size_t(l)]);
    }
    double tol = 1e-6 * mag + 1e-7;
    ASSERT_NEAR(y[size_t(r)], ref, tol)
        << "row " << r << " isa " << qopt_kernel_isa_sparse24();
    ASSERT_NEAR(y[size_t(r)], dense[size_t(r)], 2 * tol) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Sparse24Kernel,
    ::testing::Values(std::pair<int64_t, int64_t>{1, 8},
                      std::pair<int64_t, int64_t>{3, 40},
                      std::pair<int64_t, int64_t>{37, 96},
                      std::pair<int64_t, int64_t>{130, 1000},
                      std::pair<int64_t, int64_t>{257, 2048}));

extern "C" void qopt_kernel_matmul_sparse24_f32(int64_t, int64_t, int64_t,
                                                int64_t, int64_t, int64_t,
                                                int64_t, int64_t, int64_t,
                                                int64_t, int64_t);

TEST(Sparse24Test, MatmulAccumulatesRowsWithStrides) {
  // A [3, 64] read with stride 2 along K (a transposed view), C [3, 40]
  // with a column stride: C += A · Wᵀ.
  int64_t m = 3, n = 40, k = 64;
  std::vector<float> w = random24(n, k, 2, 99);
  std::vector<float> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), n, k, values, meta));
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<float> a(static_cast<size_t>(m * k * 2));
  for (float &v : a)
    v = d(rng);
  std::vector<float> c(static_cast<size_t>(m * n * 2), 1.0f);
  qopt_kernel_matmul_sparse24_f32(m, n, k, addr(a.data()), k * 2, 2,
                                  addr(values.data()), addr(meta.data()),
                                  addr(c.data()), n * 2, 2);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double ref = 1.0;
      for (int64_t l = 0; l < k; ++l)
        ref += double(w[size_t(r * k + l)]) * a[size_t(i * k * 2 + l * 2)];
      ASSERT_NEAR(c[size_t(i * n * 2 + r * 2)], ref, 1e-4) << i << "," << r;
      ASSERT_EQ(c[size_t(i * n * 2 + r * 2 + 1)], 1.0f); // untouched
    }
}

namespace qopt::rt {
void clearKernelCaches();
} // namespace qopt::rt

/// C += A·Wᵀ through the 2:4 matmul and through the dense f32 kernel on the
/// same zeroed weight: every register block size (1..8 rows, 16 on one
/// pass of two blocks), panel tails (N not a multiple of the panel width)
/// and K tails, each against a double-precision product.
class Sparse24Matmul
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(Sparse24Matmul, MatchesDoubleAndDenseKernel) {
  auto [m, n, k] = GetParam();
  qopt::rt::clearKernelCaches(); // addresses of earlier tests' weights
  std::vector<float> w = random24(n, k, 2, unsigned(m * 7 + n * 131 + k));
  std::vector<float> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), n, k, values, meta));
  std::mt19937 rng(unsigned(m + 3));
  std::normal_distribution<float> d;
  std::vector<float> a(static_cast<size_t>(m * k));
  for (float &v : a)
    v = d(rng);
  std::vector<float> c(static_cast<size_t>(m * n), 0.5f), dense = c;
  // Twice: the second call reads the cached repacked panels.
  for (int rep = 0; rep < 2; ++rep) {
    std::fill(c.begin(), c.end(), 0.5f);
    qopt_kernel_matmul_sparse24_f32(m, n, k, addr(a.data()), k, 1,
                                    addr(values.data()), addr(meta.data()),
                                    addr(c.data()), n, 1);
  }
  qopt_kernel_matmul_f32(1, 1, m, n, k, addr(a.data()), 0, 0, k, 1,
                         addr(w.data()), 0, 0, 1, k, addr(dense.data()), 0, 0,
                         n, 1, 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double ref = 0.5, mag = 0.5;
      for (int64_t l = 0; l < k; ++l) {
        double p = double(w[size_t(r * k + l)]) * a[size_t(i * k + l)];
        ref += p;
        mag += std::fabs(p);
      }
      double tol = 1e-6 * mag + 1e-7;
      ASSERT_NEAR(c[size_t(i * n + r)], ref, tol)
          << "row " << i << " col " << r << " isa "
          << qopt_kernel_isa_sparse24();
      ASSERT_NEAR(c[size_t(i * n + r)], dense[size_t(i * n + r)], 2 * tol)
          << "row " << i << " col " << r;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Sparse24Matmul,
    ::testing::Values(std::tuple<int64_t, int64_t, int64_t>{1, 37, 64},
                      std::tuple<int64_t, int64_t, int64_t>{2, 16, 8},
                      std::tuple<int64_t, int64_t, int64_t>{3, 50, 96},
                      std::tuple<int64_t, int64_t, int64_t>{4, 33, 40},
                      std::tuple<int64_t, int64_t, int64_t>{5, 64, 128},
                      std::tuple<int64_t, int64_t, int64_t>{7, 9, 256},
                      std::tuple<int64_t, int64_t, int64_t>{8, 130, 512},
                      std::tuple<int64_t, int64_t, int64_t>{9, 70, 72},
                      std::tuple<int64_t, int64_t, int64_t>{16, 257, 1024},
                      std::tuple<int64_t, int64_t, int64_t>{17, 100, 2048}));
