// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --cse --split-input-file | FileCheck %s

// MaxPool 2x2 stride 2 with the ReLU fused in (maximumf(x, 0)), as
// bufferization leaves it: one qopt_kernel_pool2d_f32 call (mode 0: max;
// n, c, oh, ow, kh, kw, sh, sw, dh, dw; x and out as address + strides;
// clamp 1 at 0.0's bits). The -inf fill stays; the window buffer goes.
#x = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#k = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#o = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @max_relu
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : i64
// CHECK: linalg.fill
// CHECK-NOT: memref.alloc() {{.*}}2x2xf32
// CHECK-NOT: linalg.generic
// CHECK: %[[N:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: call @qopt_kernel_pool2d_f32(%[[C0]], %[[N]], %[[C16]], %[[C8]], %[[C8]], %[[C2]], %[[C2]], %[[C2]], %[[C2]], %[[C1]], %[[C1]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C1]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C8]], %[[C1]], %[[C1]], %[[C0]])
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @max_relu(%x: memref<?x16x16x16xf32>) -> memref<?x16x8x8xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16x16x16xf32>
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %out = memref.alloc(%n) : memref<?x16x8x8xf32>
  linalg.fill ins(%ninf : f32) outs(%out : memref<?x16x8x8xf32>)
  %win = memref.alloc() : memref<2x2xf32>
  linalg.generic {indexing_maps = [#x, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %win : memref<?x16x16x16xf32>, memref<2x2xf32>) outs(%out : memref<?x16x8x8xf32>) {
  ^bb0(%in: f32, %w: f32, %acc: f32):
    %r = arith.maximumf %in, %zero : f32
    %m = arith.maximumf %acc, %r fastmath<reassoc> : f32
    linalg.yield %m : f32
  }
  memref.dealloc %win : memref<2x2xf32>
  return %out : memref<?x16x8x8xf32>
}

// -----

// AveragePool's sum, 3x2 window, strides (1, 3), dilations (2, 1), on a
// strided view: mode 1, no clamp; the view's strides are passed.
#x = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 + d4 * 2, d3 * 3 + d5)>
#k = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#o = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @sum_view
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : i64
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : i64
// CHECK: call @qopt_kernel_pool2d_f32(%[[C1]], %[[C1]], %[[C3]], %[[C5]], %[[C4]], %[[C3]], %[[C2]], %[[C1]], %[[C3]], %[[C2]], %[[C1]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C12]], %[[C1]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C4]], %[[C1]], %[[C0]], %[[C0]])
// CHECK-NOT: linalg.generic
func.func @sum_view(%big: memref<1x3x9x12xf32>, %out: memref<1x3x5x4xf32>) {
  %x = memref.subview %big[0, 0, 0, 0] [1, 3, 9, 11] [1, 1, 1, 1] : memref<1x3x9x12xf32> to memref<1x3x9x11xf32, strided<[324, 108, 12, 1]>>
  %win = memref.alloc() : memref<3x2xf32>
  linalg.generic {indexing_maps = [#x, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %win : memref<1x3x9x11xf32, strided<[324, 108, 12, 1]>>, memref<3x2xf32>) outs(%out : memref<1x3x5x4xf32>) {
  ^bb0(%in: f32, %w: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Not pools the kernel computes: a min pool, and a clamp by a value that
// is not a constant; both stay loops.
#x = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#k = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#o = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @not_pools
// CHECK-NOT: call @qopt_kernel_pool2d_f32
// CHECK: linalg.generic
// CHECK: arith.minimumf
// CHECK: linalg.generic
// CHECK: arith.maximumf
// CHECK-NOT: call @qopt_kernel_pool2d_f32
func.func @not_pools(%x: memref<1x2x8x8xf32>, %o1: memref<1x2x4x4xf32>, %o2: memref<1x2x4x4xf32>, %lo: f32) {
  %win = memref.alloc() : memref<2x2xf32>
  linalg.generic {indexing_maps = [#x, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %win : memref<1x2x8x8xf32>, memref<2x2xf32>) outs(%o1 : memref<1x2x4x4xf32>) {
  ^bb0(%in: f32, %w: f32, %acc: f32):
    %m = arith.minimumf %acc, %in : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#x, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %win : memref<1x2x8x8xf32>, memref<2x2xf32>) outs(%o2 : memref<1x2x4x4xf32>) {
  ^bb0(%in: f32, %w: f32, %acc: f32):
    %r = arith.maximumf %in, %lo : f32
    %m = arith.maximumf %acc, %r : f32
    linalg.yield %m : f32
  }
  memref.dealloc %win : memref<2x2xf32>
  return
}
