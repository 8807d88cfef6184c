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

#include <map>

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
    if (kind == ObserverKind::SecondMoment)
      return insertSecondMoments(operands, nextId);
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

  /// second_moment observers (GPTQ, bias correction): on the input of the
  /// layers qopt-quantize rewrites (qopt.linear, NCHW convolutions), with
  /// a convolution's window so that the runtime sees its im2col rows. An
  /// input that already has an observer of another kind (w8a8's ranges)
  /// gets this one in front of it: x → second_moment → histogram → layer.
  void insertSecondMoments(ArrayRef<OpOperand *> operands, int64_t nextId) {
    std::map<std::pair<void *, SmallVector<int64_t>>, Value> observed;
    OpBuilder b(&getContext());
    for (OpOperand *operand : operands) {
      SmallVector<int64_t> window;
      Operation *owner = operand->getOwner();
      if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(owner)) {
        auto filterTy =
            dyn_cast<RankedTensorType>(conv.getDpsInputs()[1].getType());
        if (!filterTy || !filterTy.hasStaticShape())
          continue;
        auto strides = conv.getStrides().getValues<int64_t>();
        auto dilations = conv.getDilations().getValues<int64_t>();
        window = {filterTy.getDimSize(2),
                  filterTy.getDimSize(3),
                  strides[0],
                  strides[1],
                  dilations[0],
                  dilations[1]};
      } else if (!isa<LinearOp>(owner)) {
        continue; // not a layer qopt-quantize rewrites
      }
      // Observe below any observer already there.
      Value v = operand->get();
      OpOperand *target = operand;
      while (auto prev = v.getDefiningOp<ObserveOp>()) {
        if (prev.getKind() == ObserverKind::SecondMoment) {
          target = nullptr; // already observed
          break;
        }
        target = &prev->getOpOperand(0);
        v = prev.getInput();
      }
      if (!target || isConstant(v) || !isa<RankedTensorType>(v.getType()))
        continue;
      Value &obs = observed[{v.getAsOpaquePointer(), window}];
      if (!obs) {
        b.setInsertionPointAfterValue(v);
        auto op = ObserveOp::create(b, v.getLoc(), v, nextId++,
                                    ObserverKind::SecondMoment);
        if (!window.empty())
          op.setWindow(window);
        obs = op;
      }
      target->set(obs);
    }
  }
};

} // namespace
