//===- ExpandTilePad.cpp - Expand, Tile, Pad ------------------------------===//
//
// Expand and Tile are a linalg.generic that reads with broadcasting maps
// (Tile broadcasts to [r0, d0, r1, d1, ...] and collapses the pairs);
// constant Pad is tensor.pad, reflect/edge Pad a linalg.generic that
// reads at computed indices. Small constant inputs fold.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

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
  FailureOr<SmallVector<OpFoldResult>> shapeOfr =
      dynamicInts(n, 1, "the shape");
  if (failed(shapeOfr))
    return failure();
  SmallVector<int64_t> shapeVals; // kDynamic: known at run time
  for (OpFoldResult e : *shapeOfr)
    shapeVals.push_back(getConstantIntValue(e).value_or(ShapedType::kDynamic));
  RankedTensorType inTy = n.inputType(0);
  int64_t inRank = inTy.getRank(), sRank = shapeVals.size();
  int64_t rank = std::max(inRank, sRank);
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes;
  SmallVector<AffineExpr> exprs;
  auto cmpEq = [&](Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
  };
  for (int64_t d = 0; d < rank; ++d) {
    int64_t i = d - (rank - inRank), k = d - (rank - sRank);
    int64_t a = i >= 0 ? inTy.getDimSize(i) : 1;
    int64_t s = k >= 0 ? shapeVals[k] : 1;
    bool broadcast = false;
    if (k >= 0 && isa<Value>((*shapeOfr)[k])) {
      // A size known at run time.
      Value v = cast<Value>((*shapeOfr)[k]);
      Value one = cIndex(b, loc, 1);
      if (a == 1) {
        sizes.push_back(v);
        broadcast = true;
      } else if (ShapedType::isDynamic(a)) {
        // The input dim is kept: the shape entry must be 1 or equal it
        // (a dynamic dim of size 1 does not broadcast).
        Value ad = dimValue(b, loc, n.input(0), i);
        if (!isSameSizeAsDim(n, v, n.input(0), i))
          assertAtRunTime(
              n, arith::OrIOp::create(b, loc, cmpEq(v, one), cmpEq(v, ad)),
              "shape entry " + Twine(k) + " differs from dynamic input dim " +
                  Twine(i) +
                  " and is not 1 at run time (a dynamic dim of size 1 does "
                  "not broadcast here)");
        sizes.push_back(ad);
      } else {
        assertAtRunTime(n,
                        arith::OrIOp::create(b, loc, cmpEq(v, one),
                                             cmpEq(v, cIndex(b, loc, a))),
                        "shape entry " + Twine(k) + " is neither 1 nor " +
                            Twine(a) + " (input dim " + Twine(i) +
                            ") at run time");
        sizes.push_back(b.getIndexAttr(a));
      }
      if (i >= 0)
        exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                  : getAffineDimExpr(d, ctx));
      continue;
    }
    if (s < 0)
      return n.emitError() << "the shape " << shapeString(shapeVals)
                           << " has the negative entry " << s;
    if (ShapedType::isDynamic(a)) {
      if (s != 1) {
        // Kept as is: a dynamic dim must equal s when the model runs.
        assertAtRunTime(
            n, cmpEq(dimValue(b, loc, n.input(0), i), cIndex(b, loc, s)),
            "dynamic input dim " + Twine(i) + " is not " + Twine(s) +
                " at run time (a dynamic dim of size 1 does not broadcast "
                "here)");
        sizes.push_back(b.getIndexAttr(s));
      } else {
        sizes.push_back(dimOFR(b, loc, n.input(0), i));
      }
    } else if (a == s || s == 1) {
      sizes.push_back(b.getIndexAttr(a));
    } else if (a == 1) {
      sizes.push_back(b.getIndexAttr(s));
      broadcast = true;
    } else {
      return n.emitError() << "input shape " << shapeString(inTy.getShape())
                           << " cannot be expanded to "
                           << shapeString(shapeVals);
    }
    if (i >= 0)
      exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(d, ctx));
  }
  if (llvm::any_of(*shapeOfr, [](OpFoldResult e) { return isa<Value>(e); }))
    assertSizesFit(n, sizes);
  RankedTensorType outTy = typeOfSizes(sizes, inTy.getElementType());
  if (DenseElementsAttr c = smallConstant(n, 0)) {
    Value v;
    if (c.isSplat())
      v = outTy.hasStaticShape() && outTy.getNumElements() <= kMaxFoldElements
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
  FailureOr<SmallVector<OpFoldResult>> reps = dynamicInts(n, 1, "repeats");
  if (failed(reps))
    return failure();
  RankedTensorType inTy = n.inputType(0);
  int64_t rank = inTy.getRank();
  if (static_cast<int64_t>(reps->size()) != rank)
    return n.emitError() << "repeats has " << reps->size()
                         << " entries for an input of rank " << rank;
  // kDynamic: known at run time.
  SmallVector<int64_t> repeatVals;
  for (OpFoldResult r : *reps)
    repeatVals.push_back(getConstantIntValue(r).value_or(ShapedType::kDynamic));
  auto *repeats = &repeatVals;
  for (OpFoldResult r : *reps)
    if (getConstantIntValue(r).value_or(0) < 0)
      return n.emitError() << "repeats " << shapeString(*repeats)
                           << " has a negative entry";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  for (OpFoldResult r : *reps)
    if (auto v = dyn_cast<Value>(r))
      assertAtRunTime(n,
                      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                            v, cIndex(b, loc, 0)),
                      "repeats has a negative entry at run time");
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d < rank; ++d)
    outSizes.push_back(
        product(b, loc, {dimOFR(b, loc, n.input(0), d), (*reps)[d]}));
  if (llvm::any_of(*reps, [](OpFoldResult r) { return isa<Value>(r); }))
    assertSizesFit(n, outSizes);
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
    wide.push_back((*reps)[d]);
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
  bool wrapMode = *mode == "wrap" && n.opset >= 19;
  if (*mode != "constant" && *mode != "reflect" && *mode != "edge" && !wrapMode)
    return n.emitError() << "mode '" << *mode << "' is not supported "
                         << (n.opset >= 19 ? "(constant, reflect, edge, wrap)"
                                           : "before opset 19 (constant, "
                                             "reflect, edge)");
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

  // reflect/edge/wrap: every output element reads a source element whose
  // index is mirrored (reflect), clamped (edge) or taken modulo the size
  // (wrap) into range.
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
  for (int64_t d = 0; d < rank; ++d) {
    srcDims.push_back(dimValue(b, loc, x, d));
    // A dim known only at run time must not be empty where it is padded
    // (every output element reads a source element).
    if (xTy.isDynamicDim(d) && (lo[d] != 0 || hi[d] != 0))
      assertAtRunTime(n,
                      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                            srcDims.back(), cIndex(b, loc, 0)),
                      "cannot pad dim " + Twine(d) + " of size 0 in mode '" +
                          *mode + "'");
  }
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
                    if (wrapMode) {
                      // Euclidean j mod size: pads may exceed the size.
                      Value r = arith::RemSIOp::create(nb, nl, j, srcDims[d]);
                      Value isNeg = arith::CmpIOp::create(
                          nb, nl, arith::CmpIPredicate::slt, r, zero);
                      j = arith::SelectOp::create(
                          nb, nl, isNeg,
                          arith::AddIOp::create(nb, nl, r, srcDims[d]), r);
                    } else if (reflect) {
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

} // namespace

void mlir::qopt::onnx_import::registerExpandTilePadOps(OpRegistry &r) {
  // Several since-versions share a builder that checks n.opset itself.
  r.add("", "Expand", 8, buildExpand);
  r.add("", "Tile", 6, buildTile);
  for (int64_t v : {1, 2, 11, 18})
    r.add("", "Pad", v, buildPad);
}
