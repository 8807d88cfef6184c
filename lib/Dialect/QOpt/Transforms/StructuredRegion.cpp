//===- StructuredRegion.cpp - where a layer's output channels go ----------===//
//
// A worklist over (tensor, dimension) pairs, forward through uses and
// backward through definitions: a linalg op joins with the loop that the
// dimension is; every operand indexing that loop joins too (another branch
// of an add, the other side of a batched matmul), so that the whole region
// removes the same units. A reshape that splits the channels into
// [heads, head_dim] makes a unit a whole head: the search restarts with
// fewer, larger units.
//
//===----------------------------------------------------------------------===//

#include "StructuredRegion.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt;

int64_t StructuredRegion::groupOf(Value v) const {
  auto it = values.find(v);
  if (it == values.end())
    return 1;
  return cast<RankedTensorType>(v.getType()).getDimSize(it->second) / units;
}

bool StructuredRegion::grouped() const {
  return llvm::any_of(values, [&](const auto &e) {
    return cast<RankedTensorType>(e.first.getType()).getDimSize(e.second) !=
           units;
  });
}

bool StructuredRegion::elementwise() const {
  for (Operation *op : ops) {
    auto g = dyn_cast<linalg::GenericOp>(op);
    if (!g || g.getNumReductionLoops() != 0)
      return false;
    for (OpOperand &o : g->getOpOperands())
      if (values.contains(o.get()) &&
          !g.getMatchingIndexingMap(&o).isIdentity())
        return false;
  }
  return true;
}

