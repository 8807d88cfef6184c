// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qopt-fuse-norms),canonicalize)' | FileCheck %s

// LayerNormalization (the importer's mean, centred sum of squares,
// 1/sqrt(var + eps), (x - mean) * inv * gamma + beta) over [1, 4, 8]: one
// call on x viewed as [4, 8], gamma and beta as [8], eps 1e-5
// (0x3727C5AC = 925353388), mode 0; the generics are gone.
// CHECK-LABEL: func.func @main
// CHECK: %[[X:.*]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<1x4x8xf32> into tensor<4x8xf32>
// CHECK: bufferization.to_buffer %[[X]] read_only
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x8xf32>
// CHECK: memref.collapse_shape %[[OUT]]
// CHECK: call @qopt_views.qopt_kernel_norm_f32.0(%c4_i64, %c8_i64, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c925353388_i64, %c0_i64)
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d0, d1)>
#map3 = affine_map<(d0, d1, d2) -> (d2)>
module {
  func.func @main(%arg0: tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant 1.000000e+00 : f32
    %cst_0 = arith.constant 9.99999974E-6 : f32
    %cst_1 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_2 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_3 = arith.constant 0.000000e+00 : f32
    %cst_4 = arith.constant 8.000000e+00 : f32
    %0 = tensor.empty() : tensor<1x4xf32>
    %1 = linalg.fill ins(%cst_3 : f32) outs(%0 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0 : tensor<1x4x8xf32>) outs(%1 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.addf %out, %in : f32
      linalg.yield %12 : f32
    } -> tensor<1x4xf32>
    %3 = tensor.empty() : tensor<1x4xf32>
    %4 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%2 : tensor<1x4xf32>) outs(%3 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.divf %in, %cst_4 : f32
      linalg.yield %12 : f32
    } -> tensor<1x4xf32>
    %5 = tensor.empty() : tensor<1x4xf32>
    %6 = linalg.fill ins(%cst_3 : f32) outs(%5 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %4 : tensor<1x4x8xf32>, tensor<1x4xf32>) outs(%6 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %12 = arith.subf %in, %in_5 : f32
      %13 = arith.mulf %12, %12 : f32
      %14 = arith.addf %out, %13 : f32
      linalg.yield %14 : f32
    } -> tensor<1x4xf32>
    %8 = tensor.empty() : tensor<1x4xf32>
    %9 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%7 : tensor<1x4xf32>) outs(%8 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.divf %in, %cst_4 : f32
      %13 = arith.addf %12, %cst_0 : f32
      %14 = math.sqrt %13 : f32
      %15 = arith.divf %cst, %14 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4xf32>
    %10 = tensor.empty() : tensor<1x4x8xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map1, #map1, #map3, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0, %4, %9, %cst_1, %cst_2 : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<8xf32>, tensor<8xf32>) outs(%10 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_5: f32, %in_6: f32, %in_7: f32, %in_8: f32, %out: f32):
      %12 = arith.subf %in, %in_5 : f32
      %13 = arith.mulf %12, %in_6 : f32
      %14 = arith.mulf %13, %in_7 : f32
      %15 = arith.addf %14, %in_8 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x8xf32>
    return %11 : tensor<1x4x8xf32>
  }
}

// -----

