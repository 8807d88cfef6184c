//===- Pipelines.h - the registered lowering pipelines ----------*- C++ -*-===//
//
/// \file
/// The lowering pipelines (qopt-cpu-pipeline, qopt-nvptx-pipeline): one
/// options struct each, shared by quant-opt, quant-compile and the C++ API.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PIPELINES_PIPELINES_H
#define QOPT_PIPELINES_PIPELINES_H

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::qopt {

/// Options of `qopt-cpu-pipeline`.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> fuseElementwise{
      *this, "fuse-elementwise",
      llvm::cl::desc("Fuse producer/consumer element-wise linalg ops"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> runtimeChecks{
      *this, "runtime-checks",
      llvm::cl::desc("Keep the importer's run-time checks (dynamic dims "
                     "that must agree, Reshape counts, integer division by "
                     "zero); off: erase them"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> approximateMath{
      *this, "approximate-math",
      llvm::cl::desc("Polynomial approximations for f32 erf/tanh/exp/log "
                     "(vectorizable) instead of libm calls"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> kernelCalls{
      *this, "kernel-calls",
      llvm::cl::desc("Call the runtime's kernels for f32 matmuls and "
                     "convolutions (the code then needs libqopt_runtime)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("Split parallel loops over the runtime's threads "
                     "(async-parallel-for; the code then needs "
                     "libqopt_runtime)"),
      llvm::cl::init(false)};
  PassOptions::Option<int> minTaskSize{
      *this, "min-task-size",
      llvm::cl::desc("Fewest loop iterations worth a task of their own"),
      llvm::cl::init(16384)};
  PassOptions::Option<bool> instrument{
      *this, "instrument",
      llvm::cl::desc("Calibration build: qopt.observe ops report their "
                     "values to the runtime (qopt-instrument-observers)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> artifact{
      *this, "artifact",
      llvm::cl::desc("Build an artifact: export @main's signature, add "
                     "the packed entry point qopt_artifact_main, and turn "
                     "failed run-time checks (cf.assert) and allocations "
                     "into errors the runtime reports"),
      llvm::cl::init(false)};
  PassOptions::Option<ArtifactTarget> target{
      *this, "target", llvm::cl::desc("Target named in the artifact signature"),
      llvm::cl::init(ArtifactTarget::CPU),
      llvm::cl::values(clEnumValN(ArtifactTarget::CPU, "cpu", "the host CPU"),
                       clEnumValN(ArtifactTarget::CUDA, "cuda",
                                  "NVIDIA GPUs through the CUDA driver"))};
  PassOptions::Option<int> threads{
      *this, "threads",
      llvm::cl::desc("Default thread count recorded in the artifact (0: one "
                     "per core)"),
      llvm::cl::init(0)};
  PassOptions::Option<bool> profile{
      *this, "profile",
      llvm::cl::desc("Time every kernel call and generated loop nest at run "
                     "time (qopt-instrument-profile)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> memoryPlan{
      *this, "memory-plan",
      llvm::cl::desc("Artifacts: fixed-size intermediates share one arena "
                     "the runtime keeps across calls (qopt-plan-memory)"),
      llvm::cl::init(true)};
};

/// Lowers a graph-level module (qopt + linalg/tensor/arith/math on tensors)
/// to the LLVM dialect for the host CPU: qopt to linalg, element-wise
/// fusion, one-shot bufferization with deallocation, loops, LLVM.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Options of `qopt-nvptx-pipeline`.
struct NVPTXPipelineOptions : public PassPipelineOptions<NVPTXPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("GPU architecture (sm_80, sm_89, sm_90)"),
      llvm::cl::init("sm_90")};
  PassOptions::Option<std::string> features{*this, "features",
                                            llvm::cl::desc("PTX features"),
                                            llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> libdevice{
      *this, "libdevice",
      llvm::cl::desc("libdevice.10.bc to link into the kernels (defines the "
                     "__nv_* math functions); empty: none"),
      llvm::cl::init("")};
  PassOptions::Option<int64_t> tileSize{
      *this, "tile-size",
      llvm::cl::desc("Threads per block along each of the two innermost "
                     "mapped loop dimensions"),
      llvm::cl::init(16)};
  PassOptions::Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("float16 matmuls on the tensor cores "
                     "(qopt-gpu-tensor-core-matmul)"),
      llvm::cl::init(true)};
  PassOptions::Option<CubinMode> cubin{
      *this, "cubin", llvm::cl::desc("Embed a cubin next to the PTX"),
      llvm::cl::init(CubinMode::Auto),
      llvm::cl::values(
          clEnumValN(CubinMode::Auto, "auto", "when ptxas is found"),
          clEnumValN(CubinMode::Always, "always", "an error without ptxas"),
          clEnumValN(CubinMode::Never, "never", "PTX only"))};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit root for ptxas/fatbinary (default: PATH, "
                     "then /usr/local/cuda)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> writePtx{
      *this, "write-ptx",
      llvm::cl::desc("Also write each kernel module's PTX to "
                     "DIR/<module>.ptx"),
      llvm::cl::init("")};
  PassOptions::Option<bool> artifact{
      *this, "artifact",
      llvm::cl::desc("Build an artifact (signature target 'cuda', packed "
                     "entry point)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> kernelCalls{
      *this, "kernel-calls",
      llvm::cl::desc("Weight-only, W8A8 (decode shapes) and ternary matmuls "
                     "call the runtime's GPU kernels (qopt-gpu-kernel-calls)"),
      llvm::cl::init(true)};
  PassOptions::Option<GpuPrecision> precision{
      *this, "precision",
      llvm::cl::desc("How float32 matmuls multiply (qopt-gpu-kernel-calls)"),
      llvm::cl::init(GpuPrecision::F32),
      llvm::cl::values(
          clEnumValN(GpuPrecision::F32, "f32", "3xTF32 (float32 accuracy)"),
          clEnumValN(GpuPrecision::TF32, "tf32", "one TF32 product"),
          clEnumValN(GpuPrecision::FMA, "fma", "float32 FMAs, CUDA cores"))};
  PassOptions::Option<bool> oneStream{
      *this, "one-stream",
      llvm::cl::desc("All of a call's GPU work on one stream with one "
                     "synchronize (qopt-gpu-one-stream); off: a stream and a "
                     "synchronize per launch"),
      llvm::cl::init(true)};
};

/// Lowers a graph-level module for NVIDIA GPUs: the CPU pipeline's graph
/// and buffer stages, buffers in managed memory (qopt-gpu-managed-memory),
/// linalg → parallel loops tiled into blocks of threads → gpu.launch →
/// outlined kernels → NVVM → PTX embedded as gpu.binary; the host side
/// through gpu-to-llvm, calling the runtime's mgpu* functions.
void buildNVPTXPipeline(OpPassManager &pm, const NVPTXPipelineOptions &options);

/// Registers every qopt pipeline with the global pass registry.
void registerPipelines();

} // namespace mlir::qopt

#endif // QOPT_PIPELINES_PIPELINES_H
