// RUN: quant-opt %s --qopt-quantize --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w5" --split-input-file 2>&1 | FileCheck %s --check-prefix=SCHEME
// RUN: not quant-opt %s --qopt-quantize="exclude=(" --split-input-file 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not quant-opt %s --qopt-quantize="include=[" --split-input-file 2>&1 | FileCheck %s --check-prefix=INCLUDE
// RUN: not quant-opt %s --qopt-quantize="form=qoperator" --split-input-file 2>&1 | FileCheck %s --check-prefix=FORM
// RUN: not quant-opt %s --qopt-quantize="form=qdq scheme=w8" --split-input-file 2>&1 | FileCheck %s --check-prefix=QDQ
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 group-size=3" --split-input-file 2>&1 | FileCheck %s --check-prefix=GROUP
// SCHEME: error: qopt-quantize: unknown scheme 'w5' (expected w8a8, w8a8-dynamic, w8 or w4)
// REGEX: error: qopt-quantize: exclude regex '(':
// INCLUDE: error: qopt-quantize: include regex '[':
// FORM: error: qopt-quantize: unknown form 'qoperator' (expected qlinear or qdq)
// QDQ: error: qopt-quantize: form=qdq is for scheme w8a8 only
// GROUP: error: qopt-quantize: group-size must be a positive even number, got 3

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
