// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --cse --split-input-file | FileCheck %s

// int8 convolutions with their dequantizing epilogue
// (lib/Conversion/KernelCalls/IntegerConvEpilogue.cpp): the zero-filled i32
// sums and the epilogue's bias + f32(sum - corr) * scale become one
// qopt_kernel_conv2d_nchw_s8_dequant call writing f32; its last arguments
// are corr, scale and bias, each an address and a stride (bias 0, 0 when
// it is one constant), that constant's f32 bits, whether the filter is a
// constant (a global the kernel rearranges once), and the requantization
// to int8 (flag, scale, lower and upper bound, zero point as f32 bits).

// The generic computes only the epilogue: it goes, the call writes its
// destination, the i32 buffer goes.
// CHECK-LABEL: func.func @whole
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[DST:.*]] = memref.alloc() : memref<1x4x6x6xf32>
// CHECK-DAG: %[[CORR:.*]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK-DAG: %[[SCALE:.*]] = memref.extract_aligned_pointer_as_index %arg3
// CHECK-DAG: %[[BIAS:.*]] = memref.extract_aligned_pointer_as_index %arg4
// CHECK: call @qopt_kernel_conv2d_nchw_s8_dequant({{.*}}, %{{[^,]*}}, %[[ONE]], %{{[^,]*}}, %[[ONE]], %{{[^,]*}}, %[[ONE]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK-NOT: x6xi32>
// CHECK: return %[[DST]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @whole(%x: memref<1x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %bias: memref<4xf32>) -> memref<1x4x6x6xf32> {
  %c0 = arith.constant 0 : i32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %dst = memref.alloc() : memref<1x4x6x6xf32>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #ch, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<4xf32>) outs(%dst : memref<1x4x6x6xf32>) {
  ^bb0(%s: i32, %b: f32, %c: i32, %k: f32, %o: f32):
    %a = arith.subi %s, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    linalg.yield %v : f32
  }
  memref.dealloc %sums : memref<1x4x6x6xi32>
  return %dst : memref<1x4x6x6xf32>
}

// -----

// The generic goes on from the dequantized value (a requantizing pair fused
// in): it reads the call's f32 output instead of the sums; the dealloc
// follows the new buffer.
// The filter is a global: the last argument is 1.
// CHECK-LABEL: func.func @continued
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[F:.*]] = memref.alloc() : memref<1x4x6x6xf32>
// CHECK-NOT: x6xi32>
// CHECK: call @qopt_kernel_conv2d_nchw_s8_dequant({{.*}}, %[[ONE]], %[[ZERO:[^,]*]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK: linalg.generic {{.*}} ins(%[[F]], %arg3, %arg1, %arg2 : memref<1x4x6x6xf32>,
// CHECK-NEXT: ^bb0(%[[V:[^:]*]]: f32,
// CHECK-NOT: arith.subi
// CHECK-NOT: arith.sitofp
// CHECK: arith.divf %[[V]]
// CHECK: memref.dealloc %[[F]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
memref.global "private" constant @filter : memref<4x3x3x3xi8> = dense<1>
func.func @continued(%x: memref<1x3x8x8xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %bias: memref<4xf32>) -> memref<1x4x6x6xf32> {
  %w = memref.get_global @filter : memref<4x3x3x3xi8>
  %c0 = arith.constant 0 : i32
  %s = arith.constant 0.5 : f32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %dst = memref.alloc() : memref<1x4x6x6xf32>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #ch, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<4xf32>) outs(%dst : memref<1x4x6x6xf32>) {
  ^bb0(%in: i32, %b: f32, %c: i32, %k: f32, %o: f32):
    %a = arith.subi %in, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    %q = arith.divf %v, %s : f32
    %r = math.roundeven %q : f32
    %y = arith.mulf %r, %s : f32
    linalg.yield %y : f32
  }
  memref.dealloc %sums : memref<1x4x6x6xi32>
  return %dst : memref<1x4x6x6xf32>
}

// -----

// Sums that something else reads too stay i32: the plain int8 kernel.
// CHECK-LABEL: func.func @shared_sums
// CHECK: call @qopt_kernel_conv2d_nchw_s8(
// CHECK-NOT: call @qopt_kernel_conv2d_nchw_s8_dequant
// CHECK: linalg.generic
// CHECK: arith.subi
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @shared_sums(%x: memref<1x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %bias: memref<4xf32>) -> (memref<1x4x6x6xf32>, memref<1x4x6x6xi32>) {
  %c0 = arith.constant 0 : i32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %dst = memref.alloc() : memref<1x4x6x6xf32>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #ch, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<4xf32>) outs(%dst : memref<1x4x6x6xf32>) {
  ^bb0(%in: i32, %b: f32, %c: i32, %k: f32, %o: f32):
    %a = arith.subi %in, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    linalg.yield %v : f32
  }
  return %dst, %sums : memref<1x4x6x6xf32>, memref<1x4x6x6xi32>
}

