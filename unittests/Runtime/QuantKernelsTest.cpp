//===- QuantKernelsTest.cpp - int8 and weight-only matmul kernels ---------===//
//
// Each kernel against naive loops, with every microkernel the runtime can
// pick (test/Runtime/kernel-variants.test runs these under QOPT_KERNEL).
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"
#include "qopt/Support/NF4.h"

#include "ConvReference.h"
#include "Threads.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" {
void qopt_kernel_matmul_s8s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t);
void qopt_kernel_matmul_u8s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t);
void qopt_kernel_conv2d_nchw_s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, int64_t, int64_t);
void qopt_kernel_matmul_w8(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t);
void qopt_kernel_matmul_w4(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t);
}

namespace {

template <typename T> int64_t addr(const T *p) {
  return reinterpret_cast<int64_t>(p);
}

template <typename T>
std::vector<T> randomInts(size_t n, int lo, int hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(n);
  for (T &x : v)
    x = T(d(gen));
  return v;
}

std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float &x : v)
    x = d(gen);
  return v;
}

struct Int8Case {
  int64_t m, n, k;
  bool aSigned, transposedA;
};

class Int8MatmulKernel : public ::testing::TestWithParam<Int8Case> {};

TEST_P(Int8MatmulKernel, MatchesNaiveLoopsExactly) {
  auto [m, n, k, aSigned, transposedA] = GetParam();
  // A as bytes; interpreted as s8 or u8. Column-major A checks strides.
  std::vector<int8_t> a = randomInts<int8_t>(m * k, -128, 127, 1);
  std::vector<int8_t> b = randomInts<int8_t>(n * k, -128, 127, 2);
  std::vector<int32_t> c = randomInts<int32_t>(m * n, -1000, 1000, 3);
  int64_t aM = transposedA ? 1 : k, aK = transposedA ? m : 1;
  std::vector<int32_t> ref = c;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t l = 0; l < k; ++l) {
        int64_t av = aSigned ? int64_t(a[i * aM + l * aK])
                             : int64_t(uint8_t(a[i * aM + l * aK]));
        s += av * b[j * k + l];
      }
      ref[i * n + j] += int32_t(s);
    }
  for (int constant = 0; constant < 2; ++constant)
    for (int rep = 0; rep < 2; ++rep) { // the constant path packs once
      std::vector<int32_t> out = c;
      (aSigned ? qopt_kernel_matmul_s8s8 : qopt_kernel_matmul_u8s8)(
          m, n, k, addr(a.data()), aM, aK, addr(b.data()), k, 1,
          addr(out.data()), n, 1, constant);
      ASSERT_EQ(out, ref) << "constant " << constant << " rep " << rep;
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Int8MatmulKernel,
                         ::testing::Values(Int8Case{1, 1, 1, true, false},
                                           Int8Case{5, 7, 3, false, false},
                                           Int8Case{8, 32, 512, true, false},
                                           Int8Case{73, 300, 517, true, false},
                                           Int8Case{17, 45, 1030, false, true},
                                           Int8Case{100, 33, 64, false,
                                                    false}));

// The extremes at the largest K the i32 accumulator holds for u8 × s8
// (255 · -128 · 65793 = -2147483520): the +128 shift of signed inputs
// wraps internally and must still come out exact.
TEST(Int8MatmulKernel, ExtremeValuesAtTheOverflowBound) {
  const int64_t k = 65793, n = 3;
  std::vector<int8_t> aU(k, int8_t(uint8_t(255))), aS(k, -128), b(n * k, -128);
  std::vector<int32_t> out(n, 0);
  qopt_kernel_matmul_u8s8(1, n, k, addr(aU.data()), k, 1, addr(b.data()), k, 1,
                          addr(out.data()), n, 1, 0);
  for (int32_t v : out)
    EXPECT_EQ(v, int32_t(-2147483520));
  out.assign(n, 0);
  qopt_kernel_matmul_s8s8(1, n, k, addr(aS.data()), k, 1, addr(b.data()), k, 1,
                          addr(out.data()), n, 1, 0);
  for (int32_t v : out)
    EXPECT_EQ(v, int32_t(16384 * k));
}

TEST(Int8MatmulKernel, UsesTheRequestedISA) {
  const char *want = std::getenv("QOPT_KERNEL");
  std::string isa = qopt_kernel_isa_int8();
  if (want && std::string(want) == "generic")
    EXPECT_EQ(isa, "generic");
  else if (want && std::string(want) == "avx2")
    EXPECT_TRUE(isa == "avx2" || isa == "generic") << isa;
  else
    EXPECT_TRUE(isa == "avx512vnni" || isa == "avx2" || isa == "generic")
        << isa;
}

struct ConvCase {
  int64_t n, c, h, w, f, kh, kw, sh, sw, dh, dw;
};

