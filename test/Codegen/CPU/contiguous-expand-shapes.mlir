// RUN: quant-opt %s --qopt-contiguous-expand-shapes --split-input-file | FileCheck %s

// Two dynamic sizes in one group (what expand-strided-metadata crashes on):
// a reinterpret_cast with row-major strides, static where the sizes are.
// CHECK-LABEL: func.func @two_dynamic
// CHECK: %[[S0:.*]] = arith.muli %arg2, %c64 : index
// CHECK: memref.reinterpret_cast %arg0 to offset: [0], sizes: [%arg1, %arg2, 4, 16], strides: [%[[S0]], 64, 16, 1] : memref<?x64xf32> to memref<?x?x4x16xf32>
func.func @two_dynamic(%a: memref<?x64xf32>, %d0: index, %d1: index) -> memref<?x?x4x16xf32> {
  %e = memref.expand_shape %a [[0, 1], [2, 3]] output_shape [%d0, %d1, 4, 16] : memref<?x64xf32> into memref<?x?x4x16xf32>
  return %e : memref<?x?x4x16xf32>
}

// -----

// One dynamic size per group: left alone (expand-strided-metadata handles
// it).
// CHECK-LABEL: func.func @left_alone
// CHECK: memref.expand_shape %arg0 {{\[}}[0, 1], [2]]
func.func @left_alone(%a: memref<?x64xf32>, %d0: index) -> memref<2x?x64xf32> {
  %e = memref.expand_shape %a [[0, 1], [2]] output_shape [2, %d0, 64] : memref<?x64xf32> into memref<2x?x64xf32>
  return %e : memref<2x?x64xf32>
}

// -----

// A strided source is left alone too (the upstream crash remains there).
// CHECK-LABEL: func.func @strided_source
// CHECK: memref.expand_shape %arg0
func.func @strided_source(%b: memref<?x64xf32, strided<[128, 1]>>, %d0: index, %d1: index) -> memref<?x?x64xf32, strided<[?, 128, 1]>> {
  %f = memref.expand_shape %b [[0, 1], [2]] output_shape [%d0, %d1, 64] : memref<?x64xf32, strided<[128, 1]>> into memref<?x?x64xf32, strided<[?, 128, 1]>>
  return %f : memref<?x?x64xf32, strided<[?, 128, 1]>>
}
