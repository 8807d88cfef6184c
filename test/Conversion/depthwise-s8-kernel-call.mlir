// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s

// W8A8's int8 depthwise conv (qopt-quantize, IntegerDepthwise.cpp) on
// buffers: one call of qopt_kernel_conv2d_depthwise_s8 with sizes (N, G, M,
// H, W; no padding: 0, 0 and padding value 0; KH, KW, OH, OW), window
// strides and dilations (2, 2, 1, 1),
// then the input's address and (N, G, H, W) strides, the filter's and its
// (G, M, KH, KW) strides, the accumulator's and its five strides.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 * 2 + d6, d4 * 2 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @depthwise_s8
// CHECK: call @qopt_kernel_conv2d_depthwise_s8(%c1_i64, %c8_i64, %c1_i64, %c9_i64, %c9_i64, %c0_i64, %c0_i64, %c0_i64, %c3_i64, %c3_i64, %c4_i64, %c4_i64, %c2_i64, %c2_i64, %c1_i64, %c1_i64, %{{[0-9]+}}, %c648_i64, %c81_i64, %c9_i64, %c1_i64, %{{[0-9]+}}, %c9_i64, %c9_i64, %c3_i64, %c1_i64, %{{[0-9]+}}, %c128_i64, %c16_i64, %c16_i64, %c4_i64, %c1_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: linalg.generic
func.func @depthwise_s8(%x: memref<1x8x1x9x9xi8>, %w: memref<8x1x1x3x3xi8>, %acc: memref<1x8x1x4x4xi32>) {
  linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<1x8x1x9x9xi8>, memref<8x1x1x3x3xi8>) outs(%acc : memref<1x8x1x4x4xi32>) {
  ^bb0(%a: i8, %b: i8, %o: i32):
    %ea = arith.extsi %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %o, %p : i32
    linalg.yield %s : i32
  }
  return
}

// -----

// An unsigned extension is not the signed product the kernel computes:
// the generic stays.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @unsigned_input
// CHECK-NOT: call @qopt_kernel_conv2d_depthwise_s8
// CHECK: linalg.generic
func.func @unsigned_input(%x: memref<1x8x1x6x6xi8>, %w: memref<8x1x1x3x3xi8>, %acc: memref<1x8x1x4x4xi32>) {
  linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<1x8x1x6x6xi8>, memref<8x1x1x3x3xi8>) outs(%acc : memref<1x8x1x4x4xi32>) {
  ^bb0(%a: i8, %b: i8, %o: i32):
    %ea = arith.extui %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %o, %p : i32
    linalg.yield %s : i32
  }
  return
}

// -----

// The input padded with its zero point (-28) the way bufferization leaves
// tensor.pad: the call reads %x unpadded (8 x 8 at (1, 1), padding value
// -28, then %x's address and strides) and the fill, copy and padded buffer
// go.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @padded
// CHECK-NOT: memref.alloc() : memref<1x4x10x10xi8>
// CHECK-NOT: memref.copy
// CHECK: call @qopt_kernel_conv2d_depthwise_s8(%c1_i64, %c4_i64, %c1_i64, %c8_i64, %c8_i64, %c1_i64, %c1_i64, %c-28_i64, %c3_i64, %c3_i64, %c8_i64, %c8_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %{{[0-9]+}}, %c256_i64, %c64_i64, %c8_i64, %c1_i64,
// CHECK-NOT: linalg.fill
func.func @padded(%x: memref<1x4x8x8xi8>, %w: memref<4x1x1x3x3xi8>, %acc: memref<1x4x1x8x8xi32>) {
  %zp = arith.constant -28 : i8
  %p = memref.alloc() : memref<1x4x10x10xi8>
  linalg.fill ins(%zp : i8) outs(%p : memref<1x4x10x10xi8>)
  %in = memref.subview %p[0, 0, 1, 1] [1, 4, 8, 8] [1, 1, 1, 1] : memref<1x4x10x10xi8> to memref<1x4x8x8xi8, strided<[400, 100, 10, 1], offset: 11>>
  memref.copy %x, %in : memref<1x4x8x8xi8> to memref<1x4x8x8xi8, strided<[400, 100, 10, 1], offset: 11>>
  %x5 = memref.expand_shape %p [[0], [1, 2], [3], [4]] output_shape [1, 4, 1, 10, 10] : memref<1x4x10x10xi8> into memref<1x4x1x10x10xi8>
  linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x5, %w : memref<1x4x1x10x10xi8>, memref<4x1x1x3x3xi8>) outs(%acc : memref<1x4x1x8x8xi32>) {
  ^bb0(%a: i8, %b: i8, %o: i32):
    %ea = arith.extsi %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %pr = arith.muli %ea, %eb : i32
    %s = arith.addi %o, %pr : i32
    linalg.yield %s : i32
  }
  memref.dealloc %p : memref<1x4x10x10xi8>
  return
}
