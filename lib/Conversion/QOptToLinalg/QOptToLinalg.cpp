//===- QOptToLinalg.cpp - lower qopt ops to linalg on tensors -------------===//
//
// Graph-level lowering: every qopt op becomes upstream linalg/arith/math on
// tensors, so the rest of the CPU and GPU pipelines see only upstream IR.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/QOptToLinalg/QOptToLinalg.h"
#include "LinalgHelpers.h"
#include "qopt/Conversion/Passes.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Support/NF4.h"
#include "qopt/Support/Sparse24.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/DialectConversion.h"

#include "../../Dialect/QOpt/Transforms/WeightValues.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTTOLINALGPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::linalg_helpers;

namespace {

/// Scale and zero point of a per-tensor (no axis) or per-axis quantization,
/// with the clamping range.
struct AffineParams {
  SmallVector<double> scales;
  SmallVector<int64_t> zeroPoints;
  std::optional<int64_t> axis;
  int64_t qmin = 0, qmax = 0;
  /// Sub-channel (block-wise): scale and zero point tensors read at
  /// [i0 / B0, i1 / B1, ...]; `blocks` has one size per dimension.
  DenseElementsAttr blockScales, blockZeroPoints;
  SmallVector<int64_t> blocks;
  bool isSigned = true;
};

AffineParams paramsOf(quant::QuantizedType qTy) {
  AffineParams p;
  p.qmin = qTy.getStorageTypeMin();
  p.qmax = qTy.getStorageTypeMax();
  p.isSigned = qTy.isSigned();
  if (auto t = dyn_cast<quant::UniformQuantizedType>(qTy)) {
    p.scales.push_back(t.getScale());
    p.zeroPoints.push_back(t.getZeroPoint());
  } else if (auto s = dyn_cast<quant::UniformQuantizedSubChannelType>(qTy)) {
    p.blockScales = s.getScales();
    p.blockZeroPoints = s.getZeroPoints();
    // Dimensions with no block size have one block: their size, filled in
    // from the tensor where the lowering needs it (0 here).
    p.blocks.assign(p.blockScales.getType().getRank(), 0);
    for (auto [d, size] :
         llvm::zip(s.getQuantizedDimensions(), s.getBlockSizes()))
      p.blocks[d] = size;
  } else {
    auto a = cast<quant::UniformQuantizedPerAxisType>(qTy);
    p.scales.assign(a.getScales().begin(), a.getScales().end());
    p.zeroPoints.assign(a.getZeroPoints().begin(), a.getZeroPoints().end());
    p.axis = a.getQuantizedDimension();
  }
  return p;
}

AffineParams paramsOf(FakeQuantOp op) {
  AffineParams p;
  p.scales.assign(op.getScale().begin(), op.getScale().end());
  p.zeroPoints.assign(op.getZeroPoint().begin(), op.getZeroPoint().end());
  p.axis = op.getAxis();
  p.qmin = op.getQuantMin();
  p.qmax = op.getQuantMax();
  return p;
}

/// `v` as a float constant of `type`, rounded toward zero so that a clamp
/// bound never lies outside the integer range it stands for.
Value floatConst(OpBuilder &b, Location loc, FloatType type, double v) {
  APFloat f(v);
  bool lost;
  f.convert(type.getFloatSemantics(), APFloat::rmTowardZero, &lost);
  return arith::ConstantOp::create(b, loc, type, FloatAttr::get(type, f));
}

/// The type (de)quantization arithmetic runs in: f32 for narrower floats, as
/// ONNX's reference and onnxruntime compute f16/bf16 QuantizeLinear (bf16 has
/// 8 significant bits: x / scale = 126.6 would round to 126.5 and then 126).
FloatType computeTypeFor(FloatType t) {
  return t.getWidth() < 32 ? Float32Type::get(t.getContext()) : t;
}

/// `v` converted to the float type `to` (extf / truncf / unchanged).
Value castFloat(OpBuilder &b, Location loc, Value v, FloatType to) {
  auto from = cast<FloatType>(v.getType());
  if (from == to)
    return v;
  if (from.getWidth() < to.getWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

/// tensor.empty of `type`, taking each dynamic size from `dimSources`
/// (value, dim index) in order.
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                  ArrayRef<std::pair<Value, int64_t>> dimSources) {
  SmallVector<Value> dyn;
  for (auto [i, d] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(d))
      dyn.push_back(tensor::DimOp::create(b, loc, dimSources[i].first,
                                          dimSources[i].second));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dyn);
}

Value emptyLike(OpBuilder &b, Location loc, Value like, Type elemTy) {
  auto ty = cast<RankedTensorType>(like.getType());
  SmallVector<std::pair<Value, int64_t>> src;
  for (int64_t i = 0; i < ty.getRank(); ++i)
    src.push_back({like, i});
  return emptyTensor(b, loc, ty.clone(elemTy), src);
}

/// Element-wise affine (de)quantization: builds a linalg.generic over
/// `input` producing `resultElemTy`, where `body(b, loc, x, scale, zp)`
/// computes one element from scale and zero point given as `floatTy` values
/// (the compute type).
/// Per-axis parameters are constant vectors read at the axis index.
Value buildAffineElementwise(
    OpBuilder &b, Location loc, Value input, Type resultElemTy,
    FloatType floatTy, const AffineParams &p,
    function_ref<Value(OpBuilder &, Location, Value, Value, Value)> body) {
  auto inTy = cast<RankedTensorType>(input.getType());
  int64_t rank = inTy.getRank();
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);

  SmallVector<Value> inputs{input};
  SmallVector<AffineMap> maps{id};
  Value scaleScalar, zpScalar;
  bool tensorParams = p.axis || p.blockScales;
  if (p.blockScales) {
    // Block-wise: [i0 / B0, ...] into the scale and zero point tensors.
    auto sTy =
        RankedTensorType::get(p.blockScales.getType().getShape(), floatTy);
    SmallVector<APFloat> s, z;
    for (APFloat v : p.blockScales.getValues<APFloat>()) {
      bool lost;
      v.convert(floatTy.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &lost);
      s.push_back(v);
    }
    for (const APInt &v : p.blockZeroPoints.getValues<APInt>()) {
      APFloat f(floatTy.getFloatSemantics());
      f.convertFromAPInt(v, p.isSigned, APFloat::rmNearestTiesToEven);
      z.push_back(f);
    }
    inputs.push_back(
        arith::ConstantOp::create(b, loc, sTy, DenseElementsAttr::get(sTy, s)));
    inputs.push_back(
        arith::ConstantOp::create(b, loc, sTy, DenseElementsAttr::get(sTy, z)));
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t block = p.blocks[d];
      if (sTy.getDimSize(d) == 1)
        exprs.push_back(getAffineConstantExpr(0, ctx));
      else if (block == 1)
        exprs.push_back(getAffineDimExpr(d, ctx));
      else
        exprs.push_back(getAffineDimExpr(d, ctx).floorDiv(block));
    }
    AffineMap blockMap = AffineMap::get(rank, 0, exprs, ctx);
    maps.push_back(blockMap);
    maps.push_back(blockMap);
  } else if (p.axis) {
    int64_t n = p.scales.size();
    auto vecTy = RankedTensorType::get({n}, floatTy);
    SmallVector<APFloat> s, z;
    for (int64_t i = 0; i < n; ++i) {
      APFloat sv(p.scales[i]), zv(static_cast<double>(p.zeroPoints[i]));
      bool lost;
      sv.convert(floatTy.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                 &lost);
      zv.convert(floatTy.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                 &lost);
      s.push_back(sv);
      z.push_back(zv);
    }
    inputs.push_back(arith::ConstantOp::create(
        b, loc, vecTy, DenseElementsAttr::get(vecTy, s)));
    inputs.push_back(arith::ConstantOp::create(
        b, loc, vecTy, DenseElementsAttr::get(vecTy, z)));
    AffineMap axisMap =
        AffineMap::get(rank, 0, getAffineDimExpr(*p.axis, ctx), ctx);
    maps.push_back(axisMap);
    maps.push_back(axisMap);
  } else {
    scaleScalar = arith::ConstantOp::create(
        b, loc, floatTy, FloatAttr::get(floatTy, p.scales[0]));
    zpScalar = arith::ConstantOp::create(
        b, loc, floatTy,
        FloatAttr::get(floatTy, static_cast<double>(p.zeroPoints[0])));
  }
  maps.push_back(id);

  Value init = emptyLike(b, loc, input, resultElemTy);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value scale = tensorParams ? args[1] : scaleScalar;
        Value zp = tensorParams ? args[2] : zpScalar;
        Value r = body(nb, nloc, args[0], scale, zp);
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

