//===- GPTQTest.cpp - GPTQ weight rounding --------------------------------===//

#include "qopt/Support/GPTQ.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace qopt;

namespace {

struct Layer {
  int64_t n = 16, k = 64, rows = 512;
  std::vector<float> w, x; // w [n, k], x [rows, k]
  std::vector<double> h;   // 2 X^T X
};

/// Correlated inputs (a shared low-rank part), so that error feedback has
/// something to exploit.
Layer makeLayer(unsigned seed) {
  Layer l;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  l.w.resize(size_t(l.n * l.k));
  for (float &v : l.w)
    v = nd(rng);
  std::vector<float> basis(size_t(4 * l.k));
  for (float &v : basis)
    v = nd(rng);
  l.x.resize(size_t(l.rows * l.k));
  for (int64_t r = 0; r < l.rows; ++r) {
    float c[4] = {nd(rng), nd(rng), nd(rng), nd(rng)};
    for (int64_t j = 0; j < l.k; ++j) {
      float v = 0.3f * nd(rng);
      for (int t = 0; t < 4; ++t)
        v += c[t] * basis[t * l.k + j];
      l.x[r * l.k + j] = v;
    }
  }
  l.h.assign(size_t(l.k * l.k), 0.0);
  for (int64_t r = 0; r < l.rows; ++r)
    for (int64_t i = 0; i < l.k; ++i)
      for (int64_t j = 0; j < l.k; ++j)
        l.h[i * l.k + j] += 2.0 * l.x[r * l.k + i] * l.x[r * l.k + j];
  return l;
}

/// Squared output error sum over the inputs: ||X (W - Q)^T||^2.
double outputError(const Layer &l, const GPTQResult &q, int64_t groupSize) {
  int64_t gs = groupSize ? groupSize : l.k, groups = l.k / gs;
  double e = 0;
  for (int64_t r = 0; r < l.rows; ++r)
    for (int64_t o = 0; o < l.n; ++o) {
      double d = 0;
      for (int64_t j = 0; j < l.k; ++j) {
        double wq = q.codes[o * l.k + j] * q.scales[o * groups + j / gs];
        d += l.x[r * l.k + j] * (l.w[o * l.k + j] - wq);
      }
      e += d * d;
    }
  return e;
}

TEST(GPTQ, LowersTheOutputErrorBelowRoundToNearest) {
  Layer l = makeLayer(1);
  std::string error;
  for (int64_t qmax : {127, 7})
    for (int64_t group : {0, 16}) {
      GPTQOptions o;
      o.qmin = -qmax;
      o.qmax = qmax;
      o.groupSize = group;
      o.blockSize = 32;
      std::optional<GPTQResult> g = gptqQuantize(l.w, l.n, l.k, l.h, o, error);
      ASSERT_TRUE(g) << error;
      double eg = outputError(l, *g, group);
      double er = outputError(l, roundToNearest(l.w, l.n, l.k, o), group);
      EXPECT_LT(eg, 0.8 * er) << "qmax " << qmax << " group " << group;
      for (int8_t c : g->codes)
        EXPECT_TRUE(c >= -qmax && c <= qmax);
    }
}

TEST(GPTQ, DeterministicAndBlockSizeOnlyReordersTheUpdates) {
  // The lazy block updates are an exact reordering: the codes do not
  // depend on the block size (up to float ties, absent here).
  Layer l = makeLayer(2);
  std::string error;
  GPTQOptions a, b;
  a.blockSize = 8;
  b.blockSize = 64;
  auto ga = gptqQuantize(l.w, l.n, l.k, l.h, a, error);
  auto gb = gptqQuantize(l.w, l.n, l.k, l.h, b, error);
  auto gc = gptqQuantize(l.w, l.n, l.k, l.h, b, error);
  ASSERT_TRUE(ga && gb && gc);
  EXPECT_EQ(gb->codes, gc->codes);
  int64_t same = 0;
  for (size_t i = 0; i < ga->codes.size(); ++i)
    same += ga->codes[i] == gb->codes[i];
  EXPECT_GE(same, int64_t(ga->codes.size()) - 2);
}

TEST(GPTQ, DeadInputsAndBadArguments) {
  Layer l = makeLayer(3);
  // Input 5 never active: its row and column of H are zero.
  for (int64_t j = 0; j < l.k; ++j)
    l.h[5 * l.k + j] = l.h[j * l.k + 5] = 0;
  std::string error;
  auto g = gptqQuantize(l.w, l.n, l.k, l.h, GPTQOptions(), error);
  ASSERT_TRUE(g) << error;
  for (int64_t o = 0; o < l.n; ++o)
    EXPECT_EQ(g->codes[o * l.k + 5], 0);
  EXPECT_FALSE(gptqQuantize(l.w, l.n, l.k + 1, l.h, GPTQOptions(), error));
  EXPECT_NE(error.find("[n, k]"), std::string::npos);
  GPTQOptions bad;
  bad.groupSize = 48; // does not divide the block size 128
  EXPECT_FALSE(gptqQuantize(l.w, l.n, l.k, l.h, bad, error));
  EXPECT_NE(error.find("group size"), std::string::npos);
  std::vector<double> negative(size_t(l.k * l.k), 0.0);
  for (int64_t j = 0; j < l.k; ++j)
    negative[j * l.k + j] = -1;
  GPTQOptions noDamp;
  noDamp.percDamp = 0;
  EXPECT_FALSE(gptqQuantize(l.w, l.n, l.k, negative, noDamp, error));
  EXPECT_NE(error.find("not positive definite"), std::string::npos);
}

} // namespace

