//===- Indexing.cpp - Trilu, OneHot, NonZero ------------------------------===//
//
// Ops defined by element positions. Trilu keeps the elements on one side
// of a diagonal and OneHot compares each index with the output position,
// both as one linalg.generic; NonZero lists the positions of a
// constant's non-zero elements, computed at import (its output shape is
// data-dependent).
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

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
  r.add("", "Trilu", 14, buildTrilu);
  r.add("", "OneHot", 9, buildOneHot);
  r.add("", "OneHot", 11, buildOneHot); // negative indices
  r.add("", "NonZero", 9, buildNonZero);
}
