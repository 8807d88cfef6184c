//===- ConstantFolding.cpp - evaluate small constant subgraphs ------------===//

#include "ConstantFolding.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

using namespace mlir;

namespace {

/// The dense value of `v` when it is a small constant, else null.
DenseElementsAttr smallDense(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return {};
  auto type = dyn_cast<RankedTensorType>(c.getType());
  if (!type || !type.hasStaticShape() ||
      type.getNumElements() > qopt::onnx_import::kMaxEvaluatedElements)
    return {};
  if (auto d = dyn_cast<DenseElementsAttr>(c.getValue()))
    return d;
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue())) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    bool splat = false;
    if (blob && !type.getElementType().isInteger(1) &&
        DenseElementsAttr::isValidRawBuffer(type, blob->getData(), splat))
      return DenseElementsAttr::getFromRawBuffer(type, blob->getData());
  }
  return {};
}

/// The scalar attributes of `attr` in row-major order.
SmallVector<Attribute> elementsOf(DenseElementsAttr attr) {
  return llvm::to_vector(attr.getValues<Attribute>());
}

/// Row-major flat index of `idx` in `shape`.
int64_t flatten(ArrayRef<int64_t> idx, ArrayRef<int64_t> shape) {
  int64_t f = 0;
  for (auto [i, s] : llvm::zip(idx, shape))
    f = f * s + i;
  return f;
}

/// Interprets a linalg.generic over constant operands; null if an operand
/// is not a small constant or a body op cannot be folded.
DenseElementsAttr evaluateGeneric(linalg::GenericOp op) {
  if (op.getNumResults() != 1 || op.getNumDpsInits() != 1)
    return {};
  auto outTy = dyn_cast<RankedTensorType>(op.getResult(0).getType());
  if (!outTy || !outTy.hasStaticShape() ||
      outTy.getNumElements() > qopt::onnx_import::kMaxEvaluatedElements)
    return {};
  SmallVector<SmallVector<Attribute>> operands;
  SmallVector<ArrayRef<int64_t>> shapes;
  Block &body = op.getRegion().front();
  for (OpOperand &operand : op->getOpOperands()) {
    auto ty = cast<RankedTensorType>(operand.get().getType());
    DenseElementsAttr d = smallDense(operand.get());
    bool isInit = op.isDpsInit(&operand);
    if (!d && isInit && op.getMatchingBlockArgument(&operand).use_empty() &&
        ty.hasStaticShape()) {
      // An unread init (tensor.empty): start from zeros of its type.
      d = DenseElementsAttr::get(
          ty, OpBuilder(op).getZeroAttr(ty.getElementType()));
    }
    if (!d) {
      // A linalg.fill of a constant scalar is a splat.
      if (auto fill = operand.get().getDefiningOp<linalg::FillOp>())
        if (auto cst = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>())
          if (ty.hasStaticShape())
            d = DenseElementsAttr::get(ty, cst.getValue());
    }
    if (!d)
      return {};
    operands.push_back(elementsOf(d));
    shapes.push_back(ty.getShape());
  }
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t iterations = 1;
  for (int64_t r : ranges) {
    if (ShapedType::isDynamic(r))
      return {};
    iterations *= r;
  }
  if (iterations > 16 * qopt::onnx_import::kMaxEvaluatedElements)
    return {};
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  unsigned outIdx = op.getNumDpsInputs();
  SmallVector<Attribute> &out = operands[outIdx];
  SmallVector<int64_t> point(ranges.size(), 0);
  DenseMap<Value, Attribute> env;
  for (int64_t it = 0; it < iterations; ++it) {
    env.clear();
    for (auto [i, arg] : llvm::enumerate(body.getArguments())) {
      SmallVector<int64_t> idx = maps[i].compose(point);
      env[arg] = operands[i][flatten(idx, shapes[i])];
    }
    Attribute result;
    for (Operation &inner : body.without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        env[index.getResult()] =
            IntegerAttr::get(index.getType(), point[index.getDim()]);
        continue;
      }
      SmallVector<Attribute> args;
      for (Value v : inner.getOperands()) {
        Attribute a = env.lookup(v);
        if (!a) {
          // Values from outside the body: constants.
          if (auto c = v.getDefiningOp<arith::ConstantOp>())
            a = c.getValue();
          else
            return {};
        }
        args.push_back(a);
      }
      SmallVector<OpFoldResult> folded;
      if (inner.getNumResults() != 1 || failed(inner.fold(args, folded)) ||
          folded.size() != 1)
        return {};
      if (auto a = dyn_cast<Attribute>(folded[0]))
        env[inner.getResult(0)] = a;
      else if (Attribute same = env.lookup(cast<Value>(folded[0])))
        env[inner.getResult(0)] = same;
      else
        return {};
    }
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    result = env.lookup(yield.getOperand(0));
    if (!result) {
      if (auto c = yield.getOperand(0).getDefiningOp<arith::ConstantOp>())
        result = c.getValue();
      else
        return {};
    }
    out[flatten(maps[outIdx].compose(point), shapes[outIdx])] = result;
    for (int64_t d = static_cast<int64_t>(point.size()) - 1; d >= 0; --d) {
      if (++point[d] < ranges[d])
        break;
      point[d] = 0;
    }
  }
  // Folders may give attributes of a different but compatible kind (an
  // index for an i64): rebuild with the element type.
  Type et = outTy.getElementType();
  for (Attribute &a : out) {
    if (auto i = dyn_cast<IntegerAttr>(a); i && i.getType() != et) {
      if (!isa<IntegerType>(et))
        return {};
      a = IntegerAttr::get(
          et, i.getValue().sextOrTrunc(cast<IntegerType>(et).getWidth()));
    } else if (auto f = dyn_cast<FloatAttr>(a); f && f.getType() != et) {
      return {};
    } else if (!isa<IntegerAttr, FloatAttr>(a)) {
      return {};
    }
  }
  return DenseElementsAttr::get(outTy, out);
}

