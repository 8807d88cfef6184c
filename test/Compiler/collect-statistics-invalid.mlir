// RUN: not quant-opt %s --qopt-collect-statistics 2>&1 | FileCheck %s --check-prefix=NODATA
// RUN: not quant-opt %s --qopt-collect-statistics="calibration-data=%t.missing" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not quant-opt %s --qopt-collect-statistics="calibration-data=%S bins=10" 2>&1 | FileCheck %s --check-prefix=BINS
// RUN: not quant-opt %s --qopt-ptq="scheme=w9" 2>&1 | FileCheck %s --check-prefix=SCHEME
// NODATA: error: qopt-collect-statistics: no calibration-data directory given
// MISSING: error: qopt-collect-statistics: cannot read the calibration data directory '{{.*}}.missing'
// BINS: error: qopt-collect-statistics: bins must be >= 128, got 10
// SCHEME: for the --scheme option: Cannot find option named 'w9'!
func.func @main(%x: tensor<2x3xf32> {onnx.name = "x"}) -> (tensor<2x2xf32> {onnx.name = "y"}) {
  %o = qopt.observe %x {id = 0 : i64} : tensor<2x3xf32>
  %w = arith.constant dense<1.0> : tensor<2x3xf32>
  %y = qopt.linear %o, %w : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
