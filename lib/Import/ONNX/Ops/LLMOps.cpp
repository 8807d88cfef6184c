//===- LLMOps.cpp - RotaryEmbedding, SwiGLU, TensorScatter, CausalConv ----===//
//
// Small operators of recent opsets written for language models, each one
// linalg.generic over its output:
//   * RotaryEmbedding (23): out[d] rotates (x[d], its partner) by the cached
//     cos/sin of the token's position (read with tensor.extract; position
//     ids checked at run time), non-interleaved (halves) or interleaved
//     (pairs), over the first rotary_embedding_dim elements of each head;
//   * SwiGLU (28): Swish_alpha(A) * B (Swish itself is in MathOps.cpp);
//   * TensorScatter (24): the cache with `update` written at write_indices[b]
//     along `axis` (linear or circular), as a select per output element.
// f16/bf16 are computed in f32, rounding each step the reference rounds.
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

Value castF(OpBuilder &b, Location l, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, l, to, v);
  return arith::TruncFOp::create(b, l, to, v);
}

/// `v` rounded to `t` and back (a no-op when `v` has type `t`).
Value roundVia(OpBuilder &b, Location l, Value v, Type t) {
  if (v.getType() == t)
    return v;
  return castF(b, l, castF(b, l, v, t), v.getType());
}

LogicalResult requireFloatInput(ONNXNode &n, int64_t i, StringRef what) {
  Type t = n.inputType(i).getElementType();
  if (!isa<Float32Type, Float16Type, BFloat16Type, Float64Type>(t))
    return n.emitError() << what << " has dtype " << dtypeName(n.inputDType(i))
                         << "; float, float16, bfloat16 or double needed";
  return success();
}

/// An all-parallel generic over `init`'s shape whose body also gets the
/// loop indices.
Value indexedGeneric(
    OpBuilder &b, Location loc, ValueRange ins, ArrayRef<AffineMap> maps,
    Value init,
    function_ref<Value(OpBuilder &, Location, ValueRange, ArrayRef<Value>)>
        body) {
  int64_t rank = cast<RankedTensorType>(init.getType()).getRank();
  return parallelGeneric(b, loc, ins, maps, init,
                         [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           SmallVector<Value> idx;
                           for (int64_t d = 0; d < rank; ++d)
                             idx.push_back(linalg::IndexOp::create(nb, l, d));
                           return body(nb, l, a, idx);
                         });
}

//===----------------------------------------------------------------------===//
// RotaryEmbedding
//===----------------------------------------------------------------------===//

