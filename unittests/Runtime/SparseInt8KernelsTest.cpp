//===- SparseInt8KernelsTest.cpp - 2:4 int8 matmul ------------------------===//
//
// The int8 2:4 kernel equals an integer reference and, exactly, the dense
// int8 kernel on the same zeroed weight, for signed and unsigned A, every
// register block size and panel tail, with each code path
// (test/Runtime/sparse24-variants.test runs them under QOPT_KERNEL).
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Sparse24.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

extern "C" {
void qopt_kernel_matmul_s8s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t);
void qopt_kernel_matmul_u8s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t);
void qopt_kernel_matmul_sparse24_s8s8(int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t);
void qopt_kernel_matmul_sparse24_u8s8(int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t);
const char *qopt_kernel_isa_sparse24_int8(void);
}

namespace qopt::rt {
void clearKernelCaches();
} // namespace qopt::rt

namespace {

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }

/// A random int8 [n, k] weight with `keep` nonzeros (in [-127, 127], the
/// extremes included) in every group of 4.
std::vector<int8_t> random24I8(int64_t n, int64_t k, int keep, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> w(size_t(n * k), 0);
  for (int64_t g = 0; g < n * k / 4; ++g) {
    int pos[4] = {0, 1, 2, 3};
    std::shuffle(pos, pos + 4, rng);
    for (int j = 0; j < keep; ++j) {
      int v = d(rng);
      w[size_t(g * 4 + pos[j])] = int8_t(v == 0 ? 127 : v);
    }
  }
  return w;
}

} // namespace

TEST(Sparse24Int8Test, PackRoundTrips) {
  std::vector<int8_t> w = random24I8(7, 64, 2, 3);
  std::vector<int8_t> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), 7, 64, values, meta));
  EXPECT_EQ(values.size(), size_t(7 * 32));
  // The same positions as the float packing of the same pattern.
  std::vector<float> wf(w.begin(), w.end()), vf;
  std::vector<uint8_t> mf;
  ASSERT_TRUE(qopt::pack24(wf.data(), 7, 64, vf, mf));
  EXPECT_EQ(meta, mf);
  EXPECT_EQ(std::vector<float>(values.begin(), values.end()), vf);
  std::vector<int8_t> bad{1, 2, 3, 0, 0, 0, 0, 0};
  EXPECT_FALSE(qopt::pack24(bad.data(), 1, 8, values, meta));
}

class Sparse24Int8Matmul : public ::testing::TestWithParam<
                               std::tuple<int64_t, int64_t, int64_t, bool>> {};

TEST_P(Sparse24Int8Matmul, EqualsDenseKernelExactly) {
  auto [m, n, k, isSigned] = GetParam();
  qopt::rt::clearKernelCaches(); // addresses of earlier tests' weights
  std::vector<int8_t> w = random24I8(n, k, 2, unsigned(m * 7 + n * 13 + k));
  std::vector<int8_t> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), n, k, values, meta));
  std::mt19937 rng(unsigned(m + k));
  std::uniform_int_distribution<int> d(0, 255);
  // A [m, k] read with a column stride of 2 when m is odd (a strided view).
  int64_t aK = m % 2 ? 2 : 1;
  std::vector<uint8_t> a(static_cast<size_t>(m * k * aK));
  for (uint8_t &v : a)
    v = uint8_t(d(rng));
  a[0] = isSigned ? 0x80 : 0xFF; // -128 / 255: the extremes
  std::vector<int32_t> c(static_cast<size_t>(m * n), 7), dense = c;
  auto sparse = isSigned ? qopt_kernel_matmul_sparse24_s8s8
                         : qopt_kernel_matmul_sparse24_u8s8;
  auto full = isSigned ? qopt_kernel_matmul_s8s8 : qopt_kernel_matmul_u8s8;
  for (int rep = 0; rep < 2; ++rep) { // the second call: cached panels
    std::fill(c.begin(), c.end(), 7);
    sparse(m, n, k, addr(a.data()), k * aK, aK, addr(values.data()),
           addr(meta.data()), addr(c.data()), n, 1);
  }
  full(m, n, k, addr(a.data()), k * aK, aK, addr(w.data()), k, 1,
       addr(dense.data()), n, 1, 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      int64_t ref = 7;
      for (int64_t l = 0; l < k; ++l) {
        uint8_t av = a[size_t((i * k + l) * aK)];
        ref += int64_t(w[size_t(r * k + l)]) *
               (isSigned ? int64_t(int8_t(av)) : int64_t(av));
      }
      ASSERT_EQ(c[size_t(i * n + r)], ref)
          << "row " << i << " col " << r << " isa "
          << qopt_kernel_isa_sparse24_int8();
      ASSERT_EQ(c[size_t(i * n + r)], dense[size_t(i * n + r)])
          << "row " << i << " col " << r;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Sparse24Int8Matmul,
    ::testing::Values(
        std::tuple<int64_t, int64_t, int64_t, bool>{1, 37, 64, true},
        std::tuple<int64_t, int64_t, int64_t, bool>{1, 16, 8, false},
        std::tuple<int64_t, int64_t, int64_t, bool>{2, 50, 96, true},
        std::tuple<int64_t, int64_t, int64_t, bool>{3, 33, 40, false},
        std::tuple<int64_t, int64_t, int64_t, bool>{5, 64, 128, true},
        std::tuple<int64_t, int64_t, int64_t, bool>{8, 130, 512, true},
        std::tuple<int64_t, int64_t, int64_t, bool>{9, 70, 72, false},
        std::tuple<int64_t, int64_t, int64_t, bool>{16, 257, 1024, true},
        std::tuple<int64_t, int64_t, int64_t, bool>{17, 100, 2048, false}));

