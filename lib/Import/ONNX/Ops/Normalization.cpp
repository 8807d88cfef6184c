//===- Normalization.cpp - normalization layers and Softmax ---------------===//
//
// BatchNormalization (inference), LayerNormalization, InstanceNormalization,
// GroupNormalization, RMSNormalization, Softmax and LogSoftmax. Statistics
// are linalg.generic reductions (two passes: the mean, then the centred sum
// of squares) in the compute type (f32 for 16-bit floats, or the stash type);
// the normalized output is one element-wise linalg.generic that reads the
// statistics and the parameters through broadcasting maps. Softmax subtracts
// the max before exponentiating.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

//===----------------------------------------------------------------------===//
// Shared pieces
//===----------------------------------------------------------------------===//

/// The type named by a stash_type attribute (float or double).
FailureOr<Type> stashType(ONNXNode &n, int64_t stash) {
  if (stash == kFloat)
    return Type(n.b.getF32Type());
  if (stash == kDouble)
    return Type(n.b.getF64Type());
  return n.emitError() << "stash_type " << stash
                       << " is not supported (1 = float, 11 = double)";
}

Value toType(OpBuilder &b, Location l, Value v, Type ty) {
  return convertScalar(b, l, v, ty, false, false);
}

/// Requires input `i` to be a float tensor.
LogicalResult requireFloat(ONNXNode &n, int64_t i, StringRef what) {
  if (!isFloatDType(n.inputDType(i)))
    return n.emitError() << what << " (input #" << i
                         << ") must be a float tensor, got "
                         << dtypeName(n.inputDType(i));
  return success();
}

/// Requires the inputs named `names` (from #0 on) to be float tensors and X
/// (input #0) to have at least `minRank` dims, laid out as `layout`; X's
/// type.
FailureOr<RankedTensorType> requireFloatX(ONNXNode &n,
                                          ArrayRef<const char *> names,
                                          int64_t minRank, StringRef layout) {
  for (auto [i, name] : llvm::enumerate(names))
    if (failed(requireFloat(n, i, name)))
      return failure();
  RankedTensorType xTy = n.inputType(0);
  if (xTy.getRank() < minRank)
    return n.emitError() << names[0] << " must have rank >= " << minRank << " ("
                         << layout << "), got " << xTy.getRank();
  return xTy;
}

/// An element-wise linalg.generic over `shapeOf`'s shape with result element
/// type `ty`, reading `ins` through `maps`.
Value mapLoops(OpBuilder &b, Location loc, Value shapeOf, ValueRange ins,
               ArrayRef<AffineMap> maps, Type ty, BodyFn body) {
  auto sTy = cast<RankedTensorType>(shapeOf.getType());
  Value init = emptyTensorLike(b, loc, sTy.clone(ty), shapeOf);
  SmallVector<AffineMap> allMaps(maps);
  allMaps.push_back(
      AffineMap::getMultiDimIdentityMap(sTy.getRank(), b.getContext()));
  SmallVector<utils::IteratorType> iters(sTy.getRank(),
                                         utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ins, ValueRange{init}, allMaps, iters,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, body(nb, l, args.drop_back()));
             })
      .getResult(0);
}

