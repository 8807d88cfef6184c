//===- Prune.cpp - magnitude and Wanda pruning of layer weights -----------===//
//
// Each selected layer's constant weight gets a score per element (|W|, or
// Wanda's |W_ij| · ||X_j||₂ with ||X_j||² from a channel_sumsq observer),
// and the smallest scores become 0 by the chosen granularity; the selection
// math is qopt/Support/Pruning.h (ties: the smaller index goes first). The
// pattern is recorded on the layer as #qopt.sparsity.
//
//===----------------------------------------------------------------------===//

#include "PruneUnits.h"
#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Support/Pruning.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace mlir::qopt {
#define GEN_PASS_DEF_PRUNEPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// A layer to prune: its weight viewed as [rows, inChannels, inner] (a
/// linear weight [N, K] as [N, K, 1], a convolution filter [F, C, KH, KW]
/// as [F, C, KH·KW]) and its scores in the same order.
struct Layer {
  QuantizableLayerOpInterface op;
  std::string name;
  RankedTensorType type;
  std::vector<float> weight;
  std::vector<double> scores;
  int64_t rows = 0, inChannels = 0, inner = 0;
  int64_t rowSize() const { return inChannels * inner; }
};

struct PrunePass : mlir::qopt::impl::PrunePassBase<PrunePass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerQuantizableLayerExternalModels(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkOptions(module)))
      return signalPassFailure();
    llvm::Regex excluded(exclude), included(include);

    SmallVector<Layer> layers;
    SmallVector<QuantizableLayerOpInterface> candidates;
    module.walk([&](QuantizableLayerOpInterface layer) {
      if (!layer.isQuantizedLayer())
        candidates.push_back(layer);
    });
    for (QuantizableLayerOpInterface op : candidates) {
      std::string name = op.getLayerName();
      if (!exclude.empty() && !name.empty() && excluded.match(name))
        continue;
      if (!include.empty() && !included.match(name))
        continue;
      FailureOr<std::optional<Layer>> layer = load(op, name);
      if (failed(layer))
        return signalPassFailure();
      if (*layer)
        layers.push_back(std::move(**layer));
    }

    // The masks, by granularity (and scope).
    SmallVector<std::vector<bool>> masks;
    if (granularity == SparsityGranularity::Heads ||
        granularity == SparsityGranularity::Neurons) {
      pruneUnits(layers);
    } else if (granularity == SparsityGranularity::Unstructured &&
               scope == PruneScope::Global) {
      std::vector<double> all;
      for (const Layer &l : layers)
        all.insert(all.end(), l.scores.begin(), l.scores.end());
      std::vector<bool> mask =
          ::qopt::unstructuredMask(all, 1, int64_t(all.size()), sparsity,
                                   /*perRow=*/false);
      size_t at = 0;
      for (const Layer &l : layers) {
        masks.emplace_back(mask.begin() + at,
                           mask.begin() + at + l.scores.size());
        at += l.scores.size();
      }
    } else {
      for (const Layer &l : layers) {
        if (granularity == SparsityGranularity::Unstructured) {
          masks.push_back(
              ::qopt::unstructuredMask(l.scores, l.rows, l.rowSize(), sparsity,
                                       /*perRow=*/scope == PruneScope::Row));
        } else if (granularity == SparsityGranularity::NM) {
          masks.push_back(
              ::qopt::nmMask(l.scores, l.rows, l.inChannels, l.inner, n, m));
        } else {
          std::vector<bool> rows =
              ::qopt::channelMask(l.scores, l.rows, l.rowSize(), sparsity);
          std::vector<bool> mask(l.scores.size(), false);
          for (int64_t r = 0; r < l.rows; ++r)
            if (rows[size_t(r)])
              std::fill(mask.begin() + r * l.rowSize(),
                        mask.begin() + (r + 1) * l.rowSize(), true);
          masks.push_back(std::move(mask));
        }
      }
    }

    SetVector<Operation *> oldWeights;
    for (auto [l, mask] : llvm::zip(layers, masks))
      apply(l, mask, oldWeights);
    for (Operation *c : oldWeights)
      if (c->use_empty())
        c->erase();
    // The Wanda statistics are consumed.
    module.walk([](ObserveOp op) {
      if (op.getKind() != ObserverKind::ChannelSumSq)
        return;
      op.getResult().replaceAllUsesWith(op.getInput());
      op.erase();
    });
  }

  /// granularity=heads|neurons (PruneUnits.h): only the layers of a unit
  /// region change (and get the attribute); the units' producers lose
  /// their bias entries too.
  void pruneUnits(SmallVectorImpl<Layer> &layers) {
    SmallVector<UnitLayer> units;
    SmallVector<Layer *> of;
    for (Layer &l : layers)
      if (auto lin = dyn_cast<LinearOp>(l.op.getOperation())) {
        UnitLayer u;
        u.op = lin;
        u.scores = &l.scores;
        u.rows = l.rows;
        u.cols = l.rowSize();
        units.push_back(std::move(u));
        of.push_back(&l);
      }
    bool heads = granularity == SparsityGranularity::Heads;
    selectUnits(units, heads, sparsity);
    if (!units.empty() &&
        llvm::none_of(units, [](const UnitLayer &u) { return u.involved; }))
      units.front().op.emitWarning("qopt-prune: granularity=")
          << (heads ? "heads found no attention heads (output channels "
                      "that a reshape splits into heads on their way to "
                      "the next linear layer)"
                    : "neurons found no MLP neurons (output channels that "
                      "reach the next linear layer through element-wise "
                      "ops)")
          << " among the selected layers: nothing is pruned";
    SetVector<Operation *> old;
    for (auto [u, l] : llvm::zip(units, of)) {
      if (!u.involved)
        continue;
      apply(*l, u.mask, old);
      Value bias = u.op.getBias();
      std::optional<std::vector<float>> b =
          bias ? constantF32Values(bias) : std::nullopt;
      if (!b || llvm::none_of(u.biasMask, [](bool m) { return m; }))
        continue;
      for (size_t r = 0; r < b->size(); ++r)
        if (u.biasMask[r])
          (*b)[r] = 0.0f;
      OpBuilder builder(u.op);
      old.insert(bias.getDefiningOp());
      u.op.getBiasMutable().assign(makeF32Constant(
          builder, u.op.getLoc(), bias, cast<RankedTensorType>(bias.getType()),
          l->name + ".bias.pruned", *b));
    }
    for (Operation *c : old)
      if (c->use_empty())
        c->erase();
  }

  LogicalResult checkOptions(ModuleOp module) {
    if (granularity != SparsityGranularity::NM &&
        !(sparsity >= 0.0 && sparsity < 1.0)) {
      module.emitError("qopt-prune: sparsity must be in [0, 1), got ")
          << double(sparsity);
      return failure();
    }
    if (granularity == SparsityGranularity::NM && !(n >= 1 && n < m)) {
      module.emitError("qopt-prune: an n:m pattern needs 1 <= n < m, got ")
          << int64_t(n) << ":" << int64_t(m);
      return failure();
    }
    if (scope != PruneScope::Layer &&
        granularity != SparsityGranularity::Unstructured) {
      module.emitError("qopt-prune: scope=")
          << stringifyPruneScope(scope)
          << " is for granularity=unstructured, not "
          << stringifySparsityGranularity(granularity);
      return failure();
    }
    std::string regexError;
    for (auto [text, what] : {std::pair{std::string(exclude), "exclude"},
                              std::pair{std::string(include), "include"}})
      if (!text.empty() && !llvm::Regex(text).isValid(regexError)) {
        module.emitError("qopt-prune: ")
            << what << " regex '" << text << "': " << regexError;
        return failure();
      }
    return success();
  }

  /// The layer's weight and scores; nothing for a layer whose weight is not
  /// a constant f32 tensor of static shape (it stays as it is).
  FailureOr<std::optional<Layer>> load(QuantizableLayerOpInterface op,
                                       const std::string &name) {
    auto type = dyn_cast<RankedTensorType>(op.getLayerWeight().getType());
    std::optional<std::vector<float>> w =
        constantF32Values(op.getLayerWeight());
    if (!w || !type || !type.hasStaticShape() ||
        (type.getRank() != 2 && type.getRank() != 4))
      return std::optional<Layer>();
    Layer l;
    l.op = op;
    l.name = name.empty() ? std::string("weight") : name;
    l.type = type;
    l.weight = std::move(*w);
    l.rows = type.getDimSize(0);
    l.inChannels = type.getDimSize(1);
    l.inner = type.getRank() == 4 ? type.getDimSize(2) * type.getDimSize(3) : 1;
    for (float v : l.weight)
      if (!std::isfinite(v))
        return op.emitOpError("qopt-prune: the weight of layer '")
               << name << "' is not finite";
    // As NVIDIA's ASP does, a layer whose reduction dimension does not
    // split into groups of m (a first convolution over 3 colour channels)
    // stays dense.
    if (granularity == SparsityGranularity::NM && l.inChannels % m != 0) {
      op.emitWarning("qopt-prune: ")
          << int64_t(n) << ":" << int64_t(m) << " needs a reduction "
          << "dimension that is a multiple of " << int64_t(m) << "; layer '"
          << name << "' has " << l.inChannels << " and stays dense";
      return std::optional<Layer>();
    }

    std::vector<double> norms(size_t(l.inChannels), 1.0);
    if (method == PruneMethod::Wanda) {
      auto observer = op.getLayerInput().getDefiningOp<ObserveOp>();
      std::optional<ArrayRef<double>> sums;
      if (observer && observer.getKind() == ObserverKind::ChannelSumSq)
        sums = observer.getChannelSumsq();
      if (!sums)
        return op.emitOpError("qopt-prune: method=wanda needs the input's "
                              "per-channel sum of squares for layer '")
               << name
               << "' (a channel_sumsq observer with statistics: "
                  "qopt-insert-observers{kind=channel_sumsq} then "
                  "qopt-collect-statistics; quant-compile --prune=wanda:S "
                  "needs --calibration-data DIR)";
      if (int64_t(sums->size()) != l.inChannels)
        return op.emitOpError("qopt-prune: layer '")
               << name << "' has " << l.inChannels
               << " input channels but its channel_sumsq observer "
               << observer.getId() << " holds " << sums->size();
      for (int64_t j = 0; j < l.inChannels; ++j)
        norms[size_t(j)] = std::sqrt((*sums)[size_t(j)]);
    }
    l.scores.resize(l.weight.size());
    for (size_t i = 0; i < l.weight.size(); ++i) {
      int64_t channel = int64_t(i) / l.inner % l.inChannels;
      l.scores[i] = std::fabs(double(l.weight[i])) * norms[size_t(channel)];
    }
    return std::optional<Layer>(std::move(l));
  }

  void apply(Layer &l, const std::vector<bool> &mask,
             SetVector<Operation *> &oldWeights) {
    int64_t zeros = 0;
    for (size_t i = 0; i < l.weight.size(); ++i) {
      if (mask[i])
        l.weight[i] = 0.0f;
      zeros += l.weight[i] == 0.0f;
    }
    double target = granularity == SparsityGranularity::NM
                        ? double(m - n) / double(m)
                        : double(sparsity);
    bool nm = granularity == SparsityGranularity::NM;
    MLIRContext *ctx = l.op->getContext();
    l.op.setLayerSparsity(SparsityAttr::get(
        ctx, method, granularity, nm ? int64_t(n) : 0, nm ? int64_t(m) : 0,
        target, double(zeros) / double(l.weight.size())));

    OpBuilder b(l.op);
    OpOperand &operand = l.op.getLayerWeightOperand();
    Value w = makeF32Constant(b, l.op->getLoc(), operand.get(), l.type,
                              l.name + ".pruned", l.weight);
    oldWeights.insert(operand.get().getDefiningOp());
    operand.set(w);
  }
};

} // namespace
