// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=8 w4-activations=int8" | FileCheck %s --check-prefix=I8
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=8 weight-symmetric=false int4-scale=minmax w4-activations=int8" | FileCheck %s --check-prefix=U8
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=8 w4-activations=float" | FileCheck %s --check-prefix=FLT
// RUN: quant-opt %s --qopt-quantize="scheme=w4 group-size=8" | FileCheck %s --check-prefix=FLT

// w4-activations=int8 records the 4-bit layers' activation handling as
// the typed `dynamic_block` mode (the lowering then calls the kernel's
// int8-activation form); float (the default) keeps them weight-only.
// I8-LABEL: func.func @layer
// I8: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} {activation = #qopt.activation<dynamic_block>, group_size = 8 : i64, weight_format = #qopt.weight_format<int4>, weight_name = "fc"}
// U8-LABEL: func.func @layer
// U8: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} zero_point %{{.*}} {activation = #qopt.activation<dynamic_block>, group_size = 8 : i64, weight_format = #qopt.weight_format<uint4>, weight_name = "fc"}
// FLT-LABEL: func.func @layer
// FLT: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} {activation = #qopt.activation<none>, group_size = 8 : i64, weight_format = #qopt.weight_format<int4>, weight_name = "fc"}
func.func @layer(%x: tensor<3x16xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.5, -0.25, 0.125, 1.0, -1.0, 0.75, 0.5, -0.5, 0.25, 0.5, -0.125, 0.0, 1.0, 0.5, -0.75, 0.25], [-0.5, 0.25, 0.5, -1.0, 1.0, 0.25, -0.5, 0.5, 0.75, -0.25, 0.125, 0.5, -1.0, 0.25, 0.75, -0.25]]> : tensor<2x16xf32>
  %y = qopt.linear %x, %w {weight_name = "fc"} : (tensor<3x16xf32>, tensor<2x16xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
