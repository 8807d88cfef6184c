//===- Passes.td - CPU code generation passes --------------*- tablegen -*-===//
//
// Lowering passes of the CPU pipeline (flags qopt-<verb>-<noun>): graph
// clean-ups before bufferization, math and float8 legalization, the
// artifact ABI (signature, packed entry point) and calibration
// instrumentation. The NVPTX pipeline reuses them for its host side.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CODEGEN_CPU_PASSES_TD
#define QOPT_CODEGEN_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def InlineScalarResourcesPass : Pass<"qopt-inline-scalar-resources"> {
  let summary = "Turn one-element dense_resource constants into dense ones";
  let description = [{
    Rewrites every `arith.constant dense_resource<...>` holding at most one
    element into the equivalent inline `dense<...>` constant. Weights stay
    blobs; scalars gain nothing from being blobs, and upstream MLIR 22's
    memref-to-LLVM lowering aborts on a rank-0 `dense_resource` global (it
    iterates its elements), so the CPU pipeline runs this first. A blob
    whose data is missing or does not match its type is an error.
  }];
}

def LowerAssertsPass : Pass<"qopt-lower-asserts", "ModuleOp"> {
  let summary = "Turn cf.assert into run-time errors the runtime reports";
  let description = [{
    Rewrites every `cf.assert %ok, "message"` into
    `scf.if (!%ok) { llvm.call @qopt_rt_fail(@message) }`. The importer
    asserts what the ONNX spec makes an error at run time (dynamic dims
    that must agree, Reshape element counts, integer division by zero);
    upstream lowers a failed assert to abort(), which kills the caller.
    qopt_rt_fail instead abandons the run and qopt_model_run returns
    QOPT_ERROR with the message (see lib/Runtime/RunGuard.cpp). With
    `drop`, the checks are erased instead (quant-compile
    --no-runtime-checks: no checking, a bad input is undefined behaviour).
  }];
  let options = [
    Option<"drop", "drop", "bool", "false",
           "Erase the asserts instead of lowering them">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def CheckAllocationsPass : Pass<"qopt-check-allocations", "ModuleOp"> {
  let summary = "Route compiled code's heap allocations through the runtime";
  let description = [{
    Renames the LLVM calls to `malloc` / `aligned_alloc` that memref
    lowering emits to `qopt_rt_malloc` / `qopt_rt_aligned_alloc`, which
    behave the same but raise a run-time error (the run fails with
    QOPT_ERROR, "cannot allocate N bytes") instead of returning null, which
    the compiled code would write through. Runs on the LLVM dialect.
  }];
}

def FuseElementwisePass : Pass<"qopt-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse producer/consumer element-wise linalg ops";
  let description = [{
    Fuses element-wise `linalg.generic` producers into their consumers when
    the producer has a single use, like upstream's
    `linalg-fuse-elementwise-ops`, but without its constant folding:
    that folding evaluates generics over constant inputs at compile time,
    which copies weight-sized tensors into the IR and aborts on
    `dense_resource` weights (it iterates their elements). Weights stay
    blobs; computing on them is the job of the compiled code.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
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
    Option<"target", "target", "::mlir::qopt::ArtifactTarget",
           "::mlir::qopt::ArtifactTarget::CPU", "Target recorded in the signature",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::ArtifactTarget::CPU, "cpu", "the host CPU"),
             clEnumValN(::mlir::qopt::ArtifactTarget::CUDA, "cuda",
                        "NVIDIA GPUs through the CUDA driver"))}]>,
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