// -----

// A scale per element (not per channel) is not the epilogue the kernel
// applies.
// CHECK-LABEL: func.func @scale_per_element
// CHECK: call @qopt_kernel_conv2d_nchw_s8(
// CHECK-NOT: call @qopt_kernel_conv2d_nchw_s8_dequant
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @scale_per_element(%x: memref<1x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<1x4x6x6xf32>, %bias: memref<4xf32>) -> memref<1x4x6x6xf32> {
  %c0 = arith.constant 0 : i32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %dst = memref.alloc() : memref<1x4x6x6xf32>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<1x4x6x6xf32>) outs(%dst : memref<1x4x6x6xf32>) {
  ^bb0(%in: i32, %b: f32, %c: i32, %k: f32, %o: f32):
    %a = arith.subi %in, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    linalg.yield %v : f32
  }
  return %dst : memref<1x4x6x6xf32>
}

// -----

// No bias vector: the constant the body adds (here -0.0, bits 0x80000000)
// goes as f32 bits, the bias address and stride are 0.
// CHECK-LABEL: func.func @constant_bias
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[BITS:.*]] = arith.constant 2147483648 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_s8_dequant({{.*}}, %[[ZERO]], %[[ZERO]], %[[BITS]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @constant_bias(%x: memref<?x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %n: index) -> memref<?x4x6x6xf32> {
  %c0 = arith.constant 0 : i32
  %b = arith.constant -0.0 : f32
  %sums = memref.alloc(%n) : memref<?x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<?x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<?x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<?x4x6x6xi32>)
  %dst = memref.alloc(%n) : memref<?x4x6x6xf32>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %corr, %scale : memref<?x4x6x6xi32>, memref<4xi32>, memref<4xf32>) outs(%dst : memref<?x4x6x6xf32>) {
  ^bb0(%s: i32, %c: i32, %k: f32, %o: f32):
    %a = arith.subi %s, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %m, %b : f32
    linalg.yield %v : f32
  }
  return %dst : memref<?x4x6x6xf32>
}

// -----

// The epilogue (and a ReLU) fused into a 2x2 max pool that reads the sums
// through its window map: the pool reads the call's f32 output through the
// same map, and the per-channel vectors stay indexed by the sums' channel.
// CHECK-LABEL: func.func @pooled
// CHECK-DAG: %[[F:.*]] = memref.alloc() : memref<1x4x6x6xf32>
// CHECK: call @qopt_kernel_conv2d_nchw_s8_dequant(
// CHECK: linalg.generic {{.*}} ins(%[[F]], %arg4, %arg2, %arg3, %{{.*}} : memref<1x4x6x6xf32>,
// CHECK-NEXT: ^bb0(%[[V:[^:]*]]: f32,
// CHECK-NOT: arith.subi
// CHECK-NOT: arith.sitofp
// CHECK: arith.maximumf %[[V]]
#pool_in = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2 * 2 + d4, d3 * 2 + d5)>
#pool_ch = affine_map<(d0, d1, d2, d3, d4, d5) -> (d1)>
#pool_win = affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>
#pool_out = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
func.func @pooled(%x: memref<1x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %bias: memref<4xf32>, %dst: memref<1x4x3x3xf32>) {
  %c0 = arith.constant 0 : i32
  %zero = arith.constant 0.0 : f32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %win = memref.alloc() : memref<2x2xf32>
  linalg.generic {indexing_maps = [#pool_in, #pool_ch, #pool_ch, #pool_ch, #pool_win, #pool_out], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%sums, %bias, %corr, %scale, %win : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<4xf32>, memref<2x2xf32>) outs(%dst : memref<1x4x3x3xf32>) {
  ^bb0(%s: i32, %b: f32, %c: i32, %k: f32, %u: f32, %o: f32):
    %a = arith.subi %s, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    %r = arith.maximumf %v, %zero : f32
    %p = arith.maximumf %o, %r : f32
    linalg.yield %p : f32
  }
  memref.dealloc %sums : memref<1x4x6x6xi32>
  return
}

// -----

// The generic goes on only to qopt.quantize's int8 lowering (the next
// int8 convolution's input): the call writes the int8 buffer, with scale
// 0.5 (0x3F000000), bounds -100 and 155 (0xC2C80000, 0x431B0000) and zero
// point -28 (0xC1E00000); no loop, no f32 buffer is left.
// CHECK-LABEL: func.func @to_int8
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[S:.*]] = arith.constant 1056964608 : i64
// CHECK-DAG: %[[LO:.*]] = arith.constant 3267887104 : i64
// CHECK-DAG: %[[HI:.*]] = arith.constant 1125842944 : i64
// CHECK-DAG: %[[ZP:.*]] = arith.constant 3252682752 : i64
// CHECK-DAG: %[[DST:.*]] = memref.alloc() : memref<1x4x6x6xi8>
// CHECK: call @qopt_kernel_conv2d_nchw_s8_dequant({{.*}}, %[[ONE]], %[[S]], %[[LO]], %[[HI]], %[[ZP]])
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK: return %[[DST]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @to_int8(%x: memref<1x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %bias: memref<4xf32>) -> memref<1x4x6x6xi8> {
  %c0 = arith.constant 0 : i32
  %s = arith.constant 0.5 : f32
  %lo = arith.constant -100.0 : f32
  %hi = arith.constant 155.0 : f32
  %zp = arith.constant -28.0 : f32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %dst = memref.alloc() : memref<1x4x6x6xi8>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #ch, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<4xf32>) outs(%dst : memref<1x4x6x6xi8>) {
  ^bb0(%in: i32, %b: f32, %c: i32, %k: f32, %o: i8):
    %a = arith.subi %in, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    %t = arith.divf %v, %s : f32
    %r = math.roundeven %t : f32
    %l1 = arith.cmpf olt, %r, %lo : f32
    %r1 = arith.select %l1, %lo, %r : f32
    %h1 = arith.cmpf ogt, %r1, %hi : f32
    %r2 = arith.select %h1, %hi, %r1 : f32
    %q = arith.addf %r2, %zp : f32
    %nan = arith.cmpf uno, %v, %v : f32
    %q1 = arith.select %nan, %zp, %q : f32
    %i = arith.fptosi %q1 : f32 to i8
    linalg.yield %i : i8
  }
  memref.dealloc %sums : memref<1x4x6x6xi32>
  return %dst : memref<1x4x6x6xi8>
}

