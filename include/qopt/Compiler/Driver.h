//===- Driver.h - quant-compile as a library --------------------*- C++ -*-===//
//
/// \file
/// Everything quant-compile does between its command line and its output
/// file, behind one options struct: import (ONNX or MLIR), LoRA adapters,
/// post-training quantization with its accuracy report, lowering for the
/// CPU or NVPTX and emission (MLIR, LLVM IR, object, shared library). The
/// tool fills CompileOptions from its flags; the C API (qopt-c/Compiler.h)
/// and Python fill the same struct through CompileOptions::set, whose keys
/// are the tool's flag names.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_DRIVER_H
#define QOPT_COMPILER_DRIVER_H

#include "qopt/Compiler/Compiler.h"
#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
#include "qopt/Dialect/QOpt/Transforms/Int4ScaleMethod.h"
#include "qopt/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir {
class DialectRegistry;

namespace qopt {

/// The options of quant-compile (see `quant-compile --help` and
/// docs/Python.md); defaults are the tool's.
struct CompileOptions {
  enum class Target { CPU, NVPTX };
  enum class Emit { MLIR, LLVM, Obj, So, ONNX };
  enum class AdapterMode { Merge, Switch };

  Target target = Target::CPU;
  /// --target=nvptx: sm_80, sm_86, sm_89 or sm_90.
  std::string gpuArch = "sm_90";
  std::string libdevice;
  CubinMode cubin = CubinMode::Auto;
  /// --gpu-precision: how float32 matmuls multiply on the GPU.
  GpuPrecision gpuPrecision = GpuPrecision::F32;
  std::string cudaToolkit;
  std::string emitPtx;
  /// CPU, features, -O, fusion, kernels, --threads, --parallel-loops.
  CPUCompileOptions cpu;

  // Import.
  std::vector<std::string> pinShapes;    // NAME=DxD
  std::vector<std::string> pinDims;      // NAME=N
  std::vector<std::string> freezeInputs; // NAME=FILE
  int64_t defaultOpset = 17;

  // Post-training quantization.
  std::optional<QuantScheme> quantize;
  std::string calibrationData;
  CalibrationMethod calibrationMethod = CalibrationMethod::MinMax;
  double percentile = 99.99;
  ActivationStorage activationType = ActivationStorage::Int8;
  /// qopt-calibrate's margin-db; --accuracy-target's output SQNR in dB.
  double calibrationMarginDb = 3.0;
  std::optional<double> accuracyTarget;
  std::string include, exclude;
  /// Unset: 64 for nf4, else 128.
  std::optional<int64_t> groupSize;
  bool doubleQuant = false;
  /// --weight-asymmetric[=auto] (w4) and --weight-granularity (int8
  /// weights); auto chooses per layer by error (needs calibrationData).
  WeightSymmetry weightSymmetry = WeightSymmetry::Symmetric;
  WeightGranularity weightGranularity = WeightGranularity::PerChannel;
  /// --quantize=w4 (symmetric): unset means mse.
  std::optional<Int4ScaleMethod> int4Scale;
  /// --w4-activations=float|int8 (--quantize=w4): the 4-bit layers'
  /// qopt.qlinear activation (none or dynamic_block); unset means float.
  std::optional<ActivationMode> w4Activations;
  /// --int8-depthwise (--quantize=w8a8): depthwise convolutions in int8 too.
  bool int8Depthwise = false;
  std::optional<double> smoothquant;
  /// GPTQ rounding and bias correction (both need calibrationData).
  WeightRounding weightRounding = WeightRounding::Nearest;
  bool biasCorrection = false;
  /// --quantize=ternary: unset means absmean (and is not an error without
  /// ternary).
  std::optional<TernaryMode> ternaryMode;

  // QDQ models and exports.
  bool foldQdq = true;
  bool prepareQat = false;

  // Pruning, before quantization: magnitude:S, wanda:S, N:M, channels:S.
  std::string prune;
  std::optional<PruneMethod> pruneMethod;
  std::optional<PruneScope> pruneScope;
  std::string pruneInclude, pruneExclude;
  bool shrinkStructured = false;

  // LoRA adapters: DIR[:SCALE] each.
  std::vector<std::string> adapters;
  AdapterMode adapterMode = AdapterMode::Merge;

  // The accuracy report (needs quantize): made when `report` is set or
  // `reportPath` is not empty (then also written there as JSON).
  bool report = false;
  std::string reportPath;
  std::string evalData;
  int reportLatencyRuns = 100;

  Emit emit = Emit::So;

  /// Sets the option named like the tool's flag (`quantize`, `calibration-
  /// data`, `pin-shape`, `adapter`, `O`, ...; list flags append) from its
  /// text. Failure, with `error` naming the option and the accepted values,
  /// on an unknown key or a bad value.
  LogicalResult set(StringRef key, StringRef value, std::string &error);

  /// The keys `set` accepts, one per line with a short description.
  static std::string describeKeys();
};

/// What a compilation produced besides the output file.
struct CompileResult {
  /// The accuracy report as JSON and as the printed table (options.report).
  std::string reportJson, reportTable;
  /// What quant-compile prints on success besides the table (--emit=onnx).
  std::string message;
};

/// Adds what quant-compile's context needs: every dialect and the ONNX
/// import dialects. (Passes are registered globally: registerAllPasses.)
void registerCompilerDialects(DialectRegistry &registry);

/// Loads `path`: `.mlir`/`.mlirbc` parsed through `sourceMgr`, anything else
/// imported as ONNX with the import options. Null on failure, with `error`
/// set for option errors (diagnostics go to the context's handler).
OwningOpRef<ModuleOp> loadModel(MLIRContext &ctx, StringRef path,
                                const CompileOptions &options,
                                llvm::SourceMgr &sourceMgr, std::string &error);

/// Imports an ONNX model from memory (`name` names it in diagnostics).
OwningOpRef<ModuleOp> loadModelBytes(MLIRContext &ctx, StringRef bytes,
                                     StringRef name,
                                     const CompileOptions &options,
                                     std::string &error);

/// Adapters, QDQ folding, pruning, quantization (+ report), lowering and
/// emission of `module` to `outputPath`. `modelPath` is the source model's
/// file (--emit=onnx rewrites it; empty for a model from memory). Failure
/// either with `error` set (option and driver errors, quant-compile prints them
/// as `quant-compile: error: ...`) or with `error` empty when a pass failed and
/// already reported its diagnostics.
LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            StringRef modelPath, StringRef outputPath,
                            CompileResult &result, std::string &error);

} // namespace qopt
} // namespace mlir

#endif // QOPT_COMPILER_DRIVER_H
