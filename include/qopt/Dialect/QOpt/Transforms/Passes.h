//===- Passes.h - qopt graph passes -----------------------------*- C++ -*-===//
//
/// \file
/// Declarations of the qopt dialect's target-independent graph passes
/// (generated from Passes.td) and their registration.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_TRANSFORMS_PASSES_H
#define QOPT_DIALECT_QOPT_TRANSFORMS_PASSES_H

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
#include "qopt/Dialect/QOpt/Transforms/Int4ScaleMethod.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace qopt {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"

/// Adds the pattern of `qopt-expand-fake-quant` (fake_quant to
/// quantize + dequantize) to `patterns`.
void populateExpandFakeQuantPatterns(RewritePatternSet &patterns,
                                     bool onlyWeights = false);

} // namespace qopt
} // namespace mlir

#endif // QOPT_DIALECT_QOPT_TRANSFORMS_PASSES_H