/// min(max(v, lo), hi) as compare + select: one vector max / min each
/// (arith.maxnumf / minnumf cost three instructions each on x86 for their NaN
/// rule). A NaN `v` passes through; callers map NaN inputs separately.
Value clampBySelect(OpBuilder &b, Location loc, Value v, Value lo, Value hi) {
  Value below = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, v, lo);
  v = arith::SelectOp::create(b, loc, below, lo, v);
  Value above = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, v, hi);
  return arith::SelectOp::create(b, loc, above, hi, v);
}

/// round_half_to_even(x / scale) clamped to [qmin - zp, qmax - zp]: the
/// quantized value minus its zero point, exactly (all small integers). With
/// a constant zero point the bounds are constants and the zero point is
/// never added and subtracted (a fake quant's hot loop). NaN passes through.
Value centeredQuantize(OpBuilder &b, Location loc, Value x, Value scale,
                       Value zp, FloatType floatTy, int64_t qmin,
                       int64_t qmax) {
  Value v = arith::DivFOp::create(b, loc, x, scale);
  v = math::RoundEvenOp::create(b, loc, v);
  Value lo, hi;
  FloatAttr zpAttr;
  if (matchPattern(zp, m_Constant(&zpAttr))) {
    double z = zpAttr.getValueAsDouble();
    lo = floatConst(b, loc, floatTy, double(qmin) - z);
    hi = floatConst(b, loc, floatTy, double(qmax) - z);
  } else {
    lo = arith::SubFOp::create(b, loc, floatConst(b, loc, floatTy, qmin), zp);
    hi = arith::SubFOp::create(b, loc, floatConst(b, loc, floatTy, qmax), zp);
  }
  return clampBySelect(b, loc, v, lo, hi);
}

/// clamp(round_half_to_even(x / scale) + zp, qmin, qmax) in float; NaN maps
/// to the zero point.
Value quantizeInFloat(OpBuilder &b, Location loc, Value x, Value scale,
                      Value zp, FloatType floatTy, int64_t qmin, int64_t qmax) {
  Value v = centeredQuantize(b, loc, x, scale, zp, floatTy, qmin, qmax);
  v = arith::AddFOp::create(b, loc, v, zp);
  Value isNan = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  return arith::SelectOp::create(b, loc, isNan, zp, v);
}

/// `acc[..., n] + Σ_k x[..., k] · w[n, k]`: a contraction over the last
/// dimension of `x` ([..., K]) with `w` ([N, K]) into `acc` ([..., N]), one
/// linalg.generic the kernel-call pass recognizes.
Value contractLastDim(OpBuilder &b, Location loc, Value x, Value w, Value acc) {
  auto outTy = cast<RankedTensorType>(acc.getType());
  int64_t rank = outTy.getRank();
  MLIRContext *ctx = b.getContext();
  // Loops: batch dims d0..d(rank-2), n = d(rank-1), k = d(rank).
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < rank; ++i)
    outExprs.push_back(getAffineDimExpr(i, ctx));
  AffineExpr n = getAffineDimExpr(rank - 1, ctx);
  AffineExpr k = getAffineDimExpr(rank, ctx);
  SmallVector<AffineExpr> inExprs(outExprs.begin(), outExprs.end() - 1);
  inExprs.push_back(k);
  AffineMap inMap = AffineMap::get(rank + 1, 0, inExprs, ctx);
  AffineMap wMap = AffineMap::get(rank + 1, 0, {n, k}, ctx);
  AffineMap outMap = AffineMap::get(rank + 1, 0, outExprs, ctx);
  SmallVector<utils::IteratorType> iters(rank + 1,
                                         utils::IteratorType::parallel);
  iters.back() = utils::IteratorType::reduction;
  return linalg::GenericOp::create(
             b, loc, outTy, ValueRange{x, w}, ValueRange{acc},
             ArrayRef<AffineMap>{inMap, wMap, outMap}, iters,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value prod = arith::MulFOp::create(nb, l, args[0], args[1]);
               linalg::YieldOp::create(
                   nb, l,
                   arith::AddFOp::create(nb, l, args[2], prod).getResult());
             })
      .getResult(0);
}

/// Zeros of `type`, its leading dynamic sizes taken from `like`'s and the
/// last from `last` (value, dim).
Value zerosLike(OpBuilder &b, Location loc, RankedTensorType type, Value like,
                std::pair<Value, int64_t> last) {
  SmallVector<std::pair<Value, int64_t>> dimSrc;
  for (int64_t i = 0; i + 1 < type.getRank(); ++i)
    dimSrc.push_back({like, i});
  dimSrc.push_back(last);
  Value init = emptyTensor(b, loc, type, dimSrc);
  Value zero =
      arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
  return linalg::FillOp::create(b, loc, zero, init).getResult(0);
}

struct LinearLowering : OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), w = adaptor.getWeight();
    auto outTy = op.getResult().getType();
    int64_t rank = outTy.getRank();
    MLIRContext *ctx = rewriter.getContext();

    Value acc;
    if (Value bias = adaptor.getBias()) {
      SmallVector<std::pair<Value, int64_t>> dimSrc;
      for (int64_t i = 0; i + 1 < rank; ++i)
        dimSrc.push_back({x, i});
      dimSrc.push_back({w, 0});
      Value init = emptyTensor(rewriter, loc, outTy, dimSrc);
      AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
      AffineMap biasMap =
          AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx), ctx);
      SmallVector<utils::IteratorType> iters(rank,
                                             utils::IteratorType::parallel);
      acc = linalg::GenericOp::create(
                rewriter, loc, outTy, ValueRange{bias}, ValueRange{init},
                ArrayRef<AffineMap>{biasMap, id}, iters,
                [](OpBuilder &b, Location l, ValueRange args) {
                  linalg::YieldOp::create(b, l, args[0]);
                })
                .getResult(0);
    } else {
      acc = zerosLike(rewriter, loc, outTy, x, {w, 0});
    }
    rewriter.replaceOp(op, contractLastDim(rewriter, loc, x, w, acc));
    return success();
  }
};

