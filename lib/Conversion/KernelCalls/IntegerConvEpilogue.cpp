//===- IntegerConvEpilogue.cpp - int8 convs with a dequantizing epilogue --===//
//
// An int8 convolution of qopt-fold-qdq / qopt-quantize (lib/Dialect/QOpt/
// Transforms/IntegerConv.cpp) bufferizes to
//
//   %sums = memref.alloc() : memref<NxFxHxWxi32>
//   linalg.fill ins(%c0_i32) outs(%sums)
//   linalg.conv_2d_nchw_fchw ins(%x, %w : i8, i8) outs(%sums)
//   linalg.generic ins(%sums, %bias, %corr, %scale[, ...]) outs(%dst ...) {
//     %a = arith.subi %sum, %corr        // corr, scale, bias: [F] (d1);
//                                        // bias also a constant
//     %f = arith.sitofp %a
//     %m = arith.mulf %f, %scale
//     %v = arith.addf %bias, %m
//     ... (more element-wise ops on %v: the requantizing pairs fused in)
//   }
//
// qopt_kernel_conv2d_nchw_s8_dequant computes %v for each output tile in
// registers (the same f32 product and sum, bit for bit) and writes f32:
// the i32 buffer, its zero fill and (when the generic computes only %v)
// the epilogue loop go. A generic that goes on from %v reads the kernel's
// f32 output in place of the sums. A constant filter (memref.get_global)
// is flagged: the kernel rearranges it once. The
// arguments after the convolution's: corr, scale and bias (address and
// stride each; bias address 0 when it is a constant), the constant bias's
// f32 bits, the filter flag, then the requantization: a generic that
// computes nothing but qopt.quantize's lowering of %v to int8 (the next
// int8 layer's input) goes too, the kernel writing its int8 output (flag,
// scale, clamp bounds, zero point as f32 bits; 0s otherwise).
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

