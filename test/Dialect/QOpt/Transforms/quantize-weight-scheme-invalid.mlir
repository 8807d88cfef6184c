// RUN: quant-opt %s --qopt-quantize="scheme=w8 weight-granularity=auto" -verify-diagnostics
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=2 weight-symmetric=auto" -verify-diagnostics
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-granularity=per-tensor" 2>&1 | FileCheck %s --check-prefix=W4
// RUN: not quant-opt %s --qopt-quantize="scheme=nf4 weight-granularity=auto" 2>&1 | FileCheck %s --check-prefix=NF4
// RUN: not quant-opt %s --qopt-quantize="scheme=w8a8 weight-symmetric=auto" 2>&1 | FileCheck %s --check-prefix=INT8
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-symmetric=auto int4-scale=absmax" 2>&1 | FileCheck %s --check-prefix=SCALE
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-symmetric=auto weight-rounding=gptq" 2>&1 | FileCheck %s --check-prefix=GPTQ
// RUN: not quant-opt %s --qopt-quantize="scheme=w8 weight-granularity=rows" 2>&1 | FileCheck %s --check-prefix=VALUE
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 weight-symmetric=maybe" 2>&1 | FileCheck %s --check-prefix=SYMVALUE

// W4: error: qopt-quantize: weight-granularity=per-tensor is for int8 weights (w8a8, w8a8-dynamic, w8); w4 weights have one scale per block of group-size
// NF4: error: qopt-quantize: weight-granularity=auto is for int8 weights (w8a8, w8a8-dynamic, w8); nf4 weights have one scale per block of group-size
// INT8: error: qopt-quantize: weight-symmetric=auto is for w4 (int8 weights are symmetric: the int8 kernels take no weight zero point; nf4 has none), not w8a8
// SCALE: error: qopt-quantize: weight-symmetric=auto compares int4 and uint4 with int4-scale=mse (the rule both take), not int4-scale=absmax
// GPTQ: error: qopt-quantize: weight-symmetric=auto compares round-to-nearest int4 and uint4, not weight-rounding=gptq (GPTQ's 4-bit weights are symmetric: use weight-symmetric=true)
// VALUE: for the --weight-granularity option: Cannot find option named 'rows'!
// SYMVALUE: for the --weight-symmetric option: Cannot find option named 'maybe'!

// auto compares errors on the layer's inputs: without their second moment
// it cannot choose.
func.func @no_moments(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  // expected-error @+1 {{=auto needs the input's second moment for layer 'fc'}}
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
