// RUN: quant-opt %s --qopt-shrink-structured="strict=true" --split-input-file -verify-diagnostics

// With strict, a pruned layer that cannot be shrunk is an error.
func.func @to_return(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'head': its channels reach 'func.return'}}
  %h = qopt.linear %x, %w1 {weight_name = "head"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %h : tensor<4x2xf32>
}

// -----

func.func @weight_input(%x: tensor<4x2xf32>, %w2: tensor<1x2xf32>) -> tensor<4x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': the weight of consumer 'fc2' is not a constant f32 tensor}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %y = qopt.linear %h, %w2 {weight_name = "fc2"} : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
func.func @transposed(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': a linear layer reads its channels along a batch dimension}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %r = linalg.generic {indexing_maps = [#t, #map], iterator_types = ["parallel", "parallel"]} ins(%h : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %out: f32):
    linalg.yield %a : f32
  } -> tensor<2x2xf32>
  %y = qopt.linear %r, %w2 : (tensor<2x2xf32>, tensor<1x2xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

#map3 = affine_map<(d0, d1) -> (d0, d1)>
func.func @unknown_math(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': the element-wise op 'linalg.generic' holds an op that cannot be evaluated}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %r = linalg.generic {indexing_maps = [#map3, #map3], iterator_types = ["parallel", "parallel"]} ins(%h : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) {
  ^bb0(%a: f32, %out: f32):
    %s = math.sin %a : f32
    linalg.yield %s : f32
  } -> tensor<2x2xf32>
  %y = qopt.linear %r, %w2 : (tensor<2x2xf32>, tensor<1x2xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

func.func @channel_size_read(%x: tensor<4x2xf32>) -> (tensor<4x1xf32>, index) {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': the size of the channel dimension is read (tensor.dim)}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %c1 = arith.constant 1 : index
  %d = tensor.dim %h, %c1 : tensor<4x2xf32>
  %y = qopt.linear %h, %w2 : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y, %d : tensor<4x1xf32>, index
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @reduction(%x: tensor<4x2xf32>) -> tensor<1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<1.0> : tensor<1x4xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': 'linalg.generic' reduces over its channels (a normalization's mean or variance}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%h : tensor<4x2xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %y = qopt.linear %r, %w2 : (tensor<4xf32>, tensor<1x4xf32>) -> tensor<1xf32>
  return %y : tensor<1xf32>
}

// -----

func.func @bias_argument(%x: tensor<4x2xf32>, %b: tensor<2xf32>) -> tensor<4x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': its bias is not a constant f32 tensor}}
  %h = qopt.linear %x, %w1, %b {weight_name = "fc1"} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %y = qopt.linear %h, %w2 : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// -----

#m = affine_map<(d0, d1) -> (d0, d1)>
#rowc = affine_map<(d0, d1) -> (d0)>
func.func @row_constant(%x: tensor<4x2xf32>) -> tensor<4x1xf32> {
  %w1 = arith.constant dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'fc1': a constant operand of 'linalg.generic' varies along a dimension other than the channels}}
  %h = qopt.linear %x, %w1 {weight_name = "fc1"} : (tensor<4x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %e = tensor.empty() : tensor<4x2xf32>
  %r = linalg.generic {indexing_maps = [#m, #rowc, #m], iterator_types = ["parallel", "parallel"]} ins(%h, %c : tensor<4x2xf32>, tensor<4xf32>) outs(%e : tensor<4x2xf32>) {
  ^bb0(%a: f32, %s: f32, %out: f32):
    %p = arith.mulf %a, %s : f32
    linalg.yield %p : f32
  } -> tensor<4x2xf32>
  %y = qopt.linear %r, %w2 : (tensor<4x2xf32>, tensor<1x2xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}
