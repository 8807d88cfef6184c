//===- DepthwiseConv.cpp - depthwise convolutions as kernel calls ---------===//
//
// The importer's grouped convolution with one input channel per group
// (lib/Import/ONNX/Ops/Conv.cpp, groupedConv) reaches the buffer level as
//
//   %p = memref.alloc() : [N, G, H + pads, W + pads]        // the padding
//   linalg.map outs(%p) { yield 0 }      (or linalg.fill 0)
//   memref.copy %x, subview %p[0, 0, pt, pl] [N, G, H, W] [1, 1, 1, 1]
//   %out = memref.alloc() : [N, F, OH, OW]
//   linalg.fill 0 / linalg.broadcast %bias -> %out (or its [N, G, M, ..] view)
//   linalg.generic (n, g, m, oh, ow, c, kh, kw) ins(expand %p, expand %w)
//       outs(expand %out) { out + x * w }
//   linalg.generic ins(%out[, %res]) outs(%dst) { act(x [+ r]) }
//
// All of it becomes one call of qopt_kernel_conv2d_depthwise_f32
// (lib/Runtime/DepthwiseKernels.cpp): the kernel reads %x unpadded (the
// padded buffer, its fill and copy go), starts from the bias (the init
// goes) and applies the element-wise consumer (ConvEpilogue.h's matcher)
// to its results. Each absorption has its own conditions; when one fails
// that part stays as it was (the copy, the init, the consumer), and the
// kernel then reads the padded buffer / adds to the output.
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

constexpr StringLiteral kDepthwiseKernel = "qopt_kernel_conv2d_depthwise_f32";

