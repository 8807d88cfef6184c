//===- DepthwiseConvS8.cpp - int8 depthwise convolutions as kernel calls --===//
//
// W8A8's depthwise convolutions (qopt-quantize, IntegerDepthwise.cpp) reach
// the buffer level as the importer's grouped generic over int8 operands:
//
//   linalg.generic (n, g, m, oh, ow, c, kh, kw)
//       ins(%x : [N, G, 1, H', W'] i8, %w : [G, M, 1, KH, KW] i8)
//       outs(%acc : [N, G, M, OH, OW] i32) { acc + ext(x) * ext(w) }
//
// on an input already padded (with its zero point). It becomes one call of
// qopt_kernel_conv2d_depthwise_s8 (lib/Runtime/DepthwiseKernels.cpp),
// which adds the exact integer sums to the accumulator as the generic does;
// the dequantizing epilogue stays the generated element-wise loop it fuses
// with.
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

constexpr StringLiteral kKernel = "qopt_kernel_conv2d_depthwise_s8";

/// Whether `v` is ext(arg) of block argument `arg` (signed).
bool isSignExtOf(Value v, Value arg) {
  auto ext = v.getDefiningOp<arith::ExtSIOp>();
  return ext && ext.getIn() == arg;
}

struct DepthwiseConvS8ToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getLibraryCall() ||
        op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
        op.getNumLoops() != 8)
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
    auto iters = op.getIteratorTypesArray();
    for (unsigned i = 0; i < 8; ++i)
      if (iters[i] != (i < 5 ? utils::IteratorType::parallel
                             : utils::IteratorType::reduction))
        return failure();
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    auto dimsAre = [](AffineMap m, ArrayRef<unsigned> want) {
      if (m.getNumResults() != want.size())
        return false;
      for (auto [e, d] : llvm::zip(m.getResults(), want)) {
        auto de = dyn_cast<AffineDimExpr>(e);
        if (!de || de.getPosition() != d)
          return false;
      }
      return true;
    };
    if (!dimsAre(maps[2], {0, 1, 2, 3, 4}) ||
        !dimsAre(maps[1], {1, 2, 5, 6, 7}) || maps[0].getNumResults() != 5 ||
        !dimsAre(maps[0].getSliceMap(0, 3), {0, 1, 5}))
      return failure();
    auto rows = qopt::convWindowIndex(maps[0].getResult(3), 8, 3, 6);
    auto cols = qopt::convWindowIndex(maps[0].getResult(4), 8, 4, 7);
    if (!rows || !cols)
      return failure();
    // Body: acc + extsi(x) * extsi(w), in i32.
    Block &body = op.getRegion().front();
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    auto add = yield.getOperand(0).getDefiningOp<arith::AddIOp>();
    if (!add || body.getOperations().size() != 5)
      return failure();
    Value acc = body.getArgument(2);
    Value prod = add.getLhs() == acc   ? add.getRhs()
                 : add.getRhs() == acc ? add.getLhs()
                                       : Value();
    auto mul = prod ? prod.getDefiningOp<arith::MulIOp>() : nullptr;
    Value a0 = body.getArgument(0), a1 = body.getArgument(1);
    if (!mul ||
        !((isSignExtOf(mul.getLhs(), a0) && isSignExtOf(mul.getRhs(), a1)) ||
          (isSignExtOf(mul.getLhs(), a1) && isSignExtOf(mul.getRhs(), a0))))
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
    // Address (bytes) and element strides of a buffer of `bytes`-wide
    // elements.
    auto describe = [&](Value memref, int64_t bytes) {
      auto meta =
          memref::ExtractStridedMetadataOp::create(rewriter, loc, memref);
      Value base =
          memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, memref);
      Value size = arith::ConstantIndexOp::create(rewriter, loc, bytes);
      Value offBytes =
          arith::MulIOp::create(rewriter, loc, meta.getOffset(), size);
      SmallVector<Value> out{
          i64(arith::AddIOp::create(rewriter, loc, base, offBytes))};
      for (Value s : meta.getStrides())
        out.push_back(i64(s));
      return out;
    };
    SmallVector<Value> args{dim(o5, 0),
                            dim(o5, 1),
                            dim(o5, 2),
                            dim(x5, 3),
                            dim(x5, 4),
                            dim(w5, 3),
                            dim(w5, 4),
                            dim(o5, 3),
                            dim(o5, 4),
                            constant(rows->first),
                            constant(cols->first),
                            constant(rows->second),
                            constant(cols->second)};
    SmallVector<Value> in = describe(x5, 1);
    args.append({in[0], in[1], in[2], in[4], in[5]});
    SmallVector<Value> w = describe(w5, 1);
    args.append({w[0], w[1], w[2], w[4], w[5]});
    SmallVector<Value> o = describe(o5, 4);
    args.append(o);

    auto module = op->getParentOfType<ModuleOp>();
    auto kernel = module.lookupSymbol<func::FuncOp>(kKernel);
    if (!kernel) {
      OpBuilder::InsertionGuard g(rewriter);
      rewriter.setInsertionPointToStart(module.getBody());
      SmallVector<Type> types(args.size(), rewriter.getI64Type());
      kernel = func::FuncOp::create(rewriter, module.getLoc(), kKernel,
                                    rewriter.getFunctionType(types, {}));
      kernel.setPrivate();
    }
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::qopt::populateDepthwiseConvS8KernelCallPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DepthwiseConvS8ToKernelCall>(patterns.getContext());
}
