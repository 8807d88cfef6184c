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
#include "IntegerEpilogueMatch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qopt::int8epi;

namespace {

constexpr StringLiteral kKernel = "qopt_kernel_conv2d_nchw_s8_dequant";

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
