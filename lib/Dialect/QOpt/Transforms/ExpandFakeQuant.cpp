//===- ExpandFakeQuant.cpp - fake_quant to quantize + dequantize ----------===//
//
// QAT graphs carry fake_quant; deployment wants explicit QDQ on quantized
// types. The rewrite is exact, so it can run at any point of a pipeline.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_EXPANDFAKEQUANTPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The narrowest standard integer storage holding [qmin, qmax]: its width
/// and signedness, or std::nullopt beyond 32 bits.
std::optional<std::pair<unsigned, bool>> storageFor(int64_t qmin,
                                                    int64_t qmax) {
  bool isSigned = qmin < 0;
  for (unsigned width : {4u, 8u, 16u, 32u}) {
    int64_t lo =
        quant::QuantizedType::getDefaultMinimumForInteger(isSigned, width);
    int64_t hi =
        quant::QuantizedType::getDefaultMaximumForInteger(isSigned, width);
    if (qmin >= lo && qmax <= hi)
      return std::make_pair(width, isSigned);
  }
  return std::nullopt;
}

struct ExpandFakeQuant : OpRewritePattern<FakeQuantOp> {
  ExpandFakeQuant(MLIRContext *ctx, bool onlyWeights)
      : OpRewritePattern(ctx), onlyWeights(onlyWeights) {}

  LogicalResult matchAndRewrite(FakeQuantOp op,
                                PatternRewriter &rewriter) const override {
    if (onlyWeights && !matchPattern(op.getInput(), m_Constant()))
      return rewriter.notifyMatchFailure(op, "input is not a constant");
    int64_t qmin = op.getQuantMin(), qmax = op.getQuantMax();
    auto storage = storageFor(qmin, qmax);
    if (!storage) // Reported by the pass before rewriting.
      return rewriter.notifyMatchFailure(op, "range wider than 32 bits");

    RankedTensorType floatTy = op.getInput().getType();
    Type expressed = floatTy.getElementType();
    Type storageTy = rewriter.getIntegerType(storage->first);
    unsigned flags = storage->second ? quant::QuantizationFlags::Signed : 0;

    // getChecked: the op verifier already bounds scales by the float type,
    // but never build an invalid type (get() only asserts).
    auto emitError = [&] { return op.emitOpError(); };
    quant::QuantizedType qTy;
    if (std::optional<int64_t> axis = op.getAxis()) {
      qTy = quant::UniformQuantizedPerAxisType::getChecked(
          emitError, flags, storageTy, expressed, op.getScale(),
          op.getZeroPoint(), static_cast<int32_t>(*axis), qmin, qmax);
    } else {
      qTy = quant::UniformQuantizedType::getChecked(
          emitError, flags, storageTy, expressed, op.getScale()[0],
          op.getZeroPoint()[0], qmin, qmax);
    }
    if (!qTy)
      return failure();
    auto quantTensorTy = floatTy.clone(qTy);
    Value q =
        QuantizeOp::create(rewriter, op.getLoc(), quantTensorTy, op.getInput());
    rewriter.replaceOpWithNewOp<DequantizeOp>(op, floatTy, q);
    return success();
  }

  bool onlyWeights;
};

struct ExpandFakeQuantPass
    : qopt::impl::ExpandFakeQuantPassBase<ExpandFakeQuantPass> {
  using Base::Base;
  void runOnOperation() override {
    // Refuse the whole input rather than leave some fake_quants behind.
    WalkResult result = getOperation()->walk([&](FakeQuantOp op) {
      if (storageFor(op.getQuantMin(), op.getQuantMax()))
        return WalkResult::advance();
      op.emitOpError("range [") << op.getQuantMin() << ", " << op.getQuantMax()
                                << "] does not fit 32-bit storage";
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    populateExpandFakeQuantPatterns(patterns, onlyWeights);
    // One rewrite per fake_quant and nothing else: no folding, no dead-code
    // removal, no region simplification.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void mlir::qopt::populateExpandFakeQuantPatterns(RewritePatternSet &patterns,
                                                 bool onlyWeights) {
  patterns.add<ExpandFakeQuant>(patterns.getContext(), onlyWeights);
}