/// base + scale · (x · Aᵀ) · Bᵀ, unmerged: two contractions through the
/// [..., r] intermediate (r ≪ in, out: the cheap order). A switched adapter
/// computes them only when its selector holds its index (scf.if), so an
/// artifact with many adapters pays for the chosen one only.
struct LoRALowering : OpConversionPattern<LoRAOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LoRAOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    // f16/bf16 storage is widened exactly, per call (r·(in + out) values:
    // small next to the layer), so the stored adapter keeps its size.
    auto widen = [&](OpBuilder &b, Value m) -> Value {
      auto mTy = cast<RankedTensorType>(m.getType());
      Type to = op.getBase().getType().getElementType();
      if (mTy.getElementType() == to)
        return m;
      auto wideTy = mTy.clone(to);
      AffineMap id = AffineMap::getMultiDimIdentityMap(2, b.getContext());
      return linalg::GenericOp::create(
                 b, loc, wideTy, ValueRange{m},
                 ValueRange{
                     tensor::EmptyOp::create(b, loc, wideTy.getShape(), to)},
                 ArrayRef<AffineMap>{id, id},
                 SmallVector<utils::IteratorType>(
                     2, utils::IteratorType::parallel),
                 [&](OpBuilder &nb, Location l, ValueRange args) {
                   linalg::YieldOp::create(
                       nb, l,
                       arith::ExtFOp::create(nb, l, to, args[0]).getResult());
                 })
          .getResult(0);
    };
    auto apply = [&](OpBuilder &b) {
      Value x = adaptor.getInput(), a = widen(b, adaptor.getLoraA());
      auto xTy = cast<RankedTensorType>(x.getType());
      auto aTy = cast<RankedTensorType>(a.getType());
      SmallVector<int64_t> tShape(xTy.getShape().drop_back());
      tShape.push_back(aTy.getDimSize(0));
      auto tTy = RankedTensorType::get(tShape, xTy.getElementType());
      Value t =
          contractLastDim(b, loc, x, a, zerosLike(b, loc, tTy, x, {a, 0}));
      // The scale goes on the small [..., r] intermediate, so that both
      // contractions stay plain ones the runtime's matmul kernel takes.
      double scale = op.getScale().convertToDouble();
      if (scale != 1.0) {
        int64_t rank = tTy.getRank();
        AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
        auto floatTy = cast<FloatType>(tTy.getElementType());
        Value s = arith::ConstantOp::create(b, loc, floatTy,
                                            b.getFloatAttr(floatTy, scale));
        t = linalg::GenericOp::create(
                b, loc, tTy, ValueRange{t}, ValueRange{t},
                ArrayRef<AffineMap>{id, id},
                SmallVector<utils::IteratorType>(rank,
                                                 utils::IteratorType::parallel),
                [&](OpBuilder &nb, Location l, ValueRange args) {
                  linalg::YieldOp::create(
                      nb, l,
                      arith::MulFOp::create(nb, l, args[0], s).getResult());
                })
                .getResult(0);
      }
      return contractLastDim(b, loc, t, widen(b, adaptor.getLoraB()),
                             adaptor.getBase());
    };
    Value selector = adaptor.getSelector();
    if (!selector) {
      rewriter.replaceOp(op, apply(rewriter));
      return success();
    }
    Value chosen = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::eq,
        tensor::ExtractOp::create(rewriter, loc, selector, ValueRange{}),
        arith::ConstantIntOp::create(rewriter, loc, *op.getAdapterIndex(), 64));
    auto ifOp = scf::IfOp::create(
        rewriter, loc, chosen,
        [&](OpBuilder &b, Location l) { scf::YieldOp::create(b, l, apply(b)); },
        [&](OpBuilder &b, Location l) {
          scf::YieldOp::create(b, l, adaptor.getBase());
        });
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }
};

struct QuantizeLowering : OpConversionPattern<QuantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(QuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resTy = op.getResult().getType();
    auto qTy = cast<quant::QuantizedType>(resTy.getElementType());
    FloatType computeTy = computeTypeFor(
        cast<FloatType>(op.getInput().getType().getElementType()));
    Type storageTy = qTy.getStorageType();
    bool isSigned = qTy.isSigned();
    AffineParams p = paramsOf(qTy);
    Value ints = buildAffineElementwise(
        rewriter, loc, adaptor.getInput(), storageTy, computeTy, p,
        [&](OpBuilder &b, Location l, Value x, Value s, Value zp) -> Value {
          Value v = quantizeInFloat(b, l, castFloat(b, l, x, computeTy), s, zp,
                                    computeTy, p.qmin, p.qmax);
          if (isSigned)
            return arith::FPToSIOp::create(b, l, storageTy, v);
          return arith::FPToUIOp::create(b, l, storageTy, v);
        });
    rewriter.replaceOpWithNewOp<quant::StorageCastOp>(op, resTy, ints);
    return success();
  }
};

struct DequantizeLowering : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inTy = op.getInput().getType();
    auto qTy = cast<quant::QuantizedType>(inTy.getElementType());
    auto floatTy = cast<FloatType>(op.getResult().getType().getElementType());
    bool isSigned = qTy.isSigned();
    Value ints = quant::StorageCastOp::create(
        rewriter, loc, inTy.clone(qTy.getStorageType()), adaptor.getInput());
    FloatType computeTy = computeTypeFor(floatTy);
    Value out = buildAffineElementwise(
        rewriter, loc, ints, floatTy, computeTy, paramsOf(qTy),
        [&](OpBuilder &b, Location l, Value q, Value s, Value zp) -> Value {
          Value f =
              isSigned
                  ? arith::SIToFPOp::create(b, l, computeTy, q).getResult()
                  : arith::UIToFPOp::create(b, l, computeTy, q).getResult();
          Value centered = arith::SubFOp::create(b, l, f, zp);
          Value x = arith::MulFOp::create(b, l, centered, s);
          return castFloat(b, l, x, floatTy);
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct FakeQuantLowering : OpConversionPattern<FakeQuantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(FakeQuantOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto floatTy = cast<FloatType>(op.getInput().getType().getElementType());
    AffineParams p = paramsOf(op);
    FloatType computeTy = computeTypeFor(floatTy);
    Value out = buildAffineElementwise(
        rewriter, op.getLoc(), adaptor.getInput(), floatTy, computeTy, p,
        [&](OpBuilder &b, Location l, Value x, Value s, Value zp) -> Value {
          // (q - zp) * s without forming q; + 0.0 turns -0 into +0 as
          // (q - zp) does; NaN maps to the zero point, i.e. to +0.
          Value xc = castFloat(b, l, x, computeTy);
          Value centered =
              centeredQuantize(b, l, xc, s, zp, computeTy, p.qmin, p.qmax);
          centered = arith::AddFOp::create(b, l, centered,
                                           floatConst(b, l, computeTy, 0.0));
          Value y = arith::MulFOp::create(b, l, centered, s);
          Value isNan =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, xc, xc);
          y = arith::SelectOp::create(b, l, isNan,
                                      floatConst(b, l, computeTy, 0.0), y);
          return castFloat(b, l, y, floatTy);
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct ObserveLowering : OpConversionPattern<ObserveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ObserveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// qopt.qlinear
//===----------------------------------------------------------------------===//

/// The i8 values of a constant (dense or dense_resource) tensor.
std::optional<SmallVector<int8_t>> constantInts(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return std::nullopt;
  if (auto d = dyn_cast<DenseIntElementsAttr>(c.getValue())) {
    SmallVector<int8_t> out;
    for (APInt i : d.getValues<APInt>())
      out.push_back(int8_t(i.getSExtValue()));
    return out;
  }
  if (auto r = dyn_cast<DenseI8ResourceElementsAttr>(c.getValue()))
    if (auto arr = r.tryGetAsArrayRef())
      return SmallVector<int8_t>(arr->begin(), arr->end());
  return std::nullopt;
}

/// Double-quantized NF4 block scales back in f32:
/// `codes[i] * scales[i / 256] + offset` over the row-major flattened
/// [N, B] codes.
Value dequantizeScales(OpBuilder &b, Location loc, Value codes, Value scales,
                       double offset) {
  auto cTy = cast<RankedTensorType>(codes.getType());
  Type f32 = b.getF32Type();
  auto outTy = cTy.clone(f32);
  MLIRContext *ctx = b.getContext();
  int64_t cols = cTy.getDimSize(1);
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
  Value init = tensor::EmptyOp::create(b, loc, outTy.getShape(), f32);
  return linalg::GenericOp::create(
             b, loc, outTy, ValueRange{codes}, ValueRange{init},
             ArrayRef<AffineMap>{id, id},
             SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value row = linalg::IndexOp::create(nb, l, 0);
               Value col = linalg::IndexOp::create(nb, l, 1);
               Value flat = arith::AddIOp::create(
                   nb, l,
                   arith::MulIOp::create(
                       nb, l, row, arith::ConstantIndexOp::create(nb, l, cols)),
                   col);
               Value block = arith::DivUIOp::create(
                   nb, l, flat, arith::ConstantIndexOp::create(nb, l, 256));
               Value s =
                   tensor::ExtractOp::create(nb, l, scales, ValueRange{block});
               Value v = arith::MulFOp::create(
                   nb, l, arith::SIToFPOp::create(nb, l, f32, args[0]), s);
               Value c = arith::ConstantOp::create(
                   nb, l, f32, nb.getFloatAttr(f32, offset));
               linalg::YieldOp::create(
                   nb, l, arith::AddFOp::create(nb, l, v, c).getResult());
             })
      .getResult(0);
}

/// The [M, N] f32 accumulator: the bias broadcast over rows, or zeros.
Value biasOrZeros(OpBuilder &b, Location loc, Value bias, Value x2d,
                  RankedTensorType accTy) {
  MLIRContext *ctx = b.getContext();
  Value init = emptyTensor(b, loc, accTy, {{x2d, 0}, {x2d, 0}});
  if (!bias) {
    Value zero = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(accTy.getElementType()));
    return linalg::FillOp::create(b, loc, zero, init).getResult(0);
  }
  return linalg::GenericOp::create(
             b, loc, accTy, ValueRange{bias}, ValueRange{init},
             ArrayRef<AffineMap>{mapOf(ctx, 2, {1}), mapOf(ctx, 2, {0, 1})},
             iteratorsOf(2, 0),
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, args[0]);
             })
      .getResult(0);
}

