// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qopt-reassociate-reductions))' | FileCheck %s

// Softmax as the importer lowers it (row max, sum of exp(x - max),
// divide): the max and the sum of exponentials may reduce in any order;
// the element-wise divide is not a reduction and keeps its flags.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf %{{.*}}, %{{.*}} fastmath<reassoc> : f32
// CHECK: %[[E:.*]] = math.exp
// CHECK-NEXT: arith.addf %{{.*}}, %[[E]] fastmath<reassoc> : f32
// CHECK: math.exp
// CHECK-NEXT: arith.divf %{{.*}}, %{{.*}} : f32
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
func.func @softmax(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.000000e+00 : f32
  %e0 = tensor.empty() : tensor<4xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%e0 : tensor<4xf32>) -> tensor<4xf32>
  %m = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%m0 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maximumf %in, %out : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "reduction"]} ins(%x, %m : tensor<4x64xf32>, tensor<4xf32>) outs(%s0 : tensor<4xf32>) {
  ^bb0(%in: f32, %mx: f32, %out: f32):
    %d = arith.subf %in, %mx : f32
    %e = math.exp %d : f32
    %r = arith.addf %out, %e : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %e1 = tensor.empty() : tensor<4x64xf32>
  %y = linalg.generic {indexing_maps = [#map, #map1, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%x, %m, %s : tensor<4x64xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e1 : tensor<4x64xf32>) {
  ^bb0(%in: f32, %mx: f32, %sum: f32, %out: f32):
    %d = arith.subf %in, %mx : f32
    %e = math.exp %d : f32
    %r = arith.divf %e, %sum : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

// Flags already there stay (or-ed); min/maxnum reductions and other float
// types too.
// CHECK-LABEL: func.func @flags_and_minnum
// CHECK: arith.minnumf %{{.*}}, %{{.*}} fastmath<reassoc,nnan> : f32
// CHECK: arith.maxnumf %{{.*}}, %{{.*}} fastmath<reassoc> : f32
// CHECK: arith.maximumf %{{.*}}, %{{.*}} fastmath<reassoc> : f64
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
func.func @flags_and_minnum(%x: tensor<4x64xf32>, %init: tensor<4xf32>, %y: tensor<4x64xf64>, %init64: tensor<4xf64>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf64>) {
  %a = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.minnumf %out, %in fastmath<nnan> : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maxnumf %in, %out : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%y : tensor<4x64xf64>) outs(%init64 : tensor<4xf64>) {
  ^bb0(%in: f64, %out: f64):
    %r = arith.maximumf %in, %out : f64
    linalg.yield %r : f64
  } -> tensor<4xf64>
  return %a, %b, %c : tensor<4xf32>, tensor<4xf32>, tensor<4xf64>
}

// -----

// Sums whose terms may cancel (plain sums, products, a sum of exp(x) that
// also reads the accumulator elsewhere), products and parallel generics
// keep their order: no flags.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: reassoc
// CHECK: return
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
func.func @kept(%x: tensor<4x64xf32>, %init: tensor<4xf32>, %full: tensor<4x64xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x64xf32>) {
  %sum = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.addf %out, %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %prod = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %e = math.exp %in : f32
    %r = arith.mulf %out, %e : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %twice = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.subf %in, %out : f32
    %e = math.exp %d : f32
    %r = arith.addf %out, %e : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %par = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x64xf32>) outs(%full : tensor<4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maximumf %in, %out : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  return %sum, %prod, %twice, %par : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x64xf32>
}
