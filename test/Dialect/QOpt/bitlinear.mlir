// RUN: quant-opt %s --split-input-file | FileCheck %s --enable-var-scope
// RUN: quant-opt %s --split-input-file | quant-opt --split-input-file | FileCheck %s --enable-var-scope

// CHECK-LABEL: func.func @per_token
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<3x2xi8>, %[[B:.*]]: tensor<3xf32>)
// CHECK: qopt.bitlinear %[[X]], %[[W]] scale 1.250000e-02 bias %[[B]]
// CHECK-SAME: activation = #qopt.bitlinear_activation<per_token_int8>
// CHECK-SAME: weight_name = "fc.weight"
// CHECK-SAME: (tensor<4x8xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<4x3xf32>
func.func @per_token(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %y = qopt.bitlinear %x, %w scale 0.0125 bias %b {activation = #qopt.bitlinear_activation<per_token_int8>, weight_name = "fc.weight"} : (tensor<4x8xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func.func @float_batched
// CHECK: qopt.bitlinear %{{.*}}, %{{.*}} scale 5.000000e-01 {activation = #qopt.bitlinear_activation<none>}
// CHECK-SAME: (tensor<2x?x8xf32>, tensor<3x2xi8>) -> tensor<2x?x3xf32>
func.func @float_batched(%x: tensor<2x?x8xf32>) -> tensor<2x?x3xf32> {
  %w = arith.constant dense<[[100, 10], [85, 85], [0, 2]]> : tensor<3x2xi8>
  %y = qopt.bitlinear %x, %w scale 0.5 {activation = #qopt.bitlinear_activation<none>} : (tensor<2x?x8xf32>, tensor<3x2xi8>) -> tensor<2x?x3xf32>
  return %y : tensor<2x?x3xf32>
}
