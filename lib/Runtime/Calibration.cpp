//===- Calibration.cpp - calibration statistics behind the C API ----------===//
//
// Observers of a calibration run keep a histogram each; the methods that
// turn histograms into ranges are qopt/Support/Calibration.h's.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Calibration.h"
#include "RuntimeInternal.h"
#include "qopt/Support/GPTQ.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

using namespace qopt::rt;

struct qopt_histogram {
  explicit qopt_histogram(int64_t bins) : h(bins) {}
  qopt::Histogram h;
};

namespace {
/// The observers of the current calibration session.
struct Session {
  std::mutex mu;
  int64_t bins = 2048;
  std::map<int64_t, std::unique_ptr<qopt_histogram>> observers;
  std::string error;
  /// Per-channel observers: max |x| per index of the last dimension.
  std::map<int64_t, std::vector<float>> channels;
  /// channel_sumsq observers: sum of x² per index of their channel axis.
  std::map<int64_t, std::vector<double>> sumsq;
  /// second_moment observers: rows seen, Σx and the upper triangle of XᵀX.
  struct Moments {
    int64_t k = 0, rows = 0;
    std::vector<double> sum, gram;
  };
  std::map<int64_t, Moments> moments;
  /// What qopt_calibration_second_moment hands out (full, divided by rows).
  std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>>
      momentsOut;
  /// Capture mode (qopt_capture_begin): observers keep their last values.
  bool capture = false;
  std::map<int64_t, std::vector<float>> captured;
};
Session &session() {
  static Session s;
  return s;
}

/// MLIR's unranked memref: rank and the ranked descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};
/// Observer `id`'s per-channel statistics in `table` (s.mu held), made with
/// `channels` zeros on first use; null, with the session's error set, when
/// the observer saw another channel count before.
template <typename T>
std::vector<T> *channelStats(Session &s,
                             std::map<int64_t, std::vector<T>> &table,
                             int64_t id, int64_t channels) {
  std::vector<T> &m = table[id];
  if (m.empty())
    m.assign(size_t(channels), T(0));
  if (int64_t(m.size()) == channels)
    return &m;
  if (s.error.empty())
    s.error = "observer " + std::to_string(id) + " saw " +
              std::to_string(channels) + " channels after " +
              std::to_string(m.size());
  return nullptr;
}

/// The statistics of observer `id` in `table` (and their count), or null.
template <typename T>
const T *findChannelStats(std::map<int64_t, std::vector<T>> &table, int64_t id,
                          int64_t *count) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = table.find(id);
  if (it == table.end()) {
    *count = 0;
    return nullptr;
  }
  *count = int64_t(it->second.size());
  return it->second.data();
}
} // namespace

/// The method named `method`, checked with its percentile; nullopt with the
/// error set when either is invalid.
static std::optional<qopt::CalibrationMethod> checkedMethod(const char *method,
                                                            double percentile) {
  std::optional<qopt::CalibrationMethod> m =
      qopt::parseCalibrationMethod(method);
  if (!m) {
    fail(std::string("unknown calibration method '") + method +
         "' (minmax, percentile, entropy, mse)");
    return std::nullopt;
  }
  if (*m == qopt::CalibrationMethod::Percentile &&
      !(percentile > 0 && percentile <= 100)) {
    fail("percentile must be in (0, 100], got " + std::to_string(percentile));
    return std::nullopt;
  }
  return m;
}

