//===- WeightScheme.h - per-layer weight scheme chosen by error -*- C++ -*-===//
//
/// \file
/// qopt-quantize's weight-granularity=auto and weight-symmetric=auto
/// (docs/Quantization/AutoSchemes.md): two quantizations of a layer's
/// weight are compared by their output error on the calibration inputs,
/// tr((W − Wq) H (W − Wq)ᵀ) with H = E[x xᵀ], as an SQNR
/// 10·log10(tr(W H Wᵀ) / tr((W − Wq) H (W − Wq)ᵀ)); the alternative to the
/// default scheme is kept only when it is better by more than a margin.
/// Plain C++ (no LLVM/MLIR).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_WEIGHTSCHEME_H
#define QOPT_SUPPORT_WEIGHTSCHEME_H

#include <cstdint>
#include <vector>

namespace qopt {

/// A "tie" between two weight schemes: the alternative to the default
/// must have an output SQNR more than this many dB higher to be kept.
/// Symmetric int4 vs asymmetric uint4 (a real difference of structure:
/// the zero point): 0.1 dB.
constexpr double kWeightSchemeMarginDb = 0.1;
/// Per channel vs per tensor: each row's per-channel step is at most the
/// per-tensor step, so per tensor wins only by rounding luck (measured:
/// +0.31 dB on the bundled MLP's fc3 calibration rows, -0.58 dB output
/// SQNR on held-out samples) or, by tens of dB, on weights already on one
/// grid for the whole tensor. 1 dB separates the two.
constexpr double kGranularityMarginDb = 1.0;

/// int8 symmetric codes of `w` [n, k] (row-major) with one scale per row
/// (`perTensor` false: max|w_row| / 127) or one for the whole tensor
/// (max|w| / 127, repeated n times); an all-zero row / tensor gets scale 1
/// (REFERENCE.md). Round half to even, saturate to [-128, 127]. Assumes
/// finite values.
struct Int8Weights {
  std::vector<int8_t> codes;
  std::vector<float> scales; // n
};
Int8Weights quantizeInt8Weights(const std::vector<float> &w, int64_t n,
                                int64_t k, bool perTensor);

/// The values `q` stands for ([n, k]).
std::vector<float> dequantizeInt8Weights(const Int8Weights &q, int64_t n,
                                         int64_t k);

/// Output SQNR in dB of `wq` against `w` (both [n, k]) under `h` ([k, k],
/// E[x xᵀ]): 10·log10(tr(W H Wᵀ) / tr((W − Wq) H (W − Wq)ᵀ)); +infinity
/// when the error is zero (or not positive: H is only semi-definite),
/// -infinity when the signal is zero and the error is not.
double weightOutputSqnrDb(const std::vector<float> &w,
                          const std::vector<float> &wq, int64_t n, int64_t k,
                          const std::vector<double> &h);

/// weightOutputSqnrDb of two quantizations of the same `w` (the signal
/// tr(W H Wᵀ) computed once: each term is O(n·k²)).
struct WeightSchemeSqnr {
  double defaultDb, alternativeDb;
};
WeightSchemeSqnr compareWeightSchemes(const std::vector<float> &w,
                                      const std::vector<float> &defaultWq,
                                      const std::vector<float> &alternativeWq,
                                      int64_t n, int64_t k,
                                      const std::vector<double> &h);

/// Whether the alternative scheme (SQNR `alternativeDb`) is kept over the
/// default (`defaultDb`): it must be more than `marginDb` better; a tie
/// (both infinite, or within the margin) keeps the default.
bool preferAlternativeWeightScheme(double defaultDb, double alternativeDb,
                                   double marginDb = kWeightSchemeMarginDb);

} // namespace qopt

#endif // QOPT_SUPPORT_WEIGHTSCHEME_H
