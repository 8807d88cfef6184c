// RUN: quant-opt %s --qopt-quantize="scheme=w8" | FileCheck %s --check-prefix=NEAREST
// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq" | FileCheck %s --check-prefix=GPTQ
// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq bias-correction=true" | FileCheck %s --check-prefix=BIAS
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 weight-rounding=gptq include=w4fc" | FileCheck %s --check-prefix=W4
// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq include=conv_w" | FileCheck %s --check-prefix=CONV

// W = [[1, -0.5, 0.26], [0.3, 0.9, -0.45]], E[x xᵀ] with correlated inputs
// 0 and 1. Round to nearest (scale max|w| / 127): [127, -64, 33],
// [42, 127, -64]. GPTQ (1% damping; the numpy reference in
// test/python/test_ptq_gptq.py's gptq_reference gives the same) moves each
// rounding error onto the inputs not yet rounded: [127, -63, 33],
// [42, 127, -63]; the scales are nearest's.
// NEAREST-NOT: qopt.observe
// NEAREST-NOT: rounding_error
// NEAREST: qopt.qlinear %arg0, {{.*}}weight_name = "fc"
// NEAREST: fc.int8: "0x010000007FC0212A7FC0"
// NEAREST: fc.scale: "0x040000000402013CD436E83B"

// GPTQ-NOT: qopt.observe
// GPTQ: qopt.qlinear %arg0, {{.*}}qopt.rounding_error = #qopt.rounding_error<method = gptq, nearest_sqnr_db = 47.69{{[0-9]*}}, sqnr_db = 48.80{{[0-9]*}}, bias_corrected = false>, {{.*}}weight_name = "fc"
// GPTQ: fc.int8: "0x010000007FC1212A7FC1"
// GPTQ: fc.scale: "0x040000000402013CD436E83B"

// Bias correction: bias + (W - Wq)·E[x], E[x] = [0.5, 0.4, -0.2]:
// [0.5, -0.25] + [-0.0016063, 0.0018898].
// BIAS: %[[B:.*]] = arith.constant dense_resource<fc.bias_corrected> : tensor<2xf32>
// BIAS: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} bias %[[B]] {{.*}}nearest_sqnr_db = 47.69{{[0-9]*}}, sqnr_db = 50.09{{[0-9]*}}, bias_corrected = true
// BIAS: fc.bias_corrected: "0x04000000762DFF3E9C107EBE"
func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 16, mean = [0.5, 0.4, -0.2], matrix = dense<[[1.0, 0.9, 0.2], [0.9, 1.0, 0.1], [0.2, 0.1, 0.5]]> : tensor<3x3xf64>>} : tensor<4x3xf32>
  %w = arith.constant dense<[[1.0, -0.5, 0.26], [0.3, 0.9, -0.45]]> : tensor<2x3xf32>
  %b = arith.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %y = qopt.linear %o, %w, %b {weight_name = "fc"} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// w4 (int4, groups of 4) rounded by GPTQ, with scales from the weights as they stand
// when each group is reached (the second group's are not max|w| / 7 of the
// original weights).
// W4: qopt.qlinear %arg0, {{.*}}weight_format = #qopt.weight_format<int4>, weight_name = "w4fc"
// W4: w4fc.int4: "0x0100000096F1FEF97EF1CED9"
// W4: w4fc.scale: "0x04000000E73EBB3EFB048F3E93D5F23E56C6213E"
func.func @w4(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 1 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 32, mean = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], matrix = dense<[[0.907, 0.819, 0.204, -0.169, 0.074, -0.025, -0.403, -0.145], [0.819, 0.749, 0.186, -0.151, 0.085, -0.014, -0.345, -0.115], [0.204, 0.186, 0.704, 0.01, -0.068, -0.125, 0.065, 0.099], [-0.169, -0.151, 0.01, 0.643, -0.068, 0.192, -0.036, 0.004], [0.074, 0.085, -0.068, -0.068, 1.475, -0.076, 0.241, 0.037], [-0.025, -0.014, -0.125, 0.192, -0.076, 0.951, -0.062, -0.065], [-0.403, -0.345, 0.065, -0.036, 0.241, -0.062, 1.109, 0.08], [-0.145, -0.115, 0.099, 0.004, 0.037, -0.065, 0.08, 0.949]]> : tensor<8x8xf64>>} : tensor<4x8xf32>
  %w = arith.constant dense<[[2.04, -2.56, 0.42, -0.57, -0.45, -0.22, -2.02, -0.23], [-0.87, 3.32, 0.23, -0.35, -0.28, -0.67, -1.06, -0.39]]> : tensor<2x8xf32>
  %y = qopt.linear %o, %w {weight_name = "w4fc"} : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// A convolution's rows are its im2col patches (C·kh·kw = 8, in (c, i, j)
// order): the same matrix, the filter flattened to [2, 8], int8 per filter.
// CONV: quant.uniform<i8:f32:0, {0.020157480{{[0-9]*}},0.02614173{{[0-9]*}}}>
// CONV: conv_w.int8: "0x01000000658115E4EAF59CF5DF7F09F3F5E6D8F1"
func.func @conv(%x: tensor<1x2x3x3xf32>, %init: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %o = qopt.observe %x {id = 2 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 2, 2, 1, 1, 1, 1>, second_moment = #qopt.second_moment<rows = 32, mean = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], matrix = dense<[[0.907, 0.819, 0.204, -0.169, 0.074, -0.025, -0.403, -0.145], [0.819, 0.749, 0.186, -0.151, 0.085, -0.014, -0.345, -0.115], [0.204, 0.186, 0.704, 0.01, -0.068, -0.125, 0.065, 0.099], [-0.169, -0.151, 0.01, 0.643, -0.068, 0.192, -0.036, 0.004], [0.074, 0.085, -0.068, -0.068, 1.475, -0.076, 0.241, 0.037], [-0.025, -0.014, -0.125, 0.192, -0.076, 0.951, -0.062, -0.065], [-0.403, -0.345, 0.065, -0.036, 0.241, -0.062, 1.109, 0.08], [-0.145, -0.115, 0.099, 0.004, 0.037, -0.065, 0.08, 0.949]]> : tensor<8x8xf64>>} : tensor<1x2x3x3xf32>
  %f = arith.constant dense<[[[[2.04, -2.56], [0.42, -0.57]], [[-0.45, -0.22], [-2.02, -0.23]]], [[[-0.87, 3.32], [0.23, -0.35]], [[-0.28, -0.67], [-1.06, -0.39]]]]> : tensor<2x2x2x2xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%o, %f : tensor<1x2x3x3xf32>, tensor<2x2x2x2xf32>) outs(%init : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> loc("conv_w")
  return %c : tensor<1x2x2x2xf32>
}
