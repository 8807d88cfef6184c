// RUN: quant-opt %s --qopt-shrink-structured --split-input-file -verify-diagnostics | FileCheck %s

// linear -> ReLU -> linear: row 1 of fc1 is zero, its bias 2.0, so channel 1
// outputs relu(2) = 2 whatever the input; fc2's column 1 times 2 goes into
// fc2's bias (0.5 + 3·2 = 6.5, -1 + 4·2 = 7) and the column leaves.
// CHECK-LABEL: func.func @mlp
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[B1:.*]] = arith.constant dense<[1.000000e+00, 3.000000e+00]> : tensor<2xf32>
// CHECK: %[[H:.*]] = qopt.linear %arg0, %[[W1]], %[[B1]] {{.*}} -> tensor<?x2xf32>
// CHECK: %[[E:.*]] = tensor.empty({{.*}}) : tensor<?x2xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[H]] : tensor<?x2xf32>) outs(%[[E]] : tensor<?x2xf32>)
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 5.000000e+00], [2.000000e+00, 6.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[B2:.*]] = arith.constant dense<[6.500000e+00, 7.000000e+00]> : tensor<2xf32>
// CHECK: qopt.linear %[[R]], %[[W2]], %[[B2]] {{.*}} : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @mlp(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0], [0.0, 0.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %b1 = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %w2 = arith.constant dense<[[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]> : tensor<2x3xf32>
  %b2 = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %h = qopt.linear %x, %w1, %b1 {weight_name = "fc1"} : (tensor<?x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %c0 = arith.constant 0 : index
  %d = tensor.dim %h, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%d) : tensor<?x3xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%h : tensor<?x3xf32>) outs(%e : tensor<?x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %z = arith.constant 0.0 : f32
    %m = arith.maximumf %in, %z : f32
    linalg.yield %m : f32
  } -> tensor<?x3xf32>
  %y = qopt.linear %r, %w2, %b2 {weight_name = "fc2"} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Per-channel constants between the layers are sliced; a consumer without