extern "C" {

// Called by instrumented code for channel_absmax observers: the running max
// |x| of every index of the last dimension.
void qopt_observe_channels_f32(int64_t id, int64_t rank, void *descriptor) {
  auto *d = static_cast<const int64_t *>(descriptor);
  const float *aligned;
  std::memcpy(&aligned, &d[1], sizeof(aligned));
  const float *base = aligned + d[2];
  const int64_t *sizes = d + 3, *strides = d + 3 + rank;
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  if (rank < 1) {
    if (s.error.empty())
      s.error = "observer " + std::to_string(id) +
                " (channel_absmax) saw a rank-0 value";
    return;
  }
  int64_t channels = sizes[rank - 1], rows = 1;
  for (int64_t k = 0; k + 1 < rank; ++k)
    rows *= sizes[k];
  std::vector<float> *stats = channelStats(s, s.channels, id, channels);
  if (!stats)
    return;
  std::vector<float> &m = *stats;
  std::vector<int64_t> idx(size_t(rank), 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    for (int64_t k = 0; k + 1 < rank; ++k)
      off += idx[size_t(k)] * strides[k];
    for (int64_t c = 0; c < channels; ++c) {
      float v = base[off + c * strides[rank - 1]];
      if (!std::isfinite(v)) {
        if (s.error.empty())
          s.error =
              "observer " + std::to_string(id) + " saw a NaN or an infinity";
        return;
      }
      m[size_t(c)] = std::max(m[size_t(c)], std::fabs(v));
    }
    for (int64_t k = rank - 2; k >= 0; --k) {
      if (++idx[size_t(k)] < sizes[k])
        break;
      idx[size_t(k)] = 0;
    }
  }
}

// Called by instrumented code for channel_sumsq observers (Wanda): the sum
// of x² of every index of dimension `axis`, over all other dimensions and
// all calls. Summed in double, in the memref's index order, so the result
// is deterministic for the same samples.
void qopt_observe_channel_sumsq_f32(int64_t id, int64_t axis, int64_t rank,
                                    void *descriptor) {
  auto *d = static_cast<const int64_t *>(descriptor);
  const float *aligned;
  std::memcpy(&aligned, &d[1], sizeof(aligned));
  const float *base = aligned + d[2];
  const int64_t *sizes = d + 3, *strides = d + 3 + rank;
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.capture)
    return;
  if (axis < 0 || axis >= rank) {
    if (s.error.empty())
      s.error = "observer " + std::to_string(id) + " (channel_sumsq): axis " +
                std::to_string(axis) + " is out of range for rank " +
                std::to_string(rank);
    return;
  }
  int64_t channels = sizes[axis], n = 1;
  for (int64_t k = 0; k < rank; ++k)
    n *= sizes[k];
  std::vector<double> *stats = channelStats(s, s.sumsq, id, channels);
  if (!stats)
    return;
  std::vector<double> &m = *stats;
  std::vector<int64_t> idx(size_t(rank), 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    for (int64_t k = 0; k < rank; ++k)
      off += idx[size_t(k)] * strides[k];
    double v = base[off];
    if (!std::isfinite(v)) {
      if (s.error.empty())
        s.error =
            "observer " + std::to_string(id) + " saw a NaN or an infinity";
      return;
    }
    m[size_t(idx[size_t(axis)])] += v * v;
    for (int64_t k = rank - 1; k >= 0; --k) {
      if (++idx[size_t(k)] < sizes[k])
        break;
      idx[size_t(k)] = 0;
    }
  }
}