/// Multi-index of `flat` in `shape` (row-major).
SmallVector<int64_t> unflatten(int64_t flat, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> idx(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return idx;
}

/// The flat index, in a source of shape `srcShape`, of element `e`
/// (row-major over `sizes`) of the source's static slice.
int64_t sliceSourceIndex(int64_t e, ArrayRef<int64_t> offsets,
                         ArrayRef<int64_t> sizes, ArrayRef<int64_t> strides,
                         ArrayRef<int64_t> srcShape) {
  SmallVector<int64_t> idx = unflatten(e, sizes);
  for (size_t d = 0; d < idx.size(); ++d)
    idx[d] = offsets[d] + idx[d] * strides[d];
  return flatten(idx, srcShape);
}

/// Reshapes, casts, static slices and concatenations of small constants
/// (Shape -> Gather -> Unsqueeze -> Concat, as PyTorch exports reshapes).
DenseElementsAttr evaluateTensorOp(Operation *op) {
  auto resTy = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!resTy || !resTy.hasStaticShape())
    return {};
  if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::CastOp>(op)) {
    DenseElementsAttr src = smallDense(op->getOperand(0));
    return src ? src.reshape(resTy) : DenseElementsAttr();
  }
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
    DenseElementsAttr src = smallDense(slice.getSource());
    if (!src || ShapedType::isDynamicShape(slice.getStaticOffsets()) ||
        ShapedType::isDynamicShape(slice.getStaticSizes()) ||
        ShapedType::isDynamicShape(slice.getStaticStrides()))
      return {};
    ArrayRef<int64_t> offsets = slice.getStaticOffsets(),
                      sizes = slice.getStaticSizes(),
                      strides = slice.getStaticStrides();
    ArrayRef<int64_t> srcShape = slice.getSourceType().getShape();
    SmallVector<Attribute> in = elementsOf(src), out;
    for (int64_t e = 0, n = ShapedType::getNumElements(sizes); e < n; ++e)
      out.push_back(in[sliceSourceIndex(e, offsets, sizes, strides, srcShape)]);
    return DenseElementsAttr::get(resTy, out);
  }
  if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
    int64_t dim = int64_t(concat.getDim());
    SmallVector<SmallVector<Attribute>> ins;
    SmallVector<int64_t> starts;
    int64_t at = 0;
    for (Value v : concat.getInputs()) {
      DenseElementsAttr d = smallDense(v);
      if (!d)
        return {};
      ins.push_back(elementsOf(d));
      starts.push_back(at);
      at += cast<RankedTensorType>(v.getType()).getDimSize(dim);
    }
    SmallVector<Attribute> out;
    for (int64_t e = 0, n = resTy.getNumElements(); e < n; ++e) {
      SmallVector<int64_t> idx = unflatten(e, resTy.getShape());
      size_t k = starts.size() - 1;
      while (idx[dim] < starts[k])
        --k;
      idx[dim] -= starts[k];
      auto inTy = cast<RankedTensorType>(concat.getInputs()[k].getType());
      out.push_back(ins[k][flatten(idx, inTy.getShape())]);
    }
    return DenseElementsAttr::get(resTy, out);
  }
  return {};
}