// -----

// The same with a zero point that differs between the addition and the
// NaN case is not qopt.quantize's lowering: the loop stays (reading f32).
// CHECK-LABEL: func.func @not_a_quantize
// CHECK: call @qopt_kernel_conv2d_nchw_s8_dequant({{.*}}, %[[ZERO:c0_i64]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK: linalg.generic
// CHECK: arith.fptosi
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#ch = affine_map<(d0, d1, d2, d3) -> (d1)>
func.func @not_a_quantize(%x: memref<1x3x8x8xi8>, %w: memref<4x3x3x3xi8>, %corr: memref<4xi32>, %scale: memref<4xf32>, %bias: memref<4xf32>) -> memref<1x4x6x6xi8> {
  %c0 = arith.constant 0 : i32
  %s = arith.constant 0.5 : f32
  %lo = arith.constant -100.0 : f32
  %hi = arith.constant 155.0 : f32
  %zp = arith.constant -28.0 : f32
  %zp2 = arith.constant -27.0 : f32
  %sums = memref.alloc() : memref<1x4x6x6xi32>
  linalg.fill ins(%c0 : i32) outs(%sums : memref<1x4x6x6xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%x, %w : memref<1x3x8x8xi8>, memref<4x3x3x3xi8>) outs(%sums : memref<1x4x6x6xi32>)
  %dst = memref.alloc() : memref<1x4x6x6xi8>
  linalg.generic {indexing_maps = [#map, #ch, #ch, #ch, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%sums, %bias, %corr, %scale : memref<1x4x6x6xi32>, memref<4xf32>, memref<4xi32>, memref<4xf32>) outs(%dst : memref<1x4x6x6xi8>) {
  ^bb0(%in: i32, %b: f32, %c: i32, %k: f32, %o: i8):
    %a = arith.subi %in, %c : i32
    %f = arith.sitofp %a : i32 to f32
    %m = arith.mulf %f, %k : f32
    %v = arith.addf %b, %m : f32
    %t = arith.divf %v, %s : f32
    %r = math.roundeven %t : f32
    %l1 = arith.cmpf olt, %r, %lo : f32
    %r1 = arith.select %l1, %lo, %r : f32
    %h1 = arith.cmpf ogt, %r1, %hi : f32
    %r2 = arith.select %h1, %hi, %r1 : f32
    %q = arith.addf %r2, %zp : f32
    %nan = arith.cmpf uno, %v, %v : f32
    %q1 = arith.select %nan, %zp2, %q : f32
    %i = arith.fptosi %q1 : f32 to i8
    linalg.yield %i : i8
  }
  memref.dealloc %sums : memref<1x4x6x6xi32>
  return %dst : memref<1x4x6x6xi8>
}
