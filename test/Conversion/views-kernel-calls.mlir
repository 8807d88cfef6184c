// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls | FileCheck %s

// A kernel call placed on tensors by qopt-fuse-attention / qopt-fuse-norms
// (qopt_views.NAME.K on memref views) becomes NAME's C call: each view is
// its aligned address plus offset (bytes) and its element strides, i64
// operands stay in place; the views declaration goes.
// CHECK-NOT: qopt_views
// CHECK: func.func private @qopt_kernel_norm_f32(i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @norm
// CHECK: %[[XB:.*]], %[[XOFF:.*]], %{{.*}}:2, %[[XS:.*]]:2 = memref.extract_strided_metadata %arg0
// CHECK: %[[XP:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK: %[[XBYTES:.*]] = arith.muli %[[XOFF]], %c4
// CHECK: %[[XA:.*]] = arith.addi %[[XP]], %[[XBYTES]]
// CHECK: %[[X:.*]] = arith.index_cast %[[XA]] : index to i64
// CHECK: %[[XS0:.*]] = arith.index_cast %[[XS]]#0 : index to i64
// CHECK: %[[XS1:.*]] = arith.index_cast %[[XS]]#1 : index to i64
// CHECK: memref.extract_aligned_pointer_as_index %arg1
// CHECK: %[[G:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: %[[GS:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: call @qopt_kernel_norm_f32(%c3_i64, %[[X]], %[[XS0]], %[[XS1]], %[[G]], %[[GS]], %c0_i64, %c7_i64)
// CHECK-NOT: call @qopt_views
func.func private @qopt_views.qopt_kernel_norm_f32.0(i64, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, i64, i64)
func.func @norm(%x: memref<?x?xf32, strided<[?, ?], offset: ?>>, %g: memref<?xf32, strided<[?], offset: ?>>) {
  %c3 = arith.constant 3 : i64
  %c0 = arith.constant 0 : i64
  %c7 = arith.constant 7 : i64
  call @qopt_views.qopt_kernel_norm_f32.0(%c3, %x, %g, %c0, %c7) : (i64, memref<?x?xf32, strided<[?, ?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, i64, i64) -> ()
  return
}
