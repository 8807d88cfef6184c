//===- LinalgHelpers.h - shared by the qopt-to-linalg patterns -*- C++ -*-===//
//
// Small builders the qopt.linear/qlinear and qopt.bitlinear lowerings share:
// indexing maps, iterator lists, and the [..., K] <-> [M, K] reshapes that
// let every layer lower as one 2-D contraction.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_CONVERSION_QOPTTOLINALG_LINALGHELPERS_H
#define QOPT_LIB_CONVERSION_QOPTTOLINALG_LINALGHELPERS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace mlir::qopt::linalg_helpers {

/// The projection of `numDims` loop dims onto `dims`.
AffineMap mapOf(MLIRContext *ctx, unsigned numDims, ArrayRef<unsigned> dims);

/// `parallel` parallel iterators followed by `reduction` reductions.
SmallVector<utils::IteratorType> iteratorsOf(unsigned parallel,
                                             unsigned reduction);

/// `x` ([..., K]) as a 2-D [M, K] tensor.
Value collapseTo2D(OpBuilder &b, Location loc, Value x);

/// The 2-D [M, N] result back in the shape of `resultTy` (the input's
/// leading dims followed by N).
Value expandFrom2D(OpBuilder &b, Location loc, Value y, Value x,
                   RankedTensorType resultTy);

} // namespace mlir::qopt::linalg_helpers

#endif // QOPT_LIB_CONVERSION_QOPTTOLINALG_LINALGHELPERS_H
