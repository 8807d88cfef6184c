// RUN: quant-opt %s --qopt-fold-qdq --split-input-file | FileCheck %s --enable-var-scope

// Q -> DQ pairs that change nothing go (lib/Dialect/QOpt/Transforms/QDQGrid.cpp):
// after a move (Reshape, Transpose, Flatten), a max pool, ReLU/Clip or a
// concatenation of values on the same grid, and in front of a quantization
// onto the same grid through order-preserving ops. Everything else stays.

// A Reshape and a Transpose between two pairs of one scale and zero point:
// only the first pair (as qopt.fake_quant) is left.
// CHECK-LABEL: func.func @moves
// CHECK: %[[FQ:.*]] = qopt.fake_quant %arg0 scale [1.000000e-01] zero_point [3] range [0, 255]
// CHECK: %[[E:.*]] = tensor.expand_shape %[[FQ]]
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[E]]
// CHECK-NOT: qopt.fake_quant
// CHECK: return %[[T]]
func.func @moves(%x: tensor<2x6xf32>) -> tensor<3x2x2xf32> {
  %q = qopt.quantize %x : tensor<2x6xf32> -> tensor<2x6x!quant.uniform<u8:f32, 0.1:3>>
  %d = qopt.dequantize %q : tensor<2x6x!quant.uniform<u8:f32, 0.1:3>> -> tensor<2x6xf32>
  %e = tensor.expand_shape %d [[0], [1, 2]] output_shape [2, 3, 2] : tensor<2x6xf32> into tensor<2x3x2xf32>
  %q2 = qopt.quantize %e : tensor<2x3x2xf32> -> tensor<2x3x2x!quant.uniform<u8:f32, 0.1:3>>
  %d2 = qopt.dequantize %q2 : tensor<2x3x2x!quant.uniform<u8:f32, 0.1:3>> -> tensor<2x3x2xf32>
  %init = tensor.empty() : tensor<3x2x2xf32>
  %t = linalg.transpose ins(%d2 : tensor<2x3x2xf32>) outs(%init : tensor<3x2x2xf32>) permutation = [1, 0, 2]
  %q3 = qopt.quantize %t : tensor<3x2x2xf32> -> tensor<3x2x2x!quant.uniform<u8:f32, 0.1:3>>
  %d3 = qopt.dequantize %q3 : tensor<3x2x2x!quant.uniform<u8:f32, 0.1:3>> -> tensor<3x2x2xf32>
  return %d3 : tensor<3x2x2xf32>
}

// -----

// A pair of another scale (or a wider grid's values into a narrower range)
// after the move is a requantization: it stays.
// CHECK-LABEL: func.func @other_grid
// CHECK: qopt.fake_quant %arg0 scale [1.000000e-01]
// CHECK: tensor.collapse_shape
// CHECK: qopt.fake_quant %{{.*}} scale [2.000000e-01]
// CHECK: qopt.fake_quant %{{.*}} scale [1.000000e-01] zero_point [0] range [0, 127]
func.func @other_grid(%x: tensor<2x3xf32>) -> (tensor<6xf32>, tensor<2x3xf32>) {
  %a = qopt.fake_quant %x scale [0.1] zero_point [0] range [-128, 127] : tensor<2x3xf32>
  %c = tensor.collapse_shape %a [[0, 1]] : tensor<2x3xf32> into tensor<6xf32>
  %b = qopt.fake_quant %c scale [0.2] zero_point [0] range [-128, 127] : tensor<6xf32>
  %n = qopt.fake_quant %a scale [0.1] zero_point [0] range [0, 127] : tensor<2x3xf32>
  return %b, %n : tensor<6xf32>, tensor<2x3xf32>
}

// -----

// ReLU (max with 0, a grid point) and Clip to grid points keep values on
// the grid; a Clip bound between grid points (0.55 with scale 0.1) does not.
#id = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @relu_clip
// CHECK: %[[FQ:.*]] = qopt.fake_quant %arg0
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[FQ]]
// CHECK: %[[C:.*]] = linalg.generic {{.*}} ins(%[[FQ]]
// CHECK: %[[O:.*]] = linalg.generic {{.*}} ins(%[[FQ]]
// CHECK-NEXT: ^bb0
// CHECK: arith.constant 5.500000e-01
// CHECK: %[[OFQ:.*]] = qopt.fake_quant %[[O]]
// CHECK: return %[[R]], %[[C]], %[[OFQ]]
func.func @relu_clip(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %a = qopt.fake_quant %x scale [0.1] zero_point [128] range [0, 255] : tensor<8xf32>
  %e = tensor.empty() : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %z = arith.constant 0.0 : f32
    %m = arith.maximumf %in, %z : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  %rq = qopt.fake_quant %r scale [0.1] zero_point [128] range [0, 255] : tensor<8xf32>
  %c = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %lo = arith.constant -0.3 : f32
    %hi = arith.constant 0.5 : f32
    %m = arith.maxnumf %in, %lo : f32
    %n = arith.minnumf %m, %hi : f32
    linalg.yield %n : f32
  } -> tensor<8xf32>
  %cq = qopt.fake_quant %c scale [0.1] zero_point [128] range [0, 255] : tensor<8xf32>
  %o = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %hi = arith.constant 0.55 : f32
    %n = arith.minnumf %in, %hi : f32
    linalg.yield %n : f32
  } -> tensor<8xf32>
  %oq = qopt.fake_quant %o scale [0.1] zero_point [128] range [0, 255] : tensor<8xf32>
  return %rq, %cq, %oq : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// MaxPool (2x2, padded with the lowest float, as the importer builds it):
