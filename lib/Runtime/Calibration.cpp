//===- Calibration.cpp - calibration statistics behind the C API ----------===//
//
// Observers of a calibration run keep a histogram each; the methods that
// turn histograms into ranges are qopt/Support/Calibration.h's.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Calibration.h"
#include "RuntimeInternal.h"

#include <cstring>
#include <new>

using namespace qopt::rt;

struct qopt_histogram {
  explicit qopt_histogram(int64_t bins) : h(bins) {}
  qopt::Histogram h;
};

extern "C" {

qopt_status qopt_histogram_create(int64_t bins, qopt_histogram **out) {
  if (!out)
    return fail("qopt_histogram_create: null output pointer");
  *out = nullptr;
  if (bins < 1 || bins > (int64_t(1) << 24))
    return fail("qopt_histogram_create: bins must be in [1, 2^24], got " +
                std::to_string(bins));
  *out = new (std::nothrow) qopt_histogram(bins);
  return *out ? QOPT_OK : fail("out of memory");
}

void qopt_histogram_free(qopt_histogram *histogram) { delete histogram; }

qopt_status qopt_histogram_add(qopt_histogram *histogram, const float *values,
                               int64_t n) {
  if (!histogram || (n > 0 && !values) || n < 0)
    return fail("qopt_histogram_add: null histogram or values, or n < 0");
  if (!histogram->h.add(values, n))
    return fail("qopt_histogram_add: the values hold a NaN or an infinity");
  return QOPT_OK;
}

int64_t qopt_histogram_count(const qopt_histogram *histogram) {
  return histogram ? histogram->h.count() : 0;
}

int64_t qopt_histogram_magnitudes(const qopt_histogram *histogram, double *out,
                                  double *width) {
  if (!histogram)
    return 0;
  std::vector<double> m = histogram->h.magnitudes();
  if (out)
    std::memcpy(out, m.data(), m.size() * sizeof(double));
  if (width)
    *width = histogram->h.range() / double(histogram->h.magnitudeBins());
  return int64_t(m.size());
}

qopt_status qopt_histogram_choose_range(const qopt_histogram *histogram,
                                        const char *method, int symmetric,
                                        double percentile, float *lo,
                                        float *hi) {
  if (!histogram || !method || !lo || !hi)
    return fail("qopt_histogram_choose_range: null argument");
  std::optional<qopt::CalibrationMethod> m =
      qopt::parseCalibrationMethod(method);
  if (!m)
    return fail(std::string("unknown calibration method '") + method +
                "' (minmax, percentile, entropy, mse)");
  if (*m == qopt::CalibrationMethod::Percentile &&
      !(percentile > 0 && percentile <= 100))
    return fail("percentile must be in (0, 100], got " +
                std::to_string(percentile));
  qopt::ClipRange r =
      qopt::chooseRange(histogram->h, *m, symmetric != 0, percentile);
  *lo = r.lo;
  *hi = r.hi;
  return QOPT_OK;
}

double qopt_entropy_threshold(const double *hist, int64_t bins, double width,
                              int64_t target_bins) {
  if (!hist || bins <= 0)
    return 0;
  return qopt::entropyThreshold(std::vector<double>(hist, hist + bins), width,
                                target_bins);
}

double qopt_mse_threshold(const double *hist, int64_t bins, double width,
                          int64_t levels) {
  if (!hist || bins <= 0)
    return 0;
  return qopt::mseThreshold(std::vector<double>(hist, hist + bins), width,
                            levels);
}

} // extern "C"
