//===- Reshape.cpp - Reshape, Flatten, Squeeze, Unsqueeze -----------------===//
//
// Shape changes that keep the elements in order become
// tensor.collapse_shape/expand_shape, through a 1-D tensor when the dims
// do not group up; a small constant input folds to a reshaped constant.
//
//===----------------------------------------------------------------------===//

#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// expand_shape of `src` to `dstTy` along `re`; `dstSizes` are all of
/// dstTy's sizes (static ones as attributes).
Value expandTo(OpBuilder &b, Location loc, Value src, RankedTensorType dstTy,
               ArrayRef<ReassociationIndices> re,
               ArrayRef<OpFoldResult> dstSizes) {
  return tensor::ExpandShapeOp::create(b, loc, dstTy, src, re, dstSizes);
}

/// Whether expanding `srcTy` to `dstTy` along `re` keeps expand_shape's
/// rule: a group has a dynamic dim exactly when its source dim is dynamic.
bool expandStaticnessMatches(RankedTensorType srcTy, RankedTensorType dstTy,
                             ArrayRef<ReassociationIndices> re) {
  for (auto [i, group] : llvm::enumerate(re)) {
    bool anyDyn =
        llvm::any_of(group, [&](int64_t d) { return dstTy.isDynamicDim(d); });
    if (anyDyn != srcTy.isDynamicDim(i))
      return false;
  }
  return true;
}

/// Reshapes `src` to `dstTy` (same element count) with collapse_shape and
/// expand_shape; `dstSizes` are all of dstTy's sizes.
Value reshapeTo(OpBuilder &b, Location loc, Value src, RankedTensorType dstTy,
                ArrayRef<OpFoldResult> dstSizes) {
  auto srcTy = cast<RankedTensorType>(src.getType());
  if (srcTy == dstTy)
    return src;
  auto castTo = [&](Value v, RankedTensorType ty) -> Value {
    return v.getType() == ty ? v : tensor::CastOp::create(b, loc, ty, v);
  };
  Type et = srcTy.getElementType();
  // One collapse or one expand when the dims group up.
  if (srcTy.getRank() > dstTy.getRank() && dstTy.getRank() > 0)
    if (auto re = getReassociationIndicesForCollapse(srcTy.getShape(),
                                                     dstTy.getShape()))
      return castTo(tensor::CollapseShapeOp::create(b, loc, src, *re), dstTy);
  if (srcTy.getRank() < dstTy.getRank() && srcTy.getRank() > 0)
    if (auto re = getReassociationIndicesForCollapse(dstTy.getShape(),
                                                     srcTy.getShape()))
      if (expandStaticnessMatches(srcTy, dstTy, *re))
        return expandTo(b, loc, src, dstTy, *re, dstSizes);

  // Otherwise through 1-D.
  Value flat = src;
  if (srcTy.getRank() == 0) {
    flat = expandTo(b, loc, src, RankedTensorType::get({1}, et), {},
                    {b.getIndexAttr(1)});
  } else if (srcTy.getRank() > 1) {
    ReassociationIndices all =
        llvm::to_vector(llvm::seq<int64_t>(0, srcTy.getRank()));
    flat = tensor::CollapseShapeOp::create(b, loc, src,
                                           ArrayRef<ReassociationIndices>{all});
  }
  int64_t total =
      dstTy.hasStaticShape() ? dstTy.getNumElements() : ShapedType::kDynamic;
  flat = castTo(flat, RankedTensorType::get({total}, et));
  if (dstTy.getRank() == 0)
    return tensor::CollapseShapeOp::create(
        b, loc, dstTy, castTo(flat, RankedTensorType::get({1}, et)),
        ArrayRef<ReassociationIndices>{});
  if (dstTy.getRank() == 1)
    return castTo(flat, dstTy);
  ReassociationIndices all =
      llvm::to_vector(llvm::seq<int64_t>(0, dstTy.getRank()));
  return expandTo(b, loc, flat, dstTy, {all}, dstSizes);
}

/// Reshapes input 0 to `sizes`, folding a small constant input.
void setReshaped(ONNXNode &n, ArrayRef<OpFoldResult> sizes) {
  RankedTensorType outTy = typeOfSizes(sizes, n.inputType(0).getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0); c && outTy.hasStaticShape()) {
    n.setOutput(0, arith::ConstantOp::create(n.b, n.loc, c.reshape(outTy)),
                n.inputDType(0));
    return;
  }
  n.setOutput(0, reshapeTo(n.b, n.loc, n.input(0), outTy, sizes),
              n.inputDType(0));
}

