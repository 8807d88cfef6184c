// RUN: quant-opt %s --qopt-gpu-managed-memory --split-input-file -verify-diagnostics | FileCheck %s

// Buffers become managed memory; the argument and the constant are copied
// in at entry, the result copied out to host memory, by gpu.memcpy (DMA; the
// buffers are contiguous); everything managed is freed (async dealloc form,
// which gpu-to-llvm lowers).
// CHECK-LABEL: func.func @f
// CHECK: %[[A:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[C0:.*]] = gpu.memcpy async [%[[T0]]] %[[A]], %arg0
// CHECK: gpu.wait [%[[C0]]]
// CHECK: %[[G:.*]] = memref.get_global @c
// CHECK: %[[GM:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[GM]], %[[G]]
// CHECK: %[[B:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: linalg.add ins(%[[A]], %[[GM]] : {{.*}}) outs(%[[B]] : memref<4xf32>)
// CHECK: %[[H:.*]] = memref.alloc() : memref<4xf32>
// CHECK: gpu.memcpy async [%{{.*}}] %[[H]], %[[B]]
// CHECK: gpu.dealloc async {{.*}} %[[B]]
// CHECK: gpu.dealloc async {{.*}} %[[A]]
// CHECK: gpu.dealloc async {{.*}} %[[GM]]
// CHECK: return %[[H]]
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

