// RUN: quant-opt %s --split-input-file | FileCheck %s
// RUN: quant-opt %s --split-input-file | quant-opt --split-input-file | FileCheck %s

// #qopt.sparsity round-trips on linear layers, quantized layers and
// convolutions; n and m print only for n_m.

// CHECK-LABEL: func.func @linear
// CHECK: qopt.linear
// CHECK-SAME: qopt.sparsity = #qopt.sparsity<method = wanda, granularity = n_m, n = 2, m = 4, target = 5.000000e-01, achieved = 5.000000e-01>
func.func @linear(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  %y = qopt.linear %x, %w {qopt.sparsity = #qopt.sparsity<method = wanda, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>}
      : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// CHECK-LABEL: func.func @unstructured
// CHECK: #qopt.sparsity<method = magnitude, granularity = unstructured, target = 0.69999999999999996, achieved = 7.500000e-01>
// CHECK-NOT: n =
func.func @unstructured(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  %y = qopt.linear %x, %w {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 0.7, achieved = 0.75>}
      : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// CHECK-LABEL: func.func @conv
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK-SAME: qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = channels, target = 2.500000e-01, achieved = 2.500000e-01>
func.func @conv(%x: tensor<1x4x5x5xf32>, %w: tensor<8x4x3x3xf32>, %o: tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32> {
  %y = linalg.conv_2d_nchw_fchw {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = channels, target = 0.25, achieved = 0.25>}
      ins(%x, %w : tensor<1x4x5x5xf32>, tensor<8x4x3x3xf32>) outs(%o : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %y : tensor<1x8x3x3xf32>
}
