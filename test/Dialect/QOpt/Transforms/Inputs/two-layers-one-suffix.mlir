// Two layers whose paths end in `.proj` (for attach-adapters-invalid.mlir).
func.func @f(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %y = qopt.linear %x, %w {weight_name = "a.proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %z = qopt.linear %y, %w {weight_name = "b.proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
