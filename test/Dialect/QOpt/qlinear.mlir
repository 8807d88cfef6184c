// RUN: quant-opt %s --split-input-file | FileCheck %s
// RUN: quant-opt %s --split-input-file --mlir-print-op-generic | quant-opt --split-input-file | FileCheck %s

// The four schemes round-trip: static W8A8, dynamic W8A8, weight-only int8,
// weight-only 4-bit block-wise (signed, and unsigned with zero points).
// CHECK-LABEL: func.func @static_w8a8
// CHECK: qopt.qlinear %{{.*}}, %{{.*}} scale %{{.*}} bias %{{.*}} {activation = #qopt.activation<static>, input_scale = 2.000000e-02 : f64, input_storage = #qopt.storage<uint8>, input_zero_point = 128 : i64, weight_format = #qopt.weight_format<int8>, weight_name = "fc1"} : (tensor<?x4x64xf32>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x4x32xf32>
func.func @static_w8a8(%x: tensor<?x4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<?x4x32xf32> {
  %y = qopt.qlinear %x, %w scale %s bias %b {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.02 : f64, input_zero_point = 128 : i64, input_storage = #qopt.storage<uint8>, weight_name = "fc1"} : (tensor<?x4x64xf32>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x4x32xf32>
  return %y : tensor<?x4x32xf32>
}

// -----

// CHECK-LABEL: func.func @dynamic_w8a8
// CHECK: qopt.qlinear %{{.*}}, %{{.*}} scale %{{.*}} {activation = #qopt.activation<dynamic>, weight_format = #qopt.weight_format<int8>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
func.func @dynamic_w8a8(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// CHECK-LABEL: func.func @weight_only_int4
// CHECK: qopt.qlinear %{{.*}}, %{{.*}} scale %{{.*}} {activation = #qopt.activation<none>, group_size = 32 : i64, weight_format = #qopt.weight_format<int4>} : (tensor<1x64xf32>, tensor<8x32xi8>, tensor<8x2xf32>) -> tensor<1x8xf32>
// CHECK: qopt.qlinear %{{.*}}, %{{.*}} scale %{{.*}} zero_point %{{.*}} bias %{{.*}} {activation = #qopt.activation<none>, group_size = 32 : i64, weight_format = #qopt.weight_format<uint4>}
func.func @weight_only_int4(%x: tensor<1x64xf32>, %w: tensor<8x32xi8>, %s: tensor<8x2xf32>, %z: tensor<8x2xi8>, %b: tensor<8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<1x64xf32>, tensor<8x32xi8>, tensor<8x2xf32>) -> tensor<1x8xf32>
  %u = qopt.qlinear %x, %w scale %s zero_point %z bias %b {weight_format = #qopt.weight_format<uint4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<1x64xf32>, tensor<8x32xi8>, tensor<8x2xf32>, tensor<8x2xi8>, tensor<8xf32>) -> tensor<1x8xf32>
  return %y, %u : tensor<1x8xf32>, tensor<1x8xf32>
}

// K = 43 with groups of 32: the last block is partial, packed padded to 64 k.
// CHECK-LABEL: func.func @weight_only_int4_partial_block
// CHECK: qopt.qlinear %{{.*}}, %{{.*}} scale %{{.*}} {activation = #qopt.activation<none>, group_size = 32 : i64, weight_format = #qopt.weight_format<int4>} : (tensor<1x43xf32>, tensor<8x32xi8>, tensor<8x2xf32>) -> tensor<1x8xf32>
func.func @weight_only_int4_partial_block(%x: tensor<1x43xf32>, %w: tensor<8x32xi8>, %s: tensor<8x2xf32>) -> tensor<1x8xf32> {
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<1x43xf32>, tensor<8x32xi8>, tensor<8x2xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// CHECK-LABEL: func.func @weight_only_nf4
// CHECK: qopt.qlinear %{{.*}}, %{{.*}} scale %{{.*}} {activation = #qopt.activation<none>, group_size = 64 : i64, weight_format = #qopt.weight_format<nf4>} : (tensor<2x64xf32>, tensor<8x32xi8>, tensor<8x1xf32>) -> tensor<2x8xf32>
func.func @weight_only_nf4(%x: tensor<2x64xf32>, %w: tensor<8x32xi8>, %s: tensor<8x1xf32>) -> tensor<2x8xf32> {
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>} : (tensor<2x64xf32>, tensor<8x32xi8>, tensor<8x1xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
