// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-granularity=auto include=outlier|grid|equal" | FileCheck %s
// RUN: quant-opt %s --qopt-quantize="scheme=w8a8-dynamic weight-granularity=per-tensor include=outlier|grid|equal" | FileCheck %s --check-prefix=TENSOR
// RUN: quant-opt %s --qopt-quantize="scheme=w8 include=outlier|grid|equal" | FileCheck %s --check-prefix=CHANNEL
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=8 weight-symmetric=auto include=skewed|centred" | FileCheck %s --check-prefix=W4
// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-granularity=auto weight-rounding=gptq include=grid" | FileCheck %s --check-prefix=GPTQ
// RUN: not quant-opt %s --qopt-ptq="scheme=w8 weight-granularity=auto calibration-data=%t" --dump-pass-pipeline 2>&1 | FileCheck %s --check-prefix=PIPE
// RUN: not quant-opt %s --qopt-ptq="scheme=w4 weight-symmetric=auto calibration-data=%t" --dump-pass-pipeline 2>&1 | FileCheck %s --check-prefix=PIPE4
// RUN: quant-opt %s --qopt-ptq="scheme=w4 calibration-data=%t" --dump-pass-pipeline 2>&1 | FileCheck %s --check-prefix=PIPE-FIXED

// The choices need each layer's input moments: qopt-ptq observes them.
// PIPE: qopt-insert-observers{kind=second_moment
// PIPE: qopt-quantize{{.*}} weight-granularity=auto
// PIPE4: qopt-insert-observers{kind=second_moment
// PIPE4: qopt-quantize{{.*}} weight-symmetric=auto
// PIPE-FIXED-NOT: qopt-insert-observers
// PIPE-FIXED: qopt-quantize{{.*}} weight-granularity=per-channel{{.*}} weight-symmetric=true

// weight-granularity=auto keeps, per layer, int8 per channel (the default)
// or per tensor, whichever weight has the higher output SQNR
// 10 log10(tr(W H Wᵀ) / tr((W - Wq) H (W - Wq)ᵀ)) with H = E[x xᵀ] of the
// layer's second_moment observer; per tensor only when more than 1 dB
// better. The SQNRs and codes below are numpy's (round half to even,
// scale 2·max|w| / 254).

// outlier: row 0 is 100x row 1; per tensor rounds row 1 to [2, -1, 1]
// (40.82 dB) against per channel's [127, -85, 55] (44.70 dB): per channel.
// (The second_moment observer is used up.)
// CHECK-LABEL: func.func @outlier
// CHECK-NOT: qopt.observe
// CHECK: qopt.weight_scheme = #qopt.weight_scheme<granularity = per_channel, symmetry = symmetric, sqnr_db = 44.7035{{[0-9]*}}, alternative_sqnr_db = 40.8243{{[0-9]*}}>, {{.*}}weight_name = "outlier"
// grid: weights on the per-tensor grid 0.01 (max 1.27): per tensor stores
// them exactly (150.27 dB: float rounding only) where per channel
// re-scales row 1 (63.45 dB): per tensor.
// CHECK: qopt.weight_scheme = #qopt.weight_scheme<granularity = per_tensor, symmetry = symmetric, sqnr_db = 150.266{{[0-9]*}}, alternative_sqnr_db = 63.4455{{[0-9]*}}>, {{.*}}weight_name = "grid"
// equal: both rows have max |w| = 1: the same codes, a tie: per channel.
// CHECK: qopt.weight_scheme = #qopt.weight_scheme<granularity = per_channel, symmetry = symmetric, sqnr_db = 50.9858{{[0-9]*}}, alternative_sqnr_db = 50.9858{{[0-9]*}}>, {{.*}}weight_name = "equal"
// CHECK-DAG: outlier.int8: "0x010000007FC0217FAB37"
// CHECK-DAG: grid.int8: "0x010000007FCE1921F90B"
// With GPTQ the chosen per-tensor scale is GPTQ's static scale: both rows
// keep 0.01 (0x3C23D70A) and, on the grid, the exact codes.
// GPTQ: qopt.rounding_error = #qopt.rounding_error<method = gptq, {{.*}}qopt.weight_scheme = #qopt.weight_scheme<granularity = per_tensor
// GPTQ-DAG: grid.int8: "0x010000007FCE1921F90B"
// GPTQ-DAG: grid.scale: "0x040000000AD7233C0AD7233C"
// The fixed options record no choice.
// TENSOR-NOT: qopt.weight_scheme
// TENSOR-DAG: outlier.int8: "0x010000007FC02102FF01"
// TENSOR-DAG: grid.int8: "0x010000007FCE1921F90B"
// CHANNEL-NOT: qopt.weight_scheme
// CHANNEL-DAG: outlier.int8: "0x010000007FC0217FAB37"
// CHANNEL-DAG: grid.int8: "0x010000007FCE197FE52A"
func.func @outlier(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 16, mean = [0.5, 0.4, -0.2], matrix = dense<[[1.0, 0.9, 0.2], [0.9, 1.0, 0.1], [0.2, 0.1, 0.5]]> : tensor<3x3xf64>>} : tensor<4x3xf32>
  %w = arith.constant dense<[[25.0, -12.5, 6.5], [0.3, -0.2, 0.13]]> : tensor<2x3xf32>
  %y = qopt.linear %o, %w {weight_name = "outlier"} : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
