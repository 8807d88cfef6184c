//===- PTQPipeline.h - the qopt-ptq pipeline ---------------------*- C++ -*-===//
//
/// \file
/// Post-training quantization as one registered pipeline: observers,
/// calibration on the compiled float model (JIT), scales and zero points,
/// quantized layers. Built above QOptCompiler (the calibration run needs
/// the JIT, which needs the CPU pipeline), hence its own library.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PIPELINES_PTQPIPELINE_H
#define QOPT_PIPELINES_PTQPIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::qopt {

/// Options of `qopt-ptq`.
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
/// (w8a8 only), then qopt-quantize. Option errors (w8a8 without data)
/// surface when the passes run.
void buildPTQPipeline(OpPassManager &pm, const PTQPipelineOptions &options);

/// Registers qopt-collect-statistics and the qopt-ptq pipeline.
void registerPTQPipeline();

} // namespace mlir::qopt

#endif // QOPT_PIPELINES_PTQPIPELINE_H
