//===- Pruning.h - which weights pruning removes ----------------*- C++ -*-===//
//
/// \file
/// The selection math of qopt-prune, shared by the pass and its unit tests:
/// given a score per weight (|W| for magnitude pruning, |W_ij| · ||X_j||₂
/// for Wanda), which weights become zero. Every selection is
/// deterministic: among equal scores, the smaller index is pruned first.
/// Plain C++, no LLVM/MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_PRUNING_H
#define QOPT_SUPPORT_PRUNING_H

#include <cstdint>
#include <vector>

namespace qopt {

/// How many of `n` entries a target fraction removes: floor(fraction · n)
/// (with a 1e-9 guard so that 0.3 · 10 is 3). `fraction` in [0, 1).
int64_t pruneCount(double fraction, int64_t n);

/// Marks (true) the `count` smallest of `scores[begin, begin + size)` in
/// `mask` (same indexing as `scores`); ties go to the smaller index.
void markSmallest(const std::vector<double> &scores, int64_t begin,
                  int64_t size, int64_t count, std::vector<bool> &mask);

/// Unstructured pruning of `rows` rows of `rowSize` scores: the
/// pruneCount(fraction, rows · rowSize) smallest of them all (`perRow`
/// false), or pruneCount(fraction, rowSize) smallest of each row.
std::vector<bool> unstructuredMask(const std::vector<double> &scores,
                                   int64_t rows, int64_t rowSize,
                                   double fraction, bool perRow);

/// n:m pruning of scores laid out [outer, axis, inner] (row-major): for
/// every (outer, inner) and every group of `m` consecutive indices along
/// `axis` (a multiple of `m`), the `m - n` smallest. Requires 1 <= n < m.
std::vector<bool> nmMask(const std::vector<double> &scores, int64_t outer,
                         int64_t axis, int64_t inner, int64_t n, int64_t m);

/// The L2 norm of each of `rows` rows of `rowSize` scores.
std::vector<double> rowNorms(const std::vector<double> &scores, int64_t rows,
                             int64_t rowSize);

/// Channel pruning: the pruneCount(fraction, rows) rows whose scores have
/// the smallest L2 norm, as a mask over rows.
std::vector<bool> channelMask(const std::vector<double> &scores, int64_t rows,
                              int64_t rowSize, double fraction);

} // namespace qopt

#endif // QOPT_SUPPORT_PRUNING_H
