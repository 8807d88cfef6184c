//===- GPTQ.h - weight rounding with second-order error feedback -*- C++
//-*-===//
//
/// \file
/// GPTQ (Frantar et al., 2023): quantize a linear layer's weight column by
/// column (input channel by input channel), and after each column spread
/// its rounding error over the columns not yet quantized, weighted by the
/// inverse Hessian of the layer's squared output error, H = 2 X^T X over
/// the calibration inputs X. Plain C++ (no LLVM/MLIR), deterministic
/// (double precision, fixed order), memory O(K^2 + N K).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_GPTQ_H
#define QOPT_SUPPORT_GPTQ_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qopt {

struct GPTQOptions {
  /// Symmetric integer range of the codes, e.g. [-127, 127] for int8.
  int64_t qmin = -127, qmax = 127;
  /// 0: one scale per output row (per channel); else one per row and
  /// group of this many input columns (must divide blockSize).
  int64_t groupSize = 0;
  /// Columns quantized together before the lazy update of the rest.
  int64_t blockSize = 128;
  /// Dampening added to H's diagonal, as a fraction of its mean.
  double percDamp = 0.01;
  /// When not empty: the scales [N, groups], fixed before the first column
  /// (GPTQ's static groups, e.g. the least-error scales of the original
  /// weights) instead of max |w| / qmax of the weights as they stand.
  std::vector<float> staticScales;
};

struct GPTQResult {
  /// Codes [N, K] row-major, in [qmin, qmax].
  std::vector<int8_t> codes;
  /// Scales [N, groups] (groups = 1 per channel, else K / groupSize):
  /// max |w| / qmax over the group's weights as they stand when the group
  /// is reached (updated by the earlier columns' errors); 1 for all-zero.
  std::vector<float> scales;
};

/// GPTQ of `w` ([n, k] row-major: n outputs, k inputs) with `h` ([k, k],
/// symmetric, 2 X^T X). Inputs with h[j][j] == 0 (never active) get zero
/// weights, as in the reference implementation. Rounding is half to even.
/// std::nullopt with `error` set on bad shapes/options or when the damped
/// H is not positive definite.
std::optional<GPTQResult> gptqQuantize(const std::vector<float> &w, int64_t n,
                                       int64_t k, std::vector<double> h,
                                       const GPTQOptions &options,
                                       std::string &error);

/// Round-to-nearest with the same scales rule (max |w| / qmax per row or
/// group of the original weights): the baseline GPTQ improves on.
GPTQResult roundToNearest(const std::vector<float> &w, int64_t n, int64_t k,
                          const GPTQOptions &options);

/// The output error GPTQ minimizes: tr((W - Wq) H (W - Wq)ᵀ) for `w`, `wq`
/// [n, k] and `h` [k, k] (E[x xᵀ] or X^T X; any positive scale).
double roundingProxyError(const std::vector<float> &w,
                          const std::vector<float> &wq, int64_t n, int64_t k,
                          const std::vector<double> &h);

/// weight-rounding=auto's choice: whether round-to-nearest's `nearest` is
/// kept over GPTQ's `gptq` (both [n, k]), i.e. its proxy error under `h`
/// is no larger (a tie keeps nearest).
bool preferNearestRounding(const std::vector<float> &w,
                           const std::vector<float> &nearest,
                           const std::vector<float> &gptq, int64_t n, int64_t k,
                           const std::vector<double> &h);

} // namespace qopt

#endif // QOPT_SUPPORT_GPTQ_H
