// RUN: quant-opt %s --qopt-gpu-kernel-calls="half-matmuls=true" --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-gpu-kernel-calls --split-input-file | FileCheck %s --check-prefix=OFF

// A float16 matmul with a float16 output: qopt_cuda_matmul_f32's 21
// operands, then the type (0 f16), C float32 (0), accumulate (1) and the
// stream (0 until qopt-gpu-one-stream).
// CHECK-LABEL: func.func private @qopt_cuda_matmul_h16(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @matmul_f16
// CHECK-NOT: linalg.matmul
// CHECK: call @qopt_cuda_matmul_h16(%c1_i64, %c1_i64, %c8_i64, %c16_i64, %c32_i64, %{{.*}}, %c0_i64, %c0_i64, %c32_i64, %c1_i64, %{{.*}}, %c0_i64, %c0_i64, %c16_i64, %c1_i64, %{{.*}}, %c0_i64, %c0_i64, %c16_i64, %c1_i64, %c0_i64, %c0_i64, %c0_i64, %c1_i64, %c0_i64)
// OFF-LABEL: func.func @matmul_f16
// OFF: linalg.matmul
// OFF-NOT: qopt_cuda_matmul_h16
func.func @matmul_f16(%a: memref<8x32xf16>, %b: memref<32x16xf16>, %c: memref<8x16xf16>) {
  linalg.matmul ins(%a, %b : memref<8x32xf16>, memref<32x16xf16>) outs(%c : memref<8x16xf16>)
  return
}

// -----

// A bfloat16 linear layer x·Wᵀ widened to a float32 output: type 1, C
// float32 1; B's K stride 1, its N stride K; B constant.
// CHECK-LABEL: func.func @linear_bf16
// CHECK: call @qopt_cuda_matmul_h16(%c1_i64, %c1_i64, %c4_i64, %c16_i64, %c64_i64, %{{.*}}, %c0_i64, %c0_i64, %c64_i64, %c1_i64, %{{.*}}, %c0_i64, %c0_i64, %c1_i64, %c64_i64, %{{.*}}, %c0_i64, %c0_i64, %c16_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c1_i64, %c0_i64)
// CHECK-NOT: linalg.generic
memref.global "private" constant @w : memref<16x64xbf16> = dense<1.5>
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @linear_bf16(%x: memref<4x64xbf16>, %c: memref<4x16xf32>) {
  %w = memref.get_global @w : memref<16x64xbf16>
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x64xbf16>, memref<16x64xbf16>) outs(%c : memref<4x16xf32>) {
  ^bb0(%a: bf16, %b: bf16, %acc: f32):
    %ea = arith.extf %a : bf16 to f32
    %eb = arith.extf %b : bf16 to f32
    %p = arith.mulf %ea, %eb : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Batched float16 Q·Kᵀ: the batch is the first outer dim.
// CHECK-LABEL: func.func @batched
// CHECK: call @qopt_cuda_matmul_h16(%c3_i64, %c1_i64, %c17_i64, %c24_i64, %c40_i64, %{{.*}}, %c680_i64, %c0_i64, %c40_i64, %c1_i64, %{{.*}}, %c960_i64, %c0_i64, %c24_i64, %c1_i64, %{{.*}}, %c408_i64, %c0_i64, %c24_i64, %c1_i64,
func.func @batched(%a: memref<3x17x40xf16>, %b: memref<3x40x24xf16>, %c: memref<3x17x24xf16>) {
  linalg.batch_matmul ins(%a, %b : memref<3x17x40xf16>, memref<3x40x24xf16>) outs(%c : memref<3x17x24xf16>)
  return
}

// -----

// Not taken: operands of two types, an op between the product and the sum,
// a float16 product into a float64 output.
// CHECK-LABEL: func.func @mixed
// CHECK-NOT: qopt_cuda_matmul_h16
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: linalg.generic
#ma = affine_map<(m, n, k) -> (m, k)>
#mb = affine_map<(m, n, k) -> (k, n)>
#mc = affine_map<(m, n, k) -> (m, n)>
func.func @mixed(%a: memref<8x32xf16>, %b: memref<32x16xbf16>, %c: memref<8x16xf32>,
                 %b16: memref<32x16xf16>, %cb: memref<8x16xf64>) {
  linalg.generic {indexing_maps = [#ma, #mb, #mc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<8x32xf16>, memref<32x16xbf16>) outs(%c : memref<8x16xf32>) {
  ^bb0(%x: f16, %y: bf16, %acc: f32):
    %ex = arith.extf %x : f16 to f32
    %ey = arith.extf %y : bf16 to f32
    %p = arith.mulf %ex, %ey : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#ma, #mb, #mc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b16 : memref<8x32xf16>, memref<32x16xf16>) outs(%c : memref<8x16xf32>) {
  ^bb0(%x: f16, %y: f16, %acc: f32):
    %ex = arith.extf %x : f16 to f32
    %ey = arith.extf %y : f16 to f32
    %p = arith.mulf %ex, %ey : f32
    %e = math.exp %p : f32
    %r = arith.addf %acc, %e : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#ma, #mb, #mc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b16 : memref<8x32xf16>, memref<32x16xf16>) outs(%cb : memref<8x16xf64>) {
  ^bb0(%x: f16, %y: f16, %acc: f64):
    %ex = arith.extf %x : f16 to f64
    %ey = arith.extf %y : f16 to f64
    %p = arith.mulf %ex, %ey : f64
    %r = arith.addf %acc, %p : f64
    linalg.yield %r : f64
  }
  return
}
