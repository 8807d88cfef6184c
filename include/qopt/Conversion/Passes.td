//===- Passes.td - qopt conversions ------------------------*- tablegen -*-===//
//
// Real conversions between dialects (flags convert-<from>-to-<to>): qopt to
// linalg, linalg to the runtime's kernel calls. Each also exports its
// populate*Patterns for reuse.
//
//===----------------------------------------------------------------------===//

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
  let options = [
    Option<"cpuSparse", "cpu-sparse", "bool", /*default=*/"true",
           "Store weight-only int8 2:4 layers and layers with >= 70% zeros "
           "(CSR) compressed, for the CPU runtime's sparse kernels (the GPU "
           "pipeline keeps them dense; W8A8 2:4 is compressed on both)">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect",
    "::mlir::quant::QuantDialect", "::mlir::scf::SCFDialect"
  ];
}

def ConvertLinalgToKernelCallsPass
    : Pass<"convert-linalg-to-qopt-kernel-calls", "ModuleOp"> {
  let summary = "Call the runtime's kernels for f32 matmuls and convolutions";
  let description = [{
    Runs on buffers (after bufferization). Rewrites

    - every f32 `linalg` contraction (a `linalg.generic` or named op whose
      body is `out + a * b` over projected-permutation maps: `qopt.linear`,
      MatMul, Gemm, batched MatMul) with one reduction dimension and at most
      two dimensions besides one M and one N dimension, into a call of
      `qopt_kernel_matmul_f32` (C += A·B with arbitrary element strides);
    - every f32 `linalg.conv_2d_nchw_fchw` into a call of
      `qopt_kernel_conv2d_nchw_f32` (a direct kernel, or the matmul kernel
      with input windows packed into its panels); when its output is a
      fresh buffer initialized by a bias broadcast (or zeros) and read by
      one element-wise op that adds a residual and/or applies ReLU, Clip,
      LeakyRelu, Sigmoid, HardSwish or SiLU, into one call of
      `qopt_kernel_conv2d_nchw_f32_fused` that applies them in its
      epilogue and writes that op's buffer (ConvEpilogue.cpp);
    - the importer's grouped-convolution `linalg.generic` (f32, several
      input channels per group) into `qopt_kernel_conv2d_grouped_f32`.

    Operands are passed as i64 addresses and element strides taken from
    `memref.extract_strided_metadata`, so any layout works. Ops that do not
    match are left for the loop lowering. The kernels live in the lean
    runtime and use its thread pool.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // QOPT_CONVERSION_PASSES_TD
