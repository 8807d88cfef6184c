// RUN: quant-opt %s --qopt-quantize -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w4" 2>&1 | FileCheck %s --check-prefix=SCHEME
// RUN: not quant-opt %s --qopt-quantize="exclude=(" 2>&1 | FileCheck %s --check-prefix=REGEX
// SCHEME: error: qopt-quantize: scheme 'w4' is not supported yet (w8a8)
// REGEX: error: qopt-quantize: exclude regex '(':

func.func @uncalibrated(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{qopt-quantize: observer 0 has no quantization parameters (run qopt-calibrate)}}
  %o = qopt.observe %x {id = 0 : i64} : tensor<2x3xf32>
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  %y = qopt.linear %o, %w : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
