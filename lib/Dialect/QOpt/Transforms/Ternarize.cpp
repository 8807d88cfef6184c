//===- Ternarize.cpp - ternary BitLinear rewriting (BitNet b1.58) ---------===//
//
// qopt.linear -> qopt.bitlinear: post-training absmean ternarization, or
// lossless rewriting of weights that are already ternary
// (docs/Quantization/Ternary.md; formulas in qopt/Support/Ternary.h).
//
//===----------------------------------------------------------------------===//

#include "BitLinearPattern.h"
#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Support/Ternary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Regex.h"

#include <algorithm>
#include <cmath>

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
    auto selected = [&](const std::string &name) {
      return !(!exclude.empty() && !name.empty() && excluded.match(name)) &&
             !(!include.empty() && !included.match(name));
    };
    SmallVector<LinearOp> layers;
    module.walk([&](LinearOp op) { layers.push_back(op); });
    for (LinearOp op : layers) {
      std::string name = cast<QuantizableLayerOpInterface>(*op).getLayerName();
      if (!selected(name))
        continue;
      if (failed(rewrite(op, name)))
        return signalPassFailure();
    }
    if (mode == TernaryMode::Lossless) {
      // The exporter's BitLinear subgraphs around a matmul.
      SmallVector<ExportedBitLinear> found;
      module.walk([&](linalg::GenericOp g) {
        if (std::optional<ExportedBitLinear> m = matchExportedBitLinear(g))
          found.push_back(*m);
      });
      bool rewrote = false;
      for (const ExportedBitLinear &m : found) {
        std::string name = exportedName(m);
        if (!selected(name))
          continue;
        FailureOr<bool> r = rewriteExported(m, name);
        if (failed(r))
          return signalPassFailure();
        rewrote |= *r;
      }
      // The quantization chains nothing reads any more.
      if (rewrote) {
        IRRewriter rewriter(module.getContext());
        for (Region &region : module->getRegions())
          (void)eraseUnreachableBlocks(rewriter, region);
        (void)runRegionDCE(rewriter, module->getRegions());
      }
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

  /// The weight's name (its dense_resource key) or the matmul's node name.
  static std::string exportedName(const ExportedBitLinear &m) {
    auto c = m.weight.getDefiningOp<arith::ConstantOp>();
    if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
      return r.getRawHandle().getKey().str();
    if (auto n = dyn_cast<NameLoc>(m.contraction->getLoc()))
      return n.getName().str();
    return "";
  }

  /// The exporter's BitLinear as qopt.bitlinear, computing what the float
  /// model computes: S = 1 / max(mean |w|, 1e-5) in f32 with the sum in
  /// the generated loops' order, t = clamp(round(w * S), -1, 1), and the
  /// model's effective weight t / S, so gamma = 1 / S (f32). The
  /// activation-quant chain, when present, becomes per_token_int8 (the same
  /// s and q); else the input stays float.
  FailureOr<bool> rewriteExported(const ExportedBitLinear &m,
                                  const std::string &layer) {
    linalg::GenericOp op = m.contraction;
    auto wTy = cast<RankedTensorType>(m.weight.getType());
    int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
    if (k % 4 != 0) {
      op.emitRemark("qopt-ternarize: BitLinear '")
          << layer << "' stays float: K = " << k << " is not a multiple of 4";
      return false;
    }
    std::optional<std::vector<float>> w = constantF32Values(m.weight);
    if (!w)
      return false;
    float sum = 0;
    for (float v : *w) {
      if (!std::isfinite(v))
        return op.emitOpError("qopt-ternarize: the weight of BitLinear '")
               << layer << "' is not finite";
      sum += std::fabs(v);
    }
    float scale = 1.0f / std::fmax(sum / float(n * k), 1e-5f);
    std::vector<int8_t> t(w->size());
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = int8_t(std::clamp(std::nearbyint((*w)[i] * scale), -1.0f, 1.0f));
    std::vector<uint8_t> packed = ::qopt::packTernary(t.data(), n, k);
    OpBuilder b(op);
    auto type = RankedTensorType::get({n, k / 4}, b.getI8Type());
    auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(
        reinterpret_cast<const int8_t *>(packed.data()), packed.size()));
    Value weight = arith::ConstantOp::create(
        b, op.getLoc(),
        DenseResourceElementsAttr::get(
            type, (layer.empty() ? "weight" : layer) + ".ternary",
            std::move(blob)));
    Value input = m.activation ? m.activation : m.input;
    auto bitlinear = BitLinearOp::create(
        b, op.getLoc(), op->getResult(0).getType(), input, weight, Value(),
        b.getF64FloatAttr(double(1.0f / scale)),
        BitLinearActivationAttr::get(
            b.getContext(), m.activation ? BitLinearActivation::PerTokenInt8
                                         : BitLinearActivation::None),
        layer.empty() ? StringAttr() : b.getStringAttr(layer));
    op->getResult(0).replaceAllUsesWith(bitlinear.getResult());
    op.erase();
    return true;
  }

  DenseMap<Value, Stored> cache;
  DenseSet<Value> notTernary;
  SetVector<Value> replaced;
};

} // namespace
