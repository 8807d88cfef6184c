//===- IntegerEpilogueMatch.h - int8 conv epilogues ------------*- C++ -*-===//
//
// What the int8 convolution kernel calls take over after their i32 sums:
// the dequantizing epilogue qopt-quantize / qopt-fold-qdq write
// (bias + f32(sum - corr) * scale, per channel) and qopt.quantize's
// lowering of its result to int8 (the next layer's input). Shared by
// IntegerConvEpilogue.cpp (qopt_kernel_conv2d_nchw_s8_dequant) and
// DepthwiseConvS8.cpp (qopt_kernel_conv2d_depthwise_s8_dequant).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_CONVERSION_KERNELCALLS_INTEGEREPILOGUEMATCH_H
#define QOPT_LIB_CONVERSION_KERNELCALLS_INTEGEREPILOGUEMATCH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"

#include <optional>

namespace mlir::qopt::int8epi {

struct Dequant {
  linalg::GenericOp consumer;
  OpOperand *sums;         // the consumer's operand reading them
  Value corr, scale, bias; // [F] buffers (bias: or null)
  float biasValue = 0;     // the bias when it is one constant
  Operation *sub, *toFloat, *mul, *add;
  bool whole; // the consumer computes only %v
  // It computes only qopt.quantize's lowering of %v to int8 (the next
  // integer layer's input): the kernel writes the int8 values.
  bool toInt8 = false;
  float qScale = 1, qLo = 0, qHi = 0, qZp = 0;
};

inline std::optional<float> f32Constant(Value v) {
  APFloat f(0.0f);
  if (!matchPattern(v, m_ConstantFloat(&f)) ||
      &f.getSemantics() != &APFloat::IEEEsingle())
    return std::nullopt;
  return f.convertToFloat();
}

/// `y` is qopt.quantize's lowering of `v` to int8 (QOptToLinalg):
///   t = roundeven(v / s); t = t < lo ? lo : t; t = t > hi ? hi : t;
///   q = isnan(v) ? zp : t + zp; fptosi q to i8
/// with constant s, lo, hi, zp. Fills them into `d`.
inline bool matchQuantize(Value y, Value v, Dequant &d) {
  auto toInt = y.getDefiningOp<arith::FPToSIOp>();
  if (!toInt || !toInt.getType().isInteger(8))
    return false;
  auto nanSel = toInt.getIn().getDefiningOp<arith::SelectOp>();
  if (!nanSel)
    return false;
  auto isNan = nanSel.getCondition().getDefiningOp<arith::CmpFOp>();
  if (!isNan || isNan.getPredicate() != arith::CmpFPredicate::UNO ||
      isNan.getLhs() != v || isNan.getRhs() != v)
    return false;
  std::optional<float> zp = f32Constant(nanSel.getTrueValue());
  auto plusZp = nanSel.getFalseValue().getDefiningOp<arith::AddFOp>();
  if (!zp || !plusZp || f32Constant(plusZp.getRhs()) != zp)
    return false;
  // A clamp: select(t pred bound, bound, t); returns t.
  auto clamped = [](Value x, arith::CmpFPredicate pred, float &bound) {
    auto sel = x.getDefiningOp<arith::SelectOp>();
    if (!sel)
      return Value();
    auto cmp = sel.getCondition().getDefiningOp<arith::CmpFOp>();
    std::optional<float> b = f32Constant(sel.getTrueValue());
    if (!cmp || !b || cmp.getPredicate() != pred ||
        cmp.getLhs() != sel.getFalseValue() || f32Constant(cmp.getRhs()) != b)
      return Value();
    bound = *b;
    return sel.getFalseValue();
  };
  Value low = clamped(plusZp.getLhs(), arith::CmpFPredicate::OGT, d.qHi);
  Value rounded =
      low ? clamped(low, arith::CmpFPredicate::OLT, d.qLo) : Value();
  auto round = rounded ? rounded.getDefiningOp<math::RoundEvenOp>() : nullptr;
  auto div =
      round ? round.getOperand().getDefiningOp<arith::DivFOp>() : nullptr;
  std::optional<float> s = div ? f32Constant(div.getRhs()) : std::nullopt;
  if (!s || div.getLhs() != v ||
      div.getFastmath() != arith::FastMathFlags::none)
    return false;
  d.qScale = *s;
  d.qZp = *zp;
  return true;
}

/// The [F] buffer `v` (a block argument of `g`) reads at the sums' channel
/// index `channel` (d1 for an element-wise epilogue).
inline Value perChannel(linalg::GenericOp g, Value v, Type elem,
                        AffineExpr channel) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != g.getBlock() ||
      arg.getArgNumber() >= g.getNumDpsInputs())
    return {};
  OpOperand *operand = g.getDpsInputOperand(arg.getArgNumber());
  auto ty = dyn_cast<MemRefType>(operand->get().getType());
  AffineMap map = g.getMatchingIndexingMap(operand);
  if (!ty || ty.getRank() != 1 || ty.getElementType() != elem ||
      map != AffineMap::get(g.getNumLoops(), 0, channel))
    return {};
  return operand->get();
}

