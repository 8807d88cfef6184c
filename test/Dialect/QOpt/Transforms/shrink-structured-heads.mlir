// RUN: quant-opt %s --qopt-prune="granularity=heads sparsity=0.5" | FileCheck %s --check-prefix=PRUNE
// RUN: quant-opt %s --qopt-prune="granularity=heads sparsity=0.5" --qopt-shrink-structured | FileCheck %s

// An attention block as the ONNX importer writes it (static shapes: batch
// 1, 3 tokens, 2 heads of 4): q/k/v -> Reshape [1, 3, 2, 4] -> Transpose ->
// MatMul -> Softmax -> MatMul -> Transpose -> Reshape [1, 3, 8] -> o. Head 1
// has the small weights (its Q/K/V columns and o's rows were scaled by 0.1
// in the ONNX model): heads:0.5 zeroes it in all four layers, and the
// shrinking removes it everywhere, down to the reshapes' head counts.

// PRUNE: qopt.linear %arg0, %{{.*}} {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = heads, target = 5.000000e-01, achieved = 5.000000e-01>, weight_name = "wq"}
// PRUNE: qopt.linear %{{.*}} {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = heads, target = 5.000000e-01, achieved = 5.000000e-01>, weight_name = "wo"}

// CHECK: %[[WQ:.*]] = arith.constant dense<{{\[}}[2.040000e+00, -8.700000e-01, {{.*}}> : tensor<4x8xf32>
// CHECK: %[[Q:.*]] = qopt.linear %arg0, %[[WQ]] {{.*}}weight_name = "wq"} : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
// CHECK: qopt.linear %arg0, %{{.*}}weight_name = "wk"} : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
// CHECK: qopt.linear %arg0, %{{.*}}weight_name = "wv"} : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
// CHECK: tensor.expand_shape %[[Q]] {{\[}}[0], [1], [2, 3]] output_shape [1, 3, 1, 4] : tensor<1x3x4xf32> into tensor<1x3x1x4xf32>
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x3x1x4xf32>) outs(%{{.*}} : tensor<1x1x3x4xf32>)
// CHECK: linalg.transpose ins(%{{.*}} : tensor<1x3x1x4xf32>) outs(%{{.*}} : tensor<1x1x4x3xf32>)
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) outs(%{{.*}} : tensor<1x1x3x3xf32>)
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<1x1x3x3xf32>) outs(%{{.*}} : tensor<1x1x3xf32>)
// CHECK: %[[C:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3]] : tensor<1x3x1x4xf32> into tensor<1x3x4xf32>
// CHECK: %[[WO:.*]] = arith.constant dense<{{\[}}[-6.400000e-01, 1.630000e+00, -0.00999999977, -1.300000e-01], {{.*}}> : tensor<8x4xf32>
// CHECK: qopt.linear %[[C]], %[[WO]] {{.*}}weight_name = "wo"} : (tensor<1x3x4xf32>, tensor<8x4xf32>) -> tensor<1x3x8xf32>

