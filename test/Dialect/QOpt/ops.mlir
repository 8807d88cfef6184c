// Round trip of every qopt op through the custom form, the generic form and
// bytecode; each must print back to the same custom form.
// RUN: quant-opt %s | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | quant-opt | FileCheck %s
// RUN: quant-opt %s --emit-bytecode | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @linear_bias
// CHECK: qopt.linear %{{.*}}, %{{.*}}, %{{.*}} {weight_name = "layers.0.fc1.weight"} : (tensor<4x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<4x32xf32>
// GENERIC-LABEL: sym_name = "linear_bias"
// GENERIC: "qopt.linear"(%{{.*}}, %{{.*}}, %{{.*}}) <{weight_name = "layers.0.fc1.weight"}>
func.func @linear_bias(%x: tensor<4x16xf32>, %w: tensor<32x16xf32>, %b: tensor<32xf32>) -> tensor<4x32xf32> {
  %y = qopt.linear %x, %w, %b {weight_name = "layers.0.fc1.weight"} : (tensor<4x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// CHECK-LABEL: func.func @linear_batched_dynamic_no_bias
// CHECK: qopt.linear %{{.*}}, %{{.*}} : (tensor<?x128x64xf16>, tensor<256x64xf16>) -> tensor<?x128x256xf16>
func.func @linear_batched_dynamic_no_bias(%x: tensor<?x128x64xf16>, %w: tensor<256x64xf16>) -> tensor<?x128x256xf16> {
  %y = qopt.linear %x, %w : (tensor<?x128x64xf16>, tensor<256x64xf16>) -> tensor<?x128x256xf16>
  return %y : tensor<?x128x256xf16>
}

// CHECK-LABEL: func.func @observe
// CHECK: qopt.observe %{{.*}} {id = 0 : i64} : tensor<2x8xf32>
// CHECK: qopt.observe %{{.*}} {id = 1 : i64, kind = #qopt.observer<histogram>} : tensor<2x8xf32>
// GENERIC-LABEL: sym_name = "observe"
// GENERIC: "qopt.observe"(%{{.*}}) <{id = 1 : i64, kind = #qopt.observer<histogram>}>
func.func @observe(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = qopt.observe %x {id = 0} : tensor<2x8xf32>
  %1 = qopt.observe %0 {id = 1, kind = #qopt.observer<histogram>} : tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// Calibration data on observers: statistics, calibrated type, per-channel
// max |x|. Floats print so that they read back bit-exactly.
// CHECK-LABEL: func.func @observe_calibrated
// CHECK: qopt.observe %{{.*}} {calibration = #qopt.calibration<method = entropy, min = -1.500000e+00, max = 1.500000e+00, type = !quant.uniform<i8:f32, 0.011811023622047244>>, id = 2 : i64, kind = #qopt.observer<histogram>, statistics = #qopt.histogram<count = 16, min = -2.000000e+00, max = 1.000000e-01, range = 4.000000e+00, counts = [1.000000e+00, 1.500000e+01]>} : tensor<2x8xf32>
// CHECK: qopt.observe %{{.*}} {channel_absmax = array<f32: 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00>, id = 3 : i64, kind = #qopt.observer<channel_absmax>} : tensor<2x8xf32>
// GENERIC-LABEL: sym_name = "observe_calibrated"
// GENERIC: calibration = #qopt.calibration<method = entropy
func.func @observe_calibrated(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = qopt.observe %x {id = 2, kind = #qopt.observer<histogram>, statistics = #qopt.histogram<count = 16, min = -2.0, max = 0.1, range = 4.0, counts = [1.0, 15.0]>, calibration = #qopt.calibration<method = entropy, min = -1.5, max = 1.5, type = !quant.uniform<i8:f32, 0.011811023622047244>>} : tensor<2x8xf32>
  %1 = qopt.observe %0 {id = 3, kind = #qopt.observer<channel_absmax>, channel_absmax = array<f32: 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0>} : tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// CHECK-LABEL: func.func @quantize_per_tensor
// CHECK: %[[Q:.*]] = qopt.quantize %{{.*}} : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i8:f32, 1.000000e-01:-3>>
// CHECK: qopt.dequantize %[[Q]] : tensor<4x8x!quant.uniform<i8:f32, 1.000000e-01:-3>> -> tensor<4x8xf32>
func.func @quantize_per_tensor(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i8:f32, 0.1:-3>>
  %d = qopt.dequantize %q : tensor<4x8x!quant.uniform<i8:f32, 0.1:-3>> -> tensor<4x8xf32>
  return %d : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @quantize_per_axis
// CHECK: qopt.quantize %{{.*}} : tensor<2x3xf32> -> tensor<2x3x!quant.uniform<u8:f32:1, {1.000000e-01:128,2.000000e-01,5.000000e-01:255}>>
// CHECK: qopt.dequantize
func.func @quantize_per_axis(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %q = qopt.quantize %x : tensor<2x3xf32> -> tensor<2x3x!quant.uniform<u8:f32:1, {0.1:128, 0.2:0, 0.5:255}>>
  %d = qopt.dequantize %q : tensor<2x3x!quant.uniform<u8:f32:1, {0.1:128, 0.2:0, 0.5:255}>> -> tensor<2x3xf32>
  return %d : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @quantize_int4_dynamic
// CHECK: qopt.quantize %{{.*}} : tensor<?x16xbf16> -> tensor<?x16x!quant.uniform<i4:bf16, 2.500000e-01>>
func.func @quantize_int4_dynamic(%x: tensor<?x16xbf16>) -> tensor<?x16x!quant.uniform<i4:bf16, 0.25>> {
  %q = qopt.quantize %x : tensor<?x16xbf16> -> tensor<?x16x!quant.uniform<i4:bf16, 0.25>>
  return %q : tensor<?x16x!quant.uniform<i4:bf16, 0.25>>
}

// CHECK-LABEL: func.func @fake_quant
// CHECK: qopt.fake_quant %{{.*}} scale [5.000000e-02] zero_point [0] range [-128, 127] : tensor<4x8xf32>
// CHECK: qopt.fake_quant %{{.*}} scale [1.000000e-01, 2.000000e-01] zero_point [0, 3] range [-8, 7] axis 0 : tensor<2x8xf32>
// GENERIC-LABEL: sym_name = "fake_quant"
// GENERIC: "qopt.fake_quant"(%{{.*}}) <{quant_max = 127 : i64, quant_min = -128 : i64, scale = array<f64: 5.000000e-02>, zero_point = array<i64: 0>}>
func.func @fake_quant(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>) -> (tensor<4x8xf32>, tensor<2x8xf32>) {
  %y = qopt.fake_quant %x scale [0.05] zero_point [0] range [-128, 127] : tensor<4x8xf32>
  %z = qopt.fake_quant %w scale [0.1, 0.2] zero_point [0, 3] range [-8, 7] axis 0 : tensor<2x8xf32>
  return %y, %z : tensor<4x8xf32>, tensor<2x8xf32>
}
