//===- LinalgToKernelCalls.cpp - matmuls and convs as runtime calls -------===//
//
// Contractions and convolutions are where inference time goes; the runtime
// has packed, register-tiled, multi-threaded kernels for them (IREE calls
// these ukernels). This pass hands matching ops on buffers to them and
// leaves everything else to generated loops.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Passes.h"

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTLINALGTOKERNELCALLSPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr StringLiteral kMatmulKernel = "qopt_kernel_matmul_f32";
constexpr StringLiteral kMatmulKernelFused = "qopt_kernel_matmul_f32_fused";
constexpr StringLiteral kConvKernel = "qopt_kernel_conv2d_nchw_f32";
constexpr StringLiteral kConvKernelInt8 = "qopt_kernel_conv2d_nchw_s8";
constexpr StringLiteral kConvKernelFused = "qopt_kernel_conv2d_nchw_f32_fused";

/// Declares `void name(i64 x numArgs)` in the module once.
func::FuncOp declareKernel(PatternRewriter &rewriter, Operation *from,
                           StringRef name, unsigned numArgs) {
  return qopt::declareKernelFunc(rewriter, from, name, numArgs);
}

/// A memref's first-element address and element strides, as values.
using Buffer = qopt::KernelBuffer;

Buffer describeBuffer(PatternRewriter &rewriter, Location loc, Value memref) {
  return qopt::describeKernelBuffer(rewriter, loc, memref);
}
Value toI64(PatternRewriter &rewriter, Location loc, OpFoldResult v) {
  Value idx = getValueOrCreateConstantIndexOp(rewriter, loc, v);
  return arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), idx);
}

/// The buffers a kernel call passes (address and strides of each operand),
/// with its sizes and strides as i64 kernel arguments.
struct KernelOperands {
  KernelOperands(PatternRewriter &rewriter, Location loc, ValueRange operands)
      : rewriter(rewriter), loc(loc), operands(operands) {
    for (Value v : operands)
      bufs.push_back(describeBuffer(rewriter, loc, v));
  }
  /// Stride `d` of operand `o`, in elements.
  Value stride(unsigned o, unsigned d) {
    return arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                      bufs[o].strides[d])
        .getResult();
  }
  /// Size `d` of operand `o`.
  Value dim(unsigned o, unsigned d) {
    return toI64(rewriter, loc,
                 memref::getMixedSize(rewriter, loc, operands[o], d));
  }

  PatternRewriter &rewriter;
  Location loc;
  ValueRange operands;
  SmallVector<Buffer> bufs;
};

bool allF32(linalg::LinalgOp op) {
  return llvm::all_of(op->getOperands(), [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getElementType().isF32();
  });
}

/// The multiplication `mul` of a body yielding `acc + mul` (addf, `acc`
/// the last argument), or null.
arith::MulFOp accumulatedMulF(Block *body) {
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add)
    return {};
  BlockArgument acc = body->getArguments().back();
  Value other = add.getLhs() == acc   ? add.getRhs()
                : add.getRhs() == acc ? add.getLhs()
                                      : Value();
  return other ? other.getDefiningOp<arith::MulFOp>() : arith::MulFOp();
}

/// The body is exactly `acc + a * b` of the two inputs (in any order):
/// isaContractionOpInterface also accepts bodies with more ops between the
/// multiplication and the addition (e.g. a fused exp), which the kernels
/// would not compute.
bool isPlainMulAdd(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  if (body->getOperations().size() != 3)
    return false;
  arith::MulFOp mul = accumulatedMulF(body);
  if (!mul)
    return false;
  auto isInput = [&](Value v, unsigned i) { return v == body->getArgument(i); };
  return (isInput(mul.getLhs(), 0) && isInput(mul.getRhs(), 1)) ||
         (isInput(mul.getLhs(), 1) && isInput(mul.getRhs(), 0));
}

/// float16 / bfloat16 inputs of one type, the output of that type or
/// float32, body `acc + a * b` with the inputs possibly widened (extf):
/// qopt_cuda_matmul_h16's type code (0 f16, 1 bf16) and whether C is
/// float32. The kernels sum in float32 and round C once.
std::optional<std::pair<int, bool>> halfContraction(linalg::LinalgOp op) {
  auto elem = [&](unsigned i) -> Type {
    auto t = dyn_cast<MemRefType>(op->getOperand(i).getType());
    return t ? t.getElementType() : Type();
  };
  Type a = elem(0);
  if (!a || !(a.isF16() || a.isBF16()) || elem(1) != a ||
      !(elem(2) == a || (elem(2) && elem(2).isF32())))
    return std::nullopt;
  Block *body = op.getBlock();
  arith::MulFOp mul = accumulatedMulF(body);
  if (!mul)
    return std::nullopt;
  unsigned ops = 3;
  auto input = [&](Value v) -> int {
    if (auto ext = v.getDefiningOp<arith::ExtFOp>()) {
      v = ext.getIn();
      ++ops;
    }
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && arg.getOwner() == body && arg.getArgNumber() < 2
               ? int(arg.getArgNumber())
               : -1;
  };
  int l = input(mul.getLhs()), r = input(mul.getRhs());
  if (l < 0 || r < 0 || l == r || body->getOperations().size() != ops)
    return std::nullopt;
  return std::make_pair(a.isBF16() ? 1 : 0, elem(2).isF32());
}

