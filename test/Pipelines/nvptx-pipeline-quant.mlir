// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never" | FileCheck %s
// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never kernel-calls=false" | FileCheck %s --check-prefix=LOOPS

// Weight-only int8 and int4 layers in an NVPTX artifact (weights as
// arguments: splat constants would be folded into the contraction): the runtime's GPU matmuls (qopt-gpu-kernel-calls), each given
// the call's stream as its last argument (qopt-gpu-one-stream), queued
// with the generated kernels; one synchronize before the return.
// CHECK-LABEL: llvm.func @main
// CHECK: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// CHECK-DAG: %[[I1:.*]] = llvm.ptrtoint %[[S]] : !llvm.ptr to i64
// CHECK-DAG: llvm.call @qopt_cuda_matmul_w8({{.*}}, %[[I1]]) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-DAG: llvm.call @qopt_cuda_matmul_w4({{.*}}, %[[I1]]) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: llvm.call @mgpuStreamSynchronize
// CHECK: llvm.call @mgpuStreamSynchronize(%[[S]])
// CHECK-NEXT: llvm.call @mgpuStreamDestroy(%[[S]])
// CHECK-NEXT: llvm.return
// kernel-calls=false: generated kernels only.
// LOOPS-NOT: qopt_cuda_matmul
func.func @main(%x: tensor<2x64xf32> {onnx.name = "x"}, %w: tensor<16x64xi8> {onnx.name = "w"}, %s: tensor<16xf32> {onnx.name = "s"}, %w4: tensor<16x32xi8> {onnx.name = "w4"}, %s4: tensor<16x2xf32> {onnx.name = "s4"}) -> (tensor<2x16xf32> {onnx.name = "a"}, tensor<2x16xf32> {onnx.name = "b"}) {
  %a = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<2x64xf32>, tensor<16x64xi8>, tensor<16xf32>) -> tensor<2x16xf32>
  %b = qopt.qlinear %x, %w4 scale %s4 {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<2x64xf32>, tensor<16x32xi8>, tensor<16x2xf32>) -> tensor<2x16xf32>
  return %a, %b : tensor<2x16xf32>, tensor<2x16xf32>
}
