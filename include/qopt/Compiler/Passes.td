//===- Passes.td - passes that compile and run code in process -*- tablegen -*-===//
//
// These passes JIT-compile the module they run on (QOptCompiler links
// MLIR's ExecutionEngine); they are registered by registerCompilerPasses().
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_PASSES_TD
#define QOPT_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def CollectStatisticsPass : Pass<"qopt-collect-statistics", "ModuleOp"> {
  let summary = "Run the observed float model over calibration samples (JIT)";
  let description = [{
    Compiles a copy of the module, with its `qopt.observe` ops instrumented,
    for this CPU with MLIR's ExecutionEngine, runs it on every sample of
    `calibration-data` (one folder per sample, one `<input name>.npy` or
    `.pb` per model input, samples in name order), and writes each
    observer's statistics onto it as `statistics` (#qopt.histogram: count,
    min, max and the streamed |x| histogram) for qopt-calibrate. Errors name the sample and
    the tensor: a missing file, a mismatch with the model's signature (which
    the message lists), a NaN or infinity.
  }];
  let options = [
    Option<"calibrationData", "calibration-data", "std::string", "\"\"",
           "Directory of calibration samples">,
    Option<"bins", "bins", "int64_t", "2048", "Histogram bins per observer">
  ];
}

#endif // QOPT_COMPILER_PASSES_TD
