//===- QDQGrid.h - fake quants that change nothing --------------*- C++ -*-===//
//
/// \file
/// qopt-fold-qdq's second half: the Q -> DQ pairs a QDQ model leaves around
/// moves, pools, ReLU/Clip and concatenations (as qopt.fake_quant) that
/// provably change nothing are removed, so the values between layers move
/// through these ops as the integers they are.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_DIALECT_QOPT_TRANSFORMS_QDQGRID_H
#define QOPT_LIB_DIALECT_QOPT_TRANSFORMS_QDQGRID_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>

namespace mlir::qopt {

/// What removeRedundantFakeQuants removed.
struct GridSimplification {
  /// Fake quants whose input already lies on their grid (a Q -> DQ pair
  /// after a move, a max pool, ReLU/Clip or a concatenation of values with
  /// the same scale and zero point; or a pair that cancels an equal one).
  int64_t onGrid = 0;
  /// Fake quants whose every use reaches, through order-preserving ops
  /// only, a quantization with the same scale and range (the next integer
  /// layer's input): Q(f(FQ(x))) = Q(f(x)) for monotone f.
  int64_t absorbed = 0;
};

/// Removes the per-tensor qopt.fake_quant ops of `module` that provably do
/// not change the result (exact, not within a tolerance).
GridSimplification removeRedundantFakeQuants(ModuleOp module);

} // namespace mlir::qopt

#endif // QOPT_LIB_DIALECT_QOPT_TRANSFORMS_QDQGRID_H
