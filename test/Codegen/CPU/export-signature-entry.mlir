// Another entry; an earlier signature is replaced.
// RUN: quant-opt %s --qopt-export-signature=entry=forward | FileCheck %s --check-prefix=ENTRY
// ENTRY: entry forward
// ENTRY-NOT: "old
llvm.mlir.global external constant @qopt_artifact_signature("old\00")
func.func @forward(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
