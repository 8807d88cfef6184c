// RUN: quant-opt %s --qopt-quantize="form=qdq" --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-quantize="form=qdq exclude=fc2" --split-input-file | FileCheck %s --check-prefix=EXCL

// W8A8 static: the observed activation gets the observer's per-tensor
// int8 QDQ (shared by both layers); each weight is int8 symmetric per
// output channel: row 0 max|w| = 2 -> scale 2/127, row 1 max 0.5 -> 0.5/127.
// CHECK-LABEL: func.func @two_layers
// CHECK: %[[Q:.*]] = qopt.quantize %arg0 : tensor<2x3xf32> -> tensor<2x3x!quant.uniform<i8:f32, 0.100000001{{[0-9]*}}>>
// CHECK: %[[DQ:.*]] = qopt.dequantize %[[Q]]
// CHECK-NOT: qopt.observe
// CHECK: %[[W:.*]] = arith.constant dense_resource<fc1.int8> : tensor<2x3xi8>
// CHECK: %[[WQ:.*]] = quant.scast %[[W]] : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.015748031{{[0-9]*}},0.0039370078{{[0-9]*}}}>>
// CHECK: %[[WDQ:.*]] = qopt.dequantize %[[WQ]]
// CHECK: qopt.linear %[[DQ]], %[[WDQ]] {weight_name = "fc1"}
// The shared weight is quantized once.
// CHECK: qopt.linear %[[DQ]], %[[WDQ]] {weight_name = "fc2"}
// The int8 values: round(w / scale): [2, -1, 0.5] / (2/127) = [127, -64, 32]
// (-63.5 rounds to even), [0.5, 0.25, -0.5] / (0.5/127) = [127, 64, -127].
// CHECK: fc1.int8: "0x010000007FC0207F4081"
// CHECK-NOT: fc2.int8
// EXCL: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<2x3xf32>
// EXCL: qopt.linear %{{.*}}, %[[W]] {qopt.not_quantized = #qopt.not_quantized<excluded>, weight_name = "fc2"} : (tensor<2x3xf32>, tensor<2x3xf32>)
func.func @two_layers(%x: tensor<2x3xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %o = qopt.observe %x {id = 0 : i64, calibration = #qopt.calibration<method = minmax, min = -12.8, max = 12.7, type = !quant.uniform<i8:f32, 0.10000000149011612>>} : tensor<2x3xf32>
  %w = arith.constant dense<[[2.0, -1.0, 0.5], [0.5, 0.25, -0.5]]> : tensor<2x3xf32>
  %y1 = qopt.linear %o, %w {weight_name = "fc1"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  %y2 = qopt.linear %o, %w {weight_name = "fc2"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y1, %y2 : tensor<2x2xf32>, tensor<2x2xf32>
}

// -----

// uint8 asymmetric activations; an unobserved layer stays float.
// CHECK-LABEL: func.func @uint8
// CHECK: qopt.quantize %arg0 : tensor<4x2xf32> -> tensor<4x2x!quant.uniform<u8:f32, 0.0500000007{{[0-9]*}}:128>>
// CHECK: qopt.linear %arg1, %{{.*}} {qopt.not_quantized = #qopt.not_quantized<not_calibrated>} : (tensor<4x2xf32>, tensor<2x2xf32>)
func.func @uint8(%x: tensor<4x2xf32>, %z: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %o = qopt.observe %x {id = 1 : i64, calibration = #qopt.calibration<method = minmax, min = -6.4, max = 6.35, type = !quant.uniform<u8:f32, 0.05000000074505806:128>>} : tensor<4x2xf32>
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %y = qopt.linear %o, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %u = qopt.linear %z, %w : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %y, %u : tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

// An NCHW convolution: its input from the observer, its filter per output
// channel (axis 0 of [F, C, KH, KW]); max |w| per filter: 4 and 0.5.
// CHECK-LABEL: func.func @conv
// CHECK: %[[Q:.*]] = qopt.quantize %arg0
// CHECK: %[[DQ:.*]] = qopt.dequantize %[[Q]]
// CHECK: quant.scast %{{.*}} : tensor<2x1x2x2xi8> to tensor<2x1x2x2x!quant.uniform<i8:f32:0, {0.031496062{{[0-9]*}},0.0039370078{{[0-9]*}}}>>
// CHECK: %[[F:.*]] = qopt.dequantize
// CHECK: linalg.conv_2d_nchw_fchw ins(%[[DQ]], %[[F]] :
// CHECK: conv1.int8: "0x010000007FC020007F408100"
func.func @conv(%x: tensor<1x1x3x3xf32>, %o: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %obs = qopt.observe %x {id = 0 : i64, calibration = #qopt.calibration<method = minmax, min = -2.56, max = 2.54, type = !quant.uniform<i8:f32, 0.019999999552965164>>} : tensor<1x1x3x3xf32>
  %f = arith.constant dense<[[[[4.0, -2.0], [1.0, 0.0]]], [[[0.5, 0.25], [-0.5, 0.0]]]]> : tensor<2x1x2x2xf32>
  %c = linalg.conv_2d_nchw_fchw ins(%obs, %f : tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>) outs(%o : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> loc(fused<"Conv">["conv1"])
  return %c : tensor<1x2x2x2xf32>
}