/// A -1 among the shape entries known only at run time: at most one -1 in
/// the whole shape (checked when the model runs), and the entry that is -1
/// becomes the input's element count over the product of the others (which
/// hold 1 in its place until now).
void inferAtRunTime(ONNXNode &n, SmallVectorImpl<OpFoldResult> &sizes,
                    ArrayRef<std::pair<size_t, Value>> candidates,
                    bool staticInferred) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value zero = cIndex(b, loc, 0), one = cIndex(b, loc, 1);
  Value count = zero;
  for (auto [i, isInferred] : candidates)
    count = arith::AddIOp::create(
        b, loc, count,
        arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            arith::ExtUIOp::create(b, loc, b.getI64Type(), isInferred)));
  Value allowed = staticInferred ? zero : one;
  assertAtRunTime(
      n,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, count, allowed),
      "the shape has more than one -1 at run time");
  if (staticInferred)
    return; // the static -1 is inferred by the caller
  SmallVector<OpFoldResult> inSizes;
  Value x = n.input(0);
  for (int64_t d = 0; d < n.inputType(0).getRank(); ++d)
    inSizes.push_back(dimOFR(b, loc, x, d));
  Value others = toValue(b, loc, product(b, loc, sizes));
  Value noElements =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, others, zero);
  Value inferring =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, count, one);
  assertAtRunTime(
      n,
      arith::XOrIOp::create(
          b, loc, arith::AndIOp::create(b, loc, noElements, inferring),
          arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1)),
      "cannot infer the -1 in the shape at run time: the other entries "
      "hold no elements");
  Value divisor = arith::SelectOp::create(b, loc, noElements, one, others);
  Value quotient = arith::DivUIOp::create(
      b, loc, toValue(b, loc, product(b, loc, inSizes)), divisor);
  for (auto [i, isInferred] : candidates)
    sizes[i] = arith::SelectOp::create(b, loc, isInferred, quotient,
                                       toValue(b, loc, sizes[i]))
                   .getResult();
}