extern "C" {
void qopt_kernel_matmul_w8(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t);
void qopt_kernel_matmul_sparse24_w8(int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t);
}

/// Weight-only int8 2:4 (f32 A, per-channel scales) against a double
/// product and the dense weight-only kernel on the zeroed weight: register
/// blocks of 1..8 rows, two blocks, the dense fallback above 16 rows.
class Sparse24W8Matmul
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(Sparse24W8Matmul, MatchesDoubleAndDenseKernel) {
  auto [m, n, k] = GetParam();
  qopt::rt::clearKernelCaches();
  std::vector<int8_t> w = random24I8(n, k, 2, unsigned(m * 5 + n + k));
  std::vector<int8_t> values;
  std::vector<uint8_t> meta;
  ASSERT_TRUE(qopt::pack24(w.data(), n, k, values, meta));
  std::mt19937 rng(unsigned(m * 3 + 1));
  std::normal_distribution<float> d;
  std::vector<float> a(static_cast<size_t>(m * k)), s(static_cast<size_t>(n));
  for (float &v : a)
    v = d(rng);
  for (float &v : s)
    v = 0.01f + std::abs(d(rng)) * 0.02f;
  std::vector<float> c(static_cast<size_t>(m * n), 0.5f), dense = c;
  for (int rep = 0; rep < 2; ++rep) {
    std::fill(c.begin(), c.end(), 0.5f);
    qopt_kernel_matmul_sparse24_w8(m, n, k, addr(a.data()), k, 1,
                                   addr(values.data()), addr(meta.data()),
                                   addr(s.data()), 1, addr(c.data()), n, 1);
  }
  qopt_kernel_matmul_w8(m, n, k, addr(a.data()), k, 1, addr(w.data()), k, 1,
                        addr(s.data()), 1, addr(dense.data()), n, 1, 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double ref = 0.5, mag = 0.5;
      for (int64_t l = 0; l < k; ++l) {
        double p =
            double(w[size_t(r * k + l)]) * s[size_t(r)] * a[size_t(i * k + l)];
        ref += p;
        mag += std::abs(p);
      }
      double tol = 2e-6 * mag + 1e-7;
      ASSERT_NEAR(c[size_t(i * n + r)], ref, tol)
          << "row " << i << " col " << r << " isa "
          << qopt_kernel_isa_sparse24_int8();
      ASSERT_NEAR(c[size_t(i * n + r)], dense[size_t(i * n + r)], 2 * tol)
          << "row " << i << " col " << r;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Sparse24W8Matmul,
    ::testing::Values(std::tuple<int64_t, int64_t, int64_t>{1, 37, 64},
                      std::tuple<int64_t, int64_t, int64_t>{3, 50, 96},
                      std::tuple<int64_t, int64_t, int64_t>{8, 130, 512},
                      std::tuple<int64_t, int64_t, int64_t>{9, 70, 72},
                      std::tuple<int64_t, int64_t, int64_t>{16, 257, 1024},
                      std::tuple<int64_t, int64_t, int64_t>{17, 100, 2048}));
