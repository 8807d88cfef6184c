// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4" --split-input-file -verify-diagnostics

func.func @infinite_weight_w4(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 0xFF800000, 0.0, 0.0], [0.5, 0.25, 0.0, 0.0]]> : tensor<2x4xf32>
  // expected-error @+1 {{qopt-quantize: the weight is not finite}}
  %y = qopt.linear %x, %w : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// K = 6 is not a multiple of the group: the last block is padded (no int8
// fallback, no warning).
func.func @ragged_k(%x: tensor<2x6xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x6xf32>
  %y = qopt.linear %x, %w : (tensor<2x6xf32>, tensor<2x6xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
