// RUN: quant-opt %s --qopt-fold-lora --split-input-file | FileCheck %s

// W' = W + 2 · B · A with W = [[1, 0], [0, 1]], A = [[1, 2]] (r = 1),
// B = [[0.5], [-1]]: B·A = [[0.5, 1], [-1, -2]], W' = [[2, 2], [-2, -3]].
// CHECK-LABEL: func.func @one_adapter
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 2.000000e+00], [-2.000000e+00, -3.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[Y:.*]] = qopt.linear %arg0, %[[W]] {weight_name = "fc.weight"}
// CHECK-NOT: qopt.lora
// CHECK: return %[[Y]]
func.func @one_adapter(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %a = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[0.5], [-1.0]]> : tensor<2x1xf32>
  %y = qopt.linear %x, %w {weight_name = "fc.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "a"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

// -----

// Two stacked adapters sum in f64 before one rounding: each adds 0.6 ulp of
// 1.0 (ulp = 2^-23); once, 1 + 1.2 ulp rounds to 1 + 1 ulp; rounding after
// each adapter would give 1 + 2 ulp.
// CHECK-LABEL: func.func @rounded_once
// CHECK: arith.constant dense<{{\[\[}}1.00000012, 0.000000e+00]]> : tensor<1x2xf32>
// CHECK: qopt.linear
// CHECK-NOT: qopt.lora
func.func @rounded_once(%x: tensor<1x2xf32>) -> tensor<1x1xf32> {
  %w = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %a = arith.constant dense<[[1.0, 0.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[1.0]]> : tensor<1x1xf32>
  %y = qopt.linear %x, %w : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x1xf32>
  %z = qopt.lora %y, %x, %a, %b scale 7.152557373046875e-08 {adapter = "a"} : (tensor<1x1xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x1xf32>) -> tensor<1x1xf32>
  %u = qopt.lora %z, %x, %a, %b scale 7.152557373046875e-08 {adapter = "b"} : (tensor<1x1xf32>, tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x1xf32>) -> tensor<1x1xf32>
  return %u : tensor<1x1xf32>
}

// -----

// A blob weight gives a blob named after the layer and its adapters, holding
// [[2, 2], [-2, -3]].
// CHECK-LABEL: func.func @blob
// CHECK: arith.constant dense_resource<"fc.weight+sql"> : tensor<2x2xf32>
// CHECK-NOT: qopt.lora
// CHECK: "fc.weight+sql": "0x0400000000000040000000400000{{00C0000040C0}}"
func.func @blob(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense_resource<w> : tensor<2x2xf32>
  %a = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<[[0.5], [-1.0]]> : tensor<2x1xf32>
  %y = qopt.linear %x, %w {weight_name = "fc.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "sql"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>) -> tensor<3x2xf32>
  return %z : tensor<3x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F00000000000000000000803F"
    }
  }
#-}