struct ContractionToKernelCall : OpInterfaceRewritePattern<linalg::LinalgOp> {
  /// `fuse`: take over the output's init and consumer (the CPU runtime's
  /// qopt_kernel_matmul_f32_fused; the GPU's float matmul has no epilogue).
  /// `half`: float16 / bfloat16 contractions as qopt_cuda_matmul_h16 calls
  /// (GPU only) instead of float32 ones.
  ContractionToKernelCall(MLIRContext *ctx, bool fuse, bool half = false)
      : OpInterfaceRewritePattern(ctx), fuse(fuse && !half), half(half) {}
  bool fuse, half;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
      return failure();
    std::optional<std::pair<int, bool>> halfKind;
    if (half ? !(halfKind = halfContraction(op))
             : !allF32(op) || !isPlainMulAdd(op))
      return failure();
    FailureOr<linalg::ContractionDimensions> dims =
        linalg::inferContractionDims(op);
    if (failed(dims) || dims->k.size() != 1)
      return failure();
    // One M and one N dim go to the kernel; the rest (batch, extra M/N) are
    // its two outer loops.
    SmallVector<int64_t> outer(dims->batch.begin(), dims->batch.end());
    std::optional<unsigned> mDim, nDim;
    if (!dims->m.empty()) {
      mDim = dims->m.back();
      outer.append(dims->m.begin(), dims->m.end() - 1);
    }
    if (!dims->n.empty()) {
      nDim = dims->n.back();
      outer.append(dims->n.begin(), dims->n.end() - 1);
    }
    if (outer.size() > 2)
      return rewriter.notifyMatchFailure(op, "more than two outer dims");

    // The output's init (bias) and element-wise consumer (activation,
    // residual) go into the call when they match (MatmulEpilogue.cpp).
    std::optional<qopt::ConvEpilogueMatch> epi;
    if (fuse && nDim)
      epi = qopt::matchMatmulEpilogue(op, *nDim);
    Location loc = op.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    if (epi && epi->consumer)
      rewriter.setInsertionPoint(epi->consumer);
    SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
    SmallVector<Buffer> bufs;
    for (OpOperand &operand : op->getOpOperands())
      bufs.push_back(describeBuffer(
          rewriter, loc,
          epi && operand.getOperandNumber() == 2 ? epi->dst : operand.get()));
    Value zero = arith::ConstantIntOp::create(rewriter, loc, 0, 64);
    Value one = arith::ConstantIntOp::create(rewriter, loc, 1, 64);
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    // Stride of loop dim `d` in operand `o` (0 when it does not index it).
    auto strideOf = [&](unsigned o, std::optional<int64_t> d) -> Value {
      if (!d)
        return zero;
      for (auto [pos, expr] : llvm::enumerate(maps[o].getResults()))
        if (auto dimExpr = dyn_cast<AffineDimExpr>(expr))
          if (dimExpr.getPosition() == *d)
            return arith::IndexCastOp::create(
                rewriter, loc, rewriter.getI64Type(), bufs[o].strides[pos]);
      return zero;
    };
    auto sizeOf = [&](std::optional<int64_t> d) -> Value {
      return d ? toI64(rewriter, loc, ranges[*d].size) : one;
    };
    std::optional<int64_t> o0 =
        outer.size() > 0 ? std::optional<int64_t>(outer[0]) : std::nullopt;
    std::optional<int64_t> o1 =
        outer.size() > 1 ? std::optional<int64_t>(outer[1]) : std::nullopt;
    std::optional<int64_t> m = mDim, n = nDim, k = dims->k.front();
    SmallVector<Value> args{sizeOf(o0), sizeOf(o1), sizeOf(m), sizeOf(n),
                            sizeOf(k)};
    // A: (o0, o1, m, k); B: (o0, o1, k, n); C: (o0, o1, m, n).
    std::optional<int64_t> perOperand[3][4] = {
        {o0, o1, m, k}, {o0, o1, k, n}, {o0, o1, m, n}};
    for (unsigned o = 0; o < 3; ++o) {
      args.push_back(bufs[o].address);
      for (std::optional<int64_t> d : perOperand[o])
        args.push_back(strideOf(o, d));
    }
    // A constant B (a weight) is packed once by the kernel and reused.
    bool bConstant =
        op.getDpsInputOperand(1)->get().getDefiningOp<memref::GetGlobalOp>() !=
        nullptr;
    args.push_back(arith::ConstantIntOp::create(rewriter, loc, bConstant, 64));
    StringRef name = kMatmulKernel;
    if (halfKind) {
      // Type, float32 C, accumulate (C holds the init), stream.
      for (int64_t v : {int64_t(halfKind->first), int64_t(halfKind->second),
                        int64_t(1), int64_t(0)})
        args.push_back(arith::ConstantIntOp::create(rewriter, loc, v, 64));
      name = "qopt_cuda_matmul_h16";
    }
    if (epi) {
      // Bias [N] (stride), activation and its parameters (f32 bits),
      // residual (strides of o0, o1, m, n, indexed as C) or zeros.
      auto constant = [&](int64_t v) -> Value {
        return arith::ConstantIntOp::create(rewriter, loc, v, 64);
      };
      if (epi->bias) {
        Buffer b = describeBuffer(rewriter, loc, epi->bias);
        args.append({b.address,
                     arith::IndexCastOp::create(
                         rewriter, loc, rewriter.getI64Type(), b.strides[0])});
      } else {
        args.append({zero, zero});
      }
      args.append({constant(int64_t(epi->act)),
                   constant(int64_t(llvm::bit_cast<uint32_t>(epi->alpha))),
                   constant(int64_t(llvm::bit_cast<uint32_t>(epi->beta)))});
      if (epi->residual) {
        Buffer r = describeBuffer(rewriter, loc, epi->residual);
        args.push_back(r.address);
        for (std::optional<int64_t> d : perOperand[2]) {
          Value s = zero;
          if (d)
            for (auto [pos, expr] : llvm::enumerate(maps[2].getResults()))
              if (auto de = dyn_cast<AffineDimExpr>(expr);
                  de && de.getPosition() == *d)
                s = arith::IndexCastOp::create(
                    rewriter, loc, rewriter.getI64Type(), r.strides[pos]);
          args.push_back(s);
        }
      } else {
        args.append({zero, zero, zero, zero, zero});
      }
      args.push_back(constant(epi->gated ? 1 : 0));
      name = kMatmulKernelFused;
    }
    func::FuncOp kernel = declareKernel(rewriter, op, name, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    if (epi) {
      Value c = op.getDpsInitOperand(0)->get();
      if (epi->consumer)
        rewriter.eraseOp(epi->consumer);
      rewriter.eraseOp(epi->init);
      rewriter.eraseOp(op);
      if (epi->consumer && llvm::all_of(c.getUsers(), [](Operation *u) {
            return isa<memref::DeallocOp>(u);
          })) {
        for (Operation *u : llvm::make_early_inc_range(c.getUsers()))
          rewriter.eraseOp(u);
        rewriter.eraseOp(c.getDefiningOp());
      }
      return success();
    }
    rewriter.eraseOp(op);
    return success();
  }
};