namespace {

TEST(GPTQ, StaticScalesAreKeptAndChecked) {
  // GPTQ's static groups: the scales given are the ones used (here those
  // of round to nearest), the error feedback still lowers the output error
  // below round to nearest's with the very same scales.
  Layer l = makeLayer(4);
  std::string error;
  GPTQOptions o;
  o.qmin = -8;
  o.qmax = 7;
  o.groupSize = 16;
  o.blockSize = 32;
  GPTQResult nearest = roundToNearest(l.w, l.n, l.k, o);
  o.staticScales = nearest.scales;
  std::optional<GPTQResult> g = gptqQuantize(l.w, l.n, l.k, l.h, o, error);
  ASSERT_TRUE(g) << error;
  EXPECT_EQ(g->scales, nearest.scales);
  EXPECT_LT(outputError(l, *g, 16), 0.8 * outputError(l, nearest, 16));
  for (int8_t c : g->codes)
    EXPECT_TRUE(c >= -8 && c <= 7);
  o.staticScales.pop_back();
  EXPECT_FALSE(gptqQuantize(l.w, l.n, l.k, l.h, o, error));
  EXPECT_EQ(error, "gptq: static scales must be [n, groups]");
  o.staticScales = nearest.scales;
  o.staticScales[3] = 0.0f;
  EXPECT_FALSE(gptqQuantize(l.w, l.n, l.k, l.h, o, error));
  EXPECT_EQ(error, "gptq: static scales must be finite and non-zero");
}

} // namespace

// weight-rounding=auto's selection math: the proxy tr((W-Wq) H (W-Wq)ᵀ)
// against a direct sum over calibration rows, and the choice.
TEST(GPTQAutoChoice, ProxyIsOutputErrorOnRows) {
  Layer l = makeLayer(7);
  GPTQOptions o;
  o.qmin = -127;
  o.qmax = 127;
  GPTQResult q = roundToNearest(l.w, l.n, l.k, o);
  std::vector<float> wq(l.w.size());
  for (int64_t r = 0; r < l.n; ++r)
    for (int64_t j = 0; j < l.k; ++j)
      wq[r * l.k + j] = float(q.codes[r * l.k + j] * double(q.scales[r]));
  double direct = 0;
  for (int64_t s = 0; s < l.rows; ++s)
    for (int64_t r = 0; r < l.n; ++r) {
      double e = 0;
      for (int64_t j = 0; j < l.k; ++j)
        e += (double(l.w[r * l.k + j]) - wq[r * l.k + j]) * l.x[s * l.k + j];
      direct += e * e;
    }
  // l.h is 2 XᵀX.
  double proxy = roundingProxyError(l.w, wq, l.n, l.k, l.h);
  EXPECT_NEAR(proxy, 2 * direct, 1e-6 * proxy);
  EXPECT_GT(proxy, 0);
  EXPECT_EQ(roundingProxyError(l.w, l.w, l.n, l.k, l.h), 0);
}

TEST(GPTQAutoChoice, KeepsTheLowerError) {
  // k = 2, H = diag(1, 100): an error on input 1 costs 100x one on input 0.
  std::vector<double> h = {1, 0, 0, 100};
  std::vector<float> w = {1.0f, 1.0f};
  std::vector<float> errOn0 = {0.9f, 1.0f};
  // A tie keeps nearest.
  EXPECT_TRUE(preferNearestRounding(w, errOn0, errOn0, 1, 2, h));
  // The same weight error costs 100x more on input 1.
  std::vector<float> bigOn1 = {1.0f, 0.9f};
  EXPECT_TRUE(preferNearestRounding(w, errOn0, bigOn1, 1, 2, h));
  EXPECT_FALSE(preferNearestRounding(w, bigOn1, errOn0, 1, 2, h));
  // Correlated inputs: errors of opposite sign on two inputs that move
  // together cancel, so the larger weight error is the smaller output error.
  std::vector<double> corr = {1, 0.99, 0.99, 1};
  std::vector<float> cancel = {1.1f, 0.9f}, single = {1.05f, 1.0f};
  EXPECT_FALSE(preferNearestRounding(w, single, cancel, 1, 2, corr));
}
