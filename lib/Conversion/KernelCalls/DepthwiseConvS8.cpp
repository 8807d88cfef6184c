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
// the generic does.
//
// When the sums feed nothing but their dequantizing epilogue over
// [N, F, OH, OW] (IntegerDepthwise.cpp's, read through the collapse of G
// and M), and that loop computes only act(bias + f32(sum - corr) * scale)
// (an activation of the float depthwise epilogue, or none) or that
// requantized to int8 for the next layer (qopt.quantize's lowering), the
// call is qopt_kernel_conv2d_depthwise_s8_dequant instead: it writes the
// loop's output (f32 or int8) itself, and the zero fill of the i32 sums,
// their buffer and the loop go (the matching of IntegerConvEpilogue.cpp,
// IntegerEpilogueMatch.h).
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"
#include "IntegerEpilogueMatch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

constexpr StringLiteral kKernel = "qopt_kernel_conv2d_depthwise_s8";
constexpr StringLiteral kDequantKernel =
    "qopt_kernel_conv2d_depthwise_s8_dequant";

/// Whether an op strictly between `from` and `to` (same block) that may
/// read or write memory uses a view of one of `buffers` (views themselves,
/// such as the collapse of the per-channel constants to [F], do not).
bool accessedBetween(Operation *from, Operation *to, ArrayRef<Value> buffers) {
  for (Operation *op = from->getNextNode(); op && op != to;
       op = op->getNextNode()) {
    if (isMemoryEffectFree(op))
      continue;
    WalkResult r = op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        if (isa<MemRefType>(v.getType()) &&
            llvm::is_contained(buffers, convBaseBuffer(v)))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return true;
  }
  return false;
}

/// The dequantizing epilogue the kernel takes over from the i32 sums `o5`
/// of `conv`: the buffer (a static allocation) is zero-filled before the
/// conv and read, collapsed to [N, F, OH, OW], by one element-wise generic
/// computing act(bias + f32(sum - corr) * scale) (f32 out) or its int8
/// quantization.
struct DwEpilogue {
  int8epi::Dequant d;
  ConvActivationMatch act;
  Value dst;
  Operation *fill = nullptr, *alloc = nullptr;
  memref::CollapseShapeOp collapse;
  SmallVector<Operation *> deallocs;
};

