// RUN: quant-opt %s --qopt-ternarize="mode=lossless" --verify-diagnostics

// The exporter's BitLinear (see ternarize-exported.mlir) on a weight that
// is not finite: an error naming the layer (here by the node name of the
// matmul's location, as ONNX import sets it).
// expected-error@unknown {{qopt-ternarize: the weight of BitLinear '/fc/Gemm' is not finite}}
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> ()>
#map2 = affine_map<() -> ()>
#map3 = affine_map<(d0, d1) -> (d0)>
#map4 = affine_map<(d0, d1) -> (d0, 0)>
#map5 = affine_map<(d0, d1, d2) -> (d0, d2)>
#map6 = affine_map<(d0, d1, d2) -> (d2, d1)>
#map7 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map8 = affine_map<(d0, d1) -> (d1)>
module {
  func.func @not_finite(%arg0: tensor<2x8xf32> {onnx.dtype = "float", onnx.name = "x"}) -> (tensor<2x4xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant dense<[[0x7F800000, -0.6, 0.05, 1.2, -0.1, 0.0, 0.45, -2.0], [0.25, 0.5, -0.75, 0.1, 0.2, -0.3, 0.9, -0.05], [1.0, 1.0, -1.0, 0.0, 0.0, 0.5, -0.5, 0.2], [-0.4, 0.3, 0.2, -0.1, 0.7, -0.8, 0.05, 0.6]]> : tensor<4x8xf32>
    %cst_0 = arith.constant dense<[0.1, -0.2, 0.3, -0.4]> : tensor<4xf32>
    %cst_1 = arith.constant dense<9.99999974E-6> : tensor<f32>
    %cst_2 = arith.constant dense<1.000000e+00> : tensor<f32>
    %cst_3 = arith.constant dense<-1.000000e+00> : tensor<f32>
    %cst_4 = arith.constant dense<1.000000e+00> : tensor<f32>
    %cst_5 = arith.constant dense<1.270000e+02> : tensor<f32>
    %cst_6 = arith.constant dense<-1.280000e+02> : tensor<f32>
    %0 = tensor.empty() : tensor<4x8xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%cst : tensor<4x8xf32>) outs(%0 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = math.absf %in : f32
      linalg.yield %50 : f32
    } -> tensor<4x8xf32>
    %cst_7 = arith.constant 0.000000e+00 : f32
    %2 = tensor.empty() : tensor<f32>
    %3 = linalg.fill ins(%cst_7 : f32) outs(%2 : tensor<f32>) -> tensor<f32>
    %4 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["reduction", "reduction"]} ins(%1 : tensor<4x8xf32>) outs(%3 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = arith.addf %out, %in : f32
      linalg.yield %50 : f32
    } -> tensor<f32>
    %cst_8 = arith.constant 3.200000e+01 : f32
    %5 = tensor.empty() : tensor<f32>
    %6 = linalg.generic {indexing_maps = [#map2, #map2], iterator_types = []} ins(%4 : tensor<f32>) outs(%5 : tensor<f32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = arith.divf %in, %cst_8 : f32
      linalg.yield %50 : f32
    } -> tensor<f32>
    %7 = tensor.empty() : tensor<f32>
    %8 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = []} ins(%6, %cst_1 : tensor<f32>, tensor<f32>) outs(%7 : tensor<f32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.maximumf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<f32>
    %9 = tensor.empty() : tensor<f32>
    %10 = linalg.generic {indexing_maps = [#map2, #map2, #map2], iterator_types = []} ins(%cst_2, %8 : tensor<f32>, tensor<f32>) outs(%9 : tensor<f32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.divf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<f32>
    %11 = tensor.empty() : tensor<4x8xf32>
    %12 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cst, %10 : tensor<4x8xf32>, tensor<f32>) outs(%11 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.mulf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<4x8xf32>
    %13 = tensor.empty() : tensor<4x8xf32>
    %14 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%12 : tensor<4x8xf32>) outs(%13 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = math.roundeven %in : f32
      linalg.yield %50 : f32
    } -> tensor<4x8xf32>
    %15 = tensor.empty() : tensor<4x8xf32>
    %16 = linalg.generic {indexing_maps = [#map, #map1, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%14, %cst_3, %cst_4 : tensor<4x8xf32>, tensor<f32>, tensor<f32>) outs(%15 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %in_12: f32, %out: f32):
      %50 = arith.maximumf %in, %in_11 : f32
      %51 = arith.minimumf %50, %in_12 : f32
      linalg.yield %51 : f32
    } -> tensor<4x8xf32>
    %17 = tensor.empty() : tensor<4x8xf32>
    %18 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%16, %10 : tensor<4x8xf32>, tensor<f32>) outs(%17 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.divf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<4x8xf32>
    %19 = tensor.empty() : tensor<4x8xf32>
    %20 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%18, %cst : tensor<4x8xf32>, tensor<4x8xf32>) outs(%19 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.subf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<4x8xf32>
    %21 = tensor.empty() : tensor<4x8xf32>
    %22 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%cst, %20 : tensor<4x8xf32>, tensor<4x8xf32>) outs(%21 : tensor<4x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.addf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<4x8xf32>
    %23 = tensor.empty() : tensor<2x8xf32>
    %24 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<2x8xf32>) outs(%23 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = math.absf %in : f32
      linalg.yield %50 : f32
    } -> tensor<2x8xf32>
    %cst_9 = arith.constant 0xFF800000 : f32
    %25 = tensor.empty() : tensor<2xf32>
    %26 = linalg.fill ins(%cst_9 : f32) outs(%25 : tensor<2xf32>) -> tensor<2xf32>
    %27 = linalg.generic {indexing_maps = [#map, #map3], iterator_types = ["parallel", "reduction"]} ins(%24 : tensor<2x8xf32>) outs(%26 : tensor<2xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = arith.maximumf %in, %out : f32
      linalg.yield %50 : f32
    } -> tensor<2xf32>
    %expanded = tensor.expand_shape %27 [[0, 1]] output_shape [2, 1] : tensor<2xf32> into tensor<2x1xf32>
    %28 = tensor.empty() : tensor<2x1xf32>
    %29 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%expanded, %cst_1 : tensor<2x1xf32>, tensor<f32>) outs(%28 : tensor<2x1xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.maximumf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x1xf32>
    %30 = tensor.empty() : tensor<2x1xf32>
    %31 = linalg.generic {indexing_maps = [#map1, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%cst_5, %29 : tensor<f32>, tensor<2x1xf32>) outs(%30 : tensor<2x1xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.divf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x1xf32>
    %32 = tensor.empty() : tensor<2x8xf32>
    %33 = linalg.generic {indexing_maps = [#map, #map4, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0, %31 : tensor<2x8xf32>, tensor<2x1xf32>) outs(%32 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.mulf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x8xf32>
    %34 = tensor.empty() : tensor<2x8xf32>
    %35 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%33 : tensor<2x8xf32>) outs(%34 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %50 = math.roundeven %in : f32
      linalg.yield %50 : f32
    } -> tensor<2x8xf32>
    %36 = tensor.empty() : tensor<2x8xf32>
    %37 = linalg.generic {indexing_maps = [#map, #map1, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%35, %cst_6, %cst_5 : tensor<2x8xf32>, tensor<f32>, tensor<f32>) outs(%36 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %in_12: f32, %out: f32):
      %50 = arith.maximumf %in, %in_11 : f32
      %51 = arith.minimumf %50, %in_12 : f32
      linalg.yield %51 : f32
    } -> tensor<2x8xf32>
    %38 = tensor.empty() : tensor<2x8xf32>
    %39 = linalg.generic {indexing_maps = [#map, #map4, #map], iterator_types = ["parallel", "parallel"]} ins(%37, %31 : tensor<2x8xf32>, tensor<2x1xf32>) outs(%38 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.divf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x8xf32>
    %40 = tensor.empty() : tensor<2x8xf32>
    %41 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%39, %arg0 : tensor<2x8xf32>, tensor<2x8xf32>) outs(%40 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.subf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x8xf32>
    %42 = tensor.empty() : tensor<2x8xf32>
    %43 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0, %41 : tensor<2x8xf32>, tensor<2x8xf32>) outs(%42 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.addf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x8xf32>
    %44 = tensor.empty() : tensor<8x4xf32>
    %transposed = linalg.transpose ins(%22 : tensor<4x8xf32>) outs(%44 : tensor<8x4xf32>) permutation = [1, 0] 
    %45 = tensor.empty() : tensor<2x4xf32>
    %cst_10 = arith.constant 0.000000e+00 : f32
    %46 = linalg.fill ins(%cst_10 : f32) outs(%45 : tensor<2x4xf32>) -> tensor<2x4xf32>
    %47 = linalg.generic {indexing_maps = [#map5, #map6, #map7], iterator_types = ["parallel", "parallel", "reduction"]} ins(%43, %transposed : tensor<2x8xf32>, tensor<8x4xf32>) outs(%46 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.mulf %in, %in_11 : f32
      %51 = arith.addf %out, %50 : f32
      linalg.yield %51 : f32
    } -> tensor<2x4xf32> loc("/fc/Gemm")
    %48 = tensor.empty() : tensor<2x4xf32>
    %49 = linalg.generic {indexing_maps = [#map, #map8, #map], iterator_types = ["parallel", "parallel"]} ins(%47, %cst_0 : tensor<2x4xf32>, tensor<4xf32>) outs(%48 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_11: f32, %out: f32):
      %50 = arith.addf %in, %in_11 : f32
      linalg.yield %50 : f32
    } -> tensor<2x4xf32>
    return %49 : tensor<2x4xf32>
  }
}
