// A pass error exits non-zero and writes no output.
// RUN: rm -f %t.out
// RUN: not quant-opt %s --qopt-expand-fake-quant -o %t.out 2>&1 | FileCheck %s
// RUN: not test -e %t.out

// CHECK: expand-fake-quant-exit.mlir:[[@LINE+2]]:8: error: 'qopt.fake_quant' op range [0, 4294967296] does not fit 32-bit storage
func.func @too_wide(%x: tensor<4xf64>) -> tensor<4xf64> {
  %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [0, 4294967296] : tensor<4xf64>
  return %y : tensor<4xf64>
}
