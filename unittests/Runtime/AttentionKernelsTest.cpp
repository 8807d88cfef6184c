//===- AttentionKernelsTest.cpp - fused attention and norm kernels -------===//
//
// qopt_kernel_attention_f32 and qopt_kernel_norm_f32 against double
// references of the unfused graphs (QK^T, scale, mask, softmax, ·V; the
// norms' statistics), over shapes that take one and several key tiles,
// strided (transposed) operands, broadcast masks, causal masking and GQA;
// test/Runtime/kernel-variants.test runs them with each ISA path.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

extern "C" void qopt_kernel_attention_f32(
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
    int64_t, int64_t);
extern "C" void qopt_kernel_norm_f32(int64_t, int64_t, int64_t, int64_t,
                                     int64_t, int64_t, int64_t, int64_t,
                                     int64_t, int64_t, int64_t, int64_t,
                                     int64_t, int64_t);

namespace {

template <typename T> int64_t addr(const T *p) {
  return reinterpret_cast<int64_t>(p);
}

int64_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return int64_t(u);
}

struct AttentionCase {
  int64_t b, h, m, n, d, e, group;
  bool transposed; // Q, K, V, O stored [b, seq, h, dim] (torch's layout
                   // before its head transposes)
  int mask;        // 0 none, 1 [b, 1, 1, n] padding, 2 full [b, h, m, n]
  bool divide, causal;
};

class AttentionKernel : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionKernel, MatchesUnfusedReference) {
  const AttentionCase c = GetParam();
  const int64_t kvh = c.h / c.group;
  std::mt19937 gen(unsigned(c.m * 7919 + c.n * 31 + c.d));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto fill = [&](std::vector<float> &v, size_t size) {
    v.resize(size);
    for (float &x : v)
      x = dist(gen);
  };
  std::vector<float> q, k, v, mask;
  fill(q, size_t(c.b * c.h * c.m * c.d));
  fill(k, size_t(c.b * kvh * c.n * c.d));
  fill(v, size_t(c.b * kvh * c.n * c.e));
  // Strides [b, head, seq, dim] of a tensor of `heads` heads.
  auto strides = [&](int64_t heads, int64_t seq, int64_t dim) {
    return c.transposed
               ? std::vector<int64_t>{seq * heads * dim, dim, heads * dim, 1}
               : std::vector<int64_t>{heads * seq * dim, seq * dim, dim, 1};
  };
  std::vector<int64_t> qs = strides(c.h, c.m, c.d), ks = strides(kvh, c.n, c.d),
                       vs = strides(kvh, c.n, c.e), os = strides(c.h, c.m, c.e);
  std::vector<int64_t> ms{0, 0, 0, 0};
  if (c.mask == 1) {
    mask.assign(size_t(c.b * c.n), 0.0f);
    for (int64_t bi = 0; bi < c.b; ++bi)
      for (int64_t j = c.n - 1 - bi; j < c.n; ++j)
        mask[bi * c.n + j] = -10000.0f; // padded keys
    ms = {c.n, 0, 0, 1};
  } else if (c.mask == 2) {
    fill(mask, size_t(c.b * c.h * c.m * c.n));
    ms = {c.h * c.m * c.n, c.m * c.n, c.n, 1};
  }
  const float scale =
      c.divide ? std::sqrt(float(c.d)) : 1 / std::sqrt(float(c.d));
  std::vector<float> o(size_t(c.b * c.h * c.m * c.e), -1.0f);
  qopt_kernel_attention_f32(
      c.b, c.h, c.m, c.n, c.d, c.e, c.group, addr(q.data()), qs[0], qs[1],
      qs[2], qs[3], addr(k.data()), ks[0], ks[1], ks[2], ks[3], addr(v.data()),
      vs[0], vs[1], vs[2], vs[3], c.mask ? addr(mask.data()) : 0, ms[0], ms[1],
      ms[2], ms[3], addr(o.data()), os[0], os[1], os[2], os[3], bitsOf(scale),
      (c.divide ? 1 : 0) | (c.causal ? 2 : 0));
  int64_t checked = 0;
  for (int64_t bi = 0; bi < c.b; ++bi)
    for (int64_t hi = 0; hi < c.h; ++hi)
      for (int64_t i = 0; i < c.m; ++i) {
        const int64_t g = hi / c.group;
        std::vector<double> s(size_t(c.n));
        double mx = -INFINITY;
        for (int64_t j = 0; j < c.n; ++j) {
          double dot = 0;
          for (int64_t t = 0; t < c.d; ++t)
            dot += double(q[bi * qs[0] + hi * qs[1] + i * qs[2] + t]) *
                   double(k[bi * ks[0] + g * ks[1] + j * ks[2] + t]);
          dot = c.divide ? dot / scale : dot * scale;
          if (c.mask)
            dot += mask[bi * ms[0] + hi * ms[1] + i * ms[2] + j * ms[3]];
          if (c.causal && j > i + (c.n - c.m))
            dot = -INFINITY;
          s[j] = dot;
          mx = std::max(mx, dot);
        }
        double sum = 0;
        for (double &x : s)
          sum += (x = std::exp(x - mx));
        for (int64_t t = 0; t < c.e; ++t) {
          double ref = 0;
          for (int64_t j = 0; j < c.n; ++j)
            ref += s[j] / sum * v[bi * vs[0] + g * vs[1] + j * vs[2] + t];
          float got = o[bi * os[0] + hi * os[1] + i * os[2] + t];
          ASSERT_NEAR(got, ref, 2e-6 + 1e-5 * std::fabs(ref))
              << "b " << bi << " h " << hi << " i " << i << " e " << t;
          ++checked;
        }
      }
  EXPECT_EQ(checked, c.b * c.h * c.m * c.e);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionKernel,
    ::testing::Values(
        // BERT/Llama-like heads at a short sequence (one key tile).
        AttentionCase{1, 4, 32, 32, 64, 64, 1, true, 0, false, false},
        AttentionCase{2, 4, 32, 32, 64, 64, 1, true, 1, true, false},
        AttentionCase{1, 2, 17, 17, 64, 64, 1, false, 2, false, false},
        // Several key tiles (online softmax), causal, odd head dims.
        AttentionCase{1, 2, 70, 600, 48, 40, 1, false, 0, false, true},
        AttentionCase{1, 3, 130, 300, 7, 3, 1, true, 2, true, false},
        // Decode step: one query against a long cache; GQA.
        AttentionCase{1, 8, 1, 513, 64, 64, 4, false, 0, false, true},
        AttentionCase{2, 4, 5, 9, 16, 80, 2, true, 1, false, false}));

