// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --cse --split-input-file | FileCheck %s

// The importer's grouped convolution (8 groups of 2 input and 1 output
// channels, 3x3 window, row stride 2, column dilation 2) becomes a call of
// qopt_kernel_conv2d_grouped_f32: n, g, c, f, kh, kw, oh, ow, sh, sw, dh, dw.
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh * 2 + kh, ow + kw * 2)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, m, c, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
// CHECK-LABEL: func.func @grouped
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : i64
// CHECK: call @qopt_kernel_conv2d_grouped_f32(%[[C1]], %[[C8]], %[[C2]], %[[C1]], %[[C3]], %[[C3]], %[[C5]], %[[C6]], %[[C2]], %[[C1]], %[[C1]], %[[C2]],
// CHECK-NOT: linalg.generic
func.func @grouped(%x: memref<1x8x2x11x10xf32>, %w: memref<8x1x2x3x3xf32>, %out: memref<1x8x1x5x6xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x8x2x11x10xf32>, memref<8x1x2x3x3xf32>) outs(%out : memref<1x8x1x5x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A transposed convolution's window runs backwards (o + 2 - k): loops.
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh + 2 - kh, ow + 2 - kw)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, c, m, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
// CHECK-LABEL: func.func @transposed
// CHECK-NOT: call
// CHECK: linalg.generic
func.func @transposed(%x: memref<1x2x3x9x9xf32>, %w: memref<2x3x4x3x3xf32>, %out: memref<1x2x4x7x7xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x2x3x9x9xf32>, memref<2x3x4x3x3xf32>) outs(%out : memref<1x2x4x7x7xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Not a product-sum (max pooling-like body): loops.
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh + kh, ow + kw)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, m, c, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
// CHECK-LABEL: func.func @not_a_conv
// CHECK-NOT: call
// CHECK: linalg.generic
func.func @not_a_conv(%x: memref<1x2x3x9x9xf32>, %w: memref<2x4x3x3x3xf32>, %out: memref<1x2x4x7x7xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x2x3x9x9xf32>, memref<2x4x3x3x3xf32>) outs(%out : memref<1x2x4x7x7xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Depthwise (one input channel per group): the depthwise kernel
// (depthwise-conv-kernel-call.mlir), not the grouped one.
#x = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, c, oh + kh, ow + kw)>
#w = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (g, m, c, kh, kw)>
#o = affine_map<(n, g, m, oh, ow, c, kh, kw) -> (n, g, m, oh, ow)>
// CHECK-LABEL: func.func @depthwise
// CHECK-NOT: qopt_kernel_conv2d_grouped_f32
// CHECK: call @qopt_kernel_conv2d_depthwise_f32
// CHECK-NOT: linalg.generic
func.func @depthwise(%x: memref<1x8x1x9x9xf32>, %w: memref<8x1x1x3x3xf32>, %out: memref<1x8x1x7x7xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x8x1x9x9xf32>, memref<8x1x1x3x3xf32>) outs(%out : memref<1x8x1x7x7xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
