// RUN: quant-opt %s --split-input-file --verify-diagnostics

func.func @bad_format(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+2 {{expected ::mlir::qopt::WeightFormat to be one of: int8, int4, uint4}}
  // expected-error @+1 {{failed to parse QOpt_WeightFormatAttr parameter 'value'}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int3>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int8_shape(%x: tensor<4x64xf32>, %w: tensor<32x60xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{int8 weight must be [N, K] with K = 64, got 32x60}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x60xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int4_unpacked(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{4-bit weight must be packed [N, ceil(K/group) * group/2] = [N, 32], got 32x64}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int4_per_channel(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{4-bit weights are block-wise: group_size must be > 0}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @group_odd(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{group_size must be even, got 33}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 33, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @block_scale_shape(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x4xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{block-wise weight_scale must be [N, ceil(K/group)] = [32, 2], got 32x4}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x4xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int4_partial_block_unpadded(%x: tensor<4x48xf32>, %w: tensor<32x24xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // K = 48 with groups of 32: the packed weight holds the padded 64 k.
  // expected-error @+1 {{4-bit weight must be packed [N, ceil(K/group) * group/2] = [N, 32], got 32x24}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x48xf32>, tensor<32x24xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int4_partial_block_scales(%x: tensor<4x48xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{block-wise weight_scale must be [N, ceil(K/group)] = [32, 2], got 32x1}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x48xf32>, tensor<32x32xi8>, tensor<32x1xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int8_grouped(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{group_size applies to 4-bit weights only; int8 weights are per channel}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @channel_scale_shape(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<16xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{per-channel weight_scale must be [N] = [32], got 16}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<16xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @uint4_needs_zp(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{uint4 weights need a weight_zero_point}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<uint4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int4_zp(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>, %z: tensor<32x2xi8>) -> tensor<4x32xf32> {
  // expected-error @+1 {{weight_zero_point is for uint4 weights only; int4 weights are symmetric}}
  %y = qopt.qlinear %x, %w scale %s zero_point %z {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xi8>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @zp_shape(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>, %z: tensor<32x1xi8>) -> tensor<4x32xf32> {
  // expected-error @+1 {{weight_zero_point must have weight_scale's shape 32x2}}
  %y = qopt.qlinear %x, %w scale %s zero_point %z {weight_format = #qopt.weight_format<uint4>, group_size = 32, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x1xi8>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @int4_activations(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{activation 'dynamic' needs int8 weights, got int4 (4-bit weights are weight-only)}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 32, activation = #qopt.activation<dynamic>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @bad_activation(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+2 {{expected ::mlir::qopt::ActivationMode to be one of: none, static, dynamic, dynamic_block}}
  // expected-error @+1 {{failed to parse QOpt_ActivationModeAttr parameter 'value'}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<float>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @static_params(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{static activation needs input_scale, input_zero_point and input_storage}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.1 : f64} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @static_scale(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input_scale must be positive and finite, got 0}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.0 : f64, input_zero_point = 0 : i64, input_storage = #qopt.storage<int8>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @static_storage(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+2 {{expected ::mlir::qopt::ActivationStorage to be one of: int8, uint8, auto}}
  // expected-error @+1 {{failed to parse QOpt_ActivationStorageAttr parameter 'value'}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.1 : f64, input_zero_point = 0 : i64, input_storage = #qopt.storage<int4>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @static_zp(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input_zero_point 200 is outside int8's range [-128, 127]}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.1 : f64, input_zero_point = 200 : i64, input_storage = #qopt.storage<int8>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dynamic_params(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input_scale/input_zero_point/input_storage are for static activations only}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic>, input_scale = 0.1 : f64} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @f16(%x: tensor<4x64xf16>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf16> {
  // expected-error @+1 {{input, weight_scale and result must be f32}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<4x64xf16>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf16>
  return %y : tensor<4x32xf16>
}

// -----

func.func @bias(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>, %b: tensor<16xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{bias must be f32 [N] = [32], got 'tensor<16xf32>'}}
  %y = qopt.qlinear %x, %w scale %s bias %b {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>, tensor<16xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @result(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{result shape 4x16 must be 4x32}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// A string where the typed attribute belongs is refused by the op.
func.func @string_format(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{'qopt.qlinear' op attribute 'weight_format' failed to satisfy constraint: integer weight storage}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = "int8", activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @nf4_zp(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>, %z: tensor<32x1xi8>) -> tensor<4x32xf32> {
  // expected-error @+1 {{weight_zero_point is for uint4 weights only; nf4 weights are symmetric}}
  %y = qopt.qlinear %x, %w scale %s zero_point %z {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xf32>, tensor<32x1xi8>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @nf4_static(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{activation 'dynamic' needs int8 weights, got nf4 (4-bit weights are weight-only)}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<dynamic>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @nf4_per_channel(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{4-bit weights are block-wise: group_size must be > 0}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<nf4>, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dq_not_nf4(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xi8>, %ss: tensor<1xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{double_quant scales are for nf4 weights only}}
  %y = qopt.qlinear %x, %w scale %s double_quant %ss {weight_format = #qopt.weight_format<int4>, group_size = 64, activation = #qopt.activation<none>, scale_offset = 0.5} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xi8>, tensor<1xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dq_scale_type(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>, %ss: tensor<1xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{a double-quantized weight_scale must be i8, got 'f32'}}
  %y = qopt.qlinear %x, %w scale %s double_quant %ss {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>, scale_offset = 0.5} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xf32>, tensor<1xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dq_offset(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xi8>, %ss: tensor<1xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{double_quant needs a finite scale_offset}}
  %y = qopt.qlinear %x, %w scale %s double_quant %ss {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xi8>, tensor<1xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dq_scale_scale_size(%x: tensor<4x64xf32>, %w: tensor<300x32xi8>, %s: tensor<300x1xi8>, %ss: tensor<1xf32>) -> tensor<4x300xf32> {
  // expected-error @+1 {{scale_scale must be [ceil(300 / 256)] = [2], got 1}}
  %y = qopt.qlinear %x, %w scale %s double_quant %ss {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>, scale_offset = 0.5} : (tensor<4x64xf32>, tensor<300x32xi8>, tensor<300x1xi8>, tensor<1xf32>) -> tensor<4x300xf32>
  return %y : tensor<4x300xf32>
}

// -----

func.func @i8_scale_without_dq(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xi8>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input, weight_scale and result must be f32}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xi8>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @offset_without_dq(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x1xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{scale_offset is for double-quantized scales only}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<nf4>, group_size = 64, activation = #qopt.activation<none>, scale_offset = 0.5} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x1xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @static_storage_auto(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input_storage must be int8 or uint8 (auto is qopt-calibrate's choice between them)}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<static>, input_scale = 0.1 : f64, input_zero_point = 0 : i64, input_storage = #qopt.storage<auto>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dynamic_block_int8(%x: tensor<4x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{activation 'dynamic_block' needs int4 or uint4 weights, got int8}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int8>, activation = #qopt.activation<dynamic_block>} : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dynamic_block_nf4(%x: tensor<4x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{activation 'dynamic_block' needs int4 or uint4 weights, got nf4}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<nf4>, group_size = 32, activation = #qopt.activation<dynamic_block>} : (tensor<4x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @dynamic_block_group(%x: tensor<4x60xf32>, %w: tensor<32x30xi8>, %s: tensor<32x5xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{activation 'dynamic_block' needs a group_size that is a multiple of 8 (the int8 kernel's blocks of k), got 12}}
  %y = qopt.qlinear %x, %w scale %s {weight_format = #qopt.weight_format<int4>, group_size = 12, activation = #qopt.activation<dynamic_block>} : (tensor<4x60xf32>, tensor<32x30xi8>, tensor<32x5xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}
