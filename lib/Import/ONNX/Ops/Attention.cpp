//===- Attention.cpp - the ONNX Attention operator ------------------------===//
//
// Attention (opset 23, 24: nonpad_kv_seqlen, 25: left/right_window_size) is
// lowered to linalg in the shape of the spec's pattern, each step one op
// over [batch, q_heads, q_seq, ...] so that a fused attention kernel can
// match the chain later:
//
//   Qs = Q * sqrt(scale)              Ks = K * sqrt(scale)      (element-wise)
//   S[b,h,i,j]  = sum_d Qs[b,h,i,d] * Ks[b,h/r,j,d]             (QK^T, r = GQA)
//   S           = softcap * tanh(S / softcap)                   (softcap > 0)
//   L, keep     = S + bias(mask, causal, window, nonpad), bias != -inf
//   P           = masked softmax_j(L) (0 on a row that keeps no key)
//   Y[b,h,i,e]  = sum_j P[b,h,i,j] * V[b,h/r,j,e]               (PV)
//
// 3-D inputs [B, S, H*D] are split into heads (expand_shape + transpose) and
// Y is merged back; past_key/past_value are concatenated in front of K/V
// (the present outputs). GQA reads the shared K/V head through the indexing
// map (h floordiv r): K and V are never repeated.
//
// Precision follows the reference implementation: every tensor it keeps in
// the input type T (S, the softcapped S, L, P, Y) is rounded to T; f16 and
// bf16 accumulate the matmuls and compute element-wise steps in f32. The
// softmax runs in softmax_precision (default T), f16/bf16 computed in f32.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

using utils::IteratorType;

/// `v` (a float scalar) converted to float type `to`.
Value castF(OpBuilder &b, Location l, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, l, to, v);
  return arith::TruncFOp::create(b, l, to, v);
}

/// `v` (of compute type C) rounded to `t` and back: what storing it in a
/// tensor of type `t` does.
Value roundVia(OpBuilder &b, Location l, Value v, Type t) {
  if (v.getType() == t)
    return v;
  return castF(b, l, castF(b, l, v, t), v.getType());
}

/// tensor.empty of `sizes` and `elemTy`.
Value emptyOf(OpBuilder &b, Location l, ArrayRef<OpFoldResult> sizes,
              Type elemTy) {
  return tensor::EmptyOp::create(b, l, sizes, elemTy);
}

/// The sizes of `v`'s dims (attributes when static).
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location l, Value v) {
  SmallVector<OpFoldResult> out;
  for (int64_t d = 0; d < cast<RankedTensorType>(v.getType()).getRank(); ++d)
    out.push_back(dimOFR(b, l, v, d));
  return out;
}

/// linalg.transpose of `v` by `perm`.
Value transposeBy(OpBuilder &b, Location l, Value v, ArrayRef<int64_t> perm) {
  SmallVector<OpFoldResult> in = sizesOf(b, l, v), out;
  for (int64_t p : perm)
    out.push_back(in[p]);
  Value init =
      emptyOf(b, l, out, cast<RankedTensorType>(v.getType()).getElementType());
  return linalg::TransposeOp::create(b, l, v, init, perm).getResult()[0];
}

/// [B, S, H*D] -> [B, H, S, D].
Value splitHeads(OpBuilder &b, Location l, Value x, int64_t heads) {
  auto ty = cast<RankedTensorType>(x.getType());
  int64_t d = ty.getDimSize(2) / heads;
  auto outTy = RankedTensorType::get(
      {ty.getDimSize(0), ty.getDimSize(1), heads, d}, ty.getElementType());
  SmallVector<OpFoldResult> sizes = {dimOFR(b, l, x, 0), dimOFR(b, l, x, 1),
                                     b.getIndexAttr(heads), b.getIndexAttr(d)};
  Value e = tensor::ExpandShapeOp::create(
      b, l, outTy, x, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
      sizes);
  return transposeBy(b, l, e, {0, 2, 1, 3});
}