// Called by instrumented code for second_moment observers (GPTQ, bias
// correction): the rows x a layer multiplies its weight with -- the vectors
// of the last dimension, or with a window (kh > 0) the im2col patches of an
// NCHW input in (c, i, j) order -- are added to Σx and XᵀX, in double, in a
// fixed order (deterministic for the same samples). Rows are gathered 64 at
// a time and the Gram matrix updated by dot products over them.
void qopt_observe_second_moment_f32(int64_t id, int64_t kh, int64_t kw,
                                    int64_t sh, int64_t sw, int64_t dh,
                                    int64_t dw, int64_t rank,
                                    void *descriptor) {
  auto *d = static_cast<const int64_t *>(descriptor);
  const float *aligned;
  std::memcpy(&aligned, &d[1], sizeof(aligned));
  const float *base = aligned + d[2];
  const int64_t *sizes = d + 3, *strides = d + 3 + rank;
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.capture)
    return;
  auto setError = [&](const std::string &what) {
    if (s.error.empty())
      s.error = "observer " + std::to_string(id) + " (second_moment): " + what;
  };
  bool windowed = kh > 0;
  if (rank < 1 || (windowed && (rank != 4 || kw < 1 || sh < 1 || sw < 1 ||
                                dh < 1 || dw < 1)))
    return setError("bad rank or window");
  int64_t k, rows, oh = 0, ow = 0;
  if (windowed) {
    k = sizes[1] * kh * kw;
    oh = sizes[2] >= dh * (kh - 1) + 1 ? (sizes[2] - dh * (kh - 1) - 1) / sh + 1
                                       : 0;
    ow = sizes[3] >= dw * (kw - 1) + 1 ? (sizes[3] - dw * (kw - 1) - 1) / sw + 1
                                       : 0;
    rows = sizes[0] * oh * ow;
  } else {
    k = sizes[rank - 1];
    rows = 1;
    for (int64_t i = 0; i + 1 < rank; ++i)
      rows *= sizes[i];
  }
  if (k <= 0 || rows <= 0)
    return;
  if (k > 16384)
    return setError("rows of " + std::to_string(k) +
                    " values: the [K, K] second moment would exceed 2 GiB");
  Session::Moments &m = s.moments[id];
  if (m.k == 0) {
    m.k = k;
    m.sum.assign(size_t(k), 0.0);
    m.gram.assign(size_t(k * k), 0.0);
  } else if (m.k != k) {
    return setError("rows of " + std::to_string(k) + " values after " +
                    std::to_string(m.k));
  }
  constexpr int64_t kBlock = 64;
  // The block transposed: bt[j * kBlock + r] = row r's value j.
  std::vector<double> bt(size_t(k * kBlock), 0.0);
  std::vector<int64_t> idx(size_t(rank), 0);
  auto rowValue = [&](int64_t row, int64_t j) -> double {
    if (!windowed) {
      // Row `row` of the leading dims, element j of the last.
      int64_t off = j * strides[rank - 1], rest = row;
      for (int64_t a = rank - 2; a >= 0; --a) {
        off += (rest % sizes[a]) * strides[a];
        rest /= sizes[a];
      }
      return base[off];
    }
    int64_t x = row % ow, y = (row / ow) % oh, n = row / (ow * oh);
    int64_t c = j / (kh * kw), i = (j / kw) % kh, jj = j % kw;
    return base[n * strides[0] + c * strides[1] +
                (y * sh + i * dh) * strides[2] +
                (x * sw + jj * dw) * strides[3]];
  };
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    int64_t nb = std::min(kBlock, rows - r0);
    for (int64_t r = 0; r < nb; ++r)
      for (int64_t j = 0; j < k; ++j) {
        double v = rowValue(r0 + r, j);
        if (!std::isfinite(v))
          return setError("saw a NaN or an infinity");
        bt[size_t(j * kBlock + r)] = v;
        m.sum[size_t(j)] += v;
      }
    for (int64_t r = nb; r < kBlock; ++r)
      for (int64_t j = 0; j < k; ++j)
        bt[size_t(j * kBlock + r)] = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      const double *a = &bt[size_t(i * kBlock)];
      double *g = &m.gram[size_t(i * k)];
      for (int64_t j = i; j < k; ++j) {
        const double *b = &bt[size_t(j * kBlock)];
        double acc = 0;
        for (int64_t r = 0; r < kBlock; ++r)
          acc += a[r] * b[r];
        g[j] += acc;
      }
    }
  }
  m.rows += rows;
}

