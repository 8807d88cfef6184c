//===- InstrumentObservers.cpp - observers report to the runtime ----------===//

#include "qopt/Codegen/CPU/Passes.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_INSTRUMENTOBSERVERSPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr StringLiteral kObserveFn = "qopt_observe_f32";
constexpr StringLiteral kObserveChannelsFn = "qopt_observe_channels_f32";

struct InstrumentObserversPass
    : qopt::impl::InstrumentObserversPassBase<InstrumentObserversPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<qopt::ObserveOp> observers;
    module.walk([&](qopt::ObserveOp op) { observers.push_back(op); });
    if (observers.empty())
      return;
    OpBuilder b(&getContext());
    auto unranked = UnrankedTensorType::get(b.getF32Type());
    auto declare = [&](StringRef name) {
      func::FuncOp callee = module.lookupSymbol<func::FuncOp>(name);
      if (callee)
        return callee;
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      callee = func::FuncOp::create(
          b, module.getLoc(), name,
          b.getFunctionType({b.getI64Type(), unranked}, {}));
      callee.setPrivate();
      callee.setArgAttr(1, "bufferization.access", b.getStringAttr("read"));
      return callee;
    };
    for (qopt::ObserveOp op : observers) {
      // Per-channel observers (SmoothQuant) report to their own function.
      func::FuncOp callee = declare(
          op.getKind() == qopt::ObserverKind::ChannelAbsMax ? kObserveChannelsFn
                                                            : kObserveFn);
      auto type = cast<RankedTensorType>(op.getInput().getType());
      if (!type.getElementType().isF32()) {
        op.emitOpError("qopt-instrument-observers: observing ")
            << type.getElementType()
            << " values is not supported (calibrate the f32 model)";
        return signalPassFailure();
      }
      b.setInsertionPoint(op);
      Value id = arith::ConstantIntOp::create(b, op.getLoc(), op.getId(), 64);
      Value values =
          tensor::CastOp::create(b, op.getLoc(), unranked, op.getInput());
      func::CallOp::create(b, op.getLoc(), callee, ValueRange{id, values});
      op.getResult().replaceAllUsesWith(op.getInput());
      op.erase();
    }
  }
};

} // namespace
