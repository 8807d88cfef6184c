// RUN: quant-opt %s --qopt-inline-scalar-resources --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @scalars
// CHECK-DAG: arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK-DAG: arith.constant dense<7> : tensor<1xi32>
// A real weight stays a blob.
// CHECK-DAG: arith.constant dense_resource<w> : tensor<2xf32>
func.func @scalars() -> (tensor<f32>, tensor<1xi32>, tensor<2xf32>) {
  %s = arith.constant dense_resource<s> : tensor<f32>
  %i = arith.constant dense_resource<i> : tensor<1xi32>
  %w = arith.constant dense_resource<w> : tensor<2xf32>
  return %s, %i, %w : tensor<f32>, tensor<1xi32>, tensor<2xf32>
}
{-#
  dialect_resources: { builtin: {
    s: "0x040000000000803F",
    i: "0x0400000007000000",
    w: "0x040000000000803F00000040"
  } }
#-}

// -----

func.func @missing_blob() -> tensor<f32> {
  // expected-error @+1 {{'arith.constant' op resource 'nowhere' has no data of type 'tensor<f32>' to inline}}
  %s = arith.constant dense_resource<nowhere> : tensor<f32>
  return %s : tensor<f32>
}

// -----

func.func @wrong_size() -> tensor<f32> {
  // expected-error @+1 {{'arith.constant' op resource 'short' has no data of type 'tensor<f32>' to inline}}
  %s = arith.constant dense_resource<short> : tensor<f32>
  return %s : tensor<f32>
}
{-#
  dialect_resources: { builtin: { short: "0x040000000000" } }
#-}