const double *qopt_calibration_second_moment(int64_t id, int64_t *k,
                                             int64_t *rows,
                                             const double **mean) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.moments.find(id);
  if (it == s.moments.end() || it->second.rows == 0) {
    *k = 0;
    *rows = 0;
    if (mean)
      *mean = nullptr;
    return nullptr;
  }
  const Session::Moments &m = it->second;
  auto &out = s.momentsOut[id];
  double inv = 1.0 / double(m.rows);
  out.first.assign(size_t(m.k * m.k), 0.0);
  for (int64_t i = 0; i < m.k; ++i)
    for (int64_t j = i; j < m.k; ++j)
      out.first[size_t(i * m.k + j)] = out.first[size_t(j * m.k + i)] =
          m.gram[size_t(i * m.k + j)] * inv;
  out.second.resize(size_t(m.k));
  for (int64_t j = 0; j < m.k; ++j)
    out.second[size_t(j)] = m.sum[size_t(j)] * inv;
  *k = m.k;
  *rows = m.rows;
  if (mean)
    *mean = out.second.data();
  return out.first.data();
}

const double *qopt_calibration_channel_sumsq(int64_t id, int64_t *count) {
  return findChannelStats(session().sumsq, id, count);
}

const float *qopt_calibration_channel_absmax(int64_t id, int64_t *count) {
  return findChannelStats(session().channels, id, count);
}

// Called by instrumented code (qopt-instrument-observers); the memref is
// passed as its rank and descriptor pointer.
void qopt_observe_f32(int64_t id, int64_t rank, void *descriptor) {
  auto *d = static_cast<const int64_t *>(descriptor);
  const float *aligned;
  std::memcpy(&aligned, &d[1], sizeof(aligned));
  const float *base = aligned + d[2];
  const int64_t *sizes = d + 3, *strides = d + 3 + rank;
  int64_t n = 1;
  bool contiguous = true;
  for (int64_t k = rank - 1, expect = 1; k >= 0; --k) {
    n *= sizes[k];
    if (sizes[k] != 1 && strides[k] != expect)
      contiguous = false;
    expect *= sizes[k];
  }
  std::vector<float> packed;
  if (!contiguous && n > 0) {
    packed.reserve(size_t(n));
    std::vector<int64_t> idx(size_t(rank), 0);
    for (int64_t e = 0; e < n; ++e) {
      int64_t off = 0;
      for (int64_t k = 0; k < rank; ++k)
        off += idx[size_t(k)] * strides[k];
      packed.push_back(base[off]);
      for (int64_t k = rank - 1; k >= 0; --k) {
        if (++idx[size_t(k)] < sizes[k])
          break;
        idx[size_t(k)] = 0;
      }
    }
    base = packed.data();
  }
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.capture) {
    s.captured[id].assign(base, base + n);
    return;
  }
  std::unique_ptr<qopt_histogram> &h = s.observers[id];
  if (!h)
    h = std::make_unique<qopt_histogram>(s.bins);
  if (!h->h.add(base, n) && s.error.empty())
    s.error = "observer " + std::to_string(id) + " saw a NaN or an infinity";
}

qopt_status qopt_calibration_begin(int64_t bins) {
  if (bins < 1 || bins > (int64_t(1) << 24))
    return fail("qopt_calibration_begin: bins must be in [1, 2^24]");
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  s.bins = bins;
  s.observers.clear();
  s.channels.clear();
  s.sumsq.clear();
  s.moments.clear();
  s.momentsOut.clear();
  s.error.clear();
  return QOPT_OK;
}

void qopt_capture_begin(void) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  s.capture = true;
  s.captured.clear();
}

void qopt_capture_end(void) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  s.capture = false;
  s.captured.clear();
}

const float *qopt_capture_values(int64_t id, int64_t *count) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.captured.find(id);
  if (it == s.captured.end()) {
    *count = 0;
    return nullptr;
  }
  *count = int64_t(it->second.size());
  return it->second.data();
}

const qopt_histogram *qopt_calibration_observer(int64_t id) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.observers.find(id);
  return it == s.observers.end() ? nullptr : it->second.get();
}

int64_t qopt_calibration_observer_ids(int64_t *ids, int64_t capacity) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  int64_t i = 0;
  for (const auto &entry : s.observers) {
    if (ids && i < capacity)
      ids[i] = entry.first;
    ++i;
  }
  return i;
}

