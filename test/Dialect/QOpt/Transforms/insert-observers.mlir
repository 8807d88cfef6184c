// RUN: quant-opt %s --qopt-insert-observers --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-insert-observers="ops=linear kind=minmax" --split-input-file | FileCheck %s --check-prefix=LINEAR
// RUN: quant-opt %s --qopt-insert-observers --qopt-insert-observers --split-input-file | FileCheck %s --check-prefix=TWICE

// The activation of a linear layer is observed, its weight is not; a value
// feeding two layers gets one observer; a batched matmul's two activations
// are observed.
// CHECK-LABEL: func.func @block
// CHECK: %[[O0:.*]] = qopt.observe %arg0 {id = 0 : i64, kind = #qopt.observer<histogram>}
// CHECK: %[[Q:.*]] = qopt.linear %[[O0]], %{{.*}}
// CHECK: %[[O1:.*]] = qopt.observe %[[Q]] {id = 1 : i64
// CHECK: qopt.linear %[[O0]], %{{.*}}
// CHECK: %[[T:.*]] = linalg.transpose
// CHECK: %[[O2:.*]] = qopt.observe %[[T]] {id = 2 : i64
// CHECK: linalg.batch_matmul ins(%[[O1]], %[[O2]]
// LINEAR-LABEL: func.func @block
// LINEAR: qopt.observe %arg0 {id = 0 : i64} :
// LINEAR-NOT: = qopt.observe %
// TWICE-COUNT-3: = qopt.observe %
// TWICE-NOT: = qopt.observe %
// TWICE-LABEL: func.func @conv
func.func @block(%x: tensor<2x4x8xf32>) -> tensor<2x4x4xf32> {
  %w = arith.constant dense<0.5> : tensor<8x8xf32>
  %q = qopt.linear %x, %w : (tensor<2x4x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  %k = qopt.linear %x, %w : (tensor<2x4x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
  %kt = tensor.empty() : tensor<2x8x4xf32>
  %t = linalg.transpose ins(%k : tensor<2x4x8xf32>) outs(%kt : tensor<2x8x4xf32>) permutation = [0, 2, 1]
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4xf32>
  %init = linalg.fill ins(%z : f32) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%q, %t : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%init : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s : tensor<2x4x4xf32>
}

// -----

// A convolution's input is observed (not its filter); ids continue after
// existing observers.
// LINEAR-LABEL: func.func @conv
// CHECK-LABEL: func.func @conv
// CHECK: qopt.observe %arg0 {id = 8 : i64
// CHECK: linalg.conv_2d_nchw_fchw
func.func @conv(%x: tensor<1x3x8x8xf32>, %o: tensor<1x4x6x6xf32>) -> (tensor<1x4x6x6xf32>, tensor<1x3x8x8xf32>) {
  %f = arith.constant dense<1.0> : tensor<4x3x3x3xf32>
  %c = linalg.conv_2d_nchw_fchw ins(%x, %f : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) outs(%o : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %old = qopt.observe %x {id = 7 : i64} : tensor<1x3x8x8xf32>
  return %c, %old : tensor<1x4x6x6xf32>, tensor<1x3x8x8xf32>
}
