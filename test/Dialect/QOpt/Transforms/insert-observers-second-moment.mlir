// RUN: quant-opt %s --qopt-insert-observers --qopt-insert-observers="kind=second_moment" | FileCheck %s
// RUN: quant-opt %s --qopt-insert-observers="kind=second_moment" --qopt-insert-observers="kind=second_moment" | FileCheck %s --check-prefix=TWICE

// GPTQ's moments: on the inputs of the layers qopt-quantize rewrites, below
// the range observers already there; a convolution's carries its window
// [kh, kw, stride h, stride w, dilation h, dilation w]. The attention-like
// matmul of two activations gets none.
// CHECK-LABEL: func.func @f
// CHECK-DAG: %[[SC:.*]] = qopt.observe %arg1 {id = {{[0-9]+}} : i64, kind = #qopt.observer<second_moment>, window = array<i64: 3, 1, 2, 2, 1, 1>} : tensor<1x4x7x7xf32>
// CHECK-DAG: %[[SL:.*]] = qopt.observe %arg0 {id = {{[0-9]+}} : i64, kind = #qopt.observer<second_moment>} : tensor<2x4xf32>
// CHECK-DAG: %[[HL:.*]] = qopt.observe %[[SL]] {id = {{[0-9]+}} : i64, kind = #qopt.observer<histogram>} : tensor<2x4xf32>
// CHECK-DAG: %[[HC:.*]] = qopt.observe %[[SC]] {id = {{[0-9]+}} : i64, kind = #qopt.observer<histogram>} : tensor<1x4x7x7xf32>
// CHECK: qopt.linear %[[HL]]
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[HC]],
// CHECK-NOT: second_moment
// TWICE-COUNT-2: kind = #qopt.observer<second_moment>
// TWICE-NOT: kind = #qopt.observer<second_moment>
func.func @f(%x: tensor<2x4xf32>, %img: tensor<1x4x7x7xf32>, %o: tensor<1x2x3x4xf32>, %a: tensor<2x4xf32>, %b: tensor<4x3xf32>, %m: tensor<2x3xf32>) -> (tensor<2x1xf32>, tensor<1x2x3x4xf32>, tensor<2x3xf32>) {
  %w = arith.constant dense<1.0> : tensor<1x4xf32>
  %y = qopt.linear %x, %w : (tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x1xf32>
  %f = arith.constant dense<1.0> : tensor<2x4x3x1xf32>
  %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%img, %f : tensor<1x4x7x7xf32>, tensor<2x4x3x1xf32>) outs(%o : tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  %p = linalg.matmul ins(%a, %b : tensor<2x4xf32>, tensor<4x3xf32>) outs(%m : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y, %c, %p : tensor<2x1xf32>, tensor<1x2x3x4xf32>, tensor<2x3xf32>
}
