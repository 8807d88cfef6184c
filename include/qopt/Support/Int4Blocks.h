//===- Int4Blocks.h - block-wise symmetric int4 weight scales ---*- C++ -*-===//
//
/// \file
/// The scale of one block of weights quantized to symmetric int4 (values
/// q in [-8, 7], w ≈ q · scale, no zero point), by one of three rules
/// (docs/Quantization/Int4.md):
///
/// - absmax: scale = max|w| / 7, q = round_half_to_even(w / scale) — the
///   symmetric formula of shared/REFERENCE.md (int4's -8 unused);
/// - signed-extreme: onnxruntime's MatMulNBits quantizer (MLAS
///   range2scale): m = the block's value of largest magnitude, with its
///   sign (the minimum on a tie), scale = -m / 8, so that m itself maps to
///   -8 and the 16th level is used; q = clamp(roundf(w · (1/scale) + 8),
///   0, 15) - 8 in float, as MLAS computes it (roundf: ties away from 0).
///   The scale is negative when the extreme is positive;
/// - mse: the scale among -m/8 · α (α = 1, 0.99, ..., 0.80, and 8/7, which
///   is absmax's range) with the least squared error over the block, q as
///   signed-extreme's; α = 1 wins ties, so no block is worse than
///   onnxruntime's.
///
/// Asymmetric uint4 (q in [0, 15], w ≈ (q - zp) · scale), by two rules:
/// - minmax: REFERENCE.md's asymmetric formula on the block's range widened
///   to include 0 (what onnxruntime's is_symmetric=False computes);
/// - mse: the range [α·min, α·max] (α = 1, 0.99, ..., 0.80) whose
///   quantization has the least squared error over the block; α = 1 wins
///   ties, so no block is worse than minmax's.
///
/// Plain C++ with no LLVM/MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_INT4BLOCKS_H
#define QOPT_SUPPORT_INT4BLOCKS_H

#include <cstdint>
#include <optional>
#include <string>

namespace qopt {

/// How a block's int4 scale is chosen.
enum class Int4Scale { MSE, SignedExtreme, AbsMax, MinMax };

/// Parses "mse", "signed-extreme", "absmax", "minmax".
std::optional<Int4Scale> parseInt4Scale(const std::string &name);

/// The option spelling of `method`.
const char *int4ScaleName(Int4Scale method);

/// onnxruntime's symmetric 4-bit scale of v[0, len): -m / 8 with m the
/// signed extreme (fabs(max) > fabs(min) ? max : min).
float signedExtremeScale(const float *v, int64_t len);

/// MLAS's symmetric 4-bit quantization of `v` with `scale`, as a signed
/// value in [-8, 7]: clamp(roundf(v · r + 8), 0, 15) - 8 with
/// r = scale != 0 ? 1 / scale : 0, each step rounded to float.
int quantizeInt4Ort(float v, float scale);

/// The candidate multipliers of -m/8 that `mse` tries, best-first on ties.
constexpr int kInt4MseCandidates = 22;
double int4MseCandidate(int i);

/// Quantizes v[0, len) to q[0, len) in [-8, 7] and returns the block's
/// scale (w ≈ q · scale), or std::nullopt when a value is not finite.
std::optional<float> quantizeInt4Block(const float *v, int64_t len,
                                       Int4Scale method, int8_t *q);

/// Scale and zero point of an asymmetric uint4 block.
struct UInt4Params {
  float scale;
  int zeroPoint;
};

/// Quantizes v[0, len) to q[0, len) in [0, 15] by `method` (MinMax or
/// MSE), or std::nullopt when a value is not finite.
std::optional<UInt4Params> quantizeUInt4Block(const float *v, int64_t len,
                                              Int4Scale method, int8_t *q);

} // namespace qopt

#endif // QOPT_SUPPORT_INT4BLOCKS_H
