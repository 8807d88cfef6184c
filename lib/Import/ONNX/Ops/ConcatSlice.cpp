//===- ConcatSlice.cpp - Transpose, Concat, Split, Slice ------------------===//
//
// linalg.transpose, tensor.concat and tensor.extract_slice (a negative
// Slice step reads forwards, then a linalg.generic reverses). Small
// constant inputs fold, so that shape vectors cut and joined by
// Slice/Concat stay constants.
//
//===----------------------------------------------------------------------===//

#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

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
      noteTransposedWeight(n, v, *perm);
      n.setOutput(0, v, n.inputDType(0));
      return success();
    }
  }
  Value init = emptyTensor(n.b, n.loc, sizes, inTy.getElementType());
  auto t = linalg::TransposeOp::create(n.b, n.loc, n.input(0), init, *perm);
  noteTransposedWeight(n, t.getResult()[0], *perm);
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
  // Dims outside the axis must agree; dynamic ones are checked when the
  // model runs (a longer input would be written past the output's end).
  for (int64_t i = 1; i < n.numInputs(); ++i)
    for (int64_t d = 0; d < rank; ++d)
      if (d != *axis)
        assertSameSize(n, n.input(0), d, n.input(i), d,
                       "input #" + std::to_string(i) + "'s dim " +
                           std::to_string(d) +
                           " differs from input #0's at run time");
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
  // Inputs empty along the axis add nothing; left out, as the lowering of
  // tensor.concat would insert them at an offset past the end (refused).
  SmallVector<Value> nonEmpty;
  for (Value v : ins)
    if (cast<RankedTensorType>(v.getType()).getDimSize(*axis) != 0)
      nonEmpty.push_back(v);
  if (!nonEmpty.empty() && nonEmpty.size() != ins.size())
    ins = nonEmpty;
  Value c = ins.size() == 1
                ? ins[0]
                : tensor::ConcatOp::create(n.b, n.loc, *axis, ins).getResult();
  if (c.getType() != outTy)
    c = tensor::CastOp::create(n.b, n.loc, outTy, c);
  n.setOutput(0, c, n.inputDType(0));
  return success();
}

/// tensor.extract_slice, or an empty tensor when a size is statically 0:
/// extract_slice refuses an offset at the end of a dim even for a size of 0
/// (Split's last part of size 0, as the RotaryEmbedding expansions write it;
/// a Slice whose starts are clamped to the end).
Value extractSliceOrEmpty(OpBuilder &b, Location loc, RankedTensorType outTy,
                          Value x, ArrayRef<OpFoldResult> offsets,
                          ArrayRef<OpFoldResult> sizes,
                          ArrayRef<OpFoldResult> strides) {
  if (llvm::is_contained(outTy.getShape(), 0))
    return tensor::EmptyOp::create(b, loc, sizes, outTy.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, outTy, x, offsets, sizes,
                                        strides);
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
  return extractSliceOrEmpty(n.b, n.loc, outTy, n.input(0), offsets, sizes,
                             strides);
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
  SmallVector<OpFoldResult> dynStarts, dynEnds;
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
    auto s = dynamicInts(n, 1, "starts"), e = dynamicInts(n, 2, "ends");
    if (failed(s) || failed(e))
      return failure();
    // Entries known only at run time are values in dynStarts/dynEnds.
    for (OpFoldResult v : *s)
      starts.push_back(getConstantIntValue(v).value_or(0));
    for (OpFoldResult v : *e)
      ends.push_back(getConstantIntValue(v).value_or(0));
    dynStarts = *s;
    dynEnds = *e;
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
    if (!dynStarts.empty() &&
        (isa<Value>(dynStarts[k]) || isa<Value>(dynEnds[k]))) {
      // A start or end known at run time (x[:, :seq_len]): clamped when
      // the model runs, whatever its sign.
      if (step < 0)
        return n.emitError() << "a negative step with a start or end known "
                                "only at run time is not supported";
      Value d = toValue(b, loc, sizes[ax]);
      Value zero = cIndex(b, loc, 0);
      auto clamp = [&](OpFoldResult v) -> Value {
        constexpr int64_t lim = int64_t(1) << 62; // no index overflow
        Value x;
        if (std::optional<int64_t> c = getConstantIntValue(v)) {
          if (*c >= 0)
            return arith::MinSIOp::create(b, loc,
                                          cIndex(b, loc, std::min(*c, lim)), d);
          x = arith::AddIOp::create(b, loc, d,
                                    cIndex(b, loc, std::max(*c, -lim)));
        } else {
          Value y = cast<Value>(v);
          Value neg =
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, y, zero);
          x = arith::SelectOp::create(b, loc, neg,
                                      arith::AddIOp::create(b, loc, y, d), y);
          x = arith::MinSIOp::create(b, loc, x, d);
        }
        return arith::MaxSIOp::create(b, loc, x, zero);
      };
      Value s = clamp(dynStarts[k]), e = clamp(dynEnds[k]);
      Value len = arith::SubIOp::create(b, loc, e, s);
      len = arith::MaxSIOp::create(b, loc, len, zero);
      if (step != 1)
        len = arith::CeilDivSIOp::create(b, loc, len, cIndex(b, loc, step));
      offsets[ax] = s;
      sizes[ax] = len;
      strides[ax] = b.getIndexAttr(step);
      continue;
    }
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
  // Nothing selected (starts clamped to the end of a dim): an empty tensor.
  Value y = extractSliceOrEmpty(b, loc, outTy, x, offsets, sizes, strides);
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

} // namespace

void mlir::qopt::onnx_import::registerConcatSliceOps(OpRegistry &r) {
  // Several since-versions share a builder that checks n.opset itself.
  r.add("", "Transpose", 1, buildTranspose);
  for (int64_t v : {1, 4, 11})
    r.add("", "Concat", v, buildConcat);
  for (int64_t v : {1, 2, 11, 13, 18})
    r.add("", "Split", v, buildSplit);
  for (int64_t v : {1, 10, 11})
    r.add("", "Slice", v, buildSlice);
}
