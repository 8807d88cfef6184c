//===- Report.h - calibration as a pass and the accuracy report -*- C++ -*-===//
//
/// \file
/// What runs the model in process for quantization: the
/// qopt-collect-statistics pass (the calibration run through the JIT) and
/// the accuracy report quant-compile --report writes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_REPORT_H
#define QOPT_COMPILER_REPORT_H

#include "qopt/Compiler/Compiler.h"
#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include "llvm/Support/JSON.h"

#include <memory>
#include <optional>
#include <string>

namespace mlir::qopt {

#define GEN_PASS_DECL
#include "qopt/Compiler/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "qopt/Compiler/Passes.h.inc"

/// Registers qopt-collect-statistics.
void registerCompilerPasses();

/// Accuracy of a quantized model against its float original, on sample
/// folders (see CalibrationRunOptions), written as JSON and printed as a
/// table (docs/Quantization/Report.md).
struct ReportOptions {
  std::string calibrationData; // may be empty
  std::string evalData;        // held-back samples; may be empty
  QuantScheme scheme = QuantScheme::W8A8;
  /// Whether the model was quantized (else the report's scheme is "none").
  bool quantized = true;
  /// The --prune spec the model was pruned with, or "".
  std::string prune;
  /// Timed runs per model and round for the latency figures (0: none).
  int latencyRuns = 100;
  CPUCompileOptions cpu;
  /// --accuracy-target's outcome (AccuracyTargetResult::toJSON), added to
  /// the report as `accuracy_target` when set.
  std::optional<llvm::json::Value> accuracyTarget;
};

/// `floatModule` and `quantModule` are graph modules whose layers carry
/// matching `qopt.layer` ids (tagLayers before quantizing). Returns the JSON
/// text, or failure with `error` set; `table` receives the printed form.
FailureOr<std::string> buildReport(ModuleOp floatModule, ModuleOp quantModule,
                                   const ReportOptions &options,
                                   std::string &table, std::string &error);

/// The output SQNR of variants of one float model on a folder of samples:
/// the float model is compiled once (JIT, the artifact's CPU pipeline),
/// each variant when measured.
class OutputComparator {
public:
  static std::unique_ptr<OutputComparator> create(ModuleOp floatModule,
                                                  const std::string &samples,
                                                  const CPUCompileOptions &cpu,
                                                  std::string &error);
  ~OutputComparator();
  /// The lowest SQNR (dB) over the model's f32 outputs (each over every
  /// sample); +inf when `variant` reproduces the float outputs exactly.
  /// Observers left in `variant` are ignored.
  FailureOr<double> sqnr(ModuleOp variant, std::string &error);

private:
  OutputComparator();
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// Numbers the quantizable layers (qopt.linear, NCHW convolutions) with a
/// `qopt.layer` attribute that quantization carries over.
void tagLayers(ModuleOp module);

} // namespace mlir::qopt

#endif // QOPT_COMPILER_REPORT_H
