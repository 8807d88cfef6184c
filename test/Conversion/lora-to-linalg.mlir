// RUN: quant-opt %s --convert-qopt-to-linalg | FileCheck %s

// Unmerged: t = x · Aᵀ into zeros [.., r], scaled, then base + t · Bᵀ: two
// plain contractions (the runtime's matmul kernel takes both).
// CHECK-LABEL: func.func @lora
// CHECK-SAME: (%[[BASE:.*]]: tensor<?x32xf32>, %[[X:.*]]: tensor<?x16xf32>, %[[A:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<32x8xf32>)
// CHECK: %[[Z:.*]] = linalg.fill {{.*}} -> tensor<?x8xf32>
// CHECK: %[[T:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[A]] : tensor<?x16xf32>, tensor<8x16xf32>) outs(%[[Z]] : tensor<?x8xf32>)
// CHECK: %[[S:.*]] = arith.constant 2.500000e-01 : f32
// CHECK: %[[TS:.*]] = linalg.generic {{.*}} ins(%[[T]] : tensor<?x8xf32>)
// CHECK: arith.mulf %{{.*}}, %[[S]]
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[TS]], %[[B]] : tensor<?x8xf32>, tensor<32x8xf32>) outs(%[[BASE]] : tensor<?x32xf32>)
// CHECK: return %[[Y]]
func.func @lora(%base: tensor<?x32xf32>, %x: tensor<?x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>) -> tensor<?x32xf32> {
  %y = qopt.lora %base, %x, %a, %b scale 0.25 {adapter = "a"} : (tensor<?x32xf32>, tensor<?x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// A switched adapter computes only when its selector holds its index.
// CHECK-LABEL: func.func @switched
// CHECK: %[[SEL:.*]] = tensor.extract %arg4[] : tensor<i64>
// CHECK: %[[IS:.*]] = arith.cmpi eq, %[[SEL]], %c3_i64
// CHECK: %[[R:.*]] = scf.if %[[IS]] -> (tensor<2x32xf32>) {
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: } else {
// CHECK-NEXT: scf.yield %arg0
// CHECK: return %[[R]]
func.func @switched(%base: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>, %s: tensor<i64>) -> tensor<2x32xf32> {
  %y = qopt.lora %base, %x, %a, %b scale 0.25 select %s {adapter = "a", adapter_index = 3} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>, tensor<i64>) -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}

// f16 storage: A and B widened to the layer's f32 (arith.extf) before the
// same two contractions.
// CHECK-LABEL: func.func @f16_storage
// CHECK: %[[WA:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<8x16xf16>) outs(%{{.*}} : tensor<8x16xf32>)
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: linalg.generic {{.*}} ins(%arg1, %[[WA]] : tensor<2x16xf32>, tensor<8x16xf32>)
// CHECK: %[[WB:.*]] = linalg.generic {{.*}} ins(%arg3 : tensor<32x8xf16>) outs(%{{.*}} : tensor<32x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[WB]] : tensor<2x8xf32>, tensor<32x8xf32>) outs(%arg0 : tensor<2x32xf32>)
func.func @f16_storage(%base: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf16>, %b: tensor<32x8xf16>) -> tensor<2x32xf32> {
  %y = qopt.lora %base, %x, %a, %b scale 1.0 {adapter = "a"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf16>, tensor<32x8xf16>) -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}