/// Statistics of `x` over the `reduced` dims, in `ct`, shaped like `x`
/// without those dims: the mean (null for RMS) and 1/sqrt(var + eps), or
/// 1/sqrt(mean(x^2) + eps) for RMS.
std::pair<Value, Value> statistics(ONNXNode &n, Value x, ArrayRef<bool> reduced,
                                   Type ct, double eps, bool rms) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  int64_t rank = reduced.size();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap kept = keptDimsMap(reduced, ctx);
  Value zero = scalarConstant(b, loc, ct, 0);
  Value count = reducedCount(b, loc, x, reduced, ct);
  Value mean;
  if (!rms) {
    Value sum = reduceLoops(
        b, loc, x, reduced, {x}, {id}, ct, zero,
        [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
          return arith::AddFOp::create(nb, l, acc, toType(nb, l, a[0], ct));
        });
    mean = mapLoops(b, loc, sum, {sum},
                    {AffineMap::getMultiDimIdentityMap(
                        cast<RankedTensorType>(sum.getType()).getRank(), ctx)},
                    ct, [&](OpBuilder &nb, Location l, ValueRange a) {
                      return arith::DivFOp::create(nb, l, a[0], count);
                    });
  }
  SmallVector<Value> ins{x};
  SmallVector<AffineMap> maps{id};
  if (mean) {
    ins.push_back(mean);
    maps.push_back(kept);
  }
  // Centred sum of squares: two passes are robust where E[x^2] - E[x]^2
  // cancels.
  Value sq =
      reduceLoops(b, loc, x, reduced, ins, maps, ct, zero,
                  [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
                    Value d = toType(nb, l, a[0], ct);
                    if (a.size() == 2)
                      d = arith::SubFOp::create(nb, l, d, a[1]);
                    Value s = arith::MulFOp::create(nb, l, d, d);
                    return arith::AddFOp::create(nb, l, acc, s);
                  });
  Value inv = mapLoops(
      b, loc, sq, {sq},
      {AffineMap::getMultiDimIdentityMap(
          cast<RankedTensorType>(sq.getType()).getRank(), ctx)},
      ct, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value var = arith::DivFOp::create(nb, l, a[0], count);
        Value v =
            arith::AddFOp::create(nb, l, var, scalarConstant(nb, l, ct, eps));
        return arith::DivFOp::create(nb, l, scalarConstant(nb, l, ct, 1.0),
                                     math::SqrtOp::create(nb, l, v));
      });
  return {mean, inv};
}

/// The map that reads parameter input `idx` broadcast (numpy, right-aligned)
/// into `xTy`, where it may only cover dims from `firstDim` on.
FailureOr<AffineMap> trailingParamMap(ONNXNode &n, int64_t idx,
                                      RankedTensorType xTy, int64_t firstDim,
                                      StringRef what) {
  RankedTensorType pTy = n.inputType(idx);
  int64_t rank = xTy.getRank(), pRank = pTy.getRank();
  MLIRContext *ctx = n.b.getContext();
  if (pRank > rank - firstDim)
    return n.emitError() << what << " has rank " << pRank << ", more than the "
                         << rank - firstDim << " normalized dims";
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < pRank; ++i) {
    int64_t xd = rank - pRank + i;
    int64_t p = pTy.getDimSize(i), s = xTy.getDimSize(xd);
    if (p == 1 && s != 1) {
      exprs.push_back(getAffineConstantExpr(0, ctx));
      continue;
    }
    if (!ShapedType::isDynamic(p) && !ShapedType::isDynamic(s) && p != s)
      return n.emitError() << what << " dim " << i << " is " << p
                           << ", which does not broadcast to input dim " << xd
                           << " (" << s << ")";
    exprs.push_back(getAffineDimExpr(xd, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// Checks that input `idx` is a 1-D tensor of `size` (dynamic: unchecked).
LogicalResult requireVector(ONNXNode &n, int64_t idx, int64_t size,
                            StringRef what, StringRef sizeName) {
  RankedTensorType t = n.inputType(idx);
  if (t.getRank() != 1)
    return n.emitError() << what << " must be 1-D, got rank " << t.getRank();
  if (!t.isDynamicDim(0) && !ShapedType::isDynamic(size) &&
      t.getDimSize(0) != size)
    return n.emitError() << what << " has " << t.getDimSize(0)
                         << " elements, expected " << size << " (" << sizeName
                         << ")";
  return success();
}

/// (d0, ..., d{rank-1}) -> (d`dim`).
AffineMap singleDimMap(int64_t rank, int64_t dim, MLIRContext *ctx) {
  return AffineMap::get(rank, 0, getAffineDimExpr(dim, ctx), ctx);
}

//===----------------------------------------------------------------------===//
// BatchNormalization
//===----------------------------------------------------------------------===//

/// BatchNormalization in inference form; `since` selects the attribute set
/// of that version (1, 6, 7, 9, 14, 15).
/// BatchNormalization with training_mode = 1 (opset 14+): normalizes with
/// the batch's own per-channel mean and (population) variance, and returns
/// the running statistics input * momentum + batch * (1 - momentum).
LogicalResult batchNormTraining(ONNXNode &n, RankedTensorType xTy, double eps,
                                double momentum) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  int64_t rank = xTy.getRank();
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  SmallVector<bool> reduced(rank, true);
  reduced[1] = false;
  auto [mean, inv] = statistics(n, n.input(0), reduced, ct, eps, false);
  AffineMap ch = singleDimMap(rank, 1, ctx);
  Value y = mapLoops(
      b, loc, n.input(0), {n.input(0), n.input(1), n.input(2), mean, inv},
      {AffineMap::getMultiDimIdentityMap(rank, ctx), ch, ch, ch, ch}, elemTy,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value x = toType(nb, l, a[0], ct), s = toType(nb, l, a[1], ct),
              bias = toType(nb, l, a[2], ct);
        Value norm = arith::MulFOp::create(
            nb, l, arith::SubFOp::create(nb, l, x, a[3]), a[4]);
        Value r = arith::AddFOp::create(
            nb, l, arith::MulFOp::create(nb, l, norm, s), bias);
        return toType(nb, l, r, elemTy);
      });
  n.setOutput(0, y, n.inputDType(0));
  // running = input * momentum + batch * (1 - momentum); the batch variance
  // is recovered from 1/sqrt(var + eps).
  AffineMap id1 = AffineMap::getMultiDimIdentityMap(1, ctx);
  for (int64_t out = 1; out < 3; ++out) {
    if (!n.hasOutput(out))
      continue;
    Value stat = n.input(out + 2);
    Value r = mapLoops(
        b, loc, stat, {stat, out == 1 ? mean : inv}, {id1, id1},
        n.inputType(out + 2).getElementType(),
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value batch = a[1];
          if (out == 2) {
            Value sq = arith::MulFOp::create(nb, l, batch, batch);
            batch = arith::SubFOp::create(
                nb, l,
                arith::DivFOp::create(nb, l, scalarConstant(nb, l, ct, 1.0),
                                      sq),
                scalarConstant(nb, l, ct, eps));
          }
          Value v = arith::AddFOp::create(
              nb, l,
              arith::MulFOp::create(nb, l, toType(nb, l, a[0], ct),
                                    scalarConstant(nb, l, ct, momentum)),
              arith::MulFOp::create(nb, l, batch,
                                    scalarConstant(nb, l, ct, 1 - momentum)));
          return toType(nb, l, v, n.inputType(out + 2).getElementType());
        });
    n.setOutput(out, r, n.inputDType(out + 2));
  }
  return success();
}

