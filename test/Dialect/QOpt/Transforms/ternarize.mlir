// RUN: quant-opt %s --qopt-ternarize --split-input-file | FileCheck %s --enable-var-scope
// RUN: quant-opt %s --qopt-ternarize="activation=none" --split-input-file | FileCheck %s --check-prefix=NONE
// RUN: quant-opt %s --qopt-ternarize="exclude=^fc$" --split-input-file | FileCheck %s --check-prefix=EXCL
// RUN: quant-opt %s --qopt-ternarize="include=^other" --split-input-file | FileCheck %s --check-prefix=EXCL

// Absmean (BitNet b1.58): gamma = mean |W| = 4.7 / 8 = 0.5875 (as f32);
// W / gamma = 0.51 -1.02 0.085 2.04 | -0.17 0 0.77 -3.4, rounded and
// clamped: 1 -1 0 1 | 0 0 1 -1. Codes t + 1, 2 bits each, k = 0 in the low
// bits: 2 0 1 2 -> 0x92, 1 1 2 0 -> 0x25.
// CHECK-LABEL: func.func @linear
// CHECK: %[[W:.*]] = arith.constant dense_resource<fc.ternary> : tensor<2x1xi8>
// CHECK-NOT: tensor<2x4xf32>
// CHECK: qopt.bitlinear %arg0, %[[W]] scale 0.5875000{{[0-9]*}} bias %arg1 {activation = #qopt.bitlinear_activation<per_token_int8>, tag = "keep", weight_name = "fc"}
// CHECK-SAME: (tensor<3x4xf32>, tensor<2x1xi8>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK: fc.ternary: "0x010000009225"
// NONE: qopt.bitlinear {{.*}}activation = #qopt.bitlinear_activation<none>
// EXCL-NOT: qopt.bitlinear
// EXCL: qopt.linear
func.func @linear(%x: tensor<3x4xf32>, %b: tensor<2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.3, -0.6, 0.05, 1.2], [-0.1, 0.0, 0.45, -2.0]]> : tensor<2x4xf32>
  %y = qopt.linear %x, %w, %b {weight_name = "fc", tag = "keep"} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A weight shared by two layers is ternarized once.
// CHECK-LABEL: func.func @shared
// CHECK-COUNT-1: arith.constant dense_resource<fc.ternary>
// CHECK-COUNT-2: qopt.bitlinear
func.func @shared(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.3, -0.6, 0.05, 1.2], [-0.1, 0.0, 0.45, -2.0]]> : tensor<2x4xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %z = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  %s = arith.addf %y, %z : tensor<3x2xf32>
  return %s : tensor<3x2xf32>
}