/// The row-major bytes of constant `v` of any size (one element's when
/// `splat`), for ops that only move elements; null data when `v` is not a
/// constant with byte-sized int or float elements.
struct RawConstant {
  ArrayRef<char> data;
  bool splat = false;
};
RawConstant rawConstant(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  auto type = c ? dyn_cast<RankedTensorType>(c.getType()) : nullptr;
  if (!type || !type.hasStaticShape() ||
      !type.getElementType().isIntOrFloat() ||
      type.getElementType().getIntOrFloatBitWidth() % 8 != 0)
    return {};
  int64_t bytes = type.getElementType().getIntOrFloatBitWidth() / 8;
  if (auto d = dyn_cast<DenseElementsAttr>(c.getValue()))
    return {d.getRawData(), d.isSplat()};
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
    if (AsmResourceBlob *blob = r.getRawHandle().getBlob())
      if (int64_t(blob->getData().size()) == type.getNumElements() * bytes)
        return {blob->getData(), false};
  return {};
}

/// Static slices and concatenations of constants too large for
/// evaluateTensorOp (weights: an LSTM's gates reordered by Slice + Concat,
/// as PyTorch exports them), on their bytes: a weight left computed is
/// copied on every call and cannot be packed or quantized.
/// A reshape of a folded constant of any size: its data under the new
/// shape, so that the weight reads as a constant to its consumers (an
/// LSTM's W behind an Unsqueeze).
TypedAttr reshapeLargeConstant(Operation *op) {
  if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op))
    return {};
  auto resTy = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  auto c = op->getOperand(0).getDefiningOp<arith::ConstantOp>();
  if (!resTy || !resTy.hasStaticShape() || !c)
    return {};
  // Only inline constants (what moveLargeConstant makes): a reshaped
  // initializer (dense_resource) stays a view of it, the chain by which
  // quantization names the weight after its initializer
  // (test_weight_chains.py).
  if (auto d = dyn_cast<DenseElementsAttr>(c.getValue()))
    return d.reshape(resTy);
  return {};
}

DenseElementsAttr moveLargeConstant(Operation *op) {
  if (!isa<tensor::ExtractSliceOp, tensor::ConcatOp>(op) ||
      op->getNumResults() != 1)
    return {};
  auto resTy = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!resTy || !resTy.hasStaticShape() ||
      resTy.getNumElements() > qopt::onnx_import::kMaxMovedElements ||
      !resTy.getElementType().isIntOrFloat() ||
      resTy.getElementType().getIntOrFloatBitWidth() % 8 != 0)
    return {};
  const int64_t bytes = resTy.getElementType().getIntOrFloatBitWidth() / 8;
  SmallVector<RawConstant> ins;
  for (Value v : op->getOperands()) {
    if (!isa<RankedTensorType>(v.getType()))
      return {}; // dynamic sizes or offsets
    ins.push_back(rawConstant(v));
    if (ins.back().data.empty())
      return {};
  }
  std::vector<char> out(size_t(resTy.getNumElements() * bytes));
  // Element `i` of input `k` (its first element when splat).
  auto at = [&](size_t k, int64_t i) {
    return ins[k].data.data() + (ins[k].splat ? 0 : i * bytes);
  };
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
    ArrayRef<int64_t> offsets = slice.getStaticOffsets(),
                      sizes = slice.getStaticSizes(),
                      strides = slice.getStaticStrides();
    if (ShapedType::isDynamicShape(offsets) ||
        ShapedType::isDynamicShape(sizes) ||
        ShapedType::isDynamicShape(strides))
      return {};
    ArrayRef<int64_t> srcShape = slice.getSourceType().getShape();
    for (int64_t e = 0, n = ShapedType::getNumElements(sizes); e < n; ++e)
      std::memcpy(out.data() + e * bytes,
                  at(0, sliceSourceIndex(e, offsets, sizes, strides, srcShape)),
                  size_t(bytes));
    return DenseElementsAttr::getFromRawBuffer(resTy, out);
  }
  auto concat = cast<tensor::ConcatOp>(op);
  // Row-major: for every index over the dims before `dim`, each input's
  // block of (its size along dim) x (the dims after) in turn.
  int64_t dim = int64_t(concat.getDim()), outer = 1, inner = 1;
  for (int64_t d = 0; d < resTy.getRank(); ++d) {
    if (d < dim)
      outer *= resTy.getDimSize(d);
    else if (d > dim)
      inner *= resTy.getDimSize(d);
  }
  char *to = out.data();
  for (int64_t o = 0; o < outer; ++o)
    for (auto [k, v] : llvm::enumerate(concat.getInputs())) {
      int64_t block =
          cast<RankedTensorType>(v.getType()).getDimSize(dim) * inner;
      for (int64_t i = 0; i < block; ++i, to += bytes)
        std::memcpy(to, at(k, o * block + i), size_t(bytes));
    }
  return DenseElementsAttr::getFromRawBuffer(resTy, out);
}