func.func @grid(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 1 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 16, mean = [0.5, 0.4, -0.2], matrix = dense<[[1.0, 0.9, 0.2], [0.9, 1.0, 0.1], [0.2, 0.1, 0.5]]> : tensor<3x3xf64>>} : tensor<4x3xf32>
  %w = arith.constant dense<[[1.27, -0.5, 0.25], [0.33, -0.07, 0.11]]> : tensor<2x3xf32>
  %y = qopt.linear %o, %w {weight_name = "grid"} : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
func.func @equal(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 2 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 16, mean = [0.5, 0.4, -0.2], matrix = dense<[[1.0, 0.9, 0.2], [0.9, 1.0, 0.1], [0.2, 0.1, 0.5]]> : tensor<3x3xf64>>} : tensor<4x3xf32>
  %w = arith.constant dense<[[1.0, -0.517, 0.2593], [-0.3311, 0.0777, -1.0]]> : tensor<2x3xf32>
  %y = qopt.linear %o, %w {weight_name = "equal"} : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// weight-symmetric=auto (w4, one block of 8 per row, H = I): skewed rows
// (all positive) take uint4 over [0, max] (33.40 dB against int4's
// 28.87 dB); centred rows on int4's grid stay int4 (exact, 999 = the cap,
// against uint4's 23.52 dB). (int4-scale=mse blocks, Int4Blocks.h;
// test_ptq_weight_scheme.py checks the choice against numpy end to end.)
// W4: qopt.qlinear %arg0, %{{.*}} zero_point %{{.*}}qopt.weight_scheme = #qopt.weight_scheme<granularity = block, symmetry = asymmetric, sqnr_db = 33.401{{[0-9]*}}, alternative_sqnr_db = 28.870{{[0-9]*}}>, weight_format = #qopt.weight_format<uint4>, weight_name = "skewed"
// W4: qopt.weight_scheme = #qopt.weight_scheme<granularity = block, symmetry = symmetric, sqnr_db = 9.990000e+02, alternative_sqnr_db = 23.521{{[0-9]*}}>, weight_format = #qopt.weight_format<int4>, weight_name = "centred"
func.func @skewed(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 3 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 32, mean = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], matrix = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf64>>} : tensor<4x8xf32>
  %w = arith.constant dense<[[2.04, 2.56, 2.42, 2.57, 3.45, 2.22, 2.02, 2.23], [0.87, 1.32, 1.23, 1.35, 1.28, 1.67, 1.06, 1.39]]> : tensor<2x8xf32>
  %y = qopt.linear %o, %w {weight_name = "skewed"} : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
func.func @centred(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
  %o = qopt.observe %x {id = 4 : i64, kind = #qopt.observer<second_moment>, second_moment = #qopt.second_moment<rows = 32, mean = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], matrix = dense<[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]> : tensor<8x8xf64>>} : tensor<4x8xf32>
  %w = arith.constant dense<[[-0.7, -0.5, -0.3, -0.1, 0.1, 0.3, 0.5, 0.7], [-1.4, -1.0, -0.6, -0.2, 0.2, 0.6, 1.0, 1.4]]> : tensor<2x8xf32>
  %y = qopt.linear %o, %w {weight_name = "centred"} : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
