//===- Indexing.cpp - gathers, scatters, rearrangements, Einsum, Resize ---===//
//
// Gather-like ops become one linalg.generic over the result whose body reads
// the source with tensor.extract at computed coordinates (linalg.index plus
// index values read from the indices tensor). ScatterND is a loop nest
// (scf.for) of tensor.insert into the data tensor, as a scatter has no
// linalg form. DepthToSpace/SpaceToDepth are expand_shape + transpose +
// collapse_shape; Einsum is one contraction generic built from the equation;
// Resize precomputes its per-axis source index (and weight) tables at import
// time from the constant scales/sizes, with ONNX Runtime's float arithmetic.
//
// Index values read at run time are normalized: negative indices count from
// the end where the spec allows it, then they are clamped into the valid
// range so that an out-of-range index (an error in ONNX) cannot read or write
// out of bounds. Constant indices are range-checked at import.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <algorithm>
#include <cmath>
#include <map>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

bool isIndexDType(int32_t d) { return d == kInt32 || d == kInt64; }

LogicalResult requireIndexDType(ONNXNode &n, int64_t i, StringRef what) {
  if (!isIndexDType(n.inputDType(i)))
    return n.emitError() << what << " must be int32 or int64, got "
                         << dtypeName(n.inputDType(i));
  return success();
}

/// `ofr * f` or `ofr / f` (f > 0), folded when static.
OpFoldResult scaleOFR(OpBuilder &b, Location loc, OpFoldResult ofr, int64_t f,
                      bool divide) {
  if (std::optional<int64_t> c = getConstantIntValue(ofr))
    return b.getIndexAttr(divide ? *c / f : *c * f);
  Value v = cast<Value>(ofr), fv = cIndex(b, loc, f);
  if (divide)
    return arith::DivUIOp::create(b, loc, v, fv).getResult();
  return arith::MulIOp::create(b, loc, v, fv).getResult();
}

/// An integer (signed or unsigned) or float scalar as an index; floats are
/// truncated toward zero.
Value toIndex(OpBuilder &b, Location loc, Value v, bool isUnsigned = false) {
  if (isa<FloatType>(v.getType()))
    v = arith::FPToSIOp::create(b, loc, b.getI64Type(), v);
  else if (isUnsigned)
    return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), v);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

/// Wraps a negative index by `size` and clamps it into [0, size - 1].
Value normalizeIndex(OpBuilder &b, Location loc, Value idx, Value size) {
  Value zero = cIndex(b, loc, 0);
  Value neg =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, idx, zero);
  Value wrapped = arith::AddIOp::create(b, loc, idx, size);
  idx = arith::SelectOp::create(b, loc, neg, wrapped, idx);
  Value last = arith::SubIOp::create(b, loc, size, cIndex(b, loc, 1));
  idx = arith::MaxSIOp::create(b, loc, idx, zero);
  return arith::MinSIOp::create(b, loc, idx, last);
}

/// Checks constant indices of input `i` against the static axis sizes given
/// by `boundOf(flat position)` (a negative bound means unknown).
LogicalResult checkConstantIndices(ONNXNode &n, int64_t i,
                                   function_ref<int64_t(size_t)> boundOf) {
  std::optional<SmallVector<int64_t>> vals = n.constantInts(i);
  if (!vals)
    return success();
  for (auto [pos, v] : llvm::enumerate(*vals)) {
    int64_t bound = boundOf(pos);
    if (bound >= 0 && (v < -bound || v >= bound))
      return n.emitError() << "index " << v
                           << " is out of range for an axis of "
                           << "size " << bound;
  }
  return success();
}

/// An all-parallel linalg.generic writing `init` (identity map) from
/// `inputs` (maps `inputMaps`); `body` gets the input elements.
Value parallelGeneric(
    OpBuilder &b, Location loc, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps, Value init,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  int64_t rank = cast<RankedTensorType>(init.getType()).getRank();
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args.drop_back()));
      });
  return g.getResult(0);
}

/// The map (d0..d[numDims-1]) -> (d[first], ..., d[first + count - 1]).
AffineMap dimRangeMap(MLIRContext *ctx, int64_t numDims, int64_t first,
                      int64_t count) {
  SmallVector<AffineExpr> e;
  for (int64_t i = 0; i < count; ++i)
    e.push_back(getAffineDimExpr(first + i, ctx));
  return AffineMap::get(numDims, 0, e, ctx);
}

Value loopIndex(OpBuilder &b, Location loc, int64_t d) {
  return linalg::IndexOp::create(b, loc, d);
}

//===----------------------------------------------------------------------===//
// Gather, GatherElements, GatherND
//===----------------------------------------------------------------------===//