/// Replaces an NCHW (or NCW, as H = 1) convolution on buffers by a call of
/// the conv kernel (f32, or int8 x int8 -> i32: qopt-quantize's W8A8
/// convolutions). A 1-D convolution passes its buffers with a unit H dim
/// (stride: that of a contiguous H of one row).
/// With `epi` (f32 2-D only), the call of the fused kernel that also takes
/// over the output's init op and element-wise consumer (ConvEpilogue.h):
/// it writes to `epi->dst`, at the consumer's position.
LogicalResult convToKernelCall(linalg::LinalgOp op,
                               DenseIntElementsAttr strides,
                               DenseIntElementsAttr dilations,
                               PatternRewriter &rewriter,
                               const qopt::ConvEpilogueMatch *epi = nullptr) {
  if (!op.hasPureBufferSemantics())
    return failure();
  auto elem = [&](unsigned i) {
    return cast<MemRefType>(op->getOperand(i).getType()).getElementType();
  };
  bool isInt8 =
      elem(0).isInteger(8) && elem(1).isInteger(8) && elem(2).isInteger(32);
  if (!isInt8 && !allF32(op))
    return failure();
  Location loc = op.getLoc();
  Value in = op.getDpsInputOperand(0)->get();
  Value filter = op.getDpsInputOperand(1)->get();
  Value out = op.getDpsInitOperand(0)->get();
  OpBuilder::InsertionGuard guard(rewriter);
  if (epi) {
    if (epi->consumer)
      rewriter.setInsertionPoint(epi->consumer);
    out = epi->dst;
  }
  SmallVector<Value> args =
      qopt::convKernelArgs(rewriter, loc, in, filter, out, strides, dilations);
  StringRef name = isInt8 ? kConvKernelInt8 : kConvKernel;
  if (epi) {
    // Bias [F] (stride), activation and its parameters (f32 bits),
    // residual (strides), accumulate = 0 (the init op is taken over).
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(rewriter, loc, v, 64);
    };
    auto bits = [&](float v) {
      return constant(int64_t(llvm::bit_cast<uint32_t>(v)));
    };
    Value zero = constant(0);
    if (epi->bias) {
      Buffer b = describeBuffer(rewriter, loc, epi->bias);
      args.append({b.address, arith::IndexCastOp::create(rewriter, loc,
                                                         rewriter.getI64Type(),
                                                         b.strides[0])});
    } else {
      args.append({zero, zero});
    }
    args.append(
        {constant(int64_t(epi->act)), bits(epi->alpha), bits(epi->beta)});
    if (epi->residual) {
      Buffer b = describeBuffer(rewriter, loc, epi->residual);
      args.push_back(b.address);
      for (Value s : b.strides)
        args.push_back(arith::IndexCastOp::create(rewriter, loc,
                                                  rewriter.getI64Type(), s));
    } else {
      args.append({zero, zero, zero, zero, zero});
    }
    args.push_back(zero);
    name = kConvKernelFused;
  }
  func::FuncOp kernel = declareKernel(rewriter, op, name, args.size());
  func::CallOp::create(rewriter, loc, kernel, args);
  if (epi) {
    if (epi->consumer)
      rewriter.eraseOp(epi->consumer);
    // The conv's own buffer goes too if nothing else reads it.
    Value buffer = op.getDpsInitOperand(0)->get();
    rewriter.eraseOp(epi->init);
    rewriter.eraseOp(op);
    if (llvm::all_of(buffer.getUsers(),
                     [](Operation *u) { return isa<memref::DeallocOp>(u); })) {
      for (Operation *u : llvm::make_early_inc_range(buffer.getUsers()))
        rewriter.eraseOp(u);
      rewriter.eraseOp(buffer.getDefiningOp());
    }
    return success();
  }
  rewriter.eraseOp(op);
  return success();
}

} // namespace

