// RUN: quant-opt %s --qopt-gpu-kernel-calls --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-gpu-kernel-calls="max-int8-rows=2" --split-input-file | FileCheck %s --check-prefix=TWO

// Weight-only int8: the CPU kernel's operands (sizes; x, w, scale and C with
// their strides) plus a trailing stream, 0 until qopt-gpu-one-stream.
// CHECK-LABEL: func.func private @qopt_cuda_matmul_w8(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @w8
// CHECK-NOT: linalg.generic
// CHECK: %[[Z:.*]] = arith.constant 0 : i64
// CHECK: call @qopt_cuda_matmul_w8(%c2_i64, %c16_i64, %c64_i64, %{{.*}}, %c64_i64, %c1_i64, %{{.*}}, %c64_i64, %c1_i64, %{{.*}}, %c1_i64, %{{.*}}, %c16_i64, %c1_i64, %[[Z]])
// CHECK-NOT: qopt_kernel_matmul
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#s = affine_map<(m, n, k) -> (n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @w8(%x: memref<2x64xf32>, %w: memref<16x64xi8>, %s: memref<16xf32>, %c: memref<2x16xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #s, #c], iterator_types = ["parallel", "parallel", "reduction"], library_call = "qopt_kernel_matmul_w8"}
      ins(%x, %w, %s : memref<2x64xf32>, memref<16x64xi8>, memref<16xf32>) outs(%c : memref<2x16xf32>) {
  ^bb0(%a: f32, %b: i8, %sc: f32, %acc: f32):
    %bf = arith.sitofp %b : i8 to f32
    %d = arith.mulf %bf, %sc : f32
    %p = arith.mulf %a, %d : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// W8A8: decode shapes (M <= max-int8-rows) go to the GEMV kernel; larger
// ones lose the tag and stay with the tensor-core lowering.
// CHECK-LABEL: func.func @int8
// CHECK: call @qopt_cuda_matmul_s8s8(%c4_i64,
// CHECK: linalg.generic
// CHECK-NOT: library_call
// CHECK-SAME: ins(%arg3, %arg1 : memref<32x64xi8>
// TWO-LABEL: func.func @int8
// TWO-NOT: call @qopt_cuda_matmul_s8s8
// TWO-COUNT-2: linalg.generic
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @int8(%x: memref<4x64xi8>, %w: memref<16x64xi8>, %c: memref<4x16xi32>,
                %xl: memref<32x64xi8>, %cl: memref<32x16xi32>) {
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"], library_call = "qopt_kernel_matmul_s8s8"}
      ins(%x, %w : memref<4x64xi8>, memref<16x64xi8>) outs(%c : memref<4x16xi32>) {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %ai = arith.extsi %a : i8 to i32
    %bi = arith.extsi %b : i8 to i32
    %p = arith.muli %ai, %bi : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"], library_call = "qopt_kernel_matmul_s8s8"}
      ins(%xl, %w : memref<32x64xi8>, memref<16x64xi8>) outs(%cl : memref<32x16xi32>) {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %ai = arith.extsi %a : i8 to i32
    %bi = arith.extsi %b : i8 to i32
    %p = arith.muli %ai, %bi : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}

// -----

// W8A8 with a dynamic M: decided at run time.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[M:.*]] = memref.dim %arg0, %c0
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %[[M]], %c16
// CHECK: scf.if %[[SMALL]] {
// CHECK: call @qopt_cuda_matmul_u8s8(
// CHECK: } else {
// CHECK: linalg.generic
// CHECK-NOT: library_call
// CHECK-SAME: ins(%arg0, %arg1
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @dynamic(%x: memref<?x64xi8>, %w: memref<16x64xi8>, %c: memref<?x16xi32>) {
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"], library_call = "qopt_kernel_matmul_u8s8"}
      ins(%x, %w : memref<?x64xi8>, memref<16x64xi8>) outs(%c : memref<?x16xi32>) {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %ai = arith.extui %a : i8 to i32
    %bi = arith.extsi %b : i8 to i32
    %p = arith.muli %ai, %bi : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}

// -----

// Ternary with int8 activations: K % 64 == 0 takes the kernel (x viewed as
// [M, K/4, 4], per-row scales, packed codes, i32 C); K = 8 keeps the
// generic lowering.
// CHECK-LABEL: func.func @ternary
// CHECK: call @qopt_cuda_matmul_s8t2(%c3_i64, %c8_i64, %c64_i64,
// CHECK: linalg.generic
// CHECK-NOT: library_call
// CHECK-SAME: ins(%arg4, %arg1, %arg5
#x = affine_map<(m, n, b, j) -> (m, b, j)>
#s = affine_map<(m, n, b, j) -> (m)>
#w = affine_map<(m, n, b, j) -> (n, b)>
#c = affine_map<(m, n, b, j) -> (m, n)>
func.func @ternary(%x: memref<3x16x4xf32>, %s: memref<3xf32>, %w: memref<8x16xi8>, %c: memref<3x8xi32>,
                   %xs: memref<3x2x4xf32>, %ws: memref<8x2xi8>, %cs: memref<3x8xi32>) {
  linalg.generic {indexing_maps = [#x, #s, #w, #c], iterator_types = ["parallel", "parallel", "reduction", "reduction"], library_call = "qopt_kernel_matmul_s8t2"}
      ins(%x, %s, %w : memref<3x16x4xf32>, memref<3xf32>, memref<8x16xi8>) outs(%c : memref<3x8xi32>) {
  ^bb0(%a: f32, %sc: f32, %b: i8, %acc: i32):
    %v = arith.mulf %a, %sc : f32
    %q = arith.fptosi %v : f32 to i32
    %bi = arith.extsi %b : i8 to i32
    %p = arith.muli %q, %bi : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  linalg.generic {indexing_maps = [#x, #s, #w, #c], iterator_types = ["parallel", "parallel", "reduction", "reduction"], library_call = "qopt_kernel_matmul_s8t2"}
      ins(%xs, %s, %ws : memref<3x2x4xf32>, memref<3xf32>, memref<8x2xi8>) outs(%cs : memref<3x8xi32>) {
  ^bb0(%a: f32, %sc: f32, %b: i8, %acc: i32):
    %v = arith.mulf %a, %sc : f32
    %q = arith.fptosi %v : f32 to i32
    %bi = arith.extsi %b : i8 to i32
    %p = arith.muli %q, %bi : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}