/// acc[m, n] = sum_k ext(qx[m, k]) * ext(w[n, k]) in i32 (extui for a uint8
/// input). The runtime's int8 GEMM takes it over (library_call).
Value integerMatmul(OpBuilder &b, Location loc, Value qx, Value w,
                    bool unsignedInput, int64_t n) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type();
  auto accTy = RankedTensorType::get(
      {cast<RankedTensorType>(qx.getType()).getDimSize(0), n}, i32);
  Value init = emptyTensor(b, loc, accTy, {{qx, 0}, {qx, 0}});
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value acc = linalg::FillOp::create(b, loc, zero, init).getResult(0);
  auto op = linalg::GenericOp::create(
      b, loc, accTy, ValueRange{qx, w}, ValueRange{acc},
      ArrayRef<AffineMap>{mapOf(ctx, 3, {0, 2}), mapOf(ctx, 3, {1, 2}),
                          mapOf(ctx, 3, {0, 1})},
      iteratorsOf(2, 1), [&](OpBuilder &nb, Location l, ValueRange args) {
        Value a = unsignedInput
                      ? arith::ExtUIOp::create(nb, l, i32, args[0]).getResult()
                      : arith::ExtSIOp::create(nb, l, i32, args[0]).getResult();
        Value c = arith::ExtSIOp::create(nb, l, i32, args[1]);
        Value prod = arith::MulIOp::create(nb, l, a, c);
        linalg::YieldOp::create(
            nb, l, arith::AddIOp::create(nb, l, args[2], prod).getResult());
      });
  op.setLibraryCallAttr(b.getStringAttr(
      unsignedInput ? "qopt_kernel_matmul_u8s8" : "qopt_kernel_matmul_s8s8"));
  return op.getResult(0);
}

/// sum_k w[n, k] as an i32 [N] tensor: a constant when the weight is one
/// (the common case: computed once here, not per run), else a reduction.
Value weightRowSums(OpBuilder &b, Location loc, Value w) {
  auto wTy = cast<RankedTensorType>(w.getType());
  int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
  auto sumTy = RankedTensorType::get({n}, b.getI32Type());
  if (auto ints = constantInts(w)) {
    SmallVector<int32_t> sums(size_t(n), 0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        sums[size_t(r)] += (*ints)[size_t(r * k + c)];
    return arith::ConstantOp::create(
        b, loc, sumTy, DenseElementsAttr::get(sumTy, ArrayRef<int32_t>(sums)));
  }
  MLIRContext *ctx = b.getContext();
  Value init = emptyTensor(b, loc, sumTy, {{w, 0}});
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value acc = linalg::FillOp::create(b, loc, zero, init).getResult(0);
  return linalg::GenericOp::create(
             b, loc, sumTy, ValueRange{w}, ValueRange{acc},
             ArrayRef<AffineMap>{mapOf(ctx, 2, {0, 1}), mapOf(ctx, 2, {0})},
             iteratorsOf(1, 1),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value v =
                   arith::ExtSIOp::create(nb, l, nb.getI32Type(), args[0]);
               linalg::YieldOp::create(
                   nb, l, arith::AddIOp::create(nb, l, args[1], v).getResult());
             })
      .getResult(0);
}

/// Whether `x` is a 2-D tensor (the row kernels' operand shape).
bool x2dRank(Value x) {
  return cast<RankedTensorType>(x.getType()).getRank() == 2;
}

/// Dynamic per-token scales: sx[m] = max_k |x[m, k]| / 127, 1 for a zero row.
Value rowScales(OpBuilder &b, Location loc, Value x2d) {
  MLIRContext *ctx = b.getContext();
  auto xTy = cast<RankedTensorType>(x2d.getType());
  Type f32 = b.getF32Type();
  auto rowTy = RankedTensorType::get({xTy.getDimSize(0)}, f32);
  Value init = emptyTensor(b, loc, rowTy, {{x2d, 0}});
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value acc = linalg::FillOp::create(b, loc, zero, init).getResult(0);
  // The runtime's vectorized row reduction takes it over on the CPU
  // (library_call; generated loops ran it scalar).
  auto absmaxOp = linalg::GenericOp::create(
      b, loc, rowTy, ValueRange{x2d}, ValueRange{acc},
      ArrayRef<AffineMap>{mapOf(ctx, 2, {0, 1}), mapOf(ctx, 2, {0})},
      iteratorsOf(1, 1), [](OpBuilder &nb, Location l, ValueRange args) {
        Value a = math::AbsFOp::create(nb, l, args[0]);
        linalg::YieldOp::create(
            nb, l, arith::MaximumFOp::create(nb, l, args[1], a).getResult());
      });
  absmaxOp.setLibraryCallAttr(b.getStringAttr("qopt_kernel_row_absmax_f32"));
  Value absmax = absmaxOp.getResult(0);
  Value init2 = emptyTensor(b, loc, rowTy, {{x2d, 0}});
  return linalg::GenericOp::create(
             b, loc, rowTy, ValueRange{absmax}, ValueRange{init2},
             ArrayRef<AffineMap>{mapOf(ctx, 1, {0}), mapOf(ctx, 1, {0})},
             iteratorsOf(1, 0),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value c127 =
                   arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(127.0f));
               Value one =
                   arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(1.0f));
               Value z =
                   arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(0.0f));
               Value s = arith::DivFOp::create(nb, l, args[0], c127);
               Value isZero = arith::CmpFOp::create(
                   nb, l, arith::CmpFPredicate::OEQ, args[0], z);
               linalg::YieldOp::create(
                   nb, l,
                   arith::SelectOp::create(nb, l, isZero, one, s).getResult());
             })
      .getResult(0);
}

/// The 2:4 compressed constants of a weight, named after the layer:
/// values [N, K/8, 4] (f32 or i8) and 2-bit positions [N, K/8] i8
/// (qopt/Support/Sparse24.h).
template <typename T>
std::pair<Value, Value>
sparse24Constants(OpBuilder &b, Location loc, Operation *layer,
                  Type elementType, int64_t n, int64_t k, ArrayRef<T> values,
                  ArrayRef<uint8_t> meta) {
  std::string name;
  if (auto l = dyn_cast<QuantizableLayerOpInterface>(layer))
    name = l.getLayerName();
  if (name.empty())
    name = "weight";
  auto vTy = RankedTensorType::get({n, k / 8, 4}, elementType);
  auto mTy = RankedTensorType::get({n, k / 8}, b.getI8Type());
  Value vals = arith::ConstantOp::create(
      b, loc,
      DenseResourceElementsAttr::get(
          vTy, name + ".2of4.values",
          HeapAsmResourceBlob::allocateAndCopyInferAlign(values)));
  std::vector<int8_t> metaBytes(meta.begin(), meta.end());
  Value metaC = arith::ConstantOp::create(
      b, loc,
      DenseResourceElementsAttr::get(
          mTy, name + ".2of4.meta",
          HeapAsmResourceBlob::allocateAndCopyInferAlign(
              ArrayRef<int8_t>(metaBytes))));
  return {vals, metaC};
}