LogicalResult buildRotaryEmbedding(ONNXNode &n) {
  if (failed(n.checkArity(3, 4, 1, 1)))
    return failure();
  FailureOr<int64_t> interleaved = n.getInt("interleaved", 0);
  FailureOr<int64_t> rotAttr = n.getInt("rotary_embedding_dim", 0);
  FailureOr<int64_t> numHeads = n.getInt("num_heads", 0);
  if (failed(interleaved) || failed(rotAttr) || failed(numHeads) ||
      failed(requireFloatInput(n, 0, "input")))
    return failure();
  for (int64_t i : {1, 2})
    if (n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(n.inputDType(0));
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  RankedTensorType xTy = n.inputType(0);
  Type t = xTy.getElementType(), c = accumulatorType(t);
  int64_t rank = xTy.getRank();
  int64_t seqDim;
  if (rank == 4) {
    seqDim = 2; // [B, H, S, D]
  } else if (rank == 3) {
    if (*numHeads <= 0)
      return n.emitError() << "a 3-D input needs num_heads (> 0)";
    int64_t hidden = xTy.getDimSize(2);
    if (ShapedType::isDynamic(hidden) || hidden % *numHeads)
      return n.emitError() << "the hidden size " << hidden
                           << " is not a static multiple of num_heads "
                           << *numHeads;
    int64_t hd = hidden / *numHeads;
    auto e = RankedTensorType::get(
        {xTy.getDimSize(0), xTy.getDimSize(1), *numHeads, hd}, t);
    x = tensor::ExpandShapeOp::create(
        b, loc, e, x, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
        SmallVector<OpFoldResult>{dimOFR(b, loc, x, 0), dimOFR(b, loc, x, 1),
                                  b.getIndexAttr(*numHeads),
                                  b.getIndexAttr(hd)});
    seqDim = 1; // [B, S, H, D]
  } else {
    return n.emitError() << "input must be 3-D or 4-D, got rank " << rank;
  }
  auto x4 = cast<RankedTensorType>(x.getType());
  int64_t head = x4.getDimSize(3);
  if (ShapedType::isDynamic(head))
    return n.emitError() << "the head size must be static";
  int64_t rot = *rotAttr ? *rotAttr : head;
  if (rot <= 0 || rot > head || rot % 2)
    return n.emitError() << "rotary_embedding_dim " << rot
                         << " must be even and at most the head size " << head;
  int64_t half = rot / 2;
  bool hasPos = n.hasInput(3);
  RankedTensorType cTy = n.inputType(1), sTy = n.inputType(2);
  int64_t cacheRank = hasPos ? 2 : 3;
  if (cTy.getRank() != cacheRank || sTy.getRank() != cacheRank)
    return n.emitError() << "cos_cache and sin_cache must be "
                         << (hasPos ? "2-D [max_position, rotary_dim / 2] "
                                      "with position_ids"
                                    : "3-D [batch, seq, rotary_dim / 2] "
                                      "without position_ids")
                         << ", got " << cTy << " and " << sTy;
  if (cTy.getDimSize(cacheRank - 1) != half ||
      sTy.getDimSize(cacheRank - 1) != half)
    return n.emitError() << "the caches' last dim must be rotary_dim / 2 = "
                         << half << ", got " << cTy << " and " << sTy;
  Value cosC = n.input(1), sinC = n.input(2), pos;
  if (hasPos) {
    if (n.inputDType(3) != kInt64 || n.inputType(3).getRank() != 2)
      return n.emitError() << "position_ids must be a 2-D int64 tensor";
    pos = n.input(3);
    Value maxPos = arith::IndexCastOp::create(
        b, loc, b.getI64Type(),
        arith::MinUIOp::create(b, loc, dimValue(b, loc, cosC, 0),
                               dimValue(b, loc, sinC, 0)));
    assertNoElement(
        n, pos,
        [&](OpBuilder &nb, Location l, Value p) -> Value {
          Value zero = arith::ConstantIntOp::create(nb, l, p.getType(), 0);
          return arith::OrIOp::create(
              nb, l,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, p, zero),
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, p,
                                    maxPos));
        },
        "position_ids out of range of the cos/sin caches");
  }
  Value init = emptyTensorLike(b, loc, x4, x);
  Value y = indexedGeneric(
      b, loc, {x}, {b.getMultiDimIdentityMap(4)}, init,
      [&](OpBuilder &nb, Location l, ValueRange a,
          ArrayRef<Value> idx) -> Value {
        Value bi = idx[0], si = idx[seqDim], d = idx[3];
        auto ci = [&](int64_t v) { return cIndex(nb, l, v); };
        auto cmp = [&](arith::CmpIPredicate p, Value u, Value v) {
          return arith::CmpIOp::create(nb, l, p, u, v);
        };
        Value inRot = cmp(arith::CmpIPredicate::ult, d, ci(rot));
        // k: the cache column; partner: the other element of the pair;
        // first: whether d holds the real part.
        Value k, partner, first;
        if (*interleaved) {
          Value isEven = cmp(arith::CmpIPredicate::eq,
                             arith::RemUIOp::create(nb, l, d, ci(2)), ci(0));
          k = arith::DivUIOp::create(nb, l, d, ci(2));
          partner = arith::SelectOp::create(
              nb, l, isEven, arith::AddIOp::create(nb, l, d, ci(1)),
              arith::SubIOp::create(nb, l, d, ci(1)));
          first = isEven;
        } else {
          first = cmp(arith::CmpIPredicate::ult, d, ci(half));
          k = arith::SelectOp::create(
              nb, l, first, d, arith::SubIOp::create(nb, l, d, ci(half)));
          partner = arith::SelectOp::create(
              nb, l, first, arith::AddIOp::create(nb, l, d, ci(half)), k);
        }
        // Outside the rotary dims every index is clamped in range (the
        // result there is x itself).
        k = arith::SelectOp::create(nb, l, inRot, k, ci(0));
        partner = arith::SelectOp::create(nb, l, inRot, partner, d);
        SmallVector<Value> pIdx(idx);
        pIdx[3] = partner;
        Value xp = tensor::ExtractOp::create(nb, l, x, pIdx);
        SmallVector<Value> cIdx;
        if (pos) {
          Value p = tensor::ExtractOp::create(nb, l, pos, ValueRange{bi, si});
          cIdx = {arith::IndexCastOp::create(nb, l, nb.getIndexType(), p), k};
        } else {
          cIdx = {bi, si, k};
        }
        Value cs =
            castF(nb, l, tensor::ExtractOp::create(nb, l, cosC, cIdx), c);
        Value sn =
            castF(nb, l, tensor::ExtractOp::create(nb, l, sinC, cIdx), c);
        Value xv = castF(nb, l, a[0], c), xpv = castF(nb, l, xp, c);
        auto mul = [&](Value u, Value v) {
          return roundVia(nb, l, arith::MulFOp::create(nb, l, u, v), t);
        };
        // real = cos x1 - sin x2 (at x1's place); imag = sin x1 + cos x2.
        Value real = arith::SubFOp::create(nb, l, mul(cs, xv), mul(sn, xpv));
        Value imag = arith::AddFOp::create(nb, l, mul(sn, xpv), mul(cs, xv));
        Value r =
            castF(nb, l, arith::SelectOp::create(nb, l, first, real, imag), t);
        return arith::SelectOp::create(nb, l, inRot, r, a[0]);
      });
  if (rank == 3)
    y = tensor::CollapseShapeOp::create(
        b, loc, y, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Swish, SwiGLU
//===----------------------------------------------------------------------===//

/// a * T(sigmoid(alpha a)) in compute type `c`, rounded as the reference.
Value swish(OpBuilder &b, Location l, Value a, double alpha, Type t, Type c) {
  Value x = castF(b, l, a, c);
  Value one = scalarConstant(b, l, c, 1.0);
  Value ax = roundVia(
      b, l, arith::MulFOp::create(b, l, scalarConstant(b, l, c, -alpha), x), t);
  Value e = roundVia(b, l, math::ExpOp::create(b, l, ax), t);
  Value sig = roundVia(
      b, l,
      arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e)), t);
  return roundVia(b, l, arith::MulFOp::create(b, l, x, sig), t);
}

