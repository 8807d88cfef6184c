// RUN: quant-opt %s --qopt-gpu-kernel-calls --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-gpu-kernel-calls="precision=tf32" --split-input-file | FileCheck %s --check-prefix=TF32
// RUN: quant-opt %s --qopt-gpu-kernel-calls="precision=fma" --split-input-file | FileCheck %s --check-prefix=FMA
// RUN: quant-opt %s --qopt-gpu-kernel-calls="float-matmuls=false" --split-input-file | FileCheck %s --check-prefix=OFF
// RUN: not quant-opt %s --split-input-file --qopt-gpu-kernel-calls="precision=f64" 2>&1 | FileCheck %s --check-prefix=OPTION

// OPTION: for the --precision option: Cannot find option named 'f64'!

// A float32 matmul: qopt_kernel_matmul_f32's 21 operands (batch sizes 1, 1,
// M, N, K; A, B, C with their batch, row and column strides; B constant?)
// plus the precision (0 f32, 1 tf32, 2 fma) and the stream (0 until
// qopt-gpu-one-stream).
// CHECK-LABEL: func.func private @qopt_cuda_matmul_f32(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @matmul
// CHECK-NOT: linalg.matmul
// CHECK: %[[P:c0_i64_[0-9]+]] = arith.constant 0 : i64
// CHECK-NEXT: %[[S:.*]] = arith.constant 0 : i64
// CHECK: call @qopt_cuda_matmul_f32(%c1_i64{{.*}}, %c1_i64{{.*}}, %c8_i64, %c16_i64, %c32_i64, %{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c32_i64{{.*}}, %c1_i64{{.*}}, %{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c16_i64{{.*}}, %c1_i64{{.*}}, %{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c16_i64{{.*}}, %c1_i64{{.*}}, %c0_i64{{.*}}, %[[P]], %[[S]])
// CHECK-NOT: qopt_kernel_matmul
// TF32-LABEL: func.func @matmul
// TF32: %[[P:.*]] = arith.constant 1 : i64
// TF32: call @qopt_cuda_matmul_f32({{.*}}, %[[P]], %{{.*}})
// FMA-LABEL: func.func @matmul
// FMA: %[[P:.*]] = arith.constant 2 : i64
// FMA: call @qopt_cuda_matmul_f32({{.*}}, %[[P]], %{{.*}})
// OFF-LABEL: func.func @matmul
// OFF: linalg.matmul
// OFF-NOT: qopt_cuda_matmul_f32
func.func @matmul(%a: memref<8x32xf32>, %b: memref<32x16xf32>, %c: memref<8x16xf32>) {
  linalg.matmul ins(%a, %b : memref<8x32xf32>, memref<32x16xf32>) outs(%c : memref<8x16xf32>)
  return
}

// -----

// A linear layer x·Wᵀ with a constant weight: B's K stride is 1, its N
// stride K (the "nt" kernels); B constant = 1.
// CHECK-LABEL: func.func @linear
// CHECK: call @qopt_cuda_matmul_f32(%c1_i64{{.*}}, %c1_i64{{.*}}, %c4_i64, %c16_i64, %c64_i64, %{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c64_i64{{.*}}, %c1_i64{{.*}}, %{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c1_i64{{.*}}, %c64_i64{{.*}}, %{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}}, %c16_i64{{.*}}, %c1_i64{{.*}}, %c1_i64{{.*}}, %c0_i64{{.*}}, %c0_i64{{.*}})
memref.global "private" constant @w : memref<16x64xf32> = dense<1.5>
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @linear(%x: memref<4x64xf32>, %c: memref<4x16xf32>) {
  %w = memref.get_global @w : memref<16x64xf32>
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x64xf32>, memref<16x64xf32>) outs(%c : memref<4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Attention's batched Q·Kᵀ over (batch, head): two batch dims, dynamic
// batch; sizes and strides come from the memref's metadata.
// CHECK-LABEL: func.func @attention_scores
// CHECK: %[[D:.*]] = memref.dim %arg0, %c0
// CHECK: %[[B:.*]] = arith.index_cast %[[D]] : index to i64
// CHECK: call @qopt_cuda_matmul_f32(%[[B]], %c4_i64{{.*}}, %c128_i64{{.*}}, %c128_i64{{.*}}, %c16_i64{{.*}},
#q = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#k = affine_map<(b, h, m, n, k) -> (b, h, n, k)>
#s = affine_map<(b, h, m, n, k) -> (b, h, m, n)>
func.func @attention_scores(%q: memref<?x4x128x16xf32>, %k: memref<?x4x128x16xf32>, %s: memref<?x4x128x128xf32>) {
  linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<?x4x128x16xf32>, memref<?x4x128x16xf32>) outs(%s : memref<?x4x128x128xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Not float32 contractions: float16 (the tensor-core lowering's), and a
// contraction with an epilogue fused into its body, stay linalg.
// CHECK-LABEL: func.func @others
// CHECK-NOT: qopt_cuda_matmul_f32
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK-NOT: qopt_cuda_matmul_f32
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @others(%a: memref<8x32xf16>, %b: memref<32x16xf16>, %c: memref<8x16xf32>,
                  %af: memref<8x32xf32>, %bf: memref<32x16xf32>, %cf: memref<8x16xf32>) {
  linalg.matmul ins(%a, %b : memref<8x32xf16>, memref<32x16xf16>) outs(%c : memref<8x16xf32>)
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%af, %bf : memref<8x32xf32>, memref<32x16xf32>) outs(%cf : memref<8x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %e = math.exp %p : f32
    %r = arith.addf %acc, %e : f32
    linalg.yield %r : f32
  }
  return
}