namespace {

constexpr StringLiteral kKernel = "qopt_kernel_conv2d_nchw_s8_dequant";

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

std::optional<float> f32Constant(Value v) {
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
bool matchQuantize(Value y, Value v, Dequant &d) {
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
Value perChannel(linalg::GenericOp g, Value v, Type elem, AffineExpr channel) {
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
std::optional<Dequant> matchDequant(linalg::GenericOp g, Value sums) {
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
      sumsMap.isIdentity() && g.getNumLoops() == 4 &&
      g.getNumDpsInits() == 1 &&
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

struct IntegerConvDequantToKernelCall
    : OpRewritePattern<linalg::Conv2DNchwFchwOp> {
  // Before ConvToKernelCall, which would call the plain int8 kernel.
  IntegerConvDequantToKernelCall(MLIRContext *ctx)
      : OpRewritePattern(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(linalg::Conv2DNchwFchwOp conv,
                                PatternRewriter &rewriter) const override {
    if (!conv.hasPureBufferSemantics())
      return failure();
    Value in = conv.getDpsInputOperand(0)->get();
    Value filter = conv.getDpsInputOperand(1)->get();
    Value sums = conv.getDpsInitOperand(0)->get();
    auto elem = [](Value v) {
      return cast<MemRefType>(v.getType()).getElementType();
    };
    if (!elem(in).isInteger(8) || !elem(filter).isInteger(8) ||
        !elem(sums).isInteger(32))
      return failure();
    auto alloc = sums.getDefiningOp<memref::AllocOp>();
    if (!alloc)
      return failure();
    Operation *init = nullptr;
    linalg::GenericOp consumer;
    SmallVector<Operation *> deallocs;
    for (Operation *user : sums.getUsers()) {
      if (user == conv.getOperation())
        continue;
      if (isa<memref::DeallocOp>(user)) {
        deallocs.push_back(user);
        continue;
      }
      if (user->getBlock() != conv->getBlock())
        return failure();
      if (user->isBeforeInBlock(conv)) {
        if (init)
          return failure();
        init = user;
        continue;
      }
      auto g = dyn_cast<linalg::GenericOp>(user);
      if (!g || consumer)
        return failure();
      consumer = g;
    }
    auto fill = dyn_cast_or_null<linalg::FillOp>(init);
    if (!fill || fill.getOutputs().front() != sums ||
        !matchPattern(fill.getInputs().front(), m_Zero()) || !consumer)
      return failure();
    std::optional<Dequant> d = matchDequant(consumer, sums);
    if (!d)
      return failure();
    // The call runs where the consumer is: nothing in between may write
    // what it reads (or, for a whole epilogue, touch its destination).
    SmallVector<Value> involved{
        qopt::convBaseBuffer(in), qopt::convBaseBuffer(filter),
        qopt::convBaseBuffer(d->corr), qopt::convBaseBuffer(d->scale)};
    if (d->bias)
      involved.push_back(qopt::convBaseBuffer(d->bias));
    Value dst;
    if (d->whole || d->toInt8) {
      dst = consumer.getDpsInits()[0];
      Value base = qopt::convBaseBuffer(dst);
      if (!llvm::all_of(involved, [&](Value v) {
            return qopt::convDistinctBuffers(base, v);
          }))
        return failure();
      involved.push_back(base);
    }
    if (qopt::convTouchedBetween(conv, consumer, involved))
      return failure();

    Location loc = conv.getLoc();
    auto sumsTy = cast<MemRefType>(sums.getType());
    auto f32Ty = MemRefType::get(sumsTy.getShape(), rewriter.getF32Type());
    if (!d->whole && !d->toInt8) {
      // The kernel's f32 output, where the sums were allocated.
      rewriter.setInsertionPoint(alloc);
      dst = memref::AllocOp::create(rewriter, alloc.getLoc(), f32Ty,
                                    alloc.getDynamicSizes(),
                                    alloc.getAlignmentAttr());
      for (Operation *dealloc : deallocs) {
        rewriter.setInsertionPoint(dealloc);
        memref::DeallocOp::create(rewriter, dealloc->getLoc(), dst);
      }
    }
    rewriter.setInsertionPoint(consumer);
    SmallVector<Value> args = qopt::convKernelArgs(
        rewriter, loc, in, filter, dst, conv.getStrides(), conv.getDilations());
    auto i64 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(rewriter, loc, v, 64);
    };
    for (Value v : {d->corr, d->scale, d->bias}) {
      if (!v) {
        args.append({i64(0), i64(0)});
        continue;
      }
      auto [address, stride] = qopt::vectorKernelArgs(rewriter, loc, v);
      args.append({address, stride});
    }
    args.push_back(i64(int64_t(llvm::bit_cast<uint32_t>(d->biasValue))));
    // A constant filter (a global) is rearranged once by the kernel.
    bool constant =
        qopt::convBaseBuffer(filter).getDefiningOp<memref::GetGlobalOp>() !=
        nullptr;
    args.push_back(i64(constant));
    // Requantization to int8 (flag, then scale, bounds, zero point bits).
    auto bits = [&](float v) {
      return i64(d->toInt8 ? llvm::bit_cast<uint32_t>(v) : 0);
    };
    args.append({i64(d->toInt8), bits(d->qScale), bits(d->qLo), bits(d->qHi),
                 bits(d->qZp)});
    auto module = conv->getParentOfType<ModuleOp>();
    auto kernel = module.lookupSymbol<func::FuncOp>(kKernel);
    if (!kernel) {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(module.getBody());
      SmallVector<Type> types(args.size(), rewriter.getI64Type());
      kernel = func::FuncOp::create(rewriter, module.getLoc(), kKernel,
                                    rewriter.getFunctionType(types, {}));
      kernel.setPrivate();
    }
    func::CallOp::create(rewriter, loc, kernel, args);

    if (d->whole || d->toInt8) {
      rewriter.eraseOp(consumer);
    } else {
      // The consumer goes on from the f32 values instead of the sums.
      BlockArgument acc = consumer.getMatchingBlockArgument(d->sums);
      rewriter.modifyOpInPlace(consumer, [&] {
        d->sums->set(dst);
        acc.setType(rewriter.getF32Type());
      });
      rewriter.replaceAllUsesWith(d->add->getResult(0), acc);
      for (Operation *op : {d->add, d->mul, d->toFloat, d->sub})
        rewriter.eraseOp(op);
    }
    for (Operation *dealloc : deallocs)
      rewriter.eraseOp(dealloc);
    rewriter.eraseOp(fill);
    rewriter.eraseOp(conv);
    rewriter.eraseOp(alloc);
    return success();
  }
};

} // namespace

void mlir::qopt::populateIntegerConvEpiloguePatterns(
    RewritePatternSet &patterns) {
  patterns.add<IntegerConvDequantToKernelCall>(patterns.getContext());
}
