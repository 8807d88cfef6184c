// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --qopt-gpu-kernel-calls --split-input-file | FileCheck %s
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --qopt-gpu-kernel-calls="precision=tf32" --split-input-file | FileCheck %s --check-prefix=TF32
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --qopt-gpu-kernel-calls="precision=fma" --split-input-file | FileCheck %s --check-prefix=FMA
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --qopt-gpu-kernel-calls="float-matmuls=false" --split-input-file | FileCheck %s --check-prefix=OFF

// A 2:4 qopt.linear on the GPU: qopt_kernel_matmul_sparse24_f32's 11
// operands (M, N, K; x, its row and column strides; values, meta; C and its
// strides) plus the precision (0 f32 = bf16 hi + lo, 1 tf32 = f16, 2 fma)
// and the stream (0 until qopt-gpu-one-stream).
// CHECK: func.func private @qopt_cuda_matmul_sparse24_f32(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @two_of_four
// CHECK-NOT: library_call
// CHECK: %[[P:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[S:.*]] = arith.constant 0 : i64
// CHECK-NEXT: call @qopt_cuda_matmul_sparse24_f32(%c3_i64, %c2_i64, %c8_i64, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %c2_i64, %c1_i64, %[[P]], %[[S]])
// CHECK-NOT: qopt_kernel_matmul_sparse24
// TF32-LABEL: func.func @two_of_four
// TF32: %[[P:.*]] = arith.constant 1 : i64
// TF32: call @qopt_cuda_matmul_sparse24_f32({{.*}}, %[[P]], %{{.*}})
// FMA-LABEL: func.func @two_of_four
// FMA: %[[P:.*]] = arith.constant 2 : i64
// FMA: call @qopt_cuda_matmul_sparse24_f32({{.*}}, %[[P]], %{{.*}})
// Without float-matmuls the 2:4 product stays generated loops.
// OFF-LABEL: func.func @two_of_four
// OFF: linalg.generic
// OFF-NOT: library_call
// OFF-NOT: qopt_cuda_matmul_sparse24_f32
func.func @two_of_four(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 4.0], [0.0, 5.0, 6.0, 0.0, 7.0, 0.0, 0.0, 8.0]]> : tensor<2x8xf32>
  %y = qopt.linear %x, %w {weight_name = "fc", qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A W8A8 qopt.qlinear with a 2:4 int8 weight: qopt_kernel_matmul_sparse24_s8s8's
// 11 operands plus the stream, also without float-matmuls (exact int32 sums
// on int8 mma.sp; no precision).
// CHECK: func.func private @qopt_cuda_matmul_sparse24_s8s8(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @w8a8_two_of_four
// CHECK: %[[S:.*]] = arith.constant 0 : i64
// CHECK-NEXT: call @qopt_cuda_matmul_sparse24_s8s8(%c3_i64{{.*}}, %c2_i64{{.*}}, %c8_i64{{.*}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[S]])
// CHECK-NOT: qopt_kernel_matmul_sparse24
// OFF-LABEL: func.func @w8a8_two_of_four
// OFF: call @qopt_cuda_matmul_sparse24_s8s8(
func.func @w8a8_two_of_four(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1, 0, 2, 0, 0, 3, 0, 4], [0, 5, 6, 0, 7, 0, 0, 8]]> : tensor<2x8xi8>
  %s = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %y = qopt.qlinear %x, %w scale %s {weight_name = "fc", weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>, qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
