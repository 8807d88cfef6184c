//===- ShrinkStructured.cpp - remove pruned output channels ---------------===//
//
// A linear layer whose weight row j is all zero outputs the constant b_j
// (its bias, or 0) on channel j. When that output reaches the next linear
// layers only through element-wise ops, channel j contributes the constant
// e_j = chain(b_j) times the consumer's column j: the column is folded into
// the consumer's bias (b2 += W2[:, j] · e_j, in f64) and removed, and row j
// leaves the producer, the element-wise ops (and their per-channel
// constants) and every tensor in between. The result computes what the
// pruned model computed, with smaller tensors.
//
//===----------------------------------------------------------------------===//

#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace mlir::qopt {
#define GEN_PASS_DEF_SHRINKSTRUCTUREDPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// How a constant operand of an element-wise op reads channel j.
struct ChannelConstant {
  std::vector<float> values; // one per channel, or one (scalar / splat)
  bool perChannel = false;
  float at(int64_t j) const {
    return perChannel ? values[size_t(j)] : values[0];
  }
};

/// The chain from a producer to its consumers: element-wise generics in
/// program order and the linear layers reading the chain's values.
struct Chain {
  SmallVector<linalg::GenericOp> ops;
  DenseMap<Operation *, SmallVector<std::optional<ChannelConstant>>> constants;
  SmallVector<LinearOp> consumers;
};

/// Evaluates a scalar body op on doubles; nothing for an op it does not know.
std::optional<double> evalOp(Operation *op, ArrayRef<double> a) {
  return TypeSwitch<Operation *, std::optional<double>>(op)
      .Case([&](arith::AddFOp) { return a[0] + a[1]; })
      .Case([&](arith::SubFOp) { return a[0] - a[1]; })
      .Case([&](arith::MulFOp) { return a[0] * a[1]; })
      .Case([&](arith::DivFOp) { return a[0] / a[1]; })
      .Case([&](arith::NegFOp) { return -a[0]; })
      .Case([&](arith::MaximumFOp) { return std::max(a[0], a[1]); })
      .Case([&](arith::MinimumFOp) { return std::min(a[0], a[1]); })
      .Case([&](arith::MaxNumFOp) { return std::fmax(a[0], a[1]); })
      .Case([&](arith::MinNumFOp) { return std::fmin(a[0], a[1]); })
      .Case([&](math::ErfOp) { return std::erf(a[0]); })
      .Case([&](math::TanhOp) { return std::tanh(a[0]); })
      .Case([&](math::ExpOp) { return std::exp(a[0]); })
      .Case([&](math::SqrtOp) { return std::sqrt(a[0]); })
      .Case([&](math::RsqrtOp) { return 1.0 / std::sqrt(a[0]); })
      .Case([&](math::AbsFOp) { return std::fabs(a[0]); })
      .Case([&](math::LogOp) { return std::log(a[0]); })
      .Case([&](arith::ExtFOp) { return a[0]; })
      .Case([&](arith::TruncFOp) { return double(float(a[0])); })
      .Case([&](arith::SelectOp) { return a[0] != 0 ? a[1] : a[2]; })
      .Case([&](arith::CmpFOp c) -> std::optional<double> {
        double x = a[0], y = a[1];
        bool unordered = std::isnan(x) || std::isnan(y);
        switch (c.getPredicate()) {
        case arith::CmpFPredicate::OGT:
        case arith::CmpFPredicate::UGT:
          return double(x > y || (unordered && c.getPredicate() ==
                                                   arith::CmpFPredicate::UGT));
        case arith::CmpFPredicate::OGE:
        case arith::CmpFPredicate::UGE:
          return double(x >= y);
        case arith::CmpFPredicate::OLT:
        case arith::CmpFPredicate::ULT:
          return double(x < y);
        case arith::CmpFPredicate::OLE:
        case arith::CmpFPredicate::ULE:
          return double(x <= y);
        case arith::CmpFPredicate::OEQ:
        case arith::CmpFPredicate::UEQ:
          return double(x == y);
        case arith::CmpFPredicate::ONE:
        case arith::CmpFPredicate::UNE:
          return double(x != y);
        default:
          return std::nullopt;
        }
      })
      .Default([](Operation *) { return std::nullopt; });
}

