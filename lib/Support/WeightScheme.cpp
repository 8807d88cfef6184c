//===- WeightScheme.cpp - per-layer weight scheme chosen by error ---------===//

#include "qopt/Support/WeightScheme.h"
#include "qopt/Support/GPTQ.h"
#include "qopt/Support/QuantMath.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace qopt {

Int8Weights quantizeInt8Weights(const std::vector<float> &w, int64_t n,
                                int64_t k, bool perTensor) {
  Int8Weights out;
  out.codes.resize(w.size());
  out.scales.resize(size_t(n));
  StorageRange range = storageRange(StorageType::Int8);
  // chooseQuantParams's symmetric int8 scale (what per-channel weights
  // get everywhere else): 2a / 254, 1 for a = 0.
  auto scaleOf = [](float absmax) {
    std::optional<QuantParams> p =
        chooseQuantParams(-absmax, absmax, StorageType::Int8, true);
    return p ? p->scale : 1.0f;
  };
  float all = 0;
  std::vector<float> rowMax(size_t(n), 0.0f);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      rowMax[size_t(r)] =
          std::max(rowMax[size_t(r)], std::fabs(w[size_t(r * k + c)]));
  for (float m : rowMax)
    all = std::max(all, m);
  for (int64_t r = 0; r < n; ++r) {
    float s = scaleOf(perTensor ? all : rowMax[size_t(r)]);
    out.scales[size_t(r)] = s;
    for (int64_t c = 0; c < k; ++c)
      out.codes[size_t(r * k + c)] =
          int8_t(quantizeValue(w[size_t(r * k + c)], {s, 0}, range));
  }
  return out;
}

std::vector<float> dequantizeInt8Weights(const Int8Weights &q, int64_t n,
                                         int64_t k) {
  std::vector<float> out(size_t(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      out[size_t(r * k + c)] = float(double(q.codes[size_t(r * k + c)]) *
                                     double(q.scales[size_t(r)]));
  return out;
}

namespace {
double signalOf(const std::vector<float> &w, int64_t n, int64_t k,
                const std::vector<double> &h) {
  std::vector<float> zero(w.size(), 0.0f);
  return roundingProxyError(w, zero, n, k, h);
}

double sqnrDb(double signal, double noise) {
  if (!(noise > 0))
    return std::numeric_limits<double>::infinity();
  if (!(signal > 0))
    return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}
} // namespace

double weightOutputSqnrDb(const std::vector<float> &w,
                          const std::vector<float> &wq, int64_t n, int64_t k,
                          const std::vector<double> &h) {
  return sqnrDb(signalOf(w, n, k, h), roundingProxyError(w, wq, n, k, h));
}

WeightSchemeSqnr compareWeightSchemes(const std::vector<float> &w,
                                      const std::vector<float> &defaultWq,
                                      const std::vector<float> &alternativeWq,
                                      int64_t n, int64_t k,
                                      const std::vector<double> &h) {
  double signal = signalOf(w, n, k, h);
  return {sqnrDb(signal, roundingProxyError(w, defaultWq, n, k, h)),
          sqnrDb(signal, roundingProxyError(w, alternativeWq, n, k, h))};
}

bool preferAlternativeWeightScheme(double defaultDb, double alternativeDb,
                                   double marginDb) {
  if (std::isinf(defaultDb) && defaultDb > 0)
    return false; // the default is exact: nothing is better
  if (std::isinf(alternativeDb) && alternativeDb > 0)
    return true;
  return alternativeDb > defaultDb + marginDb;
}

} // namespace qopt
