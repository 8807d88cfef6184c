//===- WeightRounding.h - GPTQ and bias correction in qopt-quantize -*- C++
//-*-===//
//
// What qopt-quantize needs of a layer's input moments (a second_moment
// observer's #qopt.second_moment): the observer itself, the output error a
// rounding of the weight causes under those inputs, and the bias
// correction (W - Wq)·E[x] (docs/Quantization/GPTQ.md,
// BiasCorrection.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TRANSFORMS_WEIGHTROUNDING_H
#define QOPT_LIB_TRANSFORMS_WEIGHTROUNDING_H

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include <optional>
#include <vector>

namespace mlir::qopt {

/// A layer's input moments, read from a #qopt.second_moment.
struct InputMoments {
  int64_t k = 0, rows = 0;
  std::vector<double> mean;   // E[x], k values
  std::vector<double> matrix; // E[x xᵀ], [k, k] row-major
  /// E[x xᵀ] of the first half of the samples' rows (splitRows of them),
  /// or empty.
  int64_t splitRows = 0;
  std::vector<double> splitMatrix;
};

/// The moments split for a held-out comparison: E[x xᵀ] of the first
/// half of the samples (fit) and of the rest (held out), both [k, k]; or
/// nothing when the calibration run kept no split.
struct HeldOutSplit {
  std::vector<double> fit, heldOut;
};
std::optional<HeldOutSplit> heldOutSplit(const InputMoments &m);

/// The second_moment observer among the observers `input` is the result
/// of (x → second_moment → histogram → layer), or null.
inline ObserveOp findSecondMomentObserver(Value input) {
  while (auto obs = input.getDefiningOp<ObserveOp>()) {
    if (obs.getKind() == ObserverKind::SecondMoment)
      return obs;
    input = obs.getInput();
  }
  return nullptr;
}

/// The moments the observer carries, or nothing when it has none (no
/// calibration run) or its matrix cannot be read.
std::optional<InputMoments> readInputMoments(ObserveOp observer);

/// The moments with k padded to `kp` by dead inputs (zero mean, zero rows
/// and columns): the zero columns of a 4-bit weight's last block.
InputMoments padMoments(const InputMoments &m, int64_t kp);

/// Output SQNR (dB) of the rounded weight `wq` against `w` (both [n, k])
/// on the inputs the moments describe: E||W x||² / E||(W - Wq) x||², or
/// with `centered` the error after bias correction, E||(W - Wq)(x - E[x])||².
/// +inf when the error is 0.
double roundingSQNR(const std::vector<float> &w, const std::vector<float> &wq,
                    int64_t n, int64_t k, const InputMoments &m, bool centered);

/// (W - Wq)·E[x]: the mean output error bias correction adds back.
std::vector<float> meanOutputError(const std::vector<float> &w,
                                   const std::vector<float> &wq, int64_t n,
                                   int64_t k, const std::vector<double> &mean);

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_WEIGHTROUNDING_H
