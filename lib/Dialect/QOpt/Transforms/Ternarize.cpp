//===- Ternarize.cpp - ternary BitLinear rewriting (BitNet b1.58) ---------===//
//
// qopt.linear -> qopt.bitlinear: post-training absmean ternarization, or
// lossless rewriting of weights that are already ternary
// (docs/Quantization/Ternary.md; formulas in qopt/Support/Ternary.h).
//
//===----------------------------------------------------------------------===//

#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Support/Ternary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Regex.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_TERNARIZEPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

struct TernarizePass : mlir::qopt::impl::TernarizePassBase<TernarizePass> {
  using Base::Base;

  /// A weight's ternary form, made once per weight constant.
  struct Stored {
    Value packed;
    double gamma = 0;
  };

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::Regex excluded(exclude), included(include);
    std::string regexError;
    for (auto [re, text, what] :
         {std::tuple{&excluded, std::string(exclude), "exclude"},
          std::tuple{&included, std::string(include), "include"}})
      if (!text.empty() && !re->isValid(regexError)) {
        module.emitError("qopt-ternarize: ")
            << what << " regex '" << text << "': " << regexError;
        return signalPassFailure();
      }
    SmallVector<LinearOp> layers;
    module.walk([&](LinearOp op) { layers.push_back(op); });
    for (LinearOp op : layers) {
      std::string name = cast<QuantizableLayerOpInterface>(*op).getLayerName();
      if (!exclude.empty() && !name.empty() && excluded.match(name))
        continue;
      if (!include.empty() && !included.match(name))
        continue;
      if (failed(rewrite(op, name)))
        return signalPassFailure();
    }
    for (Value w : replaced)
      if (auto c = w.getDefiningOp<arith::ConstantOp>(); c && c->use_empty())
        c->erase();
  }

  LogicalResult rewrite(LinearOp op, const std::string &layer) {
    auto wTy = cast<RankedTensorType>(op.getWeight().getType());
    auto leaveFloat = [&](const Twine &why) {
      op.emitRemark("qopt-ternarize: layer '")
          << layer << "' stays float: " << why;
      return success();
    };
    if (!op.getInput().getType().getElementType().isF32())
      return leaveFloat("its input is not f32");
    std::optional<std::vector<float>> w = constantF32Values(op.getWeight());
    if (!w || !wTy.hasStaticShape())
      return leaveFloat("its weight is not a constant f32 tensor of static "
                        "shape");
    int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
    if (k % 4 != 0)
      return leaveFloat("K = " + Twine(k) + " is not a multiple of 4");

    bool lossless = mode == TernaryMode::Lossless;
    if (notTernary.contains(op.getWeight()))
      return leaveFloat("its weight takes more than three values "
                        "{-g, 0, +g}");
    Stored &stored = cache[op.getWeight()];
    if (!stored.packed) {
      ::qopt::TernaryWeight t;
      if (lossless) {
        if (!::qopt::detectTernary(w->data(), n * k, t)) {
          for (float v : *w)
            if (!std::isfinite(v))
              return op.emitOpError("qopt-ternarize: the weight of layer '")
                     << layer << "' is not finite";
          notTernary.insert(op.getWeight());
          return leaveFloat("its weight takes more than three values "
                            "{-g, 0, +g}");
        }
      } else if (!::qopt::ternarizeAbsmean(w->data(), n * k, t)) {
        return op.emitOpError("qopt-ternarize: the weight of layer '")
               << layer << "' is not finite";
      }
      std::vector<uint8_t> packed = ::qopt::packTernary(t.values.data(), n, k);
      OpBuilder b(op);
      auto type = RankedTensorType::get({n, k / 4}, b.getI8Type());
      auto blob =
          HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(
              reinterpret_cast<const int8_t *>(packed.data()), packed.size()));
      std::string blobName = (layer.empty() ? "weight" : layer) + ".ternary";
      stored.packed = arith::ConstantOp::create(
          b, op.getWeight().getLoc(),
          DenseResourceElementsAttr::get(type, blobName, std::move(blob)));
      // Dominate every user of the weight: place it with the weight.
      if (Operation *def = op.getWeight().getDefiningOp())
        stored.packed.getDefiningOp()->moveAfter(def);
      stored.gamma = t.gamma;
    }

    OpBuilder b(op);
    BitLinearActivation act =
        lossless ? BitLinearActivation::None : BitLinearActivation(activation);
    auto bitlinear = BitLinearOp::create(
        b, op.getLoc(), op.getResult().getType(), op.getInput(), stored.packed,
        op.getBias(), b.getF64FloatAttr(stored.gamma),
        BitLinearActivationAttr::get(b.getContext(), act),
        op.getWeightNameAttr());
    // Discardable attributes (report ids, user tags) carry over.
    for (NamedAttribute attr : op->getDiscardableAttrs())
      bitlinear->setAttr(attr.getName(), attr.getValue());
    replaced.insert(op.getWeight());
    op.replaceAllUsesWith(bitlinear.getResult());
    op.erase();
    return success();
  }

  DenseMap<Value, Stored> cache;
  DenseSet<Value> notTernary;
  SetVector<Value> replaced;
};

} // namespace
