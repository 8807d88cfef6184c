// RUN: quant-opt %s --qopt-quantize="scheme=w8 exclude=fc" --split-input-file -verify-diagnostics

// A requested scheme that quantizes nothing is an error (the output would
// be the float model), with a note per op left float and why.
#map = affine_map<(d0, d1, d2) -> (d0, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d2, d1)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1)>
// expected-error @below {{qopt-quantize: scheme w8 quantized no layer: 3 matmul-like op(s) left float (qopt.not_quantized says why)}}
module {
func.func @attention(%q: tensor<4x8xf32>, %k: tensor<8x4xf32>, %b: tensor<2x4x8xf32>) -> (tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4x3xf32>) {
  %w = arith.constant dense<0.5> : tensor<2x8xf32>
  // expected-note @below {{qopt.linear 'fc': excluded}}
  %y = qopt.linear %q, %w {weight_name = "fc"} : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<4x2xf32>
  %z = arith.constant dense<0.0> : tensor<4x4xf32>
  // expected-note @below {{linalg.generic: dynamic_weight}}
  %s = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "reduction"]} ins(%q, %k : tensor<4x8xf32>, tensor<8x4xf32>) outs(%z : tensor<4x4xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x4xf32>
  %bw = arith.constant dense<1.0> : tensor<2x8x3xf32>
  %bz = arith.constant dense<0.0> : tensor<2x4x3xf32>
  // expected-note @below {{linalg.batch_matmul: shape}}
  %bm = linalg.batch_matmul ins(%b, %bw : tensor<2x4x8xf32>, tensor<2x8x3xf32>) outs(%bz : tensor<2x4x3xf32>) -> tensor<2x4x3xf32>
  return %s, %y, %bm : tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4x3xf32>
}
}

// -----

// A module with no layer at all.
// expected-error @below {{qopt-quantize: scheme w8 quantized no layer: the model has no MatMul, Gemm or Conv with a constant weight (quant-compile --list-layers lists the layers)}}
module {
func.func @none(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
}