std::optional<DwEpilogue> matchDwEpilogue(linalg::GenericOp conv, Value o5) {
  auto alloc = o5.getDefiningOp<memref::AllocOp>();
  if (!alloc || !cast<MemRefType>(o5.getType()).hasStaticShape())
    return std::nullopt;
  DwEpilogue e;
  e.alloc = alloc;
  for (Operation *user : o5.getUsers()) {
    if (user == conv.getOperation())
      continue;
    if (isa<memref::DeallocOp>(user)) {
      e.deallocs.push_back(user);
      continue;
    }
    if (user->getBlock() != conv->getBlock())
      return std::nullopt;
    if (auto c = dyn_cast<memref::CollapseShapeOp>(user);
        c && !e.collapse && conv->isBeforeInBlock(c)) {
      e.collapse = c;
      continue;
    }
    if (!e.fill && user->isBeforeInBlock(conv) &&
        convIntFillValueOf(user, o5) == std::optional<int64_t>(0)) {
      e.fill = user;
      continue;
    }
    return std::nullopt;
  }
  SmallVector<ReassociationIndices> groups{{0}, {1, 2}, {3}, {4}};
  if (!e.fill || !e.collapse ||
      e.collapse.getReassociationIndices() != groups ||
      !e.collapse->hasOneUse())
    return std::nullopt;
  Value sums = e.collapse.getResult();
  auto g = dyn_cast<linalg::GenericOp>(*sums.getUsers().begin());
  if (!g || g->getBlock() != conv->getBlock())
    return std::nullopt;
  std::optional<int8epi::Dequant> d = int8epi::matchDequant(g, sums);
  if (!d || g.getNumLoops() != 4 || g.getNumDpsInits() != 1 ||
      !g.getMatchingIndexingMap(d->sums).isIdentity() ||
      !g.getMatchingIndexingMap(g.getDpsInitOperand(0)).isIdentity())
    return std::nullopt;
  e.dst = g.getDpsInits()[0];
  Type outElem = cast<MemRefType>(e.dst.getType()).getElementType();
  Value v = d->add->getResult(0);
  Value y = cast<linalg::YieldOp>(g.getBlock()->getTerminator()).getOperand(0);
  Value activated = y;
  d->toInt8 = false;
  if (outElem.isInteger(8)) {
    // y = quantize(activated): find `activated` from the NaN test.
    auto toInt = y.getDefiningOp<arith::FPToSIOp>();
    auto sel = toInt ? toInt.getIn().getDefiningOp<arith::SelectOp>() : nullptr;
    auto isNan =
        sel ? sel.getCondition().getDefiningOp<arith::CmpFOp>() : nullptr;
    if (!isNan)
      return std::nullopt;
    activated = isNan.getLhs();
    if (!int8epi::matchQuantize(y, activated, *d))
      return std::nullopt;
    d->toInt8 = true;
  } else if (!outElem.isF32()) {
    return std::nullopt;
  }
  e.act = convMatchActivation(activated);
  if (e.act.x != v)
    return std::nullopt;
  e.d = *d;
  return e;
}

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
    // The dequantizing epilogue. The call then runs where the epilogue
    // loop is: nothing in between may write what it reads, nor touch its
    // destination.
    std::optional<DwEpilogue> epi = matchDwEpilogue(op, o5);
    if (epi) {
      Value dstBase = convBaseBuffer(epi->dst);
      SmallVector<Value> involved{
          convBaseBuffer(pad ? pad->x : x5), convBaseBuffer(w5),
          convBaseBuffer(epi->d.corr), convBaseBuffer(epi->d.scale)};
      if (epi->d.bias)
        involved.push_back(convBaseBuffer(epi->d.bias));
      if (!llvm::all_of(
              involved,
              [&](Value v) { return convDistinctBuffers(dstBase, v); }) ||
          (pad && !convDistinctBuffers(dstBase, convBaseBuffer(pad->padded))))
        epi.reset();
      involved.push_back(dstBase);
      if (epi && accessedBetween(op, epi->d.consumer, involved))
        epi.reset();
      if (epi && pad &&
          accessedBetween(pad->copy, epi->d.consumer, {convBaseBuffer(pad->x)}))
        epi.reset();
    }
    if (epi)
      rewriter.setInsertionPoint(epi->d.consumer);
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
    if (!epi) {
      SmallVector<Value> o = describe(o5);
      args.append(o);
    } else {
      const int8epi::Dequant &d = epi->d;
      // f32 or, requantized (toInt8), int8: the width from its type.
      SmallVector<Value> o = describe(epi->dst);
      args.append(o);
      for (Value v : {d.corr, d.scale, d.bias}) {
        if (!v) {
          args.append({constant(0), constant(0)});
          continue;
        }
        auto [address, stride] = vectorKernelArgs(rewriter, loc, v);
        args.append({address, stride});
      }
      auto bits = [&](float v) {
        return constant(int64_t(llvm::bit_cast<uint32_t>(v)));
      };
      args.append({bits(d.biasValue), constant(int64_t(epi->act.act)),
                   bits(epi->act.alpha), bits(epi->act.beta),
                   constant(d.toInt8)});
      auto qBits = [&](float v) { return d.toInt8 ? bits(v) : constant(0); };
      args.append({qBits(d.qScale), qBits(d.qLo), qBits(d.qHi), qBits(d.qZp)});
    }

    func::FuncOp kernel = declareKernelFunc(
        rewriter, op, epi ? kDequantKernel : kKernel, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    if (epi) {
      rewriter.eraseOp(epi->d.consumer);
      rewriter.eraseOp(epi->collapse);
      rewriter.eraseOp(epi->fill);
      for (Operation *dealloc : epi->deallocs)
        rewriter.eraseOp(dealloc);
      rewriter.eraseOp(epi->alloc);
    }
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
