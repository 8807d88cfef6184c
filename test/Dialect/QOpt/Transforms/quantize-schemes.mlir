// RUN: quant-opt %s --qopt-quantize="scheme=w8a8" | FileCheck %s --check-prefix=STATIC
// RUN: quant-opt %s --qopt-quantize="scheme=w8a8-dynamic include=blocks" | FileCheck %s --check-prefix=DYN
// RUN: quant-opt %s --qopt-quantize="scheme=w8" | FileCheck %s --check-prefix=W8
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 int4-scale=absmax" | FileCheck %s --check-prefix=W4
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=2 weight-symmetric=false int4-scale=minmax" | FileCheck %s --check-prefix=U4

// Linear layers become qopt.qlinear; a weight shared by two layers is
// stored once (blobs named after the first layer); the observer goes once
// its consumers are quantized.
// STATIC-NOT: qopt.observe
// STATIC: %[[W:.*]] = arith.constant dense_resource<blocks.0.fc1.int8> : tensor<2x4xi8>
// STATIC: %[[S:.*]] = arith.constant dense_resource<blocks.0.fc1.scale> : tensor<2xf32>
// STATIC: qopt.qlinear %arg0, %[[W]] scale %[[S]] bias %{{.*}} {activation = #qopt.activation<static>, input_scale = 0.10000000149011612 : f64, input_storage = #qopt.storage<uint8>, input_zero_point = 5 : i64, weight_format = #qopt.weight_format<int8>, weight_name = "blocks.0.fc1"}
// STATIC: qopt.qlinear %arg0, %[[W]] scale %[[S]] {activation = #qopt.activation<static>, {{.*}}weight_name = "head"}
// int8 per row: round(w * 127 / max|w_row|): [127, -64, 32, 0], [127, 127, -64, 64];
// scales 1/127, 2/127.
// STATIC: blocks.0.fc1.int8: "0x010000007FC020007F7FC040"
// STATIC: blocks.0.fc1.scale: "0x040000000402013C0402813C"

// Dynamic needs no calibration; `include` keeps "head" float (and its observer).
// DYN: %[[O:.*]] = qopt.observe %arg0
// DYN: qopt.qlinear %arg0, {{.*}} {activation = #qopt.activation<dynamic>, weight_format = #qopt.weight_format<int8>, weight_name = "blocks.0.fc1"}
// DYN: qopt.linear %[[O]], %{{.*}} {qopt.not_quantized = #qopt.not_quantized<not_included>, weight_name = "head"}

// W8: qopt.qlinear {{.*}} {activation = #qopt.activation<none>, weight_format = #qopt.weight_format<int8>, weight_name = "blocks.0.fc1"}
// W8: qopt.qlinear {{.*}} {activation = #qopt.activation<none>, weight_format = #qopt.weight_format<int8>, weight_name = "head"}

// Symmetric int4 (int4-scale=absmax) per 4 weights: scale max|w| / 7; q = round(w / scale),
// packed low nibble first: row 0 [7, -3, 2, 0] -> D7 02, row 1 [7, 7, -3, 3]
// -> 77 3D.
// W4: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} bias %{{.*}} {activation = #qopt.activation<none>, group_size = 4 : i64, weight_format = #qopt.weight_format<int4>, weight_name = "blocks.0.fc1"} : (tensor<3x4xf32>, tensor<2x2xi8>, tensor<2x1xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// W4: blocks.0.fc1.int4: "0x01000000D702773D"
// W4: blocks.0.fc1.scale: "0x040000002549123E2549923E"

// Asymmetric uint4 per 2 weights, range widened to include 0:
// [1, -0.5] scale 0.1 zp 5 -> 15, 0; [0.25, 0] scale 1/60 zp 0 -> 15, 0;
// [2, 2] scale 2/15 zp 0 -> 15, 15; [-1, 1] scale 2/15 zp 7 -> 0, 14.
// U4: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} zero_point %{{.*}} bias %{{.*}} {activation = #qopt.activation<none>, group_size = 2 : i64, weight_format = #qopt.weight_format<uint4>, weight_name = "blocks.0.fc1"} : (tensor<3x4xf32>, tensor<2x2xi8>, tensor<2x2xf32>, tensor<2x2xi8>, tensor<2xf32>)
// U4: blocks.0.fc1.uint4: "0x010000000F0FFFE0"
// U4: blocks.0.fc1.zero_point: "0x0100000005000007"
func.func @layers(%x: tensor<3x4xf32>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %o = qopt.observe %x {id = 0 : i64, calibration = #qopt.calibration<method = minmax, min = -0.5, max = 25.0, type = !quant.uniform<u8:f32, 0.10000000149011612:5>>} : tensor<3x4xf32>
  %w = arith.constant dense<[[1.0, -0.5, 0.25, 0.0], [2.0, 2.0, -1.0, 1.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %y1 = qopt.linear %o, %w, %b {weight_name = "blocks.0.fc1"} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %y2 = qopt.linear %o, %w {weight_name = "head"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y1, %y2 : tensor<3x2xf32>, tensor<3x2xf32>
}
