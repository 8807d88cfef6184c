// RUN: quant-opt %s --qopt-insert-observers | FileCheck %s

// A module fresh from an importer, holding no qopt op yet: the pass loads
// the dialect it creates ops of (it used to crash making the first
// observer's attribute).
// CHECK-LABEL: func.func @attention_scores
// CHECK-DAG: %[[A:.*]] = qopt.observe %arg0 {id = 0 : i64, kind = #qopt.observer<histogram>}
// CHECK-DAG: %[[B:.*]] = qopt.observe %arg1 {id = 1 : i64, kind = #qopt.observer<histogram>}
// CHECK: linalg.batch_matmul ins(%[[A]], %[[B]]
func.func @attention_scores(%q: tensor<2x4x8xf32>, %k: tensor<2x8x4xf32>) -> tensor<2x4x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4x4xf32>
  %init = linalg.fill ins(%z : f32) outs(%e : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = linalg.batch_matmul ins(%q, %k : tensor<2x4x8xf32>, tensor<2x8x4xf32>) outs(%init : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  return %s : tensor<2x4x4xf32>
}
