//===- Sparse24.h - 2:4 semi-structured storage -----------------*- C++ -*-===//
//
/// \file
/// 2:4 compressed storage of a row-major [n, k] weight whose every group of
/// 4 consecutive values along a row holds at most 2 nonzeros (qopt-prune
/// granularity=n_m n=2 m=4): `values` [n, k/2] (the group's two kept
/// values, in position order) and `meta` [n, k/8] (per group two 2-bit
/// positions, first in bits 0-1 and second in bits 2-3 of its nibble;
/// group 2i in the low nibble of byte i, 2i+1 in the high one), the layout
/// of NVIDIA's sparse tensor cores' metadata. A group with fewer than two
/// nonzeros stores zeros at unused positions. Plain C++, no LLVM/MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_SPARSE24_H
#define QOPT_SUPPORT_SPARSE24_H

#include <cstdint>
#include <vector>

namespace qopt {

/// Packs `w` [n, k]; false (outputs untouched) when k % 8 != 0 or a group
/// has more than two nonzeros.
bool pack24(const float *w, int64_t n, int64_t k, std::vector<float> &values,
            std::vector<uint8_t> &meta);

/// The same for an int8 weight (quantized 2:4 layers): int8 values [n, k/2]
/// and the same positions.
bool pack24(const int8_t *w, int64_t n, int64_t k, std::vector<int8_t> &values,
            std::vector<uint8_t> &meta);

/// The dense [n, k] weight of a packed one.
std::vector<float> unpack24(const std::vector<float> &values,
                            const std::vector<uint8_t> &meta, int64_t n,
                            int64_t k);

} // namespace qopt

#endif // QOPT_SUPPORT_SPARSE24_H
