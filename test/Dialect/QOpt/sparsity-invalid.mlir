// RUN: quant-opt %s --split-input-file -verify-diagnostics

func.func @not_a_layer(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qopt.sparsity' is for layers (qopt.linear, qopt.qlinear, convolutions)}}
  %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [-128, 127] {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 0.5, achieved = 0.5>} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @wrong_kind(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'qopt.sparsity' must be a #qopt.sparsity attribute}}
  %y = qopt.linear %x, %w {qopt.sparsity = 0.5 : f64} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @nm_misfit(%x: tensor<2x6xf32>, %w: tensor<4x6xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{a 2:4 pattern needs a reduction dimension that is a multiple of 4, this layer's is 6}}
  %y = qopt.linear %x, %w {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>} : (tensor<2x6xf32>, tensor<4x6xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @conv_nm_misfit(%x: tensor<1x6x5x5xf32>, %w: tensor<8x6x3x3xf32>, %o: tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32> {
  // expected-error @+1 {{a 2:4 pattern needs a reduction dimension that is a multiple of 4, this layer's is 6}}
  %y = linalg.conv_2d_nchw_fchw {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>}
      ins(%x, %w : tensor<1x6x5x5xf32>, tensor<8x6x3x3xf32>) outs(%o : tensor<1x8x3x3xf32>) -> tensor<1x8x3x3xf32>
  return %y : tensor<1x8x3x3xf32>
}

// -----

// expected-error @+1 {{sparsity target must be in [0, 1), got 1.5}}
#bad_target = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 1.5, achieved = 0.5>
func.func private @f() attributes {a = #bad_target}

// -----

// expected-error @+1 {{achieved sparsity must be in [0, 1], got -2.500000e-01}}
#bad_achieved = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 0.5, achieved = -0.25>
func.func private @f() attributes {a = #bad_achieved}

// -----

// expected-error @+1 {{an n:m pattern needs 1 <= n < m, got 4:4}}
#bad_nm = #qopt.sparsity<method = magnitude, granularity = n_m, n = 4, m = 4, target = 0.0, achieved = 0.0>
func.func private @f() attributes {a = #bad_nm}

// -----

// expected-error @+1 {{the target of 2:4 is 5.000000e-01, got 2.500000e-01}}
#bad_nm_target = #qopt.sparsity<method = magnitude, granularity = n_m, n = 2, m = 4, target = 0.25, achieved = 0.5>
func.func private @f() attributes {a = #bad_nm_target}

// -----

// expected-error @+1 {{n and m are for granularity n_m, not channels}}
#bad_channels = #qopt.sparsity<method = magnitude, granularity = channels, n = 2, m = 4, target = 0.5, achieved = 0.5>
func.func private @f() attributes {a = #bad_channels}

// -----

func.func @sumsq_on_minmax(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{channel_sumsq and channel_axis are for channel_sumsq observers, this one is minmax}}
  %o = qopt.observe %x {id = 0 : i64, channel_sumsq = array<f64: 1.0, 2.0>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @sumsq_count(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{channel_sumsq has 3 values for 2 channels}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_sumsq>, channel_sumsq = array<f64: 1.0, 2.0, 3.0>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @sumsq_axis(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{channel_axis 2 is out of range for rank 2}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_sumsq>, channel_axis = 2 : i64} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @sumsq_negative(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{channel_sumsq values must be finite and >= 0, got -1}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_sumsq>, channel_sumsq = array<f64: 1.0, -1.0>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @sumsq_stats(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{a channel_sumsq observer carries channel_sumsq, not statistics, calibration or channel_absmax}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_sumsq>, channel_absmax = array<f32: 1.0, 1.0>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}
