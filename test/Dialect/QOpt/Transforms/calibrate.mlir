// RUN: quant-opt %s --qopt-calibrate | FileCheck %s
// RUN: quant-opt %s --qopt-calibrate="storage=uint8 symmetric=false" | FileCheck %s --check-prefix=U8
// RUN: quant-opt %s --qopt-calibrate="method=percentile percentile=50" | FileCheck %s --check-prefix=P50

// Statistics of four values in [-4, 7]: 4 |x| bins of width 2 over [0, 8]
// (8 signed bins over [-8, 8]).
// minmax, int8 symmetric: scale 7 / 127, zero point 0.
// CHECK: qopt.observe %arg0
// CHECK-SAME: qopt.range = [-7.000000e+00 : f32, 7.000000e+00 : f32]
// CHECK-SAME: qopt.scale = 0.0551181{{[0-9]*}} : f32
// CHECK-SAME: qopt.storage = "int8"
// CHECK-SAME: qopt.zero_point = 0 : i64
// uint8 asymmetric: scale 11 / 255, zero point round(4 / scale) = 93.
// U8: qopt.range = [-4.000000e+00 : f32, 7.000000e+00 : f32]
// U8-SAME: qopt.scale = 0.0431372{{[0-9]*}} : f32
// U8-SAME: qopt.zero_point = 93 : i64
// Half the mass lies below |x| = 4 (the upper edge of the second bin).
// P50: qopt.range = [-4.000000e+00 : f32, 4.000000e+00 : f32]
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %o = qopt.observe %x {id = 0 : i64, qopt.stats = {count = 4 : i64, min = -4.0 : f32, max = 7.0 : f32, range = 8.0 : f64, counts = dense<[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]> : tensor<8xf64>}} : tensor<4xf32>
  return %o : tensor<4xf32>
}
