//===- GPTQ.cpp - weight rounding with second-order error feedback --------===//

#include "qopt/Support/GPTQ.h"

#include <algorithm>
#include <cmath>

using namespace qopt;

namespace {

/// In-place lower Cholesky factor of the [k, k] matrix `a` (row-major);
/// false if it is not positive definite.
bool cholesky(std::vector<double> &a, int64_t k) {
  for (int64_t j = 0; j < k; ++j) {
    double d = a[j * k + j];
    for (int64_t p = 0; p < j; ++p)
      d -= a[j * k + p] * a[j * k + p];
    if (!(d > 0))
      return false;
    d = std::sqrt(d);
    a[j * k + j] = d;
    for (int64_t i = j + 1; i < k; ++i) {
      double s = a[i * k + j];
      for (int64_t p = 0; p < j; ++p)
        s -= a[i * k + p] * a[j * k + p];
      a[i * k + j] = s / d;
    }
    for (int64_t i = 0; i < j; ++i)
      a[i * k + j] = 0;
  }
  return true;
}

/// The inverse of L L^T from the lower factor `l`.
std::vector<double> choleskyInverse(const std::vector<double> &l, int64_t k) {
  // Linv = L^-1 (lower), then (L L^T)^-1 = Linv^T Linv.
  std::vector<double> linv(size_t(k * k), 0.0);
  for (int64_t c = 0; c < k; ++c) {
    linv[c * k + c] = 1.0 / l[c * k + c];
    for (int64_t i = c + 1; i < k; ++i) {
      double s = 0;
      for (int64_t p = c; p < i; ++p)
        s += l[i * k + p] * linv[p * k + c];
      linv[i * k + c] = -s / l[i * k + i];
    }
  }
  std::vector<double> inv(size_t(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t p = i; p < k; ++p)
        s += linv[p * k + i] * linv[p * k + j];
      inv[i * k + j] = inv[j * k + i] = s;
    }
  return inv;
}

double roundEven(double x) { return std::nearbyint(x); }

float scaleOf(double absMax, int64_t qmax) {
  return absMax > 0 ? float(absMax / double(qmax)) : 1.0f;
}

} // namespace

