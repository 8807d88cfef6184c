// RUN: quant-opt %s --qopt-fuse-elementwise | FileCheck %s

// A lookup in a small constant table (qopt-fold-qdq's tables) stays its own
// loop: its producer is not fused in (LLVM vectorizes the short lookup loop's
// gather, not a fused chain's). A consumer of the lookup still fuses.

#id = affine_map<(d0) -> (d0)>

// CHECK-LABEL: func.func @lookup_apart
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<1024xf32>)
// CHECK: arith.mulf
// CHECK: %[[L:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<1024xf32>)
// CHECK: tensor.extract
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @lookup_apart(%x: tensor<1024xf32>) -> tensor<1024xf32> {
  %t = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %e0 = tensor.empty() : tensor<1024xf32>
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<1024xf32>) outs(%e0 : tensor<1024xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.constant 2.0 : f32
    %r = arith.mulf %in, %c : f32
    linalg.yield %r : f32
  } -> tensor<1024xf32>
  %e1 = tensor.empty() : tensor<1024xf32>
  %l = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%p : tensor<1024xf32>) outs(%e1 : tensor<1024xf32>) {
  ^bb0(%in: f32, %out: f32):
    %i = arith.fptosi %in : f32 to i32
    %ix = arith.index_cast %i : i32 to index
    %v = tensor.extract %t[%ix] : tensor<4xf32>
    linalg.yield %v : f32
  } -> tensor<1024xf32>
  %e2 = tensor.empty() : tensor<1024xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%l : tensor<1024xf32>) outs(%e2 : tensor<1024xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.constant 1.0 : f32
    %r = arith.addf %in, %c : f32
    linalg.yield %r : f32
  } -> tensor<1024xf32>
  return %a : tensor<1024xf32>
}
