// RUN: quant-opt %s --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s

// A linear layer (weight [N, K], constant): C += A·Bᵀ. Strides come from the
// buffers; B's stride along K is 1 and along N is K; B is flagged constant.
// CHECK: func.func private @qopt_kernel_matmul_f32(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[M:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 16 : i64
// CHECK-DAG: %[[K:.*]] = arith.constant 32 : i64
// CHECK: %[[BASE_W:.*]] = memref.extract_aligned_pointer_as_index %[[W:.*]] :
// CHECK: call @qopt_kernel_matmul_f32(%[[C1]], %[[C1]], %[[M]], %[[N]], %[[K]], %[[A:.*]], %[[C0]], %[[C0]], %{{.*}}, %{{.*}}, %[[B:.*]], %[[C0]], %[[C0]], %{{.*}}, %{{.*}}, %[[C:.*]], %[[C0]], %[[C0]], %{{.*}}, %{{.*}}, %[[C1]])
// CHECK-NOT: linalg.generic
memref.global "private" constant @w : memref<16x32xf32> = dense<1.0>
func.func @linear(%x: memref<8x32xf32>, %y: memref<8x16xf32>) {
  %w = memref.get_global @w : memref<16x32xf32>
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<8x32xf32>, memref<16x32xf32>) outs(%y : memref<8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A batched matmul with dynamic sizes: the batch dim is the kernel's first
// outer loop, sizes come from memref.dim, B is not constant.
// CHECK-LABEL: func.func @batch
// CHECK-DAG: %[[B0:.*]] = memref.dim %arg0, %c0
// CHECK-DAG: %[[B0I:.*]] = arith.index_cast %[[B0]] : index to i64
// CHECK: call @qopt_kernel_matmul_f32(%[[B0I]],
// CHECK-SAME: , %c0_i64) : (i64
func.func @batch(%a: memref<?x?x?xf32>, %b: memref<?x?x?xf32>, %c: memref<?x?x?xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<?x?x?xf32>, memref<?x?x?xf32>) outs(%c : memref<?x?x?xf32>)
  return
}

// -----

// A strided (subview) operand works: its offset (4 elements, 16 bytes) and
// row stride (16) are taken from the layout.
// CHECK-LABEL: func.func @strided
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK: %[[A:.*]] = arith.addi %[[P]], %c16 : index
// CHECK: %[[AI:.*]] = arith.index_cast %[[A]] : index to i64
// CHECK: call @qopt_kernel_matmul_f32({{.*}}, %[[AI]], %c0_i64, %c0_i64, %c16_i64, %c1_i64,
func.func @strided(%a: memref<4x8xf32, strided<[16, 1], offset: 4>>, %b: memref<8x5xf32>, %c: memref<4x5xf32>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32, strided<[16, 1], offset: 4>>, memref<8x5xf32>) outs(%c : memref<4x5xf32>)
  return
}

// -----

// Convolutions go to the conv kernel with their strides and dilations.
// CHECK-LABEL: func.func @conv
// CHECK-DAG: %[[S2:.*]] = arith.constant 2 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32(
// CHECK-SAME: %[[S2]]
// CHECK-NOT: linalg.conv
func.func @conv(%in: memref<1x3x9x9xf32>, %f: memref<4x3x3x3xf32>, %out: memref<1x4x4x4xf32>) {
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%in, %f : memref<1x3x9x9xf32>, memref<4x3x3x3xf32>) outs(%out : memref<1x4x4x4xf32>)
  return
}

// -----

// A 1-D convolution (an audio front end) calls the same kernel with a unit
// H: sizes N, C, 1, W, M, 1, K, 1, OW; strides and dilations (1, s), (1, d);
// each buffer's H stride is its W stride times W.
// CHECK-LABEL: func.func @conv1d
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[S2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[D3:.*]] = arith.constant 3 : i64
// CHECK: call @qopt_kernel_conv2d_nchw_f32(%{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %{{.*}}, %[[ONE]], %{{.*}}, %[[ONE]], %{{.*}}, %[[ONE]], %[[S2]], %[[ONE]], %[[D3]],
// CHECK-NOT: linalg.conv
func.func @conv1d(%in: memref<2x3x20xf32>, %f: memref<4x3x3xf32>, %out: memref<2x4x7xf32>) {
  linalg.conv_1d_ncw_fcw {dilations = dense<3> : tensor<1xi64>, strides = dense<2> : tensor<1xi64>}
      ins(%in, %f : memref<2x3x20xf32>, memref<4x3x3xf32>) outs(%out : memref<2x4x7xf32>)
  return
}

// -----

// Left alone: integer matmuls, a contraction with an element-wise prologue,
// tensors (before bufferization) and more than two outer dims.
// CHECK-LABEL: func.func @unmatched
// CHECK-NOT: call @qopt_kernel
// CHECK: linalg.matmul {{.*}}i32
// CHECK: linalg.generic
// CHECK: linalg.matmul {{.*}}tensor
// CHECK: linalg.generic
func.func @unmatched(%ai: memref<4x4xi32>, %ci: memref<4x4xi32>, %a: memref<4x4xf32>, %c: memref<4x4xf32>,
                     %t: tensor<4x4xf32>, %a4: memref<2x2x2x4x4xf32>, %b4: memref<2x2x2x4x4xf32>, %c4: memref<2x2x2x4x4xf32>) -> tensor<4x4xf32> {
  linalg.matmul ins(%ai, %ai : memref<4x4xi32>, memref<4x4xi32>) outs(%ci : memref<4x4xi32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %a : memref<4x4xf32>, memref<4x4xf32>) outs(%c : memref<4x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %r = arith.maximumf %x, %y : f32
    %p = arith.mulf %r, %y : f32
    %s = arith.addf %z, %p : f32
    linalg.yield %s : f32
  }
  %r = linalg.matmul ins(%t, %t : tensor<4x4xf32>, tensor<4x4xf32>) outs(%t : tensor<4x4xf32>) -> tensor<4x4xf32>
  linalg.generic {indexing_maps = [affine_map<(b0, b1, b2, m, n, k) -> (b0, b1, b2, m, k)>,
                                   affine_map<(b0, b1, b2, m, n, k) -> (b0, b1, b2, k, n)>,
                                   affine_map<(b0, b1, b2, m, n, k) -> (b0, b1, b2, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%a4, %b4 : memref<2x2x2x4x4xf32>, memref<2x2x2x4x4xf32>) outs(%c4 : memref<2x2x2x4x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %z, %p : f32
    linalg.yield %s : f32
  }
  return %r : tensor<4x4xf32>
}

// -----

// isaContractionOpInterface also accepts a unary op between the product and
// the sum, or on an input (element-wise ops fused into the body); the kernel
// computes acc + a·b only, so these stay generated loops.
// CHECK-LABEL: func.func @fused_unary
// CHECK-NOT: call @qopt_kernel
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT: call @qopt_kernel
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @fused_unary(%a: memref<8x32xf32>, %b: memref<32x16xf32>, %c: memref<8x16xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<8x32xf32>, memref<32x16xf32>) outs(%c : memref<8x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %e = math.exp %p : f32
    %r = arith.addf %acc, %e : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#x, #w, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<8x32xf32>, memref<32x16xf32>) outs(%c : memref<8x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %e = math.exp %x : f32
    %p = arith.mulf %e, %y : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}