std::optional<GPTQResult> qopt::gptqQuantize(const std::vector<float> &w,
                                             int64_t n, int64_t k,
                                             std::vector<double> h,
                                             const GPTQOptions &o,
                                             std::string &error) {
  if (n <= 0 || k <= 0 || int64_t(w.size()) != n * k ||
      int64_t(h.size()) != k * k) {
    error = "gptq: weight must be [n, k] and the Hessian [k, k]";
    return std::nullopt;
  }
  if (o.qmax <= 0 || o.qmin >= 0 || o.qmin < -128 || o.qmax > 127 ||
      o.blockSize <= 0 || o.groupSize < 0 || !(o.percDamp >= 0) ||
      (o.groupSize > 0 && (o.blockSize % o.groupSize || k % o.groupSize))) {
    error = "gptq: bad options (codes within int8 around 0, block size a "
            "multiple of the group size, k a multiple of the group size)";
    return std::nullopt;
  }
  // Work on W in double, columns contiguous per row as given.
  std::vector<double> W(w.begin(), w.end());
  double meanDiag = 0;
  for (int64_t j = 0; j < k; ++j) {
    if (h[j * k + j] == 0) { // a dead input: its weights cannot matter
      h[j * k + j] = 1;
      for (int64_t r = 0; r < n; ++r)
        W[r * k + j] = 0;
    }
    meanDiag += h[j * k + j];
  }
  double damp = o.percDamp * meanDiag / double(k);
  for (int64_t j = 0; j < k; ++j)
    h[j * k + j] += damp;
  if (!cholesky(h, k)) {
    error = "gptq: the damped Hessian is not positive definite";
    return std::nullopt;
  }
  // Upper Cholesky factor U of H^-1 (H^-1 = U^T U): row j of U holds the
  // weights with which column j's error moves the later columns.
  std::vector<double> hinv = choleskyInverse(h, k);
  if (!cholesky(hinv, k)) {
    error = "gptq: the inverse Hessian is not positive definite";
    return std::nullopt;
  }
  auto U = [&](int64_t i, int64_t j) { return hinv[j * k + i]; }; // L^T

  int64_t groups = o.groupSize ? k / o.groupSize : 1;
  bool fixed = !o.staticScales.empty();
  if (fixed && int64_t(o.staticScales.size()) != n * groups) {
    error = "gptq: static scales must be [n, groups]";
    return std::nullopt;
  }
  for (float s : o.staticScales)
    if (s == 0 || !std::isfinite(s)) {
      error = "gptq: static scales must be finite and non-zero";
      return std::nullopt;
    }
  GPTQResult out;
  out.codes.assign(size_t(n * k), 0);
  out.scales.assign(size_t(n * groups), 1.0f);
  if (fixed)
    out.scales = o.staticScales;
  else if (!o.groupSize)
    for (int64_t r = 0; r < n; ++r) {
      double m = 0;
      for (int64_t j = 0; j < k; ++j)
        m = std::max(m, std::fabs(W[r * k + j]));
      out.scales[r] = scaleOf(m, o.qmax);
    }
  std::vector<double> err;
  for (int64_t i1 = 0; i1 < k; i1 += o.blockSize) {
    int64_t i2 = std::min(i1 + o.blockSize, k), b = i2 - i1;
    err.assign(size_t(n * b), 0.0);
    for (int64_t i = i1; i < i2; ++i) {
      int64_t g = o.groupSize ? i / o.groupSize : 0;
      if (!fixed && o.groupSize && i % o.groupSize == 0)
        for (int64_t r = 0; r < n; ++r) {
          double m = 0;
          for (int64_t j = i; j < i + o.groupSize; ++j)
            m = std::max(m, std::fabs(W[r * k + j]));
          out.scales[r * groups + g] = scaleOf(m, o.qmax);
        }
      double d = U(i, i);
      for (int64_t r = 0; r < n; ++r) {
        double s = out.scales[r * groups + g];
        double q = std::clamp(roundEven(W[r * k + i] / s), double(o.qmin),
                              double(o.qmax));
        out.codes[r * k + i] = int8_t(q);
        double e = (W[r * k + i] - q * s) / d;
        err[r * b + (i - i1)] = e;
        // Within the block: update the block's later columns now.
        for (int64_t j = i + 1; j < i2; ++j)
          W[r * k + j] -= e * U(i, j);
      }
    }
    // Lazy update of the columns after the block.
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = i2; j < k; ++j) {
        double s = 0;
        for (int64_t i = i1; i < i2; ++i)
          s += err[r * b + (i - i1)] * U(i, j);
        W[r * k + j] -= s;
      }
  }
  return out;
}

GPTQResult qopt::roundToNearest(const std::vector<float> &w, int64_t n,
                                int64_t k, const GPTQOptions &o) {
  int64_t gs = o.groupSize ? o.groupSize : k, groups = k / gs;
  GPTQResult out;
  out.codes.assign(size_t(n * k), 0);
  out.scales.assign(size_t(n * groups), 1.0f);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      double m = 0;
      for (int64_t j = g * gs; j < (g + 1) * gs; ++j)
        m = std::max(m, std::fabs(double(w[r * k + j])));
      float s = scaleOf(m, o.qmax);
      out.scales[r * groups + g] = s;
      for (int64_t j = g * gs; j < (g + 1) * gs; ++j)
        out.codes[r * k + j] =
            int8_t(std::clamp(roundEven(double(w[r * k + j]) / s),
                              double(o.qmin), double(o.qmax)));
    }
  return out;
}

double qopt::roundingProxyError(const std::vector<float> &w,
                                const std::vector<float> &wq, int64_t n,
                                int64_t k, const std::vector<double> &h) {
  double total = 0;
  std::vector<double> d(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < k; ++j)
      d[size_t(j)] = double(w[size_t(r * k + j)]) - wq[size_t(r * k + j)];
    for (int64_t i = 0; i < k; ++i) {
      if (d[size_t(i)] == 0)
        continue;
      double hi = 0;
      for (int64_t j = 0; j < k; ++j)
        hi += h[size_t(i * k + j)] * d[size_t(j)];
      total += d[size_t(i)] * hi;
    }
  }
  return total;
}

bool qopt::preferNearestRounding(const std::vector<float> &w,
                                 const std::vector<float> &nearest,
                                 const std::vector<float> &gptq, int64_t n,
                                 int64_t k, const std::vector<double> &h) {
  return roundingProxyError(w, nearest, n, k, h) <=
         roundingProxyError(w, gptq, n, k, h);
}
