// RUN: quant-opt %s --qopt-instrument-observers --split-input-file -verify-diagnostics | FileCheck %s

// Each observer becomes a call with its id and the values as an unranked
// tensor (read-only for bufferization); the value flows on unchanged.
// CHECK: func.func private @qopt_observe_f32(i64, tensor<*xf32> {bufferization.access = "read"})
// CHECK-LABEL: func.func @f
// CHECK: %[[ID:.*]] = arith.constant 3 : i64
// CHECK: %[[U:.*]] = tensor.cast %arg0 : tensor<2x4xf32> to tensor<*xf32>
// CHECK: call @qopt_observe_f32(%[[ID]], %[[U]])
// CHECK-NOT: qopt.observe
// CHECK: return %arg0
func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %o = qopt.observe %x {id = 3 : i64} : tensor<2x4xf32>
  return %o : tensor<2x4xf32>
}

// -----

func.func @half(%x: tensor<2xf16>) -> tensor<2xf16> {
  // expected-error @+1 {{qopt-instrument-observers: observing 'f16' values is not supported (calibrate the f32 model)}}
  %o = qopt.observe %x {id = 0 : i64} : tensor<2xf16>
  return %o : tensor<2xf16>
}

// -----

// A channel_absmax observer (SmoothQuant) reports to its own function.
// CHECK: func.func private @qopt_observe_channels_f32(i64, tensor<*xf32> {bufferization.access = "read"})
// CHECK-LABEL: func.func @channels
// CHECK: call @qopt_observe_channels_f32(
// CHECK-NOT: call @qopt_observe_f32(
func.func @channels(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %o = qopt.observe %x {id = 1 : i64, kind = #qopt.observer<channel_absmax>} : tensor<2x4xf32>
  return %o : tensor<2x4xf32>
}
