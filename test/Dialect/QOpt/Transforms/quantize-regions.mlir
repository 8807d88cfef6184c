// RUN: quant-opt %s --qopt-quantize="scheme=w8" | FileCheck %s --enable-var-scope

// A weight shared by layers in both branches of an scf.if (an ONNX If whose
// branches share a head) is quantized once, after its definition, where
// both branches see it (it used to go before the first user, inside the
// then-region, which the else-region cannot see).
// CHECK-LABEL: func.func @shared_weight_in_branches
// CHECK: %[[W:.*]] = arith.constant dense_resource<head.int8> : tensor<2x4xi8>
// CHECK: %[[S:.*]] = arith.constant dense_resource<head.scale> : tensor<2xf32>
// CHECK: scf.if
// CHECK: qopt.qlinear %{{.*}}, %[[W]] scale %[[S]]
// CHECK: } else {
// CHECK: qopt.qlinear %{{.*}}, %[[W]] scale %[[S]]
func.func @shared_weight_in_branches(%c: i1, %x: tensor<1x4xf32>, %y: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 3.0]]> : tensor<2x4xf32>
  %r = scf.if %c -> (tensor<1x2xf32>) {
    %a = qopt.linear %x, %w {weight_name = "head"} : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<1x2xf32>
    scf.yield %a : tensor<1x2xf32>
  } else {
    %b = qopt.linear %y, %w {weight_name = "head"} : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<1x2xf32>
    scf.yield %b : tensor<1x2xf32>
  }
  return %r : tensor<1x2xf32>
}
