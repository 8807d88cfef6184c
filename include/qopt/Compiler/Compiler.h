//===- Compiler.h - compile graph modules to artifacts ----------*- C++ -*-===//
//
/// \file
/// What quant-compile does, as a library: lower a graph-level module with
/// the registered CPU pipeline, translate it to LLVM IR, optimize and emit
/// an object for the requested CPU, and link a shared-library artifact that
/// the lean runtime loads. Also an in-process JIT over the same entry point
/// (calibration uses it).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_COMPILER_COMPILER_H
#define QOPT_COMPILER_COMPILER_H

#include "qopt/Runtime/qopt_runtime.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace mlir {
class ExecutionEngine;

namespace qopt {

/// How to compile for the CPU.
struct CPUCompileOptions {
  /// LLVM CPU name (`x86-64-v3`, `skylake-avx512`, ...) or `native` for
  /// the host's CPU and features.
  std::string cpu = "native";
  /// Extra LLVM target features (`+avx2,-avx512f`), added to the CPU's.
  std::string features;
  /// LLVM optimization level (0-3).
  unsigned optLevel = 3;
  /// Element-wise fusion in the pipeline.
  bool fuseElementwise = true;
  /// Hand matmuls, convolutions and qopt.qlinear's integer products to the
  /// runtime's kernels; off: generated loops compute the same reference.
  bool kernelCalls = true;
  /// Threads the artifact uses unless the runtime is told otherwise (0:
  /// one per core).
  int defaultThreads = 0;
  /// Split generated (non-kernel) loops over threads too. Off by default:
  /// the kernels, where the time goes, are threaded either way, and the
  /// async lowering makes the code several times larger.
  bool parallelLoops = false;
  /// Keep the run-time checks of dynamic shapes and integer division
  /// (docs/Security.md); off: a bad input is undefined behaviour.
  bool runtimeChecks = true;
  /// Calibration build: qopt.observe ops report to the runtime.
  bool instrument = false;
  /// Time every kernel call and generated loop nest at run time
  /// (qopt-instrument-profile; quant-run --profile prints the times).
  bool profile = false;
  /// Static memory plan: fixed-size intermediates share one arena kept
  /// by the runtime across calls (qopt-plan-memory).
  bool memoryPlan = true;
};

/// Runs `qopt-cpu-pipeline{artifact=true}` on `module` (graph level to the
/// LLVM dialect, with the signature and the packed entry point).
LogicalResult lowerToLLVMDialect(ModuleOp module,
                                 const CPUCompileOptions &options);

/// A TargetMachine for `options.cpu` on the host's triple, or null with
/// `error` set (unknown CPU name).
std::unique_ptr<llvm::TargetMachine>
createCPUTargetMachine(const CPUCompileOptions &options, std::string &error);

/// Translates an LLVM-dialect module to LLVM IR for `tm` and optimizes it
/// at `optLevel`; null with `error` set on failure.
std::unique_ptr<llvm::Module> translateAndOptimize(ModuleOp module,
                                                   llvm::LLVMContext &llvmCtx,
                                                   llvm::TargetMachine &tm,
                                                   unsigned optLevel,
                                                   std::string &error);

/// Writes `module` as an object file to `path` (atomically: a temporary
/// file renamed on success).
LogicalResult writeObjectFile(llvm::Module &module, llvm::TargetMachine &tm,
                              StringRef path, std::string &error);

/// Links the object `objectPath` into the shared library `outputPath` with
/// the C compiler driver (`$QOPT_LINKER`, else the clang this project was
/// configured with, else `cc`). Atomic like writeObjectFile.
LogicalResult linkSharedLibrary(StringRef objectPath, StringRef outputPath,
                                std::string &error);

/// An artifact compiled in-process with mlir::ExecutionEngine: the same
/// signature text and packed entry point as a shared-library artifact.
class JITArtifact {
public:
  /// Compiles an LLVM-dialect module (see lowerToLLVMDialect). The lean
  /// runtime's symbols (threads, kernels) are made visible to the code.
  static std::unique_ptr<JITArtifact>
  create(ModuleOp module, const CPUCompileOptions &options, std::string &error);
  ~JITArtifact();

  /// The signature text (see qopt-export-signature).
  const char *signature() const { return signatureText; }
  /// `void qopt_artifact_main(void **args)`.
  void (*entry() const)(void **) { return entryFn; }

private:
  JITArtifact() = default;
  std::unique_ptr<ExecutionEngine> engine;
  const char *signatureText = nullptr;
  void (*entryFn)(void **) = nullptr;
};

/// A calibration run over a data directory.
struct CalibrationRunOptions {
  /// One subfolder per sample, each with one file per model input named
  /// `<input name>.npy` or `<input name>.pb`; samples run in name order.
  std::string dataDir;
  /// Histogram bins of each observer (|x| bins).
  int64_t bins = 2048;
  CPUCompileOptions cpu;
};

/// Compiles a copy of `module` (a graph module with qopt.observe ops, see
/// qopt-insert-observers) instrumented, in process, and runs it on every
/// sample of `options.dataDir`. The observers' statistics are left in the
/// runtime's calibration session (qopt_calibration_observer(id)). Returns
/// the number of samples; on failure `error` names the sample and tensor
/// (a missing file, a mismatch with the signature, which it lists, a NaN or
/// infinity in the data or in an observed activation).
FailureOr<int64_t> runCalibration(ModuleOp module,
                                  const CalibrationRunOptions &options,
                                  std::string &error);

/// Called after each calibration sample with the samples done and their
/// total (progress bars); returning false stops the calibration run, which
/// then fails with "calibration interrupted" (Ctrl-C in Python). One hook
/// per process (the calibration session is process-wide); null: none.
using CalibrationProgressFn = bool (*)(int64_t done, int64_t total,
                                       void *userData);
void setCalibrationProgress(CalibrationProgressFn fn, void *userData);
/// Calls the hook; true when there is none.
bool reportCalibrationProgress(int64_t done, int64_t total);

/// The sample folders of `dir` in name order (see CalibrationRunOptions);
/// files beside them are skipped. Failure, with `error` set, when `dir`
/// cannot be read or holds no folder.
FailureOr<std::vector<std::string>> listSamples(const std::string &dir,
                                                std::string &error);

/// Owns a runtime tensor.
struct TensorDeleter {
  void operator()(qopt_tensor *t) const { qopt_tensor_free(t); }
};
using TensorPtr = std::unique_ptr<qopt_tensor, TensorDeleter>;

/// Loads the inputs of `model` from the sample folder `sample`
/// (`<input name>.npy` or `.pb` each), in signature order; entries that are
/// not .npy/.pb files are skipped. Errors name the sample and input (a
/// missing file or a tensor file that names no input, both listing the
/// signature; an input given as both .npy and .pb; a NaN or infinity).
LogicalResult loadSample(qopt_model *model, const std::string &sample,
                         std::vector<TensorPtr> &inputs, std::string &error,
                         const std::string &kind = "calibration sample");

/// Writes each observer's statistics from the runtime's calibration session
/// onto its qopt.observe op: `statistics` (#qopt.histogram, the streamed
/// histogram's state, see qopt::Histogram) for qopt-calibrate, or
/// `channel_absmax` for channel_absmax observers, or `channel_sumsq` for
/// channel_sumsq observers (Wanda). Observers that saw no
/// values get none.
void attachCalibrationStatistics(ModuleOp module);

} // namespace qopt
} // namespace mlir

#endif // QOPT_COMPILER_COMPILER_H
