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

#endif // QOPT_CONVERSION_PASSES_TD
