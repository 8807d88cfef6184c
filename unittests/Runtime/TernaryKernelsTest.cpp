//===- TernaryKernelsTest.cpp - BitLinear kernels on 2-bit weights --------===//
//
// qopt_kernel_matmul_s8t2 against exact int64 sums and
// qopt_kernel_matmul_f32t2 against double sums, with every kernel the
// runtime can pick (test/Runtime/kernel-variants.test runs these under
// QOPT_KERNEL=avx2 and generic; a plain run takes the widest).
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"
#include "qopt/Support/Ternary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" {
void qopt_kernel_matmul_s8t2(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t);
void qopt_kernel_matmul_f32t2(int64_t, int64_t, int64_t, int64_t, int64_t,
                              int64_t, int64_t, int64_t, int64_t, int64_t,
                              int64_t, int64_t);
}

namespace {

template <typename T> int64_t addr(const T *p) {
  return reinterpret_cast<int64_t>(p);
}

/// Random ternary [n, k] with about a third zeros, packed with row stride
/// `rowBytes` >= k / 4 (extra bytes hold code 3, which must not be read).
struct Weight {
  std::vector<int8_t> t;
  std::vector<uint8_t> bytes;
  int64_t rowBytes;
};

Weight randomWeight(int64_t n, int64_t k, int64_t rowBytes, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(-1, 1);
  Weight w;
  w.t.resize(size_t(n * k));
  for (int8_t &v : w.t)
    v = int8_t(d(gen));
  std::vector<uint8_t> packed = qopt::packTernary(w.t.data(), n, k);
  w.rowBytes = rowBytes;
  w.bytes.assign(size_t(n * rowBytes), 0xFF);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t b = 0; b < k / 4; ++b)
      w.bytes[size_t(j * rowBytes + b)] = packed[size_t(j * (k / 4) + b)];
  return w;
}

std::vector<float> randomActivations(int64_t m, int64_t k, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  std::vector<float> x(size_t(m * k));
  for (float &v : x)
    v = d(gen);
  // An all-zero token (scale 127 / 1e-5) and exact ties (x · s = n + 0.5).
  if (m > 1)
    std::fill(x.begin() + k, x.begin() + 2 * k, 0.0f);
  return x;
}

struct Shape {
  int64_t m, n, k;
};

// K = 4 (one byte), tails after full 32- and 64-byte chunks, several chunks,
// more tokens than a pass takes (4), and a GEMV big enough to go parallel.
const Shape kShapes[] = {{1, 1, 4},     {2, 3, 8},    {5, 37, 1036},
                         {3, 70, 260},  {9, 33, 768}, {1, 300, 4096},
                         {6, 130, 2052}};

TEST(TernaryMatmulKernel, S8T2MatchesInt64Sums) {
  unsigned seed = 1;
  for (const Shape &sh : kShapes) {
    for (int64_t pad : {int64_t(0), int64_t(5)}) {
      int64_t m = sh.m, n = sh.n, k = sh.k;
      Weight w = randomWeight(n, k, k / 4 + pad, seed++);
      std::vector<float> x = randomActivations(m, k, seed++);
      std::vector<float> s(static_cast<size_t>(m));
      for (int64_t i = 0; i < m; ++i)
        s[size_t(i)] = qopt::tokenScale(x.data() + i * k, k);
      // C is accumulated into: start from known values.
      std::vector<int32_t> c(size_t(m * n));
      for (size_t i = 0; i < c.size(); ++i)
        c[i] = int32_t(i % 7) - 3;
      std::vector<int32_t> c0 = c;
      qopt_kernel_matmul_s8t2(m, n, k, addr(x.data()), k, 1, addr(s.data()), 1,
                              addr(w.bytes.data()), w.rowBytes, 1,
                              addr(c.data()), n, 1);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t want = c0[size_t(i * n + j)];
          for (int64_t kk = 0; kk < k; ++kk)
            want += int64_t(qopt::quantizeToken(x[size_t(i * k + kk)],
                                                s[size_t(i)])) *
                    int64_t(w.t[size_t(j * k + kk)]);
          ASSERT_EQ(int64_t(c[size_t(i * n + j)]), want)
              << "m=" << m << " n=" << n << " k=" << k << " pad=" << pad
              << " at " << i << "," << j << " isa "
              << qopt_kernel_isa_ternary();
        }
    }
  }
}

TEST(TernaryMatmulKernel, S8T2StridedOperands) {
  // A with a column stride of 2, B with a K stride of 2 bytes, C transposed.
  int64_t m = 3, n = 20, k = 520;
  Weight w = randomWeight(n, k, k / 4, 7);
  std::vector<uint8_t> wide(size_t(n * k / 2), 0xFF);
  for (size_t i = 0; i < w.bytes.size(); ++i)
    wide[2 * i] = w.bytes[i];
  std::vector<float> x = randomActivations(m, k, 8), xs(size_t(m * k * 2));
  for (size_t i = 0; i < x.size(); ++i)
    xs[2 * i] = x[i];
  std::vector<float> s(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i)
    s[size_t(i)] = qopt::tokenScale(x.data() + i * k, k);
  std::vector<int32_t> c(size_t(m * n), 0);
  qopt_kernel_matmul_s8t2(m, n, k, addr(xs.data()), 2 * k, 2, addr(s.data()), 1,
                          addr(wide.data()), k / 2, 2, addr(c.data()), 1, m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t want = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        want +=
            int64_t(qopt::quantizeToken(x[size_t(i * k + kk)], s[size_t(i)])) *
            w.t[size_t(j * k + kk)];
      ASSERT_EQ(int64_t(c[size_t(j * m + i)]), want) << i << "," << j;
    }
}

