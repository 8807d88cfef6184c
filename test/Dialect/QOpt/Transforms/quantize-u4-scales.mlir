// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 weight-symmetric=false int4-scale=minmax" | FileCheck %s --check-prefix=MINMAX
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=4 weight-symmetric=false" | FileCheck %s --check-prefix=MSE

// Asymmetric uint4, one block per row (nibbles low first, f32 scales):
//   row 0 [1, 0.3, 0.3, 0.3]: minmax scale 1/15, zero point 0, q [15, 4, 4,
//   4] (0.3 -> 4.5 -> 4, error 3 * 0.033^2 = 0.0033); mse takes the range
//   0.97 · [0, 1]: scale 0.0647, q [15, 5, 5, 5] (error 0.0025).
//   row 1 [1, -0.5, 0.25, 0]: minmax scale 0.1, zero point 5, q [15, 0, 7,
//   5] (0.25 -> 2.5 -> 2 half to even: 0.2, error 0.0025); mse takes 0.99 ·
//   [-0.5, 1]: scale 0.099, zero point 5, q [15, 0, 8, 5] (1 -> 0.99, -0.5
//   -> -0.495, 0.25 -> 0.297: error 0.0023).
// MINMAX: fc.uint4: "0x010000004F440F57"
// MINMAX: fc.scale: "0x040000008988883DCDCCCC3D"
// MINMAX: fc.zero_point: "0x010000000005"
// MSE: fc.uint4: "0x010000005F550F58"
// MSE: fc.scale: "0x04000000F56F843D83C0CA3D"
// MSE: fc.zero_point: "0x010000000005"
func.func @u4(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.3, 0.3, 0.3], [1.0, -0.5, 0.25, 0.0]]> : tensor<2x4xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
