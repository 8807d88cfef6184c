// RUN: quant-opt %s --qopt-smooth-quant --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-smooth-quant="alpha=1.0" --split-input-file | FileCheck %s --check-prefix=ONE

// alpha 0.5: max|X| = [4, 1]; max|W_j| over both layers = [1, 4];
// s = sqrt(max|X|) / sqrt(max|W|) = [2, 0.5]. The layers read X * [0.5, 2]
// and their weights' columns are scaled by s; the return still sees X.
// CHECK-LABEL: func.func @shared
// CHECK-NOT: qopt.observe
// CHECK: %[[INV:.*]] = arith.constant dense_resource<fc1.smooth_inverse_scale> : tensor<2xf32>
// CHECK: %[[XS:.*]] = linalg.generic {{.*}} ins(%arg0, %[[INV]] : tensor<?x2xf32>, tensor<2xf32>)
// CHECK: arith.mulf
// CHECK: %[[W1:.*]] = arith.constant dense_resource<fc1.smoothed> : tensor<2x2xf32>
// CHECK: qopt.linear %[[XS]], %[[W1]] {weight_name = "fc1"}
// CHECK: %[[W2:.*]] = arith.constant dense_resource<fc2.smoothed> : tensor<1x2xf32>
// CHECK: qopt.linear %[[XS]], %[[W2]] {weight_name = "fc2"}
// CHECK: return %{{.*}}, %{{.*}}, %arg0
// CHECK: fc1.smooth_inverse_scale: "0x040000000000003F00000040"
// W1 = [[1, 0.25], [0.5, 1]] -> [[2, 0.125], [1, 0.5]]
// CHECK: fc1.smoothed: "0x04000000000000400000003E0000803F0000003F"
// W2 = [[0.25, 4]] -> [[0.5, 2]]
// CHECK: fc2.smoothed: "0x040000000000003F00000040"
// alpha 1: s = max|X| = [4, 1].
// ONE: fc1.smooth_inverse_scale: "0x040000000000803E0000803F"
func.func @shared(%x: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<?x1xf32>, tensor<?x2xf32>) {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_absmax>, channel_absmax = array<f32: 4.0, 1.0>} : tensor<?x2xf32>
  %w1 = arith.constant dense<[[1.0, 0.25], [0.5, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[0.25, 4.0]]> : tensor<1x2xf32>
  %y1 = qopt.linear %o, %w1 {weight_name = "fc1"} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %y2 = qopt.linear %o, %w2 {weight_name = "fc2"} : (tensor<?x2xf32>, tensor<1x2xf32>) -> tensor<?x1xf32>
  return %y1, %y2, %o : tensor<?x2xf32>, tensor<?x1xf32>, tensor<?x2xf32>
}

// -----

// A zero channel (max|X_j| = 0) keeps s_j = 1; a non-linear consumer only:
// the observer just goes.
// CHECK-LABEL: func.func @zero_channel
// CHECK: zero.smooth_inverse_scale: "0x040000000000803F0000803F"
func.func @zero_channel(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_absmax>, channel_absmax = array<f32: 0.0, 1.0>} : tensor<3x2xf32>
  %w = arith.constant dense<[[1.0, 1.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %y = qopt.linear %o, %w {weight_name = "zero"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