// the max of a window of grid points is a grid point. A max over a whole
// dimension from the lowest float (not a window) is not known to be one.
#in = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#win = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#out = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
#rin = affine_map<(d0, d1) -> (d0, d1)>
#rout = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @max_pool
// CHECK: %[[FQ:.*]] = qopt.fake_quant %arg0
// CHECK: tensor.pad %[[FQ]]
// CHECK: %[[P:.*]] = linalg.generic
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: %[[RFQ:.*]] = qopt.fake_quant %[[R]]
// CHECK: return %[[P]], %[[RFQ]]
func.func @max_pool(%x: tensor<1x2x3x3xf32>, %v: tensor<4x0xf32>) -> (tensor<1x2x2x2xf32>, tensor<4xf32>) {
  %a = qopt.fake_quant %x scale [0.25] zero_point [0] range [-128, 127] : tensor<1x2x3x3xf32>
  %lowest = arith.constant 0xFF7FFFFF : f32
  %p = tensor.pad %a low[0, 0, 0, 0] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %lowest : f32
  } : tensor<1x2x3x3xf32> to tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %f = linalg.fill ins(%lowest : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %m = linalg.generic {indexing_maps = [#in, #win, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%p, %w : tensor<1x2x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2x2x2xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<1x2x2x2xf32>
  %mq = qopt.fake_quant %m scale [0.25] zero_point [0] range [-128, 127] : tensor<1x2x2x2xf32>
  %b = qopt.fake_quant %v scale [0.25] zero_point [0] range [-128, 127] : tensor<4x0xf32>
  %re = tensor.empty() : tensor<4xf32>
  %rf = linalg.fill ins(%lowest : f32) outs(%re : tensor<4xf32>) -> tensor<4xf32>
  %r = linalg.generic {indexing_maps = [#rin, #rout], iterator_types = ["parallel", "reduction"]} ins(%b : tensor<4x0xf32>) outs(%rf : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<4xf32>
  %rq = qopt.fake_quant %r scale [0.25] zero_point [0] range [-128, 127] : tensor<4xf32>
  return %mq, %rq : tensor<1x2x2x2xf32>, tensor<4xf32>
}

// -----

// Concat: on the grid when every input is (one scale), not otherwise.
// CHECK-LABEL: func.func @concat
// CHECK: %[[A:.*]] = qopt.fake_quant %arg0 scale [5.000000e-02]
// CHECK: %[[B:.*]] = qopt.fake_quant %arg1 scale [5.000000e-02]
// CHECK: %[[C:.*]] = qopt.fake_quant %arg1 scale [1.000000e-01]
// CHECK: %[[AB:.*]] = tensor.concat dim(0) %[[A]], %[[B]]
// CHECK: %[[AC:.*]] = tensor.concat dim(0) %[[A]], %[[C]]
// CHECK: %[[ACQ:.*]] = qopt.fake_quant %[[AC]] scale [5.000000e-02]
// CHECK: return %[[AB]], %[[ACQ]]
func.func @concat(%x: tensor<2xf32>, %y: tensor<2xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %a = qopt.fake_quant %x scale [0.05] zero_point [0] range [-128, 127] : tensor<2xf32>
  %b = qopt.fake_quant %y scale [0.05] zero_point [0] range [-128, 127] : tensor<2xf32>
  %c = qopt.fake_quant %y scale [0.1] zero_point [0] range [-128, 127] : tensor<2xf32>
  %ab = tensor.concat dim(0) %a, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  %ac = tensor.concat dim(0) %a, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  %abq = qopt.fake_quant %ab scale [0.05] zero_point [0] range [-128, 127] : tensor<4xf32>
  %acq = qopt.fake_quant %ac scale [0.05] zero_point [0] range [-128, 127] : tensor<4xf32>
  return %abq, %acq : tensor<4xf32>, tensor<4xf32>
}

// -----

// A pair whose value only goes through a max pool and a zero padding into
// a quantization onto the same grid (uint8 zero point 0 is int8 zero point
// -128: the same points): Q(pool(FQ(x))) = Q(pool(x)), the pair goes. When
// the value is also returned, it stays.
#in = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#win = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#out = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @absorbed
// CHECK-NOT: qopt.fake_quant
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%arg0
// CHECK: tensor.pad %[[P]]
// CHECK: qopt.quantize
// CHECK-LABEL: func.func @not_absorbed
// CHECK: %[[FQ:.*]] = qopt.fake_quant %arg0
// CHECK: linalg.generic {{.*}} ins(%[[FQ]]
func.func @absorbed(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xi8> {
  %a = qopt.fake_quant %x scale [0.02] zero_point [0] range [0, 255] : tensor<1x1x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x1x2x2xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %m = linalg.generic {indexing_maps = [#in, #win, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%a, %w : tensor<1x1x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x1x2x2xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<1x1x2x2xf32>
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %m low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x1x2x2xf32> to tensor<1x1x4x4xf32>
  %q = qopt.quantize %p : tensor<1x1x4x4xf32> -> tensor<1x1x4x4x!quant.uniform<i8:f32, 0.02:-128>>
  %i = quant.scast %q : tensor<1x1x4x4x!quant.uniform<i8:f32, 0.02:-128>> to tensor<1x1x4x4xi8>
  return %i : tensor<1x1x4x4xi8>
}
func.func @not_absorbed(%x: tensor<1x1x4x4xf32>) -> (tensor<1x1x2x2xi8>, tensor<1x1x4x4xf32>) {
  %a = qopt.fake_quant %x scale [0.02] zero_point [0] range [0, 255] : tensor<1x1x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<1x1x2x2xf32>
  %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %w = tensor.empty() : tensor<2x2xf32>
  %m = linalg.generic {indexing_maps = [#in, #win, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%a, %w : tensor<1x1x4x4xf32>, tensor<2x2xf32>) outs(%f : tensor<1x1x2x2xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %y = arith.maximumf %out, %in : f32
    linalg.yield %y : f32
  } -> tensor<1x1x2x2xf32>
  %q = qopt.quantize %m : tensor<1x1x2x2xf32> -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:-128>>
  %i = quant.scast %q : tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:-128>> to tensor<1x1x2x2xi8>
  return %i, %a : tensor<1x1x2x2xi8>, tensor<1x1x4x4xf32>
}

// -----

// Into a quantization onto another grid (scale 0.03): the pair stays.
// CHECK-LABEL: func.func @other_quantize
// CHECK: qopt.fake_quant %arg0
func.func @other_quantize(%x: tensor<4xf32>) -> tensor<4xi8> {
  %a = qopt.fake_quant %x scale [0.02] zero_point [0] range [-128, 127] : tensor<4xf32>
  %q = qopt.quantize %a : tensor<4xf32> -> tensor<4x!quant.uniform<i8:f32, 0.03>>
  %i = quant.scast %q : tensor<4x!quant.uniform<i8:f32, 0.03>> to tensor<4xi8>
  return %i : tensor<4xi8>
}

// -----

// A nearest Resize as the importer builds it (a gather through index
// tables: each element one element of its input) keeps values on the
// grid: the pair behind it goes. A pair of another scale stays.
#row = affine_map<(d0, d1, d2, d3) -> (d2)>
#col = affine_map<(d0, d1, d2, d3) -> (d3)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @nearest_resize
// CHECK: %[[FQ:.*]] = qopt.fake_quant %arg0 scale [1.000000e-01]
// CHECK: %[[UP:.*]] = linalg.generic
// CHECK: tensor.extract %[[FQ]]
// CHECK: %[[OTHER:.*]] = qopt.fake_quant %[[UP]] scale [2.000000e-01]
// CHECK-NOT: qopt.fake_quant
// CHECK: return %[[UP]], %[[OTHER]]
func.func @nearest_resize(%x: tensor<1x2x2x2xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %q = qopt.quantize %x : tensor<1x2x2x2xf32> -> tensor<1x2x2x2x!quant.uniform<u8:f32, 0.1:3>>
  %d = qopt.dequantize %q : tensor<1x2x2x2x!quant.uniform<u8:f32, 0.1:3>> -> tensor<1x2x2x2xf32>
  %idx = arith.constant dense<[0, 0, 1, 1]> : tensor<4xi64>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %up = linalg.generic {indexing_maps = [#row, #col, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%idx, %idx : tensor<4xi64>, tensor<4xi64>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%r: i64, %c: i64, %o: f32):
    %n = linalg.index 0 : index
    %ch = linalg.index 1 : index
    %ri = arith.index_cast %r : i64 to index
    %ci = arith.index_cast %c : i64 to index
    %v = tensor.extract %d[%n, %ch, %ri, %ci] : tensor<1x2x2x2xf32>
    linalg.yield %v : f32
  } -> tensor<1x2x4x4xf32>
  %q2 = qopt.quantize %up : tensor<1x2x4x4xf32> -> tensor<1x2x4x4x!quant.uniform<u8:f32, 0.1:3>>
  %d2 = qopt.dequantize %q2 : tensor<1x2x4x4x!quant.uniform<u8:f32, 0.1:3>> -> tensor<1x2x4x4xf32>
  %q3 = qopt.quantize %up : tensor<1x2x4x4xf32> -> tensor<1x2x4x4x!quant.uniform<u8:f32, 0.2:3>>
  %d3 = qopt.dequantize %q3 : tensor<1x2x4x4x!quant.uniform<u8:f32, 0.2:3>> -> tensor<1x2x4x4xf32>
  return %d2, %d3 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}