LogicalResult buildSwiGLU(ONNXNode &n) {
  FailureOr<double> alpha = n.getFloat("alpha", 1.0);
  if (failed(n.checkArity(2, 2, 1, 1)) || failed(alpha) ||
      failed(requireFloatInput(n, 0, "A")))
    return failure();
  if (n.inputDType(1) != n.inputDType(0))
    return n.emitError() << "A and B have different dtypes ("
                         << dtypeName(n.inputDType(0)) << ", "
                         << dtypeName(n.inputDType(1)) << ")";
  RankedTensorType aTy = n.inputType(0), bTy = n.inputType(1);
  if (aTy.getRank() != bTy.getRank())
    return n.emitError() << "A " << aTy << " and B " << bTy
                         << " must have the same shape (no broadcasting)";
  for (int64_t i = 0; i < aTy.getRank(); ++i)
    if (aTy.getDimSize(i) != bTy.getDimSize(i) && !aTy.isDynamicDim(i) &&
        !bTy.isDynamicDim(i))
      return n.emitError() << "A " << aTy << " and B " << bTy
                           << " must have the same shape (no broadcasting)";
  Type t = aTy.getElementType(), c = accumulatorType(t);
  auto r = buildElementwise(
      n, {n.input(0), n.input(1)}, t,
      [&](OpBuilder &b, Location l, ValueRange a) {
        Value s = swish(b, l, a[0], *alpha, t, c);
        return castF(b, l, arith::MulFOp::create(b, l, s, castF(b, l, a[1], c)),
                     t);
      });
  if (failed(r))
    return failure();
  n.setOutput(0, *r, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// TensorScatter
//===----------------------------------------------------------------------===//

LogicalResult buildTensorScatter(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  FailureOr<std::string> mode = n.getString("mode", "linear");
  FailureOr<int64_t> axisAttr = n.getInt("axis", -2);
  if (failed(mode) || failed(axisAttr))
    return failure();
  if (*mode != "linear" && *mode != "circular")
    return n.emitError() << "mode must be 'linear' or 'circular', got '"
                         << *mode << "'";
  if (n.inputDType(1) != n.inputDType(0))
    return n.emitError() << "update has dtype " << dtypeName(n.inputDType(1))
                         << ", past_cache " << dtypeName(n.inputDType(0));
  RankedTensorType pTy = n.inputType(0), uTy = n.inputType(1);
  int64_t rank = pTy.getRank();
  if (rank < 2 || uTy.getRank() != rank)
    return n.emitError() << "past_cache " << pTy << " and update " << uTy
                         << " must have the same rank (at least 2)";
  FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, rank);
  if (failed(axis))
    return failure();
  if (*axis == 0)
    return n.emitError() << "axis must not be the batch dim";
  for (int64_t i = 0; i < rank; ++i) {
    int64_t pd = pTy.getDimSize(i), ud = uTy.getDimSize(i);
    if (ShapedType::isDynamic(pd) || ShapedType::isDynamic(ud))
      continue;
    if (i == *axis ? ud > pd : ud != pd)
      return n.emitError() << "update " << uTy << " does not fit past_cache "
                           << pTy << " at dim " << i;
  }
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value past = n.input(0), upd = n.input(1);
  assertSameSize(n, past, 0, upd, 0, "update's batch differs from the cache's");
  Value maxLen = dimValue(b, loc, past, *axis);
  Value updLen = dimValue(b, loc, upd, *axis);
  Type i64 = b.getI64Type();
  Value maxLen64 = arith::IndexCastOp::create(b, loc, i64, maxLen);
  Value updLen64 = arith::IndexCastOp::create(b, loc, i64, updLen);
  bool circular = *mode == "circular";
  Value writes;
  if (n.hasInput(2)) {
    writes = n.input(2);
    if (n.inputDType(2) != kInt64 || n.inputType(2).getRank() != 1)
      return n.emitError() << "write_indices must be a 1-D int64 tensor";
    assertSameSize(n, writes, 0, past, 0,
                   "write_indices' length differs from the batch size");
    assertNoElement(
        n, writes,
        [&](OpBuilder &nb, Location l, Value w) -> Value {
          Value zero = arith::ConstantIntOp::create(nb, l, i64, 0);
          Value bad =
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, w, zero);
          if (!circular)
            bad = arith::OrIOp::create(
                nb, l, bad,
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sgt,
                                      arith::AddIOp::create(nb, l, w, updLen64),
                                      maxLen64));
          return bad;
        },
        circular ? "write_indices holds a negative index"
                 : "write_indices + the update's length exceed the cache");
  }
  SmallVector<Value> ins = {past};
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  if (writes) {
    ins.push_back(writes);
    maps.push_back(
        AffineMap::get(rank, 0, {b.getAffineDimExpr(0)}, b.getContext()));
  }
  Value init = emptyTensorLike(b, loc, pTy, past);
  Value y = indexedGeneric(
      b, loc, ins, maps, init,
      [&](OpBuilder &nb, Location l, ValueRange a,
          ArrayRef<Value> idx) -> Value {
        Value w = writes ? a[1] : arith::ConstantIntOp::create(nb, l, i64, 0);
        Value pos = arith::IndexCastOp::create(nb, l, i64, idx[*axis]);
        // s: the update row written at `pos`.
        Value s = arith::SubIOp::create(nb, l, pos, w);
        if (circular) {
          // (pos - w) mod maxLen, non-negative.
          Value r = arith::RemSIOp::create(nb, l, s, maxLen64);
          Value neg = arith::CmpIOp::create(
              nb, l, arith::CmpIPredicate::slt, r,
              arith::ConstantIntOp::create(nb, l, i64, 0));
          s = arith::SelectOp::create(
              nb, l, neg, arith::AddIOp::create(nb, l, r, maxLen64), r);
        }
        Value zero = arith::ConstantIntOp::create(nb, l, i64, 0);
        Value hit = arith::AndIOp::create(
            nb, l,
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, s, zero),
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, s,
                                  updLen64));
        Value safe = arith::SelectOp::create(nb, l, hit, s, zero);
        SmallVector<Value> uIdx(idx);
        uIdx[*axis] =
            arith::IndexCastOp::create(nb, l, nb.getIndexType(), safe);
        Value u = tensor::ExtractOp::create(nb, l, upd, uIdx);
        return arith::SelectOp::create(nb, l, hit, u, a[0]);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// CausalConvWithState