class Int8ConvKernel : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Int8ConvKernel, MatchesNaiveLoopsExactly) {
  auto [n, c, h, w, f, kh, kw, sh, sw, dh, dw] = GetParam();
  const int64_t oh = (h - dh * (kh - 1) - 1) / sh + 1;
  const int64_t ow = (w - dw * (kw - 1) - 1) / sw + 1;
  std::vector<int8_t> in = randomInts<int8_t>(n * c * h * w, -128, 127, 9);
  std::vector<int8_t> filter =
      randomInts<int8_t>(f * c * kh * kw, -128, 127, 10);
  std::vector<int32_t> out = randomInts<int32_t>(n * f * oh * ow, -50, 50, 11);
  std::vector<int32_t> ref = out;
  qopt::test::naiveConv2d<int64_t>(in, filter, ref, n, c, h, w, f, kh, kw, sh,
                                   sw, dh, dw, oh, ow);
  qopt_kernel_conv2d_nchw_s8(n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw,
                             addr(in.data()), c * h * w, h * w, w, 1,
                             addr(filter.data()), c * kh * kw, kh * kw, kw, 1,
                             addr(out.data()), f * oh * ow, oh * ow, ow, 1);
  ASSERT_EQ(out, ref);
}

// A filter whose (c, kh, kw) dims do not collapse (stored [F, KH, KW, C]):
// the kernel copies it into [F, C*KH*KW] first.
TEST(Int8ConvKernel, StridedFilter) {
  const int64_t c = 3, h = 6, w = 5, f = 4, kh = 2, kw = 3;
  const int64_t oh = h - kh + 1, ow = w - kw + 1;
  std::vector<int8_t> in = randomInts<int8_t>(c * h * w, -128, 127, 12);
  std::vector<int8_t> filter =
      randomInts<int8_t>(f * kh * kw * c, -128, 127, 13);
  std::vector<int32_t> out(f * oh * ow, 0), ref = out;
  for (int64_t o = 0; o < f; ++o)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        int64_t s = 0;
        for (int64_t ci = 0; ci < c; ++ci)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t x = 0; x < kw; ++x)
              s += int64_t(in[(ci * h + i + y) * w + j + x]) *
                   filter[((o * kh + y) * kw + x) * c + ci];
        ref[(o * oh + i) * ow + j] = int32_t(s);
      }
  qopt_kernel_conv2d_nchw_s8(1, c, h, w, f, kh, kw, oh, ow, 1, 1, 1, 1,
                             addr(in.data()), c * h * w, h * w, w, 1,
                             addr(filter.data()), kh * kw * c, 1, kw * c, c,
                             addr(out.data()), f * oh * ow, oh * ow, ow, 1);
  ASSERT_EQ(out, ref);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Int8ConvKernel,
    ::testing::Values(ConvCase{1, 3, 9, 8, 5, 3, 3, 1, 1, 1, 1},
                      ConvCase{2, 3, 9, 8, 5, 3, 2, 2, 1, 1, 2},
                      ConvCase{1, 16, 18, 18, 32, 3, 3, 1, 1, 1, 1},
                      ConvCase{1, 7, 12, 40, 33, 1, 1, 1, 1, 1, 1},
                      ConvCase{1, 5, 11, 13, 9, 5, 3, 2, 3, 1, 1}));

struct WeightOnlyCase {
  int64_t m, n, k, bits, group;
  bool isSigned;
  bool nf4 = false; // 4-bit codes index QLoRA's NF4 levels
};

class WeightOnlyMatmulKernel : public ::testing::TestWithParam<WeightOnlyCase> {
};

/// A weight-only problem: the stored weight, its scales and zero points,
/// and C += A · dequant(W)ᵀ computed in double.
struct WeightOnlyProblem {
  WeightOnlyCase p;
  int64_t groups, rowBytes;
  std::vector<float> a, c, ref, scale;
  std::vector<int8_t> stored, zp;

  WeightOnlyProblem(const WeightOnlyCase &p, unsigned seed) : p(p) {
    auto [m, n, k, bits, group, isSigned, nf4] = p;
    a = randomFloats(m * k, seed + 4);
    c = randomFloats(m * n, seed + 5);
    ref = c;
    // 4-bit: the last group may be partial; rows are stored padded to
    // whole groups, as qopt-quantize stores them.
    groups = bits == 8 ? 1 : (k + group - 1) / group;
    rowBytes = bits == 8 ? k : groups * group / 2;
    scale = randomFloats(n * groups, seed + 6);
    // Unpacked values, then the stored form.
    std::vector<int> q = bits == 8 ? randomInts<int>(n * k, -128, 127, seed + 7)
                         : nf4     ? randomInts<int>(n * k, 0, 15, seed + 7)
                         : isSigned ? randomInts<int>(n * k, -8, 7, seed + 7)
                                    : randomInts<int>(n * k, 0, 15, seed + 7);
    zp = randomInts<int8_t>(n * groups, 0, 15, seed + 8);
    if (bits == 8) {
      stored.assign(q.begin(), q.end());
    } else {
      stored.assign(n * rowBytes, 0);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t l = 0; l < k; ++l)
          stored[j * rowBytes + l / 2] |=
              int8_t((q[j * k + l] & 15) << (l % 2 * 4));
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l) {
          int64_t g = bits == 8 ? 0 : l / group;
          int v =
              q[j * k + l] - (bits == 4 && !isSigned ? zp[j * groups + g] : 0);
          float wv = nf4 ? qopt::kNF4Levels[q[j * k + l]] : float(v);
          s += double(a[i * k + l]) * double(wv * scale[j * groups + g]);
        }
        ref[i * n + j] += float(s);
      }
  }

  /// The kernel's C, with `constant` passed as its bConstant flag.
  std::vector<float> run(bool constant) const {
    auto [m, n, k, bits, group, isSigned, nf4] = p;
    std::vector<float> out = c;
    if (bits == 8)
      qopt_kernel_matmul_w8(m, n, k, addr(a.data()), k, 1, addr(stored.data()),
                            k, 1, addr(scale.data()), 1, addr(out.data()), n, 1,
                            constant);
    else
      qopt_kernel_matmul_w4(m, n, k, group, nf4 ? 2 : isSigned, addr(a.data()),
                            k, 1, addr(stored.data()), rowBytes, 1,
                            addr(scale.data()), groups, 1,
                            isSigned ? 0 : addr(zp.data()), groups, 1,
                            addr(out.data()), n, 1, constant);
    return out;
  }

  void expectNear(const std::vector<float> &out) const {
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], ref[i], 2e-3 * std::sqrt(double(p.k)) + 1e-3)
          << "element " << i;
  }
};

