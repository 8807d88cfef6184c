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

/// Whether `v` is ext(arg) of block argument `arg` (signed).
bool isSignExtOf(Value v, Value arg) {
  auto ext = v.getDefiningOp<arith::ExtSIOp>();
  return ext && ext.getIn() == arg;
}

/// The integer constant `v` holds, if it is one.
std::optional<int64_t> intConstant(Value v) {
  IntegerAttr attr;
  if (v && matchPattern(v, m_Constant(&attr)))
    return attr.getInt();
  return std::nullopt;
}

/// The value a fill of `buf` writes (linalg.fill of a constant, or an
/// input-less linalg.map yielding one).
std::optional<int64_t> fillValueOf(Operation *op, Value buf) {
  if (auto f = dyn_cast<linalg::FillOp>(op))
    return f.getOutputs().front() == buf ? intConstant(f.getInputs().front())
                                         : std::nullopt;
  if (auto map = dyn_cast<linalg::MapOp>(op)) {
    if (!map.getInputs().empty() || map.getInit() != buf)
      return std::nullopt;
    auto yield = cast<linalg::YieldOp>(map.getMapper().front().getTerminator());
    return intConstant(yield.getOperand(0));
  }
  return std::nullopt;
}

/// The int8 padded input: %p [N, G, H + pads, W + pads] filled with the
/// zero point, %x copied into its interior, %p read only by the conv
/// (through `view`).
struct PadS8 {
  Value x, padded;
  int64_t top = 0, left = 0, value = 0;
  Operation *fill = nullptr;
  memref::CopyOp copy;
  memref::SubViewOp interior;
};

std::optional<PadS8> matchPaddingS8(Value view, Operation *conv) {
  auto expand = view.getDefiningOp<memref::ExpandShapeOp>();
  if (!expand || !expand->hasOneUse())
    return std::nullopt;
  Value p = expand.getSrc();
  if (!p.getDefiningOp<memref::AllocOp>() ||
      cast<MemRefType>(p.getType()).getRank() != 4)
    return std::nullopt;
  PadS8 m;
  m.padded = p;
  for (Operation *user : p.getUsers()) {
    if (user == expand.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    if (user->getBlock() != conv->getBlock())
      return std::nullopt;
    if (auto sub = dyn_cast<memref::SubViewOp>(user)) {
      if (m.interior || !sub->hasOneUse())
        return std::nullopt;
      m.interior = sub;
      continue;
    }
    if (std::optional<int64_t> v = fillValueOf(user, p); v && !m.fill) {
      m.fill = user;
      m.value = *v;
      continue;
    }
    return std::nullopt;
  }
  if (!m.fill || !m.interior)
    return std::nullopt;
  m.copy = dyn_cast<memref::CopyOp>(*m.interior->getUsers().begin());
  if (!m.copy || m.copy.getTarget() != m.interior.getResult() ||
      m.copy->getBlock() != conv->getBlock() ||
      !m.fill->isBeforeInBlock(m.copy) || !m.copy->isBeforeInBlock(conv))
    return std::nullopt;
  // The interior: offsets [0, 0, top, left], the source's sizes, unit
  // strides.
  Value src = m.copy.getSource();
  auto srcTy = cast<MemRefType>(src.getType());
  if (srcTy.getRank() != 4 || !srcTy.getElementType().isInteger(8))
    return std::nullopt;
  ArrayRef<int64_t> offsets = m.interior.getStaticOffsets();
  ArrayRef<int64_t> strides = m.interior.getStaticStrides();
  if (offsets.size() != 4 || offsets[0] != 0 || offsets[1] != 0 ||
      ShapedType::isDynamic(offsets[2]) || ShapedType::isDynamic(offsets[3]) ||
      llvm::any_of(strides, [](int64_t s) { return s != 1; }))
    return std::nullopt;
  auto pTy = cast<MemRefType>(p.getType());
  auto subTy = m.interior.getType();
  for (int64_t d = 0; d < 4; ++d)
    if (subTy.getDimSize(d) != srcTy.getDimSize(d) ||
        (d < 2 && subTy.getDimSize(d) != pTy.getDimSize(d)))
      return std::nullopt;
  m.top = offsets[2];
  m.left = offsets[3];
  m.x = src;
  return m;
}

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
        fillValueOf(user, o5) == std::optional<int64_t>(0)) {
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
    // The padding, read from the unpadded input when it matches.
    std::optional<PadS8> pad = matchPaddingS8(x5, op);
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
                 constant(rows->first), constant(cols->first),
                 constant(rows->second), constant(cols->second)});
    if (pad) {
      SmallVector<Value> in = describe(pad->x, 1);
      args.append(in);
    } else {
      SmallVector<Value> in = describe(x5, 1);
      args.append({in[0], in[1], in[2], in[4], in[5]});
    }
    SmallVector<Value> w = describe(w5, 1);
    args.append({w[0], w[1], w[2], w[4], w[5]});
    if (!epi) {
      SmallVector<Value> o = describe(o5, 4);
      args.append(o);
    } else {
      const int8epi::Dequant &d = epi->d;
      SmallVector<Value> o = describe(epi->dst, d.toInt8 ? 1 : 4);
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

    StringLiteral name = epi ? kDequantKernel : kKernel;
    auto module = op->getParentOfType<ModuleOp>();
    auto kernel = module.lookupSymbol<func::FuncOp>(name);
    if (!kernel) {
      OpBuilder::InsertionGuard g(rewriter);
      rewriter.setInsertionPointToStart(module.getBody());
      SmallVector<Type> types(args.size(), rewriter.getI64Type());
      kernel = func::FuncOp::create(rewriter, module.getLoc(), name,
                                    rewriter.getFunctionType(types, {}));
      kernel.setPrivate();
    }
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
    if (pad) {
      rewriter.eraseOp(pad->copy);
      rewriter.eraseOp(pad->interior);
      rewriter.eraseOp(pad->fill);
      // The padded buffer, when nothing but its view and deallocation
      // is left.
      Value p = pad->padded;
      bool dead = llvm::all_of(p.getUsers(), [](Operation *u) {
        return isa<memref::DeallocOp>(u) ||
               (isa<memref::ExpandShapeOp>(u) && u->use_empty());
      });
      if (dead) {
        for (Operation *u : llvm::make_early_inc_range(p.getUsers()))
          rewriter.eraseOp(u);
        rewriter.eraseOp(p.getDefiningOp());
      }
    }
    return success();
  }
};

} // namespace

void mlir::qopt::populateDepthwiseConvS8KernelCallPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DepthwiseConvS8ToKernelCall>(patterns.getContext());
}
