// RUN: quant-opt %s --qopt-fuse-elementwise | FileCheck %s

// A long element-wise producer (more than 8 operations: a QDQ model's
// requantizations) is not fused into a pool (an input read through windows,
// h * 2 + kh): inside the window loops its chain would run unvectorized; it
// stays its own loop nest. A short one (a bias, a ReLU) is, and so is any
// producer of a reduction that reads it through a projection (a row max).
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#in = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#win = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#out = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
#rin = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#rout = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @pool
// CHECK: %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[S]]
// CHECK-NOT: arith.mulf
// CHECK: return
func.func @pool(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %c = arith.constant 3.0 : f32
    %y = arith.mulf %in, %c : f32
    %y1 = arith.divf %y, %c : f32
    %y2 = math.roundeven %y1 : f32
    %y3 = arith.addf %y2, %c : f32
    %y4 = arith.maxnumf %y3, %c : f32
    %y5 = arith.minnumf %y4, %c : f32
    %y6 = arith.subf %y5, %c : f32
    %y7 = arith.mulf %y6, %c : f32
    linalg.yield %y7 : f32
  } -> tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %pe = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %m = linalg.generic {indexing_maps = [#in, #win, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%s, %w : tensor<1x2x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x2x2xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<1x2x2x2xf32>
  return %m : tensor<1x2x2x2xf32>
}

// CHECK-LABEL: func.func @short_into_pool
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.maximumf
// CHECK-NOT: linalg.generic
func.func @short_into_pool(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %c = arith.constant 3.0 : f32
    %y = arith.mulf %in, %c : f32
    linalg.yield %y : f32
  } -> tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %pe = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %m = linalg.generic {indexing_maps = [#in, #win, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%s, %w : tensor<1x2x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x2x2xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<1x2x2x2xf32>
  return %m : tensor<1x2x2x2xf32>
}

// CHECK-LABEL: func.func @row_max
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.maximumf
// CHECK-NOT: linalg.generic
func.func @row_max(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4xf32> {
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %c = arith.constant 3.0 : f32
    %y = arith.mulf %in, %c : f32
    linalg.yield %y : f32
  } -> tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %pe = tensor.empty() : tensor<1x2x4xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %m = linalg.generic {indexing_maps = [#rin, #rout], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%s : tensor<1x2x4x4xf32>) outs(%f : tensor<1x2x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<1x2x4xf32>
  return %m : tensor<1x2x4xf32>
}
