// RUN: quant-opt %s --qopt-emit-packed-entry | FileCheck %s

// The packed entry loads one pointer per C-interface parameter from %args
// and calls it.
// CHECK-LABEL: llvm.func @qopt_artifact_main
// CHECK-SAME: (%[[ARGS:.*]]: !llvm.ptr)
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[ARGS]][1]
// CHECK: %[[P1:.*]] = llvm.load %[[S1]]
// CHECK: %[[S2:.*]] = llvm.getelementptr %[[ARGS]][2]
// CHECK: %[[P2:.*]] = llvm.load %[[S2]]
// CHECK: llvm.call @_mlir_ciface_main(%[[P0]], %[[P1]], %[[P2]]) : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK: llvm.return
llvm.func @_mlir_ciface_main(%res: !llvm.ptr, %a: !llvm.ptr, %b: !llvm.ptr) {
  llvm.return
}