/// The term of the 2:4 product at loop indices (m, n, byte b, value q,
/// window r) of a generic over x [M, K/8, 8], values [N, K/8, 4] and
/// positions [N, K/8]: value q of byte b multiplies x[m, 8b + r] where
/// r = 4 (q / 2) + its position; `product` of the (x, value) pair, else 0.
Value sparse24Term(OpBuilder &b, Location l, Value metaByte, Value product) {
  Type i32 = b.getI32Type();
  Value q =
      arith::IndexCastOp::create(b, l, i32, linalg::IndexOp::create(b, l, 3));
  Value r =
      arith::IndexCastOp::create(b, l, i32, linalg::IndexOp::create(b, l, 4));
  auto c32 = [&](int32_t v) {
    return arith::ConstantIntOp::create(b, l, v, 32).getResult();
  };
  Value byte = arith::ExtUIOp::create(b, l, i32, metaByte);
  Value pos = arith::AndIOp::create(
      b, l,
      arith::ShRUIOp::create(b, l, byte,
                             arith::MulIOp::create(b, l, q, c32(2))),
      c32(3));
  Value at = arith::AddIOp::create(
      b, l,
      arith::MulIOp::create(b, l, arith::DivUIOp::create(b, l, q, c32(2)),
                            c32(4)),
      pos);
  Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, r, at);
  Value zero =
      arith::ConstantOp::create(b, l, b.getZeroAttr(product.getType()));
  return arith::SelectOp::create(b, l, hit, product, zero);
}

/// A W8A8 qopt.qlinear that qopt-prune made 2:4 (the `qopt.sparsity`
/// attribute quantization carries over) with a constant int8 weight that
/// packs: the i32 product qx · wᵀ over the compressed int8 values and
/// positions, tagged for the runtime's int8 2:4 kernel
/// (qopt_kernel_matmul_sparse24_{s8s8,u8s8}); a null Value otherwise (the
/// dense integer product).
Value sparseIntegerMatmul(OpBuilder &b, Location loc, Operation *layer,
                          Value qx, Value w, bool unsignedInput) {
  auto sparsity =
      layer->getAttrOfType<SparsityAttr>(SparsityAttr::getAttrName());
  if (!sparsity || sparsity.getGranularity() != SparsityGranularity::NM ||
      sparsity.getN() != 2 || sparsity.getM() != 4)
    return {};
  auto wTy = cast<RankedTensorType>(w.getType());
  if (!wTy.hasStaticShape() || !wTy.getElementType().isInteger(8))
    return {};
  int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
  std::optional<SmallVector<int8_t>> ints = constantInts(w);
  std::vector<int8_t> values;
  std::vector<uint8_t> meta;
  if (!ints || !::qopt::pack24(ints->data(), n, k, values, meta))
    return {};
  MLIRContext *ctx = b.getContext();
  Type i8 = b.getI8Type(), i32 = b.getI32Type();
  auto [vals, metaC] =
      sparse24Constants(b, loc, layer, i8, n, k, ArrayRef<int8_t>(values),
                        ArrayRef<uint8_t>(meta));
  auto xTy = cast<RankedTensorType>(qx.getType());
  auto x8Ty = RankedTensorType::get({xTy.getDimSize(0), k / 8, 8}, i8);
  Value x8 = tensor::ExpandShapeOp::create(
      b, loc, x8Ty, qx, ArrayRef<ReassociationIndices>{{0}, {1, 2}},
      ArrayRef<OpFoldResult>{tensor::getMixedSize(b, loc, qx, 0),
                             b.getIndexAttr(k / 8), b.getIndexAttr(8)});
  auto accTy = RankedTensorType::get({xTy.getDimSize(0), n}, i32);
  Value init = emptyTensor(b, loc, accTy, {{qx, 0}, {qx, 0}});
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value acc = linalg::FillOp::create(b, loc, zero, init).getResult(0);
  auto mm = linalg::GenericOp::create(
      b, loc, accTy, ValueRange{x8, vals, metaC}, ValueRange{acc},
      ArrayRef<AffineMap>{mapOf(ctx, 5, {0, 2, 4}), mapOf(ctx, 5, {1, 2, 3}),
                          mapOf(ctx, 5, {1, 2}), mapOf(ctx, 5, {0, 1})},
      iteratorsOf(2, 3), [&](OpBuilder &nb, Location l, ValueRange args) {
        Value a = unsignedInput
                      ? arith::ExtUIOp::create(nb, l, i32, args[0]).getResult()
                      : arith::ExtSIOp::create(nb, l, i32, args[0]).getResult();
        Value c = arith::ExtSIOp::create(nb, l, i32, args[1]);
        Value term =
            sparse24Term(nb, l, args[2], arith::MulIOp::create(nb, l, a, c));
        linalg::YieldOp::create(
            nb, l, arith::AddIOp::create(nb, l, args[3], term).getResult());
      });
  mm.setLibraryCallAttr(
      b.getStringAttr(unsignedInput ? "qopt_kernel_matmul_sparse24_u8s8"
                                    : "qopt_kernel_matmul_sparse24_s8s8"));
  return mm.getResult(0);
}

/// A weight-only int8 qopt.qlinear with qopt-prune's 2:4 pattern and a
/// constant weight that packs: acc + x · (w · scale[n]) over the compressed
/// int8 values and positions, tagged for qopt_kernel_matmul_sparse24_w8; a
/// null Value otherwise.
Value sparseWeightOnlyMatmul(OpBuilder &b, Location loc, Operation *layer,
                             Value x, Value w, Value ws, Value bias,
                             RankedTensorType accTy) {
  auto sparsity =
      layer->getAttrOfType<SparsityAttr>(SparsityAttr::getAttrName());
  if (!sparsity || sparsity.getGranularity() != SparsityGranularity::NM ||
      sparsity.getN() != 2 || sparsity.getM() != 4)
    return {};
  auto wTy = cast<RankedTensorType>(w.getType());
  if (!wTy.hasStaticShape() || !wTy.getElementType().isInteger(8) ||
      cast<RankedTensorType>(ws.getType()).getRank() != 1)
    return {};
  int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
  std::optional<SmallVector<int8_t>> ints = constantInts(w);
  std::vector<int8_t> values;
  std::vector<uint8_t> meta;
  if (!ints || !::qopt::pack24(ints->data(), n, k, values, meta))
    return {};
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto [vals, metaC] =
      sparse24Constants(b, loc, layer, b.getI8Type(), n, k,
                        ArrayRef<int8_t>(values), ArrayRef<uint8_t>(meta));
  auto xTy = cast<RankedTensorType>(x.getType());
  auto x8Ty = RankedTensorType::get({xTy.getDimSize(0), k / 8, 8}, f32);
  Value x8 = tensor::ExpandShapeOp::create(
      b, loc, x8Ty, x, ArrayRef<ReassociationIndices>{{0}, {1, 2}},
      ArrayRef<OpFoldResult>{tensor::getMixedSize(b, loc, x, 0),
                             b.getIndexAttr(k / 8), b.getIndexAttr(8)});
  Value acc = biasOrZeros(b, loc, bias, x, accTy);
  auto mm = linalg::GenericOp::create(
      b, loc, accTy, ValueRange{x8, vals, metaC, ws}, ValueRange{acc},
      ArrayRef<AffineMap>{mapOf(ctx, 5, {0, 2, 4}), mapOf(ctx, 5, {1, 2, 3}),
                          mapOf(ctx, 5, {1, 2}), mapOf(ctx, 5, {1}),
                          mapOf(ctx, 5, {0, 1})},
      iteratorsOf(2, 3), [&](OpBuilder &nb, Location l, ValueRange args) {
        Value wf = arith::SIToFPOp::create(nb, l, f32, args[1]);
        Value deq = arith::MulFOp::create(nb, l, wf, args[3]);
        Value term = sparse24Term(nb, l, args[2],
                                  arith::MulFOp::create(nb, l, args[0], deq));
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, args[4], term).getResult());
      });
  mm.setLibraryCallAttr(b.getStringAttr("qopt_kernel_matmul_sparse24_w8"));
  return mm.getResult(0);
}

