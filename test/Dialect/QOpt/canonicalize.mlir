// Folders of the qopt ops.
// RUN: quant-opt %s --canonicalize --split-input-file | FileCheck %s

// quantize(dequantize(%q)) with the same type is %q.
// CHECK-LABEL: func.func @requantize_same_type
// CHECK-SAME: (%[[Q:.*]]: tensor<4x!quant.uniform<i8:f32, 1.000000e-01:2>>)
// CHECK-NOT: qopt.
// CHECK: return %[[Q]]
func.func @requantize_same_type(%q: tensor<4x!quant.uniform<i8:f32, 0.1:2>>) -> tensor<4x!quant.uniform<i8:f32, 0.1:2>> {
  %d = qopt.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1:2>> -> tensor<4xf32>
  %r = qopt.quantize %d : tensor<4xf32> -> tensor<4x!quant.uniform<i8:f32, 0.1:2>>
  return %r : tensor<4x!quant.uniform<i8:f32, 0.1:2>>
}

// -----

// A different type is a real requantization and stays.
// CHECK-LABEL: func.func @requantize_other_type
// CHECK: qopt.dequantize
// CHECK: qopt.quantize
func.func @requantize_other_type(%q: tensor<4x!quant.uniform<i8:f32, 0.1:2>>) -> tensor<4x!quant.uniform<i8:f32, 0.2>> {
  %d = qopt.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1:2>> -> tensor<4xf32>
  %r = qopt.quantize %d : tensor<4xf32> -> tensor<4x!quant.uniform<i8:f32, 0.2>>
  return %r : tensor<4x!quant.uniform<i8:f32, 0.2>>
}

// -----

// dequantize(quantize(%x)) is lossy and must stay.
// CHECK-LABEL: func.func @qdq_is_lossy
// CHECK: qopt.quantize
// CHECK: qopt.dequantize
func.func @qdq_is_lossy(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qopt.quantize %x : tensor<4xf32> -> tensor<4x!quant.uniform<i8:f32, 0.1>>
  %d = qopt.dequantize %q : tensor<4x!quant.uniform<i8:f32, 0.1>> -> tensor<4xf32>
  return %d : tensor<4xf32>
}

// -----

// An identical second fake_quant is a no-op.
// CHECK-LABEL: func.func @fake_quant_idempotent
// CHECK: %[[F:.*]] = qopt.fake_quant
// CHECK-NOT: qopt.fake_quant
// CHECK: return %[[F]]
func.func @fake_quant_idempotent(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %a = qopt.fake_quant %x scale [0.1, 0.2] zero_point [0, 1] range [-8, 7] axis 0 : tensor<2x4xf32>
  %b = qopt.fake_quant %a scale [0.1, 0.2] zero_point [0, 1] range [-8, 7] axis 0 : tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// -----

// Different parameters: both stay.
// CHECK-LABEL: func.func @fake_quant_different
// CHECK: qopt.fake_quant
// CHECK: qopt.fake_quant
func.func @fake_quant_different(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = qopt.fake_quant %x scale [0.1] zero_point [0] range [-128, 127] : tensor<4xf32>
  %b = qopt.fake_quant %a scale [0.1] zero_point [0] range [-8, 7] : tensor<4xf32>
  return %b : tensor<4xf32>
}

// -----

// Observers are calibration points: not removed even when unused, and two
// observers of one value are not merged.
// CHECK-LABEL: func.func @observers_survive
// CHECK: qopt.observe %{{.*}} {id = 0 : i64}
// CHECK: qopt.observe %{{.*}} {id = 1 : i64}
func.func @observers_survive(%x: tensor<4xf32>) {
  %a = qopt.observe %x {id = 0} : tensor<4xf32>
  %b = qopt.observe %x {id = 1} : tensor<4xf32>
  return
}

// -----

// f16 cannot hold every i16 value (4097 dequantizes to 4096): not folded.
// CHECK-LABEL: func.func @requantize_f16_i16_not_exact
// CHECK: qopt.dequantize
// CHECK: qopt.quantize
func.func @requantize_f16_i16_not_exact(%q: tensor<4x!quant.uniform<i16:f16, 1.0>>) -> tensor<4x!quant.uniform<i16:f16, 1.0>> {
  %d = qopt.dequantize %q : tensor<4x!quant.uniform<i16:f16, 1.0>> -> tensor<4xf16>
  %r = qopt.quantize %d : tensor<4xf16> -> tensor<4x!quant.uniform<i16:f16, 1.0>>
  return %r : tensor<4x!quant.uniform<i16:f16, 1.0>>
}

// -----

// f16 holds every i8 value: folded.
// CHECK-LABEL: func.func @requantize_f16_i8
// CHECK-NOT: qopt.
// CHECK: return
func.func @requantize_f16_i8(%q: tensor<4x!quant.uniform<i8:f16, 0.5>>) -> tensor<4x!quant.uniform<i8:f16, 0.5>> {
  %d = qopt.dequantize %q : tensor<4x!quant.uniform<i8:f16, 0.5>> -> tensor<4xf16>
  %r = qopt.quantize %d : tensor<4xf16> -> tensor<4x!quant.uniform<i8:f16, 0.5>>
  return %r : tensor<4x!quant.uniform<i8:f16, 0.5>>
}
