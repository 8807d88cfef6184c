// RUN: quant-opt %s --qopt-gpu-managed-memory="result-hook=true" --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-gpu-managed-memory --split-input-file | FileCheck %s --check-prefix=OFF

// result-hook: a public function's result i goes into the buffer
// qopt_cuda_result(i, bytes) returns (host memory in qopt_model_run, the
// caller's device buffer in qopt_cuda_model_run), by gpu.memcpy; the
// managed buffers are freed as before.
// CHECK: func.func private @qopt_cuda_result(i64, i64) -> i64
// CHECK-LABEL: func.func @two
// CHECK: linalg.copy ins(%{{.*}} : memref<?x8xf32>) outs(%[[B:.*]] : memref<?x8xf32>)
// CHECK: %[[D0:.*]] = memref.dim %[[B]], %c0
// CHECK: %[[N:.*]] = arith.index_cast %[[D0]] : index to i64
// CHECK: %[[E:.*]] = arith.muli %{{.*}}, %[[N]] : i64
// CHECK: %[[E2:.*]] = arith.muli %[[E]], %c8_i64 : i64
// CHECK: %[[BYTES:.*]] = arith.muli %[[E2]], %c4_i64{{.*}} : i64
// CHECK: %[[R0:.*]] = call @qopt_cuda_result(%c0_i64{{.*}}, %[[BYTES]])
// CHECK: llvm.inttoptr %[[R0]] : i64 to !llvm.ptr
// CHECK: %[[H0:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<?x8xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[H0]], %[[B]]
// The second result: index 1, 4 x 4 bytes.
// CHECK: %[[S1:.*]] = arith.muli %{{.*}}, %c4_i64{{.*}} : i64
// CHECK: %[[S2:.*]] = arith.muli %[[S1]], %c4_i64{{.*}} : i64
// CHECK: %[[R1:.*]] = call @qopt_cuda_result(%c1_i64{{.*}}, %[[S2]])
// CHECK: %[[H1:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<4xi32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[H1]], %{{.*}}
// CHECK-NOT: memref.alloc(
// CHECK: gpu.dealloc async {{.*}} %[[B]]
// CHECK: return %[[H0]], %[[H1]]
// OFF-NOT: qopt_cuda_result
// OFF-LABEL: func.func @two
// OFF: memref.alloc(%{{.*}}) : memref<?x8xf32>
func.func @two(%x: memref<?x8xf32>, %y: memref<4xi32>) -> (memref<?x8xf32>, memref<4xi32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %b = memref.alloc(%n) : memref<?x8xf32>
  linalg.copy ins(%x : memref<?x8xf32>) outs(%b : memref<?x8xf32>)
  %c = memref.alloc() : memref<4xi32>
  linalg.copy ins(%y : memref<4xi32>) outs(%c : memref<4xi32>)
  return %b, %c : memref<?x8xf32>, memref<4xi32>
}

// -----

// A strided result view is first gathered into a contiguous managed buffer
// on the host (the destination may be device memory), then copied; the
// gathered buffer is freed. Private functions keep host results.
// CHECK-LABEL: func.func @strided
// CHECK: %[[R:.*]] = call @qopt_cuda_result(%c0_i64{{.*}}, %{{.*}})
// CHECK: %[[H:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<2x4xf32>
// CHECK: %[[G:.*]] = gpu.alloc  host_shared () : memref<2x4xf32>
// CHECK: memref.copy %{{.*}}, %[[G]]
// CHECK: gpu.memcpy async [%{{.*}}] %[[H]], %[[G]]
// CHECK: %[[HC:.*]] = memref.cast %[[H]] : memref<2x4xf32> to memref<2x4xf32, strided<[?, ?], offset: ?>>
// CHECK: gpu.dealloc async {{.*}} %[[G]]
// CHECK: return %[[HC]]
// CHECK-LABEL: func.func private @inner
// CHECK-NOT: qopt_cuda_result
// CHECK: memref.alloc() : memref<4xf32>
func.func @strided(%x: memref<4x4xf32>) -> memref<2x4xf32, strided<[?, ?], offset: ?>> {
  %b = memref.alloc() : memref<4x4xf32>
  linalg.copy ins(%x : memref<4x4xf32>) outs(%b : memref<4x4xf32>)
  %v = memref.subview %b[1, 0] [2, 4] [1, 1] : memref<4x4xf32> to memref<2x4xf32, strided<[4, 1], offset: 4>>
  %d = memref.cast %v : memref<2x4xf32, strided<[4, 1], offset: 4>> to memref<2x4xf32, strided<[?, ?], offset: ?>>
  return %d : memref<2x4xf32, strided<[?, ?], offset: ?>>
}
func.func private @inner(%x: memref<4xf32>) -> memref<4xf32> {
  %b = memref.alloc() : memref<4xf32>
  linalg.copy ins(%x : memref<4xf32>) outs(%b : memref<4xf32>)
  return %b : memref<4xf32>
}
