// RUN: quant-opt %s --convert-qopt-to-linalg --split-input-file | FileCheck %s --enable-var-scope
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s --check-prefix=CALL

// Float input: one f32 contraction over (m, n, byte, j) tagged for the
// f32 x ternary kernel (x times t, decoded from the 2-bit codes), then
// acc * gamma + bias.
// CHECK-LABEL: func.func @float_input
// CHECK: %[[X3:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [6, 2, 4] : tensor<6x8xf32> into tensor<6x2x4xf32>
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"], library_call = "qopt_kernel_matmul_f32t2"} ins(%[[X3]], %{{.*}} : tensor<6x2x4xf32>, tensor<3x2xi8>) outs(%{{.*}} : tensor<6x3xf32>)
// CHECK: arith.shrui
// CHECK: arith.andi
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %arg1 : tensor<6x3xf32>, tensor<3xf32>)
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: tensor.expand_shape {{.*}} into tensor<2x3x3xf32>
// CALL-LABEL: func.func @float_input
// CALL: call @qopt_kernel_matmul_f32t2({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CALL-NOT: library_call
func.func @float_input(%x: tensor<2x3x8xf32>, %b: tensor<3xf32>) -> tensor<2x3x3xf32> {
  %w = arith.constant dense<[[100, 10], [85, 85], [0, 2]]> : tensor<3x2xi8>
  %y = qopt.bitlinear %x, %w scale 0.5 bias %b {activation = #qopt.bitlinear_activation<none>} : (tensor<2x3x8xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<2x3x3xf32>
  return %y : tensor<2x3x3xf32>
}

// -----

// Per-token int8: the scales 127 / max(absmax, 1e-5), the i32 contraction
// (quantization in its body) for the int8 x ternary kernel, then
// float(acc) * gamma / s.
// CHECK-LABEL: func.func @per_token
// CHECK: math.absf
// CHECK: %[[S:.*]] = linalg.generic
// CHECK: arith.constant 9.99999974E-6 : f32
// CHECK: arith.divf
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}}library_call = "qopt_kernel_matmul_s8t2"} ins(%{{.*}}, %[[S]], %{{.*}} : tensor<?x16x4xf32>, tensor<?xf32>, tensor<5x16xi8>) outs(%{{.*}} : tensor<?x5xi32>)
// CHECK: math.roundeven
// CHECK: arith.fptosi
// CHECK: arith.muli
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %[[S]] : tensor<?x5xi32>, tensor<?xf32>)
// CHECK: arith.sitofp
// CHECK: arith.constant 1.250000e-01 : f32
// CHECK: arith.divf
// CALL-LABEL: func.func @per_token
// CALL: call @qopt_kernel_matmul_s8t2({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CALL-NOT: library_call
func.func @per_token(%x: tensor<?x64xf32>, %w: tensor<5x16xi8>) -> tensor<?x5xf32> {
  %y = qopt.bitlinear %x, %w scale 0.125 {activation = #qopt.bitlinear_activation<per_token_int8>} : (tensor<?x64xf32>, tensor<5x16xi8>) -> tensor<?x5xf32>
  return %y : tensor<?x5xf32>
}