// LayerNormalization whose Mean output is used: the statistics are needed
// anyway, nothing is replaced.
// CHECK-LABEL: func.func @main
// CHECK-NOT: qopt_views
// CHECK: linalg.generic
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d0, d1)>
#map3 = affine_map<(d0, d1, d2) -> (d2)>
module {
  func.func @main(%arg0: tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "y"}, tensor<1x4x1xf32> {onnx.dtype = "float", onnx.name = "mean"}) {
    %cst = arith.constant 1.000000e+00 : f32
    %cst_0 = arith.constant 9.99999974E-6 : f32
    %cst_1 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_2 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_3 = arith.constant 0.000000e+00 : f32
    %cst_4 = arith.constant 8.000000e+00 : f32
    %0 = tensor.empty() : tensor<1x4xf32>
    %1 = linalg.fill ins(%cst_3 : f32) outs(%0 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0 : tensor<1x4x8xf32>) outs(%1 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.addf %out, %in : f32
      linalg.yield %12 : f32
    } -> tensor<1x4xf32>
    %3 = tensor.empty() : tensor<1x4xf32>
    %4 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%2 : tensor<1x4xf32>) outs(%3 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.divf %in, %cst_4 : f32
      linalg.yield %12 : f32
    } -> tensor<1x4xf32>
    %5 = tensor.empty() : tensor<1x4xf32>
    %6 = linalg.fill ins(%cst_3 : f32) outs(%5 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %4 : tensor<1x4x8xf32>, tensor<1x4xf32>) outs(%6 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %12 = arith.subf %in, %in_5 : f32
      %13 = arith.mulf %12, %12 : f32
      %14 = arith.addf %out, %13 : f32
      linalg.yield %14 : f32
    } -> tensor<1x4xf32>
    %8 = tensor.empty() : tensor<1x4xf32>
    %9 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%7 : tensor<1x4xf32>) outs(%8 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %12 = arith.divf %in, %cst_4 : f32
      %13 = arith.addf %12, %cst_0 : f32
      %14 = math.sqrt %13 : f32
      %15 = arith.divf %cst, %14 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4xf32>
    %10 = tensor.empty() : tensor<1x4x8xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map1, #map1, #map3, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0, %4, %9, %cst_1, %cst_2 : tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<8xf32>, tensor<8xf32>) outs(%10 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_5: f32, %in_6: f32, %in_7: f32, %in_8: f32, %out: f32):
      %12 = arith.subf %in, %in_5 : f32
      %13 = arith.mulf %12, %in_6 : f32
      %14 = arith.mulf %13, %in_7 : f32
      %15 = arith.addf %14, %in_8 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x8xf32>
    %expanded = tensor.expand_shape %4 [[0], [1, 2]] output_shape [1, 4, 1] : tensor<1x4xf32> into tensor<1x4x1xf32>
    return %11, %expanded : tensor<1x4x8xf32>, tensor<1x4x1xf32>
  }
}

// -----

// RMSNormalization (opset 23) over [2, 8]: x * 1/sqrt(mean(x²) + eps) *
// gamma, mode 2, no beta (address and stride 0), eps 1e-6 (897988541).
// CHECK-LABEL: func.func @main
// CHECK-NOT: tensor.collapse_shape
// CHECK: call @qopt_views.qopt_kernel_norm_f32.0(%c2_i64, %c8_i64, %{{.*}}, %{{.*}}, %c0_i64, %c0_i64, %{{.*}}, %c897988541_i64, %c2_i64)
// CHECK-NOT: linalg.generic
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
#map2 = affine_map<(d0) -> (d0)>
#map3 = affine_map<(d0, d1) -> (d1)>
module {
  func.func @main(%arg0: tensor<2x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<2x8xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant 1.000000e+00 : f32
    %cst_0 = arith.constant 9.99999997E-7 : f32
    %cst_1 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_2 = arith.constant 0.000000e+00 : f32
    %cst_3 = arith.constant 8.000000e+00 : f32
    %0 = tensor.empty() : tensor<2xf32>
    %1 = linalg.fill ins(%cst_2 : f32) outs(%0 : tensor<2xf32>) -> tensor<2xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<2x8xf32>) outs(%1 : tensor<2xf32>) {
    ^bb0(%in: f32, %out: f32):
      %7 = arith.mulf %in, %in : f32
      %8 = arith.addf %out, %7 : f32
      linalg.yield %8 : f32
    } -> tensor<2xf32>
    %3 = tensor.empty() : tensor<2xf32>
    %4 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel"]} ins(%2 : tensor<2xf32>) outs(%3 : tensor<2xf32>) {
    ^bb0(%in: f32, %out: f32):
      %7 = arith.divf %in, %cst_3 : f32
      %8 = arith.addf %7, %cst_0 : f32
      %9 = math.sqrt %8 : f32
      %10 = arith.divf %cst, %9 : f32
      linalg.yield %10 : f32
    } -> tensor<2xf32>
    %5 = tensor.empty() : tensor<2x8xf32>
    %6 = linalg.generic {indexing_maps = [#map, #map1, #map3, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0, %4, %cst_1 : tensor<2x8xf32>, tensor<2xf32>, tensor<8xf32>) outs(%5 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_4: f32, %in_5: f32, %out: f32):
      %7 = arith.mulf %in, %in_4 : f32
      %8 = arith.mulf %7, %in_5 : f32
      linalg.yield %8 : f32
    } -> tensor<2x8xf32>
    return %6 : tensor<2x8xf32>
  }
}

