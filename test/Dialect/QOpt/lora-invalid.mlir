// qopt.lora verifier errors.
// RUN: quant-opt %s --split-input-file --verify-diagnostics

func.func @a_shape(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x15xf32>, %b: tensor<32x8xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op lora_a must be [r, in] = [r, 16], got 8x15}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x15xf32>, tensor<32x8xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @b_shape(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x4xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op lora_b must be [out, r] = [32, 8], got 32x4}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x4xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @rank(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<0x16xf32>, %b: tensor<32x0xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op the rank r must be >= 1}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<0x16xf32>, tensor<32x0xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @not_2d(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16x1xf32>, %b: tensor<32x8xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op lora_a and lora_b must be 2-D, got 8x16x1 and 32x8}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16x1xf32>, tensor<32x8xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @types(%y: tensor<2x32xf32>, %x: tensor<2x16xf16>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op base, input and result must share the element type, and result must have base's type}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf16>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @mixed_storage(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf16>, %b: tensor<32x8xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op lora_a and lora_b must both have the layer's element type, or both be f16/bf16 storage of a wider one; got 'f16' and 'f32' for a layer in 'f32'}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf16>, tensor<32x8xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @wider_storage(%y: tensor<2x32xf16>, %x: tensor<2x16xf16>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<2x32xf16> {
  // expected-error @+1 {{'qopt.lora' op lora_a and lora_b must both have the layer's element type, or both be f16/bf16 storage of a wider one; got 'f32' and 'f32' for a layer in 'f16'}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf16>, tensor<2x16xf16>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<2x32xf16>
  return %z : tensor<2x32xf16>
}

// -----

func.func @leading(%y: tensor<3x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<3x32xf32> {
  // expected-error @+1 {{'qopt.lora' op base 3x32 and input 2x16 differ in leading dimension 0}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<3x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<3x32xf32>
  return %z : tensor<3x32xf32>
}

// -----

func.func @ranks_differ(%y: tensor<1x2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<1x2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op base and input must have the same rank >= 1}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<1x2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<1x2x32xf32>
  return %z : tensor<1x2x32xf32>
}

// -----

func.func @scale(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op scale must be finite, got INF}}
  %z = qopt.lora %y, %x, %a, %b scale 0x7FF0000000000000 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @name(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op adapter must name the adapter}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = ""} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @selector_without_index(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>, %s: tensor<i64>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op a switched adapter needs both a selector and an adapter_index}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 select %s {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>, tensor<i64>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// -----

func.func @negative_index(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>, %s: tensor<i64>) -> tensor<2x32xf32> {
  // expected-error @+1 {{'qopt.lora' op adapter_index must be >= 0, got -1}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0 select %s {adapter = "a", adapter_index = -1} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>, tensor<i64>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}
