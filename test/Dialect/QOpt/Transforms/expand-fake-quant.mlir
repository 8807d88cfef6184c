// RUN: quant-opt %s --qopt-expand-fake-quant --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-expand-fake-quant="only-weights=true" --split-input-file | FileCheck %s --check-prefix=WEIGHTS

// Full int8 range: plain i8 storage, same scale and zero point.
// CHECK-LABEL: func.func @int8_per_tensor
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK: %[[Q:.*]] = qopt.quantize %[[X]] : tensor<4xf32> -> tensor<4x!quant.uniform<i8:f32, 1.000000e-01:-3>>
// CHECK: %[[D:.*]] = qopt.dequantize %[[Q]] : tensor<4x!quant.uniform<i8:f32, 1.000000e-01:-3>> -> tensor<4xf32>
// CHECK: return %[[D]]
// WEIGHTS-LABEL: func.func @int8_per_tensor
// WEIGHTS: qopt.fake_quant
// WEIGHTS-NOT: qopt.quantize
func.func @int8_per_tensor(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = qopt.fake_quant %x scale [0.1] zero_point [-3] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Narrow (symmetric) range: explicit storage range on the type.
// CHECK-LABEL: func.func @int8_narrow
// CHECK: qopt.quantize %{{.*}} : tensor<4xf32> -> tensor<4x!quant.uniform<i8<-127:127>:f32, 5.000000e-01>>
func.func @int8_narrow(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = qopt.fake_quant %x scale [0.5] zero_point [0] range [-127, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// uint8, int4, uint4 and a 9-bit range (stored in i16).
// CHECK-LABEL: func.func @storage_choice
// CHECK: !quant.uniform<u8:f32, 2.500000e-01:128>
// CHECK: !quant.uniform<i4:f32, 2.500000e-01>
// CHECK: !quant.uniform<u4:f32, 2.500000e-01:3>
// CHECK: !quant.uniform<i16<-256:255>:f32, 2.500000e-01>
func.func @storage_choice(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %a = qopt.fake_quant %x scale [0.25] zero_point [128] range [0, 255] : tensor<4xf32>
  %b = qopt.fake_quant %x scale [0.25] zero_point [0] range [-8, 7] : tensor<4xf32>
  %c = qopt.fake_quant %x scale [0.25] zero_point [3] range [0, 15] : tensor<4xf32>
  %d = qopt.fake_quant %x scale [0.25] zero_point [0] range [-256, 255] : tensor<4xf32>
  return %a, %b, %c, %d : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// Per axis on a constant weight: expanded in both modes.
// CHECK-LABEL: func.func @per_axis_weight
// CHECK: qopt.quantize %{{.*}} : tensor<2x3xf32> -> tensor<2x3x!quant.uniform<i8:f32:0, {1.000000e-01,2.000000e-01:1}>>
// WEIGHTS-LABEL: func.func @per_axis_weight
// WEIGHTS: qopt.quantize %{{.*}} : tensor<2x3xf32> -> tensor<2x3x!quant.uniform<i8:f32:0, {1.000000e-01,2.000000e-01:1}>>
// WEIGHTS: qopt.dequantize
// WEIGHTS-NOT: qopt.fake_quant
func.func @per_axis_weight() -> tensor<2x3xf32> {
  %w = arith.constant dense<[[0.1, -0.2, 0.3], [1.0, 2.0, -3.0]]> : tensor<2x3xf32>
  %y = qopt.fake_quant %w scale [0.1, 0.2] zero_point [0, 1] range [-128, 127] axis 0 : tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// Nothing else is touched: dead ops and other ops stay as they are.
// CHECK-LABEL: func.func @leaves_other_ops
// WEIGHTS-LABEL: func.func @leaves_other_ops
// WEIGHTS: qopt.fake_quant
// CHECK: %[[DEAD:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: arith.addf
// CHECK: qopt.quantize
func.func @leaves_other_ops(%x: tensor<4xf32>) -> tensor<4xf32> {
  %dead = arith.constant 1.0 : f32
  %s = arith.addf %dead, %dead : f32
  %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}
