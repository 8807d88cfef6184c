// RUN: quant-opt %s --qopt-calibrate="storage=auto" | FileCheck %s
// RUN: quant-opt %s --qopt-calibrate | FileCheck %s --check-prefix=INT8
// RUN: quant-opt %s --qopt-calibrate="storage=auto" | quant-opt --qopt-quantize | FileCheck %s --check-prefix=QUANT

// storage=auto: per observer, symmetric int8 or asymmetric uint8, whichever
// quantizes its histogram with the lower error (uint8 only when at least
// 1 dB lower). Histograms of 4 |x| bins of width 2 over [0, 8].

// relu: four values in [0, 7], one-sided. int8 symmetric spends half its
// levels on negatives (step 7/127); uint8 over [0, 7] has step 7/255,
// zero point 0: about 6 dB less error.
// CHECK: calibration = #qopt.calibration<method = minmax, min = 0.000000e+00, max = 7.000000e+00, type = !quant.uniform<u8:f32, 0.0274509{{[0-9]*}}>>
// centred: four values in [-7, 7]: uint8 would have step 14/255 against
// int8's 7/127 (0.3% finer, well under 1 dB): int8 stays.
// CHECK: calibration = #qopt.calibration<method = minmax, min = -7.000000e+00, max = 7.000000e+00, type = !quant.uniform<i8:f32, 0.0551181{{[0-9]*}}>>
// The fixed default (int8 symmetric) for both.
// INT8: calibration = #qopt.calibration<method = minmax, min = -7.000000e+00, max = 7.000000e+00, type = !quant.uniform<i8:f32, 0.0551181{{[0-9]*}}>>
// INT8: calibration = #qopt.calibration<method = minmax, min = -7.000000e+00, max = 7.000000e+00, type = !quant.uniform<i8:f32, 0.0551181{{[0-9]*}}>>
// The choice is each qlinear's typed input_storage.
// QUANT: qopt.qlinear {{.*}}input_storage = #qopt.storage<uint8>, input_zero_point = 0 : i64
// QUANT: qopt.qlinear {{.*}}input_storage = #qopt.storage<int8>, input_zero_point = 0 : i64
func.func @f(%relu: tensor<4xf32>, %centred: tensor<4xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.25, 2.0]]> : tensor<2x4xf32>
  %a = qopt.observe %relu {id = 0 : i64, kind = #qopt.observer<histogram>, statistics = #qopt.histogram<count = 4, min = 0.0, max = 7.0, range = 8.0, counts = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]>} : tensor<4xf32>
  %ya = qopt.linear %a, %w : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2xf32>
  %b = qopt.observe %centred {id = 1 : i64, kind = #qopt.observer<histogram>, statistics = #qopt.histogram<count = 4, min = -7.0, max = 7.0, range = 8.0, counts = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]>} : tensor<4xf32>
  %yb = qopt.linear %b, %w : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2xf32>
  return %ya, %yb : tensor<2xf32>, tensor<2xf32>
}
