// RUN: quant-opt %s --qopt-quantize="scheme=w8a8-dynamic" -verify-diagnostics | FileCheck %s

// K = 65794 could overflow the i32 accumulator of int8 x int8 products: the
// layer gets weight-only int8 instead.
// CHECK: qopt.qlinear {{.*}}activation = #qopt.activation<none>{{.*}}weight_format = #qopt.weight_format<int8>
func.func @wide(%x: tensor<1x65794xf32>) -> tensor<1x1xf32> {
  %w = arith.constant dense<0.5> : tensor<1x65794xf32>
  // expected-warning @+1 {{qopt-quantize: K = 65794 exceeds 65793 (i32 accumulation could overflow): weight-only int8 instead}}
  %y = qopt.linear %x, %w : (tensor<1x65794xf32>, tensor<1x65794xf32>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}
