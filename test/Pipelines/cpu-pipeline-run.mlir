// Compiles qopt ops through qopt-cpu-pipeline, runs them with mlir-runner and
// checks the printed values. Expected values were computed with numpy from
// the ONNX formulas (np.round is round-half-to-even):
//   q = clip(np.round(x / s) + zp, qmin, qmax); x' = (q - zp) * s
//   y = x' @ W.T + b
// RUN: quant-opt %s --qopt-cpu-pipeline \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @print(%t: tensor<2x4xf32>) {
  %u = tensor.cast %t : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  // Ties: 1.25 / 0.5 = 2.5 -> 2, 1.75 / 0.5 = 3.5 -> 4, -1.25 / 0.5 -> -2;
  // saturation: 100 -> 127, -100 -> -128 (int8, zero point 0).
  %x = arith.constant dense<[[1.25, 1.75, -1.25, 100.0], [-100.0, 0.3, -0.3, 0.0]]> : tensor<2x4xf32>
  %q = qopt.quantize %x : tensor<2x4xf32> -> tensor<2x4x!quant.uniform<i8:f32, 0.5>>
  %d = qopt.dequantize %q : tensor<2x4x!quant.uniform<i8:f32, 0.5>> -> tensor<2x4xf32>
  // CHECK: data =
  // CHECK-NEXT: {{\[\[}}1,   2,   -1,   63.5],
  // CHECK-NEXT: {{\[}}-64,   0.5,   -0.5,   0]]
  call @print(%d) : (tensor<2x4xf32>) -> ()

  // Per-axis uint8 along dim 1, zero points 128, 0, 10, 255.
  %x2 = arith.constant dense<[[0.26, 0.26, 0.26, 0.26], [-1.0, -1.0, 30.0, 1.0]]> : tensor<2x4xf32>
  %q2 = qopt.quantize %x2 : tensor<2x4xf32> -> tensor<2x4x!quant.uniform<u8:f32:1, {0.1:128, 0.2:0, 0.5:10, 0.25:255}>>
  %d2 = qopt.dequantize %q2 : tensor<2x4x!quant.uniform<u8:f32:1, {0.1:128, 0.2:0, 0.5:10, 0.25:255}>> -> tensor<2x4xf32>
  // CHECK: data =
  // CHECK-NEXT: {{\[\[}}0.3,   0.2,   0.5,   0],
  // CHECK-NEXT: {{\[}}-1,   0,   30,   0]]
  call @print(%d2) : (tensor<2x4xf32>) -> ()

  // fake_quant int4 per tensor: same grid as quantize + dequantize.
  %f = qopt.fake_quant %x scale [0.5] zero_point [1] range [-8, 7] : tensor<2x4xf32>
  // CHECK: data =
  // CHECK-NEXT: {{\[\[}}1,   2,   -1,   3],
  // CHECK-NEXT: {{\[}}-4.5,   0.5,   -0.5,   0]]
  call @print(%f) : (tensor<2x4xf32>) -> ()

  // Linear on the dequantized activations: y = x' @ W.T + b.
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, -1.0, 0.0], [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.01]]> : tensor<4x4xf32>
  %b = arith.constant dense<[0.0, 1.0, -2.0, 0.5]> : tensor<4xf32>
  %o = qopt.observe %d {id = 0} : tensor<2x4xf32>
  %y = qopt.linear %o, %w, %b {weight_name = "fc.weight"} : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK: data =
  // CHECK-NEXT: {{\[\[}}1,   4,   30.75,   1.135],
  // CHECK-NEXT: {{\[}}-64,   2,   -34,   0.5]]
  call @print(%y) : (tensor<2x4xf32>) -> ()
  return
}
