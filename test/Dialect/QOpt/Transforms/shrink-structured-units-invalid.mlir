// RUN: quant-opt %s --split-input-file --qopt-shrink-structured=strict=true -verify-diagnostics

// Only gate's row 1 is zero: up still carries neuron 1 into the product.
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @gate_only(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %wg = arith.constant dense<[[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]]> : tensor<3x2xf32>
  %wu = arith.constant dense<[[1.0, 1.0], [0.5, 0.5], [2.0, 2.0]]> : tensor<3x2xf32>
  %wd = arith.constant dense<[[1.0, 0.5, 2.0], [3.0, -1.0, 4.0]]> : tensor<2x3xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'gate': its zero channels are not zero in 'up', which meet them in the same ops (prune the layers together: granularity=neurons or heads)}}
  %g = qopt.linear %x, %wg {weight_name = "gate"} : (tensor<2x2xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %u = qopt.linear %x, %wu {weight_name = "up"} : (tensor<2x2xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %h = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g, %u : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %y = qopt.linear %h, %wd {weight_name = "down"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// A reshape groups the 4 channels into 2 heads of 2: zero row 0 alone is
// not a whole head.
func.func @partial_head(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<4x4xf32>
  %wo = arith.constant dense<1.0> : tensor<4x4xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'q': its zero rows are not whole units: a reshape groups its 4 channels into 2 units of 2 (attention heads); prune whole heads (granularity=heads)}}
  %q = qopt.linear %x, %w {weight_name = "q"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %h = tensor.expand_shape %q [[0], [1, 2]] output_shape [2, 2, 2] : tensor<2x4xf32> into tensor<2x2x2xf32>
  %m = tensor.collapse_shape %h [[0], [1, 2]] : tensor<2x2x2xf32> into tensor<2x4xf32>
  %y = qopt.linear %m, %wo {weight_name = "o"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A whole head of zero rows, but the consumer's columns of it are not zero
// and its value goes through a reshape: it cannot be folded.
func.func @head_rows_only(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [5.0, 6.0, 7.0, 8.0], [9.0, 1.0, 2.0, 3.0]]> : tensor<4x4xf32>
  %wo = arith.constant dense<1.0> : tensor<4x4xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'q': its zero channels reach an op that is not element-wise (such as attention), so their constant output cannot be folded into the next layer: prune whole heads (granularity=heads zeroes the output projection's columns too)}}
  %q = qopt.linear %x, %w {weight_name = "q"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %h = tensor.expand_shape %q [[0], [1, 2]] output_shape [2, 2, 2] : tensor<2x4xf32> into tensor<2x2x2xf32>
  %m = tensor.collapse_shape %h [[0], [1, 2]] : tensor<2x2x2xf32> into tensor<2x4xf32>
  %y = qopt.linear %m, %wo {weight_name = "o"} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// The channels are merged as the inner dimension of a reshape.
func.func @inner_merge(%x: tensor<2x4xf32>, %z: tensor<2x3x4xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]]> : tensor<2x4xf32>
  %wo = arith.constant dense<1.0> : tensor<8x4xf32>
  // expected-error @+1 {{qopt-shrink-structured: cannot shrink layer 'p': 'tensor.collapse_shape' merges its channels as an inner dimension}}
  %p = qopt.linear %x, %w {weight_name = "p"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32>
  %h = tensor.expand_shape %p [[0, 1], [2]] output_shape [1, 2, 2] : tensor<2x2xf32> into tensor<1x2x2xf32>
  %m = tensor.collapse_shape %h [[0], [1, 2]] : tensor<1x2x2xf32> into tensor<1x4xf32>
  %r = tensor.collapse_shape %m [[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
  %e = tensor.expand_shape %r [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  %c = tensor.empty() : tensor<2x8xf32>
  return %c : tensor<2x8xf32>
}