def InstrumentProfilePass : Pass<"qopt-instrument-profile", "ModuleOp"> {
  let summary = "Time every kernel call and generated loop nest at run time";
  let description = [{
    For `quant-compile --profile`: on the buffer level (after
    bufferization and the kernel-call conversion, before loops), wraps each
    op of a function's body that does work — a call of a runtime kernel
    (`func.call` of a declaration), a linalg op (a generated loop nest once
    lowered), `memref.copy` — in calls of the runtime's
    `qopt_rt_profile_begin(id)` / `qopt_rt_profile_end(id)`. Region `id`'s
    name, `<kind>\t<ONNX node names>`, is entry `id` of the constant
    `@qopt_profile_names` (NUL-separated, an empty name ends the table),
    which the runtime reads to print a profile (`quant-run --profile`).
    Without this pass an artifact carries no profiling code at all. Ops
    inside loops or regions are timed as part of their enclosing op; the
    names of the runtime's own functions are never wrapped.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

def PlanMemoryPass : Pass<"qopt-plan-memory", "ModuleOp"> {
  let summary = "Static memory plan: intermediates share one arena by liveness";
  let description = [{
    Runs on buffers, after bufferization and deallocation. Ownership-based
    deallocation frees every intermediate at the end of the function, so
    each call mallocs (and the kernel maps and zeroes) the sum of all
    intermediates. This pass computes each `memref.alloc`'s live range in
    its function body: from the alloc to the last op that uses it or any
    value derived from it (views, extracted pointers, ...). Then:

    - every alloc of a static shape with the identity layout (alignment at
      most `alignment`) in a function that no other function calls becomes
      a `memref.view` into one arena at an offset planned so that buffers
      live at the same time never overlap (greedy by size,
      qopt/Support/MemoryPlan.h); its deallocs are erased. The arena comes
      from the runtime's `qopt_rt_arena(bytes)`, called once at the
      function's entry, which hands each run a block kept across calls (one
      per concurrent run; docs/Runtime/Memory.md);
    - the dealloc of every other alloc (dynamic shapes) moves to just after
      its last use, so that malloc can reuse the memory within the run.

    An alloc whose value (or a value derived from it) is returned, or that
    is freed inside a nested region, is left alone. The arena's size and
    the bytes planned are recorded on the function as `qopt.arena_bytes`
    and `qopt.planned_bytes`.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", "64",
           "Byte alignment of every buffer in the arena (a power of two)">
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::arith::ArithDialect"];
}

def FuseAttentionPass : Pass<"qopt-fuse-attention", "func::FuncOp"> {
  let summary = "Call the runtime's fused attention kernel for QK^T-softmax-V";
  let description = [{
    Finds, on linalg tensors before element-wise fusion, the chain torch
    exports and the importer produce for scaled dot-product attention:

        S = Q·Kᵀ (a contraction over the head dim, zero-initialized)
        S = S * c | S / c                 (optional; c a scalar constant)
        S = S + mask | mask + S           (optional; mask broadcast to S)
        S = Where(c, S, f) | Where(c, f, S) (optional, before the mask
                                          add; c i1, f <= -1e4 constant)
        P = softmax over S's last dim     (max, sum of exp(S - max), divide)
        O = P·V

    over one or two batch dims ([batch, heads, seq, dim] or [batch*heads,
    seq, dim]), all f32, each intermediate used only by the next step, and
    replaces it by one `qopt_kernel_attention_f32` call
    (lib/Runtime/AttentionKernels.cpp) on strided views of Q, K, V and the
    mask: transposes in front of Q, K and V are read through (their copies
    go away when nothing else uses them), and a [0, 2, 1, 3] transpose of
    O (merging the heads back) is written directly. The call is emitted as
    `qopt_views.qopt_kernel_attention_f32(...)` on memref views of the
    tensors (bufferization.to_buffer), which convert-linalg-to-qopt-kernel-
    calls lowers to the kernel's address/stride arguments once buffers are
    placed. The ONNX Attention operator's lowering (bias/keep generic,
    masked softmax whose empty rows are 0, GQA maps `h floordiv r`; no
    past, window, nonpad or softcap) is matched too. Chains that do not
    match exactly are left to the generic lowering. Part of the CPU
    pipeline when kernel calls are on.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def FuseNormsPass : Pass<"qopt-fuse-norms", "func::FuncOp"> {
  let summary = "Call the runtime's row norm kernel for LayerNorm/RMS norms";
  let description = [{
    Finds, on linalg tensors before element-wise fusion, the statistics and
    normalization generics of a norm over the last dim, f32:

      - LayerNormalization (the importer's lowering): mean, centred sum of
        squares, 1/sqrt(var + eps), (x - mean) * inv * gamma (+ beta);
      - RMSNormalization: x * 1/sqrt(mean(x²) + eps) * gamma;
      - the RMS norm torch exports decomposed (Llama): x*x, ReduceMean,
        Add eps, Sqrt, x / that, * gamma (+ beta);
      - the LayerNorm older torch exports decompose: d = x - ReduceMean(x),
        d / Sqrt(ReduceMean(d²) + eps) * gamma + beta;

    and replaces them by one `qopt_kernel_norm_f32` call per tensor (one
    pass over each row for its statistics and output), emitted like
    qopt-fuse-attention's calls (`qopt_views.`, lowered by
    convert-linalg-to-qopt-kernel-calls). Part of the CPU pipeline when
    kernel calls are on.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ShareRowQuantizationPass
    : Pass<"qopt-share-row-quantization", "func::FuncOp"> {
  let summary = "One dynamic int8 quantization per activation shared by layers";
  let description = [{
    w8a8-dynamic lowers every linear layer's per-token quantization on its
    own (row abs-max, scales, int8 rows), so layers reading one activation
    (q/k/v, gate/up) quantize it once each. This pass merges linalg ops of
    one block that compute the same thing: same op, attributes, body and
    input operands, and inits that are interchangeable fresh tensors
    (`tensor.empty` of one type and sizes, or `linalg.fill` of one constant
    into such a tensor). The later op's results are replaced by the
    earlier's. Unlike upstream CSE, `tensor.empty` and `linalg.fill` are
    never merged themselves (shared destinations make bufferization copy);
    only ops whose results are read are. Restricted to the runtime's
    row kernels (`library_call` qopt_kernel_row_absmax_f32 /
    qopt_kernel_quantize_rows_s8), the element-wise ops between them, and
    the `tensor.collapse_shape` of their input. Part of the CPU pipeline
    when kernel calls are on.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ReassociateReductionsPass : Pass<"qopt-reassociate-reductions",
                                     "func::FuncOp"> {
  let summary = "Let LLVM vectorize max/min reductions and non-negative sums";
  let description = [{
    LLVM vectorizes a float reduction only when its operation may be
    reassociated; the generated loops keep the graph's in-order sums, so a
    row reduction runs one element at a time. This pass marks, on linalg
    tensors, the combining operation of two kinds of reduction
    `fastmath<reassoc>` (or-ed into the flags it has):

      - a max or min reduction (`arith.maximumf`, `minimumf`, `maxnumf`,
        `minnumf` of the element and the accumulator): these are exactly
        associative and commutative, the result does not depend on the
        order (NaN, signed zeros included);
      - a sum of non-negative terms (`acc + t`, t >= +0 or NaN by the ops
        computing it: exp — softmax's denominator —, squares — RMS norm's
        and variance's sums —, sqrt, |x|, non-negative constants, and sums,
        products, quotients, roundings, selects and clamps of those, such
        as a fake quant of a square; through up to 4 producer generics):
        no cancellation, so any order's relative error is at most (n - 1)
        roundings of the same sum; the results differ by a few ulp from the
        in-order sum's.

    A reduction generic here has one init, at least one reduction loop and
    a body whose yield is that operation of the accumulator (the init's
    block argument, used nowhere else) and a value computed from the
    inputs. Everything else (other sums, products) keeps its order. Part
    of the CPU pipeline when kernel calls are on (the fused attention and
    norm kernels sum in vector order too).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // QOPT_CODEGEN_CPU_PASSES_TD
