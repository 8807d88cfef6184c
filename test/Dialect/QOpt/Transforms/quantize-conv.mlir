// RUN: quant-opt %s --qopt-quantize | FileCheck %s

// W8A8 convolution in integers. The uint8 observer (scale 0.02, zero point
// 130) becomes int8 with zero point 2 (the same values minus 128); filter
// int8 per output channel: max |w| 4 and 0.5 -> [127, -64, 32, 0] and
// [127, 64, -127, 0]; per-filter correction zx * Σw = 2 * 95 = 190 and
// 2 * 64 = 128; combined scales 0.02 * 4/127 and 0.02 * 0.5/127.
// CHECK-LABEL: func.func @conv
// CHECK-NOT: qopt.observe
// CHECK: %[[Q:.*]] = qopt.quantize %arg0 : tensor<1x1x3x3xf32> -> tensor<1x1x3x3x!quant.uniform<i8:f32, 0.019999999552965164:2>>
// CHECK: %[[QI:.*]] = quant.scast %[[Q]] : {{.*}} to tensor<1x1x3x3xi8>
// CHECK: %[[W:.*]] = arith.constant dense_resource<conv1.int8> : tensor<2x1x2x2xi8>
// CHECK: %[[ACC:.*]] = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%[[QI]], %[[W]] : tensor<1x1x3x3xi8>, tensor<2x1x2x2xi8>) outs(%{{.*}} : tensor<1x2x2x2xi32>)
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %arg1, %{{.*}}, %{{.*}} : tensor<1x2x2x2xi32>, tensor<1x2x2x2xf32>, tensor<2xi32>, tensor<2xf32>)
// CHECK: arith.subi
// CHECK: arith.sitofp
// CHECK: conv1.int8: "0x010000007FC020007F408100"
// CHECK: conv1.scale: "0x04000000{{.*}}"
// CHECK: conv1.zero_point_correction: "0x04000000BE00000080000000"
func.func @conv(%x: tensor<1x1x3x3xf32>, %o: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %obs = qopt.observe %x {id = 0 : i64, calibration = #qopt.calibration<method = minmax, min = -2.6, max = 2.5, type = !quant.uniform<u8:f32, 0.019999999552965164:130>>} : tensor<1x1x3x3xf32>
  %f = arith.constant dense<[[[[4.0, -2.0], [1.0, 0.0]]], [[[0.5, 0.25], [-0.5, 0.0]]]]> : tensor<2x1x2x2xf32>
  %c = linalg.conv_2d_nchw_fchw ins(%obs, %f : tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>) outs(%o : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> loc(fused<"Conv">["conv1"])
  return %c : tensor<1x2x2x2xf32>
}