LogicalResult buildGather(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", 0);
  if (failed(axisAttr) || failed(requireIndexDType(n, 1, "indices")))
    return failure();
  RankedTensorType dTy = n.inputType(0), iTy = n.inputType(1);
  if (dTy.getRank() < 1)
    return n.emitError() << "data must have rank >= 1";
  FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, dTy.getRank());
  if (failed(axis))
    return failure();
  int64_t r = dTy.getRank(), q = iTy.getRank(), ax = *axis;
  int64_t axSizeStatic = dTy.isDynamicDim(ax) ? -1 : dTy.getDimSize(ax);
  if (failed(checkConstantIndices(n, 1, [&](size_t) { return axSizeStatic; })))
    return failure();

  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value data = n.input(0), indices = n.input(1);

  // A constant scalar index (x[:, k]): a rank-reducing extract_slice.
  std::optional<SmallVector<int64_t>> cIdx = n.constantInts(1);
  if (q == 0 && cIdx && cIdx->size() == 1 &&
      ((*cIdx)[0] >= 0 || axSizeStatic >= 0)) {
    int64_t k = (*cIdx)[0] < 0 ? (*cIdx)[0] + axSizeStatic : (*cIdx)[0];
    SmallVector<OpFoldResult> offsets(r, b.getIndexAttr(0)), sizes,
        strides(r, b.getIndexAttr(1));
    SmallVector<int64_t> outShape;
    for (int64_t i = 0; i < r; ++i) {
      sizes.push_back(i == ax ? b.getIndexAttr(1) : dimOFR(b, loc, data, i));
      if (i != ax)
        outShape.push_back(dTy.getDimSize(i));
    }
    offsets[ax] = b.getIndexAttr(k);
    auto outTy = RankedTensorType::get(outShape, dTy.getElementType());
    Value y = tensor::ExtractSliceOp::create(b, loc, outTy, data, offsets,
                                             sizes, strides);
    n.setOutput(0, y, n.inputDType(0));
    return success();
  }

  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < ax; ++i)
    sizes.push_back(dimOFR(b, loc, data, i));
  for (int64_t j = 0; j < q; ++j)
    sizes.push_back(dimOFR(b, loc, indices, j));
  for (int64_t i = ax + 1; i < r; ++i)
    sizes.push_back(dimOFR(b, loc, data, i));
  Value init = tensor::EmptyOp::create(b, loc, sizes, dTy.getElementType());
  int64_t outRank = r - 1 + q;
  Value axSize = dimValue(b, loc, data, ax);
  Value y = parallelGeneric(
      b, loc, {indices}, {dimRangeMap(b.getContext(), outRank, ax, q)}, init,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < ax; ++i)
          coords.push_back(loopIndex(nb, l, i));
        coords.push_back(
            normalizeIndex(nb, l, toIndex(nb, l, args[0]), axSize));
        for (int64_t i = ax + 1; i < r; ++i)
          coords.push_back(loopIndex(nb, l, i - 1 + q));
        return tensor::ExtractOp::create(nb, l, data, coords).getResult();
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildGatherElements(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", 0);
  if (failed(axisAttr) || failed(requireIndexDType(n, 1, "indices")))
    return failure();
  RankedTensorType dTy = n.inputType(0), iTy = n.inputType(1);
  int64_t r = dTy.getRank();
  if (r < 1 || iTy.getRank() != r)
    return n.emitError() << "data and indices must have the same rank >= 1, "
                            "got "
                         << r << " and " << iTy.getRank();
  FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, r);
  if (failed(axis))
    return failure();
  int64_t ax = *axis;
  int64_t axSizeStatic = dTy.isDynamicDim(ax) ? -1 : dTy.getDimSize(ax);
  if (failed(checkConstantIndices(n, 1, [&](size_t) { return axSizeStatic; })))
    return failure();

  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value data = n.input(0), indices = n.input(1);
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < r; ++i)
    sizes.push_back(dimOFR(b, loc, indices, i));
  Value init = tensor::EmptyOp::create(b, loc, sizes, dTy.getElementType());
  Value axSize = dimValue(b, loc, data, ax);
  Value y = parallelGeneric(
      b, loc, {indices}, {AffineMap::getMultiDimIdentityMap(r, b.getContext())},
      init, [&](OpBuilder &nb, Location l, ValueRange args) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < r; ++i)
          coords.push_back(
              i == ax ? normalizeIndex(nb, l, toIndex(nb, l, args[0]), axSize)
                      : loopIndex(nb, l, i));
        return tensor::ExtractOp::create(nb, l, data, coords).getResult();
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// Shared checks of GatherND/ScatterND: returns k = indices.shape[-1].
FailureOr<int64_t> checkNDIndices(ONNXNode &n, int64_t batchDims) {
  RankedTensorType dTy = n.inputType(0), iTy = n.inputType(1);
  int64_t r = dTy.getRank(), q = iTy.getRank();
  if (r < 1 || q < 1)
    return n.emitError() << "data and indices must have rank >= 1";
  if (batchDims < 0 || batchDims >= std::min(r, q))
    return n.emitError() << "batch_dims = " << batchDims
                         << " must be in [0, min(rank(data), rank(indices)))";
  int64_t k = iTy.getDimSize(q - 1);
  if (ShapedType::isDynamic(k))
    return n.emitError() << "the last dim of indices must be static";
  if (k < 1 || k > r - batchDims)
    return n.emitError() << "the last dim of indices (" << k
                         << ") must be in [1, rank(data) - batch_dims]";
  for (int64_t i = 0; i < batchDims; ++i)
    if (!dTy.isDynamicDim(i) && !iTy.isDynamicDim(i) &&
        dTy.getDimSize(i) != iTy.getDimSize(i))
      return n.emitError() << "batch dim " << i
                           << " differs: " << dTy.getDimSize(i) << " in data, "
                           << iTy.getDimSize(i) << " in indices";
  if (failed(checkConstantIndices(n, 1, [&](size_t pos) -> int64_t {
        int64_t d = batchDims + static_cast<int64_t>(pos % k);
        return dTy.isDynamicDim(d) ? -1 : dTy.getDimSize(d);
      })))
    return failure();
  return k;
}

