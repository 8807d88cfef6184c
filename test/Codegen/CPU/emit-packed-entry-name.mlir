// RUN: quant-opt %s --qopt-emit-packed-entry=entry=fwd | FileCheck %s --check-prefix=FWD
// FWD: llvm.func @qopt_artifact_main
// FWD: llvm.call @_mlir_ciface_fwd
llvm.func @_mlir_ciface_fwd(%res: !llvm.ptr) {
  llvm.return
}
llvm.func @_mlir_ciface_main(%res: !llvm.ptr) {
  llvm.return
}