TEST(AttentionKernel, FullyMaskedRowIsNaNAsUnfused) {
  // One query, two keys, both masked with -inf: the unfused softmax is 0/0.
  std::vector<float> q(4, 1.0f), k(8, 1.0f), v(8, 1.0f), o(4, 0.0f);
  std::vector<float> mask(2, -INFINITY);
  qopt_kernel_attention_f32(1, 1, 1, 2, 4, 4, 1, addr(q.data()), 0, 0, 4, 1,
                            addr(k.data()), 0, 0, 4, 1, addr(v.data()), 0, 0, 4,
                            1, addr(mask.data()), 0, 0, 0, 1, addr(o.data()), 0,
                            0, 4, 1, bitsOf(1.0f), 0);
  for (float x : o)
    EXPECT_TRUE(std::isnan(x));
  // Flag 4 (ONNX Attention's masked softmax): a zero row instead.
  qopt_kernel_attention_f32(1, 1, 1, 2, 4, 4, 1, addr(q.data()), 0, 0, 4, 1,
                            addr(k.data()), 0, 0, 4, 1, addr(v.data()), 0, 0, 4,
                            1, addr(mask.data()), 0, 0, 0, 1, addr(o.data()), 0,
                            0, 4, 1, bitsOf(1.0f), 4);
  for (float x : o)
    EXPECT_EQ(x, 0.0f);
}

struct NormCase {
  int64_t rows, n;
  int mode;
  bool bias;
};

class NormKernel : public ::testing::TestWithParam<NormCase> {};

