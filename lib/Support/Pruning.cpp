//===- Pruning.cpp - which weights pruning removes ------------------------===//

#include "qopt/Support/Pruning.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

int64_t qopt::pruneCount(double fraction, int64_t n) {
  if (!(fraction > 0) || n <= 0)
    return 0;
  double k = std::floor(fraction * double(n) * (1 + 1e-9));
  return std::min<int64_t>(n, int64_t(k));
}

void qopt::markSmallest(const std::vector<double> &scores, int64_t begin,
                        int64_t size, int64_t count, std::vector<bool> &mask) {
  if (count <= 0)
    return;
  if (count >= size) {
    for (int64_t i = begin; i < begin + size; ++i)
      mask[size_t(i)] = true;
    return;
  }
  std::vector<int64_t> idx(static_cast<size_t>(size));
  std::iota(idx.begin(), idx.end(), begin);
  // A strict total order: (score, index). The pruned set is unique.
  auto less = [&](int64_t a, int64_t b) {
    double sa = scores[size_t(a)], sb = scores[size_t(b)];
    return sa < sb || (sa == sb && a < b);
  };
  std::nth_element(idx.begin(), idx.begin() + count, idx.end(), less);
  for (int64_t i = 0; i < count; ++i)
    mask[size_t(idx[size_t(i)])] = true;
}

std::vector<bool> qopt::unstructuredMask(const std::vector<double> &scores,
                                         int64_t rows, int64_t rowSize,
                                         double fraction, bool perRow) {
  std::vector<bool> mask(scores.size(), false);
  if (!perRow) {
    markSmallest(scores, 0, rows * rowSize,
                 pruneCount(fraction, rows * rowSize), mask);
    return mask;
  }
  int64_t k = pruneCount(fraction, rowSize);
  for (int64_t r = 0; r < rows; ++r)
    markSmallest(scores, r * rowSize, rowSize, k, mask);
  return mask;
}

std::vector<bool> qopt::nmMask(const std::vector<double> &scores, int64_t outer,
                               int64_t axis, int64_t inner, int64_t n,
                               int64_t m) {
  assert(n >= 1 && n < m && axis % m == 0 && "bad n:m pattern");
  std::vector<bool> mask(scores.size(), false);
  std::vector<int64_t> group(static_cast<size_t>(m));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t g = 0; g < axis; g += m)
      for (int64_t i = 0; i < inner; ++i) {
        for (int64_t j = 0; j < m; ++j)
          group[size_t(j)] = (o * axis + g + j) * inner + i;
        // Within the group: (score, position) ascending; the first m - n go.
        std::sort(group.begin(), group.end(), [&](int64_t a, int64_t b) {
          double sa = scores[size_t(a)], sb = scores[size_t(b)];
          return sa < sb || (sa == sb && a < b);
        });
        for (int64_t j = 0; j < m - n; ++j)
          mask[size_t(group[size_t(j)])] = true;
      }
  return mask;
}

std::vector<double> qopt::rowNorms(const std::vector<double> &scores,
                                   int64_t rows, int64_t rowSize) {
  std::vector<double> norms(size_t(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t i = 0; i < rowSize; ++i) {
      double v = scores[size_t(r * rowSize + i)];
      s += v * v;
    }
    norms[size_t(r)] = std::sqrt(s);
  }
  return norms;
}

std::vector<bool> qopt::channelMask(const std::vector<double> &scores,
                                    int64_t rows, int64_t rowSize,
                                    double fraction) {
  std::vector<double> norms = rowNorms(scores, rows, rowSize);
  std::vector<bool> mask(size_t(rows), false);
  markSmallest(norms, 0, rows, pruneCount(fraction, rows), mask);
  return mask;
}
