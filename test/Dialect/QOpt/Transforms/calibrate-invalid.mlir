// RUN: quant-opt %s --qopt-calibrate --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-calibrate="method=kl" --split-input-file 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not quant-opt %s --qopt-calibrate="storage=int4" --split-input-file 2>&1 | FileCheck %s --check-prefix=STORAGE
// RUN: not quant-opt %s --qopt-calibrate="method=percentile percentile=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=PCT
// RUN: not quant-opt %s --qopt-calibrate="margin-db=inf" --split-input-file 2>&1 | FileCheck %s --check-prefix=MARGIN
// MARGIN: error: qopt-calibrate: margin-db must be finite, got INF
// METHOD: for the --method option: Cannot find option named 'kl'!
// STORAGE: for the --storage option: Cannot find option named 'int4'!
// PCT: error: qopt-calibrate: percentile must be in (0, 100], got 0

func.func @nostats(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{qopt-calibrate: observer 2 has no calibration statistics: run the calibration first (qopt-collect-statistics)}}
  %o = qopt.observe %x {id = 2 : i64} : tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

// A channel_absmax observer (SmoothQuant's) has no range to calibrate.
func.func @channel_observer(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{qopt-calibrate: observer 0 has no calibration statistics}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_absmax>, channel_absmax = array<f32: 1.0, 2.0, 3.0, 4.0>} : tensor<4xf32>
  return %o : tensor<4xf32>
}
