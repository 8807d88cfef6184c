// RUN: quant-opt %s --qopt-fold-lora --split-input-file -verify-diagnostics

func.func @weight_not_constant(%x: tensor<3x2xf32>, %w: tensor<2x2xf32>) -> tensor<3x2xf32> {
  %a = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[0.5], [-1.0]]> : tensor<2x1xf32>
  %y = qopt.linear %x, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  // expected-error @+1 {{qopt-fold-lora: adapter 'a' cannot be merged: the layer's weight is not a constant f32 tensor, or the adapter's matrices are not constants}}
  %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "a"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @base_not_a_layer(%x: tensor<3x2xf32>, %y: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %a = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[0.5], [-1.0]]> : tensor<2x1xf32>
  // expected-error @+1 {{qopt-fold-lora: adapter 'a' cannot be merged: its base is not the result of a layer}}
  %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "a"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @other_input(%x: tensor<3x2xf32>, %x2: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %a = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[0.5], [-1.0]]> : tensor<2x1xf32>
  %y = qopt.linear %x, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  // expected-error @+1 {{qopt-fold-lora: adapter 'a' cannot be merged: it does not read its layer's input}}
  %z = qopt.lora %y, %x2, %a, %b scale 2.0 {adapter = "a"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @not_finite(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[3.0e38, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %a = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[1.0], [0.0]]> : tensor<2x1xf32>
  %y = qopt.linear %x, %w {weight_name = "fc.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  // expected-error @+1 {{qopt-fold-lora: the merged weight of 'fc.weight' is not finite (element 0)}}
  %z = qopt.lora %y, %x, %a, %b scale 1.0e38 {adapter = "a"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

func.func @switched(%x: tensor<3x2xf32>, %s: tensor<i64>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %a = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[0.5], [-1.0]]> : tensor<2x1xf32>
  %y = qopt.linear %x, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  // expected-error @+1 {{qopt-fold-lora: adapter 'a' cannot be merged: it is switched per call (adapter_index 0); switched adapters stay unmerged}}
  %z = qopt.lora %y, %x, %a, %b scale 2.0 select %s {adapter = "a", adapter_index = 0} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>, tensor<i64>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}