SmallVector<Value> mlir::qopt::convKernelArgs(PatternRewriter &rewriter,
                                              Location loc, Value in,
                                              Value filter, Value out,
                                              DenseIntElementsAttr strides,
                                              DenseIntElementsAttr dilations) {
  bool oneD = cast<MemRefType>(in.getType()).getRank() == 3;
  Value one = arith::ConstantIntOp::create(rewriter, loc, 1, 64);
  auto dim = [&](Value v, int64_t i) {
    return toI64(rewriter, loc, memref::getMixedSize(rewriter, loc, v, i));
  };
  // [N, C, H, W] sizes; a 1-D operand's H is 1 and its W its last dim.
  auto dim4 = [&](Value v, int64_t i) -> Value {
    if (!oneD)
      return dim(v, i);
    return i == 2 ? one : dim(v, i == 3 ? 2 : i);
  };
  SmallVector<Value> args{dim4(in, 0),     dim4(in, 1),     dim4(in, 2),
                          dim4(in, 3),     dim4(filter, 0), dim4(filter, 2),
                          dim4(filter, 3), dim4(out, 2),    dim4(out, 3)};
  for (DenseIntElementsAttr attr : {strides, dilations}) {
    if (oneD)
      args.push_back(one);
    for (APInt v : attr.getValues<APInt>())
      args.push_back(
          arith::ConstantIntOp::create(rewriter, loc, v.getSExtValue(), 64));
  }
  for (Value v : {in, filter, out}) {
    Buffer b = describeBuffer(rewriter, loc, v);
    SmallVector<Value> st;
    for (Value s : b.strides)
      st.push_back(
          arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), s));
    if (oneD)
      st.insert(st.begin() + 2,
                arith::MulIOp::create(rewriter, loc, st[2], dim(v, 2)));
    args.push_back(b.address);
    args.append(st);
  }
  return args;
}

std::pair<Value, Value> mlir::qopt::vectorKernelArgs(PatternRewriter &rewriter,
                                                     Location loc, Value v) {
  Buffer b = describeBuffer(rewriter, loc, v);
  return {b.address, arith::IndexCastOp::create(
                         rewriter, loc, rewriter.getI64Type(), b.strides[0])};
}

namespace {

struct ConvToKernelCall : OpRewritePattern<linalg::Conv2DNchwFchwOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::Conv2DNchwFchwOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<qopt::ConvEpilogueMatch> epi = qopt::matchConvEpilogue(op);
    return convToKernelCall(cast<linalg::LinalgOp>(op.getOperation()),
                            op.getStrides(), op.getDilations(), rewriter,
                            epi ? &*epi : nullptr);
  }
};

/// The importer's grouped 2-D convolution (lib/Import/ONNX/Ops/Conv.cpp,
/// groupedConv): a linalg.generic over (n, g, m, oh, ow, c, kh, kw) with
/// x [N, G, C, H, W] at (n, g, c, oh*sh + kh*dh, ow*sw + kw*dw), w [G, M,
/// C, KH, KW] at (g, m, c, kh, kw), out [N, G, M, OH, OW] += x * w: a call
/// of qopt_kernel_conv2d_grouped_f32 (f32 only; transposed convs, whose
/// windows run backwards, and depthwise ones (C = 1) stay loops).
struct GroupedConvToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!allF32(op))
      return failure();
    std::optional<qopt::GroupedConvWindow> window =
        qopt::matchGroupedConvGeneric(op);
    if (!window)
      return failure();
    // Depthwise convs (one input channel per group) have their own kernel
    // (DepthwiseConv.cpp): the per-group direct kernel (one channel per
    // tile, 2 FMA chains) was no faster than the generated loops.
    if (cast<MemRefType>(op.getDpsInputOperand(0)->get().getType())
            .getDimSize(2) == 1)
      return rewriter.notifyMatchFailure(op, "depthwise");
    auto [rows, cols] = *window;
    // Body: out + x * w.
    if (!qopt::isConvMulAccBody(op.getRegion().front(), /*int8=*/false))
      return failure();
    Location loc = op.getLoc();
    SmallVector<Value> operands(op->getOperands());
    KernelOperands ko(rewriter, loc, operands);
    auto constant = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(rewriter, loc, v, 64);
    };
    // n, g, c, f, kh, kw, oh, ow, sh, sw, dh, dw, then each buffer.
    SmallVector<Value> args{
        ko.dim(0, 0),         ko.dim(0, 1),          ko.dim(0, 2),
        ko.dim(1, 1),         ko.dim(1, 3),          ko.dim(1, 4),
        ko.dim(2, 3),         ko.dim(2, 4),          constant(rows.first),
        constant(cols.first), constant(rows.second), constant(cols.second)};
    for (unsigned o = 0; o < 3; ++o) {
      args.push_back(ko.bufs[o].address);
      for (unsigned d = 0; d < 5; ++d)
        args.push_back(ko.stride(o, d));
    }
    func::FuncOp kernel = declareKernel(
        rewriter, op, "qopt_kernel_conv2d_grouped_f32", args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// 1-D convolutions (audio front ends) through the same kernel, as H = 1.
struct Conv1DToKernelCall : OpRewritePattern<linalg::Conv1DNcwFcwOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::Conv1DNcwFcwOp op,
                                PatternRewriter &rewriter) const override {
    return convToKernelCall(cast<linalg::LinalgOp>(op.getOperation()),
                            op.getStrides(), op.getDilations(), rewriter);
  }
};

/// Whether `v` is (a view of) a constant global: a weight the kernels may
/// pack once.
bool isConstantBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<memref::GetGlobalOp>(def))
      return true;
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      return false;
    v = view.getViewSource();
  }
  return false;
}