struct QLinearLowering : OpConversionPattern<QLinearOp> {
  QLinearLowering(MLIRContext *ctx, bool cpuSparse)
      : OpConversionPattern<QLinearOp>(ctx), cpuSparse(cpuSparse) {}
  bool cpuSparse; // int8 / weight-only 2:4 storage
  LogicalResult
  matchAndRewrite(QLinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type f32 = rewriter.getF32Type(), i8 = rewriter.getI8Type();
    Value x = collapseTo2D(rewriter, loc, adaptor.getInput());
    Value w = adaptor.getWeight(), ws = adaptor.getWeightScale();
    Value bias = adaptor.getBias();
    auto wTy = cast<RankedTensorType>(w.getType());
    auto xTy = cast<RankedTensorType>(x.getType());
    int64_t n = wTy.getDimSize(0), k = xTy.getDimSize(1);
    auto accTy = RankedTensorType::get({xTy.getDimSize(0), n}, f32);
    ActivationMode act = op.getActivation();
    Value y;

    if (act == ActivationMode::None &&
        op.getWeightFormat() == WeightFormat::Int8 && cpuSparse &&
        (y = sparseWeightOnlyMatmul(rewriter, loc, op, x, w, ws, bias,
                                    accTy))) {
      // Weight-only int8 2:4: compressed values and positions.
    } else if (act == ActivationMode::None &&
               op.getWeightFormat() == WeightFormat::Int8) {
      // Weight-only int8: acc + x * (w * scale[n]).
      Value acc = biasOrZeros(rewriter, loc, bias, x, accTy);
      auto mm = linalg::GenericOp::create(
          rewriter, loc, accTy, ValueRange{x, w, ws}, ValueRange{acc},
          ArrayRef<AffineMap>{mapOf(ctx, 3, {0, 2}), mapOf(ctx, 3, {1, 2}),
                              mapOf(ctx, 3, {1}), mapOf(ctx, 3, {0, 1})},
          iteratorsOf(2, 1), [&](OpBuilder &b, Location l, ValueRange args) {
            Value wf = arith::SIToFPOp::create(b, l, f32, args[1]);
            Value deq = arith::MulFOp::create(b, l, wf, args[2]);
            Value prod = arith::MulFOp::create(b, l, args[0], deq);
            linalg::YieldOp::create(
                b, l, arith::AddFOp::create(b, l, args[3], prod).getResult());
          });
      mm.setLibraryCallAttr(rewriter.getStringAttr("qopt_kernel_matmul_w8"));
      y = mm.getResult(0);
    } else if (act == ActivationMode::None ||
               act == ActivationMode::DynamicBlock) {
      // Weight-only 4-bit, block-wise: loops (m, n, g, h, j) over
      // x [M, K/G, G/2, 2] and the packed bytes w [N, K/G, G/2], element
      // j of a byte in its low (j = 0) or high nibble. A partial last
      // block: x is padded with zeros to the weight's padded K.
      int64_t g = op.getGroupSize(), blocks = (k + g - 1) / g;
      if (blocks * g != k) {
        SmallVector<OpFoldResult> lo(2, rewriter.getIndexAttr(0));
        SmallVector<OpFoldResult> hi{rewriter.getIndexAttr(0),
                                     rewriter.getIndexAttr(blocks * g - k)};
        Value zero = arith::ConstantOp::create(rewriter, loc,
                                               rewriter.getF32FloatAttr(0));
        x = tensor::PadOp::create(
            rewriter, loc,
            RankedTensorType::get({xTy.getDimSize(0), blocks * g}, f32), x, lo,
            hi, zero);
      }
      bool isUnsigned = op.getWeightFormat() == WeightFormat::UInt4;
      bool isNF4 = op.getWeightFormat() == WeightFormat::NF4;
      if (Value ss = adaptor.getScaleScale())
        ws = dequantizeScales(rewriter, loc, ws, ss,
                              op.getScaleOffset()->convertToDouble());
      // NF4 codes index QLoRA's 16 levels.
      Value levels;
      if (isNF4)
        levels = arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(RankedTensorType::get({16}, f32),
                                   ArrayRef<float>(::qopt::kNF4Levels)));
      auto x4Ty =
          RankedTensorType::get({xTy.getDimSize(0), blocks, g / 2, 2}, f32);
      Value x4 = tensor::ExpandShapeOp::create(
          rewriter, loc, x4Ty, x,
          ArrayRef<ReassociationIndices>{{0}, {1, 2, 3}},
          ArrayRef<OpFoldResult>{tensor::getMixedSize(rewriter, loc, x, 0),
                                 rewriter.getIndexAttr(blocks),
                                 rewriter.getIndexAttr(g / 2),
                                 rewriter.getIndexAttr(2)});
      auto w3Ty = RankedTensorType::get({n, blocks, g / 2}, i8);
      Value w3 = tensor::ExpandShapeOp::create(
          rewriter, loc, w3Ty, w, ArrayRef<ReassociationIndices>{{0}, {1, 2}},
          ArrayRef<OpFoldResult>{rewriter.getIndexAttr(n),
                                 rewriter.getIndexAttr(blocks),
                                 rewriter.getIndexAttr(g / 2)});
      SmallVector<Value> ins{x4, w3, ws};
      SmallVector<AffineMap> maps{mapOf(ctx, 5, {0, 2, 3, 4}),
                                  mapOf(ctx, 5, {1, 2, 3}),
                                  mapOf(ctx, 5, {1, 2})};
      if (isUnsigned) {
        ins.push_back(adaptor.getWeightZeroPoint());
        maps.push_back(mapOf(ctx, 5, {1, 2}));
      }
      maps.push_back(mapOf(ctx, 5, {0, 1}));
      Value acc = biasOrZeros(rewriter, loc, bias, x, accTy);
      auto mm = linalg::GenericOp::create(
          rewriter, loc, accTy, ins, ValueRange{acc}, maps, iteratorsOf(2, 3),
          [&](OpBuilder &b, Location l, ValueRange args) {
            Type i32 = b.getI32Type();
            Value j = linalg::IndexOp::create(b, l, 4);
            Value shift = arith::MulIOp::create(
                b, l, arith::IndexCastOp::create(b, l, i32, j),
                arith::ConstantIntOp::create(b, l, 4, 32));
            Value byte = arith::ExtUIOp::create(b, l, i32, args[1]);
            Value nib = arith::AndIOp::create(
                b, l, arith::ShRUIOp::create(b, l, byte, shift),
                arith::ConstantIntOp::create(b, l, 15, 32));
            // The weight's value: a level of the NF4 table, or the signed
            // (int4) or zero-point shifted (uint4) nibble, times the scale.
            Value w;
            if (isNF4) {
              w = tensor::ExtractOp::create(
                  b, l, levels,
                  ValueRange{
                      arith::IndexCastOp::create(b, l, b.getIndexType(), nib)});
            } else if (isUnsigned) {
              w = arith::SIToFPOp::create(
                  b, l, f32,
                  arith::SubIOp::create(
                      b, l, nib, arith::ExtSIOp::create(b, l, i32, args[3])));
            } else {
              // Two's complement of a nibble: v - 16 when bit 3 is set.
              Value sign = arith::AndIOp::create(
                  b, l, nib, arith::ConstantIntOp::create(b, l, 8, 32));
              w = arith::SIToFPOp::create(
                  b, l, f32,
                  arith::SubIOp::create(
                      b, l, nib,
                      arith::ShLIOp::create(
                          b, l, sign,
                          arith::ConstantIntOp::create(b, l, 1, 32))));
            }
            Value deq = arith::MulFOp::create(b, l, w, args[2]);
            Value prod = arith::MulFOp::create(b, l, args[0], deq);
            linalg::YieldOp::create(
                b, l,
                arith::AddFOp::create(b, l, args.back(), prod).getResult());
          });
      // dynamic_block: the same body (the f32 products the generated
      // loops compute where no kernel takes the call), tagged for the
      // kernel that quantizes the activations per block (W4Int8.md).
      bool int8Act = act == ActivationMode::DynamicBlock;
      mm.setLibraryCallAttr(rewriter.getStringAttr(
          isNF4        ? "qopt_kernel_matmul_nf4"
          : isUnsigned ? (int8Act ? "qopt_kernel_matmul_wu4_a8"
                                  : "qopt_kernel_matmul_wu4")
                       : (int8Act ? "qopt_kernel_matmul_w4_a8"
                                  : "qopt_kernel_matmul_w4")));
      y = mm.getResult(0);
    } else {
      // W8A8: quantize the input, i32 GEMM, dequantizing epilogue.
      bool isStatic = act == ActivationMode::Static;
      bool unsignedInput =
          isStatic && *op.getInputStorage() == ActivationStorage::UInt8;
      int64_t zx = isStatic ? *op.getInputZeroPoint() : 0;
      Value sx = isStatic ? arith::ConstantOp::create(
                                rewriter, loc,
                                rewriter.getF32FloatAttr(float(
                                    op.getInputScale()->convertToDouble())))
                                .getResult()
                          : rowScales(rewriter, loc, x);
      int64_t qmin = unsignedInput ? 0 : -128, qmax = qmin + 255;
      Value zpF = arith::ConstantOp::create(rewriter, loc,
                                            rewriter.getF32FloatAttr(zx));
      SmallVector<Value> qIns{x};
      SmallVector<AffineMap> qMaps{mapOf(ctx, 2, {0, 1})};
      if (!isStatic) {
        qIns.push_back(sx);
        qMaps.push_back(mapOf(ctx, 2, {0}));
      }
      qMaps.push_back(mapOf(ctx, 2, {0, 1}));
      Value qInit = emptyLike(rewriter, loc, x, i8);
      auto qOp = linalg::GenericOp::create(
          rewriter, loc, qInit.getType(), qIns, ValueRange{qInit}, qMaps,
          iteratorsOf(2, 0), [&](OpBuilder &b, Location l, ValueRange args) {
            Value s = isStatic ? sx : args[1];
            Value v = quantizeInFloat(b, l, args[0], s, zpF,
                                      cast<FloatType>(f32), qmin, qmax);
            Value q = unsignedInput
                          ? arith::FPToUIOp::create(b, l, i8, v).getResult()
                          : arith::FPToSIOp::create(b, l, i8, v).getResult();
            linalg::YieldOp::create(b, l, q);
          });
      // Per-token quantization and the dequantizing epilogue are runtime
      // row kernels on the CPU (RowKernels.cpp; generated, they ran scalar:
      // 30% of a 32-token w8a8-dynamic block).
      if (!isStatic && x2dRank(x))
        qOp.setLibraryCallAttr(
            rewriter.getStringAttr("qopt_kernel_quantize_rows_s8"));
      Value qx = qOp.getResult(0);
      // W8A8 2:4 is stored compressed on both targets (the GPU runtime has
      // an mma.sp kernel for it), so this does not depend on cpuSparse.
      Value acc = sparseIntegerMatmul(rewriter, loc, op, qx, w, unsignedInput);
      if (!acc)
        acc = integerMatmul(rewriter, loc, qx, w, unsignedInput, n);

      // y = float(acc - zx * sum_k w[n, k]) * (sx * sw[n]) + bias[n].
      SmallVector<Value> eIns{acc, ws};
      SmallVector<AffineMap> eMaps{mapOf(ctx, 2, {0, 1}), mapOf(ctx, 2, {1})};
      int rowSumArg = -1, scaleArg = -1, biasArg = -1;
      if (zx != 0) {
        rowSumArg = eIns.size();
        eIns.push_back(weightRowSums(rewriter, loc, w));
        eMaps.push_back(mapOf(ctx, 2, {1}));
      }
      if (!isStatic) {
        scaleArg = eIns.size();
        eIns.push_back(sx);
        eMaps.push_back(mapOf(ctx, 2, {0}));
      }
      if (bias) {
        biasArg = eIns.size();
        eIns.push_back(bias);
        eMaps.push_back(mapOf(ctx, 2, {1}));
      }
      eMaps.push_back(mapOf(ctx, 2, {0, 1}));
      Value eInit = emptyTensor(rewriter, loc, accTy, {{x, 0}, {x, 0}});
      auto eOp = linalg::GenericOp::create(
          rewriter, loc, accTy, eIns, ValueRange{eInit}, eMaps,
          iteratorsOf(2, 0), [&](OpBuilder &b, Location l, ValueRange args) {
            Value a = args[0];
            if (rowSumArg >= 0) {
              Value corr = arith::MulIOp::create(
                  b, l, args[rowSumArg],
                  arith::ConstantIntOp::create(b, l, zx, 32));
              a = arith::SubIOp::create(b, l, a, corr);
            }
            Value s = isStatic ? sx : args[scaleArg];
            Value scale = arith::MulFOp::create(b, l, s, args[1]);
            Value v = arith::MulFOp::create(
                b, l, arith::SIToFPOp::create(b, l, f32, a), scale);
            if (biasArg >= 0)
              v = arith::AddFOp::create(b, l, v, args[biasArg]);
            linalg::YieldOp::create(b, l, v);
          });
      // acc, weight scales, row scales[, bias]: no zero-point correction.
      if (!isStatic && rowSumArg < 0 && scaleArg == 2)
        eOp.setLibraryCallAttr(
            rewriter.getStringAttr("qopt_kernel_dequant_rows_f32"));
      y = eOp.getResult(0);
    }
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, y, adaptor.getInput(),
                                        op.getResult().getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// qopt.linear with a 2:4 weight
//===----------------------------------------------------------------------===//

/// A `qopt.linear` that qopt-prune made 2:4 (`qopt.sparsity` n_m 2:4) with a
/// constant weight that packs (K a multiple of 8): the weight is stored as
/// 2:4 values [N, K/8, 4] and 2-bit positions [N, K/8] (Sparse24.h), half
/// the bytes, and the product is a generic over (m, n, byte b, value q,
/// window r) that the runtime's 2:4 kernel replaces
/// (library_call qopt_kernel_matmul_sparse24); as loops, value q of byte b
/// multiplies x[m, 8b + r] where r = 4 (q / 2) + its position.
struct SparseLinearLowering : OpConversionPattern<LinearOp> {
  SparseLinearLowering(MLIRContext *ctx)
      : OpConversionPattern<LinearOp>(ctx, /*benefit=*/2) {}
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto sparsity =
        op->getAttrOfType<SparsityAttr>(SparsityAttr::getAttrName());
    if (!sparsity || sparsity.getGranularity() != SparsityGranularity::NM ||
        sparsity.getN() != 2 || sparsity.getM() != 4)
      return failure();
    auto wTy = op.getWeight().getType();
    if (!wTy.hasStaticShape() || !wTy.getElementType().isF32() ||
        !op.getInput().getType().getElementType().isF32())
      return failure();
    int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
    std::optional<std::vector<float>> w =
        constantF32Values(adaptor.getWeight());
    std::vector<float> values;
    std::vector<uint8_t> meta;
    if (!w || !::qopt::pack24(w->data(), n, k, values, meta))
      return failure(); // stays a dense linear
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type f32 = rewriter.getF32Type();
    auto [vals, metaC] =
        sparse24Constants(rewriter, loc, op, f32, n, k, ArrayRef<float>(values),
                          ArrayRef<uint8_t>(meta));
    Value x = collapseTo2D(rewriter, loc, adaptor.getInput());
    auto xTy = cast<RankedTensorType>(x.getType());
    auto x8Ty = RankedTensorType::get({xTy.getDimSize(0), k / 8, 8}, f32);
    Value x8 = tensor::ExpandShapeOp::create(
        rewriter, loc, x8Ty, x, ArrayRef<ReassociationIndices>{{0}, {1, 2}},
        ArrayRef<OpFoldResult>{tensor::getMixedSize(rewriter, loc, x, 0),
                               rewriter.getIndexAttr(k / 8),
                               rewriter.getIndexAttr(8)});
    auto accTy = RankedTensorType::get({xTy.getDimSize(0), n}, f32);
    Value acc = biasOrZeros(rewriter, loc, adaptor.getBias(), x, accTy);
    auto mm = linalg::GenericOp::create(
        rewriter, loc, accTy, ValueRange{x8, vals, metaC}, ValueRange{acc},
        ArrayRef<AffineMap>{mapOf(ctx, 5, {0, 2, 4}), mapOf(ctx, 5, {1, 2, 3}),
                            mapOf(ctx, 5, {1, 2}), mapOf(ctx, 5, {0, 1})},
        iteratorsOf(2, 3), [&](OpBuilder &b, Location l, ValueRange args) {
          Value term = sparse24Term(
              b, l, args[2], arith::MulFOp::create(b, l, args[0], args[1]));
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[3], term).getResult());
        });
    mm.setLibraryCallAttr(
        rewriter.getStringAttr("qopt_kernel_matmul_sparse24"));
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, mm.getResult(0),
                                        adaptor.getInput(),
                                        op.getResult().getType()));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// qopt.linear with a mostly zero weight (CSR)
