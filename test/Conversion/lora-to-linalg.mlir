// RUN: quant-opt %s --convert-qopt-to-linalg | FileCheck %s

// Unmerged: t = x · Aᵀ into zeros [.., r], then base + scale · (t · Bᵀ).
// CHECK-LABEL: func.func @lora
// CHECK-SAME: (%[[BASE:.*]]: tensor<?x32xf32>, %[[X:.*]]: tensor<?x16xf32>, %[[A:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<32x8xf32>)
// CHECK: %[[Z:.*]] = linalg.fill {{.*}} -> tensor<?x8xf32>
// CHECK: %[[T:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[A]] : tensor<?x16xf32>, tensor<8x16xf32>) outs(%[[Z]] : tensor<?x8xf32>)
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[T]], %[[B]] : tensor<?x8xf32>, tensor<32x8xf32>) outs(%[[BASE]] : tensor<?x32xf32>)
// CHECK: arith.mulf
// CHECK: %[[S:.*]] = arith.constant 2.500000e-01 : f32
// CHECK: arith.mulf %{{.*}}, %[[S]]
// CHECK: return %[[Y]]
func.func @lora(%base: tensor<?x32xf32>, %x: tensor<?x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<?x32xf32> {
  %y = qopt.lora %base, %x, %a, %b scale 0.25 {adapter = "a"} : (tensor<?x32xf32>, tensor<?x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
