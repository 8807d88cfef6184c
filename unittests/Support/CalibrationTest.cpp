//===- CalibrationTest.cpp - streamed histograms and range choice ---------===//

#include "qopt/Support/Calibration.h"

#include <gtest/gtest.h>

#include <cmath>

#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using namespace qopt;

namespace {

TEST(Histogram, GrowingKeepsCountsExact) {
  Histogram h(8); // 16 signed bins
  const float first[] = {1.0f, -0.9f, 0.1f};
  ASSERT_TRUE(h.add(first, 3));
  EXPECT_EQ(h.range(), 1.0);
  // 3.5 needs two doublings (range 4): bins of width 0.5.
  const float second[] = {3.5f};
  ASSERT_TRUE(h.add(second, 1));
  EXPECT_EQ(h.range(), 4.0);
  EXPECT_EQ(h.count(), 4);
  EXPECT_EQ(h.min(), -0.9f);
  EXPECT_EQ(h.max(), 3.5f);
  std::vector<double> mags = h.magnitudes();
  ASSERT_EQ(mags.size(), 8u);
  // |x| bins of 0.5: 0.1 -> bin 0; 0.9 and 1.0 -> bins 1 and 2 (1.0 was in
  // the top bin [0.875, 1] of the first range, now [0.5, 1.0]).
  EXPECT_EQ(mags[0], 1);
  EXPECT_EQ(mags[1], 2);
  EXPECT_EQ(mags[7], 1);
  EXPECT_EQ(std::accumulate(mags.begin(), mags.end(), 0.0), 4);
}

TEST(Histogram, RejectsNonFiniteValues) {
  Histogram h;
  const float bad[] = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_FALSE(h.add(bad, 2));
  EXPECT_EQ(h.count(), 0);
}

TEST(Calibration, EntropyKeepsAConcentratedDistributionWhole) {
  // All mass in the first 64 of 2048 bins: no candidate threshold loses
  // anything, and the smallest window (128 bins) already reproduces P.
  std::vector<double> hist(2048, 0.0);
  for (int b = 0; b < 64; ++b)
    hist[b] = 100 + b;
  double t = entropyThreshold(hist, 0.01);
  EXPECT_GE(t, 64 * 0.01);
  EXPECT_LE(t, 2048 * 0.01);
}

TEST(Calibration, EntropyIgnoresThePileOfZeros) {
  // A ReLU'd N(0, 1) in |x| bins of 0.01 up to 4.8: half the values are
  // exact zeros in bin 0. Without TensorRT's bins[0] = bins[1] the spike
  // pulls the threshold down to ~1.8; with it the search keeps the body.
  std::vector<double> hist(480, 0.0);
  hist[0] = 500000;
  for (int b = 1; b < 480; ++b) {
    double x = (b + 0.5) * 0.01;
    hist[b] = 1e6 * 0.01 * std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
  }
  double t = entropyThreshold(hist, 0.01);
  EXPECT_GT(t, 3.0);
}

TEST(Calibration, MSEClipsALongTail) {
  // A dense bulk near 0 and one far bin: clipping the far value costs less
  // than coarse steps for the bulk.
  std::vector<double> hist(1000, 0.0);
  for (int b = 0; b < 20; ++b)
    hist[b] = 1000;
  hist[999] = 1;
  double t = mseThreshold(hist, 0.01, 127);
  EXPECT_LT(t, 9.99);
  EXPECT_GE(t, 0.2);
}

TEST(Calibration, QuantizationErrorOfExactValuesIsZero) {
  // Values on the int8 grid of [-127, 127] (scale 1): nothing is lost.
  Histogram h(254); // bins of width 0.5 over [-127, 127]
  std::vector<float> v;
  for (int k = -127; k <= 127; ++k)
    v.push_back(float(k));
  ASSERT_TRUE(h.add(v.data(), int64_t(v.size())));
  // The 4 points of a bin [k, k + 0.5] stand for k: an error below the
  // uniform quantization noise (1/12), never 0 (the bins hide the values).
  double err = quantizationError(h, {-127, 127}, StorageType::Int8, true);
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 1.0 / 12);
  // Clipping at 63.5 adds the clipped values' squared distance.
  double clipped =
      quantizationError(h, {-63.5f, 63.5f}, StorageType::Int8, true);
  EXPECT_GT(clipped, 100 * err);
  EXPECT_EQ(quantizationError(Histogram(), {-1, 1}, StorageType::Int8, true),
            0.0);
}

