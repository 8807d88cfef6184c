// RUN: quant-opt %s --qopt-gpu-managed-memory --split-input-file -verify-diagnostics | FileCheck %s
// RUN: quant-opt %s --qopt-gpu-managed-memory="cache-constants=false" --split-input-file -verify-diagnostics | FileCheck %s --check-prefix=COPY

// Buffers become managed memory; the argument is copied in at entry and
// the result copied out to host memory by gpu.memcpy (DMA; the buffers are
// contiguous); the constant is the runtime's cached GPU copy,
// qopt_cuda_constant(host address, 16 bytes), as a memref descriptor (not
// freed: it lives as long as the artifact); everything managed is freed
// (async dealloc form, which gpu-to-llvm lowers).
// CHECK: func.func private @qopt_cuda_constant(i64, i64) -> i64
// CHECK-LABEL: func.func @f
// CHECK: %[[A:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[C0:.*]] = gpu.memcpy async [%[[T0]]] %[[A]], %arg0
// CHECK: gpu.wait [%[[C0]]]
// CHECK: %[[G:.*]] = memref.get_global @c
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[G]]
// CHECK: %[[PI:.*]] = arith.index_cast %[[P]] : index to i64
// CHECK: %[[D:.*]] = call @qopt_cuda_constant(%[[PI]], %c16_i64)
// CHECK: %[[DP:.*]] = llvm.inttoptr %[[D]] : i64 to !llvm.ptr
// CHECK: llvm.insertvalue %[[DP]], %{{.*}}[0]
// CHECK: llvm.insertvalue %[[DP]], %{{.*}}[1]
// CHECK: %[[GM:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)> to memref<4xf32>
// CHECK: %[[B:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: linalg.add ins(%[[A]], %[[GM]] : {{.*}}) outs(%[[B]] : memref<4xf32>)
// CHECK: %[[H:.*]] = memref.alloc() : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[H]], %[[B]]
// CHECK: gpu.dealloc async {{.*}} %[[B]]
// CHECK: gpu.dealloc async {{.*}} %[[A]]
// CHECK-NOT: gpu.dealloc
// CHECK: return %[[H]]
// With cache-constants=false the constant is copied into a managed buffer
// on every call, and freed.
// COPY-LABEL: func.func @f
// COPY-NOT: qopt_cuda_constant
// COPY: %[[G:.*]] = memref.get_global @c
// COPY: %[[GM:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// COPY: gpu.memcpy async [%{{.*}}] %[[GM]], %[[G]]
// COPY: gpu.dealloc async {{.*}} %[[GM]]
memref.global "private" constant @c : memref<4xf32> = dense<1.0>
func.func @f(%x: memref<4xf32>) -> memref<4xf32> {
  %c = memref.get_global @c : memref<4xf32>
  %y = memref.alloc() : memref<4xf32>
  linalg.add ins(%x, %c : memref<4xf32>, memref<4xf32>) outs(%y : memref<4xf32>)
  return %y : memref<4xf32>
}

// -----

func.func @stack() {
  // expected-error @+1 {{qopt-gpu-managed-memory: stack buffers are not reachable from GPU kernels}}
  %a = memref.alloca() : memref<4xf32>
  return
}

