//===- OpHelpers.cpp - building blocks shared by the op builders ----------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

FailureOr<SmallVector<int64_t>>
mlir::qopt::onnx_import::broadcastShapes(ONNXNode &node,
                                         ArrayRef<RankedTensorType> types) {
  int64_t rank = 0;
  for (RankedTensorType t : types)
    rank = std::max(rank, t.getRank());
  SmallVector<int64_t> out(rank, 1);
  for (RankedTensorType t : types) {
    int64_t offset = rank - t.getRank();
    for (int64_t i = 0; i < t.getRank(); ++i) {
      int64_t d = t.getDimSize(i), &o = out[offset + i];
      if (d == 1)
        continue;
      if (o == 1) {
        o = d;
      } else if (ShapedType::isDynamic(o)) {
        if (!ShapedType::isDynamic(d))
          o = d; // the static size wins; the dynamic one must match it
      } else if (!ShapedType::isDynamic(d) && d != o) {
        return node.emitError() << "inputs cannot be broadcast together: dim "
                                << offset + i << " is " << o << " and " << d;
      }
    }
  }
  return out;
}

void mlir::qopt::onnx_import::assertDynamicDimsAgree(ONNXNode &node,
                                                     ValueRange inputs,
                                                     ArrayRef<int64_t> shape) {
  OpBuilder &b = node.b;
  Location loc = node.loc;
  int64_t rank = shape.size();
  for (int64_t i = 0; i < rank; ++i) {
    // The size every input's dim i must have at run time: the static one
    // when an input has it, else the first dynamic input's.
    Value want;
    int64_t wantInput = -1;
    for (auto [k, v] : llvm::enumerate(inputs)) {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t j = i - (rank - t.getRank());
      if (j >= 0 && !t.isDynamicDim(j) && t.getDimSize(j) != 1) {
        want = arith::ConstantIndexOp::create(b, loc, t.getDimSize(j));
        wantInput = k;
        break;
      }
    }
    for (auto [k, v] : llvm::enumerate(inputs)) {
      auto t = cast<RankedTensorType>(v.getType());
      int64_t j = i - (rank - t.getRank());
      if (j < 0 || !t.isDynamicDim(j))
        continue;
      Value size = tensor::DimOp::create(b, loc, v, j);
      if (!want) {
        want = size;
        wantInput = k;
        continue;
      }
      if (static_cast<int64_t>(k) == wantInput)
        continue;
      Value same =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, size, want);
      assertAtRunTime(node, same,
                      "inputs #" + Twine(wantInput) + " and #" + Twine(k) +
                          " differ in broadcast dim " + Twine(i) +
                          " at run time (a dynamic dim of size 1 does not "
                          "broadcast here)");
    }
  }
}

void mlir::qopt::onnx_import::assertAtRunTime(ONNXNode &node, Value ok,
                                              const Twine &what) {
  cf::AssertOp::create(
      node.b, node.loc, ok,
      (node.opType() + " node '" + node.name() + "': " + what).str());
}

void mlir::qopt::onnx_import::assertNoElement(
    ONNXNode &node, Value v,
    function_ref<Value(OpBuilder &, Location, Value element)> isBad,
    const Twine &what) {
  OpBuilder &b = node.b;
  Location loc = node.loc;
  int64_t rank = cast<RankedTensorType>(v.getType()).getRank();
  MLIRContext *ctx = b.getContext();
  Value falseV = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  Value empty =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, b.getI1Type());
  Value init =
      linalg::FillOp::create(b, loc, ValueRange{falseV}, ValueRange{empty})
          .getResult(0);
  auto any = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{v}, ValueRange{init},
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                          AffineMap::get(rank, 0, {}, ctx)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value bad = isBad(nb, l, args[0]);
        linalg::YieldOp::create(
            nb, l, arith::OrIOp::create(nb, l, args[1], bad).getResult());
      });
  Value found =
      tensor::ExtractOp::create(b, loc, any.getResult(0), ValueRange{});
  Value ok = arith::XOrIOp::create(
      b, loc, found, arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1));
  assertAtRunTime(node, ok, what);
}

