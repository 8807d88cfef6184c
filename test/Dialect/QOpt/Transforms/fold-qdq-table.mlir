// RUN: quant-opt %s --qopt-fold-qdq --split-input-file | FileCheck %s --enable-var-scope

// Element-wise chains that read one per-tensor 8-bit fake quant and scalar
// constants and requantize inside become a constant table over that fake
// quant's 256 grid points and one lookup per element
// (lib/Dialect/QOpt/Transforms/QDQTable.cpp). The end-to-end check that the
// table holds bit for bit the chain's values is test_qdq_int.py.

#id = affine_map<(d0, d1) -> (d0, d1)>
#sc = affine_map<(d0, d1) -> ()>

// GELU as onnxruntime's quantize_static leaves it: x / sqrt(2), erf, a pair,
// + 1, a pair, x * that, a pair, * 0.5. The chain goes; its input is
// rounded onto the first pair's grid (x / 0.02, round half to even, clamped
// to [0 - 128, 255 - 128], NaN to the zero point) in one loop, whose i32
// indices a second loop looks up in the table.
// CHECK-LABEL: func.func @gelu
// CHECK-SAME: (%[[X:.*]]: tensor<4x256xf32>)
// CHECK-DAG: %[[T:.*]] = arith.constant dense<{{.*}}> : tensor<256xf32>
// CHECK: %[[IS:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<4x256xf32>) outs(%{{.*}} : tensor<4x256xi32>)
// CHECK: ^bb0(%[[V:.*]]: f32, %{{.*}}: i32):
// CHECK: %[[D:.*]] = arith.divf %[[V]], %{{.*}} : f32
// CHECK: math.roundeven %[[D]]
// CHECK: arith.constant -1.280000e+02
// CHECK: arith.constant 1.270000e+02
// CHECK: arith.cmpf uno, %[[V]], %[[V]]
// CHECK: arith.constant 1.280000e+02
// CHECK: %[[I:.*]] = arith.fptosi %{{.*}} : f32 to i32
// CHECK: linalg.yield %[[I]] : i32
// CHECK: %[[L:.*]] = linalg.generic {{.*}} ins(%[[IS]] : tensor<4x256xi32>) outs(%{{.*}} : tensor<4x256xf32>)
// CHECK: ^bb0(%[[J:.*]]: i32, %{{.*}}: f32):
// CHECK-NOT: arith.divf
// CHECK: %[[IX:.*]] = arith.index_cast %[[J]] : i32 to index
// CHECK: %[[E:.*]] = tensor.extract %[[T]][%[[IX]]] : tensor<256xf32>
// CHECK: linalg.yield %[[E]]
// CHECK-NOT: math.erf
// CHECK-NOT: qopt.fake_quant
// CHECK: return %[[L]]
func.func @gelu(%x: tensor<4x256xf32>) -> tensor<4x256xf32> {
  %sqrt2 = arith.constant dense<1.41421354> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %half = arith.constant dense<0.5> : tensor<f32>
  %a = qopt.fake_quant %x scale [0.02] zero_point [128] range [0, 255] : tensor<4x256xf32>
  %e0 = tensor.empty() : tensor<4x256xf32>
  %d = linalg.generic {indexing_maps = [#id, #sc, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %sqrt2 : tensor<4x256xf32>, tensor<f32>) outs(%e0 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %r = arith.divf %in, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  %e1 = tensor.empty() : tensor<4x256xf32>
  %erf = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%d : tensor<4x256xf32>) outs(%e1 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.erf %in : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  %q1 = qopt.fake_quant %erf scale [0.0078] zero_point [128] range [0, 255] : tensor<4x256xf32>
  %e2 = tensor.empty() : tensor<4x256xf32>
  %p = linalg.generic {indexing_maps = [#id, #sc, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q1, %one : tensor<4x256xf32>, tensor<f32>) outs(%e2 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %r = arith.addf %in, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  %q2 = qopt.fake_quant %p scale [0.0078] zero_point [0] range [0, 255] : tensor<4x256xf32>
  %e3 = tensor.empty() : tensor<4x256xf32>
  %m = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %q2 : tensor<4x256xf32>, tensor<4x256xf32>) outs(%e3 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %r = arith.mulf %in, %in2 : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  %q3 = qopt.fake_quant %m scale [0.04] zero_point [10] range [0, 255] : tensor<4x256xf32>
  %e4 = tensor.empty() : tensor<4x256xf32>
  %h = linalg.generic {indexing_maps = [#id, #sc, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q3, %half : tensor<4x256xf32>, tensor<f32>) outs(%e4 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %r = arith.mulf %in, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  return %h : tensor<4x256xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#ch = affine_map<(d0, d1) -> (d1)>

// A constant per channel (a bias, BatchNorm's parameters) read along one
// loop: one table per index of that loop (channel-major, 256 entries each,
// 64 channels),
// indexed by linalg.index * 256 + the grid index.
// CHECK-LABEL: func.func @per_channel_operand
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>)
// CHECK-DAG: %[[T:.*]] = arith.constant dense<{{.*}}> : tensor<16384xf32>
// CHECK: %[[IS:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<4x64xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[IS]] : tensor<4x64xi32>)
// CHECK: %[[Q:.*]] = arith.index_cast
// CHECK: %[[C:.*]] = linalg.index 1 : index
// CHECK: %[[N:.*]] = arith.constant 256 : index
// CHECK: %[[B:.*]] = arith.muli %[[C]], %[[N]] : index
// CHECK: %[[I:.*]] = arith.addi %[[B]], %[[Q]] : index
// CHECK: tensor.extract %[[T]][%[[I]]] : tensor<16384xf32>
// CHECK-NOT: math.erf
// CHECK-NOT: qopt.fake_quant
func.func @per_channel_operand(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %b = arith.constant dense<0.5> : tensor<64xf32>
  %a = qopt.fake_quant %x scale [0.02] zero_point [128] range [0, 255] : tensor<4x64xf32>
  %e1 = tensor.empty() : tensor<4x64xf32>
  %p = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b : tensor<4x64xf32>, tensor<64xf32>) outs(%e1 : tensor<4x64xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %r = arith.addf %in, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %e2 = tensor.empty() : tensor<4x64xf32>
  %erf = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<4x64xf32>) outs(%e2 : tensor<4x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.erf %in : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %q1 = qopt.fake_quant %erf scale [0.0078] zero_point [128] range [0, 255] : tensor<4x64xf32>
  return %q1 : tensor<4x64xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// One op between two pairs, no transcendental function: a table saves
// nothing (a requantization is cheaper than a gather), nothing changes.
// CHECK-LABEL: func.func @too_short
// CHECK: qopt.fake_quant
// CHECK: arith.negf
// CHECK: qopt.fake_quant
// CHECK-NOT: tensor.extract
func.func @too_short(%x: tensor<4x256xf32>) -> tensor<4x256xf32> {
  %a = qopt.fake_quant %x scale [0.02] zero_point [128] range [0, 255] : tensor<4x256xf32>
  %e1 = tensor.empty() : tensor<4x256xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x256xf32>) outs(%e1 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.negf %in : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  %q1 = qopt.fake_quant %n scale [0.02] zero_point [127] range [0, 255] : tensor<4x256xf32>
  return %q1 : tensor<4x256xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// A small tensor (fewer elements than four tables): the per-run work would
// not shrink, nothing changes.
// CHECK-LABEL: func.func @small_tensor
// CHECK: math.erf
// CHECK-NOT: tensor.extract
func.func @small_tensor(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %a = qopt.fake_quant %x scale [0.02] zero_point [128] range [0, 255] : tensor<2x8xf32>
  %e1 = tensor.empty() : tensor<2x8xf32>
  %erf = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<2x8xf32>) outs(%e1 : tensor<2x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.erf %in : f32
    linalg.yield %r : f32
  } -> tensor<2x8xf32>
  %q1 = qopt.fake_quant %erf scale [0.0078] zero_point [128] range [0, 255] : tensor<2x8xf32>
  %e2 = tensor.empty() : tensor<2x8xf32>
  %m = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %q1 : tensor<2x8xf32>, tensor<2x8xf32>) outs(%e2 : tensor<2x8xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %r = arith.mulf %in, %in2 : f32
    linalg.yield %r : f32
  } -> tensor<2x8xf32>
  %q2 = qopt.fake_quant %m scale [0.01] zero_point [0] range [0, 255] : tensor<2x8xf32>
  return %q2 : tensor<2x8xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// An operand that is not a constant (another activation): nothing changes.
// CHECK-LABEL: func.func @activation_operand
// CHECK: qopt.fake_quant
// CHECK: math.erf
// CHECK: qopt.fake_quant
// CHECK-NOT: tensor.extract
func.func @activation_operand(%x: tensor<4x256xf32>, %y: tensor<4x256xf32>) -> tensor<4x256xf32> {
  %a = qopt.fake_quant %x scale [0.02] zero_point [128] range [0, 255] : tensor<4x256xf32>
  %e1 = tensor.empty() : tensor<4x256xf32>
  %p = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %y : tensor<4x256xf32>, tensor<4x256xf32>) outs(%e1 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %r = arith.addf %in, %s : f32
    %e = math.erf %r : f32
    linalg.yield %e : f32
  } -> tensor<4x256xf32>
  %q1 = qopt.fake_quant %p scale [0.0078] zero_point [128] range [0, 255] : tensor<4x256xf32>
  %e2 = tensor.empty() : tensor<4x256xf32>
  %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q1 : tensor<4x256xf32>) outs(%e2 : tensor<4x256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.negf %in : f32
    linalg.yield %r : f32
  } -> tensor<4x256xf32>
  return %m : tensor<4x256xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#ch = affine_map<(d0, d1) -> (d1)>

// A small dequantized constant no layer folded (onnxruntime quantizes
// BatchNorm's scale to int8) becomes a float constant, (q - zp) * s as the
// lowering computes it: (10 - 2) * 0.5 = 4, (-20 - 2) * 0.5 = -11.
// CHECK-LABEL: func.func @dequantized_constant
// CHECK: %[[G:.*]] = arith.constant dense_resource<constant.f32> : tensor<2xf32>
// CHECK-NOT: qopt.dequantize
// CHECK: linalg.generic {{.*}} ins(%arg0, %[[G]] :
// 4.0 = 0x40800000, -11.0 = 0xC1300000 (little-endian, after the alignment).
// CHECK: constant.f32: "0x0400000000008040000030C1"
func.func @dequantized_constant(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %gi = arith.constant dense<[10, -20]> : tensor<2xi8>
  %gq = quant.scast %gi : tensor<2xi8> to tensor<2x!quant.uniform<i8:f32, 0.5:2>>
  %g = qopt.dequantize %gq : tensor<2x!quant.uniform<i8:f32, 0.5:2>> -> tensor<2xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %g : tensor<4x2xf32>, tensor<2xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%in: f32, %s: f32, %out: f32):
    %r = arith.mulf %in, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
