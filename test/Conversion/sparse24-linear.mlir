// RUN: quant-opt %s --convert-qopt-to-linalg --split-input-file | FileCheck %s
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s --check-prefix=CALL

// A qopt.linear that qopt-prune made 2:4 stores its weight as values
// [N, K/8, 4] + 2-bit positions [N, K/8] and names the runtime's 2:4
// kernel; x is viewed [M, K/8, 8].
// Row 0: groups [1 0 2 0] [0 3 0 4]: positions (0, 2) and (1, 3): nibbles
// 0b1000 = 8 and 0b1101 = 13: byte 8 | 13 << 4 = 216 = -40 as i8.
// CHECK-LABEL: func.func @two_of_four
// CHECK-DAG: arith.constant dense_resource<fc.2of4.values> : tensor<2x1x4xf32>
// CHECK-DAG: arith.constant dense_resource<fc.2of4.meta> : tensor<2x1xi8>
// CHECK: tensor.expand_shape %arg0 {{\[}}[0], [1, 2]] output_shape [3, 1, 8] : tensor<3x8xf32> into tensor<3x1x8xf32>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK-SAME: library_call = "qopt_kernel_matmul_sparse24"
// CHECK: arith.select
// CHECK: fc.2of4.meta: "0x01000000D8C9"
// CALL-LABEL: func.func @two_of_four
// CALL: call @qopt_kernel_matmul_sparse24_f32({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CALL-NOT: library_call
func.func @two_of_four(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 4.0], [0.0, 5.0, 6.0, 0.0, 7.0, 0.0, 0.0, 8.0]]> : tensor<2x8xf32>
  %y = qopt.linear %x, %w {weight_name = "fc", qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A weight that does not pack (three nonzeros in a group, or K not a
// multiple of 8) stays a dense product.
// CHECK-LABEL: func.func @not_packable
// CHECK-NOT: qopt_kernel_matmul_sparse24
// CHECK: linalg.
func.func @not_packable(%x: tensor<3x8xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 4.0]]> : tensor<1x8xf32>
  %y = qopt.linear %x, %w {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<1x8xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