// -----

// torch's decomposed RMS norm (Llama): Mul(x, x), ReduceMean, Add eps,
// Sqrt, Div, Mul gamma: mode 1 (divides by the rms as the graph does).
// CHECK-LABEL: func.func @main
// CHECK: call @qopt_views.qopt_kernel_norm_f32.0(%c4_i64, %c8_i64, %{{.*}}, %{{.*}}, %c0_i64, %c0_i64, %{{.*}}, %c897988541_i64, %c1_i64)
// CHECK-NOT: linalg.generic
// CHECK-NOT: math.sqrt
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d0, d1)>
#map3 = affine_map<(d0, d1, d2) -> ()>
#map4 = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#map5 = affine_map<(d0, d1, d2) -> (d2)>
module {
  func.func @main(%arg0: tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant 8.000000e+00 : f32
    %cst_0 = arith.constant 0.000000e+00 : f32
    %cst_1 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_2 = arith.constant dense<9.99999997E-7> : tensor<f32>
    %0 = tensor.empty() : tensor<1x4x8xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0, %arg0 : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%0 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %15 = arith.mulf %in, %in_3 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x8xf32>
    %2 = tensor.empty() : tensor<1x4xf32>
    %3 = linalg.fill ins(%cst_0 : f32) outs(%2 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %4 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%1 : tensor<1x4x8xf32>) outs(%3 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %15 = arith.addf %out, %in : f32
      linalg.yield %15 : f32
    } -> tensor<1x4xf32>
    %5 = tensor.empty() : tensor<1x4xf32>
    %6 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%4 : tensor<1x4xf32>) outs(%5 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %15 = arith.divf %in, %cst : f32
      linalg.yield %15 : f32
    } -> tensor<1x4xf32>
    %expanded = tensor.expand_shape %6 [[0], [1, 2]] output_shape [1, 4, 1] : tensor<1x4xf32> into tensor<1x4x1xf32>
    %7 = tensor.empty() : tensor<1x4x1xf32>
    %8 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%expanded, %cst_2 : tensor<1x4x1xf32>, tensor<f32>) outs(%7 : tensor<1x4x1xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %15 = arith.addf %in, %in_3 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x1xf32>
    %9 = tensor.empty() : tensor<1x4x1xf32>
    %10 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%8 : tensor<1x4x1xf32>) outs(%9 : tensor<1x4x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %15 = math.sqrt %in : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x1xf32>
    %11 = tensor.empty() : tensor<1x4x8xf32>
    %12 = linalg.generic {indexing_maps = [#map, #map4, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0, %10 : tensor<1x4x8xf32>, tensor<1x4x1xf32>) outs(%11 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %15 = arith.divf %in, %in_3 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x8xf32>
    %13 = tensor.empty() : tensor<1x4x8xf32>
    %14 = linalg.generic {indexing_maps = [#map, #map5, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%12, %cst_1 : tensor<1x4x8xf32>, tensor<8xf32>) outs(%13 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %15 = arith.mulf %in, %in_3 : f32
      linalg.yield %15 : f32
    } -> tensor<1x4x8xf32>
    return %14 : tensor<1x4x8xf32>
  }
}

// -----

// torch's decomposed LayerNorm (ReduceMean, Sub, Pow 2 (a product),
// ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta): the Add is the
// root, gamma and beta both passed, mode 3 (divides by the std), eps 1e-5.
// CHECK-LABEL: func.func @main
// CHECK: call @qopt_views.qopt_kernel_norm_f32.0(%c4_i64, %c8_i64, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c925353388_i64, %c3_i64)
// CHECK-NOT: linalg.generic
// CHECK-NOT: math.sqrt
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d0, d1)>
#map3 = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#map4 = affine_map<(d0, d1, d2) -> ()>
#map5 = affine_map<(d0, d1, d2) -> (d2)>
module {
  func.func @main(%arg0: tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<1x4x8xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant 8.000000e+00 : f32
    %cst_0 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_1 = arith.constant dense<[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]> : tensor<8xf32>
    %cst_2 = arith.constant dense<9.99999974E-6> : tensor<f32>
    %cst_3 = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<1x4xf32>
    %1 = linalg.fill ins(%cst_3 : f32) outs(%0 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0 : tensor<1x4x8xf32>) outs(%1 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.addf %out, %in : f32
      linalg.yield %24 : f32
    } -> tensor<1x4xf32>
    %3 = tensor.empty() : tensor<1x4xf32>
    %4 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%2 : tensor<1x4xf32>) outs(%3 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.divf %in, %cst : f32
      linalg.yield %24 : f32
    } -> tensor<1x4xf32>
    %expanded = tensor.expand_shape %4 [[0], [1, 2]] output_shape [1, 4, 1] : tensor<1x4xf32> into tensor<1x4x1xf32>
    %5 = tensor.empty() : tensor<1x4x8xf32>
    %6 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0, %expanded : tensor<1x4x8xf32>, tensor<1x4x1xf32>) outs(%5 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %24 = arith.subf %in, %in_5 : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8xf32>
    %7 = tensor.empty() : tensor<1x4x8xf32>
    %8 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%6 : tensor<1x4x8xf32>) outs(%7 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.mulf %in, %in : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8xf32>
    %9 = tensor.empty() : tensor<1x4xf32>
    %10 = linalg.fill ins(%cst_3 : f32) outs(%9 : tensor<1x4xf32>) -> tensor<1x4xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "parallel", "reduction"]} ins(%8 : tensor<1x4x8xf32>) outs(%10 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.addf %out, %in : f32
      linalg.yield %24 : f32
    } -> tensor<1x4xf32>
    %12 = tensor.empty() : tensor<1x4xf32>
    %13 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = ["parallel", "parallel"]} ins(%11 : tensor<1x4xf32>) outs(%12 : tensor<1x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.divf %in, %cst : f32
      linalg.yield %24 : f32
    } -> tensor<1x4xf32>
    %expanded_4 = tensor.expand_shape %13 [[0], [1, 2]] output_shape [1, 4, 1] : tensor<1x4xf32> into tensor<1x4x1xf32>
    %14 = tensor.empty() : tensor<1x4x1xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map4, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%expanded_4, %cst_2 : tensor<1x4x1xf32>, tensor<f32>) outs(%14 : tensor<1x4x1xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %24 = arith.addf %in, %in_5 : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x1xf32>
    %16 = tensor.empty() : tensor<1x4x1xf32>
    %17 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%15 : tensor<1x4x1xf32>) outs(%16 : tensor<1x4x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = math.sqrt %in : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x1xf32>
    %18 = tensor.empty() : tensor<1x4x8xf32>
    %19 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%6, %17 : tensor<1x4x8xf32>, tensor<1x4x1xf32>) outs(%18 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %24 = arith.divf %in, %in_5 : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8xf32>
    %20 = tensor.empty() : tensor<1x4x8xf32>
    %21 = linalg.generic {indexing_maps = [#map, #map5, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%19, %cst_0 : tensor<1x4x8xf32>, tensor<8xf32>) outs(%20 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %24 = arith.mulf %in, %in_5 : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8xf32>
    %22 = tensor.empty() : tensor<1x4x8xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map5, #map], iterator_types = ["parallel", "parallel", "parallel"]} ins(%21, %cst_1 : tensor<1x4x8xf32>, tensor<8xf32>) outs(%22 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_5: f32, %out: f32):
      %24 = arith.addf %in, %in_5 : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8xf32>
    return %23 : tensor<1x4x8xf32>
  }
}
