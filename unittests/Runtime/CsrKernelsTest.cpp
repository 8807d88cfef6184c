//===- CsrKernelsTest.cpp - unstructured sparse (CSR) matmul --------------===//
//
// The CSR kernel equals a double-precision product and the dense f32
// kernel on the same (zeroed) weight, for one row of A (the gather GEMV)
// and register blocks of rows, with each code path
// (test/Runtime/csr-variants.test runs them under QOPT_KERNEL).
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

extern "C" {
void qopt_kernel_matmul_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t);
void qopt_kernel_matmul_csr_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t);
const char *qopt_kernel_isa_csr(void);
}

namespace qopt::rt {
void clearKernelCaches();
} // namespace qopt::rt

namespace {

int64_t addr(const void *p) { return reinterpret_cast<int64_t>(p); }

} // namespace

/// (m, n, k, fraction of zeros); A read with a column stride of 2 when m is
/// odd (a strided view), C written with a column stride of 2 when n is odd.
class CsrMatmul : public ::testing::TestWithParam<
                      std::tuple<int64_t, int64_t, int64_t, double>> {};

TEST_P(CsrMatmul, MatchesDoubleAndDenseKernel) {
  auto [m, n, k, zeros] = GetParam();
  qopt::rt::clearKernelCaches();
  std::mt19937 rng(unsigned(m * 7 + n * 13 + k));
  std::normal_distribution<float> d;
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> w(static_cast<size_t>(n * k), 0.0f);
  for (float &v : w)
    if (u(rng) >= zeros)
      v = d(rng);
  for (int64_t c = 0; c < k; ++c) // row 0 empty, the last row full
    w[size_t(c)] = 0.0f, w[size_t((n - 1) * k + c)] = d(rng);
  std::vector<int32_t> rowptr(1, 0);
  std::vector<uint16_t> cols;
  std::vector<float> values;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c)
      if (w[size_t(r * k + c)] != 0.0f) {
        cols.push_back(uint16_t(c));
        values.push_back(w[size_t(r * k + c)]);
      }
    rowptr.push_back(int32_t(values.size()));
  }
  int64_t aK = m % 2 ? 2 : 1, cN = n % 2 ? 2 : 1;
  std::vector<float> a(static_cast<size_t>(m * k * aK));
  for (float &v : a)
    v = d(rng);
  std::vector<float> c(static_cast<size_t>(m * n * cN), 0.5f), dense = c;
  qopt_kernel_matmul_csr_f32(m, n, k, addr(a.data()), k * aK, aK,
                             addr(rowptr.data()), addr(rowptr.data() + 1),
                             addr(cols.data()), addr(values.data()),
                             addr(c.data()), n * cN, cN);
  qopt_kernel_matmul_f32(1, 1, m, n, k, addr(a.data()), 0, 0, k * aK, aK,
                         addr(w.data()), 0, 0, 1, k, addr(dense.data()), 0, 0,
                         n * cN, cN, 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < n; ++r) {
      double ref = 0.5, mag = 0.5;
      for (int64_t l = 0; l < k; ++l) {
        double p = double(w[size_t(r * k + l)]) * a[size_t((i * k + l) * aK)];
        ref += p;
        mag += std::fabs(p);
      }
      double tol = 1e-6 * mag + 1e-7;
      size_t at = size_t(i * n * cN + r * cN);
      ASSERT_NEAR(c[at], ref, tol)
          << "row " << i << " col " << r << " isa " << qopt_kernel_isa_csr();
      ASSERT_NEAR(c[at], dense[at], 2 * tol) << "row " << i << " col " << r;
      if (cN == 2)
        ASSERT_EQ(c[at + 1], 0.5f); // untouched
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CsrMatmul,
    ::testing::Values(
        std::tuple<int64_t, int64_t, int64_t, double>{1, 37, 64, 0.7},
        std::tuple<int64_t, int64_t, int64_t, double>{1, 300, 1000, 0.8},
        std::tuple<int64_t, int64_t, int64_t, double>{2, 16, 8, 0.5},
        std::tuple<int64_t, int64_t, int64_t, double>{3, 50, 96, 0.9},
        std::tuple<int64_t, int64_t, int64_t, double>{8, 130, 512, 0.7},
        std::tuple<int64_t, int64_t, int64_t, double>{9, 70, 72, 0.75},
        std::tuple<int64_t, int64_t, int64_t, double>{16, 257, 1024, 0.8},
        std::tuple<int64_t, int64_t, int64_t, double>{33, 100, 2048, 0.95}));
