// RUN: quant-opt %s --pass-pipeline="builtin.module(func.func(qopt-gpu-tensor-core-matmul))" -split-input-file | FileCheck %s
// RUN: rm -rf %t && quant-opt %s -split-input-file --pass-pipeline="builtin.module(func.func(qopt-gpu-tensor-core-matmul),gpu-kernel-outlining,nvvm-attach-target{chip=sm_90},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm),gpu-module-to-binary{format=isa},qopt-gpu-embed-cubin{cubin=never write-ptx=%t})" -o /dev/null
// RUN: FileCheck %s --check-prefix=PTX < %t/linear_kernel.ptx
// RUN: FileCheck %s --check-prefix=PTXBF < %t/bf16_kernel.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t/linear_kernel.ptx -o %t/linear.cubin %}
// RUN: %if ptxas %{ %ptxas -arch=sm_90 %t/bf16_kernel.ptx -o %t/bf16.cubin %}

#mk = affine_map<(d0, d1, d2) -> (d0, d2)>
#nk = affine_map<(d0, d1, d2) -> (d1, d2)>
#mn = affine_map<(d0, d1, d2) -> (d0, d1)>

// A float16 linear layer (y = x·Wᵀ, W row-major [N, K]): 64x64 output tiles
// per block of four warps over ceil(N/64) x ceil(M/64) blocks; operand tiles
// in workgroup memory; wmma fragments accumulate in f32.
// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.generic
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c128
// CHECK-SAME: workgroup(%[[SA:.*]] : memref<64x40xf16, #gpu.address_space<workgroup>>, %[[SB:.*]] : memref<32x72xf16, #gpu.address_space<workgroup>>, %[[SC:.*]] : memref<64x72xf32, #gpu.address_space<workgroup>>)
// CHECK: %[[Z:.*]] = gpu.subgroup_mma_constant_matrix %{{.*}} : !gpu.mma_matrix<16x16xf32, "COp">
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c70{{.*}} step %c32{{.*}} iter_args(%{{.*}} = %[[Z]], %{{.*}} = %[[Z]], %{{.*}} = %[[Z]], %{{.*}} = %[[Z]])
// Out-of-range elements read as zero.
// CHECK: scf.if %{{.*}} -> (f16) {
// CHECK:   memref.load %arg0
// CHECK: } else {
// CHECK:   scf.yield %cst{{.*}} : f16
// CHECK: memref.store %{{.*}}, %[[SA]]
// CHECK: memref.load %arg1
// CHECK: memref.store %{{.*}}, %[[SB]]
// CHECK: gpu.barrier
// CHECK-COUNT-4: gpu.subgroup_mma_load_matrix
// CHECK-COUNT-4: gpu.subgroup_mma_compute
// CHECK-COUNT-4: gpu.subgroup_mma_load_matrix
// CHECK-COUNT-4: gpu.subgroup_mma_compute
// CHECK: gpu.barrier
// CHECK-COUNT-4: gpu.subgroup_mma_store_matrix {{.*}}, %[[SC]]
// CHECK: gpu.barrier
// The epilogue adds the output's initial value in f32 and rounds to f16.
// CHECK: memref.load %[[SC]]
// CHECK: %[[I:.*]] = memref.load %arg2
// CHECK: %[[IE:.*]] = arith.extf %[[I]] : f16 to f32
// CHECK: %[[S:.*]] = arith.addf %[[IE]]
// CHECK: arith.truncf %[[S]] : f32 to f16
// CHECK: gpu.terminator
// PTX: wmma.load.a.sync.aligned.row.m16n16k16.shared.f16
// PTX: wmma.mma.sync.aligned.row.row.m16n16k16.f32.f32
// PTX: wmma.store.d.sync.aligned.row.m16n16k16.shared.f32
// PTXBF: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @linear(%x: memref<33x70xf16>, %w: memref<45x70xf16>, %y: memref<33x45xf16>) {
  linalg.generic {indexing_maps = [#mk, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<33x70xf16>, memref<45x70xf16>) outs(%y : memref<33x45xf16>) {
  ^bb0(%a: f16, %b: f16, %acc: f16):
    %p = arith.mulf %a, %b : f16
    %s = arith.addf %acc, %p : f16
    linalg.yield %s : f16
  }
  return
}

// -----

// A batched matmul with a dynamic M: the batch is the grid's z; the f32
// output needs no rounding.
// CHECK-LABEL: func.func @batched
// CHECK: %[[M:.*]] = memref.dim %arg0, %c1
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}, {{.*}}, %{{.*}} = %c3{{.*}}) threads
// CHECK: memref.load %arg0[%{{.*}}, %{{.*}}, %{{.*}}] : memref<3x?x40xf16>
// CHECK: memref.load %arg1[%{{.*}}, %{{.*}}, %{{.*}}] : memref<3x40x24xf16>
// CHECK: gpu.subgroup_mma_compute
// CHECK-NOT: arith.truncf
// CHECK: memref.store %{{.*}}, %arg2[%{{.*}}, %{{.*}}, %{{.*}}] : memref<3x?x24xf32>
func.func @batched(%a: memref<3x?x40xf16>, %b: memref<3x40x24xf16>, %c: memref<3x?x24xf32>) {
  linalg.batch_matmul ins(%a, %b : memref<3x?x40xf16>, memref<3x40x24xf16>) outs(%c : memref<3x?x24xf32>)
  return
}

