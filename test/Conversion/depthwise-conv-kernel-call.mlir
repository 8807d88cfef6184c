// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --cse --split-input-file | FileCheck %s

// A depthwise conv as bufferization leaves it (padded copy, bias
// broadcast, HardSwish consumer) becomes one call of
// qopt_kernel_conv2d_depthwise_f32 that reads %x unpadded (pads 1, 1),
// starts from the bias, applies HardSwish (5, alpha 1/6, beta 0.5) and
// writes %dst: n, g, mult, h, w, padT, padL, kh, kw, oh, ow, sh, sw, dh,
// dw, then x, filter, out (address, strides), bias, act, residual,
// accumulate.
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh + kh, ow + kw)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, m, c, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @fused
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : i64
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[SIXTH:.*]] = arith.constant 1042983595 : i64
// CHECK-DAG: %[[HALF:.*]] = arith.constant 1056964608 : i64
// CHECK-NOT: memref.copy
// CHECK-NOT: linalg.
// CHECK: call @qopt_kernel_conv2d_depthwise_f32(%[[C1]], %[[C8]], %[[C1]], %[[C6]], %[[C6]], %[[C1]], %[[C1]], %[[C3]], %[[C3]], %[[C6]], %[[C6]], %[[C1]], %[[C1]], %[[C1]], %[[C1]], {{.*}}, %[[C5]], %[[SIXTH]], %[[HALF]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]])
// CHECK-NOT: linalg.
// CHECK: return
func.func @fused(%x: memref<1x8x6x6xf32>, %w: memref<8x1x3x3xf32>, %bias: memref<8xf32>) -> memref<1x8x6x6xf32> {
  %dst = memref.alloc() : memref<1x8x6x6xf32>
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %p = memref.alloc() : memref<1x8x8x8xf32>
  linalg.map outs(%p : memref<1x8x8x8xf32>) (%init: f32) { linalg.yield %zero : f32 }
  %interior = memref.subview %p[0, 0, 1, 1] [1, 8, 6, 6] [1, 1, 1, 1] : memref<1x8x8x8xf32> to memref<1x8x6x6xf32, strided<[512, 64, 8, 1], offset: 9>>
  memref.copy %x, %interior : memref<1x8x6x6xf32> to memref<1x8x6x6xf32, strided<[512, 64, 8, 1], offset: 9>>
  %out = memref.alloc() : memref<1x8x6x6xf32>
  %x5 = memref.expand_shape %p [[0], [1, 2], [3], [4]] output_shape [1, 8, 1, 8, 8] : memref<1x8x8x8xf32> into memref<1x8x1x8x8xf32>
  linalg.broadcast ins(%bias : memref<8xf32>) outs(%out : memref<1x8x6x6xf32>) dimensions = [0, 2, 3]
  %w5 = memref.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [8, 1, 1, 3, 3] : memref<8x1x3x3xf32> into memref<8x1x1x3x3xf32>
  %o5 = memref.expand_shape %out [[0], [1, 2], [3], [4]] output_shape [1, 8, 1, 6, 6] : memref<1x8x6x6xf32> into memref<1x8x1x6x6xf32>
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x5, %w5 : memref<1x8x1x8x8xf32>, memref<8x1x1x3x3xf32>) outs(%o5 : memref<1x8x1x6x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%out : memref<1x8x6x6xf32>) outs(%dst : memref<1x8x6x6xf32>) {
  ^bb0(%in: f32, %o: f32):
    %d = arith.divf %in, %six : f32
    %a = arith.addf %d, %half : f32
    %lo = arith.maximumf %a, %zero : f32
    %hi = arith.minimumf %lo, %one : f32
    %y = arith.mulf %in, %hi : f32
    linalg.yield %y : f32
  }
  memref.dealloc %p : memref<1x8x8x8xf32>
  memref.dealloc %out : memref<1x8x6x6xf32>
  return %dst : memref<1x8x6x6xf32>
}

// -----

