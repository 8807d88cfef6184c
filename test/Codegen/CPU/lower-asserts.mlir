// RUN: quant-opt %s --qopt-lower-asserts --split-input-file --verify-diagnostics | FileCheck %s

// A failed assert calls the runtime's qopt_rt_fail with its message (one
// global per distinct message) instead of aborting the process.
// CHECK-DAG: llvm.func @qopt_rt_fail(!llvm.ptr)
// CHECK-DAG: llvm.mlir.global internal constant @qopt_assert_msg_0("Add node 'a': dims differ\00")
// CHECK-DAG: llvm.mlir.global internal constant @qopt_assert_msg_1("Div node 'd': zero\00")
// CHECK-LABEL: func.func @checks
// CHECK: %[[BAD:.*]] = arith.xori %arg0, %true
// CHECK-NEXT: scf.if %[[BAD]] {
// CHECK-NEXT: %[[A:.*]] = llvm.mlir.addressof @qopt_assert_msg_0
// CHECK-NEXT: %[[M:.*]] = llvm.getelementptr %[[A]][0, 0]
// CHECK: llvm.call @qopt_rt_fail(%[[M]])
// CHECK: scf.if
// CHECK: llvm.mlir.addressof @qopt_assert_msg_1
// CHECK: scf.if
// CHECK: llvm.mlir.addressof @qopt_assert_msg_0
// CHECK-NOT: cf.assert
// CHECK: return
func.func @checks(%ok: i1, %ok2: i1) {
  cf.assert %ok, "Add node 'a': dims differ"
  cf.assert %ok2, "Div node 'd': zero"
  cf.assert %ok2, "Add node 'a': dims differ"
  return
}

// -----

// expected-error @below {{qopt-lower-asserts: @qopt_rt_fail is declared with another type than void(ptr)}}
module {
  llvm.func @qopt_rt_fail(i32)
  func.func @f(%ok: i1) {
    cf.assert %ok, "message"
    return
  }
}