OpBuilderFn batchNorm(int64_t since) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(5, 5, 1, since >= 14 ? 3 : 5)))
      return failure();
    FailureOr<double> eps = n.getFloat("epsilon", 1e-5);
    FailureOr<double> momentum = n.getFloat("momentum", 0.9);
    if (failed(eps) || failed(momentum))
      return failure();
    if (since == 1 && failed(n.getInts("consumed_inputs", {})))
      return failure();
    // is_test (before opset 7) only chooses whether the training outputs
    // may be requested; those are rejected below either way.
    if (since < 7 && failed(n.getInt("is_test", 0)))
      return failure();
    if (since < 9) {
      FailureOr<int64_t> spatial = n.getInt("spatial", 1);
      if (failed(spatial))
        return failure();
      if (*spatial != 1)
        return n.emitError() << "spatial = " << *spatial
                             << " is not supported (only per-channel "
                                "statistics, spatial = 1)";
    }
    bool training = false;
    if (since >= 14) {
      FailureOr<int64_t> t = n.getInt("training_mode", 0);
      if (failed(t))
        return failure();
      if (*t != 0 && *t != 1)
        return n.emitError() << "training_mode must be 0 or 1, got " << *t;
      training = *t == 1;
    }
    for (int64_t i = 1; i < n.numOutputs() && !training; ++i)
      if (n.hasOutput(i))
        return n.emitError() << "output #" << i
                             << " (a training statistic) is not supported "
                                "(inference only)";
    static const char *names[] = {"X", "scale", "B", "input_mean", "input_var"};
    FailureOr<RankedTensorType> xTyOr =
        requireFloatX(n, names, 2, "N x C x ...");
    if (failed(xTyOr))
      return failure();
    RankedTensorType xTy = *xTyOr;
    int64_t c = xTy.getDimSize(1);
    for (int64_t i = 1; i < 5; ++i)
      if (failed(requireVector(n, i, c, names[i], "channels")))
        return failure();

    if (training)
      return batchNormTraining(n, xTy, *eps, *momentum);
    // Right after a Conv with constant weights: folded into it.
    if (tryFoldBatchNormIntoConv(n, *eps))
      return success();
    OpBuilder &b = n.b;
    MLIRContext *ctx = b.getContext();
    int64_t rank = xTy.getRank();
    Type elemTy = xTy.getElementType();
    Type ct = accumulatorType(elemTy);
    AffineMap ch = singleDimMap(rank, 1, ctx);
    double e = *eps;
    Value y = mapLoops(
        b, n.loc, n.input(0),
        {n.input(0), n.input(1), n.input(2), n.input(3), n.input(4)},
        {AffineMap::getMultiDimIdentityMap(rank, ctx), ch, ch, ch, ch}, elemTy,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value x = toType(nb, l, a[0], ct), s = toType(nb, l, a[1], ct),
                bias = toType(nb, l, a[2], ct), m = toType(nb, l, a[3], ct),
                v = toType(nb, l, a[4], ct);
          Value den = math::SqrtOp::create(
              nb, l,
              arith::AddFOp::create(nb, l, v, scalarConstant(nb, l, ct, e)));
          Value norm = arith::DivFOp::create(
              nb, l, arith::SubFOp::create(nb, l, x, m), den);
          Value r = arith::AddFOp::create(
              nb, l, arith::MulFOp::create(nb, l, norm, s), bias);
          return toType(nb, l, r, elemTy);
        });
    n.setOutput(0, y, n.inputDType(0));
    return success();
  };
}

