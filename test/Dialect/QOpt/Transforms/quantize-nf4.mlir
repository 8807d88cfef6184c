// RUN: quant-opt %s --qopt-quantize="scheme=nf4 group-size=4" --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-quantize="scheme=nf4 group-size=4" --split-input-file --convert-qopt-to-linalg | FileCheck %s --check-prefix=LOWER
// RUN: quant-opt %s --qopt-quantize="scheme=nf4 group-size=4 double-quant=true" | FileCheck %s --check-prefix=DQ
// RUN: quant-opt %s --qopt-quantize="scheme=nf4 group-size=4 double-quant=true" --convert-qopt-to-linalg | FileCheck %s --check-prefix=DQLOWER
// RUN: not quant-opt %s --qopt-quantize="scheme=w4 double-quant=true" 2>&1 | FileCheck %s --check-prefix=DQW4

// NF4, blocks of 4 along K, absmax per block. Row 0 (absmax 1): 1 -> level
// 15, -0.5 -> 2 (-0.525), 0.25 -> 10 (0.246), 0 -> 7; row 1 (absmax 0.4):
// 0.5 -> 12, 1 -> 15, -0.25 -> 4, 0.125 -> 9. Two codes a byte, low nibble
// first: 0x2F 0x7A 0xFC 0x94.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<fc.nf4> : tensor<2x2xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<fc.absmax> : tensor<2x1xf32>
// CHECK: qopt.qlinear %arg0, %[[W]] scale %[[S]] {activation = #qopt.activation<none>, group_size = 4 : i64, weight_format = #qopt.weight_format<nf4>, weight_name = "fc"}
// CHECK: fc.nf4: "0x010000002F7AFC94"
// CHECK: fc.absmax: "0x040000000000803FCDCCCC3E"
// The lowering looks the codes up in QLoRA's table of 16 levels and runs as
// loops (no runtime kernel call).
// LOWER: arith.constant dense<[-1.000000e+00, -0.6961928, {{.*}}, 0.722956836, 1.000000e+00]> : tensor<16xf32>
// LOWER: linalg.generic
// LOWER: tensor.extract
// LOWER-NOT: library_call
// Double quantization: the absmax [1, 0.4] minus their mean 0.7 = [0.3,
// -0.3], one block, step 0.3 / 127: codes [127, -127].
// DQ: %[[S:.*]] = arith.constant dense_resource<fc.absmax.int8> : tensor<2x1xi8>
// DQ: %[[SS:.*]] = arith.constant dense_resource<fc.absmax.scale> : tensor<1xf32>
// DQ: qopt.qlinear %arg0, %{{.*}} scale %[[S]] double_quant %[[SS]] {activation = #qopt.activation<none>, group_size = 4 : i64, scale_offset = 0.69999998{{[0-9]*}} : f64, weight_format = #qopt.weight_format<nf4>, weight_name = "fc"}
// DQ: fc.absmax.int8: "0x010000007F81"
// The scales come back as code * step + offset before the contraction.
// DQLOWER: linalg.generic
// DQLOWER: arith.divui %{{.*}}, %c256
// DQLOWER: tensor.extract
// DQLOWER: arith.sitofp
// DQW4: error: qopt-quantize: double-quant is for scheme=nf4 only
func.func @linear(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, -0.5, 0.25, 0.0], [0.2, 0.4, -0.1, 0.05]]> : tensor<2x4xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
