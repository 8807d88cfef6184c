// A function whose inputs already include `qopt_adapter` (for
// attach-adapters-invalid.mlir).
func.func @f(%x: tensor<3x2xf32>, %s: tensor<i64> {onnx.name = "qopt_adapter"}) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %q = qopt.linear %x, %w {weight_name = "layers.0.q_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %q : tensor<3x2xf32>
}
