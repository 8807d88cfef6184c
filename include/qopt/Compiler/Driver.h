//===- Driver.h - quant-compile as a library --------------------*- C++ -*-===//
//
/// \file
/// Everything quant-compile does between its command line and its output
/// file, behind one options struct: import (ONNX or MLIR), LoRA adapters,
/// QDQ folding, pruning, post-training quantization with its accuracy
/// report, lowering for the CPU or NVPTX and emission (MLIR, LLVM IR,
/// object, shared library, or the source ONNX model with its W8A8
/// quantization as QuantizeLinear/DequantizeLinear). The
/// tool fills CompileOptions from its flags; the C API (qopt-c/Compiler.h)
/// and Python fill the same struct through CompileOptions::set, whose keys
/// are the tool's flag names.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_DRIVER_H
#define QOPT_COMPILER_DRIVER_H

#include "qopt/Compiler/Compiler.h"
#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
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
  std::string cudaToolkit;
  std::string emitPtx;
  /// CPU, features, -O, fusion, kernels, --threads, --parallel-loops,
  /// --no-runtime-checks.
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
  std::string include, exclude;
  /// Unset: 64 for nf4, else 128.
  std::optional<int64_t> groupSize;
  bool doubleQuant = false;
  bool weightAsymmetric = false;
  std::optional<double> smoothquant;
  /// --quantize=ternary: unset means absmean (set only for ternary).
  std::optional<TernaryMode> ternaryMode;

  // Pruning, before quantization (docs/Pruning/Pruning.md): the --prune
  // spec (magnitude:S, wanda:S, N:M, channels:S) or "".
  std::string prune;
  /// N:M and channels:S: unset means magnitude.
  std::optional<PruneMethod> pruneMethod;
  /// Unstructured: unset means layer for magnitude, row for wanda.
  std::optional<PruneScope> pruneScope;
  std::string pruneInclude, pruneExclude;
  bool shrinkStructured = false;

  // QDQ models (docs/Quantization/QDQ.md).
  bool foldQdq = true;
  /// emit == ONNX: a fake-quant training graph.
  bool prepareQat = false;

  // LoRA adapters: DIR[:SCALE] each.
  std::vector<std::string> adapters;
  AdapterMode adapterMode = AdapterMode::Merge;

  // The accuracy report (needs quantize, prune or a QDQ model to fold):
  // made when `report` is set or
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
  /// The accuracy report as JSON and as the printed table (options.report;
  /// for a QDQ model only folded, `{"qdq": ...}` and a one-line summary).
  std::string reportJson, reportTable;
  /// What quant-compile prints besides the report (--emit=onnx: the
  /// written model and its quantized layer count), or "".
  std::string summary;
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
/// emission of `module` to `outputPath`. `modelPath` is the file `module`
/// was loaded from ("" for a model from memory): --emit=onnx rewrites it.
/// Failure either with `error` set (option and driver errors, quant-compile
/// prints them as `quant-compile: error: ...`) or with `error` empty when a
/// pass failed and already reported its diagnostics.
LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            StringRef outputPath, CompileResult &result,
                            std::string &error, StringRef modelPath = "");

} // namespace qopt
} // namespace mlir

#endif // QOPT_COMPILER_DRIVER_H
