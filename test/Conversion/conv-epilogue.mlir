// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --cse --split-input-file | FileCheck %s

// Conv epilogues (lib/Conversion/KernelCalls/ConvEpilogue.cpp): the op that
// initializes a conv's output (a bias broadcast or zeros) and its single
// element-wise consumer (residual add, activation) become arguments of one
// qopt_kernel_conv2d_nchw_f32_fused call writing the consumer's buffer.
// Its last arguments: bias, bias stride, activation code, alpha and beta
// (f32 bits), residual and its 4 strides, accumulate.
// Bias broadcast + ReLU: the conv's own buffer is gone.
// CHECK-LABEL: func.func @relu
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[DST:.*]] = memref.alloc() : memref<1x7x10x10xf32>
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[ONE]], %[[ONE]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK-NOT: linalg.
// CHECK-NOT: memref.alloc
// CHECK: return %[[DST]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @relu(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.maximumf %x, %zero : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// Zeros, then x + residual, ReLU (a ResNet block's second conv).
// CHECK-LABEL: func.func @residual_relu
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[RES:.*]] = memref.extract_aligned_pointer_as_index %arg3
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[ZERO]], %[[ZERO]], %[[ONE]], %[[ZERO]], %[[ZERO]], %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[ONE]], %[[ZERO]])
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @residual_relu(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>, %res: memref<1x7x10x10xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.fill ins(%zero : f32) outs(%out : memref<1x7x10x10xf32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out, %res : memref<1x7x10x10xf32>, memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %r: f32, %o: f32):
    %s = arith.addf %r, %x : f32
    %y = arith.maximumf %s, %zero : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// Sigmoid in the importer's form: code 4.
// CHECK-LABEL: func.func @sigmoid
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[SIG:.*]] = arith.constant 4 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[SIG]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @sigmoid(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %n = arith.negf %x : f32
    %e = math.exp %n : f32
    %d = arith.addf %one, %e : f32
    %y = arith.divf %one, %d : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// x * sigmoid(x) (SiLU / Swish): code 6.
// CHECK-LABEL: func.func @silu
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[SILU:.*]] = arith.constant 6 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[SILU]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]], %[[ZERO]])
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @silu(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %n = arith.negf %x : f32
    %e = math.exp %n : f32
    %d = arith.addf %one, %e : f32
    %s = arith.divf %one, %d : f32
    %y = arith.mulf %x, %s : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// HardSwish: code 5, alpha 1/6 (0x3E2AAAAB), beta 0.5 (0x3F000000).
// CHECK-LABEL: func.func @hardswish
// CHECK-DAG: %[[HS:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[A:.*]] = arith.constant 1042983595 : i64
// CHECK-DAG: %[[B:.*]] = arith.constant 1056964608 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[HS]], %[[A]], %[[B]],
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @hardswish(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %six = arith.constant 6.0 : f32
    %half = arith.constant 0.5 : f32
    %d = arith.divf %x, %six : f32
    %t = arith.addf %d, %half : f32
    %m = arith.maximumf %t, %zero : f32
    %c = arith.minimumf %m, %one : f32
    %y = arith.mulf %x, %c : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// LeakyRelu (alpha 0.1 = 0x3DCCCCCD): code 3; Clip(0, 6): code 2.
// CHECK-LABEL: func.func @leaky
// CHECK-DAG: %[[LK:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[A:.*]] = arith.constant 1036831949 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[LK]], %[[A]],
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @leaky(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %a = arith.constant 0.1 : f32
    %neg = arith.cmpf olt, %x, %zero : f32
    %m = arith.mulf %x, %a : f32
    %y = arith.select %neg, %m, %x : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// CHECK-LABEL: func.func @relu6
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[CLIP:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[SIX:.*]] = arith.constant 1086324736 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused({{.*}}, %[[CLIP]], %[[ZERO]], %[[SIX]],
// CHECK-NOT: linalg.
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @relu6(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %six = arith.constant 6.0 : f32
    %m = arith.maximumf %x, %zero : f32
    %y = arith.minimumf %m, %six : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// Two readers of the conv's output: only the bias is taken over (code 0,
// the conv's own buffer); both consumers stay loops.
// CHECK-LABEL: func.func @two_readers
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x7x10x10xf32>
// CHECK-NOT: linalg.broadcast
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused(
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[OUT]]
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[OUT]]
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @two_readers(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.maximumf %x, %zero : f32
    linalg.yield %y : f32
  }
  %dst2 = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst2 : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  }
  memref.copy %dst2, %dst : memref<1x7x10x10xf32> to memref<1x7x10x10xf32>
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// The residual is written between the conv and the add: the call could not
// move there, so the consumer stays.
// CHECK-LABEL: func.func @touched_between
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused(
// CHECK: memref.store
// CHECK: linalg.generic
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @touched_between(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>, %res: memref<1x7x10x10xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %c0 = arith.constant 0 : index
  memref.store %zero, %res[%c0, %c0, %c0, %c0] : memref<1x7x10x10xf32>
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out, %res : memref<1x7x10x10xf32>, memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %r: f32, %o: f32):
    %s = arith.addf %x, %r : f32
    %y = arith.maximumf %s, %zero : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}

// -----

// A consumer that is not an epilogue (x * x) stays; the bias is taken over.
// CHECK-LABEL: func.func @not_an_epilogue
// CHECK: call @qopt_kernel_conv2d_nchw_f32_fused(
// CHECK: linalg.generic
// CHECK: arith.mulf
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @not_an_epilogue(%in: memref<1x3x12x12xf32>, %f: memref<7x3x3x3xf32>, %bias: memref<7xf32>) -> memref<1x7x10x10xf32> {
  %zero = arith.constant 0.0 : f32
  %out = memref.alloc() : memref<1x7x10x10xf32>
  linalg.broadcast ins(%bias : memref<7xf32>) outs(%out : memref<1x7x10x10xf32>) dimensions = [0, 2, 3]
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%in, %f : memref<1x3x12x12xf32>, memref<7x3x3x3xf32>) outs(%out : memref<1x7x10x10xf32>)
  %dst = memref.alloc() : memref<1x7x10x10xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%out : memref<1x7x10x10xf32>) outs(%dst : memref<1x7x10x10xf32>) {
  ^bb0(%x: f32, %o: f32):
    %y = arith.mulf %x, %x : f32
    linalg.yield %y : f32
  }
  memref.dealloc %out : memref<1x7x10x10xf32>
  return %dst : memref<1x7x10x10xf32>
}
