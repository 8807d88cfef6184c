// RUN: quant-opt %s --qopt-smooth-quant --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-smooth-quant="alpha=1.5" 2>&1 | FileCheck %s --check-prefix=ALPHA
// ALPHA: error: qopt-smooth-quant: alpha must be in [0, 1], got 1.5

func.func @no_stats(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{qopt-smooth-quant: observer 4 has no channel statistics (run qopt-collect-statistics)}}
  %o = qopt.observe %x {id = 4 : i64, kind = #qopt.observer<channel_absmax>} : tensor<3x2xf32>
  %w = arith.constant dense<1.0> : tensor<2x2xf32>
  %y = qopt.linear %o, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
