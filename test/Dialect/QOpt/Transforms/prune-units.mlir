// RUN: quant-opt %s --split-input-file --qopt-prune="granularity=heads sparsity=0.5 include=^q$" -verify-diagnostics | FileCheck %s
// RUN: quant-opt %s --split-input-file --qopt-prune="granularity=heads sparsity=0.5" | FileCheck %s --check-prefix=ALL

// A head spans q's rows and o's columns: with o not selected, nothing is
// pruned and the remark names o. With both, head 0 (smaller weights) goes:
// q's rows 0-1 and o's columns 0-1 become 0.
// CHECK-LABEL: func.func @heads
// CHECK-NOT: qopt.sparsity
// ALL-LABEL: func.func @heads
// ALL: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e+00, {{.*}}> : tensor<4x4xf32>
// ALL: qopt.linear {{.*}}granularity = heads, target = 5.000000e-01, achieved = 5.000000e-01>, weight_name = "q"}
// ALL: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 1.000000e+00, 1.000000e+00], [0.000000e+00, 0.000000e+00, 1.000000e+00, 1.000000e+00]{{.*}}> : tensor<4x4xf32>
// ALL: qopt.linear {{.*}}granularity = heads, target = 5.000000e-01, achieved = 5.000000e-01>, weight_name = "o"}
func.func @heads(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0.1, 0.1, 0.1, 0.1], [0.2, 0.1, 0.1, 0.1], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<4x4xf32>
  %wo = arith.constant dense<1.0> : tensor<4x4xf32>
  // expected-remark @+2 {{qopt-prune: the heads of layer 'q' also span layer 'o', which is not selected (or has no constant weight): they stay}}
  // expected-warning @+1 {{qopt-prune: granularity=heads found no attention heads}}
  %q = qopt.linear %x, %w {weight_name = "q"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %h = tensor.expand_shape %q [[0], [1, 2]] output_shape [2, 2, 2] : tensor<2x4xf32> into tensor<2x2x2xf32>
  %m = tensor.collapse_shape %h [[0], [1, 2]] : tensor<2x2x2xf32> into tensor<2x4xf32>
  %y = qopt.linear %m, %wo {weight_name = "o"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// No reshape into heads: granularity=heads finds nothing and says so.
// CHECK-LABEL: func.func @no_heads
// CHECK-NOT: qopt.sparsity
// ALL-LABEL: func.func @no_heads
// ALL-NOT: qopt.sparsity
func.func @no_heads(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<1.0> : tensor<4x4xf32>
  // expected-warning @+1 {{qopt-prune: granularity=heads found no attention heads (output channels that a reshape splits into heads on their way to the next linear layer) among the selected layers: nothing is pruned}}
  %y = qopt.linear %x, %w {weight_name = "q"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
