// RUN: quant-opt %s --qopt-prune="granularity=n_m n=2 m=4" -verify-diagnostics | FileCheck %s

// A layer whose reduction dimension is no multiple of m stays dense.
// CHECK-LABEL: func.func @misfit
// CHECK-NOT: qopt.sparsity

func.func @misfit(%x: tensor<3x6xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<1.0> : tensor<1x6xf32>
  // expected-warning @+1 {{qopt-prune: 2:4 needs a reduction dimension that is a multiple of 4; layer 'fc' has 6 and stays dense}}
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x6xf32>, tensor<1x6xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
