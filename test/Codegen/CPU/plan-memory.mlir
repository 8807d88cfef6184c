// RUN: quant-opt %s --qopt-plan-memory --split-input-file --verify-diagnostics | FileCheck %s --enable-var-scope

// A chain a -> b -> c -> result: a's last use is the copy into b, so c
// (born after it) takes a's bytes and b goes above: the arena is 2 x 4096
// bytes instead of 3 x 4096, asked for once at the entry. The result is returned: it stays a malloc. The
// deallocs of planned buffers are gone.
// CHECK-LABEL: llvm.func @qopt_rt_arena(i64) -> !llvm.ptr
// CHECK-LABEL: func.func @chain
// CHECK-SAME: qopt.arena_bytes = 8192 : i64, qopt.planned_bytes = 12288 : i64
// CHECK: %[[SIZE:.*]] = llvm.mlir.constant(8192 : i64) : i64
// CHECK: %[[PTR:.*]] = llvm.call @qopt_rt_arena(%[[SIZE]])
// Each buffer's pointer is arena + offset through an integer (distinct
// underlying objects for LLVM), its own memref<bytes x i8> viewed at 0.
// CHECK: %[[INTA:.*]] = llvm.ptrtoint %[[PTR]] : !llvm.ptr to i64
// CHECK: %[[OA:.*]] = llvm.mlir.constant([[OFFA:[0-9]+]] : i64) : i64
// CHECK: %[[ADDRA:.*]] = llvm.add %[[INTA]], %[[OA]] : i64
// CHECK: llvm.inttoptr %[[ADDRA]] : i64 to !llvm.ptr
// CHECK: %[[SA:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)> to memref<4096xi8>
// CHECK: %[[A:.*]] = memref.view %[[SA]][%{{.*}}][] : memref<4096xi8> to memref<1024xf32>
// CHECK: llvm.mlir.constant([[OFFB:[0-9]+]] : i64) : i64
// CHECK: %[[SB:.*]] = builtin.unrealized_conversion_cast {{.*}} to memref<4096xi8>
// CHECK: %[[B:.*]] = memref.view %[[SB]][%{{.*}}][] : memref<4096xi8> to memref<1024xf32>
// CHECK: memref.copy %[[A]], %[[B]]
// CHECK: llvm.mlir.constant([[OFFA]] : i64) : i64
// CHECK: %[[SC:.*]] = builtin.unrealized_conversion_cast {{.*}} to memref<4096xi8>
// CHECK: %[[C:.*]] = memref.view %[[SC]][%{{.*}}][] : memref<4096xi8> to memref<1024xf32>
// CHECK: memref.copy %[[B]], %[[C]]
// CHECK: %[[R:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
// CHECK: memref.copy %[[C]], %[[R]]
// CHECK-NOT: memref.dealloc
// CHECK: return %[[R]]
func.func @chain(%x: memref<1024xf32>) -> memref<1024xf32> {
  %a = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
  memref.copy %x, %a : memref<1024xf32> to memref<1024xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
  memref.copy %a, %b : memref<1024xf32> to memref<1024xf32>
  %c = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
  memref.copy %b, %c : memref<1024xf32> to memref<1024xf32>
  %r = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
  memref.copy %c, %r : memref<1024xf32> to memref<1024xf32>
  memref.dealloc %a : memref<1024xf32>
  memref.dealloc %b : memref<1024xf32>
  memref.dealloc %c : memref<1024xf32>
  return %r : memref<1024xf32>
}

// -----

// A view of a buffer keeps it alive: %a's last use is through %sub (the
// second copy), and its pointer passed to a kernel as an integer is a use
// too, so %a and %b (alive together) never share bytes.
// CHECK-LABEL: func.func @aliases
// CHECK-SAME: qopt.arena_bytes = 1536 : i64
// CHECK: llvm.mlir.constant([[OA:[0-9]+]] : i64) : i64
// CHECK: memref.view %{{.*}}[%{{.*}}][] : memref<1024xi8> to memref<256xf32>
// CHECK: llvm.mlir.constant([[OB:[0-9]+]] : i64) : i64
// CHECK: memref.view %{{.*}}[%{{.*}}][] : memref<512xi8> to memref<128xf32>
// CHECK: call @kernel
func.func private @kernel(i64)
func.func @aliases(%x: memref<256xf32>, %y: memref<128xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<256xf32>
  memref.copy %x, %a : memref<256xf32> to memref<256xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<128xf32>
  %sub = memref.subview %a[0] [128] [1] : memref<256xf32> to memref<128xf32, strided<[1]>>
  memref.copy %sub, %b : memref<128xf32, strided<[1]>> to memref<128xf32>
  %p = memref.extract_aligned_pointer_as_index %a : memref<256xf32> -> index
  %i = arith.index_cast %p : index to i64
  memref.copy %b, %y : memref<128xf32> to memref<128xf32>
  call @kernel(%i) : (i64) -> ()
  memref.dealloc %a : memref<256xf32>
  memref.dealloc %b : memref<128xf32>
  return
}

// -----

// Dynamic shapes stay malloc'ed; their dealloc moves from the end of the
// function to just after the last use. No arena is needed.
// CHECK-LABEL: func.func @dynamic
// CHECK-NOT: qopt_rt_arena
// CHECK: %[[A:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK-NEXT: memref.copy %arg0, %[[A]]
// CHECK-NEXT: memref.copy %[[A]], %arg1
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: memref.copy %arg1, %arg0
// CHECK-NEXT: return
func.func @dynamic(%x: memref<?xf32>, %y: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %a : memref<?xf32> to memref<?xf32>
  memref.copy %a, %y : memref<?xf32> to memref<?xf32>
  memref.copy %y, %x : memref<?xf32> to memref<?xf32>
  memref.dealloc %a : memref<?xf32>
  return
}

// -----

// A function another one calls is not planned (its arena would be its
// caller's); a buffer freed inside a nested region is left alone.
// CHECK-LABEL: func.func @callee
// CHECK: memref.alloc()
// CHECK-LABEL: func.func @nested
// CHECK: memref.alloc()
// CHECK: scf.if
// CHECK: memref.dealloc
func.func @callee(%x: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  memref.dealloc %a : memref<16xf32>
  return
}
func.func @nested(%x: memref<16xf32>, %cond: i1) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %x, %a : memref<16xf32> to memref<16xf32>
  scf.if %cond {
    memref.dealloc %a : memref<16xf32>
  }
  call @callee(%x) : (memref<16xf32>) -> ()
  return
}

// -----

// expected-error @below {{qopt-plan-memory: @qopt_rt_arena is defined already}}
func.func @qopt_rt_arena(%n: i64) {
  return
}

// -----

// Index elements take 8 bytes, i1 one: the slices have the planned sizes.
// CHECK-LABEL: func.func @index_and_i1
// CHECK: memref.view %{{.*}}[%{{.*}}][] : memref<128xi8> to memref<16xindex>
// CHECK: memref.view %{{.*}}[%{{.*}}][] : memref<16xi8> to memref<16xi1>
func.func @index_and_i1(%x: memref<16xindex>, %y: memref<16xi1>) {
  %a = memref.alloc() : memref<16xindex>
  memref.copy %x, %a : memref<16xindex> to memref<16xindex>
  %b = memref.alloc() : memref<16xi1>
  memref.copy %y, %b : memref<16xi1> to memref<16xi1>
  memref.copy %a, %x : memref<16xindex> to memref<16xindex>
  memref.copy %b, %y : memref<16xi1> to memref<16xi1>
  memref.dealloc %a : memref<16xindex>
  memref.dealloc %b : memref<16xi1>
  return
}
