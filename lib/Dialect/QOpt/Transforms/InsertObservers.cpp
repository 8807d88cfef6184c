//===- InsertObservers.cpp - calibration points before quantizable ops ----===//
//
// Post-training quantization needs the range of every activation that a
// quantized op will consume; this pass marks those activations.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/Matchers.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_INSERTOBSERVERSPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// A convolution that multiplies (the quantizable kind). linalg's
/// convolution interface also matches pooling windows (a max or a sum over
/// the window), whose padded input holds -inf for max pooling: observing
/// that made calibration fail on every CNN with a padded MaxPool.
bool isMultiplyingConvolution(linalg::LinalgOp op) {
  if (!linalg::isaConvolutionOpInterface(op) ||
      linalg::isaContractionOpInterface(op))
    return false;
  bool multiplies = false;
  op->getRegion(0).walk([&](Operation *inner) {
    multiplies |= isa<arith::MulFOp, arith::MulIOp>(inner);
  });
  return multiplies;
}

/// Whether `v` is a constant (a weight): it needs no observer.
bool isConstant(Value v) { return matchPattern(v, m_Constant()); }

struct InsertObserversPass
    : qopt::impl::InsertObserversPassBase<InsertObserversPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ObservedOp> wanted;
    for (const std::string &op : ops) {
      std::optional<ObservedOp> k = symbolizeObservedOp(op);
      if (!k) {
        module.emitError("qopt-insert-observers: unknown op kind '")
            << op << "' in ops (linear, matmul, conv)";
        return signalPassFailure();
      }
      wanted.push_back(*k);
    }
    auto want = [&](ObservedOp k) {
      return wanted.empty() || llvm::is_contained(wanted, k);
    };
    int64_t nextId = 0;
    module.walk([&](ObserveOp op) {
      nextId = std::max<int64_t>(nextId, op.getId() + 1);
    });

    // The operands to observe, in program order.
    SmallVector<OpOperand *> operands;
    module.walk([&](Operation *op) {
      if (auto linear = dyn_cast<LinearOp>(op)) {
        if (want(ObservedOp::Linear))
          operands.push_back(&linear->getOpOperand(0));
        return;
      }
      auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
      if (!linalgOp || !linalgOp.hasPureTensorSemantics())
        return;
      bool isConv = isMultiplyingConvolution(linalgOp);
      bool isMatmul = !isConv && linalg::isaContractionOpInterface(linalgOp);
      if ((isConv && want(ObservedOp::Conv)) ||
          (isMatmul && want(ObservedOp::Matmul)))
        for (OpOperand *in : linalgOp.getDpsInputOperands())
          if (isa<FloatType>(getElementTypeOrSelf(in->get().getType())) &&
              (isMatmul || in->getOperandNumber() == 0))
            operands.push_back(in);
    });

    // channel_sumsq observers key channels by the consumer's input-channel
    // dimension: a convolution's (NCHW) is 1, everything else's the last.
    auto channelAxis = [&](OpOperand *operand) -> std::optional<int64_t> {
      if (kind != ObserverKind::ChannelSumSq)
        return std::nullopt;
      auto linalgOp = dyn_cast<linalg::LinalgOp>(operand->getOwner());
      if (linalgOp && isMultiplyingConvolution(linalgOp))
        return 1;
      return std::nullopt;
    };
    DenseMap<std::pair<Value, int64_t>, Value> observed;
    OpBuilder b(&getContext());
    for (OpOperand *operand : operands) {
      Value v = operand->get();
      if (isConstant(v) || v.getDefiningOp<ObserveOp>() ||
          !isa<RankedTensorType>(v.getType()))
        continue;
      std::optional<int64_t> axis = channelAxis(operand);
      Value &obs = observed[{v, axis.value_or(-1)}];
      if (!obs) {
        b.setInsertionPointAfterValue(v);
        auto op = ObserveOp::create(b, v.getLoc(), v, nextId++, kind);
        if (axis)
          op.setChannelAxis(*axis);
        obs = op;
      }
      operand->set(obs);
    }
  }
};

} // namespace