// -----

// Not for the tensor cores: float32 operands, and a contraction with two
// reduction dims.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: gpu.launch
// CHECK: linalg.matmul
// CHECK: linalg.generic
#a2 = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#b2 = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
#c2 = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
func.func @left_alone(%a: memref<16x16xf32>, %b: memref<16x16xf32>, %c: memref<16x16xf32>,
                      %x: memref<16x4x4xf16>, %w: memref<16x4x4xf16>, %y: memref<16x16xf16>) {
  linalg.matmul ins(%a, %b : memref<16x16xf32>, memref<16x16xf32>) outs(%c : memref<16x16xf32>)
  linalg.generic {indexing_maps = [#a2, #b2, #c2], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<16x4x4xf16>, memref<16x4x4xf16>) outs(%y : memref<16x16xf16>) {
  ^bb0(%p: f16, %q: f16, %acc: f16):
    %m = arith.mulf %p, %q : f16
    %s = arith.addf %acc, %m : f16
    linalg.yield %s : f16
  }
  return
}

// -----

#mk = affine_map<(d0, d1, d2) -> (d0, d2)>
#nk = affine_map<(d0, d1, d2) -> (d1, d2)>
#mn = affine_map<(d0, d1, d2) -> (d0, d1)>

// W8A8's int8 x int8 -> int32 product (both operands sign-extended): s8
// fragments, int32 sums, int8 tiles padded to 16-byte rows; a u8 x s8
// product (mixed signedness, which wmma cannot multiply) is left alone.
// CHECK-LABEL: func.func @int8
// CHECK: gpu.launch {{.*}} workgroup(%{{.*}} : memref<64x48xi8, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x80xi8, #gpu.address_space<workgroup>>, %{{.*}} : memref<64x72xi32, #gpu.address_space<workgroup>>)
// CHECK: gpu.subgroup_mma_constant_matrix %{{.*}} : !gpu.mma_matrix<16x16xi32, "COp">
// CHECK: gpu.subgroup_mma_load_matrix {{.*}} -> !gpu.mma_matrix<16x16xsi8, "AOp">
// CHECK: gpu.subgroup_mma_compute {{.*}} : !gpu.mma_matrix<16x16xsi8, "AOp">, !gpu.mma_matrix<16x16xsi8, "BOp"> -> !gpu.mma_matrix<16x16xi32, "COp">
// CHECK: arith.addi
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: linalg.generic
func.func @int8(%x: memref<16x64xi8>, %w: memref<32x64xi8>, %y: memref<16x32xi32>, %z: memref<16x32xi32>) {
  linalg.generic {indexing_maps = [#mk, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<16x64xi8>, memref<32x64xi8>) outs(%y : memref<16x32xi32>) {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %ea = arith.extsi %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %acc, %p : i32
    linalg.yield %s : i32
  }
  linalg.generic {indexing_maps = [#mk, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<16x64xi8>, memref<32x64xi8>) outs(%z : memref<16x32xi32>) {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %ea = arith.extui %a : i8 to i32
    %eb = arith.extsi %b : i8 to i32
    %p = arith.muli %ea, %eb : i32
    %s = arith.addi %acc, %p : i32
    linalg.yield %s : i32
  }
  return
}

// -----

#mk = affine_map<(d0, d1, d2) -> (d0, d2)>
#nk = affine_map<(d0, d1, d2) -> (d1, d2)>
#mn = affine_map<(d0, d1, d2) -> (d0, d1)>

// bfloat16 (which the gpu dialect's wmma lacks): nvvm.mma.sync m16n8k16 on
// per-lane fragments packed from shared memory (two bf16 an i32), a warp's
// 32x32 quarter as 2x4 tiles of 16x8 with four f32 sums a lane each, 2x8
// mma a k16 step; the sums stored to sC by lane position.
// CHECK-LABEL: func.func @bf16
// CHECK: gpu.launch {{.*}} workgroup(%{{.*}} : memref<64x40xbf16, #gpu.address_space<workgroup>>, %{{.*}} : memref<32x72xbf16, #gpu.address_space<workgroup>>, %[[SC:.*]] : memref<64x72xf32, #gpu.address_space<workgroup>>)
// CHECK-NOT: gpu.subgroup_mma
// CHECK: arith.bitcast %{{.*}} : bf16 to i16
// CHECK: arith.shli
// CHECK-COUNT-16: nvvm.mma.sync {{.*}} {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>}
// CHECK-COUNT-32: memref.store %{{.*}}, %[[SC]]
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: gpu.terminator
func.func @bf16(%x: memref<33x70xbf16>, %w: memref<45x70xbf16>, %y: memref<33x45xbf16>) {
  linalg.generic {indexing_maps = [#mk, #nk, #mn], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<33x70xbf16>, memref<45x70xbf16>) outs(%y : memref<33x45xbf16>) {
  ^bb0(%a: bf16, %b: bf16, %acc: bf16):
    %p = arith.mulf %a, %b : bf16
    %s = arith.addf %acc, %p : bf16
    linalg.yield %s : bf16
  }
  return
}
