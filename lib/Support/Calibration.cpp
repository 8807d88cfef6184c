//===- Calibration.cpp - activation statistics and clipping ranges --------===//

#include "qopt/Support/Calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace qopt;

Histogram::Histogram(int64_t bins)
    : numBins(bins < 1 ? 1 : bins), counts(size_t(2 * numBins), 0.0) {}

std::optional<Histogram> Histogram::fromState(std::vector<double> signedCounts,
                                              double range, int64_t count,
                                              float min, float max) {
  if (signedCounts.empty() || signedCounts.size() % 2 || range < 0 ||
      count < 0 || min > max || !std::isfinite(range))
    return std::nullopt;
  Histogram h(int64_t(signedCounts.size() / 2));
  h.counts = std::move(signedCounts);
  h.halfRange = range;
  h.total = count;
  h.minValue = min;
  h.maxValue = max;
  return h;
}

void Histogram::grow(double needed) {
  if (halfRange == 0) {
    halfRange = needed;
    return;
  }
  // Double until `needed` fits; each doubling merges pairs of bins towards
  // the centre, exactly.
  while (halfRange < needed) {
    std::vector<double> merged(counts.size(), 0.0);
    int64_t n = int64_t(counts.size()), half = n / 2;
    for (int64_t b = 0; b < n; ++b) {
      // Bin b covers [-R + b w, -R + (b+1) w]; in the doubled histogram its
      // centre-relative position halves.
      int64_t target =
          half + ((b - half) >= 0 ? (b - half) / 2 : -((half - b + 1) / 2));
      merged[size_t(target)] += counts[size_t(b)];
    }
    counts.swap(merged);
    halfRange *= 2;
  }
}

bool Histogram::add(const float *values, int64_t n) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i]))
      return false;
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  if (n <= 0)
    return true;
  minValue = total ? std::min(minValue, lo) : lo;
  maxValue = total ? std::max(maxValue, hi) : hi;
  total += n;
  double needed = std::max(std::fabs(double(lo)), std::fabs(double(hi)));
  if (needed > halfRange)
    grow(needed);
  if (halfRange == 0) {
    // All zeros so far: they go to the two centre bins' boundary; keep them
    // in the bin just above 0.
    counts[size_t(numBins)] += double(n);
    return true;
  }
  double width = halfRange / double(numBins);
  int64_t last = 2 * numBins - 1;
  for (int64_t i = 0; i < n; ++i) {
    int64_t b = int64_t(std::floor((double(values[i]) + halfRange) / width));
    counts[size_t(std::clamp<int64_t>(b, 0, last))] += 1;
  }
  return true;
}

std::vector<double> Histogram::magnitudes() const {
  // Signed bins [-R, 0) fold onto [0, R]: bin half - 1 - k and half + k
  // both cover |x| in [k w, (k+1) w].
  std::vector<double> out(size_t(numBins), 0.0);
  for (int64_t k = 0; k < numBins; ++k)
    out[size_t(k)] =
        counts[size_t(numBins + k)] + counts[size_t(numBins - 1 - k)];
  return out;
}

std::optional<CalibrationMethod>
qopt::parseCalibrationMethod(const std::string &s) {
  if (s == "minmax")
    return CalibrationMethod::MinMax;
  if (s == "percentile")
    return CalibrationMethod::Percentile;
  if (s == "entropy")
    return CalibrationMethod::Entropy;
  if (s == "mse")
    return CalibrationMethod::MSE;
  return std::nullopt;
}

/// The value below which `fraction` of the mass of `hist` lies (bins of
/// `width` starting at `origin`), at the upper edge of the bin reaching it.
static double quantile(const std::vector<double> &hist, double origin,
                       double width, double fraction) {
  double total = 0;
  for (double c : hist)
    total += c;
  if (total == 0)
    return origin;
  double target = fraction * total, cum = 0;
  for (size_t b = 0; b < hist.size(); ++b) {
    cum += hist[b];
    if (cum >= target)
      return origin + double(b + 1) * width;
  }
  return origin + double(hist.size()) * width;
}