LogicalResult buildReshape(ONNXNode &n) {
  SmallVector<int64_t> shape;
  SmallVector<Value> dynEntries;
  int64_t allowZero = 0;
  if (n.opset < 5) {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    if (!n.hasAttr("shape"))
      return n.emitError() << "attribute 'shape' is required";
    FailureOr<SmallVector<int64_t>> s = n.getInts("shape", {});
    if (failed(s) || failed(n.getInts("consumed_inputs", {})))
      return failure();
    shape = *s;
  } else {
    if (failed(n.checkArity(2, 2, 1, 1)))
      return failure();
    FailureOr<SmallVector<OpFoldResult>> s = dynamicInts(n, 1, "the shape");
    if (failed(s))
      return failure();
    // Entries known only at run time are sizes (kDynamic here).
    for (OpFoldResult e : *s) {
      shape.push_back(getConstantIntValue(e).value_or(ShapedType::kDynamic));
      dynEntries.push_back(dyn_cast<Value>(e));
    }
    if (n.opset >= 14) {
      FailureOr<int64_t> az = n.getInt("allowzero", 0);
      if (failed(az))
        return failure();
      allowZero = *az;
    }
  }
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  RankedTensorType inTy = n.inputType(0);
  int64_t inRank = inTy.getRank();

  SmallVector<OpFoldResult> sizes;
  // The dynamic input dims that 0 entries copy: they cancel against the
  // same dims of the element count when inferring a -1.
  SmallVector<int64_t> copiedDyn;
  int64_t inferred = -1, knownStatic = 1;
  // Entries known only at run time, with whether each is -1 there.
  SmallVector<std::pair<size_t, Value>> runTimeInferred;
  bool hasZero = false;
  bool anyDynEntry = false;
  for (auto [i, v] : llvm::enumerate(shape)) {
    if (Value e = i < dynEntries.size() ? dynEntries[i] : Value()) {
      // The input's own dim at this position (x.view(x.size(0), ...), or
      // the size of a tensor x was computed from): as a 0 entry.
      if (static_cast<int64_t>(i) < inRank && inTy.isDynamicDim(i) &&
          isSameSizeAsDim(n, e, x, i)) {
        sizes.push_back(e);
        copiedDyn.push_back(i);
        continue;
      }
      anyDynEntry = true;
      Value zero = cIndex(b, loc, 0), minusOne = cIndex(b, loc, -1);
      assertAtRunTime(
          n,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, e, minusOne),
          "the shape has an entry below -1 at run time");
      // -1 (inferred) is known only at run time: it counts as 1 in the
      // product of the other entries until the inference below.
      Value isInferred =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, minusOne);
      runTimeInferred.push_back({i, isInferred});
      // 0 copies the input dim unless allowzero.
      if (!allowZero && static_cast<int64_t>(i) < inRank)
        e = arith::SelectOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, zero),
            dimValue(b, loc, x, i), e);
      sizes.push_back(
          arith::SelectOp::create(b, loc, isInferred, cIndex(b, loc, 1), e)
              .getResult());
      continue;
    }
    if (v == -1) {
      if (inferred >= 0)
        return n.emitError()
               << "the shape " << shapeString(shape) << " has more than one -1";
      inferred = i;
      sizes.push_back(b.getIndexAttr(1)); // placeholder
    } else if (v < -1) {
      return n.emitError() << "the shape " << shapeString(shape)
                           << " has the invalid entry " << v;
    } else if (v == 0 && !allowZero) {
      if (static_cast<int64_t>(i) >= inRank)
        return n.emitError() << "shape entry " << i
                             << " is 0 (copy the input dim) but the input "
                                "has rank "
                             << inRank;
      sizes.push_back(dimOFR(b, loc, x, i));
      if (inTy.isDynamicDim(i))
        copiedDyn.push_back(i);
      else
        knownStatic *= inTy.getDimSize(i);
    } else {
      hasZero |= v == 0;
      knownStatic *= v;
      sizes.push_back(b.getIndexAttr(v));
    }
  }
  if (allowZero && hasZero && inferred >= 0)
    return n.emitError() << "the shape " << shapeString(shape)
                         << " has both 0 and -1, which allowzero = 1 forbids";

  int64_t totalStatic = 1;
  SmallVector<int64_t> totalDyn;
  for (int64_t i = 0; i < inRank; ++i) {
    if (inTy.isDynamicDim(i))
      totalDyn.push_back(i);
    else
      totalStatic *= inTy.getDimSize(i);
  }
  // Whether the sizes are equal in count to the input's by construction;
  // else, with dynamic dims, the counts are compared when the model runs.
  bool exact = totalDyn.empty() && copiedDyn.empty() && !anyDynEntry;
  // The same dynamic dims on both sides and as many static elements.
  SmallVector<int64_t> sortedCopied(copiedDyn);
  llvm::sort(sortedCopied);
  bool sameDyn = !anyDynEntry && sortedCopied == totalDyn;
  if (inferred >= 0) {
    if (knownStatic == 0)
      return n.emitError() << "cannot infer the -1 in the shape "
                           << shapeString(shape)
                           << ": the other dims have no elements";
    if (totalStatic % knownStatic != 0 && totalDyn.empty())
      return n.emitError() << "cannot reshape " << shapeString(inTy.getShape())
                           << " (" << totalStatic << " elements) into "
                           << shapeString(shape);
    // Dynamic dims on both sides cancel (the common `0, -1` pattern).
    SmallVector<int64_t> restDyn(totalDyn);
    bool cancels = true;
    for (int64_t d : copiedDyn) {
      auto it = llvm::find(restDyn, d);
      if (it == restDyn.end()) {
        cancels = false;
        break;
      }
      restDyn.erase(it);
    }
    exact = cancels && !anyDynEntry && totalStatic % knownStatic == 0;
    if (exact) {
      SmallVector<OpFoldResult> f{b.getIndexAttr(totalStatic / knownStatic)};
      for (int64_t d : restDyn)
        f.push_back(dimOFR(b, loc, x, d));
      sizes[inferred] = product(b, loc, f);
    } else {
      SmallVector<OpFoldResult> inSizes, others(sizes);
      for (int64_t i = 0; i < inRank; ++i)
        inSizes.push_back(dimOFR(b, loc, x, i));
      others.erase(others.begin() + inferred);
      sizes[inferred] = arith::DivUIOp::create(
                            b, loc, toValue(b, loc, product(b, loc, inSizes)),
                            toValue(b, loc, product(b, loc, others)))
                            .getResult();
    }
  } else if (sameDyn && totalStatic != knownStatic) {
    return n.emitError() << "cannot reshape " << shapeString(inTy.getShape())
                         << " (" << totalStatic << " elements) into "
                         << shapeString(shape) << " (" << knownStatic
                         << " elements)";
  } else if (sameDyn) {
    exact = true;
  }
  if (!runTimeInferred.empty())
    inferAtRunTime(n, sizes, runTimeInferred, /*staticInferred=*/inferred >= 0);
  if (anyDynEntry)
    assertSizesFit(n, sizes);
  if (!exact) {
    SmallVector<OpFoldResult> inSizes;
    for (int64_t i = 0; i < inRank; ++i)
      inSizes.push_back(dimOFR(b, loc, x, i));
    Value same =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                              toValue(b, loc, product(b, loc, inSizes)),
                              toValue(b, loc, product(b, loc, sizes)));
    assertAtRunTime(n, same,
                    "the shape does not hold as many elements as the input "
                    "at run time");
  }
  setReshaped(n, sizes);
  return success();
}