TEST_P(NormKernel, MatchesUnfusedReference) {
  const NormCase c = GetParam();
  std::mt19937 gen(unsigned(c.rows * 131 + c.n + c.mode));
  std::normal_distribution<float> dist(0.5f, 2.0f);
  std::vector<float> x(size_t(c.rows * c.n)), g(size_t(c.n)), b(size_t(c.n));
  for (float &t : x)
    t = dist(gen);
  for (float &t : g)
    t = dist(gen);
  for (float &t : b)
    t = dist(gen);
  // Output rows padded (row stride n + 3) to check the strides are used.
  const int64_t oR = c.n + 3;
  std::vector<float> out(size_t(c.rows * oR), 7.0f);
  const float eps = c.mode == 0 || c.mode == 3 ? 1e-5f : 1e-6f;
  qopt_kernel_norm_f32(c.rows, c.n, addr(x.data()), c.n, 1, addr(g.data()), 1,
                       c.bias ? addr(b.data()) : 0, 1, addr(out.data()), oR, 1,
                       bitsOf(eps), c.mode);
  for (int64_t r = 0; r < c.rows; ++r) {
    const float *xr = x.data() + r * c.n;
    double mean = 0, sq = 0;
    if (c.mode == 0 || c.mode == 3) {
      for (int64_t i = 0; i < c.n; ++i)
        mean += xr[i];
      mean /= double(c.n);
    }
    for (int64_t i = 0; i < c.n; ++i)
      sq += (xr[i] - mean) * (xr[i] - mean);
    const double inv = 1.0 / std::sqrt(sq / double(c.n) + double(eps));
    for (int64_t i = 0; i < c.n; ++i) {
      double ref = (xr[i] - mean) * inv * g[i] + (c.bias ? b[i] : 0.0);
      float got = out[r * oR + i];
      ASSERT_NEAR(got, ref, 1e-5 * (1.0 + std::fabs(ref))) << r << " " << i;
    }
    for (int64_t i = c.n; i < oR; ++i)
      EXPECT_EQ(out[r * oR + i], 7.0f); // the padding is not written
  }
}

TEST(NormKernel, ContiguousAndStridedRowsAgreeExactly) {
  // Unit strides take the vectorized path, a column-strided view of the
  // same values the strided one: the same operations in the same order,
  // so bit-identical outputs, for every mode, with and without gamma/beta.
  const int64_t rows = 6, n = 77;
  std::mt19937 gen(7);
  std::normal_distribution<float> dist(0.3f, 1.5f);
  std::vector<float> x(static_cast<size_t>(rows * n)),
      xs(static_cast<size_t>(rows * n * 2)), g(static_cast<size_t>(n)),
      b(static_cast<size_t>(n));
  for (int64_t i = 0; i < rows * n; ++i)
    xs[size_t(2 * i)] = x[size_t(i)] = dist(gen);
  for (float &t : g)
    t = dist(gen);
  for (float &t : b)
    t = dist(gen);
  for (int mode = 0; mode < 4; ++mode)
    for (bool hasG : {false, true})
      for (bool hasB : {false, true}) {
        std::vector<float> o1(static_cast<size_t>(rows * n)),
            o2(static_cast<size_t>(rows * n * 2));
        qopt_kernel_norm_f32(rows, n, addr(x.data()), n, 1,
                             hasG ? addr(g.data()) : 0, 1,
                             hasB ? addr(b.data()) : 0, 1, addr(o1.data()), n,
                             1, bitsOf(1e-5f), mode);
        qopt_kernel_norm_f32(rows, n, addr(xs.data()), 2 * n, 2,
                             hasG ? addr(g.data()) : 0, 1,
                             hasB ? addr(b.data()) : 0, 1, addr(o2.data()),
                             2 * n, 2, bitsOf(1e-5f), mode);
        for (int64_t i = 0; i < rows * n; ++i)
          ASSERT_EQ(o1[size_t(i)], o2[size_t(2 * i)])
              << mode << " " << hasG << " " << hasB << " " << i;
      }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, NormKernel,
    ::testing::Values(NormCase{32, 256, 0, true}, NormCase{3, 1000, 0, false},
                      NormCase{32, 256, 1, false}, NormCase{300, 768, 1, true},
                      NormCase{5, 13, 2, false}, NormCase{1, 4096, 2, true},
                      NormCase{40, 384, 3, true}));

} // namespace