std::vector<float> mlir::qopt::sliceUnits(ArrayRef<float> values,
                                          ArrayRef<int64_t> shape, int64_t dim,
                                          int64_t group,
                                          const std::vector<bool> &removed) {
  int64_t outer = 1, inner = 1, n = shape[size_t(dim)];
  for (int64_t d = 0; d < dim; ++d)
    outer *= shape[size_t(d)];
  for (size_t d = size_t(dim) + 1; d < shape.size(); ++d)
    inner *= shape[d];
  std::vector<float> out;
  out.reserve(values.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      if (!removed[size_t(i / group)])
        out.insert(out.end(), values.begin() + (o * n + i) * inner,
                   values.begin() + (o * n + i + 1) * inner);
  return out;
}

namespace {

struct Finder {
  int64_t units = 0;
  Block *block = nullptr;
  StructuredRegion r;
  std::string why;
  int64_t coarsenTo = 0;
  SmallVector<std::pair<Value, int64_t>> work;
  DenseMap<Operation *, int64_t> opLoop;

  bool fail(const Twine &reason) {
    if (why.empty())
      why = reason.str();
    return false;
  }

  static std::string name(Operation *op) {
    return "'" + op->getName().getStringRef().str() + "'";
  }

  bool add(Value v, int64_t dim) {
    auto ty = dyn_cast<RankedTensorType>(v.getType());
    if (!ty)
      return fail("its channels reach a value that is not a ranked tensor");
    if (ty.isDynamicDim(dim))
      return fail("its channels run along a dynamic dimension of a tensor");
    if (ty.getDimSize(dim) % units != 0)
      return fail("a tensor holds its channels along a dimension of " +
                  Twine(ty.getDimSize(dim)) + ", not a multiple of " +
                  Twine(units));
    auto it = r.values.find(v);
    if (it != r.values.end()) {
      if (it->second != dim)
        return fail("a tensor carries its channels along two dimensions");
      return true;
    }
    r.values.insert({v, dim});
    work.push_back({v, dim});
    return true;
  }

  /// The group of `reassoc` holding `dim` of the expanded side.
  static std::optional<std::pair<int64_t, ReassociationIndices>>
  groupOf(ArrayRef<ReassociationIndices> reassoc, int64_t dim) {
    for (auto [i, g] : llvm::enumerate(reassoc))
      if (llvm::is_contained(g, dim))
        return std::pair{int64_t(i), g};
    return std::nullopt;
  }

  /// From an expanded dim to the collapsed one: the dims before it in its
  /// group must be 1 (the dim is the outermost of the group).
  bool merge(RankedTensorType expanded, ArrayRef<ReassociationIndices> reassoc,
             int64_t dim, Value collapsed, Operation *op) {
    auto g = groupOf(reassoc, dim);
    if (!g)
      return fail("a reshape has no group for a dimension");
    for (int64_t d : g->second) {
      if (d == dim)
        break;
      if (expanded.getDimSize(d) != 1)
        return fail(name(op) + " merges its channels as an inner dimension");
    }
    return add(collapsed, g->first);
  }

  /// From the collapsed dim to one of its group's expanded dims: the
  /// outermost dim that is not 1, when a unit is a whole number of its
  /// indices; otherwise the units become that dim's indices (heads).
  bool split(RankedTensorType expanded, ArrayRef<ReassociationIndices> reassoc,
             int64_t collapsedDim, int64_t size, Value expandedValue,
             Operation *op) {
    const ReassociationIndices &g = reassoc[size_t(collapsedDim)];
    size_t r = 0;
    while (r + 1 < g.size() && expanded.getDimSize(g[r]) == 1)
      ++r;
    int64_t inner = 1;
    for (size_t d = r + 1; d < g.size(); ++d) {
      if (expanded.isDynamicDim(g[d]))
        return fail(name(op) +
                    " splits its channels with a dynamic inner size");
      inner *= expanded.getDimSize(g[d]);
    }
    int64_t group = size / units;
    if (group % inner == 0)
      return add(expandedValue, g[r]);
    if (inner % group == 0 && !expanded.isDynamicDim(g[r])) {
      coarsenTo = expanded.getDimSize(g[r]);
      return fail("restart");
    }
    return fail(name(op) + " splits its channels into groups of " +
                Twine(inner) + " that do not align with whole units");
  }

  bool linalgOp(linalg::LinalgOp op, int64_t loop) {
    auto it = opLoop.find(op);
    if (it != opLoop.end())
      return it->second == loop ||
             fail(name(op) + " reads its channels along two loops");
    opLoop[op] = loop;
    r.ops.push_back(op);
    if (op->getBlock() != block)
      return fail(name(op) + " is in another block");
    if (op.getIteratorTypesArray()[size_t(loop)] !=
        utils::IteratorType::parallel)
      return fail(
          name(op) +
          " reduces over its channels (a normalization's mean or variance, a "
          "softmax or a contraction over the channels): removing channels "
          "would change what the kept ones compute");
    bool readsIndex = false;
    op->walk([&](linalg::IndexOp idx) {
      readsIndex |= int64_t(idx.getDim()) == loop;
    });
    if (readsIndex)
      return fail(name(op) + " reads the channel index (linalg.index)");
    for (OpOperand &o : op->getOpOperands()) {
      AffineMap map = op.getMatchingIndexingMap(&o);
      SmallVector<int64_t> at;
      for (auto [k, e] : llvm::enumerate(map.getResults())) {
        if (auto d = dyn_cast<AffineDimExpr>(e)) {
          if (int64_t(d.getPosition()) == loop)
            at.push_back(int64_t(k));
        } else if (e.isFunctionOfDim(loop)) {
          return fail(name(op) + " indexes its channels with an expression");
        }
      }
      if (at.empty())
        continue; // broadcast along the units: the same for every unit
      if (at.size() > 1)
        return fail(name(op) + " reads an operand along its channels twice");
      Value v = o.get();
      auto ty = dyn_cast<RankedTensorType>(v.getType());
      if (!ty || ty.isDynamicDim(at[0]) || ty.getDimSize(at[0]) % units)
        return fail(name(op) + " has an operand that does not split evenly");
      if (v.getDefiningOp<tensor::EmptyOp>()) {
        r.leaves.push_back({&o, at[0]});
        continue;
      }
      if (auto c = v.getDefiningOp<arith::ConstantOp>()) {
        if (!ty.getElementType().isF32() || !ty.hasStaticShape())
          return fail("a constant operand of " + name(op) +
                      " along its channels is not a static f32 tensor");
        r.leaves.push_back({&o, at[0]});
        continue;
      }
      if (!add(v, at[0]))
        return false;
    }
    for (auto [i, res] : llvm::enumerate(op->getResults())) {
      AffineMap map = op.getIndexingMapMatchingResult(cast<OpResult>(res));
      for (auto [k, e] : llvm::enumerate(map.getResults()))
        if (auto d = dyn_cast<AffineDimExpr>(e);
            d && int64_t(d.getPosition()) == loop && !add(res, int64_t(k)))
          return false;
    }
    return true;
  }

  static std::optional<int64_t> loopOf(linalg::LinalgOp op, OpOperand &o,
                                       int64_t dim) {
    AffineMap map = op.getMatchingIndexingMap(&o);
    if (auto d = dyn_cast<AffineDimExpr>(map.getResult(unsigned(dim))))
      return int64_t(d.getPosition());
    return std::nullopt;
  }

  bool process(Value v, int64_t dim) {
    auto ty = cast<RankedTensorType>(v.getType());
    int64_t last = ty.getRank() - 1;
    // Where the tensor comes from.
    if (auto arg = dyn_cast<BlockArgument>(v))
      return fail("its channels meet argument #" + Twine(arg.getArgNumber()) +
                  " of the function (a residual connection from the model "
                  "input?): a channel can only go where every tensor it "
                  "meets drops it");
    Operation *def = v.getDefiningOp();
    if (auto lin = dyn_cast<LinearOp>(def)) {
      if (dim != last)
        return fail(
            "a linear layer produces its channels along a batch dimension");
      if (!llvm::is_contained(r.producers, lin))
        r.producers.push_back(lin);
    } else if (auto op = dyn_cast<linalg::LinalgOp>(def)) {
      AffineMap map = op.getIndexingMapMatchingResult(cast<OpResult>(v));
      auto d = dyn_cast<AffineDimExpr>(map.getResult(unsigned(dim)));
      if (!d)
        return fail(name(op) + " writes its channels with an expression");
      if (!linalgOp(op, int64_t(d.getPosition())))
        return false;
    } else if (auto obs = dyn_cast<ObserveOp>(def)) {
      // An observer (Wanda's statistics) passes the tensor through.
      if (!add(obs.getInput(), dim))
        return false;
    } else if (auto e = dyn_cast<tensor::ExpandShapeOp>(def)) {
      if (!llvm::is_contained(r.ops, def))
        r.ops.push_back(def);
      if (!merge(e.getResultType(), e.getReassociationIndices(), dim,
                 e.getSrc(), def))
        return false;
    } else if (auto c = dyn_cast<tensor::CollapseShapeOp>(def)) {
      if (!llvm::is_contained(r.ops, def))
        r.ops.push_back(def);
      if (!split(c.getSrcType(), c.getReassociationIndices(), dim,
                 ty.getDimSize(dim), c.getSrc(), def))
        return false;
    } else {
      return fail("its channels come from " + name(def));
    }
    // Where it goes.
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (auto lin = dyn_cast<LinearOp>(user)) {
        if (use.getOperandNumber() != 0)
          return fail("its channels are the weight or bias of a linear layer");
        if (dim != last)
          return fail(
              "a linear layer reads its channels along a batch dimension");
        if (!llvm::is_contained(r.consumers, lin))
          r.consumers.push_back(lin);
        continue;
      }
      if (auto op = dyn_cast<linalg::LinalgOp>(user)) {
        std::optional<int64_t> loop = loopOf(op, use, dim);
        if (!loop)
          return fail(name(op) + " reads its channels with an expression");
        if (!linalgOp(op, *loop))
          return false;
        continue;
      }
      if (auto obs = dyn_cast<ObserveOp>(user)) {
        if (!add(obs.getResult(), dim))
          return false;
        continue;
      }
      if (auto e = dyn_cast<tensor::ExpandShapeOp>(user)) {
        if (!llvm::is_contained(r.ops, user))
          r.ops.push_back(user);
        if (!split(e.getResultType(), e.getReassociationIndices(), dim,
                   ty.getDimSize(dim), e.getResult(), user))
          return false;
        continue;
      }
      if (auto c = dyn_cast<tensor::CollapseShapeOp>(user)) {
        if (!llvm::is_contained(r.ops, user))
          r.ops.push_back(user);
        if (!merge(c.getSrcType(), c.getReassociationIndices(), dim,
                   c.getResult(), user))
          return false;
        continue;
      }
      if (auto d = dyn_cast<tensor::DimOp>(user)) {
        std::optional<int64_t> index = d.getConstantIndex();
        if (index && *index != dim)
          continue;
        return fail("the size of the channel dimension is read (tensor.dim)");
      }
      return fail("its channels reach " + name(user) +
                  " (only element-wise ops, transposes, reshapes, ops that "
                  "keep the channels a parallel dimension and linear layers' "
                  "inputs can be shrunk through)");
    }
    return true;
  }

  bool run(LinearOp seed) {
    auto ty = cast<RankedTensorType>(seed.getResult().getType());
    if (!add(seed.getResult(), ty.getRank() - 1))
      return false;
    while (!work.empty()) {
      auto [v, dim] = work.pop_back_val();
      if (!process(v, dim))
        return false;
    }
    llvm::sort(r.ops, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    return true;
  }
};

} // namespace

FailureOr<StructuredRegion> mlir::qopt::findStructuredRegion(LinearOp layer,
                                                             std::string &why) {
  auto ty = cast<RankedTensorType>(layer.getResult().getType());
  if (ty.isDynamicDim(ty.getRank() - 1)) {
    why = "its output channel dimension is dynamic";
    return failure();
  }
  int64_t units = ty.getDimSize(ty.getRank() - 1);
  for (int attempt = 0; attempt < 8; ++attempt) {
    Finder f;
    f.units = units;
    f.block = layer->getBlock();
    f.r.units = units;
    if (f.run(layer)) {
      for (Operation *op : f.r.ops)
        if (op->getBlock() != layer->getBlock()) {
          why = "an op of the region is in another block";
          return failure();
        }
      return std::move(f.r);
    }
    if (f.coarsenTo > 0 && f.coarsenTo < units && units % f.coarsenTo == 0) {
      units = f.coarsenTo;
      continue;
    }
    why = f.why;
    return failure();
  }
  why = "the channel grouping does not settle";
  return failure();
}
