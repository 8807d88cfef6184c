// No layer at all (for attach-adapters-invalid.mlir).
func.func @f(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  return %x : tensor<3x2xf32>
}