//===----------------------------------------------------------------------===//
// LayerNormalization / RMSNormalization
//===----------------------------------------------------------------------===//

/// LayerNormalization (opset 17) or RMSNormalization (opset 23): statistics
/// over dims [axis, rank).
OpBuilderFn layerNorm(bool rms) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(2, rms ? 2 : 3, 1, rms ? 1 : 3)))
      return failure();
    FailureOr<int64_t> axisAttr = n.getInt("axis", -1);
    FailureOr<double> eps = n.getFloat("epsilon", 1e-5);
    FailureOr<int64_t> stash = n.getInt("stash_type", kFloat);
    if (failed(axisAttr) || failed(eps) || failed(stash))
      return failure();
    FailureOr<Type> ct = stashType(n, *stash);
    if (failed(ct))
      return failure();
    static const char *names[] = {"X", "Scale", "B"};
    for (int64_t i = 0; i < n.numInputs(); ++i)
      if (n.hasInput(i) && failed(requireFloat(n, i, names[i])))
        return failure();
    RankedTensorType xTy = n.inputType(0);
    int64_t rank = xTy.getRank();
    FailureOr<int64_t> axis = inputAxis(n, *axisAttr, "X");
    if (failed(axis))
      return failure();
    SmallVector<AffineMap> paramMaps;
    for (int64_t i = 1; i < n.numInputs(); ++i) {
      if (!n.hasInput(i))
        continue;
      FailureOr<AffineMap> m = trailingParamMap(n, i, xTy, *axis, names[i]);
      if (failed(m))
        return failure();
      paramMaps.push_back(*m);
    }
    bool hasBias = n.hasInput(2);

    OpBuilder &b = n.b;
    MLIRContext *ctx = b.getContext();
    Type elemTy = xTy.getElementType();
    SmallVector<bool> reduced(rank, false);
    for (int64_t i = *axis; i < rank; ++i)
      reduced[i] = true;
    std::pair<Value, Value> stats =
        statistics(n, n.input(0), reduced, *ct, *eps, rms);
    Value mean = stats.first, inv = stats.second;
    AffineMap kept = keptDimsMap(reduced, ctx);
    SmallVector<Value> ins{n.input(0)};
    SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(rank, ctx)};
    if (mean) {
      ins.push_back(mean);
      maps.push_back(kept);
    }
    ins.push_back(inv);
    maps.push_back(kept);
    ins.push_back(n.input(1));
    if (hasBias)
      ins.push_back(n.input(2));
    maps.append(paramMaps);
    Type pt = accumulatorType(elemTy);
    Value y = mapLoops(
        b, n.loc, n.input(0), ins, maps, elemTy,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value x = toType(nb, l, a[0], *ct);
          size_t k = 1;
          if (mean)
            x = arith::SubFOp::create(nb, l, x, a[k++]);
          x = arith::MulFOp::create(nb, l, x, a[k++]);
          // Normalized values times Scale (plus B) in the input's
          // precision (f32 for 16-bit floats).
          x = toType(nb, l, x, pt);
          x = arith::MulFOp::create(nb, l, x, toType(nb, l, a[k++], pt));
          if (hasBias)
            x = arith::AddFOp::create(nb, l, x, toType(nb, l, a[k++], pt));
          return toType(nb, l, x, elemTy);
        });
    n.setOutput(0, y, n.inputDType(0));
    if (!rms) {
      int32_t stashDType = static_cast<int32_t>(*stash);
      if (n.hasOutput(1))
        n.setOutput(1, expandReduced(b, n.loc, mean, reduced), stashDType);
      if (n.hasOutput(2))
        n.setOutput(2, expandReduced(b, n.loc, inv, reduced), stashDType);
    }
    return success();
  };
}