LogicalResult buildFlatten(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", 1);
  if (failed(axisAttr))
    return failure();
  int64_t rank = n.inputType(0).getRank(), axis = *axisAttr;
  if (axis < 0 && n.opset < 11)
    return n.emitError() << "negative axis " << axis
                         << " needs opset 11 or newer";
  if (axis < -rank || axis > rank)
    return n.emitError() << "axis " << axis << " is out of range for rank "
                         << rank << " (Flatten accepts " << -rank << " to "
                         << rank << ")";
  if (axis < 0)
    axis += rank;
  SmallVector<OpFoldResult> outer, inner;
  for (int64_t i = 0; i < rank; ++i)
    (i < axis ? outer : inner).push_back(dimOFR(n.b, n.loc, n.input(0), i));
  SmallVector<OpFoldResult> sizes{product(n.b, n.loc, outer),
                                  product(n.b, n.loc, inner)};
  if (axis > 0 && axis < rank && !smallConstant(n, 0)) {
    // Two groups of dims: one collapse_shape.
    SmallVector<ReassociationIndices> re{
        llvm::to_vector(llvm::seq<int64_t>(0, axis)),
        llvm::to_vector(llvm::seq<int64_t>(axis, rank))};
    Value y = tensor::CollapseShapeOp::create(n.b, n.loc, n.input(0), re);
    RankedTensorType outTy =
        typeOfSizes(sizes, n.inputType(0).getElementType());
    if (y.getType() != outTy)
      y = tensor::CastOp::create(n.b, n.loc, outTy, y);
    n.setOutput(0, y, n.inputDType(0));
    return success();
  }
  setReshaped(n, sizes);
  return success();
}

/// Axes from the `axes` attribute (before opset 13) or the optional input
/// #1 (from 13); std::nullopt when not given.
FailureOr<std::optional<SmallVector<int64_t>>> squeezeAxes(ONNXNode &n) {
  if (n.opset < 13) {
    if (!n.hasAttr("axes")) {
      (void)n.getInts("axes", {});
      return std::optional<SmallVector<int64_t>>();
    }
    FailureOr<SmallVector<int64_t>> a = n.getInts("axes", {});
    if (failed(a))
      return failure();
    return std::optional<SmallVector<int64_t>>(*a);
  }
  if (!n.hasInput(1))
    return std::optional<SmallVector<int64_t>>();
  FailureOr<SmallVector<int64_t>> a = requireConstInts(n, 1, "axes");
  if (failed(a))
    return failure();
  return std::optional<SmallVector<int64_t>>(*a);
}