const char *qopt_calibration_error(void) {
  Session &s = session();
  std::lock_guard<std::mutex> lock(s.mu);
  thread_local std::string copy;
  copy = s.error;
  return copy.c_str();
}

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

int64_t qopt_histogram_state(const qopt_histogram *histogram, double *out,
                             double *range, float *min, float *max) {
  if (!histogram)
    return 0;
  const std::vector<double> &c = histogram->h.signedCounts();
  if (out)
    std::memcpy(out, c.data(), c.size() * sizeof(double));
  if (range)
    *range = histogram->h.range();
  if (min)
    *min = histogram->h.min();
  if (max)
    *max = histogram->h.max();
  return int64_t(c.size());
}

qopt_status qopt_histogram_choose_range(const qopt_histogram *histogram,
                                        const char *method, int symmetric,
                                        double percentile, float *lo,
                                        float *hi) {
  if (!histogram || !method || !lo || !hi)
    return fail("qopt_histogram_choose_range: null argument");
  std::optional<qopt::CalibrationMethod> m = checkedMethod(method, percentile);
  if (!m)
    return QOPT_ERROR;
  qopt::ClipRange r =
      qopt::chooseRange(histogram->h, *m, symmetric != 0, percentile);
  *lo = r.lo;
  *hi = r.hi;
  return QOPT_OK;
}

qopt_status qopt_histogram_choose_range_checked(
    const qopt_histogram *histogram, const char *method, int symmetric,
    double percentile, double margin_db, float *lo, float *hi, int *fell_back,
    double *error, double *minmax_error) {
  if (!histogram || !method || !lo || !hi)
    return fail("qopt_histogram_choose_range_checked: null argument");
  std::optional<qopt::CalibrationMethod> m = checkedMethod(method, percentile);
  if (!m)
    return QOPT_ERROR;
  if (!std::isfinite(margin_db))
    return fail("margin_db must be finite");
  qopt::RangeChoice c = qopt::chooseRangeChecked(
      histogram->h, *m, symmetric != 0, percentile, 127, margin_db);
  *lo = c.range.lo;
  *hi = c.range.hi;
  if (fell_back)
    *fell_back = c.method != *m;
  if (error)
    *error = c.error;
  if (minmax_error)
    *minmax_error = c.minmaxError;
  return QOPT_OK;
}

qopt_status qopt_gptq_quantize(const float *w, int64_t n, int64_t k,
                               const double *h, int64_t qmin, int64_t qmax,
                               int64_t group_size, int64_t block_size,
                               double perc_damp, int8_t *codes, float *scales) {
  if (!w || !h || !codes || !scales || n <= 0 || k <= 0 ||
      n > (int64_t(1) << 31) / k)
    return fail("qopt_gptq_quantize: null argument or bad shape");
  qopt::GPTQOptions o;
  o.qmin = qmin;
  o.qmax = qmax;
  o.groupSize = group_size;
  o.blockSize = block_size;
  o.percDamp = perc_damp;
  std::string error;
  std::optional<qopt::GPTQResult> r =
      qopt::gptqQuantize(std::vector<float>(w, w + n * k), n, k,
                         std::vector<double>(h, h + k * k), o, error);
  if (!r)
    return fail(error);
  std::copy(r->codes.begin(), r->codes.end(), codes);
  std::copy(r->scales.begin(), r->scales.end(), scales);
  return QOPT_OK;
}

double qopt_entropy_threshold(const double *hist, int64_t bins, double width,
                              int64_t target_bins) {
  if (!hist || bins <= 0 || target_bins < 1 || !(width > 0) ||
      !std::isfinite(width))
    return 0;
  return qopt::entropyThreshold(std::vector<double>(hist, hist + bins), width,
                                target_bins);
}

double qopt_mse_threshold(const double *hist, int64_t bins, double width,
                          int64_t levels) {
  if (!hist || bins <= 0 || levels < 1 || !(width > 0) || !std::isfinite(width))
    return 0;
  return qopt::mseThreshold(std::vector<double>(hist, hist + bins), width,
                            levels);
}

} // extern "C"
