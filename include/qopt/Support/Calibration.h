//===- Calibration.h - activation statistics and clipping ranges -*- C++
//-*-===//
//
/// \file
/// What post-training quantization observes and how it turns observations
/// into a range: a streamed histogram per observer (fixed memory,
/// deterministic for the same data in the same order), and the methods
/// minmax, percentile, entropy (KL divergence, as TensorRT's int8
/// calibrator) and mse. Plain C++ (no LLVM/MLIR), shared by the calibration
/// run and the tests. Formulas: shared/REFERENCE.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_CALIBRATION_H
#define QOPT_SUPPORT_CALIBRATION_H

#include "qopt/Support/QuantMath.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qopt {

/// A streamed histogram of the values seen and of their magnitudes.
///
/// `bins` bins of equal width cover [-range, range] for the signed values
/// (and [0, range] for |x| in `magnitudes()`); when a value beyond the range
/// arrives, the range doubles (as often as needed) and pairs of bins merge,
/// so memory stays fixed and earlier counts stay exact. Min, max and count
/// are kept exactly. NaN and infinities are rejected by `add` (the caller
/// names the tensor and sample).
class Histogram {
public:
  /// `bins` is the number of |x| bins (2048 for entropy); the signed
  /// histogram has twice as many.
  explicit Histogram(int64_t bins = 2048);

  /// A histogram with a saved state (as `signedCounts()`, `range()`,
  /// `count()`, `min()`, `max()` gave it); std::nullopt if the counts are
  /// not 2 * bins long or the state is inconsistent.
  static std::optional<Histogram> fromState(std::vector<double> signedCounts,
                                            double range, int64_t count,
                                            float min, float max);

  /// Adds `n` values; false (nothing added) if one is not finite.
  bool add(const float *values, int64_t n);

  int64_t count() const { return total; }
  float min() const { return minValue; }
  float max() const { return maxValue; }
  /// Half-width of the signed histogram (0 before any nonzero value).
  double range() const { return halfRange; }
  int64_t magnitudeBins() const { return numBins; }

  /// Counts of |x| over `magnitudeBins()` bins covering [0, range()].
  std::vector<double> magnitudes() const;
  /// Counts of x over 2 * magnitudeBins() bins covering [-range, range].
  const std::vector<double> &signedCounts() const { return counts; }

private:
  void grow(double needed);

  int64_t numBins;
  std::vector<double> counts;
  double halfRange = 0;
  int64_t total = 0;
  float minValue = 0, maxValue = 0;
};

/// How a range is chosen from a histogram.
enum class CalibrationMethod { MinMax, Percentile, Entropy, MSE };

/// Parses "minmax", "percentile", "entropy", "mse".
std::optional<CalibrationMethod> parseCalibrationMethod(const std::string &s);

/// A clipping range [lo, hi] for quantization (lo = -hi when symmetric).
struct ClipRange {
  float lo;
  float hi;
};

/// The range `method` chooses. `symmetric`: around 0 from |x|;
/// asymmetric: entropy's threshold T clips [-T, T] to [min, max] (as
/// onnxruntime does: [0, T] for a one-sided tensor), percentile clips both
/// ends, mse searches [s min, s max]. `percentile` in (0, 100] for
/// Percentile; `levels` is the number of positive quantization levels the
/// symmetric mse search assumes (127 for int8). A histogram with no values,
/// or only zeros, gives [0, 0] (chooseQuantParams then picks scale 1).
/// The range is checked as chooseRangeChecked does with its defaults.
ClipRange chooseRange(const Histogram &h, CalibrationMethod method,
                      bool symmetric, double percentile = 99.99,
                      int64_t levels = 127);

/// A range and why it was kept.
struct RangeChoice {
  ClipRange range;
  /// The method whose range was kept: MinMax when the asked method's range
  /// quantized the histogram worse than minmax's by more than the margin.
  CalibrationMethod method;
  /// quantizationError of `range` and of the minmax range.
  double error;
  double minmaxError;
};