struct DepthwiseConvToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<GroupedConvWindow> window = matchGroupedConvGeneric(op);
    if (!window)
      return failure();
    for (Value v : op->getOperands()) {
      auto t = dyn_cast<MemRefType>(v.getType());
      if (!t || !t.getElementType().isF32())
        return failure();
    }
    Value x5 = op.getDpsInputOperand(0)->get();
    Value w5 = op.getDpsInputOperand(1)->get();
    Value o5 = op.getDpsInitOperand(0)->get();
    if (cast<MemRefType>(x5.getType()).getDimSize(2) != 1)
      return rewriter.notifyMatchFailure(op, "not depthwise");
    auto [rows, cols] = *window;
    // Body: out + x * w.
    if (!isConvMulAccBody(op.getRegion().front(), /*int8=*/false))
      return failure();

    // The padding.
    std::optional<ConvPadMatch> pad = matchConvPadding(x5, op, /*int8=*/false);
    // (%p's other users were checked: the views between are its own.)
    if (pad && convTouchedBetween(pad->copy, op, {convBaseBuffer(pad->x)}))
      pad.reset();

    // The output: [N, F, OH, OW] allocation viewed as [N, G, M, OH, OW].
    Value out4;
    if (auto e = o5.getDefiningOp<memref::ExpandShapeOp>();
        e && e.getSrc().getDefiningOp<memref::AllocOp>() &&
        cast<MemRefType>(e.getSrc().getType()).getRank() == 4)
      out4 = e.getSrc();
    ConvEpilogueMatch m;
    Operation *init = nullptr;
    bool initOk = false;
    if (out4) {
      SmallVector<linalg::GenericOp> readers;
      int others = 0;
      Block *block = op->getBlock();
      SmallVector<Operation *> users(out4.getUsers());
      for (Operation *u : o5.getUsers())
        if (u != op.getOperation())
          users.push_back(u);
      for (Operation *user : users) {
        if (user == o5.getDefiningOp() || user == op.getOperation() ||
            isa<memref::DeallocOp>(user))
          continue;
        if (user->getBlock() != block) {
          ++others;
          continue;
        }
        if (user->isBeforeInBlock(op)) {
          if (init)
            ++others;
          init = user;
          continue;
        }
        auto g = dyn_cast<linalg::GenericOp>(user);
        if (g && g.getDpsInitOperand(0)->get() != out4 &&
            !llvm::is_contained(g->getOperands(), o5))
          readers.push_back(g);
        else
          ++others;
      }
      if (init && others == 0) {
        if (convZeroInitOf(init, out4) || convZeroInitOf(init, o5)) {
          initOk = true;
        } else if (auto b = dyn_cast<linalg::BroadcastOp>(init)) {
          auto biasTy = dyn_cast<MemRefType>(b.getInput().getType());
          if (biasTy && biasTy.getRank() == 1 && b.getInit() == out4 &&
              b.getDimensions() == ArrayRef<int64_t>{0, 2, 3}) {
            initOk = true;
            m.bias = b.getInput();
          }
        }
      }
      m.dst = out4;
      if (initOk && readers.size() == 1 &&
          matchConvConsumer(readers.front(), out4, m) && !m.gated) {
        Value dst = convBaseBuffer(m.dst);
        Value in = convBaseBuffer(pad ? pad->x : x5);
        Value filter = convBaseBuffer(w5);
        SmallVector<Value> involved{in, filter, dst};
        bool ok = convDistinctBuffers(dst, in) &&
                  convDistinctBuffers(dst, filter) &&
                  (!m.bias || convDistinctBuffers(dst, convBaseBuffer(m.bias)));
        if (m.bias)
          involved.push_back(convBaseBuffer(m.bias));
        if (m.residual) {
          Value res = convBaseBuffer(m.residual);
          ok = ok && convDistinctBuffers(res, dst);
          involved.push_back(res);
        }
        if (!ok || convTouchedBetween(op, m.consumer, involved)) {
          m.consumer = {};
          m.residual = {};
          m.dst = out4;
          m.act = ConvEpilogueAct::None;
          m.alpha = m.beta = 0;
        }
      } else {
        m.consumer = {};
        m.residual = {};
        m.gated = false;
        m.dst = out4;
        m.act = ConvEpilogueAct::None;
        m.alpha = m.beta = 0;
      }
    }

    Location loc = op.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    if (m.consumer)
      rewriter.setInsertionPoint(m.consumer);
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
    struct Buf {
      Value address;
      SmallVector<Value> strides;
    };
    auto describe = [&](Value memref) {
      SmallVector<Value> a = kernelBufferArgs(rewriter, loc, memref);
      return Buf{a.front(), SmallVector<Value>(llvm::drop_begin(a))};
    };
    Value mult = dim(o5, 2);
    SmallVector<Value> args{dim(o5, 0), dim(o5, 1), mult};
    Buf in;
    if (pad) {
      args.append({dim(pad->x, 2), dim(pad->x, 3), constant(pad->top),
                   constant(pad->left)});
      in = describe(pad->x);
    } else {
      args.append({dim(x5, 3), dim(x5, 4), constant(0), constant(0)});
      Buf b = describe(x5);
      in = {b.address,
            {b.strides[0], b.strides[1], b.strides[3], b.strides[4]}};
    }
    args.append({dim(w5, 3), dim(w5, 4), dim(o5, 3), dim(o5, 4),
                 constant(rows.first), constant(cols.first),
                 constant(rows.second), constant(cols.second)});
    args.push_back(in.address);
    args.append(in.strides);
    Buf w = describe(w5);
    args.append(
        {w.address, w.strides[0], w.strides[1], w.strides[3], w.strides[4]});
    if (m.consumer) {
      Buf d = describe(m.dst);
      Value outG = arith::MulIOp::create(rewriter, loc, d.strides[1], mult);
      args.append({d.address, d.strides[0], outG, d.strides[1], d.strides[2],
                   d.strides[3]});
    } else {
      Buf o = describe(o5);
      args.push_back(o.address);
      args.append(o.strides);
    }
    Value zero = constant(0);
    if (m.bias) {
      Buf b = describe(m.bias);
      args.append({b.address, b.strides[0]});
    } else {
      args.append({zero, zero});
    }
    auto bits = [&](float v) {
      return constant(int64_t(llvm::bit_cast<uint32_t>(v)));
    };
    args.append({constant(int64_t(m.act)), bits(m.alpha), bits(m.beta)});
    if (m.residual) {
      Buf r = describe(m.residual);
      args.push_back(r.address);
      args.append(r.strides);
    } else {
      args.append({zero, zero, zero, zero, zero});
    }
    args.push_back(constant(initOk ? 0 : 1));

    func::FuncOp kernel =
        declareKernelFunc(rewriter, op, kDepthwiseKernel, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);

    // What the call took over.
    if (m.consumer)
      rewriter.eraseOp(m.consumer);
    if (initOk)
      rewriter.eraseOp(init);
    rewriter.eraseOp(op);
    if (pad)
      eraseConvPadding(rewriter, *pad);
    if (m.consumer)
      convEraseIfDead(rewriter, out4);
    return success();
  }
};

} // namespace

void mlir::qopt::populateDepthwiseConvKernelCallPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DepthwiseConvToKernelCall>(patterns.getContext());
}