/// Folds an op with a folder when its operands are small constants.
std::optional<SmallVector<Attribute>> evaluateByFolder(Operation *op) {
  if (op->getNumResults() == 0 || op->getNumRegions() != 0)
    return std::nullopt;
  SmallVector<Attribute> args;
  for (Value v : op->getOperands()) {
    DenseElementsAttr d = smallDense(v);
    if (!d && isa<TensorType>(v.getType()))
      return std::nullopt;
    if (d) {
      args.push_back(d);
      continue;
    }
    auto c = v.getDefiningOp<arith::ConstantOp>();
    if (!c)
      return std::nullopt;
    args.push_back(c.getValue());
  }
  SmallVector<OpFoldResult> folded;
  if (failed(op->fold(args, folded)) || folded.size() != op->getNumResults())
    return std::nullopt;
  SmallVector<Attribute> out;
  for (OpFoldResult r : folded) {
    auto a = dyn_cast<Attribute>(r);
    auto d = dyn_cast_or_null<DenseElementsAttr>(a);
    if (!d)
      return std::nullopt;
    out.push_back(d);
  }
  return out;
}

} // namespace

DenseMap<Value, Value>
mlir::qopt::onnx_import::evaluateConstantOps(OpBuilder &b, Block &block,
                                             Operation *after) {
  DenseMap<Value, Value> replaced;
  SmallVector<Operation *> ops;
  for (Operation &op : block) {
    if (after && (op.isBeforeInBlock(after) || &op == after))
      continue;
    ops.push_back(&op);
  }
  SmallVector<tensor::EmptyOp> empties; // never erased by the loop below
  for (Operation *op : ops)
    if (auto empty = dyn_cast<tensor::EmptyOp>(op))
      empties.push_back(empty);
  for (Operation *op : ops) {
    if (isa<arith::ConstantOp, tensor::EmptyOp>(op) || op->getNumResults() == 0)
      continue;
    // Beyond the small-constant limit (the result or an operand): moved on
    // bytes.
    auto large = [](Type t) {
      auto rt = dyn_cast<RankedTensorType>(t);
      return rt && rt.hasStaticShape() &&
             rt.getNumElements() > kMaxEvaluatedElements;
    };
    if (llvm::any_of(op->getResultTypes(), large) ||
        llvm::any_of(op->getOperandTypes(), large))
      if (TypedAttr moved =
              isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op)
                  ? reshapeLargeConstant(op)
                  : TypedAttr(moveLargeConstant(op))) {
        b.setInsertionPoint(op);
        Value c = arith::ConstantOp::create(b, op->getLoc(), moved);
        op->getResult(0).replaceAllUsesWith(c);
        replaced[op->getResult(0)] = c;
        op->erase();
        continue;
      }
    if (!llvm::all_of(op->getResultTypes(), [](Type t) {
          auto rt = dyn_cast<RankedTensorType>(t);
          return rt && rt.hasStaticShape() &&
                 rt.getNumElements() <= kMaxEvaluatedElements;
        }))
      continue;
    SmallVector<Attribute> values;
    if (auto generic = dyn_cast<linalg::GenericOp>(op)) {
      DenseElementsAttr d = evaluateGeneric(generic);
      if (!d)
        continue;
      values.push_back(d);
    } else if (auto fill = dyn_cast<linalg::FillOp>(op)) {
      auto cst = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
      if (!cst)
        continue;
      values.push_back(DenseElementsAttr::get(
          cast<ShapedType>(fill.getResult(0).getType()), cst.getValue()));
    } else if (DenseElementsAttr d = evaluateTensorOp(op)) {
      values.push_back(d);
    } else if (std::optional<SmallVector<Attribute>> v = evaluateByFolder(op)) {
      values = std::move(*v);
    } else {
      continue;
    }
    b.setInsertionPoint(op);
    for (auto [result, value] : llvm::zip(op->getResults(), values)) {
      Value c =
          arith::ConstantOp::create(b, op->getLoc(), cast<TypedAttr>(value));
      result.replaceAllUsesWith(c);
      replaced[result] = c;
    }
    op->erase();
  }
  // The evaluated ops' tensor.empty inits are dead now. (Unused constants
  // stay: the importer may have bound a node output to one.)
  for (tensor::EmptyOp empty : empties)
    if (empty->use_empty())
      empty->erase();
  b.setInsertionPointToEnd(&block);
  return replaced;
}