/// chooseRange with a guard: the clipping methods (percentile, entropy,
/// mse) keep their range only if its quantizationError over the histogram
/// is at most `marginDb` dB above minmax's (a factor 10^(marginDb/10));
/// otherwise minmax's range is kept. KL divergence measures how alike the
/// shapes are, not the error: on softmax outputs, heavy tails (Student t,
/// log-normal) or sparse sigmoid scores it clips the few large values that
/// carry the signal (softmax probabilities: 15 dB against minmax's 34 dB).
/// The error of one tensor is no exact proxy for the model's output: a clip
/// of a heavy tail that costs the tensor a few dB often helps the output.
/// The 3 dB default was chosen on benchmarks/ptq/bench_calibration.py's
/// models: the sigmoid-head detector's entropy fell from 25.6 dB (minmax,
/// int8, 16 samples) to 16.8 dB unchecked and 20.2 dB with a 6 dB margin;
/// with 3 dB it is 26.0 dB, and every method is within 1 dB of minmax or
/// above it on the three models (at 32 samples too). The guard also drops
/// some helpful clips (percentile on the transformer with outlier tokens:
/// 17.7 dB unchecked, 11.3 dB checked, minmax 11.3 dB).
/// A negative `marginDb` turns the guard off. `storage` is the type the
/// range will be quantized to (int8 when symmetric, uint8 when not, by
/// default).
RangeChoice chooseRangeChecked(const Histogram &h, CalibrationMethod method,
                               bool symmetric, double percentile = 99.99,
                               int64_t levels = 127, double marginDb = 3.0,
                               std::optional<StorageType> storage = {});

/// The expected squared error per value of quantizing the histogram's
/// values with the parameters chooseQuantParams(r.lo, r.hi, storage,
/// symmetric) gives (round half to even, saturate, dequantize). Each signed
/// bin's count is spread evenly over the part of the bin inside
/// [min(), max()] (4 points per bin). 0 for an empty histogram.
double quantizationError(const Histogram &h, ClipRange r, StorageType storage,
                         bool symmetric);

/// activation-type=auto's choice from the two quantizationError()s:
/// asymmetric uint8 only where its error is at least 1 dB below symmetric
/// int8's. uint8 over [min, max] has 255 steps against int8's 254 over
/// [-m, m], so it wins by a hair even on data centred on zero; the margin
/// keeps the symmetric default (no zero-point correction at run time)
/// there, and a one-sided ReLU output (about 6 dB) still goes asymmetric.
inline bool preferAsymmetricActivation(double symmetricInt8Error,
                                       double asymmetricUInt8Error) {
  constexpr double kMargin = 0.7943282347242815; // 10^(-1/10)
  return asymmetricUInt8Error < kMargin * symmetricInt8Error;
}

/// TensorRT's entropy threshold over |x| counts `hist` (bins of `binWidth`):
/// for each i in [targetBins, bins], P = the first i bins with the mass
/// beyond folded into bin i-1, Q = P merged into `targetBins` levels and
/// expanded back over P's nonzero bins; the i with the smallest KL(P||Q)
/// gives the threshold, the upper edge of P's last bin (i * binWidth).
/// Bin 0 first takes bin 1's count, as TensorRT's tooling does, so that the
/// exact zeros of ReLU-like activations do not drive the search.
double entropyThreshold(const std::vector<double> &hist, double binWidth,
                        int64_t targetBins = 128);

/// The threshold T minimizing the expected squared error of symmetric
/// quantization with `levels` positive levels (scale T / levels) over the
/// |x| counts `hist` (bin centres stand for their values).
double mseThreshold(const std::vector<double> &hist, double binWidth,
                    int64_t levels = 127);

} // namespace qopt

#endif // QOPT_SUPPORT_CALIBRATION_H
