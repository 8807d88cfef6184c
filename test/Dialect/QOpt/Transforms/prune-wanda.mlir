// RUN: quant-opt %s --qopt-prune="method=wanda sparsity=0.5" | FileCheck %s
// RUN: quant-opt %s --qopt-prune="method=magnitude sparsity=0.5" | FileCheck %s --check-prefix=MAG

// Scores |W| · sqrt(sumsq): column 0: 0.5·10 = 5, column 1: 1·1, column 2:
// 2·1, column 3: 3·0.5. Wanda keeps columns 0 and 2; magnitude 2 and 3.
// CHECK-LABEL: func.func @wanda
// CHECK-NOT: qopt.observe
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 0.000000e+00, 2.000000e+00, 0.000000e+00]]> : tensor<1x4xf32>
// CHECK: qopt.linear %arg0, %[[W]]
// CHECK-SAME: #qopt.sparsity<method = wanda, granularity = unstructured
// MAG-LABEL: func.func @wanda
// MAG: arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 2.000000e+00, 3.000000e+00]]>
func.func @wanda(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_sumsq>, channel_sumsq = array<f64: 100.0, 1.0, 1.0, 0.25>} : tensor<3x4xf32>
  %w = arith.constant dense<[[0.5, 1.0, 2.0, 3.0]]> : tensor<1x4xf32>
  %y = qopt.linear %o, %w {weight_name = "fc"} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
