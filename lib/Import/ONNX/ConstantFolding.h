//===- ConstantFolding.h - evaluate small constant subgraphs ----*- C++ -*-===//
//
// Models compute shapes, axes and pads from constants (and from Shape of
// static tensors): `Div(Shape(x), 2)`, `Concat(...)`, `Range`. Builders
// that need such values as constants (Reshape, ConstantOfShape, Pad, ...)
// can only see them if the importer evaluates these small computations as
// it goes. This evaluates the ops a node's builder created when all their
// operands are small constants.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_IMPORT_ONNX_CONSTANTFOLDING_H
#define QOPT_LIB_IMPORT_ONNX_CONSTANTFOLDING_H

#include "mlir/IR/Block.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::qopt::onnx_import {

/// The largest tensor the importer evaluates at import time: shapes and
/// parameters, never weights.
constexpr int64_t kMaxEvaluatedElements = 4096;

/// The largest constant a static slice or concatenation of constants
/// (weights reordered by Slice + Concat) is folded into, on its bytes.
constexpr int64_t kMaxMovedElements = int64_t(1) << 24;

/// Evaluates, in order, the ops of `block` after `after` (or from its
/// start when null) whose operands are all small constants (dense or
/// small dense_resource), replacing each evaluated result with an
/// arith.constant and erasing the op when it is left unused. linalg.generic
/// (interpreted element by element with the body ops' folders),
/// linalg.fill, and every op with a folder (reshapes, casts, arith on
/// tensors) are evaluated; static slices, concatenations and reshapes of
/// constants of any size up to kMaxMovedElements too; anything else is
/// left as it is.
/// Returns the replaced values and their constants, for the caller's maps.
DenseMap<Value, Value> evaluateConstantOps(OpBuilder &b, Block &block,
                                           Operation *after);

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_CONSTANTFOLDING_H