template <typename OpTy> OpTy soleUser(Value v) {
  if (!v.hasOneUse())
    return {};
  return dyn_cast<OpTy>(*v.getUsers().begin());
}

/// The consumer may also be a loop nest the epilogue was fused into that
/// reads the sums through another map (a max pool over the activated
/// values): the kernel's f32 values are then read through that map.
inline std::optional<Dequant> matchDequant(linalg::GenericOp g, Value sums) {
  if (!g.hasPureBufferSemantics() ||
      llvm::any_of(g.getDpsInits(), [&](Value v) { return v == sums; }))
    return std::nullopt;
  Dequant d{};
  d.consumer = g;
  for (OpOperand *o : g.getDpsInputOperands())
    if (o->get() == sums) {
      if (d.sums)
        return std::nullopt;
      d.sums = o;
    }
  if (!d.sums)
    return std::nullopt;
  AffineMap sumsMap = g.getMatchingIndexingMap(d.sums);
  if (sumsMap.getNumResults() != 4 || !isa<AffineDimExpr>(sumsMap.getResult(1)))
    return std::nullopt;
  AffineExpr channel = sumsMap.getResult(1);
  MLIRContext *ctx = g.getContext();
  Type i32 = IntegerType::get(ctx, 32), f32 = Float32Type::get(ctx);
  BlockArgument acc = g.getMatchingBlockArgument(d.sums);
  auto sub = soleUser<arith::SubIOp>(acc);
  if (!sub || sub.getLhs() != acc ||
      !(d.corr = perChannel(g, sub.getRhs(), i32, channel)))
    return std::nullopt;
  auto toFloat = soleUser<arith::SIToFPOp>(sub.getResult());
  if (!toFloat || toFloat.getType() != f32)
    return std::nullopt;
  auto mul = soleUser<arith::MulFOp>(toFloat.getResult());
  if (!mul)
    return std::nullopt;
  Value scale =
      mul.getLhs() == toFloat.getResult() ? mul.getRhs() : mul.getLhs();
  auto add = soleUser<arith::AddFOp>(mul.getResult());
  if (!(d.scale = perChannel(g, scale, f32, channel)) || !add)
    return std::nullopt;
  Value bias = add.getLhs() == mul.getResult() ? add.getRhs() : add.getLhs();
  // A bias per channel, or one constant (a conv without bias: the zeros
  // the importer's init held, folded into the body).
  APFloat biasValue(0.0f);
  if (matchPattern(bias, m_ConstantFloat(&biasValue)) &&
      &biasValue.getSemantics() == &APFloat::IEEEsingle())
    d.biasValue = biasValue.convertToFloat();
  else if (!(d.bias = perChannel(g, bias, f32, channel)))
    return std::nullopt;
  // Only exact IEEE operations: fast-math flags would let the loop compute
  // something else than the kernel.
  if (mul.getFastmath() != arith::FastMathFlags::none ||
      add.getFastmath() != arith::FastMathFlags::none)
    return std::nullopt;
  d.sub = sub;
  d.toFloat = toFloat;
  d.mul = mul;
  d.add = add;
  auto yield = cast<linalg::YieldOp>(g.getBlock()->getTerminator());
  // The kernel writes what the consumer reads element-wise: an identity
  // map over the sums' 4 loops.
  bool oneOutput =
      sumsMap.isIdentity() && g.getNumLoops() == 4 && g.getNumDpsInits() == 1 &&
      g.getMatchingIndexingMap(g.getDpsInitOperand(0)).isIdentity();
  Type outElem =
      oneOutput
          ? cast<MemRefType>(g.getDpsInits()[0].getType()).getElementType()
          : Type();
  size_t numOps = g.getBlock()->getOperations().size();
  d.whole = oneOutput && outElem.isF32() && numOps == 5 &&
            yield.getOperand(0) == add.getResult();
  // The dequantization (4 ops), the quantization (10) and the yield.
  d.toInt8 = oneOutput && outElem.isInteger(8) && numOps == 15 &&
             matchQuantize(yield.getOperand(0), add.getResult(), d);
  return d;
}

} // namespace mlir::qopt::int8epi

#endif // QOPT_LIB_CONVERSION_KERNELCALLS_INTEGEREPILOGUEMATCH_H