void mlir::qopt::onnx_import::assertSameSize(ONNXNode &node, Value a,
                                             int64_t dimA, Value b,
                                             int64_t dimB, const Twine &what) {
  auto ta = cast<RankedTensorType>(a.getType());
  auto tb = cast<RankedTensorType>(b.getType());
  if (!ta.isDynamicDim(dimA) && !tb.isDynamicDim(dimB))
    return; // static sizes are checked at import
  OpBuilder &bld = node.b;
  Location loc = node.loc;
  auto sizeOf = [&](Value v, RankedTensorType t, int64_t d) -> Value {
    if (t.isDynamicDim(d))
      return tensor::DimOp::create(bld, loc, v, d);
    return arith::ConstantIndexOp::create(bld, loc, t.getDimSize(d));
  };
  Value same = arith::CmpIOp::create(bld, loc, arith::CmpIPredicate::eq,
                                     sizeOf(a, ta, dimA), sizeOf(b, tb, dimB));
  assertAtRunTime(node, same, what);
}

Value mlir::qopt::onnx_import::emptyTensorLike(OpBuilder &b, Location loc,
                                               RankedTensorType type,
                                               Value source) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, source, i));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dyn);
}

FailureOr<Value> mlir::qopt::onnx_import::buildElementwise(ONNXNode &node,
                                                           ValueRange inputs,
                                                           Type resultElemTy,
                                                           ElementBodyFn body) {
  OpBuilder &b = node.b;
  Location loc = node.loc;
  SmallVector<RankedTensorType> types;
  for (Value v : inputs)
    types.push_back(cast<RankedTensorType>(v.getType()));
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(node, types);
  if (failed(shape))
    return failure();
  int64_t rank = shape->size();
  MLIRContext *ctx = b.getContext();

  SmallVector<AffineMap> maps;
  for (RankedTensorType t : types) {
    int64_t offset = rank - t.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < t.getRank(); ++i)
      exprs.push_back(t.getDimSize(i) == 1 && (*shape)[offset + i] != 1
                          ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(offset + i, ctx));
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));

  assertDynamicDimsAgree(node, inputs, *shape);
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    if (!ShapedType::isDynamic((*shape)[i]))
      continue;
    for (auto [v, t] : llvm::zip(inputs, types)) {
      int64_t j = i - (rank - t.getRank());
      if (j >= 0 && t.isDynamicDim(j)) {
        dyn.push_back(tensor::DimOp::create(b, loc, v, j));
        break;
      }
    }
  }
  Value init = tensor::EmptyOp::create(b, loc, *shape, resultElemTy, dyn);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value r = body(nb, nloc, args.drop_back());
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

FailureOr<int64_t> mlir::qopt::onnx_import::inputAxis(ONNXNode &n, int64_t axis,
                                                      StringRef what) {
  int64_t rank = n.inputType(0).getRank();
  if (rank == 0)
    return n.emitError() << what << " must have rank >= 1";
  return n.normalizeAxis(axis, rank);
}

Value mlir::qopt::onnx_import::scalarConstant(OpBuilder &b, Location loc,
                                              Type type, double value) {
  if (auto ft = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(ft, value));
  return arith::ConstantOp::create(
      b, loc, type, b.getIntegerAttr(type, static_cast<int64_t>(value)));
}

Value mlir::qopt::onnx_import::convertScalar(OpBuilder &b, Location loc,
                                             Value v, Type to, bool srcUnsigned,
                                             bool dstUnsigned) {
  Type from = v.getType();
  if (from == to)
    return v;
  auto fromF = dyn_cast<FloatType>(from), toF = dyn_cast<FloatType>(to);
  if (fromF && toF)
    return fromF.getWidth() < toF.getWidth()
               ? arith::ExtFOp::create(b, loc, to, v).getResult()
               : arith::TruncFOp::create(b, loc, to, v).getResult();
  if (to.isInteger(1)) { // bool: nonzero
    Value zero = scalarConstant(b, loc, from, 0);
    if (fromF)
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  if (fromF)
    return dstUnsigned ? arith::FPToUIOp::create(b, loc, to, v).getResult()
                       : arith::FPToSIOp::create(b, loc, to, v).getResult();
  if (toF)
    return srcUnsigned ? arith::UIToFPOp::create(b, loc, to, v).getResult()
                       : arith::SIToFPOp::create(b, loc, to, v).getResult();
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw < tw)
    return srcUnsigned ? arith::ExtUIOp::create(b, loc, to, v).getResult()
                       : arith::ExtSIOp::create(b, loc, to, v).getResult();
  return arith::TruncIOp::create(b, loc, to, v);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

Type mlir::qopt::onnx_import::accumulatorType(Type elemTy) {
  if (auto ft = dyn_cast<FloatType>(elemTy); ft && ft.getWidth() < 32)
    return Float32Type::get(elemTy.getContext());
  return elemTy;
}

Value mlir::qopt::onnx_import::extremeConstant(OpBuilder &b, Location loc,
                                               Type ty, bool lowest,
                                               bool isUnsigned) {
  if (auto ft = dyn_cast<FloatType>(ty))
    return arith::ConstantOp::create(
        b, loc, ty,
        b.getFloatAttr(ft, APFloat::getInf(ft.getFloatSemantics(), lowest)));
  unsigned w = ty.getIntOrFloatBitWidth();
  APInt v = isUnsigned
                ? (lowest ? APInt::getMinValue(w) : APInt::getMaxValue(w))
                : (lowest ? APInt::getSignedMinValue(w)
                          : APInt::getSignedMaxValue(w));
  return arith::ConstantOp::create(b, loc, ty, b.getIntegerAttr(ty, v));
}

AffineMap mlir::qopt::onnx_import::keptDimsMap(ArrayRef<bool> reduced,
                                               MLIRContext *ctx) {
  SmallVector<AffineExpr> exprs;
  for (auto [i, r] : llvm::enumerate(reduced))
    if (!r)
      exprs.push_back(getAffineDimExpr(i, ctx));
  return AffineMap::get(reduced.size(), 0, exprs, ctx);
}

Value mlir::qopt::onnx_import::emptyReduced(OpBuilder &b, Location loc, Value x,
                                            ArrayRef<bool> reduced,
                                            Type elemTy) {
  auto ty = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < ty.getRank(); ++i) {
    if (reduced[i])
      continue;
    shape.push_back(ty.getDimSize(i));
    if (ty.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, x, i));
  }
  return tensor::EmptyOp::create(b, loc, shape, elemTy, dyn);
}

