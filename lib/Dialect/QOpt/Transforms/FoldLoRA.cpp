//===- FoldLoRA.cpp - merge LoRA adapters into linear weights -------------===//
//
// W' = W + Σ_i scale_i · B_i · A_i, summed in f64 over every adapter stacked
// on a layer and rounded once to the weight's f32: the merged model has no
// adapter op and costs what the base costs.
//
//===----------------------------------------------------------------------===//

#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_FOLDLORAPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The adapters stacked on `linear`'s result, innermost first: each reads
/// the previous one's result as its base and the layer's input as input.
SmallVector<LoRAOp> adapterChain(LinearOp linear) {
  SmallVector<LoRAOp> chain;
  Value v = linear.getResult();
  while (v.hasOneUse()) {
    auto lora = dyn_cast<LoRAOp>(*v.getUsers().begin());
    if (!lora || lora.getBase() != v || lora.getInput() != linear.getInput() ||
        lora.getSelector())
      break;
    chain.push_back(lora);
    v = lora.getResult();
  }
  return chain;
}

/// The values of a constant f32 weight in the same form as `like` (inline
/// dense for dense, a dense_resource blob named `name` otherwise).
Value weightConstant(OpBuilder &b, Location loc, Value like,
                     ArrayRef<float> values, StringRef name) {
  auto type = cast<RankedTensorType>(like.getType());
  auto c = like.getDefiningOp<arith::ConstantOp>();
  if (c && isa<DenseElementsAttr>(c.getValue()))
    return arith::ConstantOp::create(b, loc,
                                     DenseElementsAttr::get(type, values));
  auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(values);
  return arith::ConstantOp::create(
      b, loc, DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

struct FoldLoRAPass : mlir::qopt::impl::FoldLoRAPassBase<FoldLoRAPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LinearOp> layers;
    module.walk([&](LinearOp op) { layers.push_back(op); });
    for (LinearOp linear : layers)
      if (failed(fold(linear)))
        return signalPassFailure();
    // What is left could not be merged: say why, for each.
    WalkResult left = module.walk([&](LoRAOp lora) {
      auto base = lora.getBase().getDefiningOp<QuantizableLayerOpInterface>();
      InFlightDiagnostic diag = lora.emitOpError("qopt-fold-lora: adapter '")
                                << lora.getAdapter() << "' cannot be merged: ";
      if (lora.getSelector())
        diag << "it is switched per call (adapter_index "
             << *lora.getAdapterIndex() << "); switched adapters stay unmerged";
      else if (!base)
        diag << "its base is not the result of a layer";
      else if (!isa<LinearOp>(base))
        diag << "its layer is a '" << base->getName()
             << "', only qopt.linear weights are merged";
      else if (lora.getInput() != base.getLayerInput())
        diag << "it does not read its layer's input";
      else
        diag << "the layer's weight is not a constant f32 tensor, or the "
                "adapter's matrices are not constants";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }

  LogicalResult fold(LinearOp linear) {
    SmallVector<LoRAOp> chain = adapterChain(linear);
    if (chain.empty())
      return success();
    std::optional<std::vector<float>> w = constantF32Values(linear.getWeight());
    auto wTy = linear.getWeight().getType();
    if (!w || !wTy.hasStaticShape() ||
        int64_t(w->size()) != wTy.getNumElements())
      return success(); // reported as unmerged
    int64_t out = wTy.getDimSize(0), in = wTy.getDimSize(1);
    std::vector<double> merged(w->begin(), w->end());
    for (LoRAOp lora : chain) {
      // f16/bf16 storage is widened exactly (then everything in f64).
      std::optional<std::vector<float>> a =
          constantValuesAsF32(lora.getLoraA());
      std::optional<std::vector<float>> bm =
          constantValuesAsF32(lora.getLoraB());
      if (!a || !bm ||
          int64_t(a->size()) != lora.getLoraA().getType().getNumElements() ||
          int64_t(bm->size()) != lora.getLoraB().getType().getNumElements())
        return success(); // reported as unmerged
      int64_t r = lora.getLoraA().getType().getDimSize(0);
      double scale = lora.getScale().convertToDouble();
      // merged[o, i] += scale · Σ_j B[o, j] · A[j, i], in f64.
      for (int64_t o = 0; o < out; ++o)
        for (int64_t j = 0; j < r; ++j) {
          double bs = scale * double((*bm)[size_t(o * r + j)]);
          if (bs == 0)
            continue;
          const float *arow = a->data() + j * in;
          double *mrow = merged.data() + o * in;
          for (int64_t i = 0; i < in; ++i)
            mrow[i] += bs * double(arow[i]);
        }
    }
    std::vector<float> rounded(merged.size());
    for (size_t i = 0; i < merged.size(); ++i) {
      rounded[i] = float(merged[i]);
      if (!std::isfinite(rounded[i]))
        return chain.front().emitOpError("qopt-fold-lora: the merged weight "
                                         "of '")
               << linear.getLayerWeightName() << "' is not finite (element "
               << i << ")";
    }
    std::string name = linear.getWeightName().value_or("weight").str();
    for (LoRAOp lora : chain)
      name += "+" + lora.getAdapter().str();
    OpBuilder b(linear);
    Value weight =
        weightConstant(b, linear.getLoc(), linear.getWeight(), rounded, name);
    Operation *old = linear.getWeight().getDefiningOp();
    linear.getWeightMutable().assign(weight);
    if (old->use_empty())
      old->erase();
    // The merged layer stands for the whole chain.
    chain.back().getResult().replaceAllUsesWith(linear.getResult());
    for (LoRAOp lora : llvm::reverse(chain)) {
      Operation *a = lora.getLoraA().getDefiningOp();
      Operation *bOp = lora.getLoraB().getDefiningOp();
      lora->erase();
      for (Operation *c : {a, bOp})
        if (c && c->use_empty())
          c->erase();
    }
    return success();
  }
};

} // namespace
