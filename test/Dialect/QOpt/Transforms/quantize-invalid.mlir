// RUN: quant-opt %s --qopt-quantize --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w5" --split-input-file 2>&1 | FileCheck %s --check-prefix=SCHEME
// RUN: not quant-opt %s --qopt-quantize="exclude=(" --split-input-file 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not quant-opt %s --qopt-quantize="include=[" --split-input-file 2>&1 | FileCheck %s --check-prefix=INCLUDE
// RUN: not quant-opt %s --qopt-quantize="form=qoperator" --split-input-file 2>&1 | FileCheck %s --check-prefix=FORM
// RUN: not quant-opt %s --qopt-quantize="form=qdq scheme=w8" --split-input-file 2>&1 | FileCheck %s --check-prefix=QDQ
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 group-size=3" --split-input-file 2>&1 | FileCheck %s --check-prefix=GROUP
// SCHEME: for the --scheme option: Cannot find option named 'w5'!
// REGEX: error: qopt-quantize: exclude regex '(':
// INCLUDE: error: qopt-quantize: include regex '[':
// FORM: for the --form option: Cannot find option named 'qoperator'!
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
  %o = qopt.observe %x {id = 0 : i64, calibration = #qopt.calibration<method = minmax, min = -12.8, max = 12.7, type = !quant.uniform<i8:f32, 0.10000000149011612>>} : tensor<2x2xf32>
  %w = arith.constant dense<[[1.0, 0x7F800000], [0.5, 0.25]]> : tensor<2x2xf32>
  // expected-error @+1 {{qopt-quantize: the weight is not finite}}
  %y = qopt.linear %o, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