Value mlir::qopt::onnx_import::reduceLoops(
    OpBuilder &b, Location loc, Value x, ArrayRef<bool> reduced, ValueRange ins,
    ArrayRef<AffineMap> inMaps, Type accTy, Value init, CombineFn combine) {
  MLIRContext *ctx = b.getContext();
  Value empty = emptyReduced(b, loc, x, reduced, accTy);
  Value filled = linalg::FillOp::create(b, loc, init, empty).getResult(0);
  SmallVector<AffineMap> maps(inMaps);
  maps.push_back(keptDimsMap(reduced, ctx));
  SmallVector<utils::IteratorType> iters;
  for (bool r : reduced)
    iters.push_back(r ? utils::IteratorType::reduction
                      : utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, filled.getType(), ins, ValueRange{filled}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l,
                                combine(nb, l, args.drop_back(), args.back()));
      });
  return g.getResult(0);
}

Value mlir::qopt::onnx_import::expandReduced(OpBuilder &b, Location loc,
                                             Value v, ArrayRef<bool> reduced) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  SmallVector<ReassociationIndices> reassoc;
  int64_t src = 0;
  ReassociationIndices pending; // unit dims before the first kept dim
  for (auto [i, r] : llvm::enumerate(reduced)) {
    if (r) {
      shape.push_back(1);
      if (reassoc.empty())
        pending.push_back(i);
      else
        reassoc.back().push_back(i);
      continue;
    }
    shape.push_back(ty.getDimSize(src++));
    ReassociationIndices group(pending);
    group.push_back(i);
    pending.clear();
    reassoc.push_back(group);
  }
  auto outTy = RankedTensorType::get(shape, ty.getElementType());
  if (outTy == ty)
    return v;
  return tensor::ExpandShapeOp::create(b, loc, outTy, v, reassoc);
}

Value mlir::qopt::onnx_import::reducedCount(OpBuilder &b, Location loc, Value x,
                                            ArrayRef<bool> reduced, Type ty) {
  auto xTy = cast<RankedTensorType>(x.getType());
  int64_t staticCount = 1;
  Value dynCount;
  for (int64_t i = 0; i < xTy.getRank(); ++i) {
    if (!reduced[i])
      continue;
    if (!xTy.isDynamicDim(i)) {
      staticCount *= xTy.getDimSize(i);
      continue;
    }
    Value d = tensor::DimOp::create(b, loc, x, i);
    dynCount =
        dynCount ? arith::MulIOp::create(b, loc, dynCount, d).getResult() : d;
  }
  if (!dynCount)
    return scalarConstant(b, loc, ty, static_cast<double>(staticCount));
  Value c = arith::IndexCastOp::create(b, loc, b.getI64Type(), dynCount);
  c = arith::MulIOp::create(
      b, loc, c,
      scalarConstant(b, loc, b.getI64Type(), static_cast<double>(staticCount)));
  return convertScalar(b, loc, c, ty, false, false);
}

