// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never" | FileCheck %s
// RUN: quant-opt %s --qopt-nvptx-pipeline="artifact=true chip=sm_90 cubin=never" | FileCheck %s --check-prefix=NOLOOP

// A quantized attention as the ONNX importer gives it: a weight-only int8
// projection (qopt.qlinear), then the two batched float32 products Q·Kᵀ
// (K through a transpose) and P·V of the heads. In a quantized NVPTX
// artifact the batched products call qopt_cuda_matmul_f32 (the tensor-core
// kernels) as in a float one, on the call's stream, next to the quantized
// layer's qopt_cuda_matmul_w8: no generated matmul kernel is left.
// CHECK-LABEL: llvm.func @main
// CHECK: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// CHECK-DAG: %[[I:.*]] = llvm.ptrtoint %[[S]] : !llvm.ptr to i64
// CHECK-DAG: llvm.call @qopt_cuda_matmul_w8({{.*}}, %[[I]]) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// Q·Kᵀ: batch 2 x 4 heads, M = 8, N = 8, K = 16.
// CHECK-DAG: llvm.call @qopt_cuda_matmul_f32(%{{.*}}, %{{.*}}, %[[C8:.*]], %[[C8]], %{{.*}}, {{.*}}, %[[I]])
// P·V: M = 8, N = 16, K = 8.
// CHECK-DAG: llvm.call @qopt_cuda_matmul_f32(%{{.*}}, %{{.*}}, %[[C8]], %{{.*}}, %[[C8]], {{.*}}, %[[I]])
// CHECK-NOT: llvm.call @mgpuStreamSynchronize
// CHECK: llvm.call @mgpuStreamSynchronize(%[[S]])
// CHECK-NEXT: llvm.call @mgpuStreamDestroy(%[[S]])
// CHECK-NEXT: llvm.return
// Exactly two float calls (not one per head or batch).
// NOLOOP-COUNT-2: llvm.call @qopt_cuda_matmul_f32(
// NOLOOP-NOT: llvm.call @qopt_cuda_matmul_f32(
#q = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#k = affine_map<(b, h, m, n, k) -> (b, h, k, n)>
#o = affine_map<(b, h, m, n, k) -> (b, h, m, n)>
func.func @main(%x: tensor<16x64xf32> {onnx.name = "x"}, %w: tensor<64x64xi8> {onnx.name = "w"}, %s: tensor<64xf32> {onnx.name = "s"}, %kin: tensor<2x8x4x16xf32> {onnx.name = "k"}, %v: tensor<2x4x8x16xf32> {onnx.name = "v"}) -> (tensor<2x4x8x16xf32> {onnx.name = "y"}) {
  %q2 = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<16x64xf32>, tensor<64x64xi8>, tensor<64xf32>) -> tensor<16x64xf32>
  %q = tensor.expand_shape %q2 [[0, 1], [2, 3]] output_shape [2, 8, 4, 16] : tensor<16x64xf32> into tensor<2x8x4x16xf32>
  %qs0 = tensor.empty() : tensor<2x4x8x16xf32>
  %qs = linalg.transpose ins(%q : tensor<2x8x4x16xf32>) outs(%qs0 : tensor<2x4x8x16xf32>) permutation = [0, 2, 1, 3]
  %kt0 = tensor.empty() : tensor<2x4x16x8xf32>
  %kt = linalg.transpose ins(%kin : tensor<2x8x4x16xf32>) outs(%kt0 : tensor<2x4x16x8xf32>) permutation = [0, 2, 3, 1]
  %zero = arith.constant 0.0 : f32
  %s0 = tensor.empty() : tensor<2x4x8x8xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%s0 : tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %scores = linalg.generic {indexing_maps = [#q, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%qs, %kt : tensor<2x4x8x16xf32>, tensor<2x4x16x8xf32>) outs(%sf : tensor<2x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8x8xf32>
  %y0 = tensor.empty() : tensor<2x4x8x16xf32>
  %yf = linalg.fill ins(%zero : f32) outs(%y0 : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  %y = linalg.generic {indexing_maps = [#q, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%scores, %v : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) outs(%yf : tensor<2x4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8x16xf32>
  return %y : tensor<2x4x8x16xf32>
}
