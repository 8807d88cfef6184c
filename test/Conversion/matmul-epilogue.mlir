// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --cse --split-input-file | FileCheck %s

// Linear + bias + GELU (erf form, as torch exports it): one call of
// qopt_kernel_matmul_f32_fused writing %dst: the bias broadcast and the
// GELU loop go. After the 21 matmul arguments: bias (address, stride 1),
// act 7 (GeluErf), alpha, beta, residual (5 zeros), gated 0.
#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#bias = affine_map<(d0, d1, d2) -> (d2)>
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @gelu_erf
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C7:.*]] = arith.constant 7 : i64
// CHECK-NOT: linalg.
// CHECK: call @qopt_kernel_matmul_f32_fused({{.*}}, %[[C1]], %[[C7]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]])
// CHECK-NOT: linalg.
// CHECK: return
func.func @gelu_erf(%x: memref<1x4x8xf32>, %w: memref<16x8xf32>, %bias: memref<16xf32>) -> memref<1x4x16xf32> {
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %sqrt2 = arith.constant 1.41421354 : f32
  %c = memref.alloc() : memref<1x4x16xf32>
  linalg.generic {indexing_maps = [#bias, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%bias : memref<16xf32>) outs(%c : memref<1x4x16xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x4x8xf32>, memref<16x8xf32>) outs(%c : memref<1x4x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  %dst = memref.alloc() : memref<1x4x16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%c : memref<1x4x16xf32>) outs(%dst : memref<1x4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %d = arith.divf %v, %sqrt2 : f32
    %e = math.erf %d : f32
    %e1 = arith.addf %e, %one : f32
    %h = arith.mulf %v, %half : f32
    %y = arith.mulf %h, %e1 : f32
    linalg.yield %y : f32
  }
  memref.dealloc %c : memref<1x4x16xf32>
  return %dst : memref<1x4x16xf32>
}

// -----

// GPT-2's GELU: 0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3))), the cube
// as x * x * x: act 8 (GeluTanh), zeros as the init (no bias).
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @gelu_tanh
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK-NOT: linalg.
// CHECK: call @qopt_kernel_matmul_f32_fused({{.*}}, %[[C0]], %[[C0]], %[[C8]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]])
func.func @gelu_tanh(%x: memref<4x8xf32>, %w: memref<8x16xf32>) -> memref<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %k = arith.constant 0.044715 : f32
  %s2pi = arith.constant 0.797884583 : f32
  %c = memref.alloc() : memref<4x16xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<4x16xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x8xf32>, memref<8x16xf32>) outs(%c : memref<4x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  %dst = memref.alloc() : memref<4x16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<4x16xf32>) outs(%dst : memref<4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %v2 = arith.mulf %v, %v : f32
    %v3 = arith.mulf %v2, %v : f32
    %kv3 = arith.mulf %v3, %k : f32
    %in = arith.addf %v, %kv3 : f32
    %arg = arith.mulf %in, %s2pi : f32
    %t = math.tanh %arg : f32
    %t1 = arith.addf %t, %one : f32
    %h = arith.mulf %v, %half : f32
    %y = arith.mulf %h, %t1 : f32
    linalg.yield %y : f32
  }
  return %dst : memref<4x16xf32>
}

// -----

// SwiGLU: silu(x W_g) * (x W_u), the up projection (reading the same x)
// between the gate matmul and the consumer: the gate's call runs at the
// consumer with act 6 (SiLU), the up projection's output as the gate
// operand (gated 1).
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d1, d2)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @swiglu
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : i64
// CHECK: call @qopt_kernel_matmul_f32_fused({{.*}}, %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]], %[[C0]])
// CHECK: call @qopt_kernel_matmul_f32_fused({{.*}}, %[[C0]], %[[C0]], %[[C6]], %[[C0]], %[[C0]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C1]])
// CHECK-NOT: linalg.
func.func @swiglu(%x: memref<4x8xf32>, %wg: memref<16x8xf32>, %wu: memref<16x8xf32>) -> memref<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %g = memref.alloc() : memref<4x16xf32>
  linalg.fill ins(%zero : f32) outs(%g : memref<4x16xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wg : memref<4x8xf32>, memref<16x8xf32>) outs(%g : memref<4x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  %u = memref.alloc() : memref<4x16xf32>
  linalg.fill ins(%zero : f32) outs(%u : memref<4x16xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wu : memref<4x8xf32>, memref<16x8xf32>) outs(%u : memref<4x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  %dst = memref.alloc() : memref<4x16xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %u : memref<4x16xf32>, memref<4x16xf32>) outs(%dst : memref<4x16xf32>) {
  ^bb0(%v: f32, %w: f32, %o: f32):
    %n = arith.negf %v : f32
    %e = math.exp %n : f32
    %e1 = arith.addf %e, %one : f32
    %sg = arith.divf %one, %e1 : f32
    %silu = arith.mulf %v, %sg : f32
    %y = arith.mulf %silu, %w : f32
    linalg.yield %y : f32
  }
  return %dst : memref<4x16xf32>
}

// -----

// The product read by two consumers: they stay loops; the call still takes
// the zero init over (act 0, no residual).
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @two_readers
// CHECK-NOT: linalg.fill
// CHECK: call @qopt_kernel_matmul_f32_fused
// CHECK: linalg.generic
// CHECK: linalg.generic
func.func @two_readers(%x: memref<4x8xf32>, %w: memref<8x16xf32>) -> (memref<4x16xf32>, memref<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<4x16xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<4x16xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x8xf32>, memref<8x16xf32>) outs(%c : memref<4x16xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  %d1 = memref.alloc() : memref<4x16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<4x16xf32>) outs(%d1 : memref<4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %y = arith.maximumf %v, %zero : f32
    linalg.yield %y : f32
  }
  %d2 = memref.alloc() : memref<4x16xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<4x16xf32>) outs(%d2 : memref<4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %y = arith.negf %v : f32
    linalg.yield %y : f32
  }
  return %d1, %d2 : memref<4x16xf32>, memref<4x16xf32>
}
