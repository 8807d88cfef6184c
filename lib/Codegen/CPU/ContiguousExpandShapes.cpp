//===- ContiguousExpandShapes.cpp - expand_shape as reinterpret_cast ------===//
//
// See the pass description: a workaround for expand-strided-metadata's crash
// on reassociation groups with several dynamic sizes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONTIGUOUSEXPANDSHAPESPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

bool hasMultiDynamicGroup(memref::ExpandShapeOp op) {
  ArrayRef<int64_t> shape = op.getResultType().getShape();
  for (const ReassociationIndices &group : op.getReassociationIndices()) {
    int dynamic = 0;
    for (int64_t d : group)
      dynamic += ShapedType::isDynamic(shape[d]);
    if (dynamic > 1)
      return true;
  }
  return false;
}

struct ExpandShapeToReinterpretCast : OpRewritePattern<memref::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(memref::ExpandShapeOp op,
                                PatternRewriter &rewriter) const override {
    if (!hasMultiDynamicGroup(op) ||
        !op.getSrcType().getLayout().isIdentity() ||
        !op.getResultType().getLayout().isIdentity())
      return failure();
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> sizes = op.getMixedOutputShape();
    // Row-major strides: the suffix products of the sizes, static while
    // the sizes are.
    SmallVector<OpFoldResult> strides(sizes.size());
    std::optional<int64_t> staticStride = 1;
    Value stride;
    for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
      strides[i] = staticStride
                       ? OpFoldResult(rewriter.getIndexAttr(*staticStride))
                       : OpFoldResult(stride);
      std::optional<int64_t> size = getConstantIntValue(sizes[i]);
      if (staticStride && size) {
        *staticStride *= *size;
        continue;
      }
      Value current =
          staticStride
              ? arith::ConstantIndexOp::create(rewriter, loc, *staticStride)
                    .getResult()
              : stride;
      stride = arith::MulIOp::create(
          rewriter, loc, current,
          getValueOrCreateConstantIndexOp(rewriter, loc, sizes[i]));
      staticStride.reset();
    }
    rewriter.replaceOpWithNewOp<memref::ReinterpretCastOp>(
        op, op.getResultType(), op.getSrc(), rewriter.getIndexAttr(0), sizes,
        strides);
    return success();
  }
};

struct ContiguousExpandShapesPass
    : qopt::impl::ContiguousExpandShapesPassBase<ContiguousExpandShapesPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandShapeToReinterpretCast>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
