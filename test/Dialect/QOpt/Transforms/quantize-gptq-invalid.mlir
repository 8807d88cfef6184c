// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq" --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq" --split-input-file 2>/dev/null | FileCheck %s --check-prefix=DAMPED
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq gptq-damp=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=UNDAMPED
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=round" --split-input-file 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=gptq gptq-damp=1.5" --split-input-file 2>&1 | FileCheck %s --check-prefix=DAMP
// RUN: not quant-opt %s --qopt-quantize="scheme=nf4 weight-rounding=gptq" --split-input-file 2>&1 | FileCheck %s --check-prefix=NF4
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-symmetric=false int4-scale=minmax weight-rounding=gptq" --split-input-file 2>&1 | FileCheck %s --check-prefix=UINT4
// RUN: not quant-opt %s --qopt-quantize="scheme=nf4 bias-correction=true" --split-input-file 2>&1 | FileCheck %s --check-prefix=NF4BIAS
// VALUE: for the --weight-rounding option: Cannot find option named 'round'!
// DAMP: error: qopt-quantize: gptq-damp must be in [0, 1), got 1.5
// NF4: error: qopt-quantize: weight-rounding=gptq is for w8a8, w8a8-dynamic, w8 and symmetric w4 weights, not nf4
// UINT4: error: qopt-quantize: weight-rounding=gptq is for w8a8, w8a8-dynamic, w8 and symmetric w4 weights, not asymmetric uint4
// NF4BIAS: error: qopt-quantize: bias-correction is not supported for nf4

// No calibration run: no second moment to round with.
func.func @no_moments(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  // expected-error @+1 {{qopt-quantize: weight-rounding=gptq needs the input's second moment for layer 'fc' (a second_moment observer with statistics: qopt-insert-observers{kind=second_moment} then qopt-collect-statistics; quant-compile: --calibration-data)}}
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// An observer the calibration run has not filled.
func.func @not_collected(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>} : tensor<2x3xf32>
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  // expected-error @+1 {{needs the input's second moment for layer 'fc'}}
  %y = qopt.linear %o, %w {weight_name = "fc"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// A singular H (inputs 0 and 1 always equal, input 2 never active): the
// 1% damping makes it definite, as in GPTQ; without damping
// (gptq-damp=0) it is an error naming the layer.
// DAMPED: fc.int8: "0x010000007FC1002A7F00"
// UNDAMPED: error: 'qopt.linear' op qopt-quantize: layer 'fc': gptq: the damped Hessian is not positive definite (gptq-damp=0.000000e+00; a larger damping makes it definite)
func.func @singular(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 8, mean = [0.0, 0.0, 0.0], matrix = dense<[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]> : tensor<3x3xf64>>} : tensor<2x3xf32>
  %w = arith.constant dense<[[1.0, -0.5, 0.25], [0.3, 0.9, -0.45]]> : tensor<2x3xf32>
  %y = qopt.linear %o, %w {weight_name = "fc"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
