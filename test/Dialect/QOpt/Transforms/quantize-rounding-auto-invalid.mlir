// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=auto" -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=nf4 weight-rounding=auto" 2>&1 | FileCheck %s --check-prefix=NF4
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-symmetric=false int4-scale=minmax weight-rounding=auto" 2>&1 | FileCheck %s --check-prefix=UINT4
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 weight-rounding=best" 2>&1 | FileCheck %s --check-prefix=VALUE

// NF4: error: qopt-quantize: weight-rounding=auto is for w8a8, w8a8-dynamic, w8 and symmetric w4 weights, not nf4
// UINT4: error: qopt-quantize: weight-rounding=auto is for w8a8, w8a8-dynamic, w8 and symmetric w4 weights, not asymmetric uint4
// VALUE: for the --weight-rounding option: Cannot find option named 'best'!

// auto compares errors on the layer's inputs: without their second moment
// it cannot choose.
func.func @no_moments(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  // expected-error @+1 {{qopt-quantize: weight-rounding=auto needs the input's second moment for layer 'fc'}}
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
