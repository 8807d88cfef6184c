// RUN: quant-opt %s --qopt-check-allocations --split-input-file --verify-diagnostics | FileCheck %s

// memref lowering's malloc/aligned_alloc become the runtime's checked
// allocators (same prototypes); free stays free.
// CHECK-LABEL: module
// CHECK-DAG: llvm.func @qopt_rt_malloc(i64) -> !llvm.ptr
// CHECK-DAG: llvm.func @qopt_rt_aligned_alloc(i64, i64) -> !llvm.ptr
// CHECK: llvm.call @qopt_rt_malloc(%arg0)
// CHECK: llvm.call @qopt_rt_aligned_alloc(%arg1, %arg0)
// CHECK: llvm.call @free
// CHECK-NOT: @malloc
module {
  llvm.func @malloc(i64) -> !llvm.ptr
  llvm.func @aligned_alloc(i64, i64) -> !llvm.ptr
  llvm.func @free(!llvm.ptr)
  llvm.func @f(%n: i64, %align: i64) {
    %p = llvm.call @malloc(%n) : (i64) -> !llvm.ptr
    %q = llvm.call @aligned_alloc(%align, %n) : (i64, i64) -> !llvm.ptr
    llvm.call @free(%p) : (!llvm.ptr) -> ()
    llvm.call @free(%q) : (!llvm.ptr) -> ()
    llvm.return
  }
}

// -----

// A module with no allocation is left alone.
// CHECK-LABEL: module
// CHECK-NOT: qopt_rt
module {
  llvm.func @g() {
    llvm.return
  }
}

// -----

// expected-error @below {{qopt-check-allocations: @qopt_rt_malloc is defined already}}
module {
  llvm.func @malloc(i64) -> !llvm.ptr
  llvm.func @qopt_rt_malloc(i64) -> !llvm.ptr
}