//===----------------------------------------------------------------------===//
// Unit dims and matmuls
//===----------------------------------------------------------------------===//

SmallVector<ReassociationIndices>
mlir::qopt::onnx_import::reassocDropping(int64_t rank, int64_t pos) {
  SmallVector<ReassociationIndices> re;
  for (int64_t i = 0; i < rank; ++i)
    if (i != pos)
      re.push_back({i});
  if (re.empty())
    return re; // rank 1 -> rank 0
  if (pos == 0)
    re.front().insert(re.front().begin(), 0);
  else
    re[pos - 1].push_back(pos);
  return re;
}

Value mlir::qopt::onnx_import::insertUnitDim(OpBuilder &b, Location loc,
                                             Value v, int64_t pos) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(ty.getShape());
  shape.insert(shape.begin() + pos, 1);
  return tensor::ExpandShapeOp::create(b, loc, ty.clone(shape), v,
                                       reassocDropping(ty.getRank() + 1, pos));
}

Value mlir::qopt::onnx_import::dropUnitDim(OpBuilder &b, Location loc, Value v,
                                           int64_t pos) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(ty.getShape());
  shape.erase(shape.begin() + pos);
  return tensor::CollapseShapeOp::create(b, loc, ty.clone(shape), v,
                                         reassocDropping(ty.getRank(), pos));
}

FailureOr<Value> mlir::qopt::onnx_import::buildBatchMatmul(
    ONNXNode &n, Value a, Value b, Type accTy, ValueRange extraIns,
    MatmulExtraMapsFn extraMaps, MatmulBodyFn body) {
  OpBuilder &bld = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = bld.getContext();
  auto aTy = cast<RankedTensorType>(a.getType());
  auto bTy = cast<RankedTensorType>(b.getType());
  int64_t ra = aTy.getRank(), rb = bTy.getRank();
  int64_t batch = std::max(ra, rb) - 2;
  int64_t kA = aTy.getDimSize(ra - 1), kB = bTy.getDimSize(rb - 2);
  if (!ShapedType::isDynamic(kA) && !ShapedType::isDynamic(kB) && kA != kB)
    return n.emitError() << "inner dimensions differ: " << kA << " and " << kB;
  assertSameSize(n, a, ra - 1, b, rb - 2,
                 "the inner dimensions differ at run time");
  // Broadcast batch dims.
  auto batchOf = [](RankedTensorType t) {
    return RankedTensorType::get(t.getShape().drop_back(2), t.getElementType());
  };
  FailureOr<SmallVector<int64_t>> bShape =
      broadcastShapes(n, {batchOf(aTy), batchOf(bTy)});
  if (failed(bShape))
    return failure();
  SmallVector<int64_t> outShape(*bShape);
  outShape.push_back(aTy.getDimSize(ra - 2));
  outShape.push_back(bTy.getDimSize(rb - 1));
  int64_t loops = batch + 3; // batch..., m, n, k
  AffineExpr dm = getAffineDimExpr(batch, ctx),
             dn = getAffineDimExpr(batch + 1, ctx),
             dk = getAffineDimExpr(batch + 2, ctx);
  auto operandMap = [&](RankedTensorType t, bool isA) {
    int64_t r = t.getRank(), off = batch - (r - 2);
    SmallVector<AffineExpr> e;
    for (int64_t i = 0; i < r - 2; ++i)
      e.push_back(t.getDimSize(i) == 1 && (*bShape)[off + i] != 1
                      ? getAffineConstantExpr(0, ctx)
                      : getAffineDimExpr(off + i, ctx));
    e.push_back(isA ? dm : dk);
    e.push_back(isA ? dk : dn);
    return AffineMap::get(loops, 0, e, ctx);
  };
  SmallVector<Value> ins{a, b};
  SmallVector<AffineMap> maps{operandMap(aTy, true), operandMap(bTy, false)};
  if (!extraIns.empty()) {
    ins.append(extraIns.begin(), extraIns.end());
    maps.append(extraMaps(loops, dm, dn));
  }
  SmallVector<AffineExpr> outE;
  for (int64_t i = 0; i < batch + 2; ++i)
    outE.push_back(getAffineDimExpr(i, ctx));
  maps.push_back(AffineMap::get(loops, 0, outE, ctx));

  SmallVector<Value> dyn;
  for (int64_t i = 0; i < batch + 2; ++i) {
    if (!ShapedType::isDynamic(outShape[i]))
      continue;
    if (i == batch)
      dyn.push_back(tensor::DimOp::create(bld, loc, a, ra - 2));
    else if (i == batch + 1)
      dyn.push_back(tensor::DimOp::create(bld, loc, b, rb - 1));
    else if (int64_t j = i - (batch - (ra - 2)); j >= 0 && aTy.isDynamicDim(j))
      dyn.push_back(tensor::DimOp::create(bld, loc, a, j));
    else
      dyn.push_back(tensor::DimOp::create(bld, loc, b, i - (batch - (rb - 2))));
  }
  Value init = tensor::EmptyOp::create(bld, loc, outShape, accTy, dyn);
  Value acc =
      linalg::FillOp::create(bld, loc, scalarConstant(bld, loc, accTy, 0), init)
          .getResult(0);
  SmallVector<utils::IteratorType> iters(loops, utils::IteratorType::parallel);
  iters.back() = utils::IteratorType::reduction;
  bool isFloat = isa<FloatType>(accTy);
  auto g = linalg::GenericOp::create(
      bld, loc, acc.getType(), ins, ValueRange{acc}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        if (body) {
          linalg::YieldOp::create(nb, l, body(nb, l, args));
          return;
        }
        Value p =
            isFloat
                ? arith::MulFOp::create(nb, l, args[0], args[1]).getResult()
                : arith::MulIOp::create(nb, l, args[0], args[1]).getResult();
        Value s = isFloat
                      ? arith::AddFOp::create(nb, l, args[2], p).getResult()
                      : arith::AddIOp::create(nb, l, args[2], p).getResult();
        linalg::YieldOp::create(nb, l, s);
      });
  return g.getResult(0);
}

