// RUN: quant-opt %s --qopt-calibrate --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-calibrate="method=kl" --split-input-file 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not quant-opt %s --qopt-calibrate="storage=int4" --split-input-file 2>&1 | FileCheck %s --check-prefix=STORAGE
// RUN: not quant-opt %s --qopt-calibrate="method=percentile percentile=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=PCT
// METHOD: error: qopt-calibrate: unknown method 'kl' (minmax, percentile, entropy, mse)
// STORAGE: error: qopt-calibrate: storage must be int8 or uint8, got 'int4'
// PCT: error: qopt-calibrate: percentile must be in (0, 100], got 0

func.func @nostats(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{qopt-calibrate: observer 2 has no calibration statistics (qopt.stats): run the calibration first}}
  %o = qopt.observe %x {id = 2 : i64} : tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

func.func @badstats(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{qopt-calibrate: observer 0 has malformed qopt.stats}}
  %o = qopt.observe %x {id = 0 : i64, qopt.stats = {count = 4 : i64, min = -4.0 : f32, max = 7.0 : f32, range = 8.0 : f64, counts = dense<[1.0, 2.0, 3.0]> : tensor<3xf64>}} : tensor<4xf32>
  return %o : tensor<4xf32>
}
