//===- LinalgHelpers.cpp - shared by the qopt-to-linalg patterns ---------===//

#include "LinalgHelpers.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace mlir::qopt::linalg_helpers {

AffineMap mapOf(MLIRContext *ctx, unsigned numDims, ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numDims, 0, exprs, ctx);
}

SmallVector<utils::IteratorType> iteratorsOf(unsigned parallel,
                                             unsigned reduction) {
  SmallVector<utils::IteratorType> it(parallel, utils::IteratorType::parallel);
  it.append(reduction, utils::IteratorType::reduction);
  return it;
}

/// `x` ([..., K]) as a 2-D [M, K] tensor.
Value collapseTo2D(OpBuilder &b, Location loc, Value x) {
  auto ty = cast<RankedTensorType>(x.getType());
  int64_t rank = ty.getRank();
  if (rank == 2)
    return x;
  if (rank == 1) {
    auto to = RankedTensorType::get({1, ty.getDimSize(0)}, ty.getElementType());
    return tensor::ExpandShapeOp::create(
        b, loc, to, x, ArrayRef<ReassociationIndices>{{0, 1}},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                               tensor::getMixedSize(b, loc, x, 0)});
  }
  ReassociationIndices lead;
  for (int64_t i = 0; i + 1 < rank; ++i)
    lead.push_back(i);
  return tensor::CollapseShapeOp::create(
      b, loc, x, ArrayRef<ReassociationIndices>{lead, {rank - 1}});
}

/// The 2-D [M, N] result back in the shape of `resultTy` (the input's
/// leading dims followed by N).
Value expandFrom2D(OpBuilder &b, Location loc, Value y, Value x,
                   RankedTensorType resultTy) {
  int64_t rank = resultTy.getRank();
  if (rank == 2)
    return y;
  if (rank == 1)
    return tensor::CollapseShapeOp::create(
        b, loc, y, ArrayRef<ReassociationIndices>{{0, 1}});
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i + 1 < rank; ++i)
    sizes.push_back(tensor::getMixedSize(b, loc, x, i));
  sizes.push_back(b.getIndexAttr(resultTy.getShape().back()));
  ReassociationIndices lead;
  for (int64_t i = 0; i + 1 < rank; ++i)
    lead.push_back(i);
  return tensor::ExpandShapeOp::create(
      b, loc, resultTy, y, ArrayRef<ReassociationIndices>{lead, {rank - 1}},
      sizes);
}

} // namespace mlir::qopt::linalg_helpers