//===----------------------------------------------------------------------===//
// InstanceNormalization
//===----------------------------------------------------------------------===//

LogicalResult buildInstanceNorm(ONNXNode &n, bool legacy) {
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  FailureOr<double> eps = n.getFloat("epsilon", 1e-5);
  if (failed(eps))
    return failure();
  if (legacy && failed(n.getInts("consumed_inputs", {})))
    return failure();
  static const char *names[] = {"input", "scale", "B"};
  FailureOr<RankedTensorType> xTyOr =
      requireFloatX(n, names, 3, "N x C x D1 ...");
  if (failed(xTyOr))
    return failure();
  RankedTensorType xTy = *xTyOr;
  int64_t rank = xTy.getRank();
  for (int64_t i = 1; i < 3; ++i)
    if (failed(requireVector(n, i, xTy.getDimSize(1), names[i], "channels")))
      return failure();

  OpBuilder &b = n.b;
  MLIRContext *ctx = b.getContext();
  Type elemTy = xTy.getElementType();
  Type ct = accumulatorType(elemTy);
  SmallVector<bool> reduced(rank, true);
  reduced[0] = reduced[1] = false;
  std::pair<Value, Value> stats =
      statistics(n, n.input(0), reduced, ct, *eps, false);
  Value mean = stats.first, inv = stats.second;
  AffineMap kept = keptDimsMap(reduced, ctx), ch = singleDimMap(rank, 1, ctx);
  Value y = mapLoops(
      b, n.loc, n.input(0), {n.input(0), mean, inv, n.input(1), n.input(2)},
      {AffineMap::getMultiDimIdentityMap(rank, ctx), kept, kept, ch, ch},
      elemTy, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value x = arith::SubFOp::create(nb, l, toType(nb, l, a[0], ct), a[1]);
        x = arith::MulFOp::create(nb, l, x, a[2]);
        x = arith::MulFOp::create(nb, l, x, toType(nb, l, a[3], ct));
        x = arith::AddFOp::create(nb, l, x, toType(nb, l, a[4], ct));
        return toType(nb, l, x, elemTy);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// GroupNormalization
//===----------------------------------------------------------------------===//

/// Splits dim `dim` of `v` into [groups, size / groups].
Value splitDim(OpBuilder &b, Location loc, Value v, int64_t dim,
               int64_t groups) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  SmallVector<OpFoldResult> sizes;
  SmallVector<ReassociationIndices> reassoc;
  for (int64_t i = 0; i < ty.getRank(); ++i) {
    int64_t d = ty.getDimSize(i);
    auto sizeOf = [&](int64_t s, Value dyn) -> OpFoldResult {
      if (!ShapedType::isDynamic(s))
        return b.getIndexAttr(s);
      return dyn;
    };
    if (i != dim) {
      reassoc.push_back({static_cast<int64_t>(shape.size())});
      shape.push_back(d);
      sizes.push_back(
          sizeOf(d, ty.isDynamicDim(i)
                        ? tensor::DimOp::create(b, loc, v, i).getResult()
                        : Value()));
      continue;
    }
    int64_t inner = ShapedType::isDynamic(d) ? d : d / groups;
    reassoc.push_back({static_cast<int64_t>(shape.size()),
                       static_cast<int64_t>(shape.size()) + 1});
    shape.push_back(groups);
    shape.push_back(inner);
    sizes.push_back(b.getIndexAttr(groups));
    Value dyn;
    if (ShapedType::isDynamic(d))
      dyn = arith::DivUIOp::create(
          b, loc, tensor::DimOp::create(b, loc, v, i),
          arith::ConstantIndexOp::create(b, loc, groups));
    sizes.push_back(sizeOf(inner, dyn));
  }
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, ty.getElementType()), v, reassoc,
      sizes);
}

