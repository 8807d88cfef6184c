// RUN: quant-opt %s --qopt-insert-observers | FileCheck %s

// Pooling windows look like convolutions to linalg's interface, but only
// multiplying convolutions are quantized: the max pool's input (padded
// with -inf) is not observed (observing it failed every calibration of a
// CNN with a padded MaxPool); the convolution after it is.
// CHECK-LABEL: func.func @pool_then_conv
// CHECK: %[[P:.*]] = tensor.pad
// CHECK-NOT: qopt.observe %[[P]]
// CHECK: %[[M:.*]] = linalg.generic
// CHECK: arith.maximumf
// CHECK: %[[O:.*]] = qopt.observe %[[M]] {id = 0 : i64
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%[[O]],
#in = affine_map<(n, c, h, w, kh, kw) -> (n, c, h * 2 + kh, w * 2 + kw)>
#win = affine_map<(n, c, h, w, kh, kw) -> (kh, kw)>
#out = affine_map<(n, c, h, w, kh, kw) -> (n, c, h, w)>
func.func @pool_then_conv(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x1x1xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %padded = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %ninf : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %init = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %window = tensor.empty() : tensor<3x3xf32>
  %pool = linalg.generic {indexing_maps = [#in, #win, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%padded, %window : tensor<1x2x6x6xf32>, tensor<3x3xf32>) outs(%init : tensor<1x2x2x2xf32>) {
  ^bb0(%in: f32, %unused: f32, %acc: f32):
    %m = arith.maximumf %acc, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x2x2x2xf32>
  %w = arith.constant dense<0.5> : tensor<2x2x2x2xf32>
  %z = arith.constant 0.0 : f32
  %ce = tensor.empty() : tensor<1x2x1x1xf32>
  %cinit = linalg.fill ins(%z : f32) outs(%ce : tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%pool, %w : tensor<1x2x2x2xf32>, tensor<2x2x2x2xf32>) outs(%cinit : tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  return %y : tensor<1x2x1x1xf32>
}
