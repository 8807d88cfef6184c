// A syntax error is reported with its location and exits non-zero.
// RUN: not quant-opt %s 2>&1 | FileCheck %s

// CHECK: quant-opt-syntax-error.mlir:[[@LINE+2]]:{{[0-9]+}}: error: custom op 'qopt.fake_quant' expected 'zero_point'
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = qopt.fake_quant %x scale [0.1] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}
