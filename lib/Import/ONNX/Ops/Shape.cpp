//===- Shape.cpp - shape and data-movement ONNX operators -----------------===//
//
// Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice,
// Expand, Tile, Pad, Shape, Size, ConstantOfShape and Range.
//
// Data movement becomes tensor.collapse_shape/expand_shape/extract_slice/
// concat/pad, linalg.transpose or a linalg.generic that reads with
// broadcasting maps (Expand, Tile) or computed indices (reflect/edge Pad).
// Shape-like results (Shape, Size, ConstantOfShape, Range) are constants
// when their values are known, and every data-movement op folds small
// constant inputs, so that the shape subgraphs exporters emit
// (Shape -> Slice -> Concat -> Reshape) end in the constants that Reshape,
// Expand, Tile and friends need.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// Constants up to this many elements are folded at import time.
constexpr int64_t kMaxFoldElements = 4096;

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

Value toValue(OpBuilder &b, Location loc, OpFoldResult ofr) {
  if (auto v = dyn_cast<Value>(ofr))
    return v;
  return cIndex(b, loc, *getConstantIntValue(ofr));
}

/// Product of `ofrs`, folded when all are static.
OpFoldResult product(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> ofrs) {
  int64_t s = 1;
  Value dyn;
  for (OpFoldResult f : ofrs) {
    if (std::optional<int64_t> c = getConstantIntValue(f)) {
      s *= *c;
      continue;
    }
    Value v = cast<Value>(f);
    dyn = dyn ? arith::MulIOp::create(b, loc, dyn, v).getResult() : v;
  }
  if (!dyn)
    return b.getIndexAttr(s);
  if (s != 1)
    dyn = arith::MulIOp::create(b, loc, dyn, cIndex(b, loc, s));
  return dyn;
}

/// tensor.empty of `sizes` (dynamic where a size is a value).
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elemTy) {
  return tensor::EmptyOp::create(b, loc, sizes, elemTy);
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? "?" : std::to_string(d);
  }
  return s + "]";
}

/// Normalizes an axis; negative axes are only valid from opset 11.
FailureOr<int64_t> axisOf(ONNXNode &n, int64_t axis, int64_t rank,
                          StringRef what = "axis") {
  if (rank == 0)
    return n.emitError() << what << " " << axis
                         << " is given but the input is a scalar (rank 0)";
  if (axis < 0 && n.opset < 11)
    return n.emitError() << "negative " << what << " " << axis
                         << " needs opset 11 or newer";
  return n.normalizeAxis(axis, rank, what);
}

/// Normalizes a list of distinct axes against `rank`.
FailureOr<SmallVector<int64_t>> axesOf(ONNXNode &n, ArrayRef<int64_t> axes,
                                       int64_t rank, StringRef what = "axis") {
  SmallVector<int64_t> out;
  for (int64_t a : axes) {
    FailureOr<int64_t> ax = axisOf(n, a, rank, what);
    if (failed(ax))
      return failure();
    if (llvm::is_contained(out, *ax))
      return n.emitError() << what << " " << a << " is given twice";
    out.push_back(*ax);
  }
  return out;
}

/// A constant 1-D integer input that must be a constant (a shape, axes,
/// repeats...): its values, or an error naming `what`.
FailureOr<SmallVector<int64_t>>
requireConstInts(ONNXNode &n, int64_t i, StringRef what, StringRef why = "") {
  RankedTensorType ty = n.inputType(i);
  if (!isa<IntegerType>(ty.getElementType()) || n.inputDType(i) == kBool)
    return n.emitError() << what << " (input #" << i
                         << ") must be an integer tensor, got "
                         << dtypeName(n.inputDType(i));
  if (ty.getRank() > 1)
    return n.emitError() << what << " (input #" << i
                         << ") must be 1-D, got rank " << ty.getRank();
  std::optional<SmallVector<int64_t>> v = n.constantInts(i);
  if (!v)
    return n.emitError() << what << " (input #" << i
                         << ") must be a constant (an initializer, a Constant "
                            "node or a shape computation on static shapes)"
                         << why;
  return *v;
}

//===----------------------------------------------------------------------===//
// Import-time folding of small constants
//===----------------------------------------------------------------------===//

/// The small dense constant behind input `i`, or null.
DenseElementsAttr smallConstant(ONNXNode &n, int64_t i) {
  if (!n.hasInput(i))
    return {};
  RankedTensorType ty = n.inputType(i);
  if (!ty.hasStaticShape() || ty.getNumElements() > kMaxFoldElements)
    return {};
  auto c = n.input(i).getDefiningOp<arith::ConstantOp>();
  if (!c)
    return {};
  if (auto d = dyn_cast<DenseElementsAttr>(c.getValue()))
    return d;
  // Initializers are dense_resource blobs; rebuild small ones.
  Type et = ty.getElementType();
  if (auto it = dyn_cast<IntegerType>(et)) {
    std::optional<SmallVector<int64_t>> v = n.constantInts(i);
    if (!v)
      return {};
    SmallVector<APInt> ap;
    for (int64_t x : *v)
      ap.push_back(APInt(it.getWidth(), static_cast<uint64_t>(x),
                         /*isSigned=*/false, /*implicitTrunc=*/true));
    return DenseElementsAttr::get(ty, ap);
  }
  if (auto ft = dyn_cast<FloatType>(et)) {
    std::optional<SmallVector<double>> v = n.constantFloats(i);
    if (!v)
      return {};
    SmallVector<APFloat> ap;
    for (double x : *v) {
      APFloat f(x);
      bool lost;
      f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      ap.push_back(f);
    }
    return DenseElementsAttr::get(ty, ap);
  }
  return {};
}

/// Row-major strides of `shape`.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> s(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/// A constant of `outTy` whose element at each multi-index is element
/// `src(index)` of the concatenated values of `ins`. Null when the result
/// is too large to fold.
Value foldGather(OpBuilder &b, Location loc, ArrayRef<DenseElementsAttr> ins,
                 RankedTensorType outTy,
                 function_ref<int64_t(ArrayRef<int64_t>)> src) {
  if (!outTy.hasStaticShape() || outTy.getNumElements() > kMaxFoldElements)
    return {};
  SmallVector<Attribute> vals;
  for (DenseElementsAttr a : ins)
    llvm::append_range(vals, a.getValues<Attribute>());
  ArrayRef<int64_t> shape = outTy.getShape();
  SmallVector<int64_t> strides = stridesOf(shape);
  SmallVector<Attribute> out;
  SmallVector<int64_t> idx(shape.size());
  for (int64_t flat = 0, e = outTy.getNumElements(); flat < e; ++flat) {
    for (size_t d = 0; d < shape.size(); ++d)
      idx[d] = (flat / strides[d]) % shape[d];
    out.push_back(vals[src(idx)]);
  }
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(outTy, out));
}

