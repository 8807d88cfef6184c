// RUN: quant-opt %s --qopt-ternarize --split-input-file --verify-diagnostics
// RUN: quant-opt %s --qopt-ternarize="mode=lossless" --split-input-file --verify-diagnostics
// RUN: not quant-opt %s --qopt-ternarize="exclude=(" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not quant-opt %s --qopt-ternarize="include=[" 2>&1 | FileCheck %s --check-prefix=INCLUDE
// RUN: not quant-opt %s --qopt-ternarize="mode=trits" 2>&1 | FileCheck %s --check-prefix=MODE
// REGEX: error: qopt-ternarize: exclude regex '(':
// INCLUDE: error: qopt-ternarize: include regex '[':
// MODE: for the --mode option: Cannot find option named 'trits'!

func.func @not_finite(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[0x7F800000, 0.0, 0.0, 0.25]]> : tensor<1x4xf32>
  // expected-error @+1 {{qopt-ternarize: the weight of layer 'inf' is not finite}}
  %y = qopt.linear %x, %w {weight_name = "inf"} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
