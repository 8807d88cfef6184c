// RUN: quant-opt %s --qopt-quantize --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w4" --split-input-file 2>&1 | FileCheck %s --check-prefix=SCHEME
// RUN: not quant-opt %s --qopt-quantize="exclude=(" --split-input-file 2>&1 | FileCheck %s --check-prefix=REGEX
// SCHEME: error: qopt-quantize: scheme 'w4' is not supported yet (w8a8)
// REGEX: error: qopt-quantize: exclude regex '(':

func.func @uncalibrated(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{qopt-quantize: observer 0 has no quantization parameters (run qopt-calibrate)}}
  %o = qopt.observe %x {id = 0 : i64} : tensor<2x3xf32>
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  %y = qopt.linear %o, %w : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @infinite_weight(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, qopt.scale = 0.1 : f32, qopt.zero_point = 0 : i64, qopt.storage = "int8"} : tensor<2x2xf32>
  %w = arith.constant dense<[[1.0, 0x7F800000], [0.5, 0.25]]> : tensor<2x2xf32>
  // expected-error @+1 {{qopt-quantize: the weight is not finite}}
  %y = qopt.linear %o, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
