//===- WeightSchemeAttr.cpp - #qopt.weight_scheme verifier ----------------===//
//
// The weight scheme qopt-quantize chose for a layer by error
// (docs/Quantization/AutoSchemes.md).
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

LogicalResult
WeightSchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         WeightGranularity granularity, WeightSymmetry symmetry,
                         llvm::APFloat sqnr, llvm::APFloat alternative) {
  // auto is what the option asks for, not a scheme a layer can have.
  if (granularity == WeightGranularity::Auto)
    return emitError() << "weight_scheme granularity must be per_channel, "
                          "per_tensor or block, not auto";
  if (symmetry == WeightSymmetry::Auto)
    return emitError() << "weight_scheme symmetry must be symmetric or "
                          "asymmetric, not auto";
  // Zero points exist for 4-bit blocks only (uint4).
  if (symmetry == WeightSymmetry::Asymmetric &&
      granularity != WeightGranularity::Block)
    return emitError() << "weight_scheme: asymmetric weights are block-wise "
                          "uint4 (int8 weights are symmetric), got granularity "
                       << stringifyWeightGranularity(granularity);
  for (const llvm::APFloat &v : {sqnr, alternative})
    if (v.isNaN())
      return emitError() << "weight_scheme SQNRs must not be NaN";
  return success();
}
