//===- Pipelines.cpp - registered qopt pass pipelines ---------------------===//
//
// Every pipeline is registered here once, so quant-opt and quant-compile run
// the very same sequence of passes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Pipelines/Pipelines.h"
#include "qopt/Codegen/CPU/Passes.h"
#include "qopt/Codegen/GPU/Passes.h"
#include "qopt/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Async/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Quant/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include <cstdlib>

using namespace mlir;

/// The graph and buffer stages both targets share: qopt to linalg on
/// tensors, element-wise fusion, one-shot bufferization with ownership-based
/// deallocation.
static void addGraphToBufferPasses(OpPassManager &pm, bool fuseElementwise,
                                   bool approximateMath, bool runtimeErrors,
                                   bool runtimeChecks = true,
                                   bool fusedKernels = false,
                                   bool cpuSparse = false) {
  using namespace mlir::qopt;
  pm.addPass(createInlineScalarResourcesPass());
  // In artifacts (run by our runtime), the importer's run-time checks
  // report errors instead of aborting; other users of the pipeline (e.g.
  // mlir-runner) keep upstream's abort.
  if (runtimeErrors || !runtimeChecks) {
    LowerAssertsPassOptions assertOpts;
    assertOpts.drop = !runtimeChecks;
    pm.addPass(createLowerAssertsPass(assertOpts));
  }
  ConvertQOptToLinalgPassOptions toLinalg;
  toLinalg.cpuSparse = cpuSparse;
  pm.addPass(createConvertQOptToLinalgPass(toLinalg));
  // Element-wise arith/math on whole tensors (hand-written graph modules)
  // become linalg too, which bufferizes.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createDecomposeAggregatesPass());
  pm.addPass(createCanonicalizerPass());
  // Attention chains and norms as runtime kernel calls (with the kernel
  // calls), matched before element-wise fusion reshapes them.
  if (fusedKernels) {
    pm.addNestedPass<func::FuncOp>(createShareRowQuantizationPass());
    pm.addNestedPass<func::FuncOp>(createFuseAttentionPass());
    pm.addNestedPass<func::FuncOp>(createFuseNormsPass());
    // The softmax rows left (QDQ graphs, masks the attention kernel does
    // not take) reduce in vector order, as the kernels do.
    pm.addNestedPass<func::FuncOp>(createReassociateReductionsPass());
  }
  pm.addPass(quant::createStripFuncQuantTypes());
  if (fuseElementwise)
    pm.addNestedPass<func::FuncOp>(createFuseElementwisePass());
  if (approximateMath)
    pm.addPass(createApproximateMathPass());
  pm.addPass(createExpandSmallFloatCastsPass());
  pm.addPass(createCanonicalizerPass());

  // Buffers: whole-module one-shot bufferization with identity layouts at
  // function boundaries (a plain C ABI), then ownership-based deallocation.
  bufferization::OneShotBufferizePassOptions bufOpts;
  bufOpts.bufferizeFunctionBoundaries = true;
  bufOpts.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // ONNX Loop/Scan bodies (scf.while/scf.for) yield newly computed tensors
  // as their loop-carried values.
  bufOpts.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufOpts));
  bufferization::buildBufferDeallocationPipeline(pm);
  // Clones that ownership-based deallocation keeps (e.g. a function that
  // returns its argument) become alloc + copy.
  pm.addPass(createConvertBufferizationToMemRefPass());
}

