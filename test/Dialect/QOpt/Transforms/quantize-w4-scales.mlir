// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 int4-scale=absmax" | FileCheck %s --check-prefix=ABS
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 int4-scale=signed-extreme" | FileCheck %s --check-prefix=SE
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 int4-scale=mse" | FileCheck %s --check-prefix=MSE
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4" | FileCheck %s --check-prefix=MSE
// RUN: quant-opt %s --qopt-quantize="scheme=nf4 group-size=4" | FileCheck %s --check-prefix=NF4

// K = 6 with groups of 4: the last block of each row is padded with two
// zeros, the packed weight is [2, 8/2] and the scales [2, 2]. Blocks:
//   row 0: [1, -0.5, 0.25, 0]  [1, 0.3, (0, 0)]
//   row 1: [1, 0.3, 0.3, 0.3]  [-3, 1, (0, 0)]
// Nibbles are packed low first; scales are little-endian f32.
//
// absmax (REFERENCE.md symmetric): scale = max|w| / 7, q = round(w / s):
//   1/7 [7, -3, 2, 0]; 1/7 [7, 2, 0, 0]; 1/7 [7, 2, 2, 2]; 3/7 [-7, 2, 0, 0].
// ABS: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} {activation = #qopt.activation<none>, group_size = 4 : i64, weight_format = #qopt.weight_format<int4>, weight_name = "fc"} : (tensor<3x6xf32>, tensor<2x4xi8>, tensor<2x2xf32>) -> tensor<3x2xf32>
// ABS: fc.int4: "0x01000000D702270027222900"
// ABS: fc.scale: "0x040000002549123E2549123E2549123EB76DDB3E"
//
// signed-extreme (onnxruntime MatMulNBits): scale = -m / 8, m the signed
// extreme, q = roundf(w / s + 8) - 8: the extreme is -8 and exact:
//   -1/8 [-8, 4, -2, 0] (exact); -1/8 [-8, -2, 0, 0] (0.3 -> 0.25);
//   -1/8 [-8, -2, -2, -2]; 3/8 [-8, 3, 0, 0] (1 -> 1.125).
// SE: fc.int4: "0x01000000480EE800E8EE3800"
// SE: fc.scale: "0x04000000000000BE000000BE000000BE0000C03E"
//
// mse: per block the least squared error among -m/8 * {1, 0.99 .. 0.8,
// 8/7}: block 1 stays -1/8 (exact); [1, 0.3, ...] take -1/7 (1 -> -7
// exact, 0.3 -> -2: 0.286, error 3 * 0.014^2 against 3 * 0.05^2 at -1/8);
// [-3, 1] takes 0.99 * 3/8 = 0.37125 (-3 -> -2.97, 1 -> 1.11375: error
// 0.0138 against 0.0156).
// MSE: fc.int4: "0x01000000480EE900E9EE3800"
// MSE: fc.scale: "0x04000000000000BE254912BE254912BE7B14BE3E"
//
// nf4: absmax per block (1, 1, 1, 3), the padded block too.
// NF4: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} {{.*}}weight_format = #qopt.weight_format<nf4>{{.*}} : (tensor<3x6xf32>, tensor<2x4xi8>, tensor<2x2xf32>) -> tensor<3x2xf32>
// NF4: fc.absmax: "0x040000000000803F0000803F0000803F00004040"
func.func @padded(%x: tensor<3x6xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, -0.5, 0.25, 0.0, 1.0, 0.3], [1.0, 0.3, 0.3, 0.3, -3.0, 1.0]]> : tensor<2x6xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x6xf32>, tensor<2x6xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