//===----------------------------------------------------------------------===//
// Reshaping
//===----------------------------------------------------------------------===//

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

/// Static shape and sizes for an output of dims `sizes`.
RankedTensorType typeOfSizes(ArrayRef<OpFoldResult> sizes, Type et) {
  SmallVector<int64_t> shape;
  for (OpFoldResult s : sizes)
    shape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
  return RankedTensorType::get(shape, et);
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

LogicalResult buildReshape(ONNXNode &n) {
  SmallVector<int64_t> shape;
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
    FailureOr<SmallVector<int64_t>> s = requireConstInts(
        n, 1, "the shape", "; a data-dependent Reshape is not supported");
    if (failed(s))
      return failure();
    shape = *s;
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
  bool hasZero = false;
  for (auto [i, v] : llvm::enumerate(shape)) {
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
    if (cancels && totalStatic % knownStatic == 0) {
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
  } else if (totalDyn.empty() && copiedDyn.empty() &&
             totalStatic != knownStatic) {
    return n.emitError() << "cannot reshape " << shapeString(inTy.getShape())
                         << " (" << totalStatic << " elements) into "
                         << shapeString(shape) << " (" << knownStatic
                         << " elements)";
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

//===----------------------------------------------------------------------===//
// Transpose, Concat, Split, Slice
//===----------------------------------------------------------------------===//

LogicalResult buildTranspose(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  SmallVector<int64_t> reversed =
      llvm::to_vector(llvm::reverse(llvm::seq<int64_t>(0, rank)));
  FailureOr<SmallVector<int64_t>> perm = n.getInts("perm", reversed);
  if (failed(perm))
    return failure();
  if (static_cast<int64_t>(perm->size()) != rank)
    return n.emitError() << "perm has " << perm->size()
                         << " entries for an input of rank " << rank;
  SmallVector<bool> seen(rank, false);
  for (int64_t p : *perm) {
    if (p < 0 || p >= rank || seen[p])
      return n.emitError() << "perm " << shapeString(*perm)
                           << " is not a permutation of 0.." << rank - 1;
    seen[p] = true;
  }
  if (llvm::equal(*perm, llvm::seq<int64_t>(0, rank))) {
    n.setOutput(0, n.input(0), n.inputDType(0));
    return success();
  }
  SmallVector<OpFoldResult> sizes;
  for (int64_t p : *perm)
    sizes.push_back(dimOFR(n.b, n.loc, n.input(0), p));
  RankedTensorType outTy = typeOfSizes(sizes, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    SmallVector<int64_t> inStrides = stridesOf(inTy.getShape());
    if (Value v =
            foldGather(n.b, n.loc, {c}, outTy, [&](ArrayRef<int64_t> idx) {
              int64_t s = 0;
              for (int64_t d = 0; d < rank; ++d)
                s += idx[d] * inStrides[(*perm)[d]];
              return s;
            })) {
      n.setOutput(0, v, n.inputDType(0));
      return success();
    }
  }
  Value init = emptyTensor(n.b, n.loc, sizes, inTy.getElementType());
  auto t = linalg::TransposeOp::create(n.b, n.loc, n.input(0), init, *perm);
  n.setOutput(0, t.getResult()[0], n.inputDType(0));
  return success();
}

LogicalResult buildConcat(ONNXNode &n) {
  if (failed(n.checkArity(1, std::numeric_limits<int>::max(), 1, 1)))
    return failure();
  FailureOr<int64_t> axisAttr =
      n.opset < 4 ? n.getInt("axis", 1) : n.getRequiredInt("axis");
  if (failed(axisAttr))
    return failure();
  RankedTensorType t0 = n.inputType(0);
  int64_t rank = t0.getRank();
  if (rank == 0)
    return n.emitError() << "cannot concatenate scalars (rank 0)";
  for (int64_t i = 0; i < n.numInputs(); ++i) {
    if (!n.hasInput(i))
      return n.emitError() << "input #" << i << " is required";
    if (n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(n.inputDType(0));
    if (n.inputType(i).getRank() != rank)
      return n.emitError() << "input #" << i << " has rank "
                           << n.inputType(i).getRank() << ", input #0 has "
                           << rank;
  }
  FailureOr<int64_t> axis = axisOf(n, *axisAttr, rank);
  if (failed(axis))
    return failure();
  SmallVector<Value> ins;
  SmallVector<int64_t> outShape(t0.getShape());
  outShape[*axis] = 0;
  for (int64_t i = 0; i < n.numInputs(); ++i) {
    RankedTensorType ti = n.inputType(i);
    for (int64_t d = 0; d < rank; ++d) {
      if (d == *axis)
        continue;
      int64_t a = outShape[d], b = ti.getDimSize(d);
      if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
        return n.emitError()
               << "input #" << i << " has shape " << shapeString(ti.getShape())
               << ", which does not match " << shapeString(t0.getShape())
               << " outside axis " << *axis;
      if (ShapedType::isDynamic(a))
        outShape[d] = b;
    }
    int64_t &o = outShape[*axis];
    o = ShapedType::isDynamic(o) || ti.isDynamicDim(*axis)
            ? ShapedType::kDynamic
            : o + ti.getDimSize(*axis);
    ins.push_back(n.input(i));
  }
  if (ins.size() == 1) {
    n.setOutput(0, ins[0], n.inputDType(0));
    return success();
  }
  // Small constants (shape vectors) fold.
  SmallVector<DenseElementsAttr> consts;
  for (int64_t i = 0; i < n.numInputs(); ++i)
    if (DenseElementsAttr c = smallConstant(n, i))
      consts.push_back(c);
  auto outTy = RankedTensorType::get(outShape, t0.getElementType());
  if (static_cast<int64_t>(consts.size()) == n.numInputs()) {
    // Element at idx: find the input along the axis, then its flat index
    // offset by the sizes of the inputs before it.
    SmallVector<int64_t> bases;
    int64_t base = 0;
    for (DenseElementsAttr c : consts) {
      bases.push_back(base);
      base += c.getNumElements();
    }
    if (Value v =
            foldGather(n.b, n.loc, consts, outTy, [&](ArrayRef<int64_t> idx) {
              int64_t along = idx[*axis];
              size_t k = 0;
              for (; k + 1 < consts.size(); ++k) {
                int64_t len = consts[k].getType().getDimSize(*axis);
                if (along < len)
                  break;
                along -= len;
              }
              ArrayRef<int64_t> shape = consts[k].getType().getShape();
              SmallVector<int64_t> st = stridesOf(shape);
              int64_t s = bases[k];
              for (int64_t d = 0; d < rank; ++d)
                s += (d == *axis ? along : idx[d]) * st[d];
              return s;
            })) {
      n.setOutput(0, v, n.inputDType(0));
      return success();
    }
  }
  Value c = tensor::ConcatOp::create(n.b, n.loc, *axis, ins);
  if (c.getType() != outTy)
    c = tensor::CastOp::create(n.b, n.loc, outTy, c);
  n.setOutput(0, c, n.inputDType(0));
  return success();
}

/// extract_slice of input 0 (or a fold of its small constant) with
/// `offsets`/`sizes`/`strides`; all in index units.
Value sliceOf(ONNXNode &n, ArrayRef<OpFoldResult> offsets,
              ArrayRef<OpFoldResult> sizes, ArrayRef<OpFoldResult> strides) {
  RankedTensorType inTy = n.inputType(0);
  RankedTensorType outTy = typeOfSizes(sizes, inTy.getElementType());
  DenseElementsAttr c = smallConstant(n, 0);
  bool allStatic = llvm::all_of(offsets, [](OpFoldResult f) {
    return getConstantIntValue(f).has_value();
  });
  if (c && allStatic) {
    SmallVector<int64_t> st = stridesOf(inTy.getShape());
    if (Value v =
            foldGather(n.b, n.loc, {c}, outTy, [&](ArrayRef<int64_t> idx) {
              int64_t s = 0;
              for (size_t d = 0; d < idx.size(); ++d)
                s += (*getConstantIntValue(offsets[d]) +
                      idx[d] * *getConstantIntValue(strides[d])) *
                     st[d];
              return s;
            }))
      return v;
  }
  return tensor::ExtractSliceOp::create(n.b, n.loc, outTy, n.input(0), offsets,
                                        sizes, strides);
}

LogicalResult buildSplit(ONNXNode &n) {
  int64_t maxIn = n.opset >= 13 || n.opset < 2 ? 2 : 1;
  if (failed(n.checkArity(1, maxIn, 1, std::numeric_limits<int>::max())))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", 0);
  if (failed(axisAttr))
    return failure();
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  if (rank == 0)
    return n.emitError() << "cannot split a scalar (rank 0)";
  FailureOr<int64_t> axis = axisOf(n, *axisAttr, rank);
  if (failed(axis))
    return failure();
  int64_t numOut = n.numOutputs();
  std::optional<SmallVector<int64_t>> split;
  if (n.opset < 13 && n.hasAttr("split")) {
    FailureOr<SmallVector<int64_t>> s = n.getInts("split", {});
    if (failed(s))
      return failure();
    split = *s;
  } else if (n.opset < 13) {
    (void)n.getInts("split", {});
  }
  if ((n.opset < 2 || n.opset >= 13) && n.hasInput(1)) {
    if (split)
      return n.emitError() << "split is given both as attribute and input";
    FailureOr<SmallVector<int64_t>> s = requireConstInts(n, 1, "split");
    if (failed(s))
      return failure();
    split = *s;
  }
  std::optional<int64_t> numOutputs;
  if (n.opset >= 18 && n.hasAttr("num_outputs")) {
    FailureOr<int64_t> no = n.getInt("num_outputs", 0);
    if (failed(no))
      return failure();
    if (split)
      return n.emitError() << "split and num_outputs cannot both be given";
    if (*no < 1)
      return n.emitError() << "num_outputs must be positive, got " << *no;
    if (*no != numOut)
      return n.emitError() << "num_outputs is " << *no << " but the node has "
                           << numOut << " outputs";
    numOutputs = *no;
  } else if (n.opset >= 18) {
    (void)n.getInt("num_outputs", 0);
  }

  OpBuilder &b = n.b;
  Location loc = n.loc;
  int64_t dim = inTy.getDimSize(*axis);
  bool dynamic = ShapedType::isDynamic(dim);
  SmallVector<OpFoldResult> pieceSizes;
  if (split) {
    if (static_cast<int64_t>(split->size()) != numOut)
      return n.emitError() << "split has " << split->size()
                           << " entries but the node has " << numOut
                           << " outputs";
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0)
        return n.emitError()
               << "split " << shapeString(*split) << " has a negative entry";
      sum += s;
      pieceSizes.push_back(b.getIndexAttr(s));
    }
    if (!dynamic && sum != dim)
      return n.emitError() << "split " << shapeString(*split) << " sums to "
                           << sum << " but dim " << *axis << " has size "
                           << dim;
  } else if (!dynamic) {
    // Equal parts; with num_outputs the last part may be smaller.
    if (!numOutputs && dim % numOut != 0)
      return n.emitError() << "dim " << *axis << " of size " << dim
                           << " does not split into " << numOut
                           << " equal parts";
    int64_t chunk = (dim + numOut - 1) / numOut;
    for (int64_t i = 0; i < numOut; ++i)
      pieceSizes.push_back(
          b.getIndexAttr(std::clamp<int64_t>(dim - i * chunk, 0, chunk)));
  } else {
    Value d = dimValue(b, loc, n.input(0), *axis);
    Value cnt = cIndex(b, loc, numOut);
    Value chunk = numOutputs
                      ? arith::CeilDivUIOp::create(b, loc, d, cnt).getResult()
                      : arith::DivUIOp::create(b, loc, d, cnt).getResult();
    for (int64_t i = 0; i < numOut; ++i) {
      if (!numOutputs) {
        pieceSizes.push_back(chunk);
        continue;
      }
      Value off = arith::MulIOp::create(b, loc, chunk, cIndex(b, loc, i));
      Value left = arith::SubIOp::create(b, loc, d, off);
      left = arith::MaxSIOp::create(b, loc, left, cIndex(b, loc, 0));
      pieceSizes.push_back(
          arith::MinSIOp::create(b, loc, left, chunk).getResult());
    }
  }

  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes,
      strides(rank, b.getIndexAttr(1));
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(dimOFR(b, loc, n.input(0), d));
  OpFoldResult offset = b.getIndexAttr(0);
  for (int64_t i = 0; i < numOut; ++i) {
    offsets[*axis] = offset;
    sizes[*axis] = pieceSizes[i];
    if (n.hasOutput(i))
      n.setOutput(i, sliceOf(n, offsets, sizes, strides), n.inputDType(0));
    if (i + 1 == numOut)
      break;
    std::optional<int64_t> o = getConstantIntValue(offset),
                           s = getConstantIntValue(pieceSizes[i]);
    offset = o && s ? OpFoldResult(b.getIndexAttr(*o + *s))
                    : OpFoldResult(
                          arith::AddIOp::create(b, loc, toValue(b, loc, offset),
                                                toValue(b, loc, pieceSizes[i]))
                              .getResult());
  }
  return success();
}

LogicalResult buildSlice(ONNXNode &n) {
  SmallVector<int64_t> starts, ends, axes, steps;
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  if (n.opset < 10) {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    for (StringRef a : {"starts", "ends"})
      if (!n.hasAttr(a))
        return n.emitError() << "attribute '" << a << "' is required";
    auto s = n.getInts("starts", {}), e = n.getInts("ends", {});
    auto a = n.getInts("axes", {});
    if (failed(s) || failed(e) || failed(a))
      return failure();
    starts = *s;
    ends = *e;
    axes = n.hasAttr("axes") ? *a
                             : llvm::to_vector(llvm::seq<int64_t>(
                                   0, static_cast<int64_t>(starts.size())));
    steps.assign(starts.size(), 1);
  } else {
    if (failed(n.checkArity(3, 5, 1, 1)))
      return failure();
    auto s = requireConstInts(n, 1, "starts"),
         e = requireConstInts(n, 2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    if (n.hasInput(3)) {
      auto a = requireConstInts(n, 3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    } else {
      axes = llvm::to_vector(
          llvm::seq<int64_t>(0, static_cast<int64_t>(starts.size())));
    }
    if (n.hasInput(4)) {
      auto st = requireConstInts(n, 4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
    } else {
      steps.assign(starts.size(), 1);
    }
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return n.emitError() << "starts, ends, axes and steps have different "
                            "lengths ("
                         << starts.size() << ", " << ends.size() << ", "
                         << axes.size() << ", " << steps.size() << ")";
  FailureOr<SmallVector<int64_t>> normAxes = axesOf(n, axes, rank);
  if (failed(normAxes))
    return failure();

  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes,
      strides(rank, b.getIndexAttr(1));
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(dimOFR(b, loc, x, d));
  SmallVector<int64_t> reversed; // dims read backwards (negative steps)
  for (auto [k, ax] : llvm::enumerate(*normAxes)) {
    int64_t start = starts[k], end = ends[k], step = steps[k];
    if (step == 0)
      return n.emitError() << "steps[" << k << "] is 0; a step must not be 0";
    int64_t dim = inTy.getDimSize(ax);
    if (ShapedType::isDynamic(dim)) {
      if (step < 0)
        return n.emitError() << "a negative step on dynamic dim " << ax
                             << " is not supported; pin the input shape";
      // Clamp at run time: s' = clamp(s (+dim if < 0), 0, dim); the sign
      // of s is known, so one bound each.
      Value d = toValue(b, loc, sizes[ax]);
      Value zero = cIndex(b, loc, 0);
      auto clampEnd = [&](int64_t v) -> Value {
        constexpr int64_t lim = int64_t(1) << 62; // no index overflow
        if (v >= 0)
          return arith::MinSIOp::create(b, loc,
                                        cIndex(b, loc, std::min(v, lim)), d);
        Value r =
            arith::AddIOp::create(b, loc, d, cIndex(b, loc, std::max(v, -lim)));
        return arith::MaxSIOp::create(b, loc, r, zero);
      };
      Value s = clampEnd(start), e = clampEnd(end);
      Value len = arith::SubIOp::create(b, loc, e, s);
      len = arith::MaxSIOp::create(b, loc, len, zero);
      if (step != 1)
        len = arith::CeilDivSIOp::create(b, loc, len, cIndex(b, loc, step));
      offsets[ax] = s;
      sizes[ax] = len;
      strides[ax] = b.getIndexAttr(step);
      continue;
    }
    // The spec's clamping: to [0, dim] for positive steps, [-1, dim - 1]
    // for negative ones (start to [0, dim - 1]).
    if (start < 0)
      start += dim;
    if (end < 0)
      end += dim;
    int64_t size;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      size = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, std::max<int64_t>(dim - 1, 0));
      end = std::clamp<int64_t>(end, -1, dim - 1);
      size = start > end && dim > 0 ? (start - end + (-step) - 1) / (-step) : 0;
    }
    if (step > 0) {
      offsets[ax] = b.getIndexAttr(size ? start : 0);
      strides[ax] = b.getIndexAttr(step);
    } else {
      // Read forwards from the last element taken, then reverse.
      offsets[ax] = b.getIndexAttr(size ? start + (size - 1) * step : 0);
      strides[ax] = b.getIndexAttr(-step);
      if (size > 1)
        reversed.push_back(ax);
    }
    sizes[ax] = b.getIndexAttr(size);
  }
  // Constant input: fold the whole thing, reversal included.
  RankedTensorType outTy = typeOfSizes(sizes, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    SmallVector<int64_t> st = stridesOf(inTy.getShape());
    if (Value v = foldGather(b, loc, {c}, outTy, [&](ArrayRef<int64_t> idx) {
          int64_t s = 0;
          for (int64_t d = 0; d < rank; ++d) {
            int64_t i = idx[d];
            if (llvm::is_contained(reversed, d))
              i = outTy.getDimSize(d) - 1 - i;
            s += (*getConstantIntValue(offsets[d]) +
                  i * *getConstantIntValue(strides[d])) *
                 st[d];
          }
          return s;
        })) {
      n.setOutput(0, v, n.inputDType(0));
      return success();
    }
  }
  Value y =
      tensor::ExtractSliceOp::create(b, loc, outTy, x, offsets, sizes, strides);
  if (!reversed.empty()) {
    // out[..., i, ...] = y[..., size - 1 - i, ...] on the reversed dims.
    MLIRContext *ctx = b.getContext();
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < rank; ++d)
      exprs.push_back(
          llvm::is_contained(reversed, d)
              ? getAffineConstantExpr(outTy.getDimSize(d) - 1, ctx) -
                    getAffineDimExpr(d, ctx)
              : getAffineDimExpr(d, ctx));
    SmallVector<AffineMap> maps{AffineMap::get(rank, 0, exprs, ctx),
                                AffineMap::getMultiDimIdentityMap(rank, ctx)};
    Value init = emptyTensorLike(b, loc, outTy, y);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    y = linalg::GenericOp::create(
            b, loc, outTy, ValueRange{y}, ValueRange{init}, maps, iters,
            [](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(nb, nl, args[0]);
            })
            .getResult(0);
  }
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Expand, Tile, Pad
//===----------------------------------------------------------------------===//

/// A linalg.generic copying `src` into `init` through `inMap`.
Value copyWithMap(OpBuilder &b, Location loc, Value src, Value init,
                  AffineMap inMap) {
  auto ty = cast<RankedTensorType>(init.getType());
  int64_t rank = ty.getRank();
  SmallVector<AffineMap> maps{
      inMap, AffineMap::getMultiDimIdentityMap(rank, b.getContext())};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, ty, ValueRange{src}, ValueRange{init}, maps, iters,
             [](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl, args[0]);
             })
      .getResult(0);
}

LogicalResult buildExpand(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<SmallVector<int64_t>> shape = requireConstInts(
      n, 1, "the shape", "; Expand to a data-dependent shape is not supported");
  if (failed(shape))
    return failure();
  RankedTensorType inTy = n.inputType(0);
  int64_t inRank = inTy.getRank(), sRank = shape->size();
  int64_t rank = std::max(inRank, sRank);
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes;
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t i = d - (rank - inRank), k = d - (rank - sRank);
    int64_t a = i >= 0 ? inTy.getDimSize(i) : 1;
    int64_t s = k >= 0 ? (*shape)[k] : 1;
    if (s < 0)
      return n.emitError() << "the shape " << shapeString(*shape)
                           << " has the negative entry " << s;
    bool broadcast = false;
    if (ShapedType::isDynamic(a)) {
      if (s != 1)
        return n.emitError()
               << "input dim " << i << " is dynamic and the shape asks for "
               << s << ": whether it broadcasts is only known at run time; "
               << "pin the input shape";
      sizes.push_back(dimOFR(b, loc, n.input(0), i));
    } else if (a == s || s == 1) {
      sizes.push_back(b.getIndexAttr(a));
    } else if (a == 1) {
      sizes.push_back(b.getIndexAttr(s));
      broadcast = true;
    } else {
      return n.emitError() << "input shape " << shapeString(inTy.getShape())
                           << " cannot be expanded to " << shapeString(*shape);
    }
    if (i >= 0)
      exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(d, ctx));
  }
  RankedTensorType outTy = typeOfSizes(sizes, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    Value v;
    if (c.isSplat())
      v = outTy.getNumElements() <= kMaxFoldElements
              ? arith::ConstantOp::create(b, loc, c.resizeSplat(outTy))
                    .getResult()
              : Value();
    else
      v = foldGather(
          b, loc, {c}, outTy,
          [&, st = stridesOf(inTy.getShape())](ArrayRef<int64_t> idx) {
            int64_t s = 0;
            for (int64_t i = 0; i < inRank; ++i)
              s += (inTy.getDimSize(i) == 1 ? 0 : idx[i + rank - inRank]) *
                   st[i];
            return s;
          });
    if (v) {
      n.setOutput(0, v, n.inputDType(0));
      return success();
    }
  }
  if (outTy == inTy) {
    n.setOutput(0, n.input(0), n.inputDType(0));
    return success();
  }
  Value init = emptyTensor(b, loc, sizes, inTy.getElementType());
  n.setOutput(0,
              copyWithMap(b, loc, n.input(0), init,
                          AffineMap::get(rank, 0, exprs, ctx)),
              n.inputDType(0));
  return success();
}

LogicalResult buildTile(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<SmallVector<int64_t>> repeats = requireConstInts(
      n, 1, "repeats", "; Tile with data-dependent repeats is not supported");
  if (failed(repeats))
    return failure();
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  if (static_cast<int64_t>(repeats->size()) != rank)
    return n.emitError() << "repeats has " << repeats->size()
                         << " entries for an input of rank " << rank;
  for (int64_t r : *repeats)
    if (r < 0)
      return n.emitError() << "repeats " << shapeString(*repeats)
                           << " has a negative entry";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d < rank; ++d)
    outSizes.push_back(product(
        b, loc,
        {dimOFR(b, loc, n.input(0), d), b.getIndexAttr((*repeats)[d])}));
  RankedTensorType outTy = typeOfSizes(outSizes, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    SmallVector<int64_t> st = stridesOf(inTy.getShape());
    if (Value v = foldGather(b, loc, {c}, outTy, [&](ArrayRef<int64_t> idx) {
          int64_t s = 0;
          for (int64_t d = 0; d < rank; ++d)
            s += (idx[d] % inTy.getDimSize(d)) * st[d];
          return s;
        })) {
      n.setOutput(0, v, n.inputDType(0));
      return success();
    }
  }
  if (llvm::all_of(*repeats, [](int64_t r) { return r == 1; })) {
    n.setOutput(0, n.input(0), n.inputDType(0));
    return success();
  }
  // Broadcast to [r0, d0, r1, d1, ...], then collapse each (ri, di) pair.
  SmallVector<OpFoldResult> wide;
  SmallVector<AffineExpr> exprs;
  SmallVector<ReassociationIndices> re;
  for (int64_t d = 0; d < rank; ++d) {
    wide.push_back(b.getIndexAttr((*repeats)[d]));
    wide.push_back(dimOFR(b, loc, n.input(0), d));
    exprs.push_back(getAffineDimExpr(2 * d + 1, ctx));
    re.push_back({2 * d, 2 * d + 1});
  }
  Value init = emptyTensor(b, loc, wide, inTy.getElementType());
  Value w = copyWithMap(b, loc, n.input(0), init,
                        AffineMap::get(2 * rank, 0, exprs, ctx));
  Value y = tensor::CollapseShapeOp::create(b, loc, w, re);
  if (y.getType() != outTy)
    y = tensor::CastOp::create(b, loc, outTy, y);
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildPad(ONNXNode &n) {
  int64_t maxIn = n.opset >= 18 ? 4 : n.opset >= 11 ? 3 : 1;
  if (failed(n.checkArity(n.opset >= 11 ? 2 : 1, maxIn, 1, 1)))
    return failure();
  FailureOr<std::string> mode = n.getString("mode", "constant");
  if (failed(mode))
    return failure();
  if (*mode != "constant" && *mode != "reflect" && *mode != "edge")
    return n.emitError() << "mode '" << *mode
                         << "' is not supported (constant, reflect, edge)";
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  Type et = inTy.getElementType();
  OpBuilder &b = n.b;
  Location loc = n.loc;

  SmallVector<int64_t> pads;
  Value padValue;
  if (n.opset < 11) {
    StringRef name = n.opset < 2 ? "paddings" : "pads";
    if (!n.hasAttr(name))
      return n.emitError() << "attribute '" << name << "' is required";
    FailureOr<SmallVector<int64_t>> p = n.getInts(name, {});
    FailureOr<double> v = n.getFloat("value", 0.0);
    if (failed(p) || failed(v))
      return failure();
    pads = *p;
    padValue = scalarConstant(b, loc, et, *v);
  } else {
    FailureOr<SmallVector<int64_t>> p = requireConstInts(n, 1, "pads");
    if (failed(p))
      return failure();
    pads = *p;
    if (n.hasInput(2)) {
      if (n.inputDType(2) != n.inputDType(0))
        return n.emitError()
               << "constant_value has dtype " << dtypeName(n.inputDType(2))
               << ", the data has " << dtypeName(n.inputDType(0));
      RankedTensorType vt = n.inputType(2);
      if (vt.getRank() > 1 || (vt.hasStaticShape() && vt.getNumElements() != 1))
        return n.emitError() << "constant_value must be a scalar";
      if (DenseElementsAttr c = smallConstant(n, 2)) {
        padValue = arith::ConstantOp::create(
            b, loc, cast<TypedAttr>(c.getValues<Attribute>()[0]));
      } else {
        SmallVector<Value> zeros(vt.getRank(), cIndex(b, loc, 0));
        padValue = tensor::ExtractOp::create(b, loc, n.input(2), zeros);
      }
    } else {
      padValue = scalarConstant(b, loc, et, 0);
    }
  }
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  if (n.opset >= 18 && n.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> a = requireConstInts(n, 3, "axes");
    if (failed(a))
      return failure();
    FailureOr<SmallVector<int64_t>> na = axesOf(n, *a, rank);
    if (failed(na))
      return failure();
    axes = *na;
  }
  int64_t na = axes.size();
  if (static_cast<int64_t>(pads.size()) != 2 * na)
    return n.emitError() << "pads has " << pads.size() << " entries, expected "
                         << 2 * na << " (begin and end for " << na << " axes)";
  SmallVector<int64_t> lo(rank, 0), hi(rank, 0);
  for (int64_t k = 0; k < na; ++k) {
    lo[axes[k]] = pads[k];
    hi[axes[k]] = pads[k + na];
  }

  // Negative pads crop first.
  Value x = n.input(0);
  if (llvm::any_of(lo, [](int64_t p) { return p < 0; }) ||
      llvm::any_of(hi, [](int64_t p) { return p < 0; })) {
    SmallVector<OpFoldResult> offs, sizes, strides(rank, b.getIndexAttr(1));
    for (int64_t d = 0; d < rank; ++d) {
      int64_t cl = std::max<int64_t>(-lo[d], 0),
              ch = std::max<int64_t>(-hi[d], 0);
      offs.push_back(b.getIndexAttr(cl));
      OpFoldResult dim = dimOFR(b, loc, x, d);
      if (std::optional<int64_t> s = getConstantIntValue(dim)) {
        if (*s - cl - ch < 0)
          return n.emitError() << "negative pads crop more than dim " << d
                               << " of size " << *s << " holds";
        sizes.push_back(b.getIndexAttr(*s - cl - ch));
      } else {
        sizes.push_back(arith::SubIOp::create(b, loc, cast<Value>(dim),
                                              cIndex(b, loc, cl + ch))
                            .getResult());
      }
      lo[d] = std::max<int64_t>(lo[d], 0);
      hi[d] = std::max<int64_t>(hi[d], 0);
    }
    x = tensor::ExtractSliceOp::create(b, loc, typeOfSizes(sizes, et), x, offs,
                                       sizes, strides);
  }
  auto xTy = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> outShape;
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d < rank; ++d) {
    outShape.push_back(xTy.isDynamicDim(d) ? ShapedType::kDynamic
                                           : xTy.getDimSize(d) + lo[d] + hi[d]);
    outSizes.push_back(dimOFR(b, loc, x, d));
    if (lo[d] + hi[d]) {
      if (std::optional<int64_t> s = getConstantIntValue(outSizes.back()))
        outSizes.back() = b.getIndexAttr(*s + lo[d] + hi[d]);
      else
        outSizes.back() =
            arith::AddIOp::create(b, loc, cast<Value>(outSizes.back()),
                                  cIndex(b, loc, lo[d] + hi[d]))
                .getResult();
    }
  }
  auto outTy = RankedTensorType::get(outShape, et);
  if (llvm::all_of(lo, [](int64_t p) { return p == 0; }) &&
      llvm::all_of(hi, [](int64_t p) { return p == 0; })) {
    n.setOutput(0, x, n.inputDType(0));
    return success();
  }

  if (*mode == "constant") {
    SmallVector<OpFoldResult> l, h;
    for (int64_t d = 0; d < rank; ++d) {
      l.push_back(b.getIndexAttr(lo[d]));
      h.push_back(b.getIndexAttr(hi[d]));
    }
    Value y = tensor::PadOp::create(b, loc, outTy, x, l, h, padValue);
    n.setOutput(0, y, n.inputDType(0));
    return success();
  }

  // reflect/edge: every output element reads a source element whose index
  // is mirrored (reflect) or clamped (edge) into range.
  for (int64_t d = 0; d < rank; ++d) {
    if (xTy.isDynamicDim(d) || (lo[d] == 0 && hi[d] == 0))
      continue;
    int64_t s = xTy.getDimSize(d);
    if (s == 0)
      return n.emitError() << "cannot pad dim " << d << " of size 0 in mode '"
                           << *mode << "'";
    if (*mode == "reflect" && (lo[d] > s - 1 || hi[d] > s - 1))
      return n.emitError() << "reflect pads of dim " << d
                           << " must be below its size " << s << ", got "
                           << lo[d] << " and " << hi[d];
  }
  SmallVector<Value> srcDims;
  for (int64_t d = 0; d < rank; ++d)
    srcDims.push_back(dimValue(b, loc, x, d));
  Value init = emptyTensor(b, loc, outSizes, et);
  bool reflect = *mode == "reflect";
  SmallVector<AffineMap> maps{
      AffineMap::getMultiDimIdentityMap(rank, b.getContext())};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value y = linalg::GenericOp::create(
                b, loc, outTy, ValueRange{}, ValueRange{init}, maps, iters,
                [&](OpBuilder &nb, Location nl, ValueRange) {
                  SmallVector<Value> idx;
                  Value zero = cIndex(nb, nl, 0), one = cIndex(nb, nl, 1);
                  for (int64_t d = 0; d < rank; ++d) {
                    Value i = linalg::IndexOp::create(nb, nl, d);
                    if (lo[d] == 0 && hi[d] == 0) {
                      idx.push_back(i);
                      continue;
                    }
                    Value j =
                        arith::SubIOp::create(nb, nl, i, cIndex(nb, nl, lo[d]));
                    Value last = arith::SubIOp::create(nb, nl, srcDims[d], one);
                    if (reflect) {
                      // j < 0: -j; j > last: 2 * last - j.
                      Value neg = arith::SubIOp::create(nb, nl, zero, j);
                      Value isNeg = arith::CmpIOp::create(
                          nb, nl, arith::CmpIPredicate::slt, j, zero);
                      j = arith::SelectOp::create(nb, nl, isNeg, neg, j);
                      Value twice = arith::AddIOp::create(nb, nl, last, last);
                      Value mirr = arith::SubIOp::create(nb, nl, twice, j);
                      Value isHigh = arith::CmpIOp::create(
                          nb, nl, arith::CmpIPredicate::sgt, j, last);
                      j = arith::SelectOp::create(nb, nl, isHigh, mirr, j);
                    } else {
                      j = arith::MaxSIOp::create(nb, nl, j, zero);
                      j = arith::MinSIOp::create(nb, nl, j, last);
                    }
                    idx.push_back(j);
                  }
                  Value v = tensor::ExtractOp::create(nb, nl, x, idx);
                  linalg::YieldOp::create(nb, nl, v);
                })
                .getResult(0);
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Shape, Size, ConstantOfShape, Range
//===----------------------------------------------------------------------===//

/// A 1-D (or scalar when `scalar`) i64 tensor of `vals`: a constant when all
/// are static, else tensor.from_elements.
Value i64Tensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> vals,
                bool scalar) {
  Type i64 = b.getI64Type();
  SmallVector<int64_t> shape;
  if (!scalar)
    shape.push_back(vals.size());
  auto ty = RankedTensorType::get(shape, i64);
  SmallVector<int64_t> cs;
  for (OpFoldResult v : vals)
    if (std::optional<int64_t> c = getConstantIntValue(v))
      cs.push_back(*c);
  if (cs.size() == vals.size())
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(ty, ArrayRef<int64_t>(cs)));
  SmallVector<Value> elems;
  for (OpFoldResult v : vals) {
    if (std::optional<int64_t> c = getConstantIntValue(v))
      elems.push_back(
          arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(*c)));
    else
      elems.push_back(arith::IndexCastOp::create(b, loc, i64, cast<Value>(v)));
  }
  return tensor::FromElementsOp::create(b, loc, ty, elems);
}

