// RUN: quant-opt %s --qopt-instrument-observers | FileCheck %s

// A second_moment observer (GPTQ, bias correction) reports to its own
// function with its window (kh, kw, stride h, stride w, dilation h,
// dilation w; zeros without one) before the values.
// CHECK: func.func private @qopt_observe_second_moment_f32(i64, i64, i64, i64, i64, i64, i64, tensor<*xf32> {bufferization.access = "read"})
// CHECK-LABEL: func.func @moments
// CHECK-DAG: %c3_i64 = arith.constant 3 : i64
// CHECK: call @qopt_observe_second_moment_f32(%{{.*}}, %c3_i64, %c1_i64, %c2_i64, %c2_i64_0, %c1_i64_1, %c1_i64_2, %{{.*}})
// CHECK: call @qopt_observe_second_moment_f32(%{{.*}}, %c0_i64, %c0_i64_4, %c0_i64_5, %c0_i64_6, %c0_i64_7, %c0_i64_8, %{{.*}})
// CHECK-NOT: qopt.observe
func.func @moments(%x: tensor<1x4x7x7xf32>, %y: tensor<2x8xf32>) -> (tensor<1x4x7x7xf32>, tensor<2x8xf32>) {
  %o = qopt.observe %x {id = 5 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 3, 1, 2, 2, 1, 1>} : tensor<1x4x7x7xf32>
  %p = qopt.observe %y {id = 6 : i64, kind = #qopt.observer<second_moment>} : tensor<2x8xf32>
  return %o, %p : tensor<1x4x7x7xf32>, tensor<2x8xf32>
}
