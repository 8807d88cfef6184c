//===- WeightRounding.cpp - GPTQ and bias correction in qopt-quantize -----===//

#include "WeightRounding.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;

std::optional<InputMoments> mlir::qopt::readInputMoments(ObserveOp observer) {
  SecondMomentAttr attr = observer ? observer.getSecondMomentAttr() : nullptr;
  if (!attr)
    return std::nullopt;
  std::optional<std::vector<double>> matrix = attr.getMatrixValues();
  int64_t k = attr.getSize();
  if (!matrix || int64_t(matrix->size()) != k * k)
    return std::nullopt;
  InputMoments m;
  m.k = k;
  m.rows = attr.getRows();
  m.mean.assign(attr.getMean().asArrayRef().begin(),
                attr.getMean().asArrayRef().end());
  m.matrix = std::move(*matrix);
  if (std::optional<std::vector<double>> split = attr.getSplitMatrixValues();
      split && int64_t(split->size()) == k * k && attr.getSplitRows() > 0 &&
      attr.getSplitRows() < m.rows) {
    m.splitRows = attr.getSplitRows();
    m.splitMatrix = std::move(*split);
  }
  return m;
}

std::optional<HeldOutSplit> mlir::qopt::heldOutSplit(const InputMoments &m) {
  if (m.splitRows <= 0 || m.splitRows >= m.rows ||
      m.splitMatrix.size() != m.matrix.size())
    return std::nullopt;
  HeldOutSplit s;
  s.fit = m.splitMatrix;
  s.heldOut.resize(m.matrix.size());
  double a = double(m.splitRows), b = double(m.rows - m.splitRows);
  for (size_t i = 0; i < m.matrix.size(); ++i)
    s.heldOut[i] = (double(m.rows) * m.matrix[i] - a * m.splitMatrix[i]) / b;
  return s;
}

InputMoments mlir::qopt::padMoments(const InputMoments &m, int64_t kp) {
  if (kp == m.k)
    return m;
  InputMoments p;
  p.k = kp;
  p.rows = m.rows;
  p.mean = m.mean;
  p.mean.resize(size_t(kp), 0.0);
  p.matrix.assign(size_t(kp * kp), 0.0);
  for (int64_t i = 0; i < m.k; ++i)
    for (int64_t j = 0; j < m.k; ++j)
      p.matrix[size_t(i * kp + j)] = m.matrix[size_t(i * m.k + j)];
  if (!m.splitMatrix.empty()) {
    p.splitRows = m.splitRows;
    p.splitMatrix.assign(size_t(kp * kp), 0.0);
    for (int64_t i = 0; i < m.k; ++i)
      for (int64_t j = 0; j < m.k; ++j)
        p.splitMatrix[size_t(i * kp + j)] = m.splitMatrix[size_t(i * m.k + j)];
  }
  return p;
}

namespace {
/// Σ_r a_r · C · b_rᵀ over the rows of [n, k] matrices a and b.
double quadraticForm(const std::vector<double> &a, int64_t n, int64_t k,
                     const InputMoments &m, bool centered) {
  double total = 0;
  std::vector<double> t(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    const double *row = a.data() + r * k;
    for (int64_t i = 0; i < k; ++i) {
      double s = 0;
      const double *c = m.matrix.data() + i * k;
      for (int64_t j = 0; j < k; ++j)
        s += c[j] * row[j];
      t[size_t(i)] = s;
    }
    double q = 0, mu = 0;
    for (int64_t i = 0; i < k; ++i) {
      q += row[i] * t[size_t(i)];
      mu += row[i] * m.mean[size_t(i)];
    }
    total += centered ? q - mu * mu : q;
  }
  return total;
}
} // namespace

double mlir::qopt::roundingSQNR(const std::vector<float> &w,
                                const std::vector<float> &wq, int64_t n,
                                int64_t k, const InputMoments &m,
                                bool centered) {
  std::vector<double> wd(w.begin(), w.end()), ed(w.size());
  for (size_t i = 0; i < w.size(); ++i)
    ed[i] = double(w[i]) - double(wq[i]);
  double signal = quadraticForm(wd, n, k, m, /*centered=*/false);
  double noise = quadraticForm(ed, n, k, m, centered);
  if (!(noise > 0))
    return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

std::vector<float>
mlir::qopt::meanOutputError(const std::vector<float> &w,
                            const std::vector<float> &wq, int64_t n, int64_t k,
                            const std::vector<double> &mean) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    double s = 0;
    for (int64_t j = 0; j < k; ++j)
      s += (double(w[size_t(r * k + j)]) - double(wq[size_t(r * k + j)])) *
           mean[size_t(j)];
    out[size_t(r)] = float(s);
  }
  return out;
}
