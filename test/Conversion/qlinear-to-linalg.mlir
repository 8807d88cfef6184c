// RUN: quant-opt %s --convert-qopt-to-linalg --split-input-file | FileCheck %s

// Static W8A8 with a uint8 input: quantize, an i32 product that names the
// runtime's u8s8 kernel, and an epilogue subtracting zx * Σk w[n, k] (a
// constant, computed at compile time: rows [1, 2] and [-3, 4]).
// CHECK-LABEL: func.func @static_uint8
// CHECK: tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<2x3x2xf32> into tensor<6x2xf32>
// CHECK: arith.fptoui %{{.*}} : f32 to i8
// CHECK: library_call = "qopt_kernel_matmul_u8s8"
// CHECK: arith.extui %{{.*}} : i8 to i32
// CHECK: arith.constant dense<[3, 1]> : tensor<2xi32>
// CHECK: arith.constant 128 : i32
// CHECK: arith.sitofp %{{.*}} : i32 to f32
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [2, 3, 2]
func.func @static_uint8(%x: tensor<2x3x2xf32>, %s: tensor<2xf32>) -> tensor<2x3x2xf32> {
  %w = arith.constant dense<[[1, 2], [-3, 4]]> : tensor<2x2xi8>
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.5 : f64, input_zero_point = 128 : i64, input_storage = #qopt.storage<uint8>} : (tensor<2x3x2xf32>, tensor<2x2xi8>, tensor<2xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}

// -----

// Dynamic: per-row absmax, scale (1 for a zero row), signed product; no
// zero-point correction.
// CHECK-LABEL: func.func @dynamic
// CHECK: math.absf
// CHECK: arith.maximumf
// CHECK: arith.constant 1.270000e+02 : f32
// CHECK: arith.cmpf oeq
// CHECK: arith.fptosi %{{.*}} : f32 to i8
// CHECK: library_call = "qopt_kernel_matmul_s8s8"
// CHECK-NOT: arith.subi
// CHECK: return
func.func @dynamic(%x: tensor<?x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) -> tensor<?x4xf32> {
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>} : (tensor<?x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Weight-only int8: one contraction dequantizing the weight in its body,
// accumulating onto the broadcast bias.
// CHECK-LABEL: func.func @weight_only_int8
// CHECK: linalg.generic {{.*}} ins(%arg2 : tensor<4xf32>)
// CHECK: library_call = "qopt_kernel_matmul_w8"} ins(%arg0, %arg1, %arg3 : tensor<3x8xf32>, tensor<4x8xi8>, tensor<4xf32>)
// CHECK: arith.sitofp %{{.*}} : i8 to f32
func.func @weight_only_int8(%x: tensor<3x8xf32>, %w: tensor<4x8xi8>, %b: tensor<4xf32>, %s: tensor<4xf32>) -> tensor<3x4xf32> {
  %y = qopt.qlinear %x, %w scale %s bias %b {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<3x8xf32>, tensor<4x8xi8>, tensor<4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// 4-bit block-wise: x and the packed bytes viewed per block, nibble j of a
// byte selected by linalg.index 4; uint4 subtracts the block's zero point.
// CHECK-LABEL: func.func @uint4
// CHECK: tensor.expand_shape %arg0 {{\[}}[0, 1]] output_shape [1, 16]
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2, 3]] output_shape [1, 2, 4, 2] : tensor<1x16xf32> into tensor<1x2x4x2xf32>
// CHECK: tensor.expand_shape %arg1 {{\[}}[0], [1, 2]] output_shape [3, 2, 4] : tensor<3x8xi8> into tensor<3x2x4xi8>
// CHECK: iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"], library_call = "qopt_kernel_matmul_wu4"
// CHECK: linalg.index 4
// CHECK: arith.shrui
// CHECK: arith.subi
func.func @uint4(%x: tensor<16xf32>, %w: tensor<3x8xi8>, %s: tensor<3x2xf32>, %z: tensor<3x2xi8>) -> tensor<3xf32> {
  %y = qopt.qlinear %x, %w scale %s zero_point %z {weight_format = #qopt.weight_format<uint4>, group_size = 8, activation = #qopt.activation<none>} : (tensor<16xf32>, tensor<3x8xi8>, tensor<3x2xf32>, tensor<3x2xi8>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}
