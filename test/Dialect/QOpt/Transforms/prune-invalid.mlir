// RUN: quant-opt %s --qopt-prune="method=wanda" --split-input-file -verify-diagnostics
// RUN: not quant-opt %s --qopt-prune="sparsity=1.0" 2>&1 | FileCheck %s --check-prefix=SPARSITY
// RUN: not quant-opt %s --qopt-prune="granularity=n_m n=4 m=4" 2>&1 | FileCheck %s --check-prefix=BADNM
// RUN: not quant-opt %s --qopt-prune="granularity=channels scope=global" 2>&1 | FileCheck %s --check-prefix=SCOPE
// RUN: not quant-opt %s --qopt-prune="include=(" 2>&1 | FileCheck %s --check-prefix=REGEX
// SPARSITY: error: qopt-prune: sparsity must be in [0, 1), got 1
// BADNM: error: qopt-prune: an n:m pattern needs 1 <= n < m, got 4:4
// SCOPE: error: qopt-prune: scope=global is for granularity=unstructured, not channels
// REGEX: error: qopt-prune: include regex '(':

func.func @no_stats(%x: tensor<3x6xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<1.0> : tensor<1x6xf32>
  // expected-error @+1 {{qopt-prune: method=wanda needs the input's per-channel sum of squares for layer 'fc' (a channel_sumsq observer with statistics: qopt-insert-observers{kind=channel_sumsq} then qopt-collect-statistics; quant-compile --prune=wanda:S needs --calibration-data DIR)}}
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x6xf32>, tensor<1x6xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

func.func @observer_without_stats(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<channel_sumsq>} : tensor<3x4xf32>
  %w = arith.constant dense<1.0> : tensor<1x4xf32>
  // expected-error @+1 {{qopt-prune: method=wanda needs the input's per-channel sum of squares for layer 'fc2' (}}
  %y = qopt.linear %o, %w {weight_name = "fc2"} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

func.func @not_finite(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %o = qopt.observe %x {id = 7 : i64, kind = #qopt.observer<channel_sumsq>, channel_sumsq = array<f64: 1.0, 1.0, 1.0, 1.0>} : tensor<3x4xf32>
  %w = arith.constant dense<[[1.0, 0x7FC00000, 2.0, 3.0]]> : tensor<1x4xf32>
  // expected-error @+1 {{qopt-prune: the weight of layer 'nan' is not finite}}
  %y = qopt.linear %o, %w {weight_name = "nan"} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