LogicalResult buildSqueeze(ONNXNode &n) {
  if (failed(n.opset < 13 ? n.checkArity(1, 1, 1, 1)
                          : n.checkArity(1, 2, 1, 1)))
    return failure();
  auto axesOr = squeezeAxes(n);
  if (failed(axesOr))
    return failure();
  Value x = n.input(0);
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  SmallVector<int64_t> axes;
  if (*axesOr && !(*axesOr)->empty()) {
    FailureOr<SmallVector<int64_t>> a = axesOf(n, **axesOr, rank);
    if (failed(a))
      return failure();
    axes = *a;
    for (int64_t a : axes)
      if (!inTy.isDynamicDim(a) && inTy.getDimSize(a) != 1)
        return n.emitError() << "cannot squeeze dim " << a << " of size "
                             << inTy.getDimSize(a) << " (input shape "
                             << shapeString(inTy.getShape()) << ")";
  } else {
    for (int64_t i = 0; i < rank; ++i) {
      if (inTy.isDynamicDim(i))
        return n.emitError() << "without axes, dim " << i
                             << " is dynamic and may or may not be 1; give "
                                "the axes or pin the input shape";
      if (inTy.getDimSize(i) == 1)
        axes.push_back(i);
    }
  }
  // The squeezed dims are 1 (a dynamic one must be at run time).
  SmallVector<int64_t> known(inTy.getShape());
  for (int64_t a : axes)
    known[a] = 1;
  auto knownTy = inTy.clone(known);
  if (knownTy != inTy)
    x = tensor::CastOp::create(n.b, n.loc, knownTy, x);

  SmallVector<int64_t> outShape;
  SmallVector<ReassociationIndices> re;
  ReassociationIndices pending;
  for (int64_t i = 0; i < rank; ++i) {
    pending.push_back(i);
    if (llvm::is_contained(axes, i))
      continue;
    outShape.push_back(known[i]);
    re.push_back(pending);
    pending.clear();
  }
  if (!pending.empty() && !re.empty())
    llvm::append_range(re.back(), pending);
  auto outTy = RankedTensorType::get(outShape, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    n.setOutput(0, arith::ConstantOp::create(n.b, n.loc, c.reshape(outTy)),
                n.inputDType(0));
    return success();
  }
  Value y = outTy == knownTy
                ? x
                : tensor::CollapseShapeOp::create(n.b, n.loc, outTy, x, re)
                      .getResult();
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildUnsqueeze(ONNXNode &n) {
  if (failed(n.opset < 13 ? n.checkArity(1, 1, 1, 1)
                          : n.checkArity(2, 2, 1, 1)))
    return failure();
  auto axesOr = squeezeAxes(n);
  if (failed(axesOr))
    return failure();
  if (!*axesOr)
    return n.emitError() << (n.opset < 13 ? "attribute 'axes' is required"
                                          : "input #1 (axes) is required");
  RankedTensorType inTy = n.inputType(0);
  int64_t outRank = inTy.getRank() + static_cast<int64_t>((*axesOr)->size());
  FailureOr<SmallVector<int64_t>> axes = axesOf(n, **axesOr, outRank);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> outShape;
  SmallVector<OpFoldResult> sizes;
  SmallVector<ReassociationIndices> re;
  ReassociationIndices leading;
  for (int64_t i = 0, src = 0; i < outRank; ++i) {
    if (llvm::is_contained(*axes, i)) {
      outShape.push_back(1);
      sizes.push_back(n.b.getIndexAttr(1));
      // A new unit dim joins the group of the source dim before it.
      (re.empty() ? leading : re.back()).push_back(i);
      continue;
    }
    outShape.push_back(inTy.getDimSize(src));
    sizes.push_back(dimOFR(n.b, n.loc, n.input(0), src));
    ReassociationIndices g = leading;
    leading.clear();
    g.push_back(i);
    re.push_back(g);
    ++src;
  }
  auto outTy = RankedTensorType::get(outShape, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    n.setOutput(0, arith::ConstantOp::create(n.b, n.loc, c.reshape(outTy)),
                n.inputDType(0));
    return success();
  }
  if (inTy.getRank() == 0)
    re.clear();
  n.setOutput(0, expandTo(n.b, n.loc, n.input(0), outTy, re, sizes),
              n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerReshapeOps(OpRegistry &r) {
  // Several since-versions share a builder that checks n.opset itself.
  for (int64_t v : {1, 5, 14})
    r.add("", "Reshape", v, buildReshape);
  for (int64_t v : {1, 11})
    r.add("", "Flatten", v, buildFlatten);
  for (int64_t v : {1, 11, 13}) {
    r.add("", "Squeeze", v, buildSqueeze);
    r.add("", "Unsqueeze", v, buildUnsqueeze);
  }
}