FailureOr<Value> mlir::qopt::onnx_import::buildMatmul(
    ONNXNode &n, Value a, Value b, Type accTy, ValueRange extraIns,
    MatmulExtraMapsFn extraMaps, MatmulBodyFn body) {
  bool aVec = cast<RankedTensorType>(a.getType()).getRank() == 1;
  bool bVec = cast<RankedTensorType>(b.getType()).getRank() == 1;
  if (aVec)
    a = insertUnitDim(n.b, n.loc, a, 0);
  if (bVec)
    b = insertUnitDim(n.b, n.loc, b, 1);
  FailureOr<Value> y =
      buildBatchMatmul(n, a, b, accTy, extraIns, extraMaps, body);
  if (failed(y))
    return failure();
  Value out = *y;
  int64_t r = cast<RankedTensorType>(out.getType()).getRank();
  if (bVec)
    out = dropUnitDim(n.b, n.loc, out, r - 1);
  if (aVec)
    out = dropUnitDim(n.b, n.loc, out, r - 2);
  return out;
}

//===----------------------------------------------------------------------===//
// Index values and dims
//===----------------------------------------------------------------------===//

Value mlir::qopt::onnx_import::cIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

OpFoldResult mlir::qopt::onnx_import::dimOFR(OpBuilder &b, Location loc,
                                             Value t, int64_t d) {
  auto ty = cast<RankedTensorType>(t.getType());
  if (!ty.isDynamicDim(d))
    return b.getIndexAttr(ty.getDimSize(d));
  return tensor::DimOp::create(b, loc, t, d).getResult();
}

Value mlir::qopt::onnx_import::dimValue(OpBuilder &b, Location loc, Value t,
                                        int64_t d) {
  auto ty = cast<RankedTensorType>(t.getType());
  if (!ty.isDynamicDim(d))
    return cIndex(b, loc, ty.getDimSize(d));
  return tensor::DimOp::create(b, loc, t, d);
}

Value mlir::qopt::onnx_import::toIndex(OpBuilder &b, Location loc, Value v,
                                       bool isUnsigned) {
  if (isa<FloatType>(v.getType()))
    v = arith::FPToSIOp::create(b, loc, b.getI64Type(), v);
  else if (isUnsigned)
    return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), v);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

Value mlir::qopt::onnx_import::loopIndex(OpBuilder &b, Location loc,
                                         int64_t d) {
  return linalg::IndexOp::create(b, loc, d);
}

AffineMap mlir::qopt::onnx_import::dimRangeMap(MLIRContext *ctx,
                                               int64_t numDims, int64_t first,
                                               int64_t count) {
  SmallVector<AffineExpr> e;
  for (int64_t i = 0; i < count; ++i)
    e.push_back(getAffineDimExpr(first + i, ctx));
  return AffineMap::get(numDims, 0, e, ctx);
}

Value mlir::qopt::onnx_import::parallelGeneric(
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