/// [B, H, S, D] -> [B, S, H*D].
Value mergeHeads(OpBuilder &b, Location l, Value y) {
  Value t = transposeBy(b, l, y, {0, 2, 1, 3});
  return tensor::CollapseShapeOp::create(
      b, l, t, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
}

/// A linalg.generic writing `outs` (maps `outMaps`) from `ins`.
SmallVector<Value> generic(
    OpBuilder &b, Location l, ValueRange ins, ArrayRef<AffineMap> inMaps,
    ValueRange outs, ArrayRef<AffineMap> outMaps, ArrayRef<IteratorType> iters,
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<AffineMap> maps(inMaps);
  maps.append(outMaps.begin(), outMaps.end());
  SmallVector<Type> types;
  for (Value o : outs)
    types.push_back(o.getType());
  auto g = linalg::GenericOp::create(
      b, l, types, ins, outs, maps, iters,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        linalg::YieldOp::create(nb, nl, body(nb, nl, args));
      });
  return SmallVector<Value>(g.getResults());
}

/// The MLIR float type of ONNX float dtype `dtype`, or null.
Type floatTypeOf(MLIRContext *ctx, int64_t dtype) {
  switch (dtype) {
  case kFloat:
    return Float32Type::get(ctx);
  case kFloat16:
    return Float16Type::get(ctx);
  case kBFloat16:
    return BFloat16Type::get(ctx);
  case kDouble:
    return Float64Type::get(ctx);
  default:
    return nullptr;
  }
}

