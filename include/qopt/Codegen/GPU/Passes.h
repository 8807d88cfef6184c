//===- Passes.h - NVPTX code generation passes ------------------*- C++ -*-===//
//
/// \file
/// Declarations and registration of the NVPTX pipeline's passes
/// (generated from Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CODEGEN_GPU_PASSES_H
#define QOPT_CODEGEN_GPU_PASSES_H

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::qopt {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qopt/Codegen/GPU/Passes.h.inc"

} // namespace mlir::qopt

#endif // QOPT_CODEGEN_GPU_PASSES_H
