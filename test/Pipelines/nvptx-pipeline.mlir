// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never" | FileCheck %s
// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never" | FileCheck %s --check-prefix=STREAM
// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never one-stream=false" | FileCheck %s --check-prefix=SYNC
// RUN: rm -rf %t && quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 write-ptx=%t" | FileCheck %s --check-prefix=FATBIN
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t/main_kernel.ptx -o %t/main_kernel.cubin %}
// RUN: FileCheck %s --check-prefix=PTX < %t/main_kernel.ptx

// A linear layer + ReLU for NVIDIA GPUs: kernels outlined and
// serialized to PTX for sm_90 (embedded as gpu.binary), launched from the
// host through the runtime's mgpu* functions; buffers in managed memory; the
// artifact's signature names target cuda.
// Kernel math is native here (no libdevice calls to link).
// CHECK-NOT: __nv_
// CHECK-DAG: llvm.mlir.global {{.*}}@qopt_artifact_signature{{.*}}target cuda
// CHECK-DAG: gpu.binary @main_kernel {{.*}}#nvvm.target<O = 3, chip = "sm_90"{{.*}}.target sm_90
// CHECK-DAG: llvm.call @mgpuMemAlloc
// CHECK-DAG: llvm.call @mgpuMemFree
// CHECK-DAG: llvm.func @qopt_artifact_main
// One stream for the call (qopt-gpu-one-stream): the launch queues on it, and
// the host synchronizes once, before returning.
// STREAM: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// STREAM-NOT: mgpuStreamCreate
// STREAM: gpu.launch_func <%[[S]] : !llvm.ptr> @main_kernel::@main_kernel blocks in
// STREAM-NOT: mgpuStreamCreate
// STREAM: llvm.call @mgpuStreamSynchronize(%[[S]])
// STREAM-NEXT: llvm.call @mgpuStreamDestroy(%[[S]])
// STREAM-NEXT: llvm.return
// one-stream=false: the launch is synchronous (the LLVM translation makes
// a stream per launch).
// SYNC: gpu.launch_func  @main_kernel::@main_kernel blocks in
// With the CUDA toolkit present (cubin=auto), kernel modules are fatbins
// (cubin + PTX); the PTX written for inspection assembles with ptxas.
// FATBIN: gpu.binary @main_kernel {{.*}}#nvvm.target<O = 3, chip = "sm_90"
// FATBIN-SAME: {{"P\\EDU\\BA|assembly = }}
// PTX: .target sm_90
// PTX: .entry main_kernel(
func.func @main(%x: tensor<4x32xf32> {onnx.name = "x"}) -> (tensor<4x16xf32> {onnx.name = "y"}) {
  %w = arith.constant dense<0.5> : tensor<16x32xf32>
  %y = qopt.linear %x, %w : (tensor<4x32xf32>, tensor<16x32xf32>) -> tensor<4x16xf32>
  %z = arith.constant dense<0.0> : tensor<4x16xf32>
  %t = arith.maximumf %y, %z : tensor<4x16xf32>
  return %t : tensor<4x16xf32>
}