LogicalResult buildAttention(ONNXNode &n, int64_t since) {
  if (failed(n.checkArity(3, since >= 24 ? 7 : 6, 1, 4)))
    return failure();
  FailureOr<int64_t> isCausal = n.getInt("is_causal", 0);
  FailureOr<int64_t> qHeadsAttr = n.getInt("q_num_heads", 0);
  FailureOr<int64_t> kvHeadsAttr = n.getInt("kv_num_heads", 0);
  FailureOr<int64_t> mode = n.getInt("qk_matmul_output_mode", 0);
  FailureOr<double> scaleAttr = n.getFloat("scale", 0.0);
  FailureOr<double> softcap = n.getFloat("softcap", 0.0);
  FailureOr<int64_t> softmaxPrecision = n.getInt("softmax_precision", 0);
  FailureOr<int64_t> leftWindow = since >= 25 ? n.getInt("left_window_size", -1)
                                              : FailureOr<int64_t>(int64_t(-1));
  FailureOr<int64_t> rightWindow = since >= 25
                                       ? n.getInt("right_window_size", -1)
                                       : FailureOr<int64_t>(int64_t(-1));
  if (failed(isCausal) || failed(qHeadsAttr) || failed(kvHeadsAttr) ||
      failed(mode) || failed(scaleAttr) || failed(softcap) ||
      failed(softmaxPrecision) || failed(leftWindow) || failed(rightWindow))
    return failure();

  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();

  // --- types ---------------------------------------------------------------
  int32_t dtype = n.inputDType(0);
  Type t = floatTypeOf(ctx, dtype);
  if (!t)
    return n.emitError() << "Q has dtype " << dtypeName(dtype)
                         << "; float, float16, bfloat16 or double needed";
  for (int64_t i : {1, 2, 4, 5})
    if (n.hasInput(i) && n.inputDType(i) != dtype)
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", Q has "
                           << dtypeName(dtype);
  bool hasMask = n.hasInput(3);
  bool boolMask = hasMask && n.inputDType(3) == kBool;
  if (hasMask && !boolMask && n.inputDType(3) != dtype)
    return n.emitError() << "attn_mask has dtype " << dtypeName(n.inputDType(3))
                         << "; bool or Q's dtype (" << dtypeName(dtype)
                         << ") needed";
  bool hasNonpad = n.numInputs() > 6 && n.hasInput(6);
  if (hasNonpad && n.inputDType(6) != kInt64)
    return n.emitError() << "nonpad_kv_seqlen has dtype "
                         << dtypeName(n.inputDType(6)) << "; int64 needed";
  bool hasPast = n.hasInput(4) || n.hasInput(5);
  if (n.hasInput(4) != n.hasInput(5))
    return n.emitError() << "past_key and past_value must be given together";
  if (hasPast && hasNonpad)
    return n.emitError() << "nonpad_kv_seqlen cannot be combined with "
                            "past_key/past_value";
  if (*mode < 0 || *mode > 3)
    return n.emitError() << "qk_matmul_output_mode must be 0, 1, 2 or 3, got "
                         << *mode;
  if (*isCausal != 0 && *isCausal != 1)
    return n.emitError() << "is_causal must be 0 or 1, got " << *isCausal;
  if (*softcap < 0)
    return n.emitError() << "softcap must be >= 0, got " << *softcap;
  if (*leftWindow < -1 || *rightWindow < -1)
    return n.emitError() << "left_window_size and right_window_size must be "
                            "-1 or >= 0, got "
                         << *leftWindow << " and " << *rightWindow;
  Type p = t; // the softmax's type
  if (*softmaxPrecision != 0) {
    p = floatTypeOf(ctx, *softmaxPrecision);
    if (!p)
      return n.emitError() << "softmax_precision " << *softmaxPrecision << " ("
                           << dtypeName(*softmaxPrecision)
                           << ") is not a float type";
  }
  Type c = accumulatorType(t);  // compute type of T's steps
  Type pc = accumulatorType(p); // compute type of the softmax

  // --- shapes --------------------------------------------------------------
  RankedTensorType qTy = n.inputType(0), kTy = n.inputType(1),
                   vTy = n.inputType(2);
  int64_t rank = qTy.getRank();
  if ((rank != 3 && rank != 4) || kTy.getRank() != rank ||
      vTy.getRank() != rank)
    return n.emitError() << "Q, K and V must all be 3-D or all 4-D, got ranks "
                         << qTy.getRank() << ", " << kTy.getRank() << ", "
                         << vTy.getRank();
  Value q = n.input(0), k = n.input(1), v = n.input(2);
  int64_t qHeads, kvHeads;
  if (rank == 3) {
    if (*qHeadsAttr <= 0 || *kvHeadsAttr <= 0)
      return n.emitError() << "3-D inputs need q_num_heads and kv_num_heads "
                              "(> 0), got "
                           << *qHeadsAttr << " and " << *kvHeadsAttr;
    qHeads = *qHeadsAttr;
    kvHeads = *kvHeadsAttr;
    auto checkHidden = [&](RankedTensorType ty, int64_t heads,
                           StringRef what) -> LogicalResult {
      int64_t h = ty.getDimSize(2);
      if (ShapedType::isDynamic(h))
        return n.emitError() << what << "'s hidden size must be static";
      if (h % heads)
        return n.emitError()
               << what << "'s hidden size " << h << " is not a multiple of its "
               << heads << " heads";
      return success();
    };
    if (failed(checkHidden(qTy, qHeads, "Q")) ||
        failed(checkHidden(kTy, kvHeads, "K")) ||
        failed(checkHidden(vTy, kvHeads, "V")))
      return failure();
    q = splitHeads(b, loc, q, qHeads);
    k = splitHeads(b, loc, k, kvHeads);
    v = splitHeads(b, loc, v, kvHeads);
  } else {
    qHeads = qTy.getDimSize(1);
    kvHeads = kTy.getDimSize(1);
    if (ShapedType::isDynamic(qHeads) || ShapedType::isDynamic(kvHeads))
      return n.emitError() << "the head dims (dim 1) of Q and K must be static";
    if ((*qHeadsAttr && *qHeadsAttr != qHeads) ||
        (*kvHeadsAttr && *kvHeadsAttr != kvHeads))
      return n.emitError() << "q_num_heads/kv_num_heads (" << *qHeadsAttr
                           << ", " << *kvHeadsAttr
                           << ") disagree with the 4-D inputs' heads ("
                           << qHeads << ", " << kvHeads << ")";
    if (since >= 25 && (*qHeadsAttr || *kvHeadsAttr))
      return n.emitError()
             << "q_num_heads and kv_num_heads must not be given for 4-D inputs";
  }
  auto q4 = cast<RankedTensorType>(q.getType());
  auto k4 = cast<RankedTensorType>(k.getType());
  auto v4 = cast<RankedTensorType>(v.getType());
  if (v4.getDimSize(1) != kvHeads)
    return n.emitError() << "K has " << kvHeads << " heads, V "
                         << v4.getDimSize(1);
  if (qHeads % kvHeads)
    return n.emitError() << "q_num_heads " << qHeads
                         << " is not a multiple of kv_num_heads " << kvHeads;
  int64_t reps = qHeads / kvHeads;
  int64_t headSize = q4.getDimSize(3);
  if (ShapedType::isDynamic(headSize))
    return n.emitError() << "the head size of Q must be static";
  if (k4.getDimSize(3) != headSize)
    return n.emitError() << "Q's head size " << headSize << " differs from K's "
                         << k4.getDimSize(3);
  auto sameStatic = [&](int64_t a, int64_t bb) {
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(bb) || a == bb;
  };
  if (!sameStatic(q4.getDimSize(0), k4.getDimSize(0)) ||
      !sameStatic(q4.getDimSize(0), v4.getDimSize(0)))
    return n.emitError() << "Q, K and V have different batch sizes";
  if (!sameStatic(k4.getDimSize(2), v4.getDimSize(2)))
    return n.emitError() << "K and V have different sequence lengths ("
                         << k4.getDimSize(2) << ", " << v4.getDimSize(2) << ")";
  assertSameSize(n, q, 0, k, 0, "Q and K have different batch sizes");
  assertSameSize(n, q, 0, v, 0, "Q and V have different batch sizes");
  assertSameSize(n, k, 2, v, 2, "K and V have different sequence lengths");

  // --- KV cache ------------------------------------------------------------
  Value pastLen; // index; null without a cache
  if (hasPast) {
    Value pk = n.input(4), pv = n.input(5);
    auto pkTy = cast<RankedTensorType>(pk.getType());
    auto pvTy = cast<RankedTensorType>(pv.getType());
    if (pkTy.getRank() != 4 || pvTy.getRank() != 4)
      return n.emitError() << "past_key and past_value must be 4-D";
    if (pkTy.getDimSize(1) != kvHeads || pvTy.getDimSize(1) != kvHeads ||
        pkTy.getDimSize(3) != headSize ||
        !sameStatic(pvTy.getDimSize(3), v4.getDimSize(3)) ||
        !sameStatic(pkTy.getDimSize(2), pvTy.getDimSize(2)) ||
        !sameStatic(pkTy.getDimSize(0), k4.getDimSize(0)) ||
        !sameStatic(pvTy.getDimSize(0), k4.getDimSize(0)))
      return n.emitError() << "past_key " << pkTy << " and past_value " << pvTy
                           << " do not fit K " << k4 << " and V " << v4;
    pastLen = dimValue(b, loc, pk, 2);
    k = tensor::ConcatOp::create(b, loc, 2, ValueRange{pk, k});
    v = tensor::ConcatOp::create(b, loc, 2, ValueRange{pv, v});
  }
  Value presentK = k, presentV = v;

  // Loop sizes: [B, Hq, Sq, T] (T = past + kv sequence), D, Dv.
  OpFoldResult bSz = dimOFR(b, loc, q, 0), sqSz = dimOFR(b, loc, q, 2),
               tSz = dimOFR(b, loc, k, 2), dvSz = dimOFR(b, loc, v, 3);
  OpFoldResult hSz = b.getIndexAttr(qHeads);
  SmallVector<OpFoldResult> scoreSizes = {bSz, hSz, sqSz, tSz};
  SmallVector<OpFoldResult> rowSizes = {bSz, hSz, sqSz};
  SmallVector<OpFoldResult> ySizes = {bSz, hSz, sqSz, dvSz};

  // --- mask ----------------------------------------------------------------
  Value mask;
  AffineMap maskMap;
  AffineExpr db = getAffineDimExpr(0, ctx), dh = getAffineDimExpr(1, ctx),
             di = getAffineDimExpr(2, ctx), dj = getAffineDimExpr(3, ctx);
  if (hasMask) {
    mask = n.input(3);
    auto mTy = cast<RankedTensorType>(mask.getType());
    int64_t mr = mTy.getRank();
    if (mr < 1 || mr > 4)
      return n.emitError() << "attn_mask must have rank 1 to 4, got " << mr;
    // Right-aligned broadcast against [B, Hq, Sq, T].
    std::optional<int64_t> staticSizes[4] = {getConstantIntValue(bSz), qHeads,
                                             getConstantIntValue(sqSz),
                                             getConstantIntValue(tSz)};
    SmallVector<AffineExpr> exprs;
    for (int64_t a = 0; a < mr; ++a) {
      int64_t loopDim = 4 - mr + a;
      int64_t ms = mTy.getDimSize(a);
      std::optional<int64_t> want = staticSizes[loopDim];
      if (loopDim == 3) {
        if (!ShapedType::isDynamic(ms) && want && ms > *want)
          return n.emitError()
                 << "attn_mask's last dim " << ms
                 << " is longer than the total sequence length " << *want;
        exprs.push_back(dj);
        continue;
      }
      if (ms == 1 && want != 1) {
        exprs.push_back(getAffineConstantExpr(0, ctx));
        continue;
      }
      if (!ShapedType::isDynamic(ms) && want && ms != *want)
        return n.emitError() << "attn_mask " << mTy
                             << " does not broadcast to [batch, q_heads, "
                                "q_seq, total_seq] at its dim "
                             << a;
      exprs.push_back(getAffineDimExpr(loopDim, ctx));
    }
    maskMap = AffineMap::get(4, 0, exprs, ctx);
    // A shorter last dim is padded with -inf (false) up to T.
    int64_t ml = mTy.getDimSize(mr - 1);
    std::optional<int64_t> tStatic = getConstantIntValue(tSz);
    if (ShapedType::isDynamic(ml) || !tStatic || ml < *tStatic) {
      Type me = mTy.getElementType();
      Value padV =
          boolMask ? arith::ConstantIntOp::create(b, loc, me, 0).getResult()
                   : scalarConstant(b, loc, me,
                                    -std::numeric_limits<double>::infinity());
      SmallVector<OpFoldResult> lo(mr, b.getIndexAttr(0)),
          hi(mr, b.getIndexAttr(0));
      Value tIdx = getValueOrCreateConstantIndexOp(b, loc, tSz);
      hi[mr - 1] =
          arith::SubIOp::create(b, loc, tIdx, dimValue(b, loc, mask, mr - 1))
              .getResult();
      SmallVector<int64_t> padded(mTy.getShape());
      padded[mr - 1] = tStatic ? *tStatic : ShapedType::kDynamic;
      mask =
          tensor::PadOp::create(b, loc, mTy.clone(padded), mask, lo, hi, padV);
    }
  }
  Value nonpad;
  if (hasNonpad) {
    nonpad = n.input(6);
    auto npTy = cast<RankedTensorType>(nonpad.getType());
    if (npTy.getRank() != 1 ||
        !sameStatic(npTy.getDimSize(0), q4.getDimSize(0)))
      return n.emitError() << "nonpad_kv_seqlen must be [batch], got " << npTy;
    assertSameSize(n, nonpad, 0, q, 0,
                   "nonpad_kv_seqlen's length differs from the batch size");
  }

  // --- Q * sqrt(scale), K * sqrt(scale) -------------------------------------
  double scale = *scaleAttr != 0.0 ? *scaleAttr : 1.0 / std::sqrt(headSize);
  Value sqrtScale = scalarConstant(b, loc, t, std::sqrt(scale));
  auto scaled = [&](Value x) {
    Value init = emptyOf(b, loc, sizesOf(b, loc, x), t);
    return parallelGeneric(
        b, loc, {x}, {b.getMultiDimIdentityMap(4)}, init,
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value prod = arith::MulFOp::create(nb, l, castF(nb, l, a[0], c),
                                             castF(nb, l, sqrtScale, c));
          return castF(nb, l, prod, t);
        });
  };
  Value qs = scaled(q), ks = scaled(k);

  // --- S = Qs Ks^T (loops b, h, i, j, d) -----------------------------------
  auto kvHead = [&](AffineExpr h) { return reps == 1 ? h : h.floorDiv(reps); };
  auto matmul = [&](Value lhs, AffineMap lhsMap, Value rhs, AffineMap rhsMap,
                    ArrayRef<OpFoldResult> sizes) -> Value {
    Value init = linalg::FillOp::create(b, loc, scalarConstant(b, loc, c, 0),
                                        emptyOf(b, loc, sizes, c))
                     .getResult(0);
    SmallVector<IteratorType> iters(4, IteratorType::parallel);
    iters.push_back(IteratorType::reduction);
    Value acc = generic(
        b, loc, {lhs, rhs}, {lhsMap, rhsMap}, {init},
        {AffineMap::get(5, 0, {db, dh, di, dj}, ctx)}, iters,
        [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
          Value prod = arith::MulFOp::create(nb, l, castF(nb, l, a[0], c),
                                             castF(nb, l, a[1], c));
          return {arith::AddFOp::create(nb, l, a[2], prod)};
        })[0];
    if (c == t)
      return acc;
    return parallelGeneric(b, loc, {acc}, {b.getMultiDimIdentityMap(4)},
                           emptyOf(b, loc, sizes, t),
                           [&](OpBuilder &nb, Location l, ValueRange a) {
                             return castF(nb, l, a[0], t);
                           });
  };
  AffineExpr dd = getAffineDimExpr(4, ctx);
  Value s =
      matmul(qs, AffineMap::get(5, 0, {db, dh, di, dd}, ctx), ks,
             AffineMap::get(5, 0, {db, kvHead(dh), dj, dd}, ctx), scoreSizes);
  AffineMap id4 = b.getMultiDimIdentityMap(4);
  Value qkOut = s; // mode 0

  // --- softcap -------------------------------------------------------------
  if (*softcap > 0) {
    Value cap = scalarConstant(b, loc, t, *softcap);
    s = parallelGeneric(
        b, loc, {s}, {id4}, emptyOf(b, loc, scoreSizes, t),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value capC = castF(nb, l, cap, c);
          Value x = roundVia(
              nb, l, arith::DivFOp::create(nb, l, castF(nb, l, a[0], c), capC),
              t);
          x = roundVia(nb, l, math::TanhOp::create(nb, l, x), t);
          return castF(nb, l, arith::MulFOp::create(nb, l, x, capC), t);
        });
    if (*mode == 1)
      qkOut = s;
  }

  // --- L = S + bias, keep = bias != -inf (loops b, h, i, j) ----------------
  SmallVector<Value> ins = {s};
  SmallVector<AffineMap> inMaps = {id4};
  if (mask) {
    ins.push_back(mask);
    inMaps.push_back(maskMap);
  }
  if (nonpad) {
    ins.push_back(nonpad);
    inMaps.push_back(AffineMap::get(4, 0, {db}, ctx));
  }
  bool windowed = *leftWindow >= 0 || *rightWindow >= 0;
  Value sqIdx = getValueOrCreateConstantIndexOp(b, loc, sqSz);
  auto lk = generic(
      b, loc, ins, inMaps,
      {emptyOf(b, loc, scoreSizes, t),
       emptyOf(b, loc, scoreSizes, b.getI1Type())},
      {id4, id4}, SmallVector<IteratorType>(4, IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
        Type i64 = nb.getI64Type();
        Value keep = arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1);
        Value bias = scalarConstant(nb, l, c, 0.0);
        int64_t next = 1;
        if (mask) {
          Value m = a[next++];
          if (boolMask)
            keep = m;
          else
            bias = castF(nb, l, m, c);
        }
        Value np = nonpad ? a[next++] : Value();
        auto idx = [&](int64_t d) {
          return arith::IndexCastOp::create(nb, l, i64,
                                            linalg::IndexOp::create(nb, l, d));
        };
        if (*isCausal || windowed) {
          // offset: past length, nonpad_kv_seqlen[b] - Sq, or 0.
          Value offset;
          if (pastLen)
            offset = arith::IndexCastOp::create(nb, l, i64, pastLen);
          else if (np)
            offset = arith::SubIOp::create(
                nb, l, np, arith::IndexCastOp::create(nb, l, i64, sqIdx));
          else
            offset = arith::ConstantIntOp::create(nb, l, i64, 0);
          // diff = i + offset - j: how far key j lies behind query i.
          Value diff = arith::SubIOp::create(
              nb, l, arith::AddIOp::create(nb, l, idx(2), offset), idx(3));
          Value zero = arith::ConstantIntOp::create(nb, l, i64, 0);
          auto keepIf = [&](Value ok) {
            keep = arith::AndIOp::create(nb, l, keep, ok);
          };
          if (*isCausal)
            keepIf(arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, diff,
                                         zero));
          if (*leftWindow >= 0)
            keepIf(arith::CmpIOp::create(
                nb, l, arith::CmpIPredicate::sle, diff,
                arith::ConstantIntOp::create(nb, l, i64, *leftWindow)));
          if (*rightWindow >= 0)
            keepIf(arith::CmpIOp::create(
                nb, l, arith::CmpIPredicate::sle,
                arith::SubIOp::create(nb, l, zero, diff),
                arith::ConstantIntOp::create(nb, l, i64, *rightWindow)));
        }
        if (np)
          keep = arith::AndIOp::create(
              nb, l, keep,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, idx(3),
                                    np));
        Value ninf =
            scalarConstant(nb, l, c, -std::numeric_limits<double>::infinity());
        bias = arith::SelectOp::create(nb, l, keep, bias, ninf);
        Value kept =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UNE, bias, ninf);
        Value sum = arith::AddFOp::create(nb, l, castF(nb, l, a[0], c), bias);
        return {castF(nb, l, sum, t), kept};
      });
  Value logits = lk[0], keep = lk[1];
  if (*mode == 2)
    qkOut = logits;

  // --- masked softmax over j (in type p, computed in pc) -------------------
  SmallVector<bool> overJ = {false, false, false, true};
  AffineMap row = keptDimsMap(overJ, ctx);
  auto asP = [&](OpBuilder &nb, Location l, Value x) {
    return roundVia(nb, l, castF(nb, l, x, pc), p);
  };
  Value ninfP =
      scalarConstant(b, loc, pc, -std::numeric_limits<double>::infinity());
  Value rowMax = reduceLoops(
      b, loc, logits, overJ, {logits}, {id4}, pc, ninfP,
      [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
        return arith::MaximumFOp::create(nb, l, asP(nb, l, a[0]), acc);
      });
  Value rowKeeps =
      reduceLoops(b, loc, logits, overJ, {keep}, {id4}, b.getI1Type(),
                  arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0),
                  [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
                    return arith::OrIOp::create(nb, l, a[0], acc);
                  });
  // exp(L - max), the max taken as 0 on a row of -inf (no NaN from
  // -inf - -inf), rounded to p.
  auto expShifted = [&](OpBuilder &nb, Location l, Value x, Value m) {
    Value isNinf =
        arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, m, ninfP);
    Value safe = arith::SelectOp::create(nb, l, isNinf,
                                         scalarConstant(nb, l, pc, 0.0), m);
    Value d =
        roundVia(nb, l, arith::SubFOp::create(nb, l, asP(nb, l, x), safe), p);
    return roundVia(nb, l, math::ExpOp::create(nb, l, d), p);
  };
  Value rowSum = reduceLoops(
      b, loc, logits, overJ, {logits, rowMax}, {id4, row}, pc,
      scalarConstant(b, loc, pc, 0.0),
      [&](OpBuilder &nb, Location l, ValueRange a, Value acc) {
        return arith::AddFOp::create(nb, l, acc, expShifted(nb, l, a[0], a[1]));
      });
  Value probs = parallelGeneric(
      b, loc, {logits, rowMax, rowSum, rowKeeps}, {id4, row, row, row},
      emptyOf(b, loc, scoreSizes, t),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value zero = scalarConstant(nb, l, pc, 0.0);
        Value sum = arith::SelectOp::create(
            nb, l,
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[2], zero),
            scalarConstant(nb, l, pc, 1.0), roundVia(nb, l, a[2], p));
        Value pr = roundVia(
            nb, l,
            arith::DivFOp::create(nb, l, expShifted(nb, l, a[0], a[1]), sum),
            p);
        // A row that keeps no key is a zero row (select, not multiply: the
        // row may hold NaN).
        pr = arith::SelectOp::create(nb, l, a[3], pr, zero);
        return castF(nb, l, castF(nb, l, pr, p), t);
      });
  if (*mode == 3)
    qkOut = probs;

  // --- Y = P V (loops b, h, i, e, j) ---------------------------------------
  AffineExpr de = getAffineDimExpr(3, ctx), dj5 = getAffineDimExpr(4, ctx);
  Value y =
      matmul(probs, AffineMap::get(5, 0, {db, dh, di, dj5}, ctx), v,
             AffineMap::get(5, 0, {db, kvHead(dh), dj5, de}, ctx), ySizes);
  if (rank == 3)
    y = mergeHeads(b, loc, y);

  n.setOutput(0, y, dtype);
  if (n.hasOutput(1))
    n.setOutput(1, presentK, dtype);
  if (n.hasOutput(2))
    n.setOutput(2, presentV, dtype);
  if (n.hasOutput(3))
    n.setOutput(3, qkOut, dtype);
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerAttentionOps(OpRegistry &r) {
  for (int64_t since : {23, 24, 25})
    r.add("", "Attention", since,
          [since](ONNXNode &n) { return buildAttention(n, since); });
}
