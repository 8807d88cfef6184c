// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s

// W8A8's int8 depthwise conv (IntegerDepthwise.cpp) on buffers, its i32
// sums read (collapsed to [N, F, OH, OW]) only by the dequantizing
// epilogue fused with HardSwish and the next layer's quantization to int8:
// one call of qopt_kernel_conv2d_depthwise_s8_dequant writing the int8
// output (its address and strides 32, 16, 4, 1), then corr, scale and bias
// (address, stride 1 each), the constant bias bits (0), the activation
// (HardSwish = 5, alpha 1/6 = 0x3E2AAAAB = 1042983595, beta 0.5 =
// 0x3F000000 = 1056964608), the requantization flag, the scale 0.05
// (0x3D4CCCCD = 1028443341), bounds -131 / 124 and zero point 3 as f32
// bits (-131 = 0xC3030000 = 3271753728). The zero fill, the i32 buffer
// and the loop go.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @hardswish_int8
// CHECK-NOT: memref<1x2x1x4x4xi32>
// CHECK-NOT: linalg.fill
// CHECK: call @qopt_kernel_conv2d_depthwise_s8_dequant(%c1_i64, %c2_i64, %c1_i64, %c6_i64, %c6_i64, %c0_i64, %c0_i64, %c0_i64, %c3_i64, %c3_i64, %c4_i64, %c4_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %{{[0-9]+}}, %c72_i64, %c36_i64, %c6_i64, %c1_i64, %{{[0-9]+}}, %c9_i64, %c9_i64, %c3_i64, %c1_i64, %{{[0-9]+}}, %c32_i64, %c16_i64, %c4_i64, %c1_i64, %{{[0-9]+}}, %c1_i64, %{{[0-9]+}}, %c1_i64, %{{[0-9]+}}, %c1_i64, %c0_i64, %c5_i64, %c1042983595_i64, %c1056964608_i64, %c1_i64, %c1028443341_i64, %c3271753728_i64, %c1123549184_i64, %c1077936128_i64)
// CHECK-NOT: linalg.generic
// CHECK-NOT: call @qopt_kernel_conv2d_depthwise_s8(
func.func @hardswish_int8(%x: memref<1x2x1x6x6xi8>, %w: memref<2x1x1x3x3xi8>, %bias: memref<2xf32>, %corr: memref<2xi32>, %scale: memref<2xf32>) -> memref<1x2x4x4xi8> {
  %c0_i32 = arith.constant 0 : i32
  %out = memref.alloc() {alignment = 64 : i64} : memref<1x2x4x4xi8>
  %c6 = arith.constant 6.0 : f32
  %half = arith.constant 0.5 : f32
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %qs = arith.constant 0.05 : f32
  %lo = arith.constant -131.0 : f32
  %hi = arith.constant 124.0 : f32
  %zp = arith.constant 3.0 : f32
  %acc = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x4x4xi32>
  linalg.fill ins(%c0_i32 : i32) outs(%acc : memref<1x2x1x4x4xi32>)
  linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<1x2x1x6x6xi8>, memref<2x1x1x3x3xi8>) outs(%acc : memref<1x2x1x4x4xi32>) {
  ^bb0(%a: i8, %b: i8, %o: i32):
    %ea = arith.extsi %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %o, %p : i32
    linalg.yield %s : i32
  }
  %sums = memref.collapse_shape %acc [[0], [1, 2], [3], [4]] : memref<1x2x1x4x4xi32> into memref<1x2x4x4xi32>
  linalg.generic {indexing_maps = [#id, #ch, #ch, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x2x4x4xi32>, memref<2xf32>, memref<2xi32>, memref<2xf32>) outs(%out : memref<1x2x4x4xi8>) {
  ^bb0(%in: i32, %bi: f32, %co: i32, %sc: f32, %o: i8):
    %3 = arith.subi %in, %co : i32
    %4 = arith.sitofp %3 : i32 to f32
    %5 = arith.mulf %4, %sc : f32
    %6 = arith.addf %bi, %5 : f32
    %7 = arith.divf %6, %c6 : f32
    %8 = arith.addf %7, %half : f32
    %9 = arith.maximumf %8, %zero : f32
    %10 = arith.minimumf %9, %one : f32
    %11 = arith.mulf %6, %10 : f32
    %12 = arith.divf %11, %qs : f32
    %13 = math.roundeven %12 : f32
    %14 = arith.cmpf olt, %13, %lo : f32
    %15 = arith.select %14, %lo, %13 : f32
    %16 = arith.cmpf ogt, %15, %hi : f32
    %17 = arith.select %16, %hi, %15 : f32
    %18 = arith.addf %17, %zp : f32
    %19 = arith.cmpf uno, %11, %11 : f32
    %20 = arith.select %19, %zp, %18 : f32
    %21 = arith.fptosi %20 : f32 to i8
    linalg.yield %21 : i8
  }
  memref.dealloc %acc : memref<1x2x1x4x4xi32>
  return %out : memref<1x2x4x4xi8>
}

// -----

