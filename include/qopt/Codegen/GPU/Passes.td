//===- Passes.td - NVPTX code generation passes ------------*- tablegen -*-===//
//
// Passes of the NVPTX pipeline (flags qopt-gpu-<verb>-<noun>): managed
// memory, tensor-core matmuls, fused row kernels, cubin embedding.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CODEGEN_GPU_PASSES_TD
#define QOPT_CODEGEN_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def GPUManagedMemoryPass : Pass<"qopt-gpu-managed-memory", "ModuleOp"> {
  let summary = "Host buffers as CUDA managed memory (the NVPTX pipeline)";
  let description = [{
    After bufferization: every `memref.alloc` / `memref.dealloc` becomes
    `gpu.alloc host_shared` / `gpu.dealloc` (cuMemAllocManaged through the
    runtime's mgpuMemAlloc), function arguments are copied into managed
    buffers at entry (gpu.memcpy), constants come from the runtime's
    `qopt_cuda_constant` (a managed copy made at the first call and kept
    while the artifact is loaded; `cache-constants=false`: a copy per
    call), and returned buffers are copied back into ordinary host
    allocations (the managed ones freed), so GPU kernels and the host code
    between them share memory without explicit transfers and the caller
    owns plain host memory.
    `memref.alloca` is an error (kernels cannot reach the host stack).
    With `result-hook` (artifacts), a public function's result i goes
    instead into the buffer `qopt_cuda_result(i, bytes)` returns: host
    memory in an ordinary run, the caller's device buffer in a
    device-resident run (`qopt_cuda_model_run`, docs/Runtime/CUDA.md), by
    a gpu.memcpy either way.
  }];
  let options = [
    Option<"cacheConstants", "cache-constants", "bool", /*default=*/"true",
           "Constants come from the runtime's qopt_cuda_constant (one GPU "
           "copy per loaded artifact) instead of a copy per call">,
    Option<"resultHook", "result-hook", "bool", /*default=*/"false",
           "Public functions return their results in the buffers the "
           "runtime's qopt_cuda_result(index, bytes) gives (host memory, or "
           "the caller's device buffers in qopt_cuda_model_run)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect"];
}

