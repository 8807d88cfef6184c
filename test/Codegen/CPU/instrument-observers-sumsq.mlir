// RUN: quant-opt %s --qopt-instrument-observers | FileCheck %s

// A channel_sumsq observer (Wanda) reports to its own function with its
// channel axis.
// CHECK: func.func private @qopt_observe_channel_sumsq_f32(i64, i64, tensor<*xf32> {bufferization.access = "read"})
// CHECK-LABEL: func.func @sumsq
// CHECK: %[[ID:.*]] = arith.constant 5 : i64
// CHECK: %[[U:.*]] = tensor.cast %arg0 : tensor<1x4x3x3xf32> to tensor<*xf32>
// CHECK: %[[AXIS:.*]] = arith.constant 1 : i64
// CHECK: call @qopt_observe_channel_sumsq_f32(%[[ID]], %[[AXIS]], %[[U]])
func.func @sumsq(%x: tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32> {
  %o = qopt.observe %x {id = 5 : i64, kind = #qopt.observer<channel_sumsq>, channel_axis = 1 : i64} : tensor<1x4x3x3xf32>
  return %o : tensor<1x4x3x3xf32>
}
