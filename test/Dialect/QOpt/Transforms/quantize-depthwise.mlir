// RUN: quant-opt %s --qopt-quantize="scheme=w8a8 int8-depthwise allow-no-layer=true" --split-input-file | FileCheck %s --enable-var-scope
// RUN: quant-opt %s --qopt-quantize="scheme=w8a8 int8-depthwise exclude=dw allow-no-layer=true" --split-input-file | FileCheck %s --check-prefix=EXCL
// RUN: quant-opt %s --qopt-quantize="scheme=w8a8 allow-no-layer=true" --split-input-file | FileCheck %s --check-prefix=EXCL
// RUN: quant-opt %s --qopt-quantize="scheme=w8 int8-depthwise allow-no-layer=true" --split-input-file | FileCheck %s --check-prefix=W8

// W8A8 with int8-depthwise (without it, or excluded by name, it stays
// float): the importer's depthwise convolution (a grouped generic with one
// input channel per group) becomes quantize -> i8 x i8 -> i32 generic ->
// dequantizing epilogue, its filter int8 per output channel. Channel 0's
// nine weights are 0.5 (scale 0.5/127, codes 127, sum 1143), channel 1's
// 1, -1 and zeros (scale 1/127, sum 0). A uint8 observer (zero point 100)
// is shifted to int8 (-28): the correction is -28 * 1143 = -32004 and 0.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @depthwise
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x1x6x6xf32>)
// CHECK-NOT: qopt.observe
// CHECK: %[[Q:.*]] = qopt.quantize %[[X]] : tensor<1x2x1x6x6xf32> -> tensor<1x2x1x6x6x!quant.uniform<i8:f32, 0.039215686274509803:-28>>
// CHECK: %[[XI:.*]] = quant.scast %[[Q]] {{.*}} to tensor<1x2x1x6x6xi8>
// CHECK: %[[W:.*]] = arith.constant dense_resource<dw.int8> : tensor<2x1x1x3x3xi8>
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}} ins(%[[XI]], %[[W]] : tensor<1x2x1x6x6xi8>, tensor<2x1x1x3x3xi8>) outs(%{{.*}} : tensor<1x2x1x4x4xi32>)
// CHECK: arith.extsi
// CHECK: arith.extsi
// CHECK: arith.muli
// CHECK: arith.addi
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x2x1x4x4xi32>, tensor<1x2x1x4x4xf32>, tensor<2x1xi32>, tensor<2x1xf32>)
// CHECK: arith.subi
// CHECK: arith.sitofp
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: arith.mulf
// CHECK: dw.int8: "0x010000007F7F7F7F7F7F7F7F7F7F8100000000000000"
// CHECK: dw.zero_point_correction: "0x04000000FC82FFFF00000000"
// EXCL-LABEL: func.func @depthwise
// EXCL: qopt.observe
// EXCL: linalg.generic
// EXCL-SAME: ins(%{{.*}}, %{{.*}} : tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>)
// W8-LABEL: func.func @depthwise
// W8: linalg.generic
// W8-SAME: tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>
func.func @depthwise(%x: tensor<1x2x1x6x6xf32>) -> tensor<1x2x1x4x4xf32> {
  %w0 = arith.constant dense<[[[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]], [[[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x1x3x3xf32>
  %w = tensor.expand_shape %w0 [[0, 1], [2], [3], [4]] output_shape [2, 1, 1, 3, 3] : tensor<2x1x3x3xf32> into tensor<2x1x1x3x3xf32>
  %obs = qopt.observe %x {calibration = #qopt.calibration<method = minmax, min = -1.0, max = 9.0, type = !quant.uniform<u8:f32, 0.039215686274509803:100>>, id = 0 : i64, kind = #qopt.observer<histogram>} : tensor<1x2x1x6x6xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x1x4x4xf32>) -> tensor<1x2x1x4x4xf32>
  %y = linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%obs, %w : tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>) outs(%init : tensor<1x2x1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x2x1x4x4xf32> loc("dw")
  return %y : tensor<1x2x1x4x4xf32>
}

// -----

// No calibrated observer on the input (nothing to quantize it with): the
// convolution stays float.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @uncalibrated
// CHECK-NOT: qopt.quantize
// CHECK: linalg.generic
// CHECK-SAME: tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>
func.func @uncalibrated(%x: tensor<1x2x1x6x6xf32>, %l: tensor<3x3xf32>) -> (tensor<1x2x1x4x4xf32>, tensor<3x3xf32>) {
  %w = arith.constant dense<0.5> : tensor<2x1x1x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x1x4x4xf32>) -> tensor<1x2x1x4x4xf32>
  %y = linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : tensor<1x2x1x6x6xf32>, tensor<2x1x1x3x3xf32>) outs(%init : tensor<1x2x1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x2x1x4x4xf32>
  return %y, %l : tensor<1x2x1x4x4xf32>, tensor<3x3xf32>
}