/// The generics qopt.qlinear's lowering tags with a `library_call` naming a
/// runtime kernel: the integer and weight-only matmuls (QuantKernels.cpp).
/// Their operand order and layouts are the lowering's; this re-checks the
/// element types before trusting them.
struct QuantMatmulToKernelCall : OpRewritePattern<linalg::GenericOp> {
  /// `cpu`: the CPU runtime's w8/w4 kernels take one more argument, whether
  /// the weight and its scales (and zero points) are constants whose
  /// repacked panels may be kept; the GPU's keep the shorter signature.
  QuantMatmulToKernelCall(MLIRContext *ctx, bool cpu)
      : OpRewritePattern(ctx), cpu(cpu) {}
  bool cpu;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || !op.hasPureBufferSemantics())
      return failure();
    StringRef name = *call;
    bool integer =
        name == "qopt_kernel_matmul_s8s8" || name == "qopt_kernel_matmul_u8s8";
    bool w8 = name == "qopt_kernel_matmul_w8";
    bool int8Act = name == "qopt_kernel_matmul_w4_a8" ||
                   name == "qopt_kernel_matmul_wu4_a8";
    bool w4 = name == "qopt_kernel_matmul_w4" ||
              name == "qopt_kernel_matmul_wu4" ||
              name == "qopt_kernel_matmul_nf4" || (cpu && int8Act);
    if (!integer && !w8 && !w4)
      return failure();
    Location loc = op.getLoc();
    SmallVector<Value> operands(op->getOperands());
    auto typeOf = [&](unsigned i) {
      return cast<MemRefType>(operands[i].getType());
    };
    Type i8 = rewriter.getI8Type();
    if (typeOf(1).getElementType() != i8 ||
        (integer && (typeOf(0).getElementType() != i8 ||
                     !typeOf(2).getElementType().isInteger(32))) ||
        (!integer && !typeOf(0).getElementType().isF32()))
      return rewriter.notifyMatchFailure(op, "unexpected operand types");
    KernelOperands ko(rewriter, loc, operands);
    auto stride = [&](unsigned o, unsigned d) { return ko.stride(o, d); };
    auto dim = [&](unsigned o, unsigned d) { return ko.dim(o, d); };
    ArrayRef<Buffer> bufs = ko.bufs;
    auto constant = [&](int64_t v) {
      return arith::ConstantIntOp::create(rewriter, loc, v, 64).getResult();
    };
    unsigned c = operands.size() - 1;
    SmallVector<Value> args;
    if (integer || w8) {
      // A [M, K], B [N, K] (, scale [N]), C [M, N].
      args = {dim(0, 0),       dim(c, 1),    dim(0, 1),
              bufs[0].address, stride(0, 0), stride(0, 1),
              bufs[1].address, stride(1, 0), stride(1, 1)};
      if (w8)
        args.append({bufs[2].address, stride(2, 0)});
      args.append({bufs[c].address, stride(c, 0), stride(c, 1)});
      if (integer)
        args.push_back(constant(isConstantBuffer(operands[1])));
    } else {
      // A [M, K/G, G/2, 2], B [N, K/G, G/2] bytes, scale [N, K/G]
      // (, zero point [N, K/G]), C [M, N]. The expanded views come from
      // row-major [M, K] / [N, K/2]: the innermost stride steps along K.
      auto aTy = typeOf(0);
      if (ShapedType::isDynamic(aTy.getDimSize(1)) ||
          ShapedType::isDynamic(aTy.getDimSize(2)))
        return rewriter.notifyMatchFailure(op, "dynamic K");
      int64_t group = aTy.getDimSize(2) * 2;
      int64_t k = aTy.getDimSize(1) * group;
      // The kernel's `format`: 0 uint4 (zero points), 1 int4, 2 NF4; 3
      // int4 and 4 uint4 with int8 activations per block (dynamic_block).
      int64_t format = name == "qopt_kernel_matmul_wu4"     ? 0
                       : name == "qopt_kernel_matmul_w4"    ? 1
                       : name == "qopt_kernel_matmul_nf4"   ? 2
                       : name == "qopt_kernel_matmul_w4_a8" ? 3
                                                            : 4;
      bool isSigned = format != 0 && format != 4;
      Value zero = constant(0);
      args = {dim(0, 0),        dim(c, 1),       constant(k),  constant(group),
              constant(format), bufs[0].address, stride(0, 0), stride(0, 3),
              bufs[1].address,  stride(1, 0),    stride(1, 2), bufs[2].address,
              stride(2, 0),     stride(2, 1)};
      if (isSigned)
        args.append({zero, zero, zero});
      else
        args.append({bufs[3].address, stride(3, 0), stride(3, 1)});
      args.append({bufs[c].address, stride(c, 0), stride(c, 1)});
      name = "qopt_kernel_matmul_w4";
    }
    if (cpu && !integer)
      args.push_back(constant(llvm::all_of(
          ArrayRef<Value>(operands).slice(1, c - 1), isConstantBuffer)));
    func::FuncOp kernel = declareKernel(rewriter, op, name, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// qopt.bitlinear's contractions (BitLinearToLinalg.cpp): x viewed as
/// [M, K/4, 4] against the packed ternary weight [N, K/4], into C [M, N].
/// `_s8t2`: (x f32, s [M] f32, w i8, C i32); `_f32t2`: (x f32, w i8,
/// C f32). Kernels: TernaryKernels.cpp.
struct TernaryMatmulToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || !op.hasPureBufferSemantics())
      return failure();
    bool integer = *call == "qopt_kernel_matmul_s8t2";
    if (!integer && *call != "qopt_kernel_matmul_f32t2")
      return failure();
    SmallVector<Value> operands(op->getOperands());
    auto typeOf = [&](unsigned i) {
      return cast<MemRefType>(operands[i].getType());
    };
    unsigned wIdx = integer ? 2 : 1, c = integer ? 3 : 2;
    if (operands.size() != c + 1 || typeOf(0).getRank() != 3 ||
        !typeOf(0).getElementType().isF32() ||
        !typeOf(wIdx).getElementType().isInteger(8) ||
        (integer && !typeOf(1).getElementType().isF32()) ||
        (integer ? !typeOf(c).getElementType().isInteger(32)
                 : !typeOf(c).getElementType().isF32()) ||
        ShapedType::isDynamic(typeOf(0).getDimSize(1)))
      return rewriter.notifyMatchFailure(op, "unexpected operand types");
    Location loc = op.getLoc();
    KernelOperands ko(rewriter, loc, operands);
    auto stride = [&](unsigned o, unsigned d) { return ko.stride(o, d); };
    auto dim = [&](unsigned o, unsigned d) { return ko.dim(o, d); };
    ArrayRef<Buffer> bufs = ko.bufs;
    Value k = arith::ConstantIntOp::create(rewriter, loc,
                                           typeOf(0).getDimSize(1) * 4, 64);
    SmallVector<Value> args{dim(0, 0),       dim(c, 1),    k,
                            bufs[0].address, stride(0, 0), stride(0, 2)};
    if (integer)
      args.append({bufs[1].address, stride(1, 0)});
    args.append({bufs[wIdx].address, stride(wIdx, 0), stride(wIdx, 1),
                 bufs[c].address, stride(c, 0), stride(c, 1)});
    func::FuncOp kernel = declareKernel(rewriter, op, *call, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The 2:4 product qopt.linear's lowering tags (qopt_kernel_matmul_sparse24):
/// x [M, K/8, 8], values [N, K/8, 4] f32, positions [N, K/8] i8 (row-major
/// constants), C [M, N] accumulated into. The int8 forms of a W8A8
/// qopt.qlinear (qopt_kernel_matmul_sparse24_{s8s8,u8s8}): x, values i8,
/// C i32.
struct Sparse24MatmulToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || !op.hasPureBufferSemantics() || op->getNumOperands() != 4)
      return failure();
    bool integer = *call == "qopt_kernel_matmul_sparse24_s8s8" ||
                   *call == "qopt_kernel_matmul_sparse24_u8s8";
    if (!integer && *call != "qopt_kernel_matmul_sparse24")
      return failure();
    SmallVector<Value> operands(op->getOperands());
    auto typeOf = [&](unsigned i) {
      return cast<MemRefType>(operands[i].getType());
    };
    auto isValue = [&](unsigned i) {
      Type t = typeOf(i).getElementType();
      return integer ? t.isInteger(8) : t.isF32();
    };
    if (!isValue(0) || !isValue(1) ||
        !(integer ? typeOf(3).getElementType().isInteger(32)
                  : typeOf(3).getElementType().isF32()) ||
        !typeOf(2).getElementType().isInteger(8) ||
        !typeOf(1).getLayout().isIdentity() ||
        !typeOf(2).getLayout().isIdentity() ||
        ShapedType::isDynamic(typeOf(1).getDimSize(1)))
      return rewriter.notifyMatchFailure(op, "unexpected operands");
    Location loc = op.getLoc();
    KernelOperands ko(rewriter, loc, operands);
    auto stride = [&](unsigned o, unsigned d) { return ko.stride(o, d); };
    auto dim = [&](unsigned o, unsigned d) { return ko.dim(o, d); };
    ArrayRef<Buffer> bufs = ko.bufs;
    Value k = arith::ConstantIntOp::create(rewriter, loc,
                                           typeOf(1).getDimSize(1) * 8, 64);
    SmallVector<Value> args{dim(0, 0),       dim(3, 1),       k,
                            bufs[0].address, stride(0, 0),    stride(0, 2),
                            bufs[1].address, bufs[2].address, bufs[3].address,
                            stride(3, 0),    stride(3, 1)};
    func::FuncOp kernel = declareKernel(
        rewriter, op, integer ? *call : "qopt_kernel_matmul_sparse24_f32",
        args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The weight-only int8 2:4 product (qopt_kernel_matmul_sparse24_w8): x
/// [M, K/8, 8] f32, values [N, K/8, 4] i8, positions [N, K/8] i8, scales [N]
/// f32, C [M, N] f32 accumulated into.
struct Sparse24W8MatmulToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || *call != "qopt_kernel_matmul_sparse24_w8" ||
        !op.hasPureBufferSemantics() || op->getNumOperands() != 5)
      return failure();
    SmallVector<Value> operands(op->getOperands());
    auto typeOf = [&](unsigned i) {
      return cast<MemRefType>(operands[i].getType());
    };
    if (!typeOf(0).getElementType().isF32() ||
        !typeOf(1).getElementType().isInteger(8) ||
        !typeOf(2).getElementType().isInteger(8) ||
        !typeOf(3).getElementType().isF32() ||
        !typeOf(4).getElementType().isF32() ||
        !typeOf(1).getLayout().isIdentity() ||
        !typeOf(2).getLayout().isIdentity() ||
        ShapedType::isDynamic(typeOf(1).getDimSize(1)))
      return rewriter.notifyMatchFailure(op, "unexpected operands");
    Location loc = op.getLoc();
    KernelOperands ko(rewriter, loc, operands);
    ArrayRef<Buffer> bufs = ko.bufs;
    Value k = arith::ConstantIntOp::create(rewriter, loc,
                                           typeOf(1).getDimSize(1) * 8, 64);
    SmallVector<Value> args{ko.dim(0, 0),    ko.dim(4, 1),    k,
                            bufs[0].address, ko.stride(0, 0), ko.stride(0, 2),
                            bufs[1].address, bufs[2].address, bufs[3].address,
                            ko.stride(3, 0), bufs[4].address, ko.stride(4, 0),
                            ko.stride(4, 1)};
    func::FuncOp kernel = declareKernel(rewriter, op, *call, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The CSR product qopt.linear's lowering tags (qopt_kernel_matmul_csr_f32):
/// operands begin [N] i32, end [N] i32, a window [L] (the loop range) and
/// C [M, N] f32; the body loads x [M, K] f32, the column indices [nnz] i16
/// and the values [nnz] f32 from buffers defined outside it.
struct CsrMatmulToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || *call != "qopt_kernel_matmul_csr_f32" ||
        !op.hasPureBufferSemantics() || op->getNumOperands() != 4)
      return failure();
    Value x, cols, values;
    bool unexpected = false;
    op.getRegion().walk([&](memref::LoadOp load) {
      Value m = load.getMemRef();
      if (op.getRegion().isAncestor(m.getParentRegion()))
        return;
      auto ty = cast<MemRefType>(m.getType());
      Value &slot = ty.getRank() == 2 && ty.getElementType().isF32() ? x
                    : ty.getRank() == 1 && ty.getElementType().isInteger(16)
                        ? cols
                    : ty.getRank() == 1 && ty.getElementType().isF32() ? values
                                                                       : x;
      if (slot && slot != m)
        unexpected = true;
      slot = m;
    });
    SmallVector<Value> operands{
        x,      op->getOperand(0), op->getOperand(1), cols,
        values, op->getOperand(3)};
    if (unexpected || !x || !cols || !values ||
        !cast<MemRefType>(x.getType()).getElementType().isF32() ||
        !cast<MemRefType>(operands[5].getType()).getElementType().isF32() ||
        ShapedType::isDynamic(cast<MemRefType>(x.getType()).getDimSize(1)))
      return rewriter.notifyMatchFailure(op, "unexpected operands");
    Location loc = op.getLoc();
    KernelOperands ko(rewriter, loc, operands);
    ArrayRef<Buffer> bufs = ko.bufs;
    Value k = arith::ConstantIntOp::create(
        rewriter, loc, cast<MemRefType>(x.getType()).getDimSize(1), 64);
    SmallVector<Value> args{ko.dim(5, 0),    ko.dim(5, 1),    k,
                            bufs[0].address, ko.stride(0, 0), ko.stride(0, 1),
                            bufs[1].address, bufs[2].address, bufs[3].address,
                            bufs[4].address, bufs[5].address, ko.stride(5, 0),
                            ko.stride(5, 1)};
    func::FuncOp kernel = declareKernel(rewriter, op, *call, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The per-row |x| maximum qopt.qlinear's dynamic activation quantization
/// tags (qopt_kernel_row_absmax_f32): x [M, K] f32 reduced into out [M] f32.
struct RowAbsMaxToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || *call != "qopt_kernel_row_absmax_f32" ||
        !op.hasPureBufferSemantics() || op->getNumOperands() != 2)
      return failure();
    SmallVector<Value> operands(op->getOperands());
    auto x = cast<MemRefType>(operands[0].getType());
    auto out = cast<MemRefType>(operands[1].getType());
    if (!x.getElementType().isF32() || !out.getElementType().isF32() ||
        x.getRank() != 2 || out.getRank() != 1)
      return rewriter.notifyMatchFailure(op, "unexpected operands");
    Location loc = op.getLoc();
    KernelOperands ko(rewriter, loc, operands);
    SmallVector<Value> args{ko.dim(0, 0),       ko.dim(0, 1),
                            ko.bufs[0].address, ko.stride(0, 0),
                            ko.stride(0, 1),    ko.bufs[1].address,
                            ko.stride(1, 0)};
    func::FuncOp kernel = declareKernel(rewriter, op, *call, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// Dynamic per-token quantization and its dequantizing epilogue, as
/// qopt.qlinear's lowering tags them (RowKernels.cpp):
/// qopt_kernel_quantize_rows_s8: x [M, K] f32, s [M] f32 -> q [M, K] i8;
/// qopt_kernel_dequant_rows_f32: acc [M, N] i32, ws [N], sx [M][, bias
/// [N]] f32 -> y [M, N] f32 (a null bias address when there is none).
struct RowQuantToKernelCall : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<StringRef> call = op.getLibraryCall();
    if (!call || !op.hasPureBufferSemantics())
      return failure();
    bool quantize = *call == "qopt_kernel_quantize_rows_s8";
    if (!quantize && *call != "qopt_kernel_dequant_rows_f32")
      return failure();
    SmallVector<Value> operands(op->getOperands());
    auto is = [&](unsigned i, unsigned rank, auto pred) {
      auto t = dyn_cast<MemRefType>(operands[i].getType());
      return t && t.getRank() == rank && pred(t.getElementType());
    };
    auto f32 = [](Type t) { return t.isF32(); };
    auto i8 = [](Type t) { return t.isInteger(8); };
    auto i32 = [](Type t) { return t.isInteger(32); };
    bool ok = quantize ? operands.size() == 3 && is(0, 2, f32) &&
                             is(1, 1, f32) && is(2, 2, i8)
                       : (operands.size() == 4 || operands.size() == 5) &&
                             is(0, 2, i32) && is(1, 1, f32) && is(2, 1, f32) &&
                             (operands.size() == 4 || is(3, 1, f32)) &&
                             is(operands.size() - 1, 2, f32);
    if (!ok)
      return rewriter.notifyMatchFailure(op, "unexpected operands");
    Location loc = op.getLoc();
    KernelOperands ko(rewriter, loc, operands);
    SmallVector<Value> args{ko.dim(0, 0), ko.dim(0, 1), ko.bufs[0].address,
                            ko.stride(0, 0), ko.stride(0, 1)};
    if (quantize) {
      args.append({ko.bufs[1].address, ko.stride(1, 0), ko.bufs[2].address,
                   ko.stride(2, 0), ko.stride(2, 1)});
    } else {
      unsigned out = operands.size() - 1;
      Value zero = arith::ConstantIntOp::create(rewriter, loc, 0, 64);
      args.append({ko.bufs[1].address, ko.stride(1, 0), ko.bufs[2].address,
                   ko.stride(2, 0)});
      if (out == 4)
        args.append({ko.bufs[3].address, ko.stride(3, 0)});
      else
        args.append({zero, zero});
      args.append({ko.bufs[out].address, ko.stride(out, 0), ko.stride(out, 1)});
    }
    func::FuncOp kernel = declareKernel(rewriter, op, *call, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The kernel calls qopt-fuse-attention and qopt-fuse-norms placed on
/// tensors (lib/Codegen/CPU/KernelViews.h): `qopt_views.NAME.K(...)` with
/// memref views becomes NAME(...) with each view as its address and
/// element strides (i64 operands stay), now that buffers are placed.
struct ViewsCallToKernelCall : OpRewritePattern<func::CallOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(func::CallOp call,
                                PatternRewriter &rewriter) const override {
    StringRef callee = call.getCallee();
    if (!callee.consume_front("qopt_views.") || call->getNumResults() != 0)
      return failure();
    StringRef name = callee.rsplit('.').first;
    Location loc = call.getLoc();
    SmallVector<Value> args;
    for (Value a : call.getOperands()) {
      if (!isa<MemRefType>(a.getType())) {
        args.push_back(a);
        continue;
      }
      Buffer b = describeBuffer(rewriter, loc, a);
      args.push_back(b.address);
      for (Value st : b.strides)
        args.push_back(arith::IndexCastOp::create(rewriter, loc,
                                                  rewriter.getI64Type(), st));
    }
    func::FuncOp kernel = declareKernel(rewriter, call, name, args.size());
    func::CallOp::create(rewriter, loc, kernel, args);
    rewriter.eraseOp(call);
    return success();
  }
};

struct ConvertLinalgToKernelCallsPass
    : qopt::impl::ConvertLinalgToKernelCallsPassBase<
          ConvertLinalgToKernelCallsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    qopt::populateLinalgToKernelCallsPatterns(patterns);
    // Top down: an epilogue's checks of the ops between a matmul and its
    // consumer (MatmulEpilogue.cpp) see linalg ops whose effects they know,
    // not kernel calls made of later ones.
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(
            applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
    // The qopt_views.* declarations ViewsCallToKernelCall left unused.
    for (auto f :
         llvm::make_early_inc_range(getOperation().getOps<func::FuncOp>()))
      if (f.getSymName().starts_with("qopt_views.") && f.isDeclaration() &&
          f.symbolKnownUseEmpty(getOperation()))
        f.erase();
  }
};

} // namespace

