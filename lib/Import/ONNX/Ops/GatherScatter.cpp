//===- GatherScatter.cpp - Gather, GatherElements, GatherND, ScatterND ----===//
//
// Gathers become one linalg.generic over the result whose body reads the
// source with tensor.extract at computed coordinates (linalg.index plus
// index values read from the indices tensor). ScatterND is a loop nest
// (scf.for) of tensor.insert into the data tensor, as a scatter has no
// linalg form.
//
// Index values read at run time are checked (an out-of-range index is an
// error in ONNX: a run-time error naming the node, as onnxruntime reports
// one), then normalized: negative indices count from the end where the
// spec allows it and the result is clamped into the valid range, so that
// even with --no-runtime-checks nothing is read or written out of bounds.
// Constant indices are range-checked at import.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>

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

/// Asserts at run time (an error in artifacts) that every element of the
/// integer tensor `indices` lies in [-size, size): out-of-range indices
/// are an error in ONNX (onnxruntime reports one); the gather itself
/// clamps, so it never reads out of bounds, but would answer wrongly.
void assertIndicesInRange(ONNXNode &n, Value indices, Value size) {
  OpBuilder &b = n.b;
  Type elemTy = cast<RankedTensorType>(indices.getType()).getElementType();
  Value hi = arith::IndexCastOp::create(b, n.loc, elemTy, size);
  Value lo = arith::SubIOp::create(
      b, n.loc, arith::ConstantIntOp::create(b, n.loc, elemTy, 0), hi);
  assertNoElement(
      n, indices,
      [&](OpBuilder &nb, Location l, Value idx) -> Value {
        Value below =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, idx, lo);
        Value above =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, idx, hi);
        return arith::OrIOp::create(nb, l, below, above);
      },
      "an index is out of range for the gathered axis at run time");
}

/// The GatherND/ScatterND form: column j of `indices` (its last dim) indexes
/// an axis of size axSizes[j]; each column is checked on its own.
void assertNDIndicesInRange(ONNXNode &n, Value indices,
                            ArrayRef<Value> axSizes) {
  OpBuilder &b = n.b;
  auto iTy = cast<RankedTensorType>(indices.getType());
  int64_t q = iTy.getRank();
  for (auto [j, size] : llvm::enumerate(axSizes)) {
    SmallVector<OpFoldResult> offsets(q, b.getIndexAttr(0)), sizes,
        strides(q, b.getIndexAttr(1));
    for (int64_t i = 0; i + 1 < q; ++i)
      sizes.push_back(dimOFR(b, n.loc, indices, i));
    sizes.push_back(b.getIndexAttr(1));
    offsets[q - 1] = b.getIndexAttr(static_cast<int64_t>(j));
    Value column = tensor::ExtractSliceOp::create(b, n.loc, indices, offsets,
                                                  sizes, strides);
    assertIndicesInRange(n, column, size);
  }
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
  if (!cIdx)
    assertIndicesInRange(n, indices, axSize);
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
  if (!n.constantInts(1))
    assertIndicesInRange(n, indices, axSize);
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
  if (!n.constantInts(1))
    assertNDIndicesInRange(n, indices, axSizes);
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
  if (!n.constantInts(1))
    assertNDIndicesInRange(n, indices, axSizes);
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

} // namespace

void mlir::qopt::onnx_import::registerGatherScatterOps(OpRegistry &r) {
  // Gather-11 and GatherElements/GatherND allow negative indices; wrapping
  // them under older opsets changes nothing for valid models.
  r.add("", "Gather", 1, buildGather);
  r.add("", "GatherElements", 11, buildGatherElements);
  r.add("", "GatherND", 11, buildGatherND);
  r.add("", "GatherND", 12, buildGatherND); // batch_dims
  r.add("", "ScatterND", 11, buildScatterND);
  r.add("", "ScatterND", 16, buildScatterND); // reduction add/mul
  r.add("", "ScatterND", 18, buildScatterND); // reduction max/min
}