//===----------------------------------------------------------------------===//

/// A `qopt.linear` that qopt-prune made unstructured-sparse
/// (`qopt.sparsity` granularity unstructured) whose constant f32 weight is
/// at least kCsrMinSparsity zeros (counted on the weight itself), with
/// K <= 65536: the weight is stored in CSR form, row ranges `<layer>.csr.begin`
/// / `.end` [N] i32, column indices `.cols` [nnz] i16 (read unsigned) and
/// `.values` [nnz] f32, 6 bytes per nonzero (0.45x the dense bytes at 70%
/// zeros). The product is a generic over (m, n, j < the longest row) whose
/// body reads nonzero begin[n] + j of row n (when below end[n]) and the x
/// value of its column (tensor.extract), tagged for the runtime's CSR
/// kernel (library_call qopt_kernel_matmul_csr_f32). Below the threshold
/// the dense kernel is faster (a CSR nonzero costs an index, a gather or a
/// broadcast, and a load where the dense GEMM streams full vectors).
constexpr double kCsrMinSparsity = 0.7;

struct CsrLinearLowering : OpConversionPattern<LinearOp> {
  CsrLinearLowering(MLIRContext *ctx)
      : OpConversionPattern<LinearOp>(ctx, /*benefit=*/2) {}
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto sparsity =
        op->getAttrOfType<SparsityAttr>(SparsityAttr::getAttrName());
    if (!sparsity ||
        sparsity.getGranularity() != SparsityGranularity::Unstructured)
      return failure();
    auto wTy = op.getWeight().getType();
    if (!wTy.hasStaticShape() || !wTy.getElementType().isF32() ||
        !op.getInput().getType().getElementType().isF32())
      return failure();
    int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
    if (k > 65536 || n * k == 0)
      return failure();
    std::optional<std::vector<float>> w =
        constantF32Values(adaptor.getWeight());
    if (!w)
      return failure();
    std::vector<int32_t> begin(static_cast<size_t>(n)),
        end(static_cast<size_t>(n));
    std::vector<int16_t> cols;
    std::vector<float> values;
    int64_t longest = 0;
    for (int64_t r = 0; r < n; ++r) {
      begin[size_t(r)] = int32_t(values.size());
      for (int64_t c = 0; c < k; ++c)
        if (float v = (*w)[size_t(r * k + c)]; v != 0.0f) {
          cols.push_back(int16_t(uint16_t(c)));
          values.push_back(v);
        }
      end[size_t(r)] = int32_t(values.size());
      longest = std::max<int64_t>(longest, end[size_t(r)] - begin[size_t(r)]);
    }
    int64_t nnz = int64_t(values.size());
    if (nnz == 0 || double(n * k - nnz) < kCsrMinSparsity * double(n * k))
      return failure(); // stays dense
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type(),
         i16 = rewriter.getI16Type(), idxTy = rewriter.getIndexType();
    std::string name = cast<QuantizableLayerOpInterface>(*op).getLayerName();
    if (name.empty())
      name = "weight";
    auto resource = [&](Type elementType, int64_t size, StringRef suffix,
                        auto data) {
      auto ty = RankedTensorType::get({size}, elementType);
      return arith::ConstantOp::create(
                 rewriter, loc,
                 DenseResourceElementsAttr::get(
                     ty, name + ".csr." + suffix.str(),
                     HeapAsmResourceBlob::allocateAndCopyInferAlign(data)))
          .getResult();
    };
    Value beginC = resource(i32, n, "begin", ArrayRef<int32_t>(begin));
    Value endC = resource(i32, n, "end", ArrayRef<int32_t>(end));
    Value colsC = resource(i16, nnz, "cols", ArrayRef<int16_t>(cols));
    Value valsC = resource(f32, nnz, "values", ArrayRef<float>(values));
    // The j loop's range: a splat (never read) of the longest row's length.
    auto windowTy = RankedTensorType::get({longest}, rewriter.getI8Type());
    Value window = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(windowTy, rewriter.getI8IntegerAttr(0)));
    Value x = collapseTo2D(rewriter, loc, adaptor.getInput());
    auto xTy = cast<RankedTensorType>(x.getType());
    auto accTy = RankedTensorType::get({xTy.getDimSize(0), n}, f32);
    Value acc = biasOrZeros(rewriter, loc, adaptor.getBias(), x, accTy);
    auto mm = linalg::GenericOp::create(
        rewriter, loc, accTy, ValueRange{beginC, endC, window}, ValueRange{acc},
        ArrayRef<AffineMap>{mapOf(ctx, 3, {1}), mapOf(ctx, 3, {1}),
                            mapOf(ctx, 3, {2}), mapOf(ctx, 3, {0, 1})},
        iteratorsOf(2, 1), [&](OpBuilder &b, Location l, ValueRange args) {
          Value j = arith::IndexCastOp::create(
              b, l, i32, linalg::IndexOp::create(b, l, 2));
          Value at = arith::AddIOp::create(b, l, args[0], j);
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, at,
                                            args[1]);
          Value safe = arith::IndexCastOp::create(
              b, l, idxTy,
              arith::SelectOp::create(
                  b, l, hit, at, arith::ConstantIntOp::create(b, l, 0, 32)));
          Value col = arith::IndexCastUIOp::create(
              b, l, idxTy,
              tensor::ExtractOp::create(b, l, colsC, ValueRange{safe}));
          Value v = tensor::ExtractOp::create(b, l, valsC, ValueRange{safe});
          Value xv = tensor::ExtractOp::create(
              b, l, x, ValueRange{linalg::IndexOp::create(b, l, 0), col});
          Value prod = arith::MulFOp::create(b, l, v, xv);
          Value zero = arith::ConstantOp::create(b, l, b.getZeroAttr(f32));
          Value term = arith::SelectOp::create(b, l, hit, prod, zero);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[3], term).getResult());
        });
    mm.setLibraryCallAttr(rewriter.getStringAttr("qopt_kernel_matmul_csr_f32"));
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, mm.getResult(0),
                                        adaptor.getInput(),
                                        op.getResult().getType()));
    return success();
  }
};

struct ConvertQOptToLinalgPass
    : mlir::qopt::impl::ConvertQOptToLinalgPassBase<ConvertQOptToLinalgPass> {
  using ConvertQOptToLinalgPassBase::ConvertQOptToLinalgPassBase;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<QOptDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQOptToLinalgPatterns(patterns, cpuSparse);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::qopt::populateQOptToLinalgPatterns(RewritePatternSet &patterns,
                                              bool cpuSparse) {
  patterns.add<LinearLowering, LoRALowering, QuantizeLowering,
               DequantizeLowering, FakeQuantLowering, ObserveLowering>(
      patterns.getContext());
  patterns.add<QLinearLowering>(patterns.getContext(), cpuSparse);
  populateBitLinearToLinalgPatterns(patterns);
  patterns.add<SparseLinearLowering>(patterns.getContext());
  if (cpuSparse)
    patterns.add<CsrLinearLowering>(patterns.getContext());
}