void mlir::qopt::populateLinalgToKernelCallsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ContractionToKernelCall>(patterns.getContext(), /*fuse=*/true);
  patterns.add<ConvToKernelCall>(patterns.getContext());
  patterns.add<QuantMatmulToKernelCall>(patterns.getContext(), /*cpu=*/true);
  patterns.add<TernaryMatmulToKernelCall>(patterns.getContext());
  patterns.add<Sparse24MatmulToKernelCall>(patterns.getContext());
  patterns.add<CsrMatmulToKernelCall>(patterns.getContext());
  patterns.add<Sparse24W8MatmulToKernelCall>(patterns.getContext());
  patterns.add<Conv1DToKernelCall>(patterns.getContext());
  patterns.add<RowAbsMaxToKernelCall>(patterns.getContext());
  patterns.add<RowQuantToKernelCall>(patterns.getContext());
  patterns.add<GroupedConvToKernelCall>(patterns.getContext());
  patterns.add<ViewsCallToKernelCall>(patterns.getContext());
  qopt::populateDepthwiseConvKernelCallPatterns(patterns);
  qopt::populateDepthwiseConvS8KernelCallPatterns(patterns);
  qopt::populateIntegerConvEpiloguePatterns(patterns);
  qopt::populatePoolKernelCallPatterns(patterns);
}

void mlir::qopt::populateQuantKernelCallsPatterns(RewritePatternSet &patterns) {
  patterns.add<QuantMatmulToKernelCall>(patterns.getContext(), /*cpu=*/false);
  patterns.add<TernaryMatmulToKernelCall>(patterns.getContext());
}

void mlir::qopt::populateFloatMatmulKernelCallsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ContractionToKernelCall>(patterns.getContext(), /*fuse=*/false);
}

void mlir::qopt::populateHalfMatmulKernelCallsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ContractionToKernelCall>(patterns.getContext(), /*fuse=*/false,
                                        /*half=*/true);
}

void mlir::qopt::populateSparse24KernelCallsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<Sparse24MatmulToKernelCall>(patterns.getContext());
}