// f32 output: the dequantized values with a Relu (code 1), no
// requantization (flag and its four values 0); a constant bias (0.25 =
// 0x3E800000 = 1048576000) with bias address and stride 0.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @relu_f32
// CHECK: call @qopt_kernel_conv2d_depthwise_s8_dequant({{.*}}, %{{[0-9]+}}, %c128_i64, %c16_i64, %c4_i64, %c1_i64, %{{[0-9]+}}, %c1_i64, %{{[0-9]+}}, %c1_i64, %c0_i64, %c0_i64, %c1048576000_i64, %c1_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64)
// CHECK-NOT: linalg.generic
func.func @relu_f32(%x: memref<1x8x1x6x6xi8>, %w: memref<8x1x1x3x3xi8>, %corr: memref<8xi32>, %scale: memref<8xf32>) -> memref<1x8x4x4xf32> {
  %c0_i32 = arith.constant 0 : i32
  %out = memref.alloc() {alignment = 64 : i64} : memref<1x8x4x4xf32>
  %zero = arith.constant 0.0 : f32
  %bias = arith.constant 0.25 : f32
  %acc = memref.alloc() {alignment = 64 : i64} : memref<1x8x1x4x4xi32>
  linalg.fill ins(%c0_i32 : i32) outs(%acc : memref<1x8x1x4x4xi32>)
  linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<1x8x1x6x6xi8>, memref<8x1x1x3x3xi8>) outs(%acc : memref<1x8x1x4x4xi32>) {
  ^bb0(%a: i8, %b: i8, %o: i32):
    %ea = arith.extsi %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %o, %p : i32
    linalg.yield %s : i32
  }
  %sums = memref.collapse_shape %acc [[0], [1, 2], [3], [4]] : memref<1x8x1x4x4xi32> into memref<1x8x4x4xi32>
  linalg.generic {indexing_maps = [#id, #ch, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %corr, %scale : memref<1x8x4x4xi32>, memref<8xi32>, memref<8xf32>) outs(%out : memref<1x8x4x4xf32>) {
  ^bb0(%in: i32, %co: i32, %sc: f32, %o: f32):
    %3 = arith.subi %in, %co : i32
    %4 = arith.sitofp %3 : i32 to f32
    %5 = arith.mulf %4, %sc : f32
    %6 = arith.addf %5, %bias : f32
    %7 = arith.maximumf %6, %zero : f32
    linalg.yield %7 : f32
  }
  memref.dealloc %acc : memref<1x8x1x4x4xi32>
  return %out : memref<1x8x4x4xf32>
}

// -----

// The loop goes on after the requantization (back to f32): not what the
// kernel writes, so the plain call adds to the i32 sums and the loop stays.
#mapx = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d5, d3 + d6, d4 + d7)>
#mapw = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
#mapo = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @goes_on
// CHECK: linalg.fill
// CHECK: call @qopt_kernel_conv2d_depthwise_s8(
// CHECK: linalg.generic
// CHECK: arith.sitofp
// CHECK-NOT: qopt_kernel_conv2d_depthwise_s8_dequant
func.func @goes_on(%x: memref<1x2x1x6x6xi8>, %w: memref<2x1x1x3x3xi8>, %corr: memref<2xi32>, %scale: memref<2xf32>) -> memref<1x2x4x4xf32> {
  %c0_i32 = arith.constant 0 : i32
  %out = memref.alloc() {alignment = 64 : i64} : memref<1x2x4x4xf32>
  %zero = arith.constant 0.0 : f32
  %qs = arith.constant 0.05 : f32
  %lo = arith.constant -131.0 : f32
  %hi = arith.constant 124.0 : f32
  %zp = arith.constant 3.0 : f32
  %acc = memref.alloc() {alignment = 64 : i64} : memref<1x2x1x4x4xi32>
  linalg.fill ins(%c0_i32 : i32) outs(%acc : memref<1x2x1x4x4xi32>)
  linalg.generic {indexing_maps = [#mapx, #mapw, #mapo], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<1x2x1x6x6xi8>, memref<2x1x1x3x3xi8>) outs(%acc : memref<1x2x1x4x4xi32>) {
  ^bb0(%a: i8, %b: i8, %o: i32):
    %ea = arith.extsi %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %o, %p : i32
    linalg.yield %s : i32
  }
  %sums = memref.collapse_shape %acc [[0], [1, 2], [3], [4]] : memref<1x2x1x4x4xi32> into memref<1x2x4x4xi32>
  linalg.generic {indexing_maps = [#id, #ch, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %corr, %scale : memref<1x2x4x4xi32>, memref<2xi32>, memref<2xf32>) outs(%out : memref<1x2x4x4xf32>) {
  ^bb0(%in: i32, %co: i32, %sc: f32, %o: f32):
    %3 = arith.subi %in, %co : i32
    %4 = arith.sitofp %3 : i32 to f32
    %5 = arith.mulf %4, %sc : f32
    %6 = arith.addf %5, %zero : f32
    %12 = arith.divf %6, %qs : f32
    %13 = math.roundeven %12 : f32
    %14 = arith.cmpf olt, %13, %lo : f32
    %15 = arith.select %14, %lo, %13 : f32
    %16 = arith.cmpf ogt, %15, %hi : f32
    %17 = arith.select %16, %hi, %15 : f32
    %18 = arith.addf %17, %zp : f32
    %19 = arith.cmpf uno, %6, %6 : f32
    %20 = arith.select %19, %zp, %18 : f32
    %21 = arith.fptosi %20 : f32 to i8
    %22 = arith.sitofp %21 : i8 to f32
    linalg.yield %22 : f32
  }
  memref.dealloc %acc : memref<1x2x1x4x4xi32>
  return %out : memref<1x2x4x4xf32>
}
