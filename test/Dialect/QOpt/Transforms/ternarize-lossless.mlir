// RUN: quant-opt %s --qopt-ternarize="mode=lossless" --split-input-file --verify-diagnostics | FileCheck %s --enable-var-scope
// RUN: quant-opt %s --qopt-ternarize="mode=lossless" --split-input-file --convert-qopt-to-linalg 2>/dev/null | FileCheck %s --check-prefix=LOWER

// Already ternary ({-0.25, 0, 0.25}): rewritten with gamma = 0.25 and float
// input. Codes 2 0 1 2 -> 0x92, 1 1 0 2 -> 0x85.
// CHECK-LABEL: func.func @ternary
// CHECK: %[[W:.*]] = arith.constant dense_resource<ternary.w.ternary> : tensor<2x1xi8>
// CHECK: qopt.bitlinear %arg0, %[[W]] scale 2.500000e-01 {activation = #qopt.bitlinear_activation<none>, weight_name = "ternary.w"}
// CHECK: ternary.w.ternary: "0x010000009285"
// LOWER-LABEL: func.func @ternary
// LOWER-NOT: qopt.bitlinear
// LOWER: library_call = "qopt_kernel_matmul_f32t2"
func.func @ternary(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.25, -0.25, 0.0, 0.25], [0.0, -0.0, -0.25, 0.25]]> : tensor<2x4xf32>
  %y = qopt.linear %x, %w {weight_name = "ternary.w"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Two magnitudes: not ternary, left alone and listed.
// CHECK-LABEL: func.func @not_ternary
// CHECK-NOT: qopt.bitlinear
// CHECK: qopt.linear
func.func @not_ternary(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.25, 0.5, 0.0, 0.25], [0.0, 0.0, -0.25, 0.25]]> : tensor<2x4xf32>
  // expected-remark @+1 {{qopt-ternarize: layer 'dense.w' stays float: its weight takes more than three values {-g, 0, +g}}}
  %y = qopt.linear %x, %w {weight_name = "dense.w"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// CHECK-LABEL: func.func @odd_k
// CHECK: qopt.linear
func.func @odd_k(%x: tensor<3x6xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[0.25, 0.0, 0.0, 0.25, 0.0, -0.25]]> : tensor<1x6xf32>
  // expected-remark @+1 {{qopt-ternarize: layer 'odd' stays float: K = 6 is not a multiple of 4}}
  %y = qopt.linear %x, %w {weight_name = "odd"} : (tensor<3x6xf32>, tensor<1x6xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// CHECK-LABEL: func.func @not_constant
// CHECK: qopt.linear
func.func @not_constant(%x: tensor<3x4xf32>, %w: tensor<2x4xf32>) -> tensor<3x2xf32> {
  // expected-remark @+1 {{qopt-ternarize: layer 'arg' stays float: its weight is not a constant f32 tensor of static shape}}
  %y = qopt.linear %x, %w {weight_name = "arg"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
