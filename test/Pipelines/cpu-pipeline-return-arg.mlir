// A function that returns its argument (ONNX Identity, a no-op reduction)
// lowers completely: the clone that deallocation keeps becomes memref ops.
// RUN: quant-opt %s --qopt-cpu-pipeline | FileCheck %s
// CHECK-LABEL: llvm.func @main
// CHECK-NOT: bufferization.
// CHECK-NOT: memref.
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
