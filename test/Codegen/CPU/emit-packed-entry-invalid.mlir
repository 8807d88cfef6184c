// RUN: quant-opt %s --qopt-emit-packed-entry --split-input-file -verify-diagnostics

// expected-error @+1 {{qopt-emit-packed-entry: no LLVM function @_mlir_ciface_main (run qopt-export-signature before lowering, then lower func to LLVM)}}
module {
  llvm.func @main() {
    llvm.return
  }
}

// -----

// expected-error @+1 {{qopt-emit-packed-entry: parameter #1 of @_mlir_ciface_main is 'i64', not a pointer to a memref descriptor}}
llvm.func @_mlir_ciface_main(%res: !llvm.ptr, %n: i64) {
  llvm.return
}

// -----

// expected-error @+1 {{qopt-emit-packed-entry: @_mlir_ciface_main returns a value; results must be memrefs}}
llvm.func @_mlir_ciface_main(%a: !llvm.ptr) -> i32 {
  %c = llvm.mlir.constant(0 : i32) : i32
  llvm.return %c : i32
}