void mlir::qopt::buildCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  // Graph level: qopt to linalg on tensors; canonicalization folds the
  // storage casts that pair up between a quantize and a dequantize.
  if (options.artifact) {
    ExportSignaturePassOptions sigOpts;
    sigOpts.target = options.target;
    sigOpts.threads = options.threads;
    pm.addPass(createExportSignaturePass(sigOpts));
  }
  if (options.instrument)
    pm.addPass(createInstrumentObserversPass());
  // With kernel calls, exp/erf/tanh are approximated after the kernel-call
  // conversion: the conv and matmul epilogues it fuses (Sigmoid, SiLU,
  // GELU) are matched in their exact form and computed by the runtime's
  // vector math; what stays a loop is approximated then.
  addGraphToBufferPasses(pm, options.fuseElementwise,
                         options.approximateMath && !options.kernelCalls,
                         options.artifact, options.runtimeChecks,
                         options.kernelCalls, /*cpuSparse=*/true);
  if (options.kernelCalls) {
    pm.addPass(createConvertLinalgToKernelCallsPass());
    if (options.approximateMath)
      pm.addPass(createApproximateMathPass());
  }
  // Intermediates of fixed size in one arena kept by the runtime.
  if (options.artifact && options.memoryPlan)
    pm.addPass(createPlanMemoryPass());
  if (options.profile)
    pm.addPass(createInstrumentProfilePass());

  // Loops. With `parallel`, the parallel dims of each linalg op become an
  // scf.parallel that async-parallel-for splits over the runtime's threads
  // (the worker count is read from the runtime when the code runs); loops
  // too small to be worth a thread run in the caller.
  if (options.parallel) {
    pm.addPass(createConvertLinalgToParallelLoopsPass());
    AsyncParallelForPassOptions asyncOpts;
    asyncOpts.numWorkerThreads = -1;
    asyncOpts.minTaskSize = options.minTaskSize;
    pm.addPass(createAsyncParallelForPass(asyncOpts));
    pm.addPass(createAsyncToAsyncRuntimePass());
    pm.addPass(createAsyncRuntimeRefCountingPass());
    pm.addPass(createAsyncRuntimeRefCountingOptPass());
    pm.addPass(createCanonicalizerPass());
  } else {
    pm.addPass(createConvertLinalgToLoopsPass());
  }
  pm.addPass(createContiguousExpandShapesPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  // What has no LLVM intrinsic (erf, tanh, expm1, log1p, ...) calls libm.
  pm.addPass(createConvertMathToLibmPass());
  if (options.parallel)
    pm.addPass(createConvertAsyncToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  if (options.artifact) {
    pm.addPass(createCheckAllocationsPass());
    pm.addPass(createEmitPackedEntryPass());
  }
}

void mlir::qopt::buildNVPTXPipeline(OpPassManager &pm,
                                    const NVPTXPipelineOptions &options) {
  if (options.artifact) {
    ExportSignaturePassOptions sigOpts;
    sigOpts.target = ArtifactTarget::CUDA;
    pm.addPass(createExportSignaturePass(sigOpts));
  }
  addGraphToBufferPasses(pm, /*fuseElementwise=*/true,
                         /*approximateMath=*/true, options.artifact);
  {
    GPUManagedMemoryPassOptions managed;
    managed.resultHook = options.artifact;
    pm.addPass(createGPUManagedMemoryPass(managed));
  }
  // Quantized matmuls: the runtime's GPU kernels.
  if (options.kernelCalls) {
    GPUQuantKernelCallsPassOptions calls;
    calls.precision = options.precision;
    // float16 / bfloat16 matmuls: the runtime's wgmma kernels on Hopper
    // (sm_90 / sm_90a; other chips keep the wmma lowering, which is faster
    // than the runtime's fallback kernel).
    calls.halfMatmuls = options.tensorCores &&
                        StringRef(options.chip.getValue()).starts_with("sm_") &&
                        std::atoi(options.chip.getValue().c_str() + 3) == 90;
    pm.addPass(createGPUQuantKernelCallsPass(calls));
  }
  // float16 matmuls: shared-memory tiles on the tensor cores.
  if (options.tensorCores)
    pm.addNestedPass<func::FuncOp>(createGPUTensorCoreMatmulPass());
  // Softmax / layer norm / reductions: one kernel per chain, a block a row.
  pm.addNestedPass<func::FuncOp>(createGPUFuseRowKernelsPass());
  // Every linalg op becomes a parallel loop nest whose two outer dims are
  // tiled: tiles map to blocks, points within a tile to threads (one output
  // element per thread; reductions stay sequential loops in the thread).
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createParallelLoopTilingPass(
      {options.tileSize, options.tileSize}, /*noMinMaxBounds=*/true));
  pm.addNestedPass<func::FuncOp>(createGpuMapParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addPass(createContiguousExpandShapesPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createCanonicalizerPass());
  // Upstream's gpu-lower-to-nvvm-pipeline, spelled out so that libdevice
  // (the CUDA toolkit's libdevice.10.bc, which defines the __nv_* math
  // functions NVVM lowering calls) can be linked into the kernels.
  //
  // Constants and index math are rematerialized in the kernels rather than
  // passed as parameters (fewer parameters, folding inside the kernel; i4
  // parameters would not even assemble).
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  // After scf-to-cf: its structural type conversion would reject loops that
  // carry gpu.mma_matrix values (the tensor-core kernels).
  pm.addPass(createConvertNVGPUToNVVMPass());
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  GpuNVVMAttachTargetOptions attachOpts;
  attachOpts.optLevel = 3;
  attachOpts.chip = options.chip;
  attachOpts.features = options.features;
  if (!options.libdevice.empty())
    attachOpts.linkLibs.push_back(options.libdevice);
  pm.addPass(createGpuNVVMAttachTarget(attachOpts));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  ConvertIndexToLLVMPassOptions indexOpts;
  indexOpts.indexBitwidth = 64;
  pm.addPass(createConvertIndexToLLVMPass(indexOpts));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  {
    OpPassManager &gpuPM = pm.nest<gpu::GPUModuleOp>();
    ConvertGpuOpsToNVVMOpsOptions nvvmOpts;
    nvvmOpts.indexBitwidth = 64;
    gpuPM.addPass(createConvertGpuOpsToNVVMOps(nvvmOpts));
    gpuPM.addPass(createCanonicalizerPass());
    gpuPM.addPass(createCSEPass());
    gpuPM.addPass(createReconcileUnrealizedCastsPass());
  }
  pm.addPass(createGpuToLLVMConversionPass());
  if (options.oneStream)
    pm.addPass(createGPUOneStreamPass());
  GpuModuleToBinaryPassOptions binaryOpts;
  binaryOpts.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binaryOpts));
  // PTX → cubin + PTX in a fatbin when the toolkit is here.
  GPUEmbedCubinPassOptions cubinOpts;
  cubinOpts.cubin = options.cubin;
  cubinOpts.toolkit = options.toolkit;
  cubinOpts.writePtx = options.writePtx;
  pm.addPass(createGPUEmbedCubinPass(cubinOpts));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  if (options.artifact)
    pm.addPass(createEmitPackedEntryPass());
}

void mlir::qopt::registerPipelines() {
  PassPipelineRegistration<NVPTXPipelineOptions>(
      "qopt-nvptx-pipeline",
      "Lower a qopt graph module to host LLVM dialect plus PTX for NVIDIA "
      "GPUs",
      buildNVPTXPipeline);
  PassPipelineRegistration<CPUPipelineOptions>(
      "qopt-cpu-pipeline",
      "Lower a qopt graph module to the LLVM dialect for the host CPU",
      buildCPUPipeline);
}
