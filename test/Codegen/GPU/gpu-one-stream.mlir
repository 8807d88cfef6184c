// RUN: quant-opt %s --qopt-gpu-one-stream | FileCheck %s

// After gpu-to-llvm: one stream for the function. The copy's own stream
// (create / synchronize / destroy) and the synchronous launch move onto it;
// allocations, frees and the runtime's matmul name it; the host waits only
// before reading a managed buffer (not a stack slot) and before returning.
// CHECK-LABEL: llvm.func @f
// CHECK-NEXT: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// CHECK: llvm.call @mgpuMemAlloc(%{{.*}}, %[[S]], %{{.*}})
// CHECK-NEXT: llvm.call @mgpuMemcpy(%{{.*}}, %{{.*}}, %{{.*}}, %[[S]])
// CHECK-NEXT: gpu.launch_func <%[[S]] : !llvm.ptr> @kernels::@k
// CHECK-NEXT: %[[I:.*]] = llvm.ptrtoint %[[S]] : !llvm.ptr to i64
// CHECK-NEXT: llvm.call @qopt_cuda_matmul_w8({{.*}}, %[[I]])
// CHECK-NEXT: llvm.alloca
// CHECK-NEXT: llvm.store
// CHECK-NEXT: llvm.load
// CHECK-NEXT: llvm.call @mgpuStreamSynchronize(%[[S]])
// CHECK-NEXT: llvm.load %[[BUF:.*]] : !llvm.ptr -> f32
// CHECK-NEXT: gpu.launch_func <%[[S]] : !llvm.ptr>
// CHECK-NEXT: llvm.call @mgpuMemFree(%{{.*}}, %[[S]])
// CHECK-NEXT: llvm.call @mgpuStreamSynchronize(%[[S]])
// CHECK-NEXT: llvm.call @mgpuStreamDestroy(%[[S]])
// CHECK-NEXT: llvm.return
// CHECK-NOT: mgpuStreamCreate
// A function with no GPU work is left alone.
// CHECK-LABEL: llvm.func @host
// CHECK-NOT: mgpu
// CHECK: llvm.return
module attributes {gpu.container_module} {
  gpu.binary @kernels [#gpu.object<#nvvm.target, "">]
  llvm.func @mgpuStreamCreate() -> !llvm.ptr
  llvm.func @mgpuStreamSynchronize(!llvm.ptr)
  llvm.func @mgpuStreamDestroy(!llvm.ptr)
  llvm.func @mgpuMemAlloc(i64, !llvm.ptr, i8) -> !llvm.ptr
  llvm.func @mgpuMemFree(!llvm.ptr, !llvm.ptr)
  llvm.func @mgpuMemcpy(!llvm.ptr, !llvm.ptr, i64, !llvm.ptr)
  llvm.func @qopt_cuda_matmul_w8(i64, i64)
  llvm.func @f(%host: !llvm.ptr, %n: i64) -> f32 {
    %null = llvm.mlir.zero : !llvm.ptr
    %one = llvm.mlir.constant(1 : i8) : i8
    %c1 = llvm.mlir.constant(1 : index) : i64
    %zero = llvm.mlir.constant(0 : i64) : i64
    %buf = llvm.call @mgpuMemAlloc(%n, %null, %one) : (i64, !llvm.ptr, i8) -> !llvm.ptr
    %s = llvm.call @mgpuStreamCreate() : () -> !llvm.ptr
    llvm.call @mgpuMemcpy(%buf, %host, %n, %s) : (!llvm.ptr, !llvm.ptr, i64, !llvm.ptr) -> ()
    llvm.call @mgpuStreamSynchronize(%s) : (!llvm.ptr) -> ()
    llvm.call @mgpuStreamDestroy(%s) : (!llvm.ptr) -> ()
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) : i64 args(%buf : !llvm.ptr)
    llvm.call @qopt_cuda_matmul_w8(%n, %zero) : (i64, i64) -> ()
    %slot = llvm.alloca %c1 x i64 : (i64) -> !llvm.ptr
    llvm.store %n, %slot : i64, !llvm.ptr
    %back = llvm.load %slot : !llvm.ptr -> i64
    %v = llvm.load %buf : !llvm.ptr -> f32
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) : i64 args(%buf : !llvm.ptr)
    llvm.call @mgpuMemFree(%buf, %null) : (!llvm.ptr, !llvm.ptr) -> ()
    llvm.return %v : f32
  }
  llvm.func @host(%p: !llvm.ptr) -> f32 {
    %v = llvm.load %p : !llvm.ptr -> f32
    llvm.return %v : f32
  }
}
