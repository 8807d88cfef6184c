// RUN: quant-opt %s --split-input-file --qopt-prune="granularity=neurons sparsity=0.34" --qopt-shrink-structured | FileCheck %s
// RUN: quant-opt %s --split-input-file --qopt-shrink-structured | FileCheck %s --check-prefix=FOLD

// A Llama MLP: down(silu(gate(x)) * up(x)). gate and up meet in the
// product, so a neuron is one row of each and a column of down; neuron 1
// has the smallest weights in all three and neurons:0.34 (floor(0.34 · 3)
// = 1) removes it from all three.
// CHECK-LABEL: func.func @gated
// CHECK: %[[WG:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[G:.*]] = qopt.linear %arg0, %[[WG]] {{.*}}weight_name = "gate"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: %[[WU:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [2.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[U:.*]] = qopt.linear %arg0, %[[WU]] {{.*}}weight_name = "up"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: %[[H:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[U]] : tensor<2x2xf32>, tensor<2x2xf32>) outs(%{{.*}} : tensor<2x2xf32>)
// CHECK: %[[WD:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK: qopt.linear %[[H]], %[[WD]] {{.*}}weight_name = "down"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @gated(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %wg = arith.constant dense<[[1.0, 2.0], [0.1, 0.1], [3.0, 1.0]]> : tensor<3x2xf32>
  %wu = arith.constant dense<[[1.0, 1.0], [0.1, -0.1], [2.0, 2.0]]> : tensor<3x2xf32>
  %wd = arith.constant dense<[[1.0, 0.1, 2.0], [3.0, -0.1, 4.0]]> : tensor<2x3xf32>
  %g = qopt.linear %x, %wg {weight_name = "gate"} : (tensor<2x2xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %u = qopt.linear %x, %wu {weight_name = "up"} : (tensor<2x2xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %h = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g, %u : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %n = arith.negf %a : f32
    %ex = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %den = arith.addf %one, %ex : f32
    %s = arith.divf %a, %den : f32
    %m = arith.mulf %s, %b : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %y = qopt.linear %h, %wd {weight_name = "down"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// Row 1 is zero in both gate and up (their biases 1 and 2 stay): neuron 1
// outputs silu(1) · 2 = 1.4621172 whatever the input; down's column 1
// ([0.5, -1]) times it is folded into down's bias, and the neuron leaves
// all three layers. (With the first RUN line, neurons:0.34 prunes another
// neuron on top: only the FOLD prefix checks this case.)
// FOLD-LABEL: func.func @gated_fold
// FOLD: arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// FOLD: %[[WD:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// FOLD: %[[BD:.*]] = arith.constant dense<[0.731058{{[0-9]*}}, -1.462117{{[0-9]*}}]> : tensor<2xf32>
// FOLD: qopt.linear %{{.*}}, %[[WD]], %[[BD]] {weight_name = "down"} : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
#id1 = affine_map<(d0, d1) -> (d0, d1)>
func.func @gated_fold(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %wg = arith.constant dense<[[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]]> : tensor<3x2xf32>
  %bg = arith.constant dense<[0.0, 1.0, 0.0]> : tensor<3xf32>
  %wu = arith.constant dense<[[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]> : tensor<3x2xf32>
  %bu = arith.constant dense<[0.0, 2.0, 0.0]> : tensor<3xf32>
  %wd = arith.constant dense<[[1.0, 0.5, 2.0], [3.0, -1.0, 4.0]]> : tensor<2x3xf32>
  %g = qopt.linear %x, %wg, %bg {weight_name = "gate"} : (tensor<2x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %u = qopt.linear %x, %wu, %bu {weight_name = "up"} : (tensor<2x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %h = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel", "parallel"]} ins(%g, %u : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %n = arith.negf %a : f32
    %ex = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %den = arith.addf %one, %ex : f32
    %s = arith.divf %a, %den : f32
    %m = arith.mulf %s, %b : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %y = qopt.linear %h, %wd {weight_name = "down"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