// bias gets one when the removed channel's constant output is not 0
// (here: (0 + 1) · 3 for channel 0, scale vector [3, 7]).
// CHECK-LABEL: func.func @scaled
// CHECK: %[[S:.*]] = arith.constant {qopt.shrunk = {axis_from_end = 0 : i64, kept = array<i64: 1>, size = 2 : i64}} dense<7.000000e+00> : tensor<1xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[S]], %{{.*}} : tensor<4x1xf32>, tensor<1xf32>, tensor<f32>)
// CHECK: %[[W2:.*]] = arith.constant dense<2.000000e+00> : tensor<1x1xf32>
// CHECK: %[[B2:.*]] = arith.constant dense<3.000000e+00> : tensor<1xf32>
// CHECK: qopt.linear %{{.*}}, %[[W2]], %[[B2]] : (tensor<4x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<4x1xf32>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#vec = affine_map<(d0, d1) -> (d1)>
func.func @scaled(%x: tensor<4x2xf32>) -> tensor<4x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %s = arith.constant dense<[3.0, 7.0]> : tensor<2xf32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %h = qopt.linear %x, %w1 : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %r = linalg.generic {indexing_maps = [#map1, #vec, affine_map<(d0, d1) -> ()>, #map1], iterator_types = ["parallel", "parallel"]} ins(%h, %s, %one : tensor<4x2xf32>, tensor<2xf32>, tensor<f32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%in: f32, %sc: f32, %o: f32, %out: f32):
    %a = arith.addf %in, %o : f32
    %m = arith.mulf %a, %sc : f32
    linalg.yield %m : f32
  } -> tensor<4x2xf32>
  %y = qopt.linear %r, %w2 : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// -----

// A residual connection keeps the layer dense (a remark says why).
// CHECK-LABEL: func.func @residual
// CHECK: qopt.linear %arg0, %{{.*}} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
#map2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @residual(%x: tensor<4x2xf32>) -> tensor<4x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // expected-remark @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': its channels meet argument #0 of the function (a residual connection from the model input?): a channel can only go where every tensor it meets drops it}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %r = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%h, %x : tensor<4x2xf32>, tensor<4x2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x2xf32>
  %y = qopt.linear %r, %w2 : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// -----

func.func @to_return(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  // expected-remark @+1 {{qopt-shrink-structured: cannot shrink layer 'head': its channels reach 'func.return' (only element-wise ops, transposes, reshapes, ops that keep the channels a parallel dimension and linear layers' inputs can be shrunk through)}}
  %h = qopt.linear %x, %w1 {weight_name = "head"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %h : tensor<4x2xf32>
}

// -----

func.func @all_zero(%x: tensor<4x2xf32>) -> tensor<4x1xf32> {
  %w1 = arith.constant dense<0.0> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // expected-remark @+1 {{qopt-shrink-structured: cannot shrink layer 'z': every output channel is zero}}
  %h = qopt.linear %x, %w1 {weight_name = "z"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %y = qopt.linear %h, %w2 : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// -----

// GELU as ONNX exports it, x · (1 + erf(x / √2)) · 0.5: one op reads two
// chain values reached along different paths. Channel 0 (bias 1.0) folds
// gelu(1.0) = 0.8413447 · 2.0 into fc2's bias.
// CHECK-LABEL: func.func @gelu
// CHECK: qopt.linear %arg0, {{.*}} -> tensor<3x1xf32>
// CHECK-COUNT-5: outs(%{{.*}} : tensor<3x1xf32>)
// CHECK: %[[B2:.*]] = arith.constant dense<1.68268{{[0-9]*}}> : tensor<1xf32>
// CHECK: qopt.linear %{{.*}}, %{{.*}}, %[[B2]] : (tensor<3x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<3x1xf32>
#e = affine_map<(d0, d1) -> (d0, d1)>
#s = affine_map<(d0, d1) -> ()>
func.func @gelu(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<[1.0, 0.5]> : tensor<2xf32>
  %w2 = arith.constant dense<[[2.0, 3.0]]> : tensor<1x2xf32>
  %sqrt2 = arith.constant dense<1.41421354> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %half = arith.constant dense<0.5> : tensor<f32>
  %h = qopt.linear %x, %w1, %b1 : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %e0 = tensor.empty() : tensor<3x2xf32>
  %d = linalg.generic {indexing_maps = [#e, #s, #e], iterator_types = ["parallel", "parallel"]} ins(%h, %sqrt2 : tensor<3x2xf32>, tensor<f32>) outs(%e0 : tensor<3x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<3x2xf32>
  %e1 = tensor.empty() : tensor<3x2xf32>
  %er = linalg.generic {indexing_maps = [#e, #e], iterator_types = ["parallel", "parallel"]} ins(%d : tensor<3x2xf32>) outs(%e1 : tensor<3x2xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.erf %a : f32
    linalg.yield %r : f32
  } -> tensor<3x2xf32>
  %e2 = tensor.empty() : tensor<3x2xf32>
  %p1 = linalg.generic {indexing_maps = [#e, #s, #e], iterator_types = ["parallel", "parallel"]} ins(%er, %one : tensor<3x2xf32>, tensor<f32>) outs(%e2 : tensor<3x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<3x2xf32>
  %e3 = tensor.empty() : tensor<3x2xf32>
  %m = linalg.generic {indexing_maps = [#e, #e, #e], iterator_types = ["parallel", "parallel"]} ins(%h, %p1 : tensor<3x2xf32>, tensor<3x2xf32>) outs(%e3 : tensor<3x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<3x2xf32>
  %e4 = tensor.empty() : tensor<3x2xf32>
  %g = linalg.generic {indexing_maps = [#e, #s, #e], iterator_types = ["parallel", "parallel"]} ins(%m, %half : tensor<3x2xf32>, tensor<f32>) outs(%e4 : tensor<3x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.mulf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<3x2xf32>
  %y = qopt.linear %g, %w2 : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
