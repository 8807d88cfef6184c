// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qopt-fuse-attention),canonicalize)' | FileCheck %s

#q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#kt = affine_map<(b, h, i, j, d) -> (b, h, d, j)>
#s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>
#sc = affine_map<(b, h, i, j) -> ()>
#pad = affine_map<(b, h, i, j) -> (b, 0, 0, j)>
#row = affine_map<(b, h, i, j) -> (b, h, i)>
#pv_p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#pv_v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#pv_o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>

// torch's BERT self-attention: heads split by transposes, QK^T / 8, plus a
// [b, 1, 1, n] padding mask, softmax, ·V, heads merged by a transpose. One
// kernel call reads Q, K, V through the head transposes (K's two composed:
// strides permuted (0, 2, 1, 3)), the mask with zero strides on its unit
// dims, and writes O in the merged [b, s, h, e] layout; the chain, the
// transposes and the merge are gone. Scale 8.0 (0x41000000 = 1090519040),
// flags 1 (divide).
// CHECK-LABEL: func.func @bert_attention
// CHECK-NOT: linalg.transpose
// CHECK: %[[QB:.*]] = bufferization.to_buffer %arg0 read_only
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}:4, %[[QS:.*]]:4 = memref.extract_strided_metadata %[[QB]]
// CHECK: memref.reinterpret_cast %[[QB]] to offset: [%{{.*}}], sizes: [1, 2, 8, 16], strides: [%[[QS]]#0, %[[QS]]#2, %[[QS]]#1, %[[QS]]#3]
// CHECK: %[[QV:.*]] = memref.cast
// CHECK: %[[KB:.*]] = bufferization.to_buffer %arg1 read_only
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}:4, %[[KS:.*]]:4 = memref.extract_strided_metadata %[[KB]]
// CHECK: memref.reinterpret_cast %[[KB]] to offset: [%{{.*}}], sizes: [1, 2, 8, 16], strides: [%[[KS]]#0, %[[KS]]#2, %[[KS]]#1, %[[KS]]#3]
// CHECK: %[[KV:.*]] = memref.cast
// CHECK: %[[VB:.*]] = bufferization.to_buffer %arg2 read_only
// CHECK: %[[VV:.*]] = memref.cast
// CHECK: %[[MB:.*]] = bufferization.to_buffer %arg3 read_only
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}:4, %[[MS:.*]]:4 = memref.extract_strided_metadata %[[MB]]
// CHECK: memref.reinterpret_cast %[[MB]] to offset: [%{{.*}}], sizes: [1, 2, 8, 8], strides: [0, 0, 0, %[[MS]]#3]
// CHECK: %[[MV:.*]] = memref.cast
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x8x2x16xf32>
// CHECK: memref.reinterpret_cast %[[OUT]] to offset: [0], sizes: [1, 2, 8, 16], strides: [256, 16, 32, 1]
// CHECK: %[[OV:.*]] = memref.cast
// CHECK: call @qopt_views.qopt_kernel_attention_f32.0(%c1_i64, %c2_i64, %c8_i64, %c8_i64, %c16_i64, %c16_i64, %c1_i64, %[[QV]], %[[KV]], %[[VV]], %[[MV]], %[[OV]], %c1090519040_i64, %c1_i64)
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: linalg.generic
// CHECK: return %[[T]]
func.func @bert_attention(%q0: tensor<1x8x2x16xf32>, %k0: tensor<1x8x2x16xf32>,
                          %v0: tensor<1x8x2x16xf32>, %mask: tensor<1x1x1x8xf32>)
    -> tensor<1x8x2x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %eight = arith.constant dense<8.0> : tensor<f32>
  %eq = tensor.empty() : tensor<1x2x8x16xf32>
  %q = linalg.transpose ins(%q0 : tensor<1x8x2x16xf32>) outs(%eq : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %ek = tensor.empty() : tensor<1x2x8x16xf32>
  %k = linalg.transpose ins(%k0 : tensor<1x8x2x16xf32>) outs(%ek : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %ekt = tensor.empty() : tensor<1x2x16x8xf32>
  %kt = linalg.transpose ins(%k : tensor<1x2x8x16xf32>) outs(%ekt : tensor<1x2x16x8xf32>) permutation = [0, 1, 3, 2]
  %ev = tensor.empty() : tensor<1x2x8x16xf32>
  %v = linalg.transpose ins(%v0 : tensor<1x8x2x16xf32>) outs(%ev : tensor<1x2x8x16xf32>) permutation = [0, 2, 1, 3]
  %es = tensor.empty() : tensor<1x2x8x8xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %qk = linalg.generic {indexing_maps = [#q, #kt, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kt : tensor<1x2x8x16xf32>, tensor<1x2x16x8xf32>) outs(%zs : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #sc, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%qk, %eight : tensor<1x2x8x8xf32>, tensor<f32>) outs(%es : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.divf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %masked = linalg.generic {indexing_maps = [#id, #pad, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%scaled, %mask : tensor<1x2x8x8xf32>, tensor<1x1x1x8xf32>) outs(%es : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %r = arith.addf %a, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %er = tensor.empty() : tensor<1x2x8xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%er : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %max = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%masked : tensor<1x2x8x8xf32>) outs(%fm : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%er : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%masked, %max : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>) outs(%fs : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %m: f32, %acc: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    %r = arith.addf %acc, %e : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  %p = linalg.generic {indexing_maps = [#id, #row, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%masked, %max, %sum : tensor<1x2x8x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) outs(%es : tensor<1x2x8x8xf32>) {
  ^bb0(%a: f32, %m: f32, %s: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    %r = arith.divf %e, %s : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x8xf32>
  %eo = tensor.empty() : tensor<1x2x8x16xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#pv_p, #pv_v, #pv_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) outs(%zo : tensor<1x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8x16xf32>
  %em = tensor.empty() : tensor<1x8x2x16xf32>
  %merged = linalg.transpose ins(%o : tensor<1x2x8x16xf32>) outs(%em : tensor<1x8x2x16xf32>) permutation = [0, 2, 1, 3]
  return %merged : tensor<1x8x2x16xf32>
}

// -----

#q3 = affine_map<(h, i, j, d) -> (h, i, d)>
#k3 = affine_map<(h, i, j, d) -> (h, j, d)>
#s3 = affine_map<(h, i, j, d) -> (h, i, j)>
#id3 = affine_map<(h, i, j) -> (h, i, j)>
#row3 = affine_map<(h, i, j) -> (h, i)>
#pv_p3 = affine_map<(h, i, e, j) -> (h, i, j)>
#pv_v3 = affine_map<(h, i, e, j) -> (h, j, e)>
#pv_o3 = affine_map<(h, i, e, j) -> (h, i, e)>

// Heads folded into one batch dim [b*h, s, d], K read as [b*h, n, d] (no
// transpose), no scale, no mask: batch size 1 with stride 0, scale 1.0
// (0x3F800000 = 1065353216), no mask (address and strides 0), O as is.
// CHECK-LABEL: func.func @batched_heads
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x5x8xf32>
// CHECK: memref.reinterpret_cast %[[OUT]] to offset: [0], sizes: [1, 4, 5, 8], strides: [0, 40, 8, 1]
// CHECK: call @qopt_views.qopt_kernel_attention_f32.0(%c1_i64, %c4_i64, %c5_i64, %c6_i64, %c8_i64, %c8_i64, %c1_i64, %{{.*}}, %{{.*}}, %{{.*}}, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %c0_i64, %{{.*}}, %c1065353216_i64, %c0_i64)
// CHECK-NOT: linalg.generic
func.func @batched_heads(%q: tensor<4x5x8xf32>, %k: tensor<4x6x8xf32>,
                         %v: tensor<4x6x8xf32>) -> tensor<4x5x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %es = tensor.empty() : tensor<4x5x6xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<4x5x6xf32>) -> tensor<4x5x6xf32>
  %qk = linalg.generic {indexing_maps = [#q3, #k3, #s3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<4x5x8xf32>, tensor<4x6x8xf32>) outs(%zs : tensor<4x5x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x5x6xf32>
  %er = tensor.empty() : tensor<4x5xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%er : tensor<4x5xf32>) -> tensor<4x5xf32>
  %max = linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%qk : tensor<4x5x6xf32>) outs(%fm : tensor<4x5xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x5xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%er : tensor<4x5xf32>) -> tensor<4x5xf32>
  %sum = linalg.generic {indexing_maps = [#id3, #row3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%qk, %max : tensor<4x5x6xf32>, tensor<4x5xf32>) outs(%fs : tensor<4x5xf32>) {
  ^bb0(%a: f32, %m: f32, %acc: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    %r = arith.addf %e, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x5xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%qk, %max, %sum : tensor<4x5x6xf32>, tensor<4x5xf32>, tensor<4x5xf32>) outs(%es : tensor<4x5x6xf32>) {
  ^bb0(%a: f32, %m: f32, %s: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    %r = arith.divf %e, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x5x6xf32>
  %eo = tensor.empty() : tensor<4x5x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x5x8xf32>) -> tensor<4x5x8xf32>
  %o = linalg.generic {indexing_maps = [#pv_p3, #pv_v3, #pv_o3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<4x5x6xf32>, tensor<4x6x8xf32>) outs(%zo : tensor<4x5x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x5x8xf32>
  return %o : tensor<4x5x8xf32>
}

// -----

#q3 = affine_map<(h, i, j, d) -> (h, i, d)>
#k3 = affine_map<(h, i, j, d) -> (h, j, d)>
#s3 = affine_map<(h, i, j, d) -> (h, i, j)>
#id3 = affine_map<(h, i, j) -> (h, i, j)>
#row3 = affine_map<(h, i, j) -> (h, i)>
#pv_p3 = affine_map<(h, i, e, j) -> (h, i, j)>
#pv_v3 = affine_map<(h, i, e, j) -> (h, j, e)>
#pv_o3 = affine_map<(h, i, e, j) -> (h, i, e)>

// The scores are also a function result (an attention-weights output):
// the chain stays unfused.
// CHECK-LABEL: func.func @scores_escape
// CHECK-NOT: qopt_views
// CHECK: math.exp
func.func @scores_escape(%q: tensor<4x5x8xf32>, %k: tensor<4x6x8xf32>,
                         %v: tensor<4x6x8xf32>) -> (tensor<4x5x8xf32>, tensor<4x5x6xf32>) {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %es = tensor.empty() : tensor<4x5x6xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<4x5x6xf32>) -> tensor<4x5x6xf32>
  %qk = linalg.generic {indexing_maps = [#q3, #k3, #s3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<4x5x8xf32>, tensor<4x6x8xf32>) outs(%zs : tensor<4x5x6xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x5x6xf32>
  %er = tensor.empty() : tensor<4x5xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%er : tensor<4x5xf32>) -> tensor<4x5xf32>
  %max = linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%qk : tensor<4x5x6xf32>) outs(%fm : tensor<4x5xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x5xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%er : tensor<4x5xf32>) -> tensor<4x5xf32>
  %sum = linalg.generic {indexing_maps = [#id3, #row3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%qk, %max : tensor<4x5x6xf32>, tensor<4x5xf32>) outs(%fs : tensor<4x5xf32>) {
  ^bb0(%a: f32, %m: f32, %acc: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    %r = arith.addf %e, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x5xf32>
  %p = linalg.generic {indexing_maps = [#id3, #row3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%qk, %max, %sum : tensor<4x5x6xf32>, tensor<4x5xf32>, tensor<4x5xf32>) outs(%es : tensor<4x5x6xf32>) {
  ^bb0(%a: f32, %m: f32, %s: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    %r = arith.divf %e, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x5x6xf32>
  %eo = tensor.empty() : tensor<4x5x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x5x8xf32>) -> tensor<4x5x8xf32>
  %o = linalg.generic {indexing_maps = [#pv_p3, #pv_v3, #pv_o3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<4x5x6xf32>, tensor<4x6x8xf32>) outs(%zo : tensor<4x5x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x5x8xf32>
  return %o, %qk : tensor<4x5x8xf32>, tensor<4x5x6xf32>
}

// -----

// The ONNX Attention operator (opset 23) as the importer lowers it, causal,
// float mask [1, 1, 8, 8], GQA (4 query heads over 2 K/V heads: maps with
// `d1 floordiv 2`): group 2, flags 6 (causal, and a row whose keys are all
// masked is 0 as the operator's masked softmax has it), scale 1 (Q and K
// stay pre-scaled by their element-wise ops).
// CHECK-LABEL: func.func @main
// CHECK: call @qopt_views.qopt_kernel_attention_f32.0(%c1_i64, %c4_i64, %c8_i64, %c8_i64, %c16_i64, %c16_i64, %c2_i64, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c1065353216_i64, %c6_i64)
// CHECK-NOT: math.exp
// CHECK-NOT: arith.ori
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map6 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d4, d3)>
module {
  func.func @main(%arg0: tensor<1x4x8x16xf32> {onnx.dtype = "float", onnx.name = "q"}, %arg1: tensor<1x2x8x16xf32> {onnx.dtype = "float", onnx.name = "k"}, %arg2: tensor<1x2x8x16xf32> {onnx.dtype = "float", onnx.name = "v"}, %arg3: tensor<1x1x8x8xf32> {onnx.dtype = "float", onnx.name = "m"}) -> (tensor<1x4x8x16xf32> {onnx.dtype = "float", onnx.name = "y"}) {
    %cst = arith.constant 1.000000e+00 : f32
    %false = arith.constant false
    %cst_0 = arith.constant 0xFF800000 : f32
    %c0_i64 = arith.constant 0 : i64
    %cst_1 = arith.constant 0.000000e+00 : f32
    %cst_2 = arith.constant 5.000000e-01 : f32
    %0 = tensor.empty() : tensor<1x4x8x16xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : tensor<1x4x8x16xf32>) outs(%0 : tensor<1x4x8x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.mulf %in, %cst_2 : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8x16xf32>
    %2 = tensor.empty() : tensor<1x2x8x16xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%arg1 : tensor<1x2x8x16xf32>) outs(%2 : tensor<1x2x8x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.mulf %in, %cst_2 : f32
      linalg.yield %24 : f32
    } -> tensor<1x2x8x16xf32>
    %4 = tensor.empty() : tensor<1x4x8x8xf32>
    %5 = linalg.fill ins(%cst_1 : f32) outs(%4 : tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
    %6 = linalg.generic {indexing_maps = [#map1, #map2, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%1, %3 : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>) outs(%5 : tensor<1x4x8x8xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %24 = arith.mulf %in, %in_3 : f32
      %25 = arith.addf %out, %24 : f32
      linalg.yield %25 : f32
    } -> tensor<1x4x8x8xf32>
    %7 = tensor.empty() : tensor<1x4x8x8xf32>
    %8 = tensor.empty() : tensor<1x4x8x8xi1>
    %9:2 = linalg.generic {indexing_maps = [#map, #map4, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%6, %arg3 : tensor<1x4x8x8xf32>, tensor<1x1x8x8xf32>) outs(%7, %8 : tensor<1x4x8x8xf32>, tensor<1x4x8x8xi1>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32, %out_4: i1):
      %24 = linalg.index 2 : index
      %25 = arith.index_cast %24 : index to i64
      %26 = linalg.index 3 : index
      %27 = arith.index_cast %26 : index to i64
      %28 = arith.subi %25, %27 : i64
      %29 = arith.cmpi sge, %28, %c0_i64 : i64
      %30 = arith.select %29, %in_3, %cst_0 : f32
      %31 = arith.cmpf une, %30, %cst_0 : f32
      %32 = arith.addf %in, %30 : f32
      linalg.yield %32, %31 : f32, i1
    } -> (tensor<1x4x8x8xf32>, tensor<1x4x8x8xi1>)
    %10 = tensor.empty() : tensor<1x4x8xf32>
    %11 = linalg.fill ins(%cst_0 : f32) outs(%10 : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
    %12 = linalg.generic {indexing_maps = [#map, #map5], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%9#0 : tensor<1x4x8x8xf32>) outs(%11 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.maximumf %in, %out : f32
      linalg.yield %24 : f32
    } -> tensor<1x4x8xf32>
    %13 = tensor.empty() : tensor<1x4x8xi1>
    %14 = linalg.fill ins(%false : i1) outs(%13 : tensor<1x4x8xi1>) -> tensor<1x4x8xi1>
    %15 = linalg.generic {indexing_maps = [#map, #map5], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%9#1 : tensor<1x4x8x8xi1>) outs(%14 : tensor<1x4x8xi1>) {
    ^bb0(%in: i1, %out: i1):
      %24 = arith.ori %in, %out : i1
      linalg.yield %24 : i1
    } -> tensor<1x4x8xi1>
    %16 = tensor.empty() : tensor<1x4x8xf32>
    %17 = linalg.fill ins(%cst_1 : f32) outs(%16 : tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
    %18 = linalg.generic {indexing_maps = [#map, #map5, #map5], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%9#0, %12 : tensor<1x4x8x8xf32>, tensor<1x4x8xf32>) outs(%17 : tensor<1x4x8xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %24 = arith.cmpf oeq, %in_3, %cst_0 : f32
      %25 = arith.select %24, %cst_1, %in_3 : f32
      %26 = arith.subf %in, %25 : f32
      %27 = math.exp %26 : f32
      %28 = arith.addf %out, %27 : f32
      linalg.yield %28 : f32
    } -> tensor<1x4x8xf32>
    %19 = tensor.empty() : tensor<1x4x8x8xf32>
    %20 = linalg.generic {indexing_maps = [#map, #map5, #map5, #map5, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%9#0, %12, %18, %15 : tensor<1x4x8x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xi1>) outs(%19 : tensor<1x4x8x8xf32>) {
    ^bb0(%in: f32, %in_3: f32, %in_4: f32, %in_5: i1, %out: f32):
      %24 = arith.cmpf oeq, %in_4, %cst_1 : f32
      %25 = arith.select %24, %cst, %in_4 : f32
      %26 = arith.cmpf oeq, %in_3, %cst_0 : f32
      %27 = arith.select %26, %cst_1, %in_3 : f32
      %28 = arith.subf %in, %27 : f32
      %29 = math.exp %28 : f32
      %30 = arith.divf %29, %25 : f32
      %31 = arith.select %in_5, %30, %cst_1 : f32
      linalg.yield %31 : f32
    } -> tensor<1x4x8x8xf32>
    %21 = tensor.empty() : tensor<1x4x8x16xf32>
    %22 = linalg.fill ins(%cst_1 : f32) outs(%21 : tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32>
    %23 = linalg.generic {indexing_maps = [#map1, #map6, #map3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%20, %arg2 : tensor<1x4x8x8xf32>, tensor<1x2x8x16xf32>) outs(%22 : tensor<1x4x8x16xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %24 = arith.mulf %in, %in_3 : f32
      %25 = arith.addf %out, %24 : f32
      linalg.yield %25 : f32
    } -> tensor<1x4x8x16xf32>
    return %23 : tensor<1x4x8x16xf32>
  }
}
