// RUN: quant-opt %s --pass-pipeline="builtin.module(func.func(qopt-gpu-fuse-row-kernels))" -split-input-file | FileCheck %s
// RUN: quant-opt %s --pass-pipeline="builtin.module(func.func(qopt-gpu-fuse-row-kernels{block-size=256}))" -split-input-file | FileCheck %s --check-prefix=B256

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row2 = affine_map<(d0, d1) -> (d0)>
#col2 = affine_map<(d0, d1) -> (d1)>
#id1 = affine_map<(d0) -> (d0)>

// Layer norm over rows of 64: fill, sum, mean, fill, variance, normalize
// (with per-column scale and bias) — one launch, a block a row, stages
// separated by barriers; both reductions combine partials across the block.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: %[[X:.*]]: memref<?x64xf32>
// CHECK-NOT: linalg.
// CHECK: %[[ROWS:.*]] = memref.dim
// Rows of 64: 64 threads (whole warps, at most block-size).
// CHECK: gpu.launch blocks(%[[B:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ROWS]], %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%[[BD:.*]] = %c64
// B256-LABEL: func.func @layer_norm
// B256: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c64
// Rows of unknown length: block-size threads.
// B256-LABEL: func.func @softmax
// B256: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[T]], %c0
// fill (thread 0)
// CHECK: scf.if %[[FIRST]] {
// CHECK:   memref.store %{{.*}}, %[[SUM:.*]][%[[B]]]
// CHECK: gpu.barrier
// sum: strided partials from the identity, then across the block
// CHECK: %[[P:.*]] = scf.for %[[C:.*]] = %[[T]] to %c64{{.*}} step %[[BD]] iter_args(%[[A:.*]] = %cst{{.*}})
// CHECK:   memref.load %[[X]][%[[B]], %[[C]]]
// CHECK:   arith.addf %[[A]]
// CHECK: %[[TOT:.*]] = gpu.all_reduce add %[[P]] uniform
// CHECK: scf.if %[[FIRST]] {
// CHECK:   %[[OLD:.*]] = memref.load %[[SUM]][%[[B]]]
// CHECK:   %[[NEW:.*]] = arith.addf %[[OLD]], %[[TOT]]
// CHECK:   memref.store %[[NEW]], %[[SUM]][%[[B]]]
// CHECK: gpu.barrier
// mean (thread 0)
// CHECK: scf.if %[[FIRST]] {
// CHECK:   arith.divf
// CHECK: gpu.barrier
// CHECK: scf.if %[[FIRST]]
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: gpu.all_reduce add
// CHECK: gpu.barrier
// normalize: the row strided over the threads, scale and bias by column
// CHECK: scf.for %[[C2:.*]] = %[[T]] to %c64{{.*}} step %[[BD]] {
// CHECK:   memref.load %[[X]][%[[B]], %[[C2]]]
// CHECK:   memref.load %{{.*}}[%[[C2]]] : memref<64xf32>
// CHECK:   math.rsqrt
// CHECK:   memref.store %{{.*}}, %{{.*}}[%[[B]], %[[C2]]] : memref<?x64xf32>
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @layer_norm(%x: memref<?x64xf32>, %g: memref<64xf32>, %bb: memref<64xf32>) -> memref<?x64xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 64.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %rows = memref.dim %x, %c0 : memref<?x64xf32>
  %sum = memref.alloc(%rows) : memref<?xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<?xf32>)
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x64xf32>) outs(%sum : memref<?xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  %mean = memref.alloc(%rows) : memref<?xf32>
  linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%sum : memref<?xf32>) outs(%mean : memref<?xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.divf %in, %n : f32
    linalg.yield %m : f32
  }
  %var = memref.alloc(%rows) : memref<?xf32>
  linalg.fill ins(%zero : f32) outs(%var : memref<?xf32>)
  linalg.generic {indexing_maps = [#id2, #row2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x, %mean : memref<?x64xf32>, memref<?xf32>) outs(%var : memref<?xf32>) {
  ^bb0(%in: f32, %m: f32, %acc: f32):
    %d = arith.subf %in, %m : f32
    %sq = arith.mulf %d, %d : f32
    %s = arith.addf %acc, %sq : f32
    linalg.yield %s : f32
  }
  %y = memref.alloc(%rows) : memref<?x64xf32>
  linalg.generic {indexing_maps = [#id2, #row2, #row2, #col2, #col2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %mean, %var, %g, %bb : memref<?x64xf32>, memref<?xf32>, memref<?xf32>, memref<64xf32>, memref<64xf32>) outs(%y : memref<?x64xf32>) {
  ^bb0(%in: f32, %m: f32, %v: f32, %gi: f32, %bi: f32, %o: f32):
    %ve = arith.divf %v, %n : f32
    %vp = arith.addf %ve, %eps : f32
    %r = math.rsqrt %vp : f32
    %d = arith.subf %in, %m : f32
    %t = arith.mulf %d, %r : f32
    %u = arith.mulf %t, %gi : f32
    %w = arith.addf %u, %bi : f32
    linalg.yield %w : f32
  }
  return %y : memref<?x64xf32>
}

// -----

#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row3 = affine_map<(d0, d1, d2) -> (d0, d1)>

// Softmax over the last of three dims (rows = the first two, row-major over
// the grid): max, sum of exp(x - max), divide. The row indices come from the
// block index.
// CHECK-LABEL: func.func @softmax
// CHECK-NOT: linalg.
// CHECK: %[[R0:.*]] = memref.dim %{{.*}}, %c0
// CHECK: %[[N2:.*]] = arith.muli %[[R0]], %c4
// CHECK: gpu.launch blocks(%[[B:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[N2]],
// CHECK: %[[IJ:.*]]:2 = affine.delinearize_index %[[B]] into (%[[R0]], 4)
// CHECK: gpu.all_reduce maximumf
// CHECK: math.exp
// CHECK: gpu.all_reduce add
// CHECK: scf.for %[[C:.*]] =
// CHECK:   memref.load %{{.*}}[%[[IJ]]#0, %[[IJ]]#1, %[[C]]]
// CHECK:   arith.divf
// CHECK: gpu.terminator
// CHECK-NOT: linalg.
func.func @softmax(%x: memref<?x4x?xf32>) -> memref<?x4x?xf32> {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %d0 = memref.dim %x, %c0 : memref<?x4x?xf32>
  %d2 = memref.dim %x, %c2 : memref<?x4x?xf32>
  %max = memref.alloc(%d0) : memref<?x4xf32>
  linalg.fill ins(%ninf : f32) outs(%max : memref<?x4xf32>)
  linalg.generic {indexing_maps = [#id3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : memref<?x4x?xf32>) outs(%max : memref<?x4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.maximumf %in, %acc : f32
    linalg.yield %m : f32
  }
  %sum = memref.alloc(%d0) : memref<?x4xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<?x4xf32>)
  linalg.generic {indexing_maps = [#id3, #row3, #row3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %max : memref<?x4x?xf32>, memref<?x4xf32>) outs(%sum : memref<?x4xf32>) {
  ^bb0(%in: f32, %m: f32, %acc: f32):
    %d = arith.subf %in, %m : f32
    %e = math.exp %d : f32
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  }
  %y = memref.alloc(%d0, %d2) : memref<?x4x?xf32>
  linalg.generic {indexing_maps = [#id3, #row3, #row3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %max, %sum : memref<?x4x?xf32>, memref<?x4xf32>, memref<?x4xf32>) outs(%y : memref<?x4x?xf32>) {
  ^bb0(%in: f32, %m: f32, %s: f32, %o: f32):
    %d = arith.subf %in, %m : f32
    %e = math.exp %d : f32
    %q = arith.divf %e, %s : f32
    linalg.yield %q : f32
  }
  return %y : memref<?x4x?xf32>
}

// -----

#mk = affine_map<(d0, d1, d2) -> (d0, d2)>
#nk = affine_map<(d0, d1, d2) -> (d1, d2)>
#mn = affine_map<(d0, d1, d2) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>

// Not row chains: a matmul (its weight is indexed by a parallel dim that is
// not a row of the output's rows-first order... it reads W[n, k]), and an
// element-wise op alone (no reduction: the generic path handles it).
// CHECK-LABEL: func.func @not_rows
// CHECK-NOT: gpu.launch
// CHECK: linalg.fill
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK-NOT: gpu.launch
func.func @not_rows(%a: memref<8x16xf32>, %w: memref<4x16xf32>, %y: memref<8x4xf32>, %z: memref<8x4xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<8x4xf32>)
  linalg.generic {indexing_maps = [#mk, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<8x16xf32>, memref<4x16xf32>) outs(%y : memref<8x4xf32>) {
  ^bb0(%x: f32, %v: f32, %acc: f32):
    %p = arith.mulf %x, %v : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<8x4xf32>) outs(%z : memref<8x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  }
  return
}

// -----

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row2 = affine_map<(d0, d1) -> (d0)>

// A reduction whose combiner the pass does not know (a subtraction) and a
// copy between two stages (it may touch their buffers) both end a chain.
// CHECK-LABEL: func.func @boundaries
// CHECK: linalg.generic
// CHECK: memref.copy
// CHECK: gpu.launch
// CHECK: gpu.all_reduce maxnumf
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @boundaries(%x: memref<8x32xf32>, %r: memref<8xf32>, %s: memref<8xf32>) {
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<8x32xf32>) outs(%r : memref<8xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %d = arith.subf %acc, %in : f32
    linalg.yield %d : f32
  }
  memref.copy %r, %s : memref<8xf32> to memref<8xf32>
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<8x32xf32>) outs(%s : memref<8xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.maxnumf %acc, %in : f32
    linalg.yield %m : f32
  }
  return
}

// -----

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row2 = affine_map<(d0, d1) -> (d0)>

// gpu.all_reduce shuffles 32-bit values: bfloat16 partials are added in
// float32 and rounded once, int8 maxima sign-extended to i32 and
// truncated; a 64-bit reduction stays on the generic path.
// CHECK-LABEL: func.func @narrow_and_wide
// CHECK: gpu.launch
// CHECK: %[[P:.*]] = scf.for {{.*}} -> (bf16)
// CHECK: %[[W:.*]] = arith.extf %[[P]] : bf16 to f32
// CHECK: %[[T:.*]] = gpu.all_reduce add %[[W]] uniform
// CHECK: arith.truncf %[[T]] : f32 to bf16
// CHECK: gpu.terminator
// CHECK: gpu.launch
// CHECK: %[[Q:.*]] = scf.for {{.*}} -> (i8)
// CHECK: %[[V:.*]] = arith.extsi %[[Q]] : i8 to i32
// CHECK: %[[U:.*]] = gpu.all_reduce maxsi %[[V]] uniform
// CHECK: arith.trunci %[[U]] : i32 to i8
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: linalg.generic
func.func @narrow_and_wide(%x: memref<8x32xbf16>, %r: memref<8xbf16>, %i: memref<8x32xi8>, %m: memref<8xi8>,
                           %l: memref<8x32xi64>, %s: memref<8xi64>) {
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<8x32xbf16>) outs(%r : memref<8xbf16>) {
  ^bb0(%in: bf16, %acc: bf16):
    %a = arith.addf %acc, %in : bf16
    linalg.yield %a : bf16
  }
  memref.copy %r, %r : memref<8xbf16> to memref<8xbf16>
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%i : memref<8x32xi8>) outs(%m : memref<8xi8>) {
  ^bb0(%in: i8, %acc: i8):
    %a = arith.maxsi %acc, %in : i8
    linalg.yield %a : i8
  }
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%l : memref<8x32xi64>) outs(%s : memref<8xi64>) {
  ^bb0(%in: i64, %acc: i64):
    %a = arith.addi %acc, %in : i64
    linalg.yield %a : i64
  }
  return
}