/// GroupNormalization; `perChannel`: scale and bias have C elements (opset
/// 21) rather than num_groups (opset 18).
OpBuilderFn groupNorm(bool perChannel) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(3, 3, 1, 1)))
      return failure();
    FailureOr<double> eps = n.getFloat("epsilon", 1e-5);
    FailureOr<int64_t> groups = n.getRequiredInt("num_groups");
    FailureOr<int64_t> stash =
        perChannel ? n.getInt("stash_type", kFloat) : FailureOr<int64_t>(-1);
    if (failed(eps) || failed(groups) || failed(stash))
      return failure();
    static const char *names[] = {"X", "scale", "bias"};
    FailureOr<RankedTensorType> xTyOr =
        requireFloatX(n, names, 2, "N x C x ...");
    if (failed(xTyOr))
      return failure();
    RankedTensorType xTy = *xTyOr;
    int64_t rank = xTy.getRank();
    int64_t g = *groups, c = xTy.getDimSize(1);
    if (g <= 0)
      return n.emitError() << "num_groups must be positive, got " << g;
    if (!ShapedType::isDynamic(c) && c % g != 0)
      return n.emitError() << "the " << c
                           << " channels do not divide into num_groups = " << g;
    for (int64_t i = 1; i < 3; ++i)
      if (failed(requireVector(n, i, perChannel ? c : g, names[i],
                               perChannel ? "channels" : "num_groups")))
        return failure();
    Type elemTy = xTy.getElementType();
    Type ct = accumulatorType(elemTy);
    if (perChannel) {
      FailureOr<Type> st = stashType(n, *stash);
      if (failed(st))
        return failure();
      ct = *st;
    }

    // [N, C, D...] -> [N, G, C/G, D...]; statistics over dims 2...
    OpBuilder &b = n.b;
    Location loc = n.loc;
    MLIRContext *ctx = b.getContext();
    Value x = splitDim(b, loc, n.input(0), 1, g);
    int64_t r = rank + 1;
    SmallVector<bool> reduced(r, true);
    reduced[0] = reduced[1] = false;
    std::pair<Value, Value> stats = statistics(n, x, reduced, ct, *eps, false);
    Value mean = stats.first, inv = stats.second;
    AffineMap kept = keptDimsMap(reduced, ctx);
    Value scale = n.input(1), bias = n.input(2);
    AffineMap pm = singleDimMap(r, 1, ctx);
    if (perChannel) {
      scale = splitDim(b, loc, scale, 0, g);
      bias = splitDim(b, loc, bias, 0, g);
      pm = AffineMap::get(
          r, 0, {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)}, ctx);
    }
    Type pt = accumulatorType(elemTy);
    Value y = mapLoops(
        b, loc, x, {x, mean, inv, scale, bias},
        {AffineMap::getMultiDimIdentityMap(r, ctx), kept, kept, pm, pm}, elemTy,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value v = arith::SubFOp::create(nb, l, toType(nb, l, a[0], ct), a[1]);
          v = toType(nb, l, arith::MulFOp::create(nb, l, v, a[2]), pt);
          v = arith::MulFOp::create(nb, l, v, toType(nb, l, a[3], pt));
          v = arith::AddFOp::create(nb, l, v, toType(nb, l, a[4], pt));
          return toType(nb, l, v, elemTy);
        });
    SmallVector<ReassociationIndices> reassoc{{0}, {1, 2}};
    for (int64_t i = 3; i < r; ++i)
      reassoc.push_back({i});
    y = tensor::CollapseShapeOp::create(b, loc, y, reassoc);
    n.setOutput(0, y, n.inputDType(0));
    return success();
  };
}