LogicalResult buildGatherND(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  int64_t batchDims = 0;
  if (n.opset >= 12) {
    FailureOr<int64_t> bd = n.getInt("batch_dims", 0);
    if (failed(bd))
      return failure();
    batchDims = *bd;
  }
  if (failed(requireIndexDType(n, 1, "indices")))
    return failure();
  FailureOr<int64_t> kOr = checkNDIndices(n, batchDims);
  if (failed(kOr))
    return failure();
  RankedTensorType dTy = n.inputType(0), iTy = n.inputType(1);
  int64_t r = dTy.getRank(), q = iTy.getRank(), k = *kOr;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value data = n.input(0), indices = n.input(1);

  // Result: indices.shape[:-1] + data.shape[batch_dims + k:].
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < q - 1; ++i)
    sizes.push_back(dimOFR(b, loc, indices, i));
  for (int64_t i = batchDims + k; i < r; ++i)
    sizes.push_back(dimOFR(b, loc, data, i));
  Value init = tensor::EmptyOp::create(b, loc, sizes, dTy.getElementType());
  SmallVector<Value> axSizes;
  for (int64_t j = 0; j < k; ++j)
    axSizes.push_back(dimValue(b, loc, data, batchDims + j));
  Value y = parallelGeneric(
      b, loc, {}, {}, init, [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> idxCoords, coords;
        for (int64_t i = 0; i < q - 1; ++i)
          idxCoords.push_back(loopIndex(nb, l, i));
        for (int64_t i = 0; i < batchDims; ++i)
          coords.push_back(idxCoords[i]);
        for (int64_t j = 0; j < k; ++j) {
          SmallVector<Value> c(idxCoords);
          c.push_back(cIndex(nb, l, j));
          Value v = tensor::ExtractOp::create(nb, l, indices, c);
          coords.push_back(
              normalizeIndex(nb, l, toIndex(nb, l, v), axSizes[j]));
        }
        for (int64_t i = batchDims + k; i < r; ++i)
          coords.push_back(loopIndex(nb, l, q - 1 + i - batchDims - k));
        return tensor::ExtractOp::create(nb, l, data, coords).getResult();
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// ScatterND
//===----------------------------------------------------------------------===//

LogicalResult buildScatterND(ONNXNode &n) {
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  std::string reduction = "none";
  if (n.opset >= 16) {
    FailureOr<std::string> red = n.getString("reduction", "none");
    if (failed(red))
      return failure();
    reduction = *red;
    bool ok = reduction == "none" || reduction == "add" || reduction == "mul" ||
              (n.opset >= 18 && (reduction == "max" || reduction == "min"));
    if (!ok)
      return n.emitError() << "reduction '" << reduction
                           << "' is not one of 'none', 'add', 'mul'"
                           << (n.opset >= 18 ? ", 'max', 'min'" : "");
  }
  if (failed(requireIndexDType(n, 1, "indices")))
    return failure();
  if (n.inputDType(2) != n.inputDType(0))
    return n.emitError() << "updates have dtype " << dtypeName(n.inputDType(2))
                         << ", data has " << dtypeName(n.inputDType(0));
  FailureOr<int64_t> kOr = checkNDIndices(n, 0);
  if (failed(kOr))
    return failure();
  RankedTensorType dTy = n.inputType(0), iTy = n.inputType(1),
                   uTy = n.inputType(2);
  int64_t r = dTy.getRank(), q = iTy.getRank(), k = *kOr;
  // updates.shape must be indices.shape[:-1] + data.shape[k:].
  SmallVector<int64_t> expected(iTy.getShape().drop_back());
  llvm::append_range(expected, dTy.getShape().drop_front(k));
  bool shapeOk = uTy.getRank() == static_cast<int64_t>(expected.size());
  for (int64_t i = 0; shapeOk && i < uTy.getRank(); ++i)
    shapeOk = ShapedType::isDynamic(expected[i]) || uTy.isDynamicDim(i) ||
              expected[i] == uTy.getDimSize(i);
  if (!shapeOk) {
    auto d = n.emitError() << "updates must have shape indices.shape[:-1] + "
                              "data.shape[k:] = [";
    auto print = [&](int64_t v) {
      if (ShapedType::isDynamic(v))
        d << "?";
      else
        d << v;
    };
    llvm::interleaveComma(expected, d, print);
    d << "], got [";
    llvm::interleaveComma(uTy.getShape(), d, print);
    return d << "]";
  }

  OpBuilder &b = n.b;
  Location loc = n.loc;
  b.getContext()->getOrLoadDialect<scf::SCFDialect>();
  Value data = n.input(0), indices = n.input(1), updates = n.input(2);
  Type elemTy = dTy.getElementType();
  bool isFloat = isa<FloatType>(elemTy),
       isUnsigned = isUnsignedDType(n.inputDType(0));
  if (reduction != "none" && elemTy.isInteger(1))
    return n.emitError() << "reduction '" << reduction
                         << "' is not supported for bool";
  SmallVector<Value> axSizes;
  for (int64_t j = 0; j < k; ++j)
    axSizes.push_back(dimValue(b, loc, data, j));
  // Scatter into a copy of a function argument: bufferized in place, the
  // argument itself would be returned, which the deallocation pipeline can
  // only handle with a bufferization.clone that qopt-cpu-pipeline does not
  // lower.
  if (isa<BlockArgument>(data)) {
    SmallVector<OpFoldResult> sizes;
    for (int64_t i = 0; i < r; ++i)
      sizes.push_back(dimOFR(b, loc, data, i));
    Value init = tensor::EmptyOp::create(b, loc, sizes, elemTy);
    data = linalg::CopyOp::create(b, loc, data, init).getResult(0);
  }
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t i = 0; i < uTy.getRank(); ++i) {
    lbs.push_back(cIndex(b, loc, 0));
    ubs.push_back(dimValue(b, loc, updates, i));
    steps.push_back(cIndex(b, loc, 1));
  }
  // Updates are applied in order, so with duplicate indices the last one
  // wins (reduction "none") or all are combined.
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{data},
      [&](OpBuilder &nb, Location l, ValueRange ivs,
          ValueRange iter) -> scf::ValueVector {
        SmallVector<Value> dest;
        for (int64_t j = 0; j < k; ++j) {
          SmallVector<Value> c(ivs.take_front(q - 1));
          c.push_back(cIndex(nb, l, j));
          Value v = tensor::ExtractOp::create(nb, l, indices, c);
          dest.push_back(normalizeIndex(nb, l, toIndex(nb, l, v), axSizes[j]));
        }
        for (int64_t i = q - 1; i < uTy.getRank(); ++i)
          dest.push_back(ivs[i]);
        Value u = tensor::ExtractOp::create(nb, l, updates, ivs);
        if (reduction != "none") {
          Value old = tensor::ExtractOp::create(nb, l, iter[0], dest);
          if (reduction == "add")
            u = isFloat ? arith::AddFOp::create(nb, l, old, u).getResult()
                        : arith::AddIOp::create(nb, l, old, u).getResult();
          else if (reduction == "mul")
            u = isFloat ? arith::MulFOp::create(nb, l, old, u).getResult()
                        : arith::MulIOp::create(nb, l, old, u).getResult();
          else if (reduction == "max")
            u = isFloat ? arith::MaximumFOp::create(nb, l, old, u).getResult()
                : isUnsigned
                    ? arith::MaxUIOp::create(nb, l, old, u).getResult()
                    : arith::MaxSIOp::create(nb, l, old, u).getResult();
          else
            u = isFloat ? arith::MinimumFOp::create(nb, l, old, u).getResult()
                : isUnsigned
                    ? arith::MinUIOp::create(nb, l, old, u).getResult()
                    : arith::MinSIOp::create(nb, l, old, u).getResult();
        }
        return {tensor::InsertOp::create(nb, l, u, iter[0], dest).getResult()};
      });
  n.setOutput(0, nest.results.front(), n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Trilu
//===----------------------------------------------------------------------===//

LogicalResult buildTrilu(ONNXNode &n) {
  if (failed(n.checkArity(1, 2, 1, 1)))
    return failure();
  FailureOr<int64_t> upper = n.getInt("upper", 1);
  if (failed(upper))
    return failure();
  RankedTensorType ty = n.inputType(0);
  int64_t r = ty.getRank();
  if (r < 2)
    return n.emitError() << "input must have rank >= 2, got " << r;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value k;
  if (!n.hasInput(1)) {
    k = cIndex(b, loc, 0);
  } else {
    if (n.inputDType(1) != kInt64)
      return n.emitError() << "k must be int64, got "
                           << dtypeName(n.inputDType(1));
    RankedTensorType kTy = n.inputType(1);
    if (!(kTy.getRank() == 0 || (kTy.getRank() == 1 && kTy.getDimSize(0) == 1)))
      return n.emitError() << "k must be a scalar";
    if (std::optional<SmallVector<int64_t>> kc = n.constantInts(1)) {
      k = cIndex(b, loc, (*kc)[0]);
    } else {
      SmallVector<Value> at(kTy.getRank(), cIndex(b, loc, 0));
      k = toIndex(b, loc, tensor::ExtractOp::create(b, loc, n.input(1), at));
    }
  }
  bool up = *upper != 0;
  Type elemTy = ty.getElementType();
  FailureOr<Value> y = buildElementwise(
      n, {n.input(0)}, elemTy, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value i = loopIndex(nb, l, r - 2), j = loopIndex(nb, l, r - 1);
        Value diff = arith::SubIOp::create(nb, l, j, i);
        // upper keeps j - i >= k, lower keeps j - i <= k.
        Value keep = arith::CmpIOp::create(
            nb, l, up ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
            diff, k);
        Value zero = scalarConstant(nb, l, elemTy, 0);
        return arith::SelectOp::create(nb, l, keep, a[0], zero).getResult();
      });
  if (failed(y))
    return failure();
  n.setOutput(0, *y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// DepthToSpace, SpaceToDepth
//===----------------------------------------------------------------------===//

/// expand_shape to `expanded` (sizes), transpose by `perm`, collapse_shape
/// with `collapse`.
Value expandTransposeCollapse(OpBuilder &b, Location loc, Value x,
                              ArrayRef<ReassociationIndices> expandRe,
                              ArrayRef<OpFoldResult> expanded,
                              ArrayRef<int64_t> perm,
                              ArrayRef<ReassociationIndices> collapseRe) {
  Type elemTy = cast<RankedTensorType>(x.getType()).getElementType();
  auto staticOf = [](ArrayRef<OpFoldResult> s) {
    SmallVector<int64_t> out;
    for (OpFoldResult o : s)
      out.push_back(getConstantIntValue(o).value_or(ShapedType::kDynamic));
    return out;
  };
  auto eTy = RankedTensorType::get(staticOf(expanded), elemTy);
  Value e = tensor::ExpandShapeOp::create(b, loc, eTy, x, expandRe, expanded);
  SmallVector<OpFoldResult> tSizes;
  for (int64_t p : perm)
    tSizes.push_back(expanded[p]);
  Value init = tensor::EmptyOp::create(b, loc, tSizes, elemTy);
  Value t = linalg::TransposeOp::create(b, loc, e, init, perm).getResult()[0];
  return tensor::CollapseShapeOp::create(b, loc, t, collapseRe);
}

LogicalResult buildDepthToSpace(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> bs = n.getRequiredInt("blocksize");
  if (failed(bs))
    return failure();
  std::string mode = "DCR";
  if (n.opset >= 11) {
    FailureOr<std::string> m = n.getString("mode", "DCR");
    if (failed(m))
      return failure();
    mode = *m;
    if (mode != "DCR" && mode != "CRD")
      return n.emitError() << "mode '" << mode
                           << "' is not one of 'DCR', 'CRD'";
  }
  RankedTensorType ty = n.inputType(0);
  if (ty.getRank() != 4)
    return n.emitError() << "input must be 4-D [N, C, H, W], got rank "
                         << ty.getRank();
  int64_t bsz = *bs;
  if (bsz < 1)
    return n.emitError() << "blocksize must be >= 1, got " << bsz;
  if (!ty.isDynamicDim(1) && ty.getDimSize(1) % (bsz * bsz) != 0)
    return n.emitError() << "channels (" << ty.getDimSize(1)
                         << ") must be divisible by blocksize^2 (" << bsz * bsz
                         << ")";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  OpFoldResult N = dimOFR(b, loc, x, 0), C = dimOFR(b, loc, x, 1),
               H = dimOFR(b, loc, x, 2), W = dimOFR(b, loc, x, 3);
  OpFoldResult Cb = scaleOFR(b, loc, C, bsz * bsz, /*divide=*/true);
  OpFoldResult B = b.getIndexAttr(bsz);
  bool dcr = mode == "DCR";
  // DCR: [N, b, b, C', H, W]; CRD: [N, C', b, b, H, W]; both are permuted to
  // [N, C', H, b, W, b].
  SmallVector<OpFoldResult> expanded =
      dcr ? SmallVector<OpFoldResult>{N, B, B, Cb, H, W}
          : SmallVector<OpFoldResult>{N, Cb, B, B, H, W};
  SmallVector<int64_t> perm = dcr ? SmallVector<int64_t>{0, 3, 4, 1, 5, 2}
                                  : SmallVector<int64_t>{0, 1, 4, 2, 5, 3};
  Value y = expandTransposeCollapse(b, loc, x, {{0}, {1, 2, 3}, {4}, {5}},
                                    expanded, perm, {{0}, {1}, {2, 3}, {4, 5}});
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildSpaceToDepth(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> bs = n.getRequiredInt("blocksize");
  if (failed(bs))
    return failure();
  RankedTensorType ty = n.inputType(0);
  if (ty.getRank() != 4)
    return n.emitError() << "input must be 4-D [N, C, H, W], got rank "
                         << ty.getRank();
  int64_t bsz = *bs;
  if (bsz < 1)
    return n.emitError() << "blocksize must be >= 1, got " << bsz;
  for (int64_t d : {2, 3})
    if (!ty.isDynamicDim(d) && ty.getDimSize(d) % bsz != 0)
      return n.emitError() << (d == 2 ? "height" : "width") << " ("
                           << ty.getDimSize(d)
                           << ") must be divisible by blocksize (" << bsz
                           << ")";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  OpFoldResult N = dimOFR(b, loc, x, 0), C = dimOFR(b, loc, x, 1);
  OpFoldResult Hb = scaleOFR(b, loc, dimOFR(b, loc, x, 2), bsz, true);
  OpFoldResult Wb = scaleOFR(b, loc, dimOFR(b, loc, x, 3), bsz, true);
  OpFoldResult B = b.getIndexAttr(bsz);
  // [N, C, H', b, W', b] -> [N, b, b, C, H', W'] -> [N, C*b*b, H', W'].
  Value y = expandTransposeCollapse(b, loc, x, {{0}, {1}, {2, 3}, {4, 5}},
                                    {N, C, Hb, B, Wb, B}, {0, 3, 5, 1, 2, 4},
                                    {{0}, {1, 2, 3}, {4}, {5}});
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// OneHot
//===----------------------------------------------------------------------===//

LogicalResult buildOneHot(ONNXNode &n) {
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", -1);
  if (failed(axisAttr))
    return failure();
  RankedTensorType iTy = n.inputType(0), vTy = n.inputType(2);
  int32_t iDType = n.inputDType(0);
  if (iDType == kBool || iDType == kString)
    return n.emitError() << "indices must be numeric, got "
                         << dtypeName(iDType);
  int64_t r = iTy.getRank();
  FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, r + 1);
  if (failed(axis))
    return failure();
  int64_t depth;
  if (n.inputType(1).getNumElements() != 1)
    return n.emitError() << "depth must be a scalar (or a 1-element tensor)";
  if (std::optional<SmallVector<int64_t>> d = n.constantInts(1))
    depth = (*d)[0];
  else if (std::optional<SmallVector<double>> f = n.constantFloats(1))
    depth = static_cast<int64_t>((*f)[0]);
  else
    return n.emitError()
           << "depth must be a constant (it sets the output shape)";
  if (depth < 1)
    return n.emitError() << "depth must be >= 1, got " << depth;
  if (vTy.getRank() != 1 || vTy.getDimSize(0) != 2)
    return n.emitError() << "values must be a 1-D tensor of 2 elements "
                            "[off_value, on_value]";

  OpBuilder &b = n.b;
  Location loc = n.loc;
  int64_t ax = *axis;
  Value indices = n.input(0), values = n.input(2);
  // Constant values fold to scalars in canonicalization.
  Value off =
      tensor::ExtractOp::create(b, loc, values, ValueRange{cIndex(b, loc, 0)});
  Value on =
      tensor::ExtractOp::create(b, loc, values, ValueRange{cIndex(b, loc, 1)});
  SmallVector<OpFoldResult> sizes;
  SmallVector<AffineExpr> idxExprs;
  MLIRContext *ctx = b.getContext();
  for (int64_t i = 0; i <= r; ++i) {
    if (i == ax) {
      sizes.push_back(b.getIndexAttr(depth));
      continue;
    }
    int64_t src = i < ax ? i : i - 1;
    sizes.push_back(dimOFR(b, loc, indices, src));
    idxExprs.push_back(getAffineDimExpr(i, ctx));
  }
  Value init = tensor::EmptyOp::create(b, loc, sizes, vTy.getElementType());
  Value depthV = cIndex(b, loc, depth);
  bool wrap = n.opset >= 11;
  bool isUnsigned = isUnsignedDType(iDType);
  Value y = parallelGeneric(
      b, loc, {indices}, {AffineMap::get(r + 1, 0, idxExprs, ctx)}, init,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value idx = toIndex(nb, l, args[0], isUnsigned);
        if (wrap) { // from opset 11, -depth..-1 count from the end
          Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt,
                                            idx, cIndex(nb, l, 0));
          Value w = arith::AddIOp::create(nb, l, idx, depthV);
          idx = arith::SelectOp::create(nb, l, neg, w, idx);
        }
        // Out-of-range indices never equal an output position: all off.
        Value eq = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, idx,
                                         loopIndex(nb, l, ax));
        return arith::SelectOp::create(nb, l, eq, on, off).getResult();
      });
  n.setOutput(0, y, n.inputDType(2));
  return success();
}

//===----------------------------------------------------------------------===//
// Einsum
//===----------------------------------------------------------------------===//

LogicalResult buildEinsum(ONNXNode &n) {
  if (n.numInputs() < 1)
    return n.emitError() << "takes at least 1 input";
  if (failed(n.checkArity(1, n.numInputs(), 1, 1)))
    return failure();
  FailureOr<std::string> eqAttr = n.getString("equation", "");
  if (failed(eqAttr))
    return failure();
  std::string eq;
  for (char c : *eqAttr)
    if (c != ' ')
      eq.push_back(c);
  if (eq.empty())
    return n.emitError() << "attribute 'equation' is required";
  if (eq.find('.') != std::string::npos)
    return n.emitError() << "equation '" << *eqAttr
                         << "': ellipsis ('...') is not supported";
  int64_t numIn = n.numInputs();
  for (int64_t i = 0; i < numIn; ++i) {
    if (!n.hasInput(i))
      return n.emitError() << "input #" << i << " is missing";
    if (n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(n.inputDType(0));
  }
  if (n.inputDType(0) == kBool)
    return n.emitError() << "bool inputs are not supported";

  StringRef eqRef(eq);
  auto [lhs, rhs] = eqRef.split("->");
  bool explicitOut = eqRef.contains("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (static_cast<int64_t>(terms.size()) != numIn)
    return n.emitError() << "equation '" << *eqAttr << "' has " << terms.size()
                         << " operand(s), the node has " << numIn
                         << " input(s)";
  auto isLetter = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  std::map<char, int64_t> count;
  SmallVector<char> order; // letters by first appearance
  for (auto [i, t] : llvm::enumerate(terms)) {
    for (auto [p, c] : llvm::enumerate(t)) {
      if (!isLetter(c))
        return n.emitError() << "equation '" << *eqAttr
                             << "': unexpected character '" << c << "'";
      if (t.find(c) != p)
        return n.emitError() << "equation '" << *eqAttr << "': operand " << i
                             << " repeats index '" << c
                             << "' (diagonals/traces are not supported)";
      if (count[c]++ == 0)
        order.push_back(c);
    }
    if (static_cast<int64_t>(t.size()) != n.inputType(i).getRank())
      return n.emitError() << "equation '" << *eqAttr << "': operand " << i
                           << " has " << t.size() << " indices, input #" << i
                           << " has rank " << n.inputType(i).getRank();
  }
  std::string out;
  if (explicitOut) {
    for (auto [p, c] : llvm::enumerate(rhs)) {
      if (!isLetter(c))
        return n.emitError() << "equation '" << *eqAttr
                             << "': unexpected character '" << c << "'";
      if (rhs.find(c) != p)
        return n.emitError() << "equation '" << *eqAttr
                             << "': output repeats index '" << c << "'";
      if (!count.count(c))
        return n.emitError() << "equation '" << *eqAttr << "': output index '"
                             << c << "' appears in no operand";
      out.push_back(c);
    }
  } else { // implicit: the indices seen once, alphabetically
    for (auto &[c, k] : count)
      if (k == 1)
        out.push_back(c);
  }

  // Loop dims: output indices first, then the summed ones.
  SmallVector<char> loops(out.begin(), out.end());
  for (char c : order)
    if (out.find(c) == std::string::npos)
      loops.push_back(c);
  auto pos = [&](char c) {
    return static_cast<int64_t>(llvm::find(loops, c) - loops.begin());
  };
  // Each index's size: static sizes must agree; otherwise read a dim.
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  std::map<char, int64_t> sizeOf;
  std::map<char, std::pair<int64_t, int64_t>> dynSource;
  for (auto [i, t] : llvm::enumerate(terms)) {
    RankedTensorType ty = n.inputType(i);
    for (auto [p, c] : llvm::enumerate(t)) {
      int64_t d = ty.getDimSize(p);
      if (ShapedType::isDynamic(d)) {
        dynSource.try_emplace(c, i, p);
        continue;
      }
      auto [it, inserted] = sizeOf.try_emplace(c, d);
      if (!inserted && it->second != d)
        return n.emitError() << "equation '" << *eqAttr << "': index '" << c
                             << "' has size " << it->second << " and " << d;
    }
  }
  SmallVector<OpFoldResult> outSizes;
  for (char c : out) {
    if (sizeOf.count(c))
      outSizes.push_back(b.getIndexAttr(sizeOf[c]));
    else
      outSizes.push_back(tensor::DimOp::create(b, loc,
                                               n.input(dynSource[c].first),
                                               dynSource[c].second)
                             .getResult());
  }
  SmallVector<AffineMap> maps;
  SmallVector<Value> ins;
  for (auto [i, t] : llvm::enumerate(terms)) {
    SmallVector<AffineExpr> e;
    for (char c : t)
      e.push_back(getAffineDimExpr(pos(c), ctx));
    maps.push_back(AffineMap::get(loops.size(), 0, e, ctx));
    ins.push_back(n.input(i));
  }
  maps.push_back(dimRangeMap(ctx, loops.size(), 0, out.size()));
  Type elemTy = n.inputType(0).getElementType();
  Value init = tensor::EmptyOp::create(b, loc, outSizes, elemTy);
  Value acc =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, elemTy, 0), init)
          .getResult(0);
  SmallVector<utils::IteratorType> iters(loops.size(),
                                         utils::IteratorType::parallel);
  for (size_t i = out.size(); i < loops.size(); ++i)
    iters[i] = utils::IteratorType::reduction;
  bool isFloat = isa<FloatType>(elemTy);
  auto g = linalg::GenericOp::create(
      b, loc, acc.getType(), ins, ValueRange{acc}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value p = args[0];
        for (Value v : args.drop_front().drop_back())
          p = isFloat ? arith::MulFOp::create(nb, l, p, v).getResult()
                      : arith::MulIOp::create(nb, l, p, v).getResult();
        Value s =
            isFloat ? arith::AddFOp::create(nb, l, args.back(), p).getResult()
                    : arith::AddIOp::create(nb, l, args.back(), p).getResult();
        linalg::YieldOp::create(nb, l, s);
      });
  n.setOutput(0, g.getResult(0), n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Resize
//===----------------------------------------------------------------------===//

/// The source coordinate of output coordinate `x` (ONNX Runtime's float
/// formulas).
float originalCoordinate(StringRef mode, float x, float scale, float outLen,
                         float inLen) {
  if (mode == "half_pixel")
    return (x + 0.5f) / scale - 0.5f;
  if (mode == "half_pixel_symmetric") {
    float adjustment = outLen / (scale * inLen);
    float center = inLen / 2;
    float offset = center * (1 - adjustment);
    return offset + (x + 0.5f) / scale - 0.5f;
  }
  if (mode == "pytorch_half_pixel")
    return outLen > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (mode == "align_corners")
    return outLen == 1 ? 0.0f : x * (inLen - 1) / (outLen - 1);
  if (mode == "tf_half_pixel_for_nn")
    return (x + 0.5f) / scale;
  return x / scale; // asymmetric
}

int64_t nearestPixel(StringRef mode, float x, bool downsampling) {
  if (mode == "round_prefer_floor") {
    if (x == static_cast<float>(static_cast<int64_t>(x)) + 0.5f)
      return static_cast<int64_t>(x);
    return static_cast<int64_t>(std::round(x));
  }
  if (mode == "round_prefer_ceil")
    return static_cast<int64_t>(std::round(x));
  if (mode == "floor")
    return static_cast<int64_t>(std::floor(x));
  if (mode == "ceil")
    return static_cast<int64_t>(std::ceil(x));
  // "simple" (opset 10): ceil when downsampling, else truncate.
  return downsampling ? static_cast<int64_t>(std::ceil(x))
                      : static_cast<int64_t>(x);
}

Value i64Table(OpBuilder &b, Location loc, ArrayRef<int64_t> v) {
  auto ty =
      RankedTensorType::get({static_cast<int64_t>(v.size())}, b.getI64Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, v));
}

Value f32Table(OpBuilder &b, Location loc, ArrayRef<float> v) {
  auto ty =
      RankedTensorType::get({static_cast<int64_t>(v.size())}, b.getF32Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, v));
}

