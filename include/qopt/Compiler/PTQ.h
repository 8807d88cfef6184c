//===- PTQ.h - post-training quantization driver and report ----*- C++ -*-===//
//
/// \file
/// The `qopt-ptq` pipeline (observers, calibration on compiled code,
/// parameters, quantization) and the accuracy report quant-compile
/// --report writes. Lives in QOptCompiler because calibration and the
/// report run the model through the JIT.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_PTQ_H
#define QOPT_COMPILER_PTQ_H

#include "qopt/Compiler/Compiler.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <memory>
#include <string>

namespace mlir::qopt {

#define GEN_PASS_DECL
#include "qopt/Compiler/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "qopt/Compiler/Passes.h.inc"

struct PTQPipelineOptions : public PassPipelineOptions<PTQPipelineOptions> {
  PassOptions::Option<std::string> scheme{
      *this, "scheme", llvm::cl::desc("w8a8 | w8a8-dynamic | w8 | w4"),
      llvm::cl::init("w8a8")};
  PassOptions::Option<std::string> calibrationData{
      *this, "calibration-data",
      llvm::cl::desc("Calibration samples (w8a8): one folder per sample")};
  PassOptions::Option<std::string> calibrationMethod{
      *this, "calibration-method",
      llvm::cl::desc("minmax, percentile, entropy or mse"),
      llvm::cl::init("minmax")};
  PassOptions::Option<double> percentile{
      *this, "percentile", llvm::cl::desc("For calibration-method=percentile"),
      llvm::cl::init(99.99)};
  PassOptions::Option<std::string> activationType{
      *this, "activation-type",
      llvm::cl::desc("int8 (symmetric) or uint8 (asymmetric) activations"),
      llvm::cl::init("int8")};
  PassOptions::Option<int64_t> groupSize{
      *this, "group-size", llvm::cl::desc("w4: weights per scale"),
      llvm::cl::init(128)};
  PassOptions::Option<bool> weightSymmetric{
      *this, "weight-symmetric",
      llvm::cl::desc("w4: symmetric int4 (else uint4 + zero points)"),
      llvm::cl::init(true)};
  PassOptions::Option<double> smoothquantAlpha{
      *this, "smoothquant-alpha",
      llvm::cl::desc("SmoothQuant migration strength in [0, 1] before "
                     "quantizing (w8a8, w8a8-dynamic); negative: off"),
      llvm::cl::init(-1.0)};
  PassOptions::Option<std::string> exclude{
      *this, "exclude", llvm::cl::desc("Regex: layers left float")};
  PassOptions::Option<std::string> include{
      *this, "include", llvm::cl::desc("Regex: the only layers quantized")};
};

/// [SmoothQuant: insert-observers{kind=channel_absmax} → collect-statistics
/// → smooth-quant] → insert-observers → collect-statistics → calibrate
/// (w8a8 only), then qopt-quantize. Option errors (an unknown scheme or
/// activation type, w8a8 without data) surface when the passes run.
void buildPTQPipeline(OpPassManager &pm, const PTQPipelineOptions &options);

/// Registers qopt-collect-statistics and the qopt-ptq pipeline.
void registerCompilerPasses();

/// Accuracy of a quantized model against its float original, on sample
/// folders (see CalibrationRunOptions), written as JSON and printed as a
/// table (docs/Quantization/Report.md).
struct ReportOptions {
  std::string calibrationData; // may be empty
  std::string evalData;        // held-back samples; may be empty
  std::string scheme;
  /// Timed runs per model and round for the latency figures (0: none).
  int latencyRuns = 100;
  CPUCompileOptions cpu;
};

/// `floatModule` and `quantModule` are graph modules whose layers carry
/// matching `qopt.layer` ids (tagLayers before quantizing). Returns the JSON
/// text, or failure with `error` set; `table` receives the printed form.
FailureOr<std::string> buildReport(ModuleOp floatModule, ModuleOp quantModule,
                                   const ReportOptions &options,
                                   std::string &table, std::string &error);

/// Numbers the quantizable layers (qopt.linear, NCHW convolutions) with a
/// `qopt.layer` attribute that quantization carries over.
void tagLayers(ModuleOp module);

} // namespace mlir::qopt

#endif // QOPT_COMPILER_PTQ_H