//===----------------------------------------------------------------------===//

/// padded = concat(past_state or zeros [B, C, k-1], input) along the length;
/// out[b,c,l] = bias[c] + sum_t padded[b,c,l+t] w[c,0,t] (a depthwise valid
/// conv1d), then optionally x * sigmoid(x) in f32; present_state = the last
/// k-1 positions of padded.
LogicalResult buildCausalConvWithState(ONNXNode &n) {
  if (failed(n.checkArity(2, 4, 1, 2)))
    return failure();
  FailureOr<std::string> act = n.getString("activation", "none");
  if (failed(act) || failed(requireFloatInput(n, 0, "input")))
    return failure();
  if (*act != "none" && *act != "silu" && *act != "swish")
    return n.emitError() << "activation must be 'none', 'silu' or 'swish', "
                            "got '"
                         << *act << "'";
  for (int64_t i : {1, 2, 3})
    if (n.hasInput(i) && n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input has "
                           << dtypeName(n.inputDType(0));
  RankedTensorType xTy = n.inputType(0), wTy = n.inputType(1);
  if (xTy.getRank() != 3 || wTy.getRank() != 3)
    return n.emitError() << "input must be [batch, channels, length] and "
                            "weight [channels, 1, k], got "
                         << xTy << " and " << wTy;
  int64_t ch = xTy.getDimSize(1), k = wTy.getDimSize(2);
  if (ShapedType::isDynamic(ch) || ShapedType::isDynamic(k) || k < 1 ||
      wTy.getDimSize(0) != ch || wTy.getDimSize(1) != 1)
    return n.emitError() << "weight " << wTy
                         << " must be [channels, 1, k] (static) for input "
                         << xTy;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Type t = xTy.getElementType(), c = accumulatorType(t);
  Value x = n.input(0), w = n.input(1);
  OpFoldResult bSz = dimOFR(b, loc, x, 0), lSz = dimOFR(b, loc, x, 2);
  Value past;
  if (n.hasInput(3)) {
    past = n.input(3);
    RankedTensorType pTy = n.inputType(3);
    if (pTy.getRank() != 3 || pTy.getDimSize(1) != ch ||
        pTy.getDimSize(2) != k - 1)
      return n.emitError() << "past_state " << pTy << " must be [batch, " << ch
                           << ", " << k - 1 << "]";
    assertSameSize(n, past, 0, x, 0,
                   "past_state's batch differs from the input's");
  } else {
    Value empty = tensor::EmptyOp::create(
        b, loc,
        SmallVector<OpFoldResult>{bSz, b.getIndexAttr(ch),
                                  b.getIndexAttr(k - 1)},
        t);
    past = linalg::FillOp::create(b, loc, scalarConstant(b, loc, t, 0.0), empty)
               .getResult(0);
  }
  Value padded = tensor::ConcatOp::create(b, loc, 2, ValueRange{past, x});
  Value bias = n.hasInput(2) ? n.input(2) : Value();
  if (bias &&
      (n.inputType(2).getRank() != 1 || n.inputType(2).getDimSize(0) != ch))
    return n.emitError() << "bias must be [" << ch << "], got "
                         << n.inputType(2);

  // Loops (b, c, l, t).
  AffineExpr d0 = getAffineDimExpr(0, ctx), d1 = getAffineDimExpr(1, ctx),
             d2 = getAffineDimExpr(2, ctx), d3 = getAffineDimExpr(3, ctx);
  SmallVector<OpFoldResult> outSizes = {bSz, b.getIndexAttr(ch), lSz};
  Value acc = tensor::EmptyOp::create(b, loc, outSizes, c);
  if (bias) {
    acc = parallelGeneric(b, loc, {bias}, {AffineMap::get(3, 0, {d1}, ctx)},
                          acc, [&](OpBuilder &nb, Location l, ValueRange a) {
                            return castF(nb, l, a[0], c);
                          });
  } else {
    acc = linalg::FillOp::create(b, loc, scalarConstant(b, loc, c, 0.0), acc)
              .getResult(0);
  }
  auto conv = linalg::GenericOp::create(
      b, loc, acc.getType(), ValueRange{padded, w}, ValueRange{acc},
      ArrayRef<AffineMap>{
          AffineMap::get(4, 0, {d0, d1, d2 + d3}, ctx),
          AffineMap::get(4, 0, {d1, getAffineConstantExpr(0, ctx), d3}, ctx),
          AffineMap::get(4, 0, {d0, d1, d2}, ctx)},
      ArrayRef<utils::IteratorType>{
          utils::IteratorType::parallel, utils::IteratorType::parallel,
          utils::IteratorType::parallel, utils::IteratorType::reduction},
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value p = arith::MulFOp::create(nb, l, castF(nb, l, a[0], c),
                                        castF(nb, l, a[1], c));
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, a[2], p).getResult());
      });
  bool silu = *act != "none";
  Type f32 = b.getF32Type();
  Value y = parallelGeneric(
      b, loc, {conv.getResult(0)}, {b.getMultiDimIdentityMap(3)},
      tensor::EmptyOp::create(b, loc, outSizes, t),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value v = castF(nb, l, a[0], t);
        if (!silu)
          return v;
        // x * sigmoid(x) in f32 on the conv output rounded to T.
        Value xf = castF(nb, l, v, f32);
        Value one = scalarConstant(nb, l, f32, 1.0);
        Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, xf));
        Value sig = arith::DivFOp::create(nb, l, one,
                                          arith::AddFOp::create(nb, l, one, e));
        return castF(nb, l, arith::MulFOp::create(nb, l, xf, sig), t);
      });
  n.setOutput(0, y, n.inputDType(0));
  if (n.hasOutput(1)) {
    // padded[:, :, L : L + k - 1]; for k = 1 an empty tensor
    // (tensor.extract_slice refuses the offset L of a size-0 slice).
    SmallVector<OpFoldResult> presentSizes = {bSz, b.getIndexAttr(ch),
                                              b.getIndexAttr(k - 1)};
    Value present =
        k == 1 ? tensor::EmptyOp::create(b, loc, presentSizes, t).getResult()
               : tensor::ExtractSliceOp::create(
                     b, loc, padded,
                     SmallVector<OpFoldResult>{b.getIndexAttr(0),
                                               b.getIndexAttr(0), lSz},
                     presentSizes,
                     SmallVector<OpFoldResult>(3, b.getIndexAttr(1)));
    n.setOutput(1, present, n.inputDType(0));
  }
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerLLMOps(OpRegistry &r) {
  r.add("", "RotaryEmbedding", 23, buildRotaryEmbedding);
  r.add("", "SwiGLU", 28, buildSwiGLU);
  r.add("", "TensorScatter", 24, buildTensorScatter);
  r.add("", "CausalConvWithState", 27, buildCausalConvWithState);
}
