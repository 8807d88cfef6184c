//===- Ternary.h - BitNet b1.58 ternary weights and int8 tokens -*- C++ -*-===//
//
/// \file
/// The arithmetic of BitNet b1.58's BitLinear (Ma et al., 2024), in the form
/// of the authors' published training code (shared/REFERENCE.md):
///
///   weights      gamma = max(mean |W|, 1e-5),
///                W~ = clamp(round(W / gamma), -1, 1)        (per tensor)
///   activations  s = 127 / max(max_k |x[m, k]|, 1e-5),
///                x~ = clamp(round(x * s), -128, 127)         (per token)
///   output       y = (x~ . W~^T) * gamma / s
///
/// `round` is round-half-to-even (torch.round). All products are f32, as in
/// the reference code; only mean |W| is summed in double (then rounded to
/// f32) so that it does not depend on a summation order.
///
/// Packed storage (qopt.bitlinear's weight, docs/Quantization/Ternary.md):
/// a row-major [N, K] ternary matrix (K a multiple of 4) becomes [N, K/4]
/// bytes, four weights per byte along K: weight k of a row is in bits
/// 2*(k%4) .. 2*(k%4)+1 of byte k/4, as the code `t + 1`
/// (0: -1, 1: 0, 2: +1; 3 is invalid). Codes are unsigned so that
/// x86's u8 x s8 dot products (vpdpbusd, vpmaddubsw) take them as they are:
/// sum_k (t+1) x = sum_k t x + sum_k x.
///
/// Plain C++ (no LLVM/MLIR): shared by the compiler, the runtime and tests.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_TERNARY_H
#define QOPT_SUPPORT_TERNARY_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qopt {

/// The epsilon of BitNet's code: gamma and absmax are at least this.
constexpr float kTernaryEps = 1e-5f;

/// A [rows, cols] matrix of ternary values {-1, 0, +1} and its scale: the
/// matrix stands for `values * gamma`.
struct TernaryWeight {
  std::vector<int8_t> values;
  float gamma = 1.0f;
};

/// mean |w| over `count` values, summed in double, rounded to f32 (no eps).
float absMean(const float *w, int64_t count);

/// Absmean ternarization (post-training): gamma = max(absMean(w), eps),
/// values = clamp(round_half_even(w / gamma), -1, 1) in f32. False when a
/// value is not finite.
bool ternarizeAbsmean(const float *w, int64_t count, TernaryWeight &out);

/// Lossless detection: true when every value is 0 or +-g for one g > 0
/// (bitwise: -0.0 counts as 0), filling `out` so that values * gamma
/// reproduces `w` exactly (gamma = g; 1 for an all-zero tensor). False
/// (out unspecified) when `w` takes other values or is not finite.
bool detectTernary(const float *w, int64_t count, TernaryWeight &out);

/// The storage code of a ternary value and back (code 3 decodes to 0).
inline uint8_t ternaryCode(int8_t t) { return uint8_t(t + 1); }
inline int8_t ternaryFromCode(uint8_t code) {
  code &= 3;
  return code == 3 ? int8_t(0) : int8_t(int(code) - 1);
}

/// Packs a row-major [rows, cols] ternary matrix (cols % 4 == 0) into
/// [rows, cols / 4] bytes (layout above).
std::vector<uint8_t> packTernary(const int8_t *t, int64_t rows, int64_t cols);

/// Unpacks [rows, cols / 4] bytes into [rows, cols] values in {-1, 0, 1}.
void unpackTernary(const uint8_t *packed, int64_t rows, int64_t cols,
                   int8_t *t);

/// BitNet's per-token activation scale: 127 / max(max_k |x[k]|, eps), f32.
float tokenScale(const float *x, int64_t k);

/// clamp(round_half_even(x * s), -128, 127) in f32; NaN gives 0.
int8_t quantizeToken(float x, float s);

/// Statistics of a ternary matrix for reports.
struct TernaryStats {
  double zeroShare = 0; // share of weights that are 0
  int64_t packedBytes = 0;
};
TernaryStats ternaryStats(const TernaryWeight &w);

/// Signal-to-quantization-noise ratio in dB of `values * gamma` against the
/// float weight `w`: 10 log10(sum w^2 / sum (w - w')^2); +inf when exact.
double ternarySQNR(const float *w, const TernaryWeight &t);

} // namespace qopt

#endif // QOPT_SUPPORT_TERNARY_H