TEST(TernaryMatmulKernel, F32T2MatchesDoubleSums) {
  unsigned seed = 100;
  for (const Shape &sh : kShapes) {
    int64_t m = sh.m, n = sh.n, k = sh.k;
    Weight w = randomWeight(n, k, k / 4 + 3, seed++);
    std::vector<float> x = randomActivations(m, k, seed++);
    std::vector<float> c(size_t(m * n), 0.5f);
    qopt_kernel_matmul_f32t2(m, n, k, addr(x.data()), k, 1,
                             addr(w.bytes.data()), w.rowBytes, 1,
                             addr(c.data()), n, 1);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = 0.5, mag = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          double p =
              double(x[size_t(i * k + kk)]) * double(w.t[size_t(j * k + kk)]);
          want += p;
          mag += std::fabs(p);
        }
        // f32 sums in another order: within a few ulps of the magnitudes.
        ASSERT_NEAR(c[size_t(i * n + j)], want, 1e-6 * (mag + 1))
            << "m=" << m << " n=" << n << " k=" << k << " isa "
            << qopt_kernel_isa_ternary();
      }
  }
}

/// C = q(x) · tᵀ with the int64 reference, for caller-chosen scales.
void expectS8T2Exact(int64_t m, int64_t n, int64_t k,
                     const std::vector<float> &x, const std::vector<float> &s,
                     const Weight &w) {
  std::vector<int32_t> c(size_t(m * n), 0);
  qopt_kernel_matmul_s8t2(m, n, k, addr(x.data()), k, 1, addr(s.data()), 1,
                          addr(w.bytes.data()), w.rowBytes, 1, addr(c.data()),
                          n, 1);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t want = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        want +=
            int64_t(qopt::quantizeToken(x[size_t(i * k + kk)], s[size_t(i)])) *
            w.t[size_t(j * k + kk)];
      ASSERT_EQ(int64_t(c[size_t(i * n + j)]), want)
          << "k=" << k << " at " << i << "," << j << " isa "
          << qopt_kernel_isa_ternary();
    }
}

TEST(TernaryMatmulKernel, S8T2NonFiniteAndSaturatingActivations) {
  // The vectorized quantization (16 or 8 floats at a time, then a scalar
  // tail) must match quantizeToken: NaN -> 0, ±inf and overflows clamp to
  // -128 / 127, ties to even, with a scale that is not 127 / max|x|.
  int64_t m = 2, n = 9, k = 1028;
  Weight w = randomWeight(n, k, k / 4, 21);
  std::vector<float> x = randomActivations(m, k, 22);
  const float special[] = {NAN,    INFINITY, -INFINITY, 1e30f,  -1e30f,
                           2.5f,   -2.5f,    3.5f,      -0.5f,  0.5f,
                           127.5f, -128.5f,  126.5f,    -127.5f};
  for (size_t i = 0; i < x.size(); i += 3)
    x[i] = special[(i / 3) % (sizeof(special) / sizeof(float))];
  x[size_t(k - 1)] = NAN; // in the scalar tail
  std::vector<float> s = {1.0f, 40.0f};
  expectS8T2Exact(m, n, k, x, s, w);
}

TEST(TernaryMatmulKernel, S8T2LongRowsAcrossAccumulatorPasses) {
  // K past one accumulator pass of the SIMD kernels (2^13 64-byte chunks for
  // VNNI, 2^12 32-byte chunks for AVX2) with extreme activations: every
  // q = ±128 / 127 and the weights' sums as large as they get.
  // Five rows: a GEMV block of four rows (VNNI) and one row alone.
  int64_t m = 1, n = 5, k = (int64_t(1) << 21) + 1028;
  Weight w = randomWeight(n, k, k / 4, 31);
  for (int64_t kk = 0; kk < k; ++kk) // row 1 all +1: Σ reaches -128 · K
    w.t[size_t(k + kk)] = 1;
  std::vector<uint8_t> packed = qopt::packTernary(w.t.data(), n, k);
  w.bytes = packed;
  std::vector<float> x(size_t(k), -1e6f);
  for (int64_t kk = 0; kk < k; kk += 7)
    x[size_t(kk)] = 1e6f;
  expectS8T2Exact(m, n, k, x, {1.0f}, w);
}

TEST(TernaryMatmulKernel, IsaFollowsQOptKernel) {
  std::string isa = qopt_kernel_isa_ternary();
  const char *force = std::getenv("QOPT_KERNEL");
  if (force && std::string(force) == "generic")
    EXPECT_EQ(isa, "generic");
  else if (force && std::string(force) == "avx2")
    EXPECT_TRUE(isa == "avx2" || isa == "generic") << isa;
  else
    EXPECT_TRUE(isa == "avx512vnni" || isa == "avx2" || isa == "generic")
        << isa;
}

} // namespace