#map = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map3 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
module {
  func.func @main(%arg0: tensor<1x3x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<1x3x8xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant dense<[[2.04, -0.87, 0.48, -0.18, 0.88, 0.28, 0.19, 0.23], [-2.56, 3.32, -0.24, 0.54, 0.58, 0.70, 1.11, -2.49], [0.42, 0.23, 0.96, 1.94, 0.09, -0.44, -0.21, 0.69], [-0.57, -0.35, -0.20, -0.27, 0.67, -1.08, -0.93, 0.49], [-0.05, -0.03, 0.00, -0.02, -0.28, 0.00, 0.06, -0.16], [-0.02, -0.07, 0.15, 0.10, 0.10, -0.01, 0.06, 0.01], [-0.20, -0.11, 0.05, -0.09, -0.10, 0.14, -0.02, -0.10], [-0.02, -0.04, -0.05, -0.03, -0.17, 0.07, -0.08, 0.08]]> : tensor<8x8xf32>
    %cst_0 = arith.constant dense<[[-2.03, 1.59, 1.68, 1.37, -0.00, -0.79, -2.04, -0.98], [-0.91, -1.19, 0.75, -1.46, 1.21, 0.13, -0.34, -0.80], [0.71, 0.35, 0.75, -0.60, 0.76, -0.11, -0.61, 0.04], [1.16, -1.05, 1.14, -0.32, 0.22, 0.54, 0.53, 0.64], [-0.22, 0.14, 0.03, 0.02, -0.03, 0.02, -0.23, 0.20], [-0.05, -0.00, -0.06, 0.06, 0.03, 0.26, 0.12, -0.02], [0.03, -0.04, -0.08, -0.12, -0.02, 0.15, 0.11, 0.08], [-0.06, -0.17, -0.08, -0.17, 0.08, 0.15, -0.13, 0.02]]> : tensor<8x8xf32>
    %cst_1 = arith.constant dense<[[1.76, -0.31, -0.56, 0.14, 0.85, -0.48, -0.14, 0.17], [0.74, -0.45, -1.17, -1.53, -0.41, 0.13, 0.80, 0.73], [1.37, 0.48, -1.34, -0.46, -0.15, 0.84, -0.55, -0.59], [-1.08, -0.70, 0.52, 0.11, 0.81, 1.08, 2.16, 0.38], [-0.02, -0.09, 0.09, -0.08, 0.06, 0.10, 0.10, -0.00], [-0.08, 0.05, 0.00, -0.05, 0.17, 0.02, 0.22, 0.16], [0.15, 0.25, 0.03, -0.08, -0.21, 0.16, -0.00, -0.07], [0.07, -0.02, 0.01, -0.03, 0.09, -0.03, -0.04, 0.10]]> : tensor<8x8xf32>
    %cst_2 = arith.constant dense<[[-0.64, 1.63, -0.01, -0.13, 0.13, -0.03, -0.01, -0.02], [-0.96, 0.27, 1.13, -0.19, -0.20, -0.01, -0.06, 0.01], [-0.71, 0.20, -0.07, -0.83, 0.01, 0.01, 0.17, 0.05], [-1.19, -0.28, -0.82, -0.19, -0.01, -0.12, 0.02, -0.00], [0.15, -1.61, 0.36, -2.14, -0.10, 0.06, -0.10, 0.23], [1.03, 0.76, -0.56, -0.16, 0.05, 0.07, -0.08, -0.05], [0.16, -1.76, -0.18, -1.20, -0.05, -0.11, -0.01, 0.07], [0.62, 0.65, 0.04, 1.12, -0.18, -0.07, 0.23, 0.02]]> : tensor<8x8xf32>
    %cst_3 = arith.constant dense_resource<split> : tensor<4xi64>
    %cst_4 = arith.constant dense_resource<merge> : tensor<3xi64>
    %0 = qopt.linear %arg0, %cst {weight_name = "wq"} : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
    %1 = qopt.linear %arg0, %cst_0 {weight_name = "wk"} : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
    %2 = qopt.linear %arg0, %cst_1 {weight_name = "wv"} : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
    %expanded = tensor.expand_shape %0 [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
    %3 = tensor.empty() : tensor<1x2x3x4xf32>
    %transposed = linalg.transpose ins(%expanded : tensor<1x3x2x4xf32>) outs(%3 : tensor<1x2x3x4xf32>) permutation = [0, 2, 1, 3] 
    %expanded_5 = tensor.expand_shape %1 [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
    %4 = tensor.empty() : tensor<1x2x4x3xf32>
    %transposed_6 = linalg.transpose ins(%expanded_5 : tensor<1x3x2x4xf32>) outs(%4 : tensor<1x2x4x3xf32>) permutation = [0, 2, 3, 1] 
    %expanded_7 = tensor.expand_shape %2 [[0], [1], [2, 3]] output_shape [1, 3, 2, 4] : tensor<1x3x8xf32> into tensor<1x3x2x4xf32>
    %5 = tensor.empty() : tensor<1x2x3x4xf32>
    %transposed_8 = linalg.transpose ins(%expanded_7 : tensor<1x3x2x4xf32>) outs(%5 : tensor<1x2x3x4xf32>) permutation = [0, 2, 1, 3] 
    %6 = tensor.empty() : tensor<1x2x3x3xf32>
    %cst_9 = arith.constant 0.000000e+00 : f32
    %7 = linalg.fill ins(%cst_9 : f32) outs(%6 : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    %8 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%transposed, %transposed_6 : tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) outs(%7 : tensor<1x2x3x3xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %22 = arith.mulf %in, %in_14 : f32
      %23 = arith.addf %out, %22 : f32
      linalg.yield %23 : f32
    } -> tensor<1x2x3x3xf32>
    %cst_10 = arith.constant 0xFF800000 : f32
    %9 = tensor.empty() : tensor<1x2x3xf32>
    %10 = linalg.fill ins(%cst_10 : f32) outs(%9 : tensor<1x2x3xf32>) -> tensor<1x2x3xf32>
    %11 = linalg.generic {indexing_maps = [#map3, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%8 : tensor<1x2x3x3xf32>) outs(%10 : tensor<1x2x3xf32>) {
    ^bb0(%in: f32, %out: f32):
      %22 = arith.maximumf %in, %out : f32
      linalg.yield %22 : f32
    } -> tensor<1x2x3xf32>
    %cst_11 = arith.constant 0.000000e+00 : f32
    %12 = tensor.empty() : tensor<1x2x3xf32>
    %13 = linalg.fill ins(%cst_11 : f32) outs(%12 : tensor<1x2x3xf32>) -> tensor<1x2x3xf32>
    %14 = linalg.generic {indexing_maps = [#map3, #map4, #map4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%8, %11 : tensor<1x2x3x3xf32>, tensor<1x2x3xf32>) outs(%13 : tensor<1x2x3xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %22 = arith.subf %in, %in_14 : f32
      %23 = math.exp %22 : f32
      %24 = arith.addf %out, %23 : f32
      linalg.yield %24 : f32
    } -> tensor<1x2x3xf32>
    %15 = tensor.empty() : tensor<1x2x3x3xf32>
    %16 = linalg.generic {indexing_maps = [#map3, #map4, #map4, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%8, %11, %14 : tensor<1x2x3x3xf32>, tensor<1x2x3xf32>, tensor<1x2x3xf32>) outs(%15 : tensor<1x2x3x3xf32>) {
    ^bb0(%in: f32, %in_14: f32, %in_15: f32, %out: f32):
      %22 = arith.subf %in, %in_14 : f32
      %23 = math.exp %22 : f32
      %24 = arith.divf %23, %in_15 : f32
      linalg.yield %24 : f32
    } -> tensor<1x2x3x3xf32>
    %17 = tensor.empty() : tensor<1x2x3x4xf32>
    %cst_12 = arith.constant 0.000000e+00 : f32
    %18 = linalg.fill ins(%cst_12 : f32) outs(%17 : tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
    %19 = linalg.generic {indexing_maps = [#map, #map1, #map2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%16, %transposed_8 : tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) outs(%18 : tensor<1x2x3x4xf32>) {
    ^bb0(%in: f32, %in_14: f32, %out: f32):
      %22 = arith.mulf %in, %in_14 : f32
      %23 = arith.addf %out, %22 : f32
      linalg.yield %23 : f32
    } -> tensor<1x2x3x4xf32>
    %20 = tensor.empty() : tensor<1x3x2x4xf32>
    %transposed_13 = linalg.transpose ins(%19 : tensor<1x2x3x4xf32>) outs(%20 : tensor<1x3x2x4xf32>) permutation = [0, 2, 1, 3] 
    %collapsed = tensor.collapse_shape %transposed_13 [[0], [1], [2, 3]] : tensor<1x3x2x4xf32> into tensor<1x3x8xf32>
    %21 = qopt.linear %collapsed, %cst_2 {weight_name = "wo"} : (tensor<1x3x8xf32>, tensor<8x8xf32>) -> tensor<1x3x8xf32>
    return %21 : tensor<1x3x8xf32>
  }
}

