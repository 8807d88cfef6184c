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
constexpr StringLiteral kObserveSumSqFn = "qopt_observe_channel_sumsq_f32";
constexpr StringLiteral kObserveMomentsFn = "qopt_observe_second_moment_f32";

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
    // (id, values), or (id, channel axis, values) for channel_sumsq.
    // second_moment: (id, kh, kw, stride h, stride w, dilation h,
    // dilation w, values), kh = 0 without a window.
    auto declare = [&](StringRef name, int extraI64) {
      func::FuncOp callee = module.lookupSymbol<func::FuncOp>(name);
      if (callee)
        return callee;
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      SmallVector<Type> args{b.getI64Type()};
      for (int i = 0; i < extraI64; ++i)
        args.push_back(b.getI64Type());
      args.push_back(unranked);
      callee = func::FuncOp::create(b, module.getLoc(), name,
                                    b.getFunctionType(args, {}));
      callee.setPrivate();
      callee.setArgAttr(args.size() - 1, "bufferization.access",
                        b.getStringAttr("read"));
      return callee;
    };
    for (qopt::ObserveOp op : observers) {
      // Per-channel observers (SmoothQuant, Wanda) report to their own
      // functions.
      bool sumSq = op.getKind() == qopt::ObserverKind::ChannelSumSq;
      bool moments = op.getKind() == qopt::ObserverKind::SecondMoment;
      func::FuncOp callee =
          moments ? declare(kObserveMomentsFn, 6)
                  : declare(sumSq ? kObserveSumSqFn
                            : op.getKind() == qopt::ObserverKind::ChannelAbsMax
                                ? kObserveChannelsFn
                                : kObserveFn,
                            sumSq ? 1 : 0);
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
      SmallVector<Value> args{id};
      if (sumSq)
        args.push_back(arith::ConstantIntOp::create(b, op.getLoc(),
                                                    op.getChannelDim(), 64));
      if (moments) {
        SmallVector<int64_t> window(6, 0);
        if (auto w = op.getWindow())
          window.assign(w->begin(), w->end());
        for (int64_t v : window)
          args.push_back(arith::ConstantIntOp::create(b, op.getLoc(), v, 64));
      }
      args.push_back(values);
      func::CallOp::create(b, op.getLoc(), callee, args);
      op.getResult().replaceAllUsesWith(op.getInput());
      op.erase();
    }
  }
};

} // namespace
