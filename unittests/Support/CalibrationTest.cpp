//===- CalibrationTest.cpp - streamed histograms and range choice ---------===//

#include "qopt/Support/Calibration.h"

#include <gtest/gtest.h>

#include <cmath>

#include <limits>
#include <numeric>
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

TEST(Calibration, MethodsParse) {
  EXPECT_EQ(parseCalibrationMethod("entropy"), CalibrationMethod::Entropy);
  EXPECT_FALSE(parseCalibrationMethod("kl").has_value());
}

} // namespace
