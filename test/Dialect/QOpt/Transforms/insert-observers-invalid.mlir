// RUN: not quant-opt %s --qopt-insert-observers="ops=softmax" 2>&1 | FileCheck %s --check-prefix=OPS
// RUN: not quant-opt %s --qopt-insert-observers="kind=mean" 2>&1 | FileCheck %s --check-prefix=KIND
// OPS: error: qopt-insert-observers: unknown op kind 'softmax' in ops (linear, matmul, conv)
// KIND: for the --kind option: Cannot find option named 'mean'!
func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