double qopt::entropyThreshold(const std::vector<double> &histIn,
                              double binWidth, int64_t targetBins) {
  // As NVIDIA's TensorRT calibration tooling does (pytorch-quantization's
  // entropy amax: `bins[0] = bins[1]`), the first bin takes the second's
  // count before the search: the exact zeros that ReLU-like activations pile
  // into bin 0 would otherwise dominate P and drag the threshold far below
  // the useful range (a ReLU'd N(0, 1): 1.8 instead of 4.1).
  std::vector<double> hist = histIn;
  if (hist.size() >= 2)
    hist[0] = hist[1];
  int64_t bins = int64_t(hist.size());
  if (bins <= targetBins)
    return double(bins) * binWidth;
  double bestKL = std::numeric_limits<double>::infinity();
  int64_t bestI = bins;
  std::vector<double> p, q;
  for (int64_t i = targetBins; i <= bins; ++i) {
    // P: the first i bins, the outliers' mass folded into the last.
    p.assign(hist.begin(), hist.begin() + i);
    for (int64_t b = i; b < bins; ++b)
      p[size_t(i - 1)] += hist[size_t(b)];
    // Q: the first i bins (without the outliers) merged into targetBins
    // levels of i / targetBins bins (the last takes the remainder), each
    // level's mass spread evenly over the bins where P is nonzero.
    q.assign(size_t(i), 0.0);
    int64_t merge = i / targetBins;
    for (int64_t level = 0; level < targetBins; ++level) {
      int64_t start = level * merge;
      int64_t stop = level == targetBins - 1 ? i : start + merge;
      double mass = 0;
      int64_t nonzero = 0;
      for (int64_t b = start; b < stop; ++b) {
        mass += hist[size_t(b)];
        nonzero += p[size_t(b)] != 0;
      }
      for (int64_t b = start; b < stop; ++b)
        if (p[size_t(b)] != 0)
          q[size_t(b)] = mass / double(nonzero);
    }
    double pSum = 0, qSum = 0;
    for (int64_t b = 0; b < i; ++b) {
      pSum += p[size_t(b)];
      qSum += q[size_t(b)];
    }
    if (pSum == 0 || qSum == 0)
      continue;
    double kl = 0;
    bool infinite = false;
    for (int64_t b = 0; b < i; ++b) {
      double pb = p[size_t(b)] / pSum, qb = q[size_t(b)] / qSum;
      if (pb == 0)
        continue;
      if (qb == 0) {
        infinite = true; // P has mass where Q has none (the folded outliers)
        break;
      }
      kl += pb * std::log(pb / qb);
    }
    if (!infinite && kl < bestKL) {
      bestKL = kl;
      bestI = i;
    }
  }
  return double(bestI) * binWidth;
}

double qopt::mseThreshold(const std::vector<double> &hist, double binWidth,
                          int64_t levels) {
  int64_t bins = int64_t(hist.size());
  double bestErr = std::numeric_limits<double>::infinity(), bestT = 0;
  for (int64_t t = 1; t <= bins; ++t) {
    double threshold = double(t) * binWidth;
    double scale = threshold / double(levels), err = 0;
    for (int64_t b = 0; b < bins; ++b) {
      if (hist[size_t(b)] == 0)
        continue;
      double x = (double(b) + 0.5) * binWidth;
      double q = std::min(std::nearbyint(x / scale), double(levels)) * scale;
      err += hist[size_t(b)] * (x - q) * (x - q);
    }
    if (err < bestErr) {
      bestErr = err;
      bestT = threshold;
    }
  }
  return bestT;
}

double qopt::quantizationError(const Histogram &h, ClipRange r,
                               StorageType storage, bool symmetric) {
  if (h.count() == 0)
    return 0;
  std::optional<QuantParams> p =
      chooseQuantParams(r.lo, r.hi, storage, symmetric);
  if (!p)
    return std::numeric_limits<double>::infinity();
  StorageRange range = storageRange(storage);
  const std::vector<double> &c = h.signedCounts();
  double lo = h.min(), hi = h.max();
  if (h.range() == 0) // only zeros
    return std::pow(double(dequantizeValue(quantizeValue(0.0f, *p, range), *p)),
                    2);
  double width = h.range() / double(h.magnitudeBins()), err = 0;
  constexpr int kPoints = 4;
  for (size_t b = 0; b < c.size(); ++b) {
    if (c[b] == 0)
      continue;
    // The part of the bin that can hold values: a near-constant tensor
    // fills a sliver of one bin, not the whole bin.
    double a = std::max(-h.range() + double(b) * width, lo);
    double e = std::min(-h.range() + double(b + 1) * width, hi);
    if (a > e)
      a = e = std::clamp(-h.range() + (double(b) + 0.5) * width, lo, hi);
    double binErr = 0;
    for (int k = 0; k < kPoints; ++k) {
      float x = float(a + (e - a) * (k + 0.5) / kPoints);
      double d =
          double(x) - double(dequantizeValue(quantizeValue(x, *p, range), *p));
      binErr += d * d;
    }
    err += c[b] * binErr / kPoints;
  }
  return err / double(h.count());
}

