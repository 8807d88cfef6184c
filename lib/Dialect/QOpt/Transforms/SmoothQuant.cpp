//===- SmoothQuant.cpp - migrate activation outliers into the weights -----===//
//
// SmoothQuant (Xiao et al., 2023; REFERENCE.md): per input channel j of the
// linear layers that read one activation X,
//   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha),
//   X' = X · diag(s)^-1,  W' = diag(s) · W   (W' columns: W[:, j] · s_j),
// so X'·W'ᵀ = X·Wᵀ while X' has flatter channels and quantizes better. The
// division is an element-wise multiply by 1/s that qopt-fuse-elementwise
// folds into the producer (a LayerNorm's last generic, typically).
//
//===----------------------------------------------------------------------===//

#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>

namespace mlir::qopt {
#define GEN_PASS_DEF_SMOOTHQUANTPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

struct SmoothQuantPass : qopt::impl::SmoothQuantPassBase<SmoothQuantPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!(alpha >= 0.0 && alpha <= 1.0)) {
      module.emitError("qopt-smooth-quant: alpha must be in [0, 1], got ")
          << double(alpha);
      return signalPassFailure();
    }
    SmallVector<ObserveOp> observers;
    module.walk([&](ObserveOp op) {
      if (op.getKind() == ObserverKind::ChannelAbsMax)
        observers.push_back(op);
    });
    SetVector<Operation *> oldWeights;
    for (ObserveOp observer : observers)
      if (failed(smooth(observer, oldWeights)))
        return signalPassFailure();
    for (Operation *c : oldWeights)
      if (c->use_empty())
        c->erase();
  }

  LogicalResult smooth(ObserveOp observer, SetVector<Operation *> &oldWeights) {
    std::optional<ArrayRef<float>> stats = observer.getChannelAbsmax();
    if (!stats)
      return observer.emitOpError("qopt-smooth-quant: observer ")
             << observer.getId()
             << " has no channel statistics (run qopt-collect-statistics)";
    Value x = observer.getInput();
    auto xTy = cast<RankedTensorType>(x.getType());
    int64_t k = xTy.getShape().back();
    std::vector<float> xMax(stats->begin(), stats->end());
    // The consumers that can absorb s: linear layers with constant f32
    // [N, K] weights reading the activation.
    struct Consumer {
      LinearOp op;
      std::vector<float> w;
    };
    SmallVector<Consumer> consumers;
    for (OpOperand &use : observer->getUses())
      if (auto linear = dyn_cast<LinearOp>(use.getOwner()))
        if (use.getOperandNumber() == 0)
          if (auto w = constantF32Values(linear.getWeight());
              w && int64_t(xMax.size()) == k &&
              linear.getWeight().getType().hasStaticShape())
            consumers.push_back({linear, std::move(*w)});
    // Program order (use lists are not): names and blobs stay stable.
    llvm::stable_sort(consumers, [](const Consumer &a, const Consumer &b) {
      return a.op->getBlock() == b.op->getBlock() &&
             a.op->isBeforeInBlock(b.op);
    });
    if (consumers.empty()) {
      observer.getResult().replaceAllUsesWith(x);
      observer->erase();
      return success();
    }
    std::vector<float> wMax(size_t(k), 0.0f);
    for (const Consumer &c : consumers)
      for (size_t i = 0; i < c.w.size(); ++i)
        wMax[i % size_t(k)] = std::max(wMax[i % size_t(k)], std::fabs(c.w[i]));
    std::vector<float> s(size_t(k), 1.0f), inv(size_t(k), 1.0f);
    for (int64_t j = 0; j < k; ++j) {
      double a = xMax[size_t(j)], b = wMax[size_t(j)];
      double v = std::pow(a, double(alpha)) / std::pow(b, 1.0 - double(alpha));
      if (a > 0 && b > 0 && std::isfinite(v))
        s[size_t(j)] = float(std::clamp(v, 1e-5, 1e5));
      inv[size_t(j)] = 1.0f / s[size_t(j)];
    }

    OpBuilder b(observer);
    Location loc = observer.getLoc();
    MLIRContext *ctx = b.getContext();
    auto vecTy = RankedTensorType::get({k}, b.getF32Type());
    std::string base = consumers.front().op.getWeightName().value_or("x").str();
    auto invBlob =
        HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(inv));
    Value invS = arith::ConstantOp::create(
        b, loc,
        DenseResourceElementsAttr::get(vecTy, base + ".smooth_inverse_scale",
                                       std::move(invBlob)));
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < xTy.getRank(); ++d)
      if (xTy.isDynamicDim(d))
        dyn.push_back(tensor::DimOp::create(b, loc, x, d));
    Value empty = tensor::EmptyOp::create(b, loc, xTy.getShape(),
                                          xTy.getElementType(), dyn);
    int64_t rank = xTy.getRank();
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap last =
        AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx), ctx);
    Value smoothed =
        linalg::GenericOp::create(
            b, loc, xTy, ValueRange{x, invS}, ValueRange{empty},
            ArrayRef<AffineMap>{id, last, id},
            SmallVector<utils::IteratorType>(rank,
                                             utils::IteratorType::parallel),
            [](OpBuilder &nb, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  nb, l,
                  arith::MulFOp::create(nb, l, args[0], args[1]).getResult());
            })
            .getResult(0);

    for (Consumer &c : consumers) {
      for (size_t i = 0; i < c.w.size(); ++i)
        c.w[i] *= s[i % size_t(k)];
      auto wTy = cast<RankedTensorType>(c.op.getWeight().getType());
      std::string name =
          c.op.getWeightName().value_or("weight").str() + ".smoothed";
      OpBuilder wb(c.op);
      auto blob =
          HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<float>(c.w));
      Value w = arith::ConstantOp::create(
          wb, c.op.getLoc(),
          DenseResourceElementsAttr::get(wTy, name, std::move(blob)));
      oldWeights.insert(c.op.getWeight().getDefiningOp());
      c.op.getWeightMutable().assign(w);
      c.op.getInputMutable().assign(smoothed);
    }
    // Other consumers read the activation unchanged.
    observer.getResult().replaceAllUsesWith(x);
    observer->erase();
    return success();
  }
};

} // namespace
