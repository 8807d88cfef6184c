//===- Passes.td - qopt lowering passes --------------------*- tablegen -*-===//

#ifndef QOPT_CONVERSION_PASSES_TD
#define QOPT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertQOptToLinalgPass : Pass<"convert-qopt-to-linalg", "ModuleOp"> {
  let summary = "Lower qopt graph operations to linalg/arith/math on tensors";
  let description = [{
    Rewrites every qopt operation into upstream dialects on tensors:

    - `qopt.linear` becomes a `linalg.generic` contraction over the last
      input dimension, initialised with the broadcast bias (or zeros);
    - `qopt.quantize` / `qopt.dequantize` become element-wise
      `linalg.generic`s with `math.roundeven` (round half to even), clamping
      to the storage range and int/float conversion; the quantized tensors
      are reinterpreted as their integer storage with `quant.scast`;
    - `qopt.fake_quant` becomes one element-wise `linalg.generic` in float;
    - `qopt.observe` is erased (calibration instruments observers itself).

    Per-axis parameters become constant vectors indexed by the axis. NaN
    inputs to quantize map to the zero point, as in the runtime's reference
    code.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect",
    "::mlir::quant::QuantDialect"
  ];
}

def ExportSignaturePass : Pass<"qopt-export-signature", "ModuleOp"> {
  let summary = "Record the entry function's signature for the artifact";
  let description = [{
    Writes the signature of the entry function (`@main` by default) into the
    module as the NUL-terminated constant `@qopt_artifact_signature`, which
    the lean runtime reads from a compiled artifact, and marks the entry
    function `llvm.emit_c_interface` so that the CPU pipeline gives it a C
    ABI (`_mlir_ciface_main`) taking memref descriptors.

    The signature is text, one line per item:

    ```
    qopt-artifact 1
    target cpu
    entry main
    threads 0
    input hidden_states float32 3 ?batch ?sequence 64
    output output float32 3 ? ? 64
    ```

    Names are the ONNX names the importer recorded (`onnx.name`), or
    `input<i>`/`output<i>`; bytes outside `[A-Za-z0-9._:/-]` are written as
    `%XX`. A dynamic dim is `?` followed by its ONNX `dim_param`. The dtype
    is the ONNX one (`onnx.dtype`, which keeps signedness) or follows the
    element type. Every argument and result must be a ranked tensor of a
    numeric or boolean element type.
  }];
  let options = [
    Option<"entry", "entry", "std::string", "\"main\"",
           "Name of the function the artifact runs">,
    Option<"target", "target", "std::string", "\"cpu\"",
           "Target recorded in the signature">,
    Option<"threads", "threads", "int", "0",
           "Default thread count recorded in the signature (0: one per "
           "core)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def EmitPackedEntryPass : Pass<"qopt-emit-packed-entry", "ModuleOp"> {
  let summary = "Add the artifact's packed entry point to an LLVM module";
  let description = [{
    Runs on the LLVM dialect, after `func` lowering. Adds
    `llvm.func @qopt_artifact_main(%args: !llvm.ptr)`, which loads one
    pointer per parameter of the C interface `@_mlir_ciface_<entry>` from
    the array `%args` and calls it: the result descriptors' buffer first,
    then one memref descriptor per input. The runtime calls every artifact
    through this one type, whatever its number of inputs and outputs.
  }];
  let options = [
    Option<"entry", "entry", "std::string", "\"main\"",
           "Name of the function the artifact runs">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ConvertLinalgToKernelCallsPass
    : Pass<"convert-linalg-to-kernel-calls", "ModuleOp"> {
  let summary = "Call the runtime's kernels for f32 matmuls and convolutions";
  let description = [{
    Runs on buffers (after bufferization). Rewrites

    - every f32 `linalg` contraction (a `linalg.generic` or named op whose
      body is `out + a * b` over projected-permutation maps: `qopt.linear`,
      MatMul, Gemm, batched MatMul) with one reduction dimension and at most
      two dimensions besides one M and one N dimension, into a call of
      `qopt_kernel_matmul_f32` (C += A·B with arbitrary element strides);
    - every f32 `linalg.conv_2d_nchw_fchw` into a call of
      `qopt_kernel_conv2d_nchw_f32` (im2col + the same matmul kernel).

    Operands are passed as i64 addresses and element strides taken from
    `memref.extract_strided_metadata`, so any layout works. Ops that do not
    match are left for the loop lowering. The kernels live in the lean
    runtime and use its thread pool.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def ApproximateMathPass : Pass<"qopt-approximate-math"> {
  let summary = "Replace f32 transcendental functions by polynomials";
  let description = [{
    Rewrites the f32 `math` operations named by `ops` into MLIR's polynomial
    approximations (upstream `populateMathPolynomialApproximationPatterns`),
    which are plain arithmetic: the loops around them vectorize, where a
    libm call per element would not. The approximations are accurate to a
    few ULP (checked against onnxruntime by the conformance tests). Ops not
    listed keep their libm/LLVM lowering.
  }];
  let options = [
    ListOption<"ops", "ops", "std::string",
               "Mnemonics of the math ops to approximate (default: erf, "
               "tanh, exp, expm1, log, log1p, log2)">
  ];
  let dependentDialects = ["::mlir::math::MathDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

def DecomposeAggregatesPass : Pass<"qopt-decompose-aggregates"> {
  let summary = "Decompose aggregate linalg ops (softmax) into generics";
  let description = [{
    Rewrites every op implementing linalg's `AggregatedOpInterface`
    (`linalg.softmax`, ...) into the named/generic ops it stands for, so
    that fusion, bufferization and the loop lowering see only ops they
    handle. The importer already emits generics; hand-written graph modules
    may use the aggregates.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def ExpandSmallFloatCastsPass : Pass<"qopt-expand-small-float-casts"> {
  let summary = "Lower f32 <-> float8/float4 conversions to table lookups";
  let description = [{
    LLVM has no float8 or float4 types (their buffers become i8/i4), so
    `arith.extf` from and `arith.truncf` to `f8E4M3FN`, `f8E4M3FNUZ`,
    `f8E5M2`, `f8E5M2FNUZ` and `f4E2M1FN` are rewritten here, on the bits:

    - `extf` (to f32): a lookup in a 256- (16-) entry table of the format's
      values, indexed by the code;
    - `truncf` (from f32): round to nearest, ties to even, by a branch-free
      binary search of |x| among the midpoints between consecutive finite
      values (the code of a positive value is its rank); the sign bit is
      set for negative inputs (not for zero in the FNUZ formats, which have
      no negative zero); NaN gives the format's NaN; a magnitude beyond
      the largest finite value gives infinity (E5M2), NaN (the others) or
      the largest value (E2M1, which has neither). ONNX's saturating Cast
      clamps before the conversion.

    Tables come from APFloat's definition of each format. Conversions
    between other types are left alone.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ContiguousExpandShapesPass : Pass<"qopt-contiguous-expand-shapes"> {
  let summary = "memref.expand_shape of contiguous buffers as reinterpret_cast";
  let description = [{
    Works around an upstream crash: MLIR 22's expand-strided-metadata
    aborts on a `memref.expand_shape` whose reassociation group has more
    than one dynamic size (e.g. `memref<?x64xf32>` into `memref<?x?x64xf32>`,
    which collapsing a linear layer's dynamic batch and sequence dims and
    expanding them back produces). Where the source has the identity layout
    (a contiguous row-major buffer), such an expand_shape is rewritten to a
    `memref.reinterpret_cast` with the output sizes and row-major strides;
    other expand_shapes are left alone.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

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
  }];
  let options = [
    Option<"cacheConstants", "cache-constants", "bool", /*default=*/"true",
           "Constants come from the runtime's qopt_cuda_constant (one GPU "
           "copy per loaded artifact) instead of a copy per call">,
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
    Option<"cubin", "cubin", "std::string", /*default=*/"\"auto\"",
           "auto | always | never">,
    Option<"toolkit", "toolkit", "std::string", /*default=*/"\"\"",
           "CUDA toolkit root (its bin/ holds ptxas and fatbinary)">,
    Option<"writePtx", "write-ptx", "std::string", /*default=*/"\"\"",
           "Also write each kernel module's PTX to DIR/<module>.ptx">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def InstrumentObserversPass : Pass<"qopt-instrument-observers", "ModuleOp"> {
  let summary = "Make every qopt.observe report its values to the runtime";
  let description = [{
    For the calibration run: replaces each `qopt.observe` by a call of the
    runtime's `qopt_observe_f32(id, values)` (an unranked tensor, which
    bufferizes to a memref descriptor the runtime walks with its strides)
    and forwards the observed value. The runtime adds the values to the
    observer's streamed histogram (`qopt_calibration_*` in
    qopt_runtime.h). The callee is declared read-only
    (`bufferization.access = "read"`), so no copy is made for it. Observers
    of other element types than f32 are an error.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // QOPT_CONVERSION_PASSES_TD
