// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s

// After bufferization the generics qopt.qlinear's lowering tagged become
// calls of the runtime's kernels (addresses and element strides as i64);
// the constant weight is flagged for packing once.
// CHECK-LABEL: func.func @static_int8
// CHECK: memref.get_global
// CHECK: call @qopt_kernel_matmul_s8s8({{([^,]*, )+}}%c1_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: linalg.generic {{.*}}library_call
// CHECK: func.func private @qopt_kernel_matmul_s8s8(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
func.func @static_int8(%x: tensor<3x8xf32>, %s: tensor<4xf32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<1> : tensor<4x8xi8>
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.5 : f64, input_zero_point = 0 : i64, input_storage = #qopt.storage<int8>} : (tensor<3x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// A weight that is a function argument is not flagged constant. The
// per-token |x| maximum of dynamic quantization is the runtime's row
// reduction: x [3, 8] (M, K, address and strides) into [3] (stride 1).
// CHECK-LABEL: func.func @dynamic_arg_weight
// CHECK: call @qopt_kernel_row_absmax_f32(%c3_i64, %c8_i64, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %c1_i64) : (i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: maximumf
// The per-token quantization (x [3, 8], scales [3], q [3, 8]) and the
// dequantizing epilogue (acc [3, 4], weight scales, row scales, a null
// bias, y [3, 4]) are the runtime's row kernels too.
// CHECK: call @qopt_kernel_quantize_rows_s8(%c3_i64, %c8_i64, {{([^,]*, )([^,]*, )([^,]*, )([^,]*, )([^,]*, )}}%{{[^,]+}}, %c8_i64, %c1_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK: call @qopt_kernel_matmul_s8s8({{([^,]*, )+}}%c0_i64) :
// CHECK: call @qopt_kernel_dequant_rows_f32(%c3_i64, %c4_i64, %{{[^,]+}}, %c4_i64, %c1_i64, {{([^,]*, )([^,]*, )([^,]*, )([^,]*, )}}%c0_i64, %c0_i64, %{{[^,]+}}, %c4_i64, %c1_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT: linalg.generic {{.*}}library_call
func.func @dynamic_arg_weight(%x: tensor<3x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) -> tensor<3x4xf32> {
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>} : (tensor<3x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Weight-only: w8 (15 arguments) and 4-bit (21: sizes, group, format —
// 1 int4, 0 uint4, 2 NF4 — then A, B, scales, zero points and C with their
// strides, then whether the weight, scales and zero points are all
// constants: not here, they are function arguments); int4 and NF4 pass
// null zero points.
// CHECK-LABEL: func.func @weight_only
// CHECK: call @qopt_kernel_matmul_w8({{([^,]*, )+}}%c0_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK: call @qopt_kernel_matmul_w4(%c2_i64, %c3_i64, %c16_i64, %c8_i64, %c1_i64, {{([^,]*, )+}}%c0_i64, %c0_i64, %c0_i64, {{([^,]*, )+}}%c0_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK: call @qopt_kernel_matmul_w4(%c2_i64, %c3_i64, %c16_i64, %c8_i64, %c0_i64,
// CHECK: call @qopt_kernel_matmul_w4(%c2_i64, %c3_i64, %c16_i64, %c8_i64, %c2_i64, {{([^,]*, )+}}%c0_i64, %c0_i64, %c0_i64,
// CHECK-NOT: linalg.generic
func.func @weight_only(%x: tensor<2x16xf32>, %w: tensor<3x16xi8>, %s: tensor<3xf32>, %w4: tensor<3x8xi8>, %s4: tensor<3x2xf32>, %z: tensor<3x2xi8>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %a = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x16xi8>, tensor<3xf32>) -> tensor<2x3xf32>
  %b = qopt.qlinear %x, %w4 scale %s4 {weight_format = #qopt.weight_format<int4>, group_size = 8, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %c = qopt.qlinear %x, %w4 scale %s4 zero_point %z {weight_format = #qopt.weight_format<uint4>, group_size = 8, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>, tensor<3x2xi8>) -> tensor<2x3xf32>
  %d = qopt.qlinear %x, %w4 scale %s4 {weight_format = #qopt.weight_format<nf4>, group_size = 8, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>) -> tensor<2x3xf32>
  return %a, %b, %c, %d : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Constant weights and scales: the weight-only kernels may keep their
// repacked panels (last argument 1); a constant weight with scales that are
// an argument may not (0).
// CHECK-LABEL: func.func @weight_only_constant
// CHECK: call @qopt_kernel_matmul_w8({{([^,]*, )+}}%c1_i64) :
// CHECK: call @qopt_kernel_matmul_w4({{([^,]*, )+}}%c1_i64) :
// CHECK: call @qopt_kernel_matmul_w4({{([^,]*, )+}}%c0_i64) :
func.func @weight_only_constant(%x: tensor<2x16xf32>, %sarg: tensor<3x2xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = arith.constant dense<3> : tensor<3x16xi8>
  %s = arith.constant dense<0.5> : tensor<3xf32>
  %w4 = arith.constant dense<17> : tensor<3x8xi8>
  %s4 = arith.constant dense<0.25> : tensor<3x2xf32>
  %a = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x16xi8>, tensor<3xf32>) -> tensor<2x3xf32>
  %b = qopt.qlinear %x, %w4 scale %s4 {weight_format = #qopt.weight_format<int4>, group_size = 8, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %c = qopt.qlinear %x, %w4 scale %sarg {weight_format = #qopt.weight_format<int4>, group_size = 8, activation = #qopt.activation<none>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>) -> tensor<2x3xf32>
  return %a, %b, %c : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// With a bias, the dequantizing epilogue passes its address and stride
// (not the null pair of @dynamic_arg_weight).
// CHECK-LABEL: func.func @dynamic_bias
// CHECK: call @qopt_kernel_quantize_rows_s8(
// CHECK: call @qopt_kernel_dequant_rows_f32(%c2_i64, %c4_i64, {{([^,]*, )([^,]*, )([^,]*, )([^,]*, )([^,]*, )([^,]*, )([^,]*, )}}%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c4_i64, %c1_i64) :
// CHECK-NOT: linalg.generic {{.*}}library_call
func.func @dynamic_bias(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  %y = qopt.qlinear %x, %w scale %s bias %b {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>} : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// dynamic_block (--w4-activations=int8): the same 4-bit kernel with the
// int8-activation formats, 3 for int4 and 4 for uint4 (zero points passed).
// CHECK-LABEL: func.func @int8_activations
// CHECK: call @qopt_kernel_matmul_w4(%c2_i64, %c3_i64, %c16_i64, %c8_i64, %c3_i64, {{([^,]*, )+}}%c0_i64, %c0_i64, %c0_i64, {{([^,]*, )+}}%c0_i64) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK: call @qopt_kernel_matmul_w4(%c2_i64, %c3_i64, %c16_i64, %c8_i64, %c4_i64,
// CHECK-NOT: linalg.generic
func.func @int8_activations(%x: tensor<2x16xf32>, %w4: tensor<3x8xi8>, %s4: tensor<3x2xf32>, %z: tensor<3x2xi8>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %b = qopt.qlinear %x, %w4 scale %s4 {weight_format = #qopt.weight_format<int4>, group_size = 8, activation = #qopt.activation<dynamic_block>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %c = qopt.qlinear %x, %w4 scale %s4 zero_point %z {weight_format = #qopt.weight_format<uint4>, group_size = 8, activation = #qopt.activation<dynamic_block>} : (tensor<2x16xf32>, tensor<3x8xi8>, tensor<3x2xf32>, tensor<3x2xi8>) -> tensor<2x3xf32>
  return %b, %c : tensor<2x3xf32>, tensor<2x3xf32>
}
