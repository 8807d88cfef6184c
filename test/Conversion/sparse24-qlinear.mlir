// RUN: quant-opt %s --convert-qopt-to-linalg --split-input-file | FileCheck %s
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s --check-prefix=CALL

// A W8A8 qopt.qlinear carrying qopt-prune's 2:4 pattern stores its int8
// weight as int8 values [N, K/8, 4] + 2-bit positions [N, K/8] (the f32
// 2:4 layout) and names the runtime's int8 2:4 kernel; the quantized x is
// viewed [M, K/8, 8] and the i32 product feeds the usual epilogue.
// Row 0: groups [1 0 2 0] [0 3 0 4]: positions (0, 2) and (1, 3): byte
// 8 | 13 << 4 = 0xD8; row 1: [0 5 6 0] [7 0 0 8]: (1, 2), (0, 3): 0xC9.
// CHECK-LABEL: func.func @dynamic_int8
// CHECK-DAG: arith.constant dense_resource<fc.2of4.values> : tensor<2x1x4xi8>
// CHECK-DAG: arith.constant dense_resource<fc.2of4.meta> : tensor<2x1xi8>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [3, 1, 8] : tensor<3x8xi8> into tensor<3x1x8xi8>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK-SAME: library_call = "qopt_kernel_matmul_sparse24_s8s8"
// CHECK: arith.extsi
// CHECK: arith.muli
// CHECK: arith.select
// CHECK: arith.addi
// CHECK: arith.sitofp
// CHECK: fc.2of4.values: "0x010000000102030405060708"
// CHECK: fc.2of4.meta: "0x01000000D8C9"
// CALL-LABEL: func.func @dynamic_int8
// CALL: call @qopt_kernel_matmul_sparse24_s8s8({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CALL-NOT: qopt_kernel_matmul_s8s8
func.func @dynamic_int8(%x: tensor<3x8xf32>, %s: tensor<2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1, 0, 2, 0, 0, 3, 0, 4], [0, 5, 6, 0, 7, 0, 0, 8]]> : tensor<2x8xi8>
  %y = qopt.qlinear %x, %w scale %s {weight_name = "fc", weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>, qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A static uint8 input (zero point 3) calls the u8s8 form; the zero point
// correction uses the weight's row sums (1+2+3+4, 5+6+7+8), as dense.
// CHECK-LABEL: func.func @static_uint8
// CHECK: library_call = "qopt_kernel_matmul_sparse24_u8s8"
// CHECK: arith.extui
// CHECK: arith.constant dense<[10, 26]> : tensor<2xi32>
// CALL-LABEL: func.func @static_uint8
// CALL: call @qopt_kernel_matmul_sparse24_u8s8(
func.func @static_uint8(%x: tensor<3x8xf32>, %s: tensor<2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1, 0, 2, 0, 0, 3, 0, 4], [0, 5, 6, 0, 7, 0, 0, 8]]> : tensor<2x8xi8>
  %y = qopt.qlinear %x, %w scale %s {weight_name = "fc", weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.5 : f64, input_zero_point = 3 : i64, input_storage = #qopt.storage<uint8>, qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Without the 2:4 pattern, with a weight that does not pack (three
// nonzeros in a group) or a non-constant weight: the dense int8 product.
// CHECK-LABEL: func.func @stays_dense
// CHECK-NOT: sparse24
// CHECK: library_call = "qopt_kernel_matmul_s8s8"
// CHECK-NOT: sparse24
// CHECK: library_call = "qopt_kernel_matmul_s8s8"
// CHECK-NOT: sparse24
// CHECK: library_call = "qopt_kernel_matmul_s8s8"
// CHECK-NOT: sparse24
func.func @stays_dense(%x: tensor<3x8xf32>, %s: tensor<2xf32>, %warg: tensor<2x8xi8>) -> (tensor<3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>) {
  %w = arith.constant dense<[[1, 0, 2, 0, 0, 3, 0, 4], [0, 5, 6, 0, 7, 0, 0, 8]]> : tensor<2x8xi8>
  %bad = arith.constant dense<[[1, 2, 3, 0, 0, 3, 0, 4], [0, 5, 6, 0, 7, 0, 0, 8]]> : tensor<2x8xi8>
  %a = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  %b = qopt.qlinear %x, %bad scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>, qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  %c = qopt.qlinear %x, %warg scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>, qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %a, %b, %c : tensor<3x2xf32>, tensor<3x2xf32>, tensor<3x2xf32>
}

// -----

// Weight-only int8 (--quantize=w8) with the 2:4 pattern: the same int8
// values + positions, f32 x viewed [M, K/8, 8], the per-channel scale
// applied to each value; the weight-only 2:4 kernel.
// CHECK-LABEL: func.func @weight_only
// CHECK-DAG: arith.constant dense_resource<fc.2of4.values> : tensor<2x1x4xi8>
// CHECK-DAG: arith.constant dense_resource<fc.2of4.meta> : tensor<2x1xi8>
// CHECK: tensor.expand_shape %arg0 {{\[}}[0], [1, 2]] output_shape [3, 1, 8] : tensor<3x8xf32> into tensor<3x1x8xf32>
// CHECK: linalg.generic
// CHECK-SAME: library_call = "qopt_kernel_matmul_sparse24_w8"
// CHECK: arith.sitofp
// CHECK: arith.mulf
// CHECK: arith.select
// CHECK-NOT: qopt_kernel_matmul_w8"
// CALL-LABEL: func.func @weight_only
// CALL: call @qopt_kernel_matmul_sparse24_w8({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CALL-NOT: linalg.generic
func.func @weight_only(%x: tensor<3x8xf32>, %s: tensor<2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1, 0, 2, 0, 0, 3, 0, 4], [0, 5, 6, 0, 7, 0, 0, 8]]> : tensor<2x8xi8>
  %y = qopt.qlinear %x, %w scale %s {weight_name = "fc", weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>, qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