struct ShrinkStructuredPass
    : qopt::impl::ShrinkStructuredPassBase<ShrinkStructuredPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LinearOp> layers;
    module.walk([&](LinearOp op) { layers.push_back(op); });
    for (LinearOp layer : layers)
      if (failed(shrink(layer)))
        return signalPassFailure();
  }

  /// A layer that stays dense: a remark, or an error with `strict`.
  LogicalResult refuse(LinearOp layer, const Twine &why) {
    std::string name = cast<QuantizableLayerOpInterface>(*layer).getLayerName();
    InFlightDiagnostic d = strict ? layer.emitOpError() : layer.emitRemark();
    d << "qopt-shrink-structured: cannot shrink layer '" << name
      << "': " << why;
    return strict ? failure() : success();
  }

  LogicalResult shrink(LinearOp layer) {
    auto wTy = layer.getWeight().getType();
    std::optional<std::vector<float>> w = constantF32Values(layer.getWeight());
    if (!w || !wTy.hasStaticShape())
      return success(); // not a constant weight: nothing pruned to remove
    int64_t rows = wTy.getDimSize(0), cols = wTy.getDimSize(1);
    std::vector<bool> dead(size_t(rows), false);
    int64_t deadCount = 0;
    for (int64_t r = 0; r < rows; ++r) {
      bool zero = true;
      for (int64_t c = 0; c < cols && zero; ++c)
        zero = (*w)[size_t(r * cols + c)] == 0.0f;
      dead[size_t(r)] = zero;
      deadCount += zero;
    }
    if (deadCount == 0)
      return success();
    if (deadCount == rows)
      return refuse(layer, "every output channel is zero");
    std::vector<float> bias(size_t(rows), 0.0f);
    if (Value b = layer.getBias()) {
      std::optional<std::vector<float>> bv = constantF32Values(b);
      if (!bv)
        return refuse(layer, "its bias is not a constant f32 tensor");
      bias = std::move(*bv);
    }
    auto outTy = layer.getResult().getType();
    if (outTy.isDynamicDim(outTy.getRank() - 1))
      return refuse(layer, "its output channel dimension is dynamic");

    // The chain: values derived from the layer's output through element-wise
    // ops, ending in linear layers' inputs.
    Chain chain;
    llvm::SetVector<Value> values;
    values.insert(layer.getResult());
    std::string why;
    // A user the chain cannot pass is reported after the chain's own ops
    // are checked: a residual add explains a later func.return better.
    std::string blocked;
    for (size_t i = 0; i < values.size(); ++i) {
      for (OpOperand &use : values[i].getUses()) {
        Operation *user = use.getOwner();
        if (auto lin = dyn_cast<LinearOp>(user)) {
          if (use.getOperandNumber() != 0 && blocked.empty())
            blocked = "its output is the weight or bias of '" +
                      lin->getName().getStringRef().str() + "'";
          if (use.getOperandNumber() == 0 &&
              !llvm::is_contained(chain.consumers, lin))
            chain.consumers.push_back(lin);
          continue;
        }
        // Sizes of the other (batch) dims stay what they were.
        if (auto dim = dyn_cast<tensor::DimOp>(user)) {
          std::optional<int64_t> index = dim.getConstantIndex();
          auto ty = cast<RankedTensorType>(values[i].getType());
          if (index && *index != ty.getRank() - 1)
            continue;
          if (blocked.empty())
            blocked = "the size of its channel dimension is read (tensor.dim)";
          continue;
        }
        auto generic = dyn_cast<linalg::GenericOp>(user);
        if (!generic) {
          if (blocked.empty()) {
            llvm::raw_string_ostream os(blocked);
            os << "its output reaches '" << user->getName()
               << "' (only element-wise ops and linear layers' inputs can be "
                  "shrunk through)";
          }
          continue;
        }
        if (llvm::is_contained(chain.ops, generic))
          continue;
        for (Value r : generic.getResults())
          values.insert(r);
        chain.ops.push_back(generic);
      }
    }
    for (linalg::GenericOp g : chain.ops)
      if (g->getBlock() != layer->getBlock())
        return refuse(layer, "an element-wise op is in another block");
    llvm::sort(chain.ops, [](linalg::GenericOp a, linalg::GenericOp b) {
      return a->isBeforeInBlock(b);
    });
    // Checked once the whole chain is known: an op may read two chain
    // values reached along different paths (GELU's x · (1 + erf(x/√2))).
    for (linalg::GenericOp g : chain.ops)
      if (failed(addElementwise(g, values, chain, why)))
        return refuse(layer, why);
    if (!blocked.empty())
      return refuse(layer, blocked);
    if (chain.consumers.empty())
      return refuse(layer, "its output reaches no linear layer");

    // The consumers' weights and biases.
    struct Consumer {
      LinearOp op;
      std::vector<float> w;
      std::vector<double> bias;
      int64_t rows;
    };
    SmallVector<Consumer> consumers;
    for (LinearOp c : chain.consumers) {
      auto cTy = c.getWeight().getType();
      std::optional<std::vector<float>> cw = constantF32Values(c.getWeight());
      if (!cw || !cTy.hasStaticShape())
        return refuse(layer,
                      "the weight of consumer '" +
                          cast<QuantizableLayerOpInterface>(*c).getLayerName() +
                          "' is not a constant f32 tensor");
      if (cTy.getDimSize(1) != rows)
        return refuse(layer, "a consumer's in_features differ from the "
                             "layer's out_features");
      Consumer k{c, std::move(*cw), {}, cTy.getDimSize(0)};
      k.bias.assign(size_t(k.rows), 0.0);
      if (Value b = c.getBias()) {
        std::optional<std::vector<float>> bv = constantF32Values(b);
        if (!bv)
          return refuse(layer, "a consumer's bias is not a constant");
        k.bias.assign(bv->begin(), bv->end());
      }
      consumers.push_back(std::move(k));
    }
    if (llvm::any_of(chain.consumers, [&](LinearOp c) {
          return values.contains(c.getResult());
        }))
      return refuse(layer, "a consumer is part of the chain");

    // e_j for every removed channel: the chain evaluated on b_j, per value.
    // Each consumer reads one chain value; its contribution is folded.
    for (int64_t j = 0; j < rows; ++j) {
      if (!dead[size_t(j)])
        continue;
      DenseMap<Value, double> at;
      at[layer.getResult()] = bias[size_t(j)];
      for (linalg::GenericOp g : chain.ops) {
        std::optional<SmallVector<double>> r = evalGeneric(g, chain, at, j);
        if (!r)
          return refuse(layer, "the element-wise op '" +
                                   g->getName().getStringRef().str() +
                                   "' holds an op that cannot be evaluated");
        for (auto [res, v] : llvm::zip(g.getResults(), *r))
          at[res] = v;
      }
      for (Consumer &k : consumers) {
        double e = at.lookup(k.op.getInput());
        if (!std::isfinite(e))
          return refuse(layer, "a removed channel's constant output is not "
                               "finite");
        if (e != 0)
          for (int64_t r = 0; r < k.rows; ++r)
            k.bias[size_t(r)] += double(k.w[size_t(r * rows + j)]) * e;
      }
    }

    // Rewrite: the producer, the chain, the consumers.
    int64_t kept = rows - deadCount;
    std::string name = cast<QuantizableLayerOpInterface>(*layer).getLayerName();
    if (name.empty())
      name = "weight";
    OpBuilder b(layer);
    Location loc = layer.getLoc();
    std::vector<float> newW, newB;
    for (int64_t r = 0; r < rows; ++r)
      if (!dead[size_t(r)]) {
        newW.insert(newW.end(), w->begin() + r * cols,
                    w->begin() + (r + 1) * cols);
        newB.push_back(bias[size_t(r)]);
      }
    auto f32 = b.getF32Type();
    Value oldWeight = layer.getWeight(), oldBias = layer.getBias();
    layer.getWeightMutable().assign(makeF32Constant(
        b, loc, oldWeight, RankedTensorType::get({kept, cols}, f32),
        name + ".shrunk", newW));
    if (oldBias)
      layer.getBiasMutable().assign(
          makeF32Constant(b, loc, oldBias, RankedTensorType::get({kept}, f32),
                          name + ".bias.shrunk", newB));
    auto shrinkType = [&](Type t) {
      auto r = cast<RankedTensorType>(t);
      SmallVector<int64_t> shape(r.getShape());
      shape.back() = kept;
      return RankedTensorType::get(shape, r.getElementType());
    };
    layer.getResult().setType(shrinkType(layer.getResult().getType()));
    if (auto s = cast<QuantizableLayerOpInterface>(*layer).getLayerSparsity())
      cast<QuantizableLayerOpInterface>(*layer).setLayerSparsity(
          SparsityAttr::get(b.getContext(), s.getMethod(), s.getGranularity(),
                            s.getN(), s.getM(), s.getTargetValue(),
                            zeroFraction(newW)));

    SmallVector<Operation *> dropped{oldWeight.getDefiningOp()};
    if (oldBias)
      dropped.push_back(oldBias.getDefiningOp());
    for (linalg::GenericOp g : chain.ops) {
      OpBuilder gb(g);
      auto &consts = chain.constants[g];
      for (auto [i, operand] : llvm::enumerate(g.getDpsInputOperands())) {
        std::optional<ChannelConstant> &c = consts[i];
        if (!c || !c->perChannel)
          continue;
        std::vector<float> sliced;
        for (int64_t j = 0; j < rows; ++j)
          if (!dead[size_t(j)])
            sliced.push_back(c->values[size_t(j)]);
        auto oldTy = cast<RankedTensorType>(operand->get().getType());
        SmallVector<int64_t> shape(oldTy.getShape());
        shape.back() = kept;
        dropped.push_back(operand->get().getDefiningOp());
        operand->set(makeF32Constant(gb, g.getLoc(), operand->get(),
                                     RankedTensorType::get(shape, f32),
                                     name + ".chain.shrunk", sliced));
      }
      for (OpOperand &init : g.getDpsInitsMutable()) {
        auto empty = init.get().getDefiningOp<tensor::EmptyOp>();
        auto ty = shrinkType(init.get().getType());
        Value fresh = tensor::EmptyOp::create(
            gb, g.getLoc(), ty.getShape(), ty.getElementType(),
            empty ? ValueRange(empty.getDynamicSizes()) : ValueRange());
        if (empty)
          dropped.push_back(empty);
        init.set(fresh);
      }
      for (Value r : g.getResults())
        r.setType(shrinkType(r.getType()));
    }
    for (Consumer &k : consumers) {
      std::vector<float> cw;
      cw.reserve(size_t(k.rows * kept));
      for (int64_t r = 0; r < k.rows; ++r)
        for (int64_t j = 0; j < rows; ++j)
          if (!dead[size_t(j)])
            cw.push_back(k.w[size_t(r * rows + j)]);
      std::string cname =
          cast<QuantizableLayerOpInterface>(*k.op).getLayerName();
      if (cname.empty())
        cname = "weight";
      OpBuilder kb(k.op);
      dropped.push_back(k.op.getWeight().getDefiningOp());
      k.op.getWeightMutable().assign(makeF32Constant(
          kb, k.op.getLoc(), k.op.getWeight(),
          RankedTensorType::get({k.rows, kept}, f32), cname + ".shrunk", cw));
      bool anyBias = k.op.getBias() ||
                     llvm::any_of(k.bias, [](double v) { return v != 0; });
      if (anyBias) {
        std::vector<float> nb(k.bias.begin(), k.bias.end());
        if (Value old = k.op.getBias())
          dropped.push_back(old.getDefiningOp());
        Value nbv = makeF32Constant(kb, k.op.getLoc(), k.op.getWeight(),
                                    RankedTensorType::get({k.rows}, f32),
                                    cname + ".bias.folded", nb);
        if (k.op.getBias())
          k.op.getBiasMutable().assign(nbv);
        else
          k.op.getBiasMutable().append(nbv);
      }
    }
    for (Operation *op : dropped)
      if (op && op->use_empty())
        op->erase();
    return success();
  }

  static double zeroFraction(const std::vector<float> &v) {
    if (v.empty())
      return 0;
    int64_t z = 0;
    for (float x : v)
      z += x == 0.0f;
    return double(z) / double(v.size());
  }

  /// Checks that `g` is element-wise over the chain's values (identity maps
  /// for them, parallel loops, inits not read) and records how it reads its
  /// constant operands.
  LogicalResult addElementwise(linalg::GenericOp g,
                               const llvm::SetVector<Value> &values,
                               Chain &chain, std::string &why) {
    std::string opName = g->getName().getStringRef().str();
    if (g.getNumReductionLoops() != 0) {
      why = "'" + opName + "' reduces over a dimension";
      return failure();
    }
    int64_t rank = g.getNumLoops();
    SmallVector<std::optional<ChannelConstant>> consts;
    for (OpOperand *in : g.getDpsInputOperands()) {
      AffineMap map = g.getMatchingIndexingMap(in);
      Value v = in->get();
      if (values.contains(v)) {
        if (!map.isIdentity()) {
          why = "'" + opName +
                "' does not read the layer's output "
                "element-wise (a transpose or broadcast)";
          return failure();
        }
        consts.push_back(std::nullopt);
        continue;
      }
      // A constant: a scalar, a splat, or a vector along the last dim.
      auto c = v.getDefiningOp<arith::ConstantOp>();
      auto ty = dyn_cast<RankedTensorType>(v.getType());
      if (!c || !ty) {
        why = "an operand of '" + opName +
              "' is neither derived from the layer's output nor a constant "
              "(a residual connection?)";
        return failure();
      }
      ChannelConstant cc;
      std::optional<std::vector<float>> vals;
      if (auto splat = dyn_cast<SplatElementsAttr>(c.getValue());
          splat && isa<FloatType>(splat.getElementType()))
        vals = std::vector<float>(
            size_t(ty.getNumElements()),
            float(splat.getSplatValue<APFloat>().convertToDouble()));
      else
        vals = constantValuesAsF32(v);
      if (!vals) {
        why = "a constant operand of '" + opName + "' is not f32";
        return failure();
      }
      AffineExpr channel = getAffineDimExpr(rank - 1, g.getContext());
      bool readsChannel = llvm::is_contained(map.getResults(), channel);
      if (!readsChannel && vals->size() == 1) {
        cc.values = std::move(*vals); // a scalar
      } else if (ty.getRank() == 1 && map.getNumResults() == 1 &&
                 map.getResult(0) == channel) {
        cc.values = std::move(*vals); // one value per channel
        cc.perChannel = true;
      } else {
        why = "a constant operand of '" + opName +
              "' varies along a dimension other than the channels";
        return failure();
      }
      consts.push_back(std::move(cc));
    }
    for (OpOperand &init : g.getDpsInitsMutable()) {
      if (g.payloadUsesValueFromOperand(&init)) {
        why = "'" + opName + "' reads its init tensor";
        return failure();
      }
      if (!g.getMatchingIndexingMap(&init).isIdentity()) {
        why = "'" + opName + "' does not write element-wise";
        return failure();
      }
    }
    chain.constants[g] = std::move(consts);
    return success();
  }

  /// The results of `g` at channel `j`, given its chain operands' values.
  std::optional<SmallVector<double>> evalGeneric(linalg::GenericOp g,
                                                 Chain &chain,
                                                 DenseMap<Value, double> &at,
                                                 int64_t j) {
    Block &body = g.getRegion().front();
    DenseMap<Value, double> env;
    auto &consts = chain.constants[g];
    for (auto [i, in] : llvm::enumerate(g.getDpsInputOperands())) {
      double v = consts[i] ? double(consts[i]->at(j)) : at.lookup(in->get());
      env[body.getArgument(in->getOperandNumber())] = v;
    }
    auto lookup = [&](Value v) -> std::optional<double> {
      if (auto it = env.find(v); it != env.end())
        return it->second;
      if (auto c = v.getDefiningOp<arith::ConstantOp>())
        if (auto f = dyn_cast<FloatAttr>(c.getValue()))
          return f.getValueAsDouble();
      return std::nullopt;
    };
    for (Operation &op : body.without_terminator()) {
      if (auto c = dyn_cast<arith::ConstantOp>(op)) {
        auto f = dyn_cast<FloatAttr>(c.getValue());
        if (!f)
          return std::nullopt;
        env[c.getResult()] = f.getValueAsDouble();
        continue;
      }
      SmallVector<double> args;
      for (Value operand : op.getOperands()) {
        std::optional<double> v = lookup(operand);
        if (!v)
          return std::nullopt;
        args.push_back(*v);
      }
      if (op.getNumResults() != 1)
        return std::nullopt;
      std::optional<double> r = evalOp(&op, args);
      if (!r)
        return std::nullopt;
      env[op.getResult(0)] = *r;
    }
    SmallVector<double> out;
    for (Value y : body.getTerminator()->getOperands()) {
      std::optional<double> v = lookup(y);
      if (!v)
        return std::nullopt;
      out.push_back(*v);
    }
    return out;
  }
};

} // namespace
