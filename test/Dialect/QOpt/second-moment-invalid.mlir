// RUN: quant-opt %s --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --split-input-file 2>/dev/null | FileCheck %s

// The attribute round-trips (dense or dense_resource matrix).
// CHECK-LABEL: func.func @ok
// CHECK: qopt.observe %arg0 {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.000000e+00, 0.000000e+00], matrix = dense<{{\[\[}}2.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf64>>} : tensor<3x2xf32>
// CHECK: qopt.observe %arg1 {id = 1 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 1, 1, 1, 1, 1, 1>} : tensor<1x2x3x3xf32>
func.func @ok(%x: tensor<3x2xf32>, %img: tensor<1x2x3x3xf32>) -> (tensor<3x2xf32>, tensor<1x2x3x3xf32>) {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>>} : tensor<3x2xf32>
  %c = qopt.observe %img {id = 1 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 1, 1, 1, 1, 1, 1>} : tensor<1x2x3x3xf32>
  return %o, %c : tensor<3x2xf32>, tensor<1x2x3x3xf32>
}

// -----

func.func @on_minmax(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{second_moment and window are for second_moment observers, this one is minmax}}
  %o = qopt.observe %x {id = 0 : i64, window = array<i64: 1, 1, 1, 1, 1, 1>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @with_statistics(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{a second_moment observer carries second_moment, not statistics, calibration or channel_absmax}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, statistics = #qopt.histogram<count = 1, min = 0.0, max = 1.0, range = 1.0, counts = [1.0, 0.0]>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @bad_window(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  // expected-error @+1 {{window must be [kh, kw, stride h, stride w, dilation h, dilation w], all >= 1}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 1, 1, 0, 1, 1, 1>} : tensor<1x2x3x3xf32>
  return %o : tensor<1x2x3x3xf32>
}

// -----

func.func @window_rank(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{a window needs an NCHW input, got rank 2}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 1, 1, 1, 1, 1, 1>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @rows_mismatch(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  // expected-error @+1 {{second_moment has rows of 2 values, the observed rows have 8}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, window = array<i64: 2, 2, 1, 1, 1, 1>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>>} : tensor<1x2x3x3xf32>
  return %o : tensor<1x2x3x3xf32>
}

// -----

func.func @matrix_shape(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{second_moment matrix must be tensor<2x2xf64> (mean has 2 values), got 'tensor<2x2xf32>'}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @zero_rows(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{second_moment rows must be >= 1, got 0}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 0, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

// The first half's moments (weight-rounding=auto's held-out split).
// CHECK-LABEL: func.func @split_ok
// CHECK: rows = 4, mean = [1.000000e+00, 0.000000e+00], matrix = dense<{{.*}}> : tensor<2x2xf64>, split_rows = 2, split_matrix = dense<{{\[\[}}3.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf64>>
func.func @split_ok(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>, split_rows = 2, split_matrix = dense<[[3.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @split_without_matrix(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{second_moment split_rows and split_matrix go together}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>, split_rows = 2>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @split_rows_range(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{second_moment split_rows must be in [1, rows = 4), got 4}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>, split_rows = 4, split_matrix = dense<[[3.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}

// -----

func.func @split_matrix_type(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{second_moment split_matrix must have the matrix's type 'tensor<2x2xf64>', got 'tensor<3x3xf64>'}}
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 4, mean = [1.0, 0.0], matrix = dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf64>, split_rows = 2, split_matrix = dense<0.0> : tensor<3x3xf64>>} : tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}