// Stride 2, zero init (a fill of the [N, G, M, ...] view), a residual add
// consumer: act 0 with the residual's strides; the conv reads the padded
// buffer when its source is written between the copy and the conv (then
// the padding stays: pads 0, h = w = 9).
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh * 2 + kh, ow * 2 + kw)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, m, c, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @residual_source_written
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[C9:.*]] = arith.constant 9 : i64
// CHECK: linalg.fill {{.*}} outs(%{{.*}} : memref<1x4x9x9xf32>)
// CHECK: memref.copy
// CHECK-NOT: linalg.generic
// CHECK: call @qopt_kernel_conv2d_depthwise_f32(%[[C1]], %[[C4]], %[[C1]], %[[C9]], %[[C9]], %[[C0]], %[[C0]], %[[C3]], %[[C3]], %[[C4]], %[[C4]], %[[C2]], %[[C2]], %[[C1]], %[[C1]], {{.*}}, %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C1]], %[[C0]])
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @residual_source_written(%x: memref<1x4x7x7xf32>, %w: memref<4x1x3x3xf32>, %res: memref<1x4x4x4xf32>) -> memref<1x4x4x4xf32> {
  %zero = arith.constant 0.0 : f32
  %dst = memref.alloc() : memref<1x4x4x4xf32>
  %p = memref.alloc() : memref<1x4x9x9xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<1x4x9x9xf32>)
  %interior = memref.subview %p[0, 0, 1, 1] [1, 4, 7, 7] [1, 1, 1, 1] : memref<1x4x9x9xf32> to memref<1x4x7x7xf32, strided<[324, 81, 9, 1], offset: 10>>
  memref.copy %x, %interior : memref<1x4x7x7xf32> to memref<1x4x7x7xf32, strided<[324, 81, 9, 1], offset: 10>>
  linalg.fill ins(%zero : f32) outs(%x : memref<1x4x7x7xf32>)
  %out = memref.alloc() : memref<1x4x4x4xf32>
  %x5 = memref.expand_shape %p [[0], [1, 2], [3], [4]] output_shape [1, 4, 1, 9, 9] : memref<1x4x9x9xf32> into memref<1x4x1x9x9xf32>
  %w5 = memref.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [4, 1, 1, 3, 3] : memref<4x1x3x3xf32> into memref<4x1x1x3x3xf32>
  %o5 = memref.expand_shape %out [[0], [1, 2], [3], [4]] output_shape [1, 4, 1, 4, 4] : memref<1x4x4x4xf32> into memref<1x4x1x4x4xf32>
  linalg.fill ins(%zero : f32) outs(%o5 : memref<1x4x1x4x4xf32>)
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x5, %w5 : memref<1x4x1x9x9xf32>, memref<4x1x1x3x3xf32>) outs(%o5 : memref<1x4x1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%out, %res : memref<1x4x4x4xf32>, memref<1x4x4x4xf32>) outs(%dst : memref<1x4x4x4xf32>) {
  ^bb0(%in: f32, %r: f32, %o: f32):
    %y = arith.addf %in, %r : f32
    linalg.yield %y : f32
  }
  return %dst : memref<1x4x4x4xf32>
}

// -----

// The conv's output read twice: the consumers stay loops, the call writes
// the conv's buffer, accumulating (no init to take over: the output is an
// argument), with a depth multiplier of 2.
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh + kh, ow + kw)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, m, c, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
// CHECK-LABEL: func.func @accumulate_multiplier
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[C7:.*]] = arith.constant 7 : i64
// CHECK: call @qopt_kernel_conv2d_depthwise_f32(%[[C2]], %[[C3]], %[[C2]], %[[C7]], %[[C7]], %[[C0]], %[[C0]], %[[C3]], %[[C3]], %[[C5]], %[[C5]], %[[C1]], %[[C1]], %[[C1]], %[[C1]], {{.*}}, %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C1]])
// CHECK-NOT: linalg.generic {{.*}}reduction
func.func @accumulate_multiplier(%x: memref<2x3x1x7x7xf32>, %w: memref<3x2x1x3x3xf32>, %out: memref<2x3x2x5x5xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<2x3x1x7x7xf32>, memref<3x2x1x3x3xf32>) outs(%out : memref<2x3x2x5x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}
