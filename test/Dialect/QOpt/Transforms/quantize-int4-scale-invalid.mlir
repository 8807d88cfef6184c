// RUN: quant-opt %s --qopt-quantize="scheme=w4 int4-scale=minmax" -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-symmetric=false int4-scale=signed-extreme" 2>&1 | FileCheck %s --check-prefix=ASYM
// ASYM: qopt-quantize: int4-scale=signed-extreme and absmax are for symmetric int4; uint4 takes mse or minmax

// minmax is an asymmetric (uint4) rule.
// expected-error @below {{qopt-quantize: int4-scale=minmax is for asymmetric uint4 (weight-symmetric=false)}}
module {
func.func @f(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x4xf32>
  %y = qopt.linear %x, %w : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
}