def GPUTensorCoreMatmulPass : Pass<"qopt-gpu-tensor-core-matmul"> {
  let summary = "float16 / int8 matmuls on the tensor cores (wmma via gpu.subgroup_mma)";
  let description = [{
    On buffers, before the generic linalg-to-GPU lowering: every float16
    contraction with one M, one N and one K dimension (linalg.matmul,
    batch_matmul, the x·Wᵀ generic of a linear layer, any operand layout;
    batch dimensions become the grid's z) with a float16 or float32 output,
    a bfloat16 one (bfloat16 or float32 output), and every int8 x int8 ->
    int32 one whose operands are both sign- or both zero-extended (W8A8's
    qlinear with int8 activations, MatMulInteger), becomes a `gpu.launch`
    of 64x64 output tiles per block of four warps.
    64x32 and 32x64 operand tiles are staged in shared memory (workgroup
    attributions) with coalesced loads along each operand's contiguous
    dimension, zero outside the matrix (M, N, K need not be multiples of
    the tile, and may be dynamic); each warp multiplies its 32x32 quarter
    with `gpu.subgroup_mma_load_matrix` / `_compute` (PTX
    `wmma.mma.sync.m16n16k16`, float32 / int32 accumulation) — bfloat16,
    which the gpu dialect's wmma lacks, with `nvvm.mma.sync` m16n8k16 on
    per-lane fragments read from shared memory; the sums go through
    shared memory to an epilogue that adds the output's initial value and
    rounds to the output type.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GPUFuseRowKernelsPass : Pass<"qopt-gpu-fuse-row-kernels"> {
  let summary = "Softmax / layer norm chains as one gpu.launch, a block a row";
  let description = [{
    On buffers, before the generic linalg-to-GPU lowering: a run of linalg
    ops over the same rows (the first R loops parallel; at most one more
    loop, the column; every operand indexed by the row loops first or by
    none of them; equal row extents) that contains a reduction along the
    column becomes a single `gpu.launch` with one block of `block-size`
    threads per row. Stages run in order with `gpu.barrier` between them:
    column-parallel stages stride the row over the threads, reductions
    accumulate per-thread partials (from the combiner's identity) and
    combine them with `gpu.all_reduce`, per-row stages run in thread 0.
    Softmax (max, sum of exp, divide) and layer norm (mean, variance,
    normalize) each become one kernel instead of five to seven, and their
    reductions run across a block instead of sequentially in one thread.
    Ops that only allocate or take views may sit between the stages.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"128",
           "Threads per block (a multiple of 32, at most 1024)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GPUEmbedCubinPass : Pass<"qopt-gpu-embed-cubin", "ModuleOp"> {
  let summary = "Assemble each kernel module's PTX into a cubin (fatbin)";
  let description = [{
    After `gpu-module-to-binary{format=isa}`: every NVVM `gpu.object` that
    holds PTX is assembled by the CUDA toolkit's `ptxas` for its target
    chip and replaced by a fatbin (`fatbinary`) holding the cubin and the
    PTX, so that the driver loads machine code on a matching GPU and JITs
    the PTX only on newer ones; the host code then loads it with
    `mgpuModuleLoad` instead of `mgpuModuleLoadJIT`. `cubin=auto` does this
    when ptxas and fatbinary are found (`toolkit`/bin, else PATH, else
    /usr/local/cuda/bin) and keeps PTX otherwise; `always` makes a missing
    toolkit an error; `never` keeps PTX. `write-ptx=DIR` also writes the
    PTX of every kernel module to DIR/<module>.ptx.
  }];
  let options = [
    Option<"cubin", "cubin", "::mlir::qopt::CubinMode",
           "::mlir::qopt::CubinMode::Auto",
           "Embed a cubin for the chip next to the PTX",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::CubinMode::Auto, "auto",
                        "when ptxas and fatbinary are found"),
             clEnumValN(::mlir::qopt::CubinMode::Always, "always",
                        "an error without them"),
             clEnumValN(::mlir::qopt::CubinMode::Never, "never",
                        "PTX only (JIT-compiled by the driver)"))}]>,
    Option<"toolkit", "toolkit", "std::string", /*default=*/"\"\"",
           "CUDA toolkit root (its bin/ holds ptxas and fatbinary)">,
    Option<"writePtx", "write-ptx", "std::string", /*default=*/"\"\"",
           "Also write each kernel module's PTX to DIR/<module>.ptx">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def GPUQuantKernelCallsPass
    : Pass<"qopt-gpu-kernel-calls", "ModuleOp"> {
  let summary = "Quantized matmuls as calls of the runtime's GPU kernels";
  let description = [{
    On buffers, before the tensor-core and generic GPU lowerings: the
    weight-only int8 / int4 / uint4 / NF4, W8A8 (int8 x int8 -> int32) and
    ternary (qopt.bitlinear) contractions that the qopt lowering tags with
    a `library_call` become calls of the runtime's
    `qopt_cuda_matmul_{w8,w4,s8s8,u8s8,s8t2,f32t2}` (lib/Runtime/CUDA/
    QMatmul.cpp: GEMV-style kernels, a warp per four weight rows) with the
    CPU kernels' arguments plus a trailing i64 stream, 0 here (filled in
    by qopt-gpu-one-stream). W8A8 contractions are taken only with M of at
    most `max-int8-rows` (decode shapes): a static M decides here, a
    dynamic one at run time (`scf.if` over the kernel call and an untagged
    copy for the tensor-core kernels). Ternary ones need K % 64 == 0, else
    the generic lowering keeps them.

    With `float-matmuls` (default), float32 contractions (MatMul, batched
    MatMul, Gemm / linear layers, up to two batch dims, any strides) become
    calls of `qopt_cuda_matmul_f32` with the CPU kernel's arguments
    (`qopt_kernel_matmul_f32`'s) plus `precision` and the stream: tiled
    tensor-core kernels (3xTF32 for `f32`, the default, whose error is that
    of a float32 product; one TF32 product for `tf32`; `fma`: float32 FMAs
    on the CUDA cores). docs/Runtime/CUDA.md.

    With `half-matmuls`, float16 / bfloat16 contractions (inputs of one
    type, output of that type or float32) become calls of
    `qopt_cuda_matmul_h16` with the same 21 operands plus the type (0 f16,
    1 bf16), whether C is float32, accumulate (1) and the stream: the
    runtime's TMA + wgmma kernels on compute capability 9.0 (a fallback
    kernel elsewhere), float32 sums, C rounded once. Without it the
    tensor-core lowering (qopt-gpu-tensor-core-matmul) keeps them.

    Also with `float-matmuls`, the 2:4 sparse products qopt.linear's
    lowering tags (`qopt_kernel_matmul_sparse24`) become calls of
    `qopt_cuda_matmul_sparse24_f32` (lib/Runtime/CUDA/Sparse24.cpp:
    mma.sp on the sparse tensor cores) with the CPU kernel's arguments
    plus `precision` and the stream: `f32` multiplies bf16 hi and lo
    halves (three products), `tf32` one f16 product, `fma` float32 FMAs.
    docs/Pruning/Pruning.md.
  }];
  let options = [
    Option<"maxInt8Rows", "max-int8-rows", "int64_t", /*default=*/"16",
           "Largest static M of a W8A8 matmul the GEMV kernel takes">,
    Option<"floatMatmuls", "float-matmuls", "bool", /*default=*/"true",
           "float32 contractions call qopt_cuda_matmul_f32">,
    Option<"halfMatmuls", "half-matmuls", "bool", /*default=*/"false",
           "float16 / bfloat16 contractions call qopt_cuda_matmul_h16 "
           "(Hopper's TMA + wgmma kernels; the NVPTX pipeline sets it for "
           "sm_90)">,
    Option<"precision", "precision", "::mlir::qopt::GpuPrecision",
           "::mlir::qopt::GpuPrecision::F32",
           "How qopt_cuda_matmul_f32 multiplies",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::GpuPrecision::F32, "f32",
                        "3xTF32 on the tensor cores (float32 accuracy)"),
             clEnumValN(::mlir::qopt::GpuPrecision::TF32, "tf32",
                        "one TF32 product (10-bit mantissas)"),
             clEnumValN(::mlir::qopt::GpuPrecision::FMA, "fma",
                        "float32 FMAs on the CUDA cores"))}]>,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def GPUOneStreamPass : Pass<"qopt-gpu-one-stream", "ModuleOp"> {
  let summary = "Every GPU operation of a call on one stream, one sync";
  let description = [{
    After gpu-to-llvm: each host function that launches kernels gets one
    stream (`mgpuStreamCreate` at entry) that every `gpu.launch_func`
    (as its async object), `mgpuMemcpy` / `mgpuMemset*`, `mgpuMemAlloc` /
    `mgpuMemFree` (stream-ordered reuse of pooled blocks) and
    `qopt_cuda_matmul_*` call (its trailing stream argument) uses, instead
    of a stream created, synchronized and destroyed around each of them.
    `mgpuStreamSynchronize` is inserted only where the host needs the
    results: before an operation that reads or writes memory other than
    the stack (`llvm.alloca`) or calls anything but the allocation and
    constant functions, and before each `llvm.return` (followed by
    `mgpuStreamDestroy`). A block other than the entry starts as if work
    were queued.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::gpu::GPUDialect"];
}

#endif // QOPT_CODEGEN_GPU_PASSES_TD
