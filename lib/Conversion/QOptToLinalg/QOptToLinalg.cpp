//===- QOptToLinalg.cpp - lower qopt ops to linalg on tensors -------------===//
//
// Graph-level lowering: every qopt op becomes upstream linalg/arith/math on
// tensors, so the rest of the CPU and GPU pipelines see only upstream IR.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Passes.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTTOLINALGPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// Scale and zero point of a per-tensor (no axis) or per-axis quantization,
/// with the clamping range.
struct AffineParams {
  SmallVector<double> scales;
  SmallVector<int64_t> zeroPoints;
  std::optional<int64_t> axis;
  int64_t qmin = 0, qmax = 0;
};

AffineParams paramsOf(quant::QuantizedType qTy) {
  AffineParams p;
  p.qmin = qTy.getStorageTypeMin();
  p.qmax = qTy.getStorageTypeMax();
  if (auto t = dyn_cast<quant::UniformQuantizedType>(qTy)) {
    p.scales.push_back(t.getScale());
    p.zeroPoints.push_back(t.getZeroPoint());
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
  if (p.axis) {
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
        Value scale = p.axis ? args[1] : scaleScalar;
        Value zp = p.axis ? args[2] : zpScalar;
        Value r = body(nb, nloc, args[0], scale, zp);
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

/// clamp(round_half_to_even(x / scale) + zp, qmin, qmax) in float; NaN maps
/// to the zero point.
Value quantizeInFloat(OpBuilder &b, Location loc, Value x, Value scale,
                      Value zp, FloatType floatTy, int64_t qmin, int64_t qmax) {
  Value v = arith::DivFOp::create(b, loc, x, scale);
  v = math::RoundEvenOp::create(b, loc, v);
  v = arith::AddFOp::create(b, loc, v, zp);
  v = arith::MaxNumFOp::create(b, loc, v, floatConst(b, loc, floatTy, qmin));
  v = arith::MinNumFOp::create(b, loc, v, floatConst(b, loc, floatTy, qmax));
  Value isNan = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  return arith::SelectOp::create(b, loc, isNan, zp, v);
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

    // Loops: batch dims d0..d(rank-2), n = d(rank-1), k = d(rank).
    SmallVector<std::pair<Value, int64_t>> dimSrc;
    for (int64_t i = 0; i + 1 < rank; ++i)
      dimSrc.push_back({x, i});
    dimSrc.push_back({w, 0});
    Value init = emptyTensor(rewriter, loc, outTy, dimSrc);

    SmallVector<AffineExpr> outExprs;
    for (int64_t i = 0; i < rank; ++i)
      outExprs.push_back(getAffineDimExpr(i, ctx));
    AffineExpr n = getAffineDimExpr(rank - 1, ctx);
    AffineExpr k = getAffineDimExpr(rank, ctx);

    Value acc;
    if (Value bias = adaptor.getBias()) {
      AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
      AffineMap biasMap = AffineMap::get(rank, 0, n, ctx);
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
      Value zero = arith::ConstantOp::create(
          rewriter, loc, rewriter.getZeroAttr(outTy.getElementType()));
      acc = linalg::FillOp::create(rewriter, loc, zero, init).getResult(0);
    }

    SmallVector<AffineExpr> inExprs(outExprs.begin(), outExprs.end() - 1);
    inExprs.push_back(k);
    AffineMap inMap = AffineMap::get(rank + 1, 0, inExprs, ctx);
    AffineMap wMap = AffineMap::get(rank + 1, 0, {n, k}, ctx);
    AffineMap outMap = AffineMap::get(rank + 1, 0, outExprs, ctx);
    SmallVector<utils::IteratorType> iters(rank + 1,
                                           utils::IteratorType::parallel);
    iters.back() = utils::IteratorType::reduction;
    auto matmul = linalg::GenericOp::create(
        rewriter, loc, outTy, ValueRange{x, w}, ValueRange{acc},
        ArrayRef<AffineMap>{inMap, wMap, outMap}, iters,
        [](OpBuilder &b, Location l, ValueRange args) {
          Value prod = arith::MulFOp::create(b, l, args[0], args[1]);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[2], prod).getResult());
        });
    rewriter.replaceOp(op, matmul.getResult(0));
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
          Value q = quantizeInFloat(b, l, castFloat(b, l, x, computeTy), s, zp,
                                    computeTy, p.qmin, p.qmax);
          Value centered = arith::SubFOp::create(b, l, q, zp);
          return castFloat(b, l, arith::MulFOp::create(b, l, centered, s),
                           floatTy);
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

struct ConvertQOptToLinalgPass
    : qopt::impl::ConvertQOptToLinalgPassBase<ConvertQOptToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<QOptDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQOptToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::qopt::populateQOptToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LinearLowering, QuantizeLowering, DequantizeLowering,
               FakeQuantLowering, ObserveLowering>(patterns.getContext());
}
