// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=12 w4-activations=int8" -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 w4-activations=int8" 2>&1 | FileCheck %s --check-prefix=SCHEME
// RUN: not quant-opt %s --qopt-quantize="scheme=nf4 w4-activations=int8" 2>&1 | FileCheck %s --check-prefix=NF4
// SCHEME: qopt-quantize: w4-activations=int8 is for scheme=w4, not w8
// NF4: qopt-quantize: w4-activations=int8 is for scheme=w4, not nf4

// The int8 kernel quantizes blocks of 8 k.
// expected-error @below {{qopt-quantize: w4-activations=int8 needs a group-size that is a multiple of 8 (the int8 kernel's blocks of k), got 12}}
module {
func.func @f(%x: tensor<2x24xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x24xf32>
  %y = qopt.linear %x, %w : (tensor<2x24xf32>, tensor<2x24xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
}
