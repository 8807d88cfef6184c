// RUN: quant-opt %s --split-input-file --verify-diagnostics

func.func @k_not_multiple_of_4(%x: tensor<4x6xf32>, %w: tensor<3x2xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{K = 6 must be a multiple of 4 (four 2-bit weights a byte)}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x6xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @unpacked(%x: tensor<4x8xf32>, %w: tensor<3x8xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{packed ternary weight must be [N, K/4] = [N, 2], got 3x8}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<3x8xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @weight_rank(%x: tensor<4x8xf32>, %w: tensor<6xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{packed ternary weight must be 2-D [N, K/4], got rank 1}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<6xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @dynamic_k(%x: tensor<4x?xf32>, %w: tensor<3x2xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{needs a static input feature size K}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x?xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @rank0(%x: tensor<f32>, %w: tensor<3x2xi8>) -> tensor<3xf32> {
  // expected-error @+1 {{input must have rank >= 1, got a rank-0 tensor}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<f32>, tensor<3x2xi8>) -> tensor<3xf32>
  return %y : tensor<3xf32>
}

// -----

func.func @zero_scale(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{weight_scale must be positive and finite, got 0}}
  %y = qopt.bitlinear %x, %w scale 0.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @negative_scale(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{weight_scale must be positive and finite, got -2}}
  %y = qopt.bitlinear %x, %w scale -2.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @bias_size(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>, %b: tensor<4xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{bias must be [N] = [3], got 'tensor<4xf32>'}}
  %y = qopt.bitlinear %x, %w scale 1.0 bias %b {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<3x2xi8>, tensor<4xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @result_shape(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>) -> tensor<4x5xf32> {
  // expected-error @+1 {{result shape must be the input's batch dims followed by N = 3}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<3x2xi8>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

func.func @empty_name(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>) -> tensor<4x3xf32> {
  // expected-error @+1 {{weight_name must not be empty when present}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>, weight_name = ""} : (tensor<4x8xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @code_three(%x: tensor<4x8xf32>) -> tensor<4x3xf32> {
  // 0x64 = codes 0 1 2 1; 0x4C = codes 0 3 0 1: byte 3 (row 1, byte 1), k = 5.
  %w = arith.constant dense<[[100, 100], [100, 76], [85, 85]]> : tensor<3x2xi8>
  // expected-error @+1 {{packed weight byte 3 holds the invalid 2-bit code 3 (weight k = 5 of row 1)}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @bad_activation(%x: tensor<4x8xf32>, %w: tensor<3x2xi8>) -> tensor<4x3xf32> {
  // expected-error @+2 {{expected ::mlir::qopt::BitLinearActivation to be one of: none, per_token_int8}}
  // expected-error @+1 {{failed to parse QOpt_BitLinearActivationAttr parameter 'value'}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<int4>} : (tensor<4x8xf32>, tensor<3x2xi8>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

func.func @f16_input(%x: tensor<4x8xf16>, %w: tensor<3x2xi8>) -> tensor<4x3xf16> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values}}
  %y = qopt.bitlinear %x, %w scale 1.0 {activation = #qopt.bitlinear_activation<none>} : (tensor<4x8xf16>, tensor<3x2xi8>) -> tensor<4x3xf16>
  return %y : tensor<4x3xf16>
}
