// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never" | FileCheck %s
// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_80 cubin=never" | FileCheck %s --check-prefix=SM80
// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never tensor-cores=false" | FileCheck %s --check-prefix=LOOPS

// A float16 MatMul in an NVPTX artifact for sm_90: a call of the runtime's
// qopt_cuda_matmul_h16 (Hopper TMA + wgmma kernels) with the call's stream
// as its last argument, and no tensor-core kernel of its own. For sm_80
// (and without tensor-cores) the generated kernels keep it.
// CHECK-LABEL: llvm.func @main
// CHECK: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// CHECK: %[[I:.*]] = llvm.ptrtoint %[[S]] : !llvm.ptr to i64
// CHECK: llvm.call @qopt_cuda_matmul_h16({{.*}}, %[[I]]) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: wmma
// SM80-NOT: qopt_cuda_matmul_h16
// SM80: wmma.mma.sync.aligned.row.row.m16n16k16.f32.f32
// SM80-NOT: qopt_cuda_matmul_h16
// LOOPS-NOT: qopt_cuda_matmul_h16
// LOOPS-NOT: wmma
// LOOPS: llvm.func @main
func.func @main(%x: tensor<32x64xf16> {onnx.name = "x"}, %w: tensor<64x128xf16> {onnx.name = "w"}) -> (tensor<32x128xf16> {onnx.name = "y"}) {
  %0 = tensor.empty() : tensor<32x128xf16>
  %z = arith.constant 0.0 : f16
  %1 = linalg.fill ins(%z : f16) outs(%0 : tensor<32x128xf16>) -> tensor<32x128xf16>
  %2 = linalg.matmul ins(%x, %w : tensor<32x64xf16>, tensor<64x128xf16>) outs(%1 : tensor<32x128xf16>) -> tensor<32x128xf16>
  return %2 : tensor<32x128xf16>
}
