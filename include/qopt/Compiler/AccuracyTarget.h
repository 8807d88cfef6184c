//===- AccuracyTarget.h - per-layer sensitivity, mixed precision -*- C++
//-*-===//
//
/// \file
/// quant-compile --accuracy-target=SQNR_DB: how much each quantizable
/// layer alone costs the model's output (quantize one layer at a time,
/// output SQNR on the calibration samples), then the most sensitive layers
/// kept in float until the fully quantized rest reaches the target.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_ACCURACYTARGET_H
#define QOPT_COMPILER_ACCURACYTARGET_H

#include "qopt/Compiler/Compiler.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace mlir::qopt {

/// One layer's cost: the output SQNR with only this layer quantized.
struct LayerSensitivity {
  std::string name;
  double sqnrDb;
};

struct AccuracyTargetResult {
  double targetDb = 0;
  /// Output SQNR with every selected layer quantized, and with the layers
  /// in `keptFloat` left float (the model returned).
  double allQuantizedDb = 0, achievedDb = 0;
  bool met = false;
  /// Most sensitive first.
  std::vector<LayerSensitivity> sensitivity;
  std::vector<std::string> keptFloat;
  /// Layers given the fallback scheme instead of float (weight-only int8
  /// for w8a8, w8a8-dynamic, w4 and nf4), and that scheme ("" when none).
  std::vector<std::string> keptWeightOnly;
  std::string fallbackScheme;
  /// The scheme of the other layers.
  std::string mainScheme;
  /// Bytes of all constants: float model, fully quantized, returned.
  int64_t floatBytes = 0, allQuantizedBytes = 0, bytes = 0;

  llvm::json::Value toJSON() const;
  /// A few lines for the terminal.
  std::string summary() const;
};

/// `module` has been through the qopt-ptq pipeline's calibration (observers
/// carry their calibration) with nothing quantized yet; `floatModule` is
/// the float reference. Runs qopt-quantize with `quantize`'s options on
/// copies (include = one layer, then exclude = the most sensitive k, which
/// get the fallback scheme -- weight-only int8 -- or, if that does not meet
/// the target, stay float), and finally on `module` itself with the
/// smallest k that meets `targetDb`, preferring the fallback to float at
/// the same k (all layers float if none does; `met` says which). Layers with no
/// name are always quantized.
FailureOr<AccuracyTargetResult>
meetAccuracyTarget(ModuleOp module, ModuleOp floatModule,
                   const QuantizePassOptions &quantize, double targetDb,
                   const std::string &samples, const CPUCompileOptions &cpu,
                   std::string &error);

} // namespace mlir::qopt

#endif // QOPT_COMPILER_ACCURACYTARGET_H
