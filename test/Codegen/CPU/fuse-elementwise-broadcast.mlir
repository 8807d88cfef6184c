// RUN: quant-opt %s --qopt-fuse-elementwise | FileCheck %s

// RMSNorm's x / sqrt(mean + eps): the sqrt is computed on the [4] row
// values and read broadcast by the [4, 8] division. It stays its own loop
// (fused with its cheap producer, the + eps), so that it runs 4 times, not
// 32; the division and the weight multiply fuse.
// CHECK-LABEL: func.func @rms
// CHECK: %[[R:.*]] = linalg.generic {{.*}} iterator_types = ["parallel"]}
// CHECK:   arith.addf
// CHECK:   math.sqrt
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%{{.*}}, %[[R]]
// CHECK-NOT: math.sqrt
// CHECK:   arith.divf
// CHECK:   arith.mulf
// CHECK-NOT: linalg.generic
#row = affine_map<(d0, d1) -> (d0)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id1 = affine_map<(d0) -> (d0)>
func.func @rms(%x: tensor<4x8xf32>, %ms: tensor<4xf32>, %g: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %eps = arith.constant 1.0e-6 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]} ins(%ms : tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %eps : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]} ins(%a : tensor<4xf32>) outs(%e2 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = math.sqrt %in : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e3 = tensor.empty() : tensor<4x8xf32>
  %d = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]} ins(%x, %r : tensor<4x8xf32>, tensor<4xf32>) outs(%e3 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %rr: f32, %out: f32):
    %q = arith.divf %in, %rr : f32
    linalg.yield %q : f32
  } -> tensor<4x8xf32>
  %e4 = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%d, %g : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e4 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %gg: f32, %out: f32):
    %m = arith.mulf %in, %gg : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// A cheap broadcast producer (no division or transcendental) still fuses.
// CHECK-LABEL: func.func @cheap
// CHECK: linalg.generic
// CHECK:   arith.addf
// CHECK:   arith.mulf
// CHECK-NOT: linalg.generic
func.func @cheap(%x: tensor<4x8xf32>, %b: tensor<4xf32>) -> tensor<4x8xf32> {
  %c = arith.constant 2.0 : f32
  %e1 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]} ins(%b : tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %c : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]} ins(%x, %a : tensor<4x8xf32>, tensor<4xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %aa: f32, %out: f32):
    %m = arith.mulf %in, %aa : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
