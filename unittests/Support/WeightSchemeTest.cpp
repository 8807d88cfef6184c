//===- WeightSchemeTest.cpp - per-layer weight scheme chosen by error -----===//

#include "qopt/Support/WeightScheme.h"
#include "qopt/Support/QuantMath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace qopt;

namespace {

/// Rows x [rows, k] and H = XᵀX / rows.
struct Inputs {
  int64_t rows, k;
  std::vector<double> x, h;
};

Inputs correlatedInputs(int64_t rows, int64_t k, unsigned seed) {
  Inputs in{rows, k, std::vector<double>(size_t(rows * k)),
            std::vector<double>(size_t(k * k), 0.0)};
  std::mt19937 rng(seed);
  std::normal_distribution<double> nd;
  for (int64_t r = 0; r < rows; ++r) {
    double shared = nd(rng);
    for (int64_t j = 0; j < k; ++j)
      in.x[size_t(r * k + j)] = 0.7 * shared + 0.5 * nd(rng) + 0.1 * j;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j)
        in.h[size_t(i * k + j)] +=
            in.x[size_t(r * k + i)] * in.x[size_t(r * k + j)] / double(rows);
  return in;
}

/// 10·log10(Σ||W x||² / Σ||(W − Wq) x||²) over the rows, directly.
double directSqnrDb(const std::vector<float> &w, const std::vector<float> &wq,
                    int64_t n, const Inputs &in) {
  double signal = 0, noise = 0;
  for (int64_t r = 0; r < in.rows; ++r)
    for (int64_t o = 0; o < n; ++o) {
      double y = 0, e = 0;
      for (int64_t j = 0; j < in.k; ++j) {
        double xv = in.x[size_t(r * in.k + j)];
        y += double(w[size_t(o * in.k + j)]) * xv;
        e += (double(w[size_t(o * in.k + j)]) -
              double(wq[size_t(o * in.k + j)])) *
             xv;
      }
      signal += y * y;
      noise += e * e;
    }
  return 10.0 * std::log10(signal / noise);
}

TEST(WeightSchemeChoice, Int8CodesPerChannelAndPerTensor) {
  // Rows with max |w| 2.54, 0.127 and an all-zero row.
  std::vector<float> w = {2.54f, -1.0f, 0.5f, 0.127f, -0.05f,
                          0.0f,  0.0f,  0.0f, 0.0f};
  Int8Weights ch = quantizeInt8Weights(w, 3, 3, /*perTensor=*/false);
  Int8Weights t = quantizeInt8Weights(w, 3, 3, /*perTensor=*/true);
  // Per channel: chooseQuantParams's symmetric scale of each row.
  for (int64_t r = 0; r < 2; ++r) {
    float m = r == 0 ? 2.54f : 0.127f;
    EXPECT_EQ(ch.scales[size_t(r)],
              chooseQuantParams(-m, m, StorageType::Int8, true)->scale);
  }
  EXPECT_EQ(ch.scales[2], 1.0f); // all zero (REFERENCE.md)
  EXPECT_EQ(ch.codes[3], 127);
  EXPECT_EQ(ch.codes[4], -50);
  // Per tensor: one scale, the max row's; row 1 gets max |w| / 0.02.
  for (float s : t.scales)
    EXPECT_EQ(s, ch.scales[0]);
  EXPECT_EQ(t.codes[0], 127);
  EXPECT_EQ(t.codes[3], 6);  // 0.127 / 0.02 = 6.35
  EXPECT_EQ(t.codes[4], -2); // -2.5: half to even
  std::vector<float> dq = dequantizeInt8Weights(t, 3, 3);
  EXPECT_FLOAT_EQ(dq[3], 6 * t.scales[1]);
}

TEST(WeightSchemeChoice, SqnrIsTheOutputErrorOverTheRows) {
  // tr((W − Wq) H (W − Wq)ᵀ) with H = XᵀX / rows is Σ||(W − Wq) x||² / rows.
  int64_t n = 6, k = 12;
  Inputs in = correlatedInputs(200, k, 3);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> w(size_t(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < k; ++j)
      w[size_t(r * k + j)] = nd(rng) * float(1 + 4 * r); // uneven rows
  for (bool perTensor : {false, true}) {
    std::vector<float> wq =
        dequantizeInt8Weights(quantizeInt8Weights(w, n, k, perTensor), n, k);
    EXPECT_NEAR(weightOutputSqnrDb(w, wq, n, k, in.h),
                directSqnrDb(w, wq, n, in), 1e-9);
  }
  // Uneven rows: per channel's smaller steps win by several dB.
  double ch = weightOutputSqnrDb(
      w, dequantizeInt8Weights(quantizeInt8Weights(w, n, k, false), n, k), n, k,
      in.h);
  double t = weightOutputSqnrDb(
      w, dequantizeInt8Weights(quantizeInt8Weights(w, n, k, true), n, k), n, k,
      in.h);
  EXPECT_GT(ch, t + 3.0);
  WeightSchemeSqnr both = compareWeightSchemes(
      w, dequantizeInt8Weights(quantizeInt8Weights(w, n, k, false), n, k),
      dequantizeInt8Weights(quantizeInt8Weights(w, n, k, true), n, k), n, k,
      in.h);
  EXPECT_DOUBLE_EQ(both.defaultDb, ch);
  EXPECT_DOUBLE_EQ(both.alternativeDb, t);
  EXPECT_FALSE(preferAlternativeWeightScheme(ch, t));
}

TEST(WeightSchemeChoice, GridWeightsPreferPerTensor) {
  // Weights already on a per-tensor grid (a per-tensor QAT model): per
  // tensor reproduces them, per channel re-scales every row but the max.
  int64_t n = 4, k = 8;
  Inputs in = correlatedInputs(64, k, 7);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> code(-60, 60);
  float step = 0.03125f; // a power of two: codes·step exact
  std::vector<float> w(size_t(n * k));
  for (float &v : w)
    v = float(code(rng)) * step;
  w[0] = 127 * step;
  double ch = weightOutputSqnrDb(
      w, dequantizeInt8Weights(quantizeInt8Weights(w, n, k, false), n, k), n, k,
      in.h);
  double t = weightOutputSqnrDb(
      w, dequantizeInt8Weights(quantizeInt8Weights(w, n, k, true), n, k), n, k,
      in.h);
  EXPECT_TRUE(std::isinf(t) && t > 0);
  EXPECT_TRUE(std::isfinite(ch));
  EXPECT_TRUE(preferAlternativeWeightScheme(ch, t));
}

TEST(WeightSchemeChoice, MarginAndTies) {
  double inf = std::numeric_limits<double>::infinity();
  // The alternative must be more than the margin (0.1 dB) better.
  EXPECT_FALSE(preferAlternativeWeightScheme(40.0, 40.0));
  EXPECT_FALSE(preferAlternativeWeightScheme(40.0, 40.1));
  EXPECT_TRUE(preferAlternativeWeightScheme(40.0, 40.11));
  EXPECT_FALSE(preferAlternativeWeightScheme(40.0, 39.0));
  EXPECT_TRUE(preferAlternativeWeightScheme(40.0, 41.0, 0.5));
  EXPECT_FALSE(preferAlternativeWeightScheme(40.0, 40.4, 0.5));
  // Per tensor needs more than 1 dB (its steps are never finer).
  EXPECT_EQ(kGranularityMarginDb, 1.0);
  EXPECT_FALSE(
      preferAlternativeWeightScheme(48.50, 48.81, kGranularityMarginDb));
  EXPECT_TRUE(preferAlternativeWeightScheme(48.50, 49.6, kGranularityMarginDb));
  // Exact weights: an exact default is never left; an exact alternative
  // beats any finite default; both exact is a tie.
  EXPECT_FALSE(preferAlternativeWeightScheme(inf, inf));
  EXPECT_FALSE(preferAlternativeWeightScheme(inf, 90.0));
  EXPECT_TRUE(preferAlternativeWeightScheme(90.0, inf));
}

TEST(WeightSchemeChoice, ZeroErrorAndZeroSignal) {
  std::vector<double> h = {1.0, 0.0, 0.0, 1.0};
  std::vector<float> w = {1.0f, 2.0f}, zero = {0.0f, 0.0f};
  EXPECT_TRUE(std::isinf(weightOutputSqnrDb(w, w, 1, 2, h)));
  EXPECT_GT(weightOutputSqnrDb(w, w, 1, 2, h), 0);
  double db = weightOutputSqnrDb(zero, w, 1, 2, h);
  EXPECT_TRUE(std::isinf(db) && db < 0);
}

} // namespace
