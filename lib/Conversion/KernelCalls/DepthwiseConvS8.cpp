//===- DepthwiseConvS8.cpp - int8 depthwise convolutions as kernel calls --===//
//
// W8A8's depthwise convolutions (qopt-quantize, IntegerDepthwise.cpp) reach
// the buffer level as the importer's grouped generic over int8 operands:
//
//   linalg.generic (n, g, m, oh, ow, c, kh, kw)
//       ins(%x : [N, G, 1, H', W'] i8, %w : [G, M, 1, KH, KW] i8)
//       outs(%acc : [N, G, M, OH, OW] i32) { acc + ext(x) * ext(w) }
//
// on an input padded with its zero point (a buffer filled with it, the
// unpadded input copied into its interior). It becomes one call of
// qopt_kernel_conv2d_depthwise_s8 (lib/Runtime/DepthwiseKernels.cpp),
// which reads the unpadded input with the padding value implicit (the
// fill and copy go) and adds the exact integer sums to the accumulator as
// the generic does; the dequantizing epilogue stays the generated
// element-wise loop it fuses with.
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

constexpr StringLiteral kKernel = "qopt_kernel_conv2d_depthwise_s8";

struct DepthwiseConvS8ToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<GroupedConvWindow> window = matchGroupedConvGeneric(op);
    if (!window)
      return failure();
    Value x5 = op.getDpsInputOperand(0)->get();
    Value w5 = op.getDpsInputOperand(1)->get();
    Value o5 = op.getDpsInitOperand(0)->get();
    auto xTy = dyn_cast<MemRefType>(x5.getType());
    auto wTy = dyn_cast<MemRefType>(w5.getType());
    auto oTy = dyn_cast<MemRefType>(o5.getType());
    if (!xTy || !wTy || !oTy || !xTy.getElementType().isInteger(8) ||
        !wTy.getElementType().isInteger(8) ||
        !oTy.getElementType().isInteger(32) || xTy.getRank() != 5 ||
        wTy.getRank() != 5 || oTy.getRank() != 5 || xTy.getDimSize(2) != 1)
      return failure();
    auto [rows, cols] = *window;
    // Body: acc + extsi(x) * extsi(w), in i32.
    if (!isConvMulAccBody(op.getRegion().front(), /*int8=*/true))
      return failure();

    Location loc = op.getLoc();
    auto i64 = [&](Value idx) -> Value {
      return arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                        idx);
    };
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(rewriter, loc, v, 64);
    };
    auto dim = [&](Value v, int64_t d) {
      return i64(getValueOrCreateConstantIndexOp(
          rewriter, loc, memref::getMixedSize(rewriter, loc, v, d)));
    };
    auto describe = [&](Value memref) {
      return kernelBufferArgs(rewriter, loc, memref);
    };
    // The padding, read from the unpadded input when it matches.
    std::optional<ConvPadMatch> pad = matchConvPadding(x5, op, /*int8=*/true);
    if (pad && convTouchedBetween(pad->copy, op, {convBaseBuffer(pad->x)}))
      pad.reset();
    SmallVector<Value> args{dim(o5, 0), dim(o5, 1), dim(o5, 2)};
    if (pad)
      args.append({dim(pad->x, 2), dim(pad->x, 3), constant(pad->top),
                   constant(pad->left), constant(pad->value)});
    else
      args.append(
          {dim(x5, 3), dim(x5, 4), constant(0), constant(0), constant(0)});
    args.append({dim(w5, 3), dim(w5, 4), dim(o5, 3), dim(o5, 4),
                 constant(rows.first), constant(cols.first),
                 constant(rows.second), constant(cols.second)});
    if (pad) {
      SmallVector<Value> in = describe(pad->x);
      args.append(in);
    } else {
      SmallVector<Value> in = describe(x5);
      args.append({in[0], in[1], in[2], in[4], in[5]});
    }
    SmallVector<Value> w = describe(w5);
    args.append({w[0], w[1], w[2], w[4], w[5]});
    SmallVector<Value> o = describe(o5);
    args.append(o);

    func::FuncOp kernel = declareKernelFunc(rewriter, op, kKernel, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    if (pad)
      eraseConvPadding(rewriter, *pad);
    return success();
  }
};

} // namespace

void mlir::qopt::populateDepthwiseConvS8KernelCallPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DepthwiseConvS8ToKernelCall>(patterns.getContext());
}
