// RUN: quant-opt %s --qopt-prune="sparsity=0.5" --split-input-file | FileCheck %s --check-prefix=LAYER
// RUN: quant-opt %s --qopt-prune="sparsity=0.5 scope=row" --split-input-file | FileCheck %s --check-prefix=ROW
// RUN: quant-opt %s --qopt-prune="granularity=n_m n=2 m=4" --split-input-file | FileCheck %s --check-prefix=NM
// RUN: quant-opt %s --qopt-prune="granularity=channels sparsity=0.5" --split-input-file | FileCheck %s --check-prefix=CH
// RUN: quant-opt %s --qopt-prune="sparsity=0.5 exclude=^skip" --split-input-file | FileCheck %s --check-prefix=EXCL

// Magnitude pruning of one layer. Row 0 holds 8 distinct magnitudes; row 1
// ties (four 2.0s): the smaller index goes first.

// LAYER-LABEL: func.func @linear
// Sorted: 0.125, 0.25, 0.5, 1 (index 0), 1 (index 11), then the 2s in index
// order: 1, 12, 13 go; 14 and 15 stay.
// LAYER: %[[W:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 3.000000e+00, -4.000000e+00, 5.000000e+00, -6.000000e+00, 7.000000e+00, -8.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, -2.000000e+00, 2.000000e+00]]> : tensor<2x8xf32>
// LAYER: qopt.linear %{{.*}}, %[[W]]
// LAYER-SAME: qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 5.000000e-01, achieved = 5.000000e-01>
// LAYER-SAME: weight_name = "fc"

// Per row: 4 of each row.
// ROW-LABEL: func.func @linear
// ROW: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 5.000000e+00, -6.000000e+00, 7.000000e+00, -8.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 2.000000e+00, 2.000000e+00, -2.000000e+00, 2.000000e+00]]>
// ROW-SAME: tensor<2x8xf32>

// 2:4: the 2 smallest of each group of 4 along in_features; ties by index.
// NM-LABEL: func.func @linear
// NM: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 3.000000e+00, -4.000000e+00, 0.000000e+00, 0.000000e+00, 7.000000e+00, -8.000000e+00], [5.000000e-01, 0.000000e+00, 0.000000e+00, 1.000000e+00, 0.000000e+00, 0.000000e+00, -2.000000e+00, 2.000000e+00]]>
// NM: qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 5.000000e-01, achieved = 5.000000e-01>

// Channels: the row with the smaller L2 norm (row 1) goes.
// CH-LABEL: func.func @linear
// CH: arith.constant dense<{{\[}}[1.000000e+00, -2.000000e+00, 3.000000e+00, -4.000000e+00, 5.000000e+00, -6.000000e+00, 7.000000e+00, -8.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]]>
// CH: granularity = channels, target = 5.000000e-01, achieved = 5.000000e-01

// EXCL-LABEL: func.func @linear
// EXCL: qopt.sparsity
func.func @linear(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0], [0.5, 0.25, -0.125, 1.0, 2.0, 2.0, -2.0, 2.0]]> : tensor<2x8xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// Wanda: |W_ij| · sqrt(channel_sumsq_j). Column 0 has a large input norm
// (sqrt(100) = 10), so its small weights survive; the observer is consumed.
// LAYER-LABEL: func.func @wanda_ignored_by_magnitude
// NM-LABEL: func.func @wanda_ignored_by_magnitude
// EXCL-LABEL: func.func @wanda_ignored_by_magnitude
// EXCL-NOT: qopt.sparsity
// EXCL: return
func.func @wanda_ignored_by_magnitude(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[0.5, 1.0, 2.0, 3.0]]> : tensor<1x4xf32>
  %y = qopt.linear %x, %w {weight_name = "skip.fc"} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// A convolution: filter [F=2, C=4, 1, 1]; 2:4 groups along C.
// NM-LABEL: func.func @conv
// NM: arith.constant dense<{{\[}}{{\[}}{{\[}}[0.000000e+00]], {{\[}}[0.000000e+00]], {{\[}}[3.000000e+00]], {{\[}}[4.000000e+00]]], {{\[}}{{\[}}[4.000000e+00]], {{\[}}[0.000000e+00]], {{\[}}[0.000000e+00]], {{\[}}[1.000000e+00]]]]> : tensor<2x4x1x1xf32>
// NM: linalg.conv_2d_nchw_fchw
// NM-SAME: granularity = n_m
func.func @conv(%x: tensor<1x4x3x3xf32>, %o: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant dense<[[[[1.0]], [[2.0]], [[3.0]], [[4.0]]], [[[4.0]], [[0.5]], [[0.25]], [[1.0]]]]> : tensor<2x4x1x1xf32>
  %y = linalg.conv_2d_nchw_fchw ins(%x, %w : tensor<1x4x3x3xf32>, tensor<2x4x1x1xf32>) outs(%o : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}
