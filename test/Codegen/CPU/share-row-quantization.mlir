// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qopt-share-row-quantization))' | FileCheck %s

#x = affine_map<(m, k) -> (m, k)>
#r = affine_map<(m, k) -> (m)>
#v = affine_map<(m) -> (m)>

// Two layers reading one [2, 4, 8] activation (q and k projections), each
// with w8a8-dynamic's collapse, row abs-max, scales and int8 rows: computed
// once; the second layer's copies are gone and its consumers read the
// first's. Fills and empties are not merged.
// CHECK-LABEL: func.func @two_layers
// CHECK: %[[X:.*]] = tensor.collapse_shape %arg0
// CHECK: %[[A:.*]] = linalg.generic {{.*}}library_call = "qopt_kernel_row_absmax_f32"} ins(%[[X]] : tensor<8x8xf32>)
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%[[A]] : tensor<8xf32>)
// CHECK: %[[Q:.*]] = linalg.generic {{.*}}library_call = "qopt_kernel_quantize_rows_s8"} ins(%[[X]], %[[S]] : tensor<8x8xf32>, tensor<8xf32>)
// CHECK-NOT: tensor.collapse_shape
// CHECK-NOT: linalg.generic
// CHECK: return %[[Q]], %[[Q]], %[[S]], %[[S]]
func.func @two_layers(%in: tensor<2x4x8xf32>)
    -> (tensor<8x8xi8>, tensor<8x8xi8>, tensor<8xf32>, tensor<8xf32>) {
  %z = arith.constant 0.0 : f32
  %c127 = arith.constant 127.0 : f32
  %x1 = tensor.collapse_shape %in [[0, 1], [2]] : tensor<2x4x8xf32> into tensor<8x8xf32>
  %e1a = tensor.empty() : tensor<8xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e1a : tensor<8xf32>) -> tensor<8xf32>
  %a1 = linalg.generic {indexing_maps = [#x, #r], iterator_types = ["parallel", "reduction"], library_call = "qopt_kernel_row_absmax_f32"}
      ins(%x1 : tensor<8x8xf32>) outs(%f1 : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %b = math.absf %a : f32
    %m = arith.maximumf %acc, %b : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  %e1b = tensor.empty() : tensor<8xf32>
  %s1 = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%a1 : tensor<8xf32>) outs(%e1b : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %c127 : f32
    linalg.yield %d : f32
  } -> tensor<8xf32>
  %e1c = tensor.empty() : tensor<8x8xi8>
  %q1 = linalg.generic {indexing_maps = [#x, #r, #x], iterator_types = ["parallel", "parallel"], library_call = "qopt_kernel_quantize_rows_s8"}
      ins(%x1, %s1 : tensor<8x8xf32>, tensor<8xf32>) outs(%e1c : tensor<8x8xi8>) {
  ^bb0(%a: f32, %s: f32, %o: i8):
    %d = arith.divf %a, %s : f32
    %i = arith.fptosi %d : f32 to i8
    linalg.yield %i : i8
  } -> tensor<8x8xi8>
  %x2 = tensor.collapse_shape %in [[0, 1], [2]] : tensor<2x4x8xf32> into tensor<8x8xf32>
  %e2a = tensor.empty() : tensor<8xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2a : tensor<8xf32>) -> tensor<8xf32>
  %a2 = linalg.generic {indexing_maps = [#x, #r], iterator_types = ["parallel", "reduction"], library_call = "qopt_kernel_row_absmax_f32"}
      ins(%x2 : tensor<8x8xf32>) outs(%f2 : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %b = math.absf %a : f32
    %m = arith.maximumf %acc, %b : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  %e2b = tensor.empty() : tensor<8xf32>
  %s2 = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%a2 : tensor<8xf32>) outs(%e2b : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %c127 : f32
    linalg.yield %d : f32
  } -> tensor<8xf32>
  %e2c = tensor.empty() : tensor<8x8xi8>
  %q2 = linalg.generic {indexing_maps = [#x, #r, #x], iterator_types = ["parallel", "parallel"], library_call = "qopt_kernel_quantize_rows_s8"}
      ins(%x2, %s2 : tensor<8x8xf32>, tensor<8xf32>) outs(%e2c : tensor<8x8xi8>) {
  ^bb0(%a: f32, %s: f32, %o: i8):
    %d = arith.divf %a, %s : f32
    %i = arith.fptosi %d : f32 to i8
    linalg.yield %i : i8
  } -> tensor<8x8xi8>
  return %q1, %q2, %s1, %s2 : tensor<8x8xi8>, tensor<8x8xi8>, tensor<8xf32>, tensor<8xf32>
}

// -----

#x = affine_map<(m, k) -> (m, k)>
#r = affine_map<(m, k) -> (m)>
#v = affine_map<(m) -> (m)>

// Must not merge: layers reading different activations keep their own
// quantization.
// CHECK-LABEL: func.func @different_inputs
// CHECK: library_call = "qopt_kernel_row_absmax_f32"} ins(%collapsed :
// CHECK: library_call = "qopt_kernel_quantize_rows_s8"} ins(%collapsed,
// CHECK: library_call = "qopt_kernel_row_absmax_f32"} ins(%collapsed_1 :
// CHECK: library_call = "qopt_kernel_quantize_rows_s8"} ins(%collapsed_1,
func.func @different_inputs(%in: tensor<2x4x8xf32>, %in2: tensor<2x4x8xf32>)
    -> (tensor<8x8xi8>, tensor<8x8xi8>) {
  %z = arith.constant 0.0 : f32
  %c127 = arith.constant 127.0 : f32
  %x1 = tensor.collapse_shape %in [[0, 1], [2]] : tensor<2x4x8xf32> into tensor<8x8xf32>
  %e1a = tensor.empty() : tensor<8xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e1a : tensor<8xf32>) -> tensor<8xf32>
  %a1 = linalg.generic {indexing_maps = [#x, #r], iterator_types = ["parallel", "reduction"], library_call = "qopt_kernel_row_absmax_f32"}
      ins(%x1 : tensor<8x8xf32>) outs(%f1 : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %b = math.absf %a : f32
    %m = arith.maximumf %acc, %b : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  %e1b = tensor.empty() : tensor<8xf32>
  %s1 = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%a1 : tensor<8xf32>) outs(%e1b : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %c127 : f32
    linalg.yield %d : f32
  } -> tensor<8xf32>
  %e1c = tensor.empty() : tensor<8x8xi8>
  %q1 = linalg.generic {indexing_maps = [#x, #r, #x], iterator_types = ["parallel", "parallel"], library_call = "qopt_kernel_quantize_rows_s8"}
      ins(%x1, %s1 : tensor<8x8xf32>, tensor<8xf32>) outs(%e1c : tensor<8x8xi8>) {
  ^bb0(%a: f32, %s: f32, %o: i8):
    %d = arith.divf %a, %s : f32
    %i = arith.fptosi %d : f32 to i8
    linalg.yield %i : i8
  } -> tensor<8x8xi8>
  %x2 = tensor.collapse_shape %in2 [[0, 1], [2]] : tensor<2x4x8xf32> into tensor<8x8xf32>
  %e2a = tensor.empty() : tensor<8xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2a : tensor<8xf32>) -> tensor<8xf32>
  %a2 = linalg.generic {indexing_maps = [#x, #r], iterator_types = ["parallel", "reduction"], library_call = "qopt_kernel_row_absmax_f32"}
      ins(%x2 : tensor<8x8xf32>) outs(%f2 : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %b = math.absf %a : f32
    %m = arith.maximumf %acc, %b : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  %e2b = tensor.empty() : tensor<8xf32>
  %s2 = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%a2 : tensor<8xf32>) outs(%e2b : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.divf %a, %c127 : f32
    linalg.yield %d : f32
  } -> tensor<8xf32>
  %e2c = tensor.empty() : tensor<8x8xi8>
  %q2 = linalg.generic {indexing_maps = [#x, #r, #x], iterator_types = ["parallel", "parallel"], library_call = "qopt_kernel_quantize_rows_s8"}
      ins(%x2, %s2 : tensor<8x8xf32>, tensor<8xf32>) outs(%e2c : tensor<8x8xi8>) {
  ^bb0(%a: f32, %s: f32, %o: i8):
    %d = arith.divf %a, %s : f32
    %i = arith.fptosi %d : f32 to i8
    linalg.yield %i : i8
  } -> tensor<8x8xi8>
  return %q1, %q2 : tensor<8x8xi8>, tensor<8x8xi8>
}

// -----

#v = affine_map<(m) -> (m)>

// Must not merge: identical element-wise ops that are not on shared row
// kernel results (upstream CSE's business, not this pass's).
// CHECK-LABEL: func.func @plain_elementwise
// CHECK-COUNT-2: math.exp
func.func @plain_elementwise(%in: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %e1 = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%in : tensor<8xf32>) outs(%e1 : tensor<8xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = math.exp %x : f32
    linalg.yield %y : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<8xf32>
  %b = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%in : tensor<8xf32>) outs(%e2 : tensor<8xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = math.exp %x : f32
    linalg.yield %y : f32
  } -> tensor<8xf32>
  return %a, %b : tensor<8xf32>, tensor<8xf32>
}