LogicalResult buildShape(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  int64_t rank = n.inputType(0).getRank();
  int64_t start = 0, end = rank;
  if (n.opset >= 15) {
    FailureOr<int64_t> s = n.getInt("start", 0);
    FailureOr<int64_t> e = n.getInt("end", rank);
    if (failed(s) || failed(e))
      return failure();
    // Negative counts from the back; out of range clamps to [0, rank].
    auto norm = [&](int64_t v) {
      return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank);
    };
    start = norm(*s);
    end = std::max(norm(*e), start);
  }
  SmallVector<OpFoldResult> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(dimOFR(n.b, n.loc, n.input(0), d));
  n.setOutput(0, i64Tensor(n.b, n.loc, dims, /*scalar=*/false), kInt64);
  return success();
}

LogicalResult buildSize(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  SmallVector<OpFoldResult> dims;
  for (int64_t d = 0; d < n.inputType(0).getRank(); ++d)
    dims.push_back(dimOFR(n.b, n.loc, n.input(0), d));
  n.setOutput(0,
              i64Tensor(n.b, n.loc, {product(n.b, n.loc, dims)},
                        /*scalar=*/true),
              kInt64);
  return success();
}

/// A tensor of `ty` filled with `value`: a splat constant when small,
/// otherwise linalg.fill.
Value filled(OpBuilder &b, Location loc, RankedTensorType ty, TypedAttr value) {
  if (ty.getNumElements() <= kMaxFoldElements)
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, value));
  Value init =
      tensor::EmptyOp::create(b, loc, ty.getShape(), ty.getElementType());
  Value v = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, v, init).getResult(0);
}

