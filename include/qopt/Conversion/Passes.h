//===- Passes.h - qopt lowering passes --------------------------*- C++ -*-===//
//
/// \file
/// Declarations of the lowering passes (generated from Passes.td) and their
/// registration.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_PASSES_H
#define QOPT_CONVERSION_PASSES_H

#include "qopt/Conversion/KernelCalls/LinalgToKernelCalls.h"
#include "qopt/Conversion/QOptToLinalg/QOptToLinalg.h"

#include "mlir/Pass/Pass.h"

namespace mlir::qopt {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qopt/Conversion/Passes.h.inc"

} // namespace mlir::qopt

#endif // QOPT_CONVERSION_PASSES_H