LogicalResult buildResize(ONNXNode &n) {
  int64_t opset = n.opset;
  if (failed(opset < 11   ? n.checkArity(2, 2, 1, 1)
             : opset < 13 ? n.checkArity(3, 4, 1, 1)
                          : n.checkArity(1, 4, 1, 1)))
    return failure();
  FailureOr<std::string> mode = n.getString("mode", "nearest");
  if (failed(mode))
    return failure();
  std::string ctm = "asymmetric", nearestMode = "simple";
  if (opset >= 11) {
    FailureOr<std::string> c =
        n.getString("coordinate_transformation_mode", "half_pixel");
    FailureOr<std::string> nm =
        n.getString("nearest_mode", "round_prefer_floor");
    // cubic_coeff_a and exclude_outside only matter for cubic,
    // extrapolation_value only for tf_crop_and_resize: both rejected below.
    if (failed(c) || failed(nm) || failed(n.getFloat("cubic_coeff_a", -0.75)) ||
        failed(n.getInt("exclude_outside", 0)) ||
        failed(n.getFloat("extrapolation_value", 0.0)))
      return failure();
    ctm = *c;
    nearestMode = *nm;
  }
  SmallVector<int64_t> axesAttr;
  if (opset >= 18) {
    FailureOr<int64_t> antialias = n.getInt("antialias", 0);
    FailureOr<SmallVector<int64_t>> axes = n.getInts("axes", {});
    FailureOr<std::string> policy =
        n.getString("keep_aspect_ratio_policy", "stretch");
    if (failed(antialias) || failed(axes) || failed(policy))
      return failure();
    if (*antialias != 0)
      return n.emitError() << "antialias = " << *antialias
                           << " is not supported";
    if (*policy != "stretch")
      return n.emitError() << "keep_aspect_ratio_policy '" << *policy
                           << "' is not supported (only 'stretch')";
    axesAttr = *axes;
  }
  if (*mode != "nearest" && *mode != "linear")
    return n.emitError() << "mode '" << *mode
                         << "' is not supported (nearest and linear are)";
  if (ctm == "tf_crop_and_resize")
    return n.emitError()
           << "coordinate_transformation_mode 'tf_crop_and_resize' is not "
              "supported";
  bool ctmOk = ctm == "half_pixel" || ctm == "pytorch_half_pixel" ||
               ctm == "align_corners" || ctm == "asymmetric" ||
               (opset < 13 && ctm == "tf_half_pixel_for_nn") ||
               (opset >= 19 && ctm == "half_pixel_symmetric");
  if (!ctmOk)
    return n.emitError() << "coordinate_transformation_mode '" << ctm
                         << "' is not supported";
  if (opset >= 11 && nearestMode != "round_prefer_floor" &&
      nearestMode != "round_prefer_ceil" && nearestMode != "floor" &&
      nearestMode != "ceil")
    return n.emitError() << "nearest_mode '" << nearestMode
                         << "' is not one of 'round_prefer_floor', "
                            "'round_prefer_ceil', 'floor', 'ceil'";

  RankedTensorType xTy = n.inputType(0);
  int64_t r = xTy.getRank();
  if (r < 1)
    return n.emitError() << "input must have rank >= 1";
  // Which of scales / sizes is given (an empty tensor counts as absent).
  int64_t scalesIdx = opset < 11 ? 1 : 2, sizesIdx = 3;
  auto given = [&](int64_t i) {
    return n.hasInput(i) && n.inputType(i).getNumElements() != 0;
  };
  bool hasScales = given(scalesIdx), hasSizes = opset >= 11 && given(sizesIdx);
  if (hasScales == hasSizes)
    return n.emitError() << "exactly one of 'scales' and 'sizes' must be given";
  SmallVector<int64_t> axes;
  if (axesAttr.empty()) {
    for (int64_t i = 0; i < r; ++i)
      axes.push_back(i);
  } else {
    for (int64_t a : axesAttr) {
      FailureOr<int64_t> na = n.normalizeAxis(a, r, "axes");
      if (failed(na))
        return failure();
      axes.push_back(*na);
    }
  }
  SmallVector<float> scale(r, 1.0f);
  SmallVector<int64_t> outLen(xTy.getShape());
  if (hasScales) {
    std::optional<SmallVector<double>> s = n.constantFloats(scalesIdx);
    if (!s)
      return n.emitError() << "scales must be a constant float tensor";
    if (s->size() != axes.size())
      return n.emitError() << "scales has " << s->size() << " values for "
                           << axes.size() << " axes";
    for (auto [a, v] : llvm::zip(axes, *s)) {
      if (!(v > 0))
        return n.emitError() << "scales must be positive, got " << v;
      scale[a] = static_cast<float>(v);
      if (xTy.isDynamicDim(a)) {
        if (scale[a] != 1.0f)
          return n.emitError()
                 << "axis " << a << " has a dynamic size and scale " << v
                 << "; only scale 1 is supported there";
        continue;
      }
      outLen[a] = static_cast<int64_t>(scale[a] *
                                       static_cast<float>(xTy.getDimSize(a)));
    }
  } else {
    std::optional<SmallVector<int64_t>> s = n.constantInts(sizesIdx);
    if (!s)
      return n.emitError() << "sizes must be a constant int64 tensor";
    if (s->size() != axes.size())
      return n.emitError() << "sizes has " << s->size() << " values for "
                           << axes.size() << " axes";
    for (auto [a, v] : llvm::zip(axes, *s)) {
      if (v < 1)
        return n.emitError() << "sizes must be positive, got " << v;
      if (xTy.isDynamicDim(a))
        return n.emitError() << "axis " << a
                             << " has a dynamic size; resizing it to a given "
                                "size is not supported";
      outLen[a] = v;
      scale[a] = static_cast<float>(v) / static_cast<float>(xTy.getDimSize(a));
    }
  }
  for (int64_t a = 0; a < r; ++a)
    if (outLen[a] == 0)
      return n.emitError() << "the output size of axis " << a << " is 0";

  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value x = n.input(0);
  SmallVector<OpFoldResult> sizes;
  for (int64_t a = 0; a < r; ++a)
    sizes.push_back(xTy.isDynamicDim(a) ? dimOFR(b, loc, x, a)
                                        : b.getIndexAttr(outLen[a]));
  Type elemTy = xTy.getElementType();
  Value init = tensor::EmptyOp::create(b, loc, sizes, elemTy);
  auto origOf = [&](int64_t a, int64_t i) {
    return originalCoordinate(ctm, static_cast<float>(i), scale[a],
                              static_cast<float>(outLen[a]),
                              static_cast<float>(xTy.getDimSize(a)));
  };

  if (*mode == "nearest") {
    // One source-index table per axis that is not the identity.
    SmallVector<Value> tables;
    SmallVector<AffineMap> maps;
    SmallVector<int64_t> tableAxis(r, -1);
    for (int64_t a = 0; a < r; ++a) {
      if (xTy.isDynamicDim(a))
        continue; // scale 1: the identity
      int64_t in = xTy.getDimSize(a);
      SmallVector<int64_t> t;
      for (int64_t i = 0; i < outLen[a]; ++i) {
        int64_t p = nearestPixel(nearestMode, origOf(a, i), scale[a] < 1.0f);
        t.push_back(std::clamp<int64_t>(p, 0, in - 1));
      }
      bool identity = outLen[a] == in;
      for (int64_t i = 0; identity && i < outLen[a]; ++i)
        identity = t[i] == i;
      if (identity)
        continue;
      tableAxis[a] = tables.size();
      tables.push_back(i64Table(b, loc, t));
      maps.push_back(dimRangeMap(ctx, r, a, 1));
    }
    Value y = parallelGeneric(
        b, loc, tables, maps, init,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          SmallVector<Value> coords;
          for (int64_t a = 0; a < r; ++a)
            coords.push_back(tableAxis[a] < 0
                                 ? loopIndex(nb, l, a)
                                 : toIndex(nb, l, args[tableAxis[a]]));
          return tensor::ExtractOp::create(nb, l, x, coords).getResult();
        });
    n.setOutput(0, y, n.inputDType(0));
    return success();
  }

  // Bilinear on [N, C, H, W] (ONNX Runtime's UpsampleBilinear).
  if (r != 4 || scale[0] != 1.0f || scale[1] != 1.0f ||
      outLen[0] != xTy.getDimSize(0) || outLen[1] != xTy.getDimSize(1))
    return n.emitError() << "linear mode is supported for 4-D [N, C, H, W] "
                            "inputs resized along H and W only";
  if (xTy.isDynamicDim(2) || xTy.isDynamicDim(3))
    return n.emitError() << "linear mode needs static H and W";
  if (!isa<FloatType>(elemTy))
    return n.emitError() << "linear mode needs a float input, got "
                         << dtypeName(n.inputDType(0));
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  for (int64_t a : {2, 3}) {
    int64_t in = xTy.getDimSize(a);
    SmallVector<int64_t> lo, hi;
    SmallVector<float> wlo, whi;
    for (int64_t i = 0; i < outLen[a]; ++i) {
      float c =
          std::max(0.0f, std::min(origOf(a, i), static_cast<float>(in - 1)));
      int64_t x1 = std::min(static_cast<int64_t>(c), in - 1);
      int64_t x2 = std::min(x1 + 1, in - 1);
      float d1 = std::fabs(c - static_cast<float>(x1));
      float d2 = std::fabs(c - static_cast<float>(x2));
      if (x1 == x2)
        d1 = d2 = 0.5f;
      lo.push_back(x1);
      hi.push_back(x2);
      wlo.push_back(d2);
      whi.push_back(d1);
    }
    ins.append({i64Table(b, loc, lo), i64Table(b, loc, hi),
                f32Table(b, loc, wlo), f32Table(b, loc, whi)});
    maps.append(4, dimRangeMap(ctx, 4, a, 1));
  }
  Type f32 = b.getF32Type();
  Value y = parallelGeneric(
      b, loc, ins, maps, init, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value nI = loopIndex(nb, l, 0), cI = loopIndex(nb, l, 1);
        Value h1 = toIndex(nb, l, a[0]), h2 = toIndex(nb, l, a[1]);
        Value w1 = toIndex(nb, l, a[4]), w2 = toIndex(nb, l, a[5]);
        auto at = [&](Value h, Value w) {
          Value v =
              tensor::ExtractOp::create(nb, l, x, ValueRange{nI, cI, h, w});
          return convertScalar(nb, l, v, f32, false, false);
        };
        auto lerp = [&](Value p, Value q, Value wp, Value wq) {
          Value s = arith::MulFOp::create(nb, l, wp, p);
          Value t = arith::MulFOp::create(nb, l, wq, q);
          return arith::AddFOp::create(nb, l, s, t).getResult();
        };
        Value top = lerp(at(h1, w1), at(h1, w2), a[6], a[7]);
        Value bottom = lerp(at(h2, w1), at(h2, w2), a[6], a[7]);
        Value v = lerp(top, bottom, a[2], a[3]);
        return convertScalar(nb, l, v, elemTy, false, false);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// NonZero
//===----------------------------------------------------------------------===//

LogicalResult buildNonZero(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  RankedTensorType ty = n.inputType(0);
  if (!ty.hasStaticShape())
    return n.emitError() << "the input must be a constant: the output shape "
                            "is data-dependent";
  SmallVector<bool> nz;
  if (std::optional<SmallVector<int64_t>> v = n.constantInts(0)) {
    for (int64_t e : *v)
      nz.push_back(e != 0);
  } else if (std::optional<SmallVector<double>> f = n.constantFloats(0)) {
    for (double e : *f)
      nz.push_back(e != 0.0);
  } else {
    return n.emitError() << "the input must be a constant: the output shape "
                            "is data-dependent";
  }
  // A scalar counts as 1-D, as in ONNX Runtime.
  SmallVector<int64_t> shape(ty.getShape());
  if (shape.empty())
    shape.push_back(1);
  int64_t rank = shape.size();
  SmallVector<SmallVector<int64_t>> rows(rank);
  for (auto [flat, isNZ] : llvm::enumerate(nz)) {
    if (!isNZ)
      continue;
    int64_t rem = flat;
    for (int64_t d = rank - 1; d >= 0; --d) {
      rows[d].push_back(rem % shape[d]);
      rem /= shape[d];
    }
  }
  int64_t count = rows.front().size();
  SmallVector<int64_t> flat;
  for (auto &row : rows)
    llvm::append_range(flat, row);
  auto outTy = RankedTensorType::get({rank, count}, n.b.getI64Type());
  Value c = arith::ConstantOp::create(
      n.b, n.loc, DenseElementsAttr::get(outTy, ArrayRef<int64_t>(flat)));
  n.setOutput(0, c, kInt64);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerIndexingOps(OpRegistry &r) {
  // Gather-11 and GatherElements/GatherND allow negative indices; wrapping
  // them under older opsets changes nothing for valid models.
  r.add("", "Gather", 1, buildGather);
  r.add("", "GatherElements", 11, buildGatherElements);
  r.add("", "GatherND", 11, buildGatherND);
  r.add("", "GatherND", 12, buildGatherND); // batch_dims
  r.add("", "ScatterND", 11, buildScatterND);
  r.add("", "ScatterND", 16, buildScatterND); // reduction add/mul
  r.add("", "ScatterND", 18, buildScatterND); // reduction max/min
  r.add("", "Trilu", 14, buildTrilu);
  r.add("", "DepthToSpace", 1, buildDepthToSpace);
  r.add("", "DepthToSpace", 11, buildDepthToSpace); // mode
  r.add("", "SpaceToDepth", 1, buildSpaceToDepth);
  r.add("", "OneHot", 9, buildOneHot);
  r.add("", "OneHot", 11, buildOneHot); // negative indices
  r.add("", "Einsum", 12, buildEinsum);
  r.add("", "Resize", 10, buildResize);
  r.add("", "Resize", 11, buildResize); // roi/sizes, coordinate modes
  r.add("", "Resize", 13, buildResize); // optional roi/scales
  r.add("", "Resize", 18, buildResize); // antialias, axes, aspect policy
  r.add("", "Resize", 19, buildResize); // half_pixel_symmetric
  r.add("", "NonZero", 9, buildNonZero);
}