LogicalResult buildConstantOfShape(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  if (n.inputDType(0) != kInt64)
    return n.emitError() << "the shape (input #0) must be int64, got "
                         << dtypeName(n.inputDType(0));
  FailureOr<SmallVector<int64_t>> shape = requireConstInts(
      n, 0, "the shape",
      "; ConstantOfShape with a data-dependent shape is not supported");
  if (failed(shape))
    return failure();
  for (int64_t d : *shape)
    if (d < 0)
      return n.emitError() << "the shape " << shapeString(*shape)
                           << " has a negative entry";
  TypedAttr value = n.b.getF32FloatAttr(0.0f);
  int32_t dtype = kFloat;
  if (const onnx::TensorProto *t = n.getTensor("value")) {
    auto a = tensorToAttr(*t, /*resourceName=*/"", n.importer.source,
                          n.b.getContext(), [&] { return n.emitError(); });
    if (failed(a))
      return failure();
    auto dense = dyn_cast<DenseElementsAttr>(*a);
    if (!dense || dense.getNumElements() != 1)
      return n.emitError() << "attribute 'value' must hold one element";
    value = cast<TypedAttr>(*dense.getValues<Attribute>().begin());
    dtype = t->data_type();
  } else if (n.hasAttr("value")) {
    return failure(); // wrong attribute type, reported
  }
  auto ty = RankedTensorType::get(*shape, value.getType());
  n.setOutput(0, filled(n.b, n.loc, ty, value), dtype);
  return success();
}

