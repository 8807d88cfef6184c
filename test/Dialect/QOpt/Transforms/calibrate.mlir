// RUN: quant-opt %s --qopt-calibrate | FileCheck %s
// RUN: quant-opt %s --qopt-calibrate="storage=uint8 symmetric=false" | FileCheck %s --check-prefix=U8
// RUN: quant-opt %s --qopt-calibrate="method=percentile percentile=50 margin-db=-1" | FileCheck %s --check-prefix=P50
// RUN: quant-opt %s --qopt-calibrate="method=percentile percentile=50" | FileCheck %s --check-prefix=GUARD
// RUN: quant-opt %s --qopt-calibrate="method=percentile percentile=50 margin-db=100" | FileCheck %s --check-prefix=P50
// RUN: quant-opt %s --qopt-calibrate | quant-opt --qopt-quantize="form=qdq" | FileCheck %s --check-prefix=QUANT

// Statistics of four values in [-4, 7]: 4 |x| bins of width 2 over [0, 8]
// (8 signed bins over [-8, 8]).
// minmax, int8 symmetric: scale 7 / 127, zero point 0.
// CHECK: qopt.observe %arg0
// CHECK-SAME: calibration = #qopt.calibration<method = minmax, min = -7.000000e+00, max = 7.000000e+00, type = !quant.uniform<i8:f32, 0.0551181{{[0-9]*}}>>
// uint8 asymmetric: scale 11 / 255, zero point round(4 / scale) = 93.
// U8: calibration = #qopt.calibration<method = minmax, min = -4.000000e+00, max = 7.000000e+00, type = !quant.uniform<u8:f32, 0.0431372{{[0-9]*}}:93>>
// Half the mass lies below |x| = 4 (the upper edge of the second bin):
// unchecked (margin-db=-1) or with a wide margin, the percentile's range.
// P50: calibration = #qopt.calibration<method = percentile, min = -4.000000e+00, max = 4.000000e+00, type = !quant.uniform<i8:f32, 0.031496{{[0-9]*}}>>
// With the default 3 dB margin the clip of 7 to 4 quantizes the histogram
// far worse than minmax: the observer keeps minmax's range and says so.
// GUARD: calibration = #qopt.calibration<method = minmax, min = -7.000000e+00, max = 7.000000e+00, type = !quant.uniform<i8:f32, 0.0551181{{[0-9]*}}>>
// The statistics stay for later passes (the report, a second calibration).
// CHECK-SAME: statistics = #qopt.histogram<count = 4, min = -4.000000e+00, max = 7.000000e+00, range = 8.000000e+00, counts = [0.000000e+00, 0.000000e+00, 1.000000e+00, 0.000000e+00, 1.000000e+00, 1.000000e+00, 0.000000e+00, 1.000000e+00]>
// qopt-quantize reads the calibrated type as it is.
// QUANT: qopt.quantize %arg0 : tensor<4xf32> -> tensor<4x!quant.uniform<i8:f32, 0.0551181{{[0-9]*}}>>
func.func @f(%x: tensor<4xf32>) -> tensor<2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.25, 2.0]]> : tensor<2x4xf32>
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<histogram>, statistics = #qopt.histogram<count = 4, min = -4.0, max = 7.0, range = 8.0, counts = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]>} : tensor<4xf32>
  %y = qopt.linear %o, %w : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}
