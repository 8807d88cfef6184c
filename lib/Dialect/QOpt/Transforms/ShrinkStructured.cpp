//===- ShrinkStructured.cpp - remove pruned channels, heads, neurons ------===//
//
// The structured region of a linear layer's output channels
// (StructuredRegion.h) runs from the layers producing them (rows) to those
// reducing over them (columns), through ops that keep them a parallel
// dimension, in units of a channel or a whole attention head. A unit goes
// when every consumer's columns of it are zero (it adds nothing), or when
// every producer's rows of it are zero and the region is element-wise: it
// is then the constant e_u = chain(b_u) of the producers' biases, and
// W2[:, u] · e_u is folded into the consumers' biases (f64). Its rows leave
// the producers, its slices every tensor, empty and constant of the region
// and the reshapes' sizes, its columns the consumers. The result computes
// what the pruned model computed, with smaller tensors.
//
//===----------------------------------------------------------------------===//

#include "StructuredRegion.h"
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

  /// A linear layer's constant weight [rows, cols] and bias.
  struct Loaded {
    LinearOp op;
    std::string name;
    std::vector<float> w;
    std::vector<float> bias;    // empty: none
    std::vector<double> folded; // a consumer's bias plus folded terms
    int64_t rows = 0, cols = 0;
  };

  static std::string layerName(LinearOp op) {
    std::string name = cast<QuantizableLayerOpInterface>(*op).getLayerName();
    return name.empty() ? std::string("weight") : name;
  }

  /// The layer's weight and bias, or `why` they are not constants.
  static std::optional<Loaded> load(LinearOp op, bool isConsumer,
                                    std::string &why) {
    Loaded l;
    l.op = op;
    l.name = layerName(op);
    auto ty = op.getWeight().getType();
    std::optional<std::vector<float>> w = constantF32Values(op.getWeight());
    if (!w || !ty.hasStaticShape()) {
      why = std::string("the weight of ") +
            (isConsumer ? "consumer" : "producer") + " '" + l.name +
            "' is not a constant f32 tensor";
      return std::nullopt;
    }
    l.w = std::move(*w);
    l.rows = ty.getDimSize(0);
    l.cols = ty.getDimSize(1);
    if (Value b = op.getBias()) {
      std::optional<std::vector<float>> bv = constantF32Values(b);
      if (!bv) {
        why = isConsumer
                  ? "a consumer's bias is not a constant"
                  : "the bias of '" + l.name + "' is not a constant f32 tensor";
        return std::nullopt;
      }
      l.bias = std::move(*bv);
    }
    return l;
  }

  LogicalResult shrink(LinearOp layer) {
    auto wTy = layer.getWeight().getType();
    std::optional<std::vector<float>> w = constantF32Values(layer.getWeight());
    if (!w || !wTy.hasStaticShape())
      return success(); // not a constant weight: nothing pruned to remove
    int64_t rows = wTy.getDimSize(0), cols = wTy.getDimSize(1);
    int64_t deadCount = 0;
    for (int64_t r = 0; r < rows; ++r) {
      bool zero = true;
      for (int64_t c = 0; c < cols && zero; ++c)
        zero = (*w)[size_t(r * cols + c)] == 0.0f;
      deadCount += zero;
    }
    if (deadCount == 0)
      return success();
    if (deadCount == rows)
      return refuse(layer, "every output channel is zero");
    if (Value b = layer.getBias(); b && !constantF32Values(b))
      return refuse(layer, "its bias is not a constant f32 tensor");

    std::string why;
    FailureOr<StructuredRegion> found = findStructuredRegion(layer, why);
    if (failed(found))
      return refuse(layer, why);
    StructuredRegion &region = *found;
    if (region.consumers.empty())
      return refuse(layer, "its output reaches no linear layer");
    int64_t units = region.units;

    SmallVector<Loaded> producers, consumers;
    for (LinearOp p : region.producers) {
      std::optional<Loaded> l = load(p, /*isConsumer=*/false, why);
      if (!l)
        return refuse(layer, why);
      producers.push_back(std::move(*l));
    }
    for (LinearOp c : region.consumers) {
      if (region.values.contains(c.getResult()))
        return refuse(layer, "a consumer is part of the chain");
      std::optional<Loaded> l = load(c, /*isConsumer=*/true, why);
      if (!l)
        return refuse(layer, why);
      consumers.push_back(std::move(*l));
    }

    // A unit is dead in the producers when every row of it is zero in
    // every producer (its value is then a constant of the biases), and in
    // the consumers when every column of it is zero in every consumer (its
    // value, whatever it is, adds nothing).
    std::vector<bool> producerDead(size_t(units), true),
        consumerDead(size_t(units), true);
    for (const Loaded &p : producers) {
      int64_t g = p.rows / units;
      for (int64_t u = 0; u < units; ++u)
        for (int64_t r = u * g; r < (u + 1) * g && producerDead[size_t(u)]; ++r)
          for (int64_t c = 0; c < p.cols; ++c)
            if (p.w[size_t(r * p.cols + c)] != 0.0f) {
              producerDead[size_t(u)] = false;
              break;
            }
    }
    for (const Loaded &k : consumers) {
      int64_t g = k.cols / units;
      for (int64_t u = 0; u < units; ++u)
        for (int64_t r = 0; r < k.rows && consumerDead[size_t(u)]; ++r)
          for (int64_t c = u * g; c < (u + 1) * g; ++c)
            if (k.w[size_t(r * k.cols + c)] != 0.0f) {
              consumerDead[size_t(u)] = false;
              break;
            }
    }
    // Units dead in the producers only: their constant is folded into the
    // consumers' biases, which needs an element-wise chain to evaluate.
    bool needsFold = false;
    for (int64_t u = 0; u < units; ++u)
      needsFold |= producerDead[size_t(u)] && !consumerDead[size_t(u)];
    Chain chain;
    std::string foldWhy;
    if (needsFold) {
      if (!region.elementwise() || region.grouped()) {
        foldWhy =
            "its zero channels reach an op that is not element-wise (such as "
            "attention), so their constant output cannot be folded into the "
            "next layer: prune whole heads (granularity=heads zeroes the "
            "output projection's columns too)";
      } else {
        llvm::SetVector<Value> values;
        for (auto &e : region.values)
          values.insert(e.first);
        for (Operation *op : region.ops) {
          auto g = cast<linalg::GenericOp>(op);
          chain.ops.push_back(g);
          if (failed(addElementwise(g, values, chain, foldWhy)))
            break;
        }
      }
    }
    bool foldable = needsFold && foldWhy.empty();
    std::vector<bool> removed(size_t(units), false);
    int64_t removedCount = 0;
    for (int64_t u = 0; u < units; ++u) {
      removed[size_t(u)] =
          consumerDead[size_t(u)] || (producerDead[size_t(u)] && foldable);
      removedCount += removed[size_t(u)];
    }
    if (removedCount == 0) {
      if (region.grouped()) {
        int64_t g = rows / units;
        bool whole = false;
        for (int64_t u = 0; u < units && !whole; ++u) {
          bool all = true;
          for (int64_t r = u * g; r < (u + 1) * g && all; ++r)
            for (int64_t c = 0; c < cols && all; ++c)
              all = (*w)[size_t(r * cols + c)] == 0.0f;
          whole = all;
        }
        if (!whole)
          return refuse(layer, "its zero rows are not whole units: a reshape "
                               "groups its " +
                                   Twine(rows) + " channels into " +
                                   Twine(units) + " units of " + Twine(g) +
                                   " (attention heads); prune whole heads "
                                   "(granularity=heads)");
      }
      if (!foldWhy.empty())
        return refuse(layer, foldWhy);
      std::string others;
      for (const Loaded &p : producers)
        if (p.op != layer)
          others += (others.empty() ? "'" : ", '") + p.name + "'";
      return refuse(
          layer, "its zero channels are not zero in " +
                     (others.empty() ? std::string("the consumers") : others) +
                     ", which meet them in the same ops (prune the "
                     "layers together: granularity=neurons or heads)");
    }
    if (removedCount == units)
      return refuse(layer, "every unit of its channels would be removed");

    // e_u of each folded unit: the chain on the producers' biases.
    for (int64_t u = 0; u < units; ++u) {
      if (!removed[size_t(u)] || consumerDead[size_t(u)])
        continue;
      DenseMap<Value, double> at;
      for (Loaded &p : producers)
        at[p.op.getResult()] = p.bias.empty() ? 0.0 : p.bias[size_t(u)];
      for (linalg::GenericOp g : chain.ops) {
        std::optional<SmallVector<double>> r = evalGeneric(g, chain, at, u);
        if (!r)
          return refuse(layer, "the element-wise op '" +
                                   g->getName().getStringRef().str() +
                                   "' holds an op that cannot be evaluated");
        for (auto [res, v] : llvm::zip(g.getResults(), *r))
          at[res] = v;
      }
      for (Loaded &k : consumers) {
        double e = at.lookup(k.op.getInput());
        if (!std::isfinite(e))
          return refuse(layer, "a removed channel's constant output is not "
                               "finite");
        if (e == 0)
          continue;
        if (k.folded.empty()) {
          k.folded.assign(size_t(k.rows), 0.0);
          for (size_t r = 0; r < k.bias.size(); ++r)
            k.folded[r] = k.bias[r];
        }
        // f64 sums of the folded terms, rounded once.
        for (int64_t r = 0; r < k.rows; ++r)
          k.folded[size_t(r)] += double(k.w[size_t(r * k.cols + u)]) * e;
      }
    }

    // Rewrite: producers' rows, the region's tensors and leaves, consumers'
    // columns.
    int64_t kept = units - removedCount;
    auto f32 = Float32Type::get(layer.getContext());
    auto shrunkType = [&](Value v, int64_t dim) {
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> shape(t.getShape());
      shape[size_t(dim)] = shape[size_t(dim)] / units * kept;
      return RankedTensorType::get(shape, t.getElementType());
    };
    SmallVector<Operation *> dropped;
    for (Loaded &p : producers) {
      int64_t g = p.rows / units;
      std::vector<float> newW =
          sliceUnits(p.w, {p.rows, p.cols}, 0, g, removed);
      OpBuilder pb(p.op);
      Value oldW = p.op.getWeight(), oldB = p.op.getBias();
      dropped.push_back(oldW.getDefiningOp());
      p.op.getWeightMutable().assign(
          makeF32Constant(pb, p.op.getLoc(), oldW,
                          RankedTensorType::get({kept * g, p.cols}, f32),
                          p.name + ".shrunk", newW));
      if (oldB) {
        dropped.push_back(oldB.getDefiningOp());
        p.op.getBiasMutable().assign(makeF32Constant(
            pb, p.op.getLoc(), oldB, RankedTensorType::get({kept * g}, f32),
            p.name + ".bias.shrunk",
            sliceUnits(p.bias, {p.rows}, 0, g, removed)));
      }
      auto iface = cast<QuantizableLayerOpInterface>(*p.op);
      if (auto s = iface.getLayerSparsity())
        iface.setLayerSparsity(SparsityAttr::get(
            p.op.getContext(), s.getMethod(), s.getGranularity(), s.getN(),
            s.getM(), s.getTargetValue(), zeroFraction(newW)));
    }
    for (auto [operand, dim] : region.leaves) {
      Value v = operand->get();
      auto ty = cast<RankedTensorType>(v.getType());
      RankedTensorType nt = shrunkType(v, dim);
      OpBuilder lb(operand->getOwner());
      Location loc = operand->getOwner()->getLoc();
      if (auto empty = v.getDefiningOp<tensor::EmptyOp>()) {
        operand->set(tensor::EmptyOp::create(lb, loc, nt.getShape(),
                                             nt.getElementType(),
                                             empty.getDynamicSizes()));
        dropped.push_back(empty);
        continue;
      }
      std::optional<std::vector<float>> vals = constantValuesAsF32(v);
      if (!vals)
        return layer.emitOpError("qopt-shrink-structured: internal error: a "
                                 "region constant has no f32 values");
      int64_t g = ty.getDimSize(dim) / units;
      dropped.push_back(v.getDefiningOp());
      Value sliced =
          makeF32Constant(lb, loc, v, nt, layerName(layer) + ".chain.shrunk",
                          sliceUnits(*vals, ty.getShape(), dim, g, removed));
      // How it was sliced, for the ONNX export: the axis counted from the
      // end (ONNX broadcasts right-aligned), its old size, the kept indices.
      SmallVector<int64_t> keptIdx;
      for (int64_t i = 0; i < ty.getDimSize(dim); ++i)
        if (!removed[size_t(i / g)])
          keptIdx.push_back(i);
      sliced.getDefiningOp()->setAttr(
          "qopt.shrunk",
          lb.getDictionaryAttr(
              {lb.getNamedAttr("axis_from_end",
                               lb.getI64IntegerAttr(ty.getRank() - 1 - dim)),
               lb.getNamedAttr("size",
                               lb.getI64IntegerAttr(ty.getDimSize(dim))),
               lb.getNamedAttr("kept", lb.getDenseI64ArrayAttr(keptIdx))}));
      operand->set(sliced);
    }
    for (auto &[v, dim] : region.values)
      v.setType(shrunkType(v, dim));
    for (Operation *op : region.ops)
      if (auto e = dyn_cast<tensor::ExpandShapeOp>(op)) {
        SmallVector<int64_t> shape(e.getResultType().getShape());
        e.setStaticOutputShape(shape);
      }
    for (Loaded &k : consumers) {
      int64_t g = k.cols / units;
      std::vector<float> cw = sliceUnits(k.w, {k.rows, k.cols}, 1, g, removed);
      OpBuilder kb(k.op);
      Value oldW = k.op.getWeight();
      dropped.push_back(oldW.getDefiningOp());
      k.op.getWeightMutable().assign(
          makeF32Constant(kb, k.op.getLoc(), oldW,
                          RankedTensorType::get({k.rows, kept * g}, f32),
                          k.name + ".shrunk", cw));
      auto iface = cast<QuantizableLayerOpInterface>(*k.op);
      if (auto s = iface.getLayerSparsity())
        iface.setLayerSparsity(SparsityAttr::get(
            k.op.getContext(), s.getMethod(), s.getGranularity(), s.getN(),
            s.getM(), s.getTargetValue(), zeroFraction(cw)));
      if (k.folded.empty())
        continue;
      k.bias.assign(k.folded.begin(), k.folded.end());
      Value nbv = makeF32Constant(kb, k.op.getLoc(), oldW,
                                  RankedTensorType::get({k.rows}, f32),
                                  k.name + ".bias.folded", k.bias);
      if (Value old = k.op.getBias()) {
        dropped.push_back(old.getDefiningOp());
        k.op.getBiasMutable().assign(nbv);
      } else {
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
