// RUN: quant-opt %s --qopt-quantize="scheme=w8" | FileCheck %s

// Every matmul-like op qopt-quantize leaves float says why: an attention
// product of two activations (dynamic_weight), a batched constant
// (shape); the layer is quantized.
// CHECK-LABEL: func.func @attention
// CHECK: qopt.qlinear {{.*}}weight_name = "fc"
// CHECK: linalg.generic {{.*}}ins(%arg0, %arg1 : {{.*}}) {{.*}}attrs = {qopt.not_quantized = #qopt.not_quantized<dynamic_weight>}
// CHECK: linalg.batch_matmul {qopt.not_quantized = #qopt.not_quantized<shape>}
#map = affine_map<(d0, d1, d2) -> (d0, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d2, d1)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1)>
module {
func.func @attention(%q: tensor<4x8xf32>, %k: tensor<8x4xf32>, %b: tensor<2x4x8xf32>) -> (tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4x3xf32>) {
  %w = arith.constant dense<0.5> : tensor<2x8xf32>
  %y = qopt.linear %q, %w {weight_name = "fc"} : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<4x2xf32>
  %z = arith.constant dense<0.0> : tensor<4x4xf32>
  %s = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4x8xf32>, tensor<8x4xf32>) outs(%z : tensor<4x4xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x4xf32>
  %bw = arith.constant dense<1.0> : tensor<2x8x3xf32>
  %bz = arith.constant dense<0.0> : tensor<2x4x3xf32>
  %bm = linalg.batch_matmul ins(%b, %bw : tensor<2x4x8xf32>, tensor<2x8x3xf32>) outs(%bz : tensor<2x4x3xf32>) -> tensor<2x4x3xf32>
  return %s, %y, %bm : tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4x3xf32>
}
}