TEST_P(WeightOnlyMatmulKernel, MatchesNaiveLoops) {
  WeightOnlyProblem prob(GetParam(), 0);
  // Not constant: repacked on the call; constant: packed once and kept, so
  // a second call must give the same result.
  prob.expectNear(prob.run(false));
  std::vector<float> first = prob.run(true);
  prob.expectNear(first);
  EXPECT_EQ(prob.run(true), first);
  // Its buffers are freed next: drop the packed copy keyed by their
  // addresses.
  qopt::rt::clearKernelCaches();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, WeightOnlyMatmulKernel,
    ::testing::Values(WeightOnlyCase{1, 37, 96, 8, 0, true},
                      WeightOnlyCase{3, 300, 1100, 8, 0, true},
                      WeightOnlyCase{40, 70, 300, 8, 0, true},
                      WeightOnlyCase{1, 33, 256, 4, 32, true},
                      WeightOnlyCase{4, 64, 1024, 4, 128, false},
                      WeightOnlyCase{21, 50, 384, 4, 64, true},
                      WeightOnlyCase{9, 17, 256, 4, 128, false},
                      WeightOnlyCase{1, 40, 512, 4, 64, true, true},
                      WeightOnlyCase{3, 33, 192, 4, 64, true, true},
                      WeightOnlyCase{1, 9, 100, 4, 50, true, true},
                      WeightOnlyCase{24, 45, 256, 4, 64, true, true},
                      // 5-16 rows: groups of dot-product rows.
                      WeightOnlyCase{8, 384, 128, 8, 0, true},
                      WeightOnlyCase{13, 40, 256, 4, 64, true},
                      // K not a multiple of the group: a partial last group
                      // (vector tail, scalar tail, GEMM path, NF4, odd K).
                      WeightOnlyCase{1, 33, 688, 4, 32, true},
                      WeightOnlyCase{2, 40, 688, 4, 128, false},
                      WeightOnlyCase{3, 17, 100, 4, 32, true},
                      WeightOnlyCase{20, 30, 688, 4, 128, true},
                      WeightOnlyCase{1, 9, 43, 4, 32, true, true},
                      // 5-16 rows with a partial last group.
                      WeightOnlyCase{8, 40, 688, 4, 128, true},
                      WeightOnlyCase{11, 24, 100, 4, 32, false},
                      // The GEMM path on repacked panels: M up to 128, N not
                      // a multiple of the panel width, every format, odd
                      // groups.
                      WeightOnlyCase{17, 33, 100, 4, 50, false},
                      WeightOnlyCase{32, 256, 256, 4, 32, true},
                      WeightOnlyCase{33, 97, 688, 4, 128, false},
                      WeightOnlyCase{64, 70, 300, 4, 32, true, true},
                      WeightOnlyCase{128, 45, 136, 4, 8, true},
                      WeightOnlyCase{100, 130, 257, 8, 0, true},
                      WeightOnlyCase{128, 33, 64, 8, 0, true}));

/// A weight that is not a constant changes between calls: each call must
/// use the values it is given, not a packed copy of earlier ones.
TEST(WeightOnlyMatmulKernel, NonConstantWeightIsRepackedPerCall) {
  for (int64_t bits : {4, 8}) {
    WeightOnlyProblem first({40, 50, 128, bits, 32, true}, 0);
    WeightOnlyProblem second({40, 50, 128, bits, 32, true}, 100);
    // The second problem's weight, scales and zero points written over the
    // first's buffers (same addresses).
    first.expectNear(first.run(false));
    WeightOnlyProblem reused = first;
    reused.stored = second.stored;
    reused.scale = second.scale;
    reused.zp = second.zp;
    reused.a = second.a;
    reused.c = second.c;
    reused.ref = second.ref;
    second.expectNear(reused.run(false));
  }
}

} // namespace
