//===- NF4.h - 4-bit NormalFloat block quantization -------------*- C++ -*-===//
//
/// \file
/// QLoRA's NF4 (Dettmers et al., 2023): blocks of weights scaled by their
/// absmax, each value stored as the 4-bit index of the nearest of 16
/// NormalFloat levels. Plain C++ (no LLVM/MLIR): the compiler and the tests
/// share it. Levels: shared/REFERENCE.md.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_NF4_H
#define QOPT_SUPPORT_NF4_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qopt {

/// The 16 NF4 levels, ascending; level 7 is exactly 0.
extern const float kNF4Levels[16];

/// The index of the level nearest to `v` (v already divided by the block's
/// absmax, so in [-1, 1]); a value exactly between two levels takes the
/// lower one, as bitsandbytes' threshold tree does.
uint8_t nearestNF4(float v);

/// NF4 of a row-major [rows, cols] weight in blocks of `block` consecutive
/// values along a row (cols % block == 0, block even): `absmax` gets one
/// scale per block ([rows, cols / block]), `packed` two codes per byte
/// ([rows, cols / 2]; even column in the low nibble, as ONNX packs int4).
/// A block of zeros gets absmax 0 and code 7. False when a value is not
/// finite.
bool quantizeNF4(const float *w, int64_t rows, int64_t cols, int64_t block,
                 std::vector<uint8_t> &packed, std::vector<float> &absmax);

/// Double quantization of block scales (QLoRA): the scales minus their
/// mean `offset`, in blocks of `block` (256), each block int8 symmetric
/// (`codes[i] = round_half_even((s[i] - offset) / scales[i / block])`,
/// `scales[b] = max |s - offset| / 127` over the block, 1 when that is 0).
struct DoubleQuantizedScales {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  float offset = 0;
  /// The scale code `i` stands for.
  float value(std::size_t i, int64_t block = 256) const {
    return float(codes[i]) * scales[i / std::size_t(block)] + offset;
  }
};
DoubleQuantizedScales doubleQuantize(const std::vector<float> &scales,
                                     int64_t block = 256);

/// The value a code stands for in a block with scale `absmax`.
inline float dequantizeNF4(uint8_t code, float absmax) {
  return kNF4Levels[code & 15] * absmax;
}

} // namespace qopt

#endif // QOPT_SUPPORT_NF4_H