/// The range of `method` before the guard.
static ClipRange rawRange(const Histogram &h, CalibrationMethod method,
                          bool symmetric, double percentile, int64_t levels,
                          StorageType storage) {
  float absMax = std::max(std::fabs(h.min()), std::fabs(h.max()));
  double width = h.range() / double(h.magnitudeBins());
  // A symmetric threshold T: [-T, T], or [-T, T] within [min, max] for an
  // asymmetric range ([0, T] for a one-sided tensor, as onnxruntime's
  // entropy calibrator clips).
  auto fromThreshold = [&](double t) {
    float v = float(std::min<double>(t, absMax));
    if (symmetric)
      return ClipRange{-v, v};
    return ClipRange{std::max(-v, h.min()), std::min(v, h.max())};
  };
  switch (method) {
  case CalibrationMethod::MinMax:
    return symmetric ? ClipRange{-absMax, absMax} : ClipRange{h.min(), h.max()};
  case CalibrationMethod::Percentile: {
    double fraction = std::clamp(percentile, 0.0, 100.0) / 100.0;
    if (symmetric)
      return fromThreshold(quantile(h.magnitudes(), 0, width, fraction));
    const std::vector<double> &c = h.signedCounts();
    double hi = quantile(c, -h.range(), width, fraction);
    std::vector<double> reversed(c.rbegin(), c.rend());
    double lo = -quantile(reversed, -h.range(), width, fraction);
    return {std::max(float(lo), h.min()), std::min(float(hi), h.max())};
  }
  case CalibrationMethod::Entropy:
    return fromThreshold(entropyThreshold(h.magnitudes(), width));
  case CalibrationMethod::MSE: {
    if (symmetric)
      return fromThreshold(mseThreshold(h.magnitudes(), width, levels));
    // Asymmetric: the least error among [s min, s max], s in (0, 1].
    constexpr int kSteps = 256;
    ClipRange best{h.min(), h.max()};
    double bestErr = quantizationError(h, best, storage, false);
    for (int k = 1; k < kSteps; ++k) {
      double s = double(k) / kSteps;
      ClipRange r{float(s * h.min()), float(s * h.max())};
      double err = quantizationError(h, r, storage, false);
      if (err < bestErr) {
        bestErr = err;
        best = r;
      }
    }
    return best;
  }
  }
  return {h.min(), h.max()};
}

RangeChoice qopt::chooseRangeChecked(const Histogram &h,
                                     CalibrationMethod method, bool symmetric,
                                     double percentile, int64_t levels,
                                     double marginDb,
                                     std::optional<StorageType> storage) {
  if (h.count() == 0 || h.range() == 0)
    return {{0, 0}, method, 0, 0};
  StorageType st =
      storage.value_or(symmetric ? StorageType::Int8 : StorageType::UInt8);
  ClipRange minmax =
      rawRange(h, CalibrationMethod::MinMax, symmetric, percentile, levels, st);
  double minmaxErr = quantizationError(h, minmax, st, symmetric);
  if (method == CalibrationMethod::MinMax)
    return {minmax, method, minmaxErr, minmaxErr};
  ClipRange r = rawRange(h, method, symmetric, percentile, levels, st);
  double err = quantizationError(h, r, st, symmetric);
  if (marginDb >= 0 && err > minmaxErr * std::pow(10.0, marginDb / 10.0))
    return {minmax, CalibrationMethod::MinMax, minmaxErr, minmaxErr};
  return {r, method, err, minmaxErr};
}

ClipRange qopt::chooseRange(const Histogram &h, CalibrationMethod method,
                            bool symmetric, double percentile, int64_t levels) {
  return chooseRangeChecked(h, method, symmetric, percentile, levels).range;
}
