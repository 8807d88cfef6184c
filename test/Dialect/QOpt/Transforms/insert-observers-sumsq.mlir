// RUN: quant-opt %s --qopt-insert-observers="kind=channel_sumsq ops=linear,conv" | FileCheck %s

// Wanda's statistics: a linear layer's input channels are its last dim, a
// convolution's (NCHW) dim 1.
// CHECK-LABEL: func.func @f
// CHECK-DAG: %[[C:.*]] = qopt.observe %arg1 {channel_axis = 1 : i64, id = 1 : i64, kind = #qopt.observer<channel_sumsq>} : tensor<1x4x3x3xf32>
// CHECK-DAG: %[[O:.*]] = qopt.observe %arg0 {id = 0 : i64, kind = #qopt.observer<channel_sumsq>} : tensor<2x4xf32>
// CHECK: qopt.linear %[[O]]
// CHECK: linalg.conv_2d_nchw_fchw ins(%[[C]],
func.func @f(%x: tensor<2x4xf32>, %img: tensor<1x4x3x3xf32>, %o: tensor<1x2x3x3xf32>) -> (tensor<2x1xf32>, tensor<1x2x3x3xf32>) {
  %w = arith.constant dense<1.0> : tensor<1x4xf32>
  %y = qopt.linear %x, %w : (tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x1xf32>
  %f = arith.constant dense<1.0> : tensor<2x4x1x1xf32>
  %c = linalg.conv_2d_nchw_fchw ins(%img, %f : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32>) outs(%o : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y, %c : tensor<2x1xf32>, tensor<1x2x3x3xf32>
}
