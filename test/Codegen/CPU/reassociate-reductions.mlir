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

// RMS norm's sum of squares as a QDQ model leaves it: x * x in one generic
// (the importer's Mul(x, x): two inputs reading x alike),
// its fake quant (divide, round, clamp to [0, 255], NaN to 0, times the
// scale) in another, the sum in a third: every term is >= +0.
// CHECK-LABEL: func.func @quantized_squares
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc> : f32
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
func.func @quantized_squares(%x: tensor<4x64xf32>, %full: tensor<4x64xf32>, %init: tensor<4xf32>) -> tensor<4xf32> {
  %sq = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%x, %x : tensor<4x64xf32>, tensor<4x64xf32>) outs(%full : tensor<4x64xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %r = arith.mulf %in, %in2 : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %fq = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%sq : tensor<4x64xf32>) outs(%full : tensor<4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.constant 0.0125 : f32
    %lo = arith.constant 0.000000e+00 : f32
    %hi = arith.constant 2.550000e+02 : f32
    %d = arith.divf %in, %s : f32
    %r = math.roundeven %d : f32
    %b = arith.cmpf olt, %r, %lo : f32
    %c = arith.select %b, %lo, %r : f32
    %a = arith.cmpf ogt, %c, %hi : f32
    %e = arith.select %a, %hi, %c : f32
    %m = arith.mulf %e, %s : f32
    %n = arith.cmpf uno, %in, %in : f32
    %y = arith.select %n, %lo, %m : f32
    linalg.yield %y : f32
  } -> tensor<4x64xf32>
  %sum = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%fq : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.addf %out, %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %sum : tensor<4xf32>
}

// -----

// Sums whose terms may be negative (plain sums, products of two values,
// a square clamped to a negative bound, -0 constants), products, a sum of
// exp(x) that also reads the accumulator elsewhere and parallel generics
// keep their order: no flags.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: reassoc
// CHECK: return
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
func.func @kept(%x: tensor<4x64xf32>, %init: tensor<4xf32>, %full: tensor<4x64xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x64xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
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
  %xy = linalg.generic {indexing_maps = [#map, #map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x, %full : tensor<4x64xf32>, tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %m = arith.mulf %in, %in2 : f32
    %r = arith.addf %out, %m : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %neg = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %lo = arith.constant -1.000000e+00 : f32
    %m = arith.mulf %in, %in : f32
    %b = arith.cmpf olt, %m, %lo : f32
    %c = arith.select %b, %lo, %m : f32
    %r = arith.addf %out, %c : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %nz = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %z = arith.constant -0.000000e+00 : f32
    %m = arith.mulf %in, %in : f32
    %c = arith.mulf %m, %z : f32
    %r = arith.addf %out, %c : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %sum, %prod, %twice, %par, %xy, %neg, %nz : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x64xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
