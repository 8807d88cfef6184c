// quant-opt on invalid IR: a located diagnostic, a non-zero exit, and no
// output file left behind.
// RUN: rm -f %t.out
// RUN: not quant-opt %s -o %t.out 2>&1 | FileCheck %s
// RUN: not test -e %t.out
// RUN: not quant-opt %s --convert-qopt-to-linalg -o %t.out 2>&1 | FileCheck %s
// RUN: not test -e %t.out

// CHECK: quant-opt-errors.mlir:[[@LINE+2]]:8: error: 'qopt.linear' op input feature size (15) must equal the weight's in_features (16)
func.func @bad(%x: tensor<4x15xf32>, %w: tensor<32x16xf32>) -> tensor<4x32xf32> {
  %y = qopt.linear %x, %w : (tensor<4x15xf32>, tensor<32x16xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}