//===----------------------------------------------------------------------===//
// Softmax / LogSoftmax
//===----------------------------------------------------------------------===//

/// Softmax or LogSoftmax; `coerced`: before opset 13 the input is seen as
/// 2-D [prod(dims < axis), prod(dims >= axis)] and normalized along its
/// second dim (default axis 1); from 13 along `axis` alone (default -1).
OpBuilderFn softmax(bool isLog, bool coerced) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    FailureOr<int64_t> axisAttr = n.getInt("axis", coerced ? 1 : -1);
    if (failed(axisAttr) || failed(requireFloat(n, 0, "input")))
      return failure();
    RankedTensorType xTy = n.inputType(0);
    int64_t rank = xTy.getRank();
    FailureOr<int64_t> axis = inputAxis(n, *axisAttr);
    if (failed(axis))
      return failure();

    OpBuilder &b = n.b;
    Location loc = n.loc;
    MLIRContext *ctx = b.getContext();
    Value x = n.input(0);
    Type elemTy = xTy.getElementType();
    Type ct = accumulatorType(elemTy);
    SmallVector<bool> reduced(rank, false);
    for (int64_t i = *axis; i < (coerced ? rank : *axis + 1); ++i)
      reduced[i] = true;
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap kept = keptDimsMap(reduced, ctx);
    Value ninf = extremeConstant(b, loc, ct, /*lowest=*/true,
                                 /*isUnsigned=*/false);
    Value max = reduceLoops(
        b, loc, x, reduced, {x}, {id}, ct, ninf,
        [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
          return arith::MaximumFOp::create(nb, l, toType(nb, l, a[0], ct), acc);
        });
    Value sum = reduceLoops(
        b, loc, x, reduced, {x, max}, {id, kept}, ct,
        scalarConstant(b, loc, ct, 0),
        [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
          Value d = arith::SubFOp::create(nb, l, toType(nb, l, a[0], ct), a[1]);
          return arith::AddFOp::create(nb, l, acc,
                                       math::ExpOp::create(nb, l, d));
        });
    Value y = mapLoops(
        b, loc, x, {x, max, sum}, {id, kept, kept}, elemTy,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value d = arith::SubFOp::create(nb, l, toType(nb, l, a[0], ct), a[1]);
          Value r = isLog ? arith::SubFOp::create(
                                nb, l, d, math::LogOp::create(nb, l, a[2]))
                                .getResult()
                          : arith::DivFOp::create(
                                nb, l, math::ExpOp::create(nb, l, d), a[2])
                                .getResult();
          return toType(nb, l, r, elemTy);
        });
    n.setOutput(0, y, n.inputDType(0));
    return success();
  };
}

} // namespace

void mlir::qopt::onnx_import::registerNormalizationOps(OpRegistry &r) {
  for (int64_t since : {1, 6, 7, 9, 14, 15})
    r.add("", "BatchNormalization", since, batchNorm(since));
  r.add("", "LayerNormalization", 17, layerNorm(/*rms=*/false));
  r.add("", "RMSNormalization", 23, layerNorm(/*rms=*/true));
  r.add("", "InstanceNormalization", 1,
        [](ONNXNode &n) { return buildInstanceNorm(n, /*legacy=*/true); });
  r.add("", "InstanceNormalization", 6,
        [](ONNXNode &n) { return buildInstanceNorm(n, /*legacy=*/false); });
  r.add("", "GroupNormalization", 18, groupNorm(/*perChannel=*/false));
  r.add("", "GroupNormalization", 21, groupNorm(/*perChannel=*/true));
  r.add("", "Softmax", 1, softmax(/*isLog=*/false, /*coerced=*/true));
  r.add("", "Softmax", 13, softmax(/*isLog=*/false, /*coerced=*/false));
  r.add("", "LogSoftmax", 1, softmax(/*isLog=*/true, /*coerced=*/true));
  r.add("", "LogSoftmax", 13, softmax(/*isLog=*/true, /*coerced=*/false));
}