LogicalResult buildRange(ONNXNode &n) {
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  int32_t dt = n.inputDType(0);
  for (int64_t i = 1; i < 3; ++i)
    if (n.inputDType(i) != dt)
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(dt);
  if (dt != kFloat && dt != kDouble && dt != kInt16 && dt != kInt32 &&
      dt != kInt64)
    return n.emitError() << "dtype " << dtypeName(dt)
                         << " is not supported (float, double, int16, int32, "
                            "int64)";
  for (int64_t i = 0; i < 3; ++i)
    if (n.inputType(i).getRank() != 0 &&
        !(n.inputType(i).hasStaticShape() &&
          n.inputType(i).getNumElements() == 1))
      return n.emitError() << "input #" << i << " must be a scalar";
  Type et = n.inputType(0).getElementType();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  bool isFloat = isFloatDType(dt);
  static const char *names[] = {"start", "limit", "delta"};
  int64_t count;
  double fs = 0, fd = 0;
  int64_t is = 0, id = 0;
  if (isFloat) {
    SmallVector<double> v;
    for (int64_t i = 0; i < 3; ++i) {
      std::optional<SmallVector<double>> c = n.constantFloats(i);
      if (!c)
        return n.emitError() << names[i]
                             << " must be a constant; a Range of "
                                "data-dependent size is not supported";
      v.push_back((*c)[0]);
    }
    if (v[2] == 0)
      return n.emitError() << "delta must not be 0";
    // The count as the spec computes it, in the input's precision.
    double c =
        et.isF32()
            ? std::ceil(static_cast<float>(static_cast<float>(v[1] - v[0]) /
                                           static_cast<float>(v[2])))
            : std::ceil((v[1] - v[0]) / v[2]);
    if (!(c < 1e9))
      return n.emitError() << "the range has too many elements";
    count = std::max<int64_t>(static_cast<int64_t>(c), 0);
    fs = v[0];
    fd = v[2];
  } else {
    SmallVector<int64_t> v;
    for (int64_t i = 0; i < 3; ++i) {
      std::optional<SmallVector<int64_t>> c = n.constantInts(i);
      if (!c)
        return n.emitError() << names[i]
                             << " must be a constant; a Range of "
                                "data-dependent size is not supported";
      v.push_back((*c)[0]);
    }
    if (v[2] == 0)
      return n.emitError() << "delta must not be 0";
    // ceil((limit - start) / delta) without overflow for int64 inputs.
    APInt diff = APInt(128, v[1], true) - APInt(128, v[0], true);
    APInt delta(128, v[2], true);
    APInt q = diff.sdiv(delta), r = diff.srem(delta);
    if (!r.isZero() && (r.isNegative() == delta.isNegative()))
      q += 1;
    if (q.isNegative())
      q = 0;
    if (q.sgt(APInt(128, 1000000000)))
      return n.emitError() << "the range has too many elements";
    count = q.getSExtValue();
    is = v[0];
    id = v[2];
  }
  auto ty = RankedTensorType::get({count}, et);
  if (count <= kMaxFoldElements) {
    // Accumulated like the spec's loop (value += delta), in the element
    // type's precision.
    SmallVector<Attribute> vals;
    const llvm::fltSemantics *sem =
        isFloat ? &cast<FloatType>(et).getFloatSemantics() : nullptr;
    APFloat acc(fs), step(fd);
    bool lost;
    if (isFloat) {
      acc.convert(*sem, APFloat::rmNearestTiesToEven, &lost);
      step.convert(*sem, APFloat::rmNearestTiesToEven, &lost);
    }
    for (int64_t i = 0; i < count; ++i) {
      if (isFloat) {
        vals.push_back(FloatAttr::get(et, acc));
        acc.add(step, APFloat::rmNearestTiesToEven);
      } else {
        vals.push_back(b.getIntegerAttr(et, is + i * id));
      }
    }
    n.setOutput(
        0, arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, vals)),
        dt);
    return success();
  }
  Value init = tensor::EmptyOp::create(b, loc, ty.getShape(), et);
  SmallVector<AffineMap> maps{
      AffineMap::getMultiDimIdentityMap(1, b.getContext())};
  Value y =
      linalg::GenericOp::create(
          b, loc, ty, ValueRange{}, ValueRange{init}, maps,
          {utils::IteratorType::parallel},
          [&](OpBuilder &nb, Location nl, ValueRange) {
            Value i = linalg::IndexOp::create(nb, nl, 0);
            Value r;
            if (isFloat) {
              Value fi = arith::UIToFPOp::create(
                  nb, nl, et,
                  arith::IndexCastUIOp::create(nb, nl, nb.getI64Type(), i));
              r = arith::AddFOp::create(
                  nb, nl, scalarConstant(nb, nl, et, fs),
                  arith::MulFOp::create(nb, nl, fi,
                                        scalarConstant(nb, nl, et, fd)));
            } else {
              Value ii = arith::IndexCastOp::create(nb, nl, et, i);
              r = arith::AddIOp::create(
                  nb, nl,
                  arith::ConstantOp::create(nb, nl, nb.getIntegerAttr(et, is)),
                  arith::MulIOp::create(
                      nb, nl, ii,
                      arith::ConstantOp::create(nb, nl,
                                                nb.getIntegerAttr(et, id))));
            }
            linalg::YieldOp::create(nb, nl, r);
          })
          .getResult(0);
  n.setOutput(0, y, dt);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerShapeOps(OpRegistry &r) {
  // Several since-versions share a builder that checks n.opset itself.
  for (int64_t v : {1, 5, 14})
    r.add("", "Reshape", v, buildReshape);
  for (int64_t v : {1, 11})
    r.add("", "Flatten", v, buildFlatten);
  for (int64_t v : {1, 11, 13}) {
    r.add("", "Squeeze", v, buildSqueeze);
    r.add("", "Unsqueeze", v, buildUnsqueeze);
  }
  r.add("", "Transpose", 1, buildTranspose);
  for (int64_t v : {1, 4, 11})
    r.add("", "Concat", v, buildConcat);
  for (int64_t v : {1, 2, 11, 13, 18})
    r.add("", "Split", v, buildSplit);
  for (int64_t v : {1, 10, 11})
    r.add("", "Slice", v, buildSlice);
  r.add("", "Expand", 8, buildExpand);
  r.add("", "Tile", 6, buildTile);
  for (int64_t v : {1, 2, 11, 18})
    r.add("", "Pad", v, buildPad);
  for (int64_t v : {1, 15})
    r.add("", "Shape", v, buildShape);
  r.add("", "Size", 1, buildSize);
  r.add("", "ConstantOfShape", 9, buildConstantOfShape);
  r.add("", "Range", 11, buildRange);
}