TEST(Calibration, ClippingMethodsFallBackToMinMax) {
  // Softmax outputs (rows of 64, logits N(0, 3^2)): most probabilities
  // near 0, the few large ones carry the signal. KL keeps the shape of the
  // bulk and clips the large values; its error is far above minmax's, so
  // the checked choice keeps minmax (and says so).
  Histogram h;
  std::mt19937 rng(0);
  std::normal_distribution<float> logit(0.0f, 3.0f);
  std::vector<float> v(64 * 1500);
  for (size_t row = 0; row < v.size(); row += 64) {
    float sum = 0;
    for (size_t j = 0; j < 64; ++j)
      sum += v[row + j] = std::exp(logit(rng));
    for (size_t j = 0; j < 64; ++j)
      v[row + j] /= sum;
  }
  ASSERT_TRUE(h.add(v.data(), int64_t(v.size())));
  RangeChoice raw =
      chooseRangeChecked(h, CalibrationMethod::Entropy, true, 99.99, 127, -1);
  EXPECT_EQ(raw.method, CalibrationMethod::Entropy);
  EXPECT_LT(raw.range.hi, 0.8f * h.max());
  EXPECT_GT(raw.error, 10 * raw.minmaxError); // > 10 dB
  RangeChoice checked = chooseRangeChecked(h, CalibrationMethod::Entropy, true);
  EXPECT_EQ(checked.method, CalibrationMethod::MinMax);
  EXPECT_EQ(checked.range.hi, h.max());
  EXPECT_EQ(chooseRange(h, CalibrationMethod::Entropy, true).hi, h.max());
}

TEST(Calibration, AsymmetricRangesStayOneSided) {
  // A ReLU output: entropy and mse ranges start at 0 when asymmetric (they
  // were [-T, T], wasting half of uint8's codes).
  Histogram h;
  std::vector<float> v;
  for (int i = 0; i < 20000; ++i)
    v.push_back(i % 2 ? 0.0f : float(i % 1000) / 250.0f);
  ASSERT_TRUE(h.add(v.data(), int64_t(v.size())));
  for (CalibrationMethod m :
       {CalibrationMethod::Entropy, CalibrationMethod::MSE,
        CalibrationMethod::Percentile}) {
    ClipRange r = chooseRange(h, m, /*symmetric=*/false);
    EXPECT_EQ(r.lo, 0.0f);
    EXPECT_GT(r.hi, 3.0f);
  }
}

TEST(Calibration, MethodsParse) {
  EXPECT_EQ(parseCalibrationMethod("entropy"), CalibrationMethod::Entropy);
  EXPECT_FALSE(parseCalibrationMethod("kl").has_value());
}

} // namespace

// activation-type=auto's selection: one-sided values (a ReLU's output)
// quantize with less error as asymmetric uint8 (all 256 levels over
// [0, max]) than symmetric int8 (half the levels unused); values centred
// on zero do not gain from a zero point, and a tie keeps int8.
TEST(ActivationSymmetryChoice, OneSidedPrefersAsymmetric) {
  std::vector<float> relu, centred;
  for (int i = 0; i < 1000; ++i) {
    relu.push_back(float(i) / 100.0f);          // [0, 10)
    centred.push_back(float(i - 500) / 100.0f); // [-5, 4.99]
  }
  for (auto [values, wantAsym] :
       {std::pair{&relu, true}, std::pair{&centred, false}}) {
    Histogram h;
    ASSERT_TRUE(h.add(values->data(), int64_t(values->size())));
    ClipRange sym = chooseRange(h, CalibrationMethod::MinMax, true);
    ClipRange asym = chooseRange(h, CalibrationMethod::MinMax, false);
    double eSym = quantizationError(h, sym, StorageType::Int8, true);
    double eAsym = quantizationError(h, asym, StorageType::UInt8, false);
    EXPECT_EQ(preferAsymmetricActivation(eSym, eAsym), wantAsym)
        << eSym << " vs " << eAsym;
    if (wantAsym) // twice the step: about 4x the squared error
      EXPECT_GT(eSym / eAsym, 3.0);
  }
  EXPECT_FALSE(preferAsymmetricActivation(1.0, 1.0));
  EXPECT_FALSE(preferAsymmetricActivation(1.0, 0.8)); // 0.97 dB
  EXPECT_TRUE(preferAsymmetricActivation(1.0, 0.79)); // 1.02 dB
}
