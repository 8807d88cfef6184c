//===- Conv.cpp - convolutions and pooling --------------------------------===//
//
// Conv, ConvTranspose and the pooling ops on NC<spatial> tensors. Sliding
// windows read an explicitly padded input (tensor.pad), so no window loop
// needs a bounds check: ungrouped float convolutions become the upstream
// named ops (linalg.conv_1d_ncw_fcw, conv_2d_nchw_fchw, conv_3d_ncdhw_fcdhw),
// grouped ones, transposed ones and pools a linalg.generic. Channel and
// spatial dims must be static (window geometry and SAME padding are computed
// at import); the batch dim may be dynamic.
//
// buildConvolution is also used by ConvInteger and QLinearConv
// (QuantizedOps.cpp), which declares it.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

std::string fmt(ArrayRef<int64_t> v) {
  std::string s = "[";
  for (auto [i, x] : llvm::enumerate(v))
    s += (i ? ", " : "") + std::to_string(x);
  return s + "]";
}

/// Where a sliding window goes along each spatial dim.
struct Window {
  SmallVector<int64_t> in, kernel, strides, dilations, padBegin, padEnd, out;
  /// Padding past padEnd that ceil_mode's last window reaches into.
  SmallVector<int64_t> extraEnd;
};

/// The static spatial sizes of `t` ([N, C, D...]); N may be dynamic.
FailureOr<SmallVector<int64_t>> spatialSizes(ONNXNode &n, RankedTensorType t,
                                             StringRef what) {
  if (t.getRank() < 3)
    return n.emitError() << what << " must have rank >= 3 (N, C, spatial "
                         << "dims...), got rank " << t.getRank();
  for (int64_t i = 1; i < t.getRank(); ++i)
    if (t.isDynamicDim(i))
      return n.emitError() << what << ": channel and spatial dims must be "
                           << "static, got " << t;
  return SmallVector<int64_t>(t.getShape().drop_front(2));
}

/// Reads strides, dilations (when the op has them), pads and auto_pad and
/// computes the output size and padding of each spatial dim.
FailureOr<Window> readWindow(ONNXNode &n, ArrayRef<int64_t> in,
                             ArrayRef<int64_t> kernel, bool hasDilations,
                             bool ceilMode) {
  size_t k = in.size();
  SmallVector<int64_t> ones(k, 1), zeros(2 * k, 0);
  FailureOr<SmallVector<int64_t>> strides = n.getInts("strides", ones);
  FailureOr<SmallVector<int64_t>> dilations =
      hasDilations ? n.getInts("dilations", ones)
                   : FailureOr<SmallVector<int64_t>>(ones);
  FailureOr<SmallVector<int64_t>> pads = n.getInts("pads", zeros);
  FailureOr<std::string> autoPad = n.getString("auto_pad", "NOTSET");
  if (failed(strides) || failed(dilations) || failed(pads) || failed(autoPad))
    return failure();
  if (strides->size() != k || dilations->size() != k || pads->size() != 2 * k)
    return n.emitError() << "strides, dilations and pads must have " << k
                         << ", " << k << " and " << 2 * k << " values for " << k
                         << " spatial dims, got " << strides->size() << ", "
                         << dilations->size() << " and " << pads->size();
  if (kernel.size() != k)
    return n.emitError() << "kernel_shape has " << kernel.size()
                         << " values, expected " << k;
  for (size_t i = 0; i < k; ++i) {
    if ((*strides)[i] < 1 || (*dilations)[i] < 1 || kernel[i] < 1)
      return n.emitError() << "kernel sizes, strides and dilations must be "
                           << ">= 1, got " << fmt(kernel) << ", "
                           << fmt(*strides) << " and " << fmt(*dilations);
    if ((*pads)[i] < 0 || (*pads)[i + k] < 0)
      return n.emitError() << "negative pads " << fmt(*pads)
                           << " are not supported";
  }
  StringRef ap = *autoPad;
  bool same = ap == "SAME_UPPER" || ap == "SAME_LOWER";
  if (!same && ap != "NOTSET" && ap != "VALID")
    return n.emitError() << "auto_pad '" << ap << "' is not one of NOTSET, "
                         << "SAME_UPPER, SAME_LOWER, VALID";
  if (ap != "NOTSET" && llvm::any_of(*pads, [](int64_t p) { return p != 0; }))
    return n.emitError() << "pads cannot be given with auto_pad " << ap;

  Window w;
  w.in.assign(in.begin(), in.end());
  w.kernel.assign(kernel.begin(), kernel.end());
  w.strides = *strides;
  w.dilations = *dilations;
  for (size_t i = 0; i < k; ++i) {
    int64_t s = w.strides[i], ext = (kernel[i] - 1) * w.dilations[i] + 1;
    int64_t pb = (*pads)[i], pe = (*pads)[i + k], out;
    if (same) {
      out = llvm::divideCeil(in[i], s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + ext - in[i]);
      pb = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      int64_t span = in[i] + pb + pe - ext;
      if (span < 0)
        return n.emitError() << "the kernel (extent " << ext
                             << ") is larger than the padded input (size "
                             << in[i] + pb + pe << ") in spatial dim " << i;
      out = (ceilMode ? llvm::divideCeil(span, s) : span / s) + 1;
      // ceil_mode: the last window must start inside the input or the
      // leading padding.
      if (ceilMode && (out - 1) * s >= in[i] + pb)
        --out;
    }
    w.padBegin.push_back(pb);
    w.padEnd.push_back(pe);
    w.out.push_back(out);
    w.extraEnd.push_back(
        std::max<int64_t>(0, (out - 1) * s + ext - (in[i] + pb + pe)));
  }
  return w;
}

/// x padded by `low`/`high` along its spatial dims with `padValue`.
Value padSpatial(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> low,
                 ArrayRef<int64_t> high, Value padValue) {
  if (llvm::all_of(low, [](int64_t v) { return v == 0; }) &&
      llvm::all_of(high, [](int64_t v) { return v == 0; }))
    return x;
  auto ty = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> lo(2, b.getIndexAttr(0)), hi(2, b.getIndexAttr(0));
  SmallVector<int64_t> shape(ty.getShape());
  for (size_t i = 0; i < low.size(); ++i) {
    lo.push_back(b.getIndexAttr(low[i]));
    hi.push_back(b.getIndexAttr(high[i]));
    shape[i + 2] += low[i] + high[i];
  }
  return tensor::PadOp::create(b, loc, ty.clone(shape), x, lo, hi, padValue);
}

/// tensor.empty of `shape`; a dynamic dim 0 is read from `like`'s dim 0.
Value emptyBatched(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   Type elemTy, Value like) {
  SmallVector<Value> dyn;
  if (ShapedType::isDynamic(shape[0]))
    dyn.push_back(tensor::DimOp::create(b, loc, like, 0));
  return tensor::EmptyOp::create(b, loc, shape, elemTy, dyn);
}

Value filled(OpBuilder &b, Location loc, Value empty, Value v) {
  return linalg::FillOp::create(b, loc, v, empty).getResult(0);
}

/// Reassociation splitting dim `d` of a rank-`rank` shape into two dims.
SmallVector<ReassociationIndices> splitDim(int64_t rank, int64_t d) {
  SmallVector<ReassociationIndices> re;
  for (int64_t i = 0, j = 0; i < rank; ++i) {
    if (i == d) {
      re.push_back({j, j + 1});
      j += 2;
    } else {
      re.push_back({j++});
    }
  }
  return re;
}

/// Splits dim `d` of `v` into [groups, size / groups].
Value expandGroups(OpBuilder &b, Location loc, Value v, int64_t d,
                   int64_t groups) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(ty.getShape());
  shape[d] /= groups;
  shape.insert(shape.begin() + d, groups);
  return tensor::ExpandShapeOp::create(b, loc, ty.clone(shape), v,
                                       splitDim(ty.getRank(), d));
}

/// Merges dims `d` and `d + 1` of `v`.
Value collapseGroups(OpBuilder &b, Location loc, Value v, int64_t d) {
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(ty.getShape());
  shape[d] *= shape[d + 1];
  shape.erase(shape.begin() + d + 1);
  return tensor::CollapseShapeOp::create(b, loc, ty.clone(shape), v,
                                         splitDim(ty.getRank() - 1, d));
}

/// The accumulator [N, M, out...]: bias broadcast over it, or zeros.
FailureOr<Value> initAccumulator(ONNXNode &n, ArrayRef<int64_t> shape,
                                 Type accTy, Value x, Value bias) {
  OpBuilder &b = n.b;
  Value empty = emptyBatched(b, n.loc, shape, accTy, x);
  if (!bias)
    return filled(b, n.loc, empty, scalarConstant(b, n.loc, accTy, 0));
  auto bTy = cast<RankedTensorType>(bias.getType());
  if (bTy.getRank() != 1 || bTy.getDimSize(0) != shape[1])
    return n.emitError() << "bias B must have shape [" << shape[1]
                         << "] (the output channels), got " << bTy;
  SmallVector<int64_t> dims{0};
  for (int64_t i = 2; i < static_cast<int64_t>(shape.size()); ++i)
    dims.push_back(i);
  return linalg::BroadcastOp::create(b, n.loc, bias, empty, dims)
      .getResult()[0];
}

Value accumulate(OpBuilder &b, Location loc, Value acc, Value p) {
  if (isa<FloatType>(acc.getType()))
    return arith::AddFOp::create(b, loc, acc, p);
  return arith::AddIOp::create(b, loc, acc, p);
}

/// Grouped convolution as one linalg.generic over
/// (n, g, m, out..., c, k...): x [N, G, C/G, P...], w [G, M/G, C/G, K...] (or
/// [G, C/G, M/G, K...] when `transposedW`), acc [N, G, M/G, out...]. `xIndex`
/// gives the x index along spatial dim i from the out and kernel loops.
Value groupedConv(
    OpBuilder &b, Location loc, Value x, Value w, Value acc, int64_t k,
    bool transposedW,
    function_ref<AffineExpr(int64_t i, AffineExpr o, AffineExpr kk)> xIndex,
    ConvProductFn product) {
  MLIRContext *ctx = b.getContext();
  int64_t loops = 4 + 2 * k;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  AffineExpr dn = d(0), dg = d(1), dm = d(2), dc = d(3 + k);
  SmallVector<AffineExpr> xE{dn, dg, dc},
      wE{dg, transposedW ? dc : dm, transposedW ? dm : dc}, oE{dn, dg, dm};
  for (int64_t i = 0; i < k; ++i) {
    xE.push_back(xIndex(i, d(3 + i), d(4 + k + i)));
    wE.push_back(d(4 + k + i));
    oE.push_back(d(3 + i));
  }
  SmallVector<utils::IteratorType> iters(3 + k, utils::IteratorType::parallel);
  iters.append(1 + k, utils::IteratorType::reduction);
  auto g = linalg::GenericOp::create(
      b, loc, acc.getType(), ValueRange{x, w}, ValueRange{acc},
      ArrayRef<AffineMap>{AffineMap::get(loops, 0, xE, ctx),
                          AffineMap::get(loops, 0, wE, ctx),
                          AffineMap::get(loops, 0, oE, ctx)},
      iters, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value p =
            product
                ? product(nb, l, args[0], args[1])
                : arith::MulFOp::create(nb, l, args[0], args[1]).getResult();
        linalg::YieldOp::create(nb, l, accumulate(nb, l, args[2], p));
      });
  return g.getResult(0);
}

/// The shared checks of Conv and ConvTranspose: a float X and W of one
/// dtype, an optional bias of that dtype too.
LogicalResult checkFloatConvInputs(ONNXNode &n) {
  for (int64_t i = 0; i < n.numInputs(); ++i)
    if (n.hasInput(i) && n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", X has "
                           << dtypeName(n.inputDType(0));
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "X must be a float tensor, got "
                         << dtypeName(n.inputDType(0));
  return success();
}

LogicalResult buildConv(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)) || failed(checkFloatConvInputs(n)))
    return failure();
  Type elemTy = n.inputType(0).getElementType();
  FailureOr<Value> y = buildConvolution(
      n, n.input(0), n.input(1), n.hasInput(2) ? n.input(2) : Value(),
      scalarConstant(n.b, n.loc, elemTy, 0), elemTy, nullptr);
  if (failed(y))
    return failure();
  n.setOutput(0, *y, n.inputDType(0));
  return success();
}

/// A 2-D ConvTranspose whose windows do not overlap (kernel = strides, no
/// dilation, group 1, no pads: the learned 2x upsampling of FPN / DB heads)
/// writes each input pixel's C-vector times W [C, M, S0, S1] into its own
/// S0 x S1 output block: a 1x1 convolution to M*S0*S1 channels (W
/// transposed to [M, S0, S1, C], the bias repeated per block position),
/// then the blocks put in place (depth-to-space). The 1x1 convolution is a
/// linalg.conv_2d_nchw_fchw that the conv kernel takes; the general path
/// below convolves a zero-spread input (S0*S1 times the work, as loops).
std::optional<Value>
nonOverlappingConvTranspose(ONNXNode &n, Value x, Value w, int64_t group,
                            ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                            ArrayRef<int64_t> dilations,
                            ArrayRef<int64_t> padBegin, ArrayRef<int64_t> out) {
  auto xTy = cast<RankedTensorType>(x.getType());
  auto wTy = cast<RankedTensorType>(w.getType());
  if (kernel.size() != 2 || group != 1 || xTy.isDynamicDim(1))
    return std::nullopt;
  for (int64_t i = 0; i < 2; ++i)
    if (kernel[i] != strides[i] || dilations[i] != 1 || padBegin[i] != 0 ||
        xTy.isDynamicDim(2 + i) || out[i] != xTy.getDimSize(2 + i) * kernel[i])
      return std::nullopt;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Type elemTy = xTy.getElementType();
  int64_t c = wTy.getDimSize(0), m = wTy.getDimSize(1), s0 = kernel[0],
          s1 = kernel[1], h = xTy.getDimSize(2), wd = xTy.getDimSize(3);
  int64_t blocks = m * s0 * s1;
  // W [C, M, S0, S1] -> [M, S0, S1, C] -> [M*S0*S1, C, 1, 1].
  Value wT = linalg::TransposeOp::create(
                 b, loc, w,
                 tensor::EmptyOp::create(
                     b, loc, ArrayRef<int64_t>{m, s0, s1, c}, elemTy),
                 ArrayRef<int64_t>{1, 2, 3, 0})
                 .getResult()[0];
  Value w1 = tensor::CollapseShapeOp::create(
      b, loc, RankedTensorType::get({blocks, c}, elemTy), wT,
      SmallVector<ReassociationIndices>{{0, 1, 2}, {3}});
  w1 = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({blocks, c, 1, 1}, elemTy), w1,
      SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  // The bias [M] repeated over the block positions: [M*S0*S1].
  Value bias;
  if (n.hasInput(2)) {
    Value bm = n.input(2);
    auto bTy = cast<RankedTensorType>(bm.getType());
    if (bTy.getRank() != 1 || bTy.getDimSize(0) != m)
      return std::nullopt; // The general path reports it.
    Value rep = linalg::BroadcastOp::create(
                    b, loc, bm,
                    tensor::EmptyOp::create(
                        b, loc, ArrayRef<int64_t>{m, s0 * s1}, elemTy),
                    ArrayRef<int64_t>{1})
                    .getResult()[0];
    bias = tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({blocks}, elemTy), rep,
        SmallVector<ReassociationIndices>{{0, 1}});
  }
  SmallVector<int64_t> yShape{xTy.getDimSize(0), blocks, h, wd};
  FailureOr<Value> acc = initAccumulator(n, yShape, elemTy, x, bias);
  if (failed(acc))
    return std::nullopt;
  Attribute ones = b.getI64TensorAttr({1, 1});
  Value y = linalg::Conv2DNchwFchwOp::create(b, loc, TypeRange{acc->getType()},
                                             ValueRange{x, w1},
                                             ValueRange{*acc}, ones, ones)
                ->getResult(0);
  // [N, M*S0*S1, H, W] -> [N, M, S0, S1, H, W] -> [N, M, H, S0, W, S1]
  // -> [N, M, H*S0, W*S1].
  int64_t batch = xTy.getDimSize(0);
  Value e = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({batch, m, s0, s1, h, wd}, elemTy), y,
      SmallVector<ReassociationIndices>{{0}, {1, 2, 3}, {4}, {5}});
  Value init = emptyBatched(b, loc, {batch, m, h, s0, wd, s1}, elemTy, x);
  Value t = linalg::TransposeOp::create(b, loc, e, init,
                                        ArrayRef<int64_t>{0, 1, 4, 2, 5, 3})
                .getResult()[0];
  return tensor::CollapseShapeOp::create(
             b, loc, RankedTensorType::get({batch, m, h * s0, wd * s1}, elemTy),
             t, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4, 5}})
      .getResult();
}

/// ConvTranspose: the input is spread out by the strides into a zero tensor
/// with room for the full kernel on both sides, then convolved (stride 1)
/// with the spatially flipped kernel; the pads crop the full result.
LogicalResult buildConvTranspose(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)) || failed(checkFloatConvInputs(n)))
    return failure();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0), w = n.input(1);
  RankedTensorType xTy = n.inputType(0), wTy = n.inputType(1);
  FailureOr<SmallVector<int64_t>> in = spatialSizes(n, xTy, "input X");
  if (failed(in))
    return failure();
  int64_t k = in->size();
  FailureOr<int64_t> group = n.getInt("group", 1);
  FailureOr<SmallVector<int64_t>> ks = n.getInts("kernel_shape", {});
  FailureOr<SmallVector<int64_t>> strides =
      n.getInts("strides", SmallVector<int64_t>(k, 1));
  FailureOr<SmallVector<int64_t>> dilations =
      n.getInts("dilations", SmallVector<int64_t>(k, 1));
  FailureOr<SmallVector<int64_t>> pads =
      n.getInts("pads", SmallVector<int64_t>(2 * k, 0));
  FailureOr<SmallVector<int64_t>> outPad =
      n.getInts("output_padding", SmallVector<int64_t>(k, 0));
  FailureOr<SmallVector<int64_t>> outShape = n.getInts("output_shape", {});
  FailureOr<std::string> autoPad = n.getString("auto_pad", "NOTSET");
  if (failed(group) || failed(ks) || failed(strides) || failed(dilations) ||
      failed(pads) || failed(outPad) || failed(outShape) || failed(autoPad))
    return failure();
  if (wTy.getRank() != xTy.getRank() || !wTy.hasStaticShape())
    return n.emitError() << "W must have a static shape of rank "
                         << xTy.getRank() << ", got " << wTy;
  SmallVector<int64_t> kernel(wTy.getShape().drop_front(2));
  if (!ks->empty() && ArrayRef<int64_t>(*ks) != ArrayRef<int64_t>(kernel))
    return n.emitError() << "kernel_shape " << fmt(*ks)
                         << " does not match W's spatial dims " << fmt(kernel);
  int64_t c = xTy.getDimSize(1);
  if (*group < 1 || c % *group != 0 || wTy.getDimSize(0) != c)
    return n.emitError() << "W must have shape [C, M/group, ...] with C = " << c
                         << " divisible by group " << *group << ", got " << wTy;
  // An output_shape may give the batch and channel dims too.
  if (outShape->size() == static_cast<size_t>(k + 2))
    outShape->erase(outShape->begin(), outShape->begin() + 2);
  if (strides->size() != static_cast<size_t>(k) ||
      dilations->size() != static_cast<size_t>(k) ||
      pads->size() != static_cast<size_t>(2 * k) ||
      outPad->size() != static_cast<size_t>(k) ||
      (!outShape->empty() && outShape->size() != static_cast<size_t>(k)))
    return n.emitError() << "strides, dilations, output_padding and "
                         << "output_shape must have " << k
                         << " values and pads " << 2 * k;
  StringRef ap = *autoPad;
  bool same = ap == "SAME_UPPER" || ap == "SAME_LOWER";
  if (!same && ap != "NOTSET" && ap != "VALID")
    return n.emitError() << "auto_pad '" << ap << "' is not one of NOTSET, "
                         << "SAME_UPPER, SAME_LOWER, VALID";
  if (ap != "NOTSET" && llvm::any_of(*pads, [](int64_t p) { return p != 0; }))
    return n.emitError() << "pads cannot be given with auto_pad " << ap;
  SmallVector<int64_t> padBegin, out;
  auto full = [&](int64_t i) {
    return (*strides)[i] * ((*in)[i] - 1) + (*outPad)[i] +
           (kernel[i] - 1) * (*dilations)[i] + 1;
  };
  for (int64_t i = 0; i < k; ++i) {
    int64_t s = (*strides)[i], dil = (*dilations)[i], op = (*outPad)[i];
    if (s < 1 || dil < 1 || op < 0 || (*pads)[i] < 0 || (*pads)[i + k] < 0)
      return n.emitError() << "strides and dilations must be >= 1, pads and "
                           << "output_padding >= 0";
    int64_t fullSize = full(i);
    int64_t pb = (*pads)[i], pe = (*pads)[i + k];
    if (ap == "VALID") {
      pb = pe = 0;
    }
    if (!outShape->empty() || same) {
      int64_t want = outShape->empty() ? (*in)[i] * s : (*outShape)[i];
      if (want < 1)
        return n.emitError() << "output_shape " << want << " in spatial dim "
                             << i << " must be >= 1";
      // As the ONNX spec gives it, with floor division: SAME_UPPER puts the
      // odd unit at the end. A negative total (an output larger than the
      // full result) pads with zeros instead of cropping.
      int64_t total = fullSize - want;
      int64_t half = llvm::divideFloorSigned(total, 2);
      pb = ap == "SAME_UPPER" ? half : total - half;
      pe = total - pb;
    }
    if (fullSize - pb - pe < 1)
      return n.emitError() << "pads " << pb << " + " << pe
                           << " leave no output in spatial dim " << i;
    padBegin.push_back(pb);
    out.push_back(fullSize - pb - pe);
  }
  if (std::optional<Value> y = nonOverlappingConvTranspose(
          n, x, w, *group, kernel, *strides, *dilations, padBegin, out)) {
    n.setOutput(0, *y, n.inputDType(0));
    return success();
  }
  // Negative pads (from output_shape) become zeros around the spread input;
  // padBegin then counts from the extended start.
  SmallVector<int64_t> extraBegin, extraEnd;
  for (int64_t i = 0; i < k; ++i) {
    int64_t pe = full(i) - padBegin[i] - out[i];
    extraBegin.push_back(std::max<int64_t>(0, -padBegin[i]));
    extraEnd.push_back(std::max<int64_t>(0, -pe));
    padBegin[i] += extraBegin[i];
  }

  // x spread by the strides, with (K - 1) * dilation zeros on both sides.
  Type elemTy = xTy.getElementType();
  Value zero = scalarConstant(b, loc, elemTy, 0);
  SmallVector<int64_t> spreadShape(xTy.getShape().take_front(2));
  SmallVector<OpFoldResult> offs(2, b.getIndexAttr(0)), sizes,
      steps(2, b.getIndexAttr(1));
  sizes.push_back(dimOFR(b, loc, x, 0));
  sizes.push_back(b.getIndexAttr(c));
  for (int64_t i = 0; i < k; ++i) {
    int64_t edge = (kernel[i] - 1) * (*dilations)[i];
    spreadShape.push_back(((*in)[i] - 1) * (*strides)[i] + 1 + 2 * edge +
                          (*outPad)[i] + extraBegin[i] + extraEnd[i]);
    offs.push_back(b.getIndexAttr(edge + extraBegin[i]));
    sizes.push_back(b.getIndexAttr((*in)[i]));
    steps.push_back(b.getIndexAttr((*strides)[i]));
  }
  Value spread =
      filled(b, loc, emptyBatched(b, loc, spreadShape, elemTy, x), zero);
  spread = tensor::InsertSliceOp::create(b, loc, x, spread, offs, sizes, steps);

  int64_t m = wTy.getDimSize(1) * *group;
  SmallVector<int64_t> yShape{xTy.getDimSize(0), m};
  yShape.append(out);
  FailureOr<Value> acc = initAccumulator(n, yShape, elemTy, x,
                                         n.hasInput(2) ? n.input(2) : Value());
  if (failed(acc))
    return failure();
  Value xg = expandGroups(b, loc, spread, 1, *group);
  Value wg = expandGroups(b, loc, w, 0, *group);
  Value accG = expandGroups(b, loc, *acc, 1, *group);
  // y[o] = sum_j spread[o + pb + (K-1)d - j*d] * w[j].
  Value y = groupedConv(
      b, loc, xg, wg, accG, k, /*transposedW=*/true,
      [&](int64_t i, AffineExpr o, AffineExpr kk) {
        int64_t dil = (*dilations)[i];
        return o + (padBegin[i] + (kernel[i] - 1) * dil) - kk * dil;
      },
      nullptr);
  n.setOutput(0, collapseGroups(b, loc, y, 1), n.inputDType(0));
  return success();
}

/// A sliding-window reduction over xp [N, C, P...] (already padded) into
/// acc [N, C, out...]: loops (n, c, out..., k...).
Value poolGeneric(
    OpBuilder &b, Location loc, Value xp, Value acc, const Window &w,
    function_ref<Value(OpBuilder &, Location, Value, Value)> combine) {
  MLIRContext *ctx = b.getContext();
  int64_t k = w.kernel.size(), loops = 2 + 2 * k;
  Type elemTy = cast<RankedTensorType>(xp.getType()).getElementType();
  // Gives the kernel loops their sizes; its elements are never read.
  Value window = tensor::EmptyOp::create(b, loc, w.kernel, elemTy);
  SmallVector<AffineExpr> xE{getAffineDimExpr(0, ctx),
                             getAffineDimExpr(1, ctx)};
  SmallVector<AffineExpr> wE, oE(xE);
  for (int64_t i = 0; i < k; ++i) {
    AffineExpr o = getAffineDimExpr(2 + i, ctx),
               kk = getAffineDimExpr(2 + k + i, ctx);
    xE.push_back(o * w.strides[i] + kk * w.dilations[i]);
    wE.push_back(kk);
    oE.push_back(o);
  }
  SmallVector<utils::IteratorType> iters(2 + k, utils::IteratorType::parallel);
  iters.append(k, utils::IteratorType::reduction);
  auto g = linalg::GenericOp::create(
      b, loc, acc.getType(), ValueRange{xp, window}, ValueRange{acc},
      ArrayRef<AffineMap>{AffineMap::get(loops, 0, xE, ctx),
                          AffineMap::get(loops, 0, wE, ctx),
                          AffineMap::get(loops, 0, oE, ctx)},
      iters, [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, combine(nb, l, args[2], args[0]));
      });
  return g.getResult(0);
}

/// Reads kernel_shape (required) and checks X of a pooling op.
FailureOr<SmallVector<int64_t>> poolKernel(ONNXNode &n, ArrayRef<int64_t> in) {
  if (!n.hasAttr("kernel_shape"))
    return n.emitError() << "attribute 'kernel_shape' is required";
  FailureOr<SmallVector<int64_t>> ks = n.getInts("kernel_shape", {});
  if (failed(ks))
    return failure();
  if (ks->size() != in.size())
    return n.emitError() << "kernel_shape " << fmt(*ks) << " must have "
                         << in.size() << " values (the spatial dims)";
  return ks;
}

/// The window of MaxPool/AveragePool over input X: its static spatial sizes,
/// kernel_shape, and strides/pads/auto_pad (and dilations when the op has
/// them).
FailureOr<Window> readPoolWindow(ONNXNode &n, bool hasDilations,
                                 bool ceilMode) {
  FailureOr<SmallVector<int64_t>> in =
      spatialSizes(n, n.inputType(0), "input X");
  if (failed(in))
    return failure();
  FailureOr<SmallVector<int64_t>> ks = poolKernel(n, *in);
  if (failed(ks))
    return failure();
  return readWindow(n, *in, *ks, hasDilations, ceilMode);
}

/// Input X padded with `init` for the window `w` (explicit pads plus
/// ceil_mode's overhang), and the [N, C, out...] accumulator filled with
/// `init`.
std::pair<Value, Value> padPoolInput(OpBuilder &b, Location loc, Value x,
                                     const Window &w, Value init) {
  auto xTy = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> high;
  for (size_t i = 0; i < w.in.size(); ++i)
    high.push_back(w.padEnd[i] + w.extraEnd[i]);
  Value xp = padSpatial(b, loc, x, w.padBegin, high, init);
  SmallVector<int64_t> shape(xTy.getShape().take_front(2));
  shape.append(w.out);
  Value acc = filled(
      b, loc, emptyBatched(b, loc, shape, xTy.getElementType(), x), init);
  return {xp, acc};
}

LogicalResult buildMaxPool(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 2)))
    return failure();
  if (n.hasOutput(1))
    return n.emitError() << "the Indices output is not supported";
  if (n.opset >= 8 && failed(n.getInt("storage_order", 0)))
    return failure(); // it only orders the Indices output
  int32_t dt = n.inputDType(0);
  bool intOk = n.opset >= 12 && (dt == kInt8 || dt == kUInt8);
  if (!isFloatDType(dt) && !intOk)
    return n.emitError() << "dtype " << dtypeName(dt) << " is not supported";
  FailureOr<int64_t> ceil =
      n.opset >= 10 ? n.getInt("ceil_mode", 0) : FailureOr<int64_t>(0);
  if (failed(ceil))
    return failure();
  FailureOr<Window> w = readPoolWindow(n, n.opset >= 10, *ceil != 0);
  if (failed(w))
    return failure();
  OpBuilder &b = n.b;
  Type elemTy = n.inputType(0).getElementType();
  Value lowest =
      extremeConstant(b, n.loc, elemTy, /*lowest=*/true, isUnsignedDType(dt));
  auto [xp, acc] = padPoolInput(b, n.loc, n.input(0), *w, lowest);
  bool isUnsigned = isUnsignedDType(dt);
  Value y = poolGeneric(
      b, n.loc, xp, acc, *w, [&](OpBuilder &nb, Location l, Value a, Value v) {
        if (isa<FloatType>(elemTy))
          return arith::MaximumFOp::create(nb, l, a, v).getResult();
        if (isUnsigned)
          return arith::MaxUIOp::create(nb, l, a, v).getResult();
        return arith::MaxSIOp::create(nb, l, a, v).getResult();
      });
  n.setOutput(0, y, dt);
  return success();
}

/// y[n, c, o...] = sum[n, c, o...] / divisor, with a scalar divisor or one
/// per output position.
Value divideByCount(OpBuilder &b, Location loc, Value sum,
                    ArrayRef<int64_t> outShape, ArrayRef<double> divisors) {
  auto sumTy = cast<RankedTensorType>(sum.getType());
  Type elemTy = sumTy.getElementType();
  MLIRContext *ctx = b.getContext();
  int64_t rank = sumTy.getRank();
  Value empty = tensor::EmptyOp::create(
      b, loc, sumTy.getShape(), elemTy,
      sumTy.isDynamicDim(0)
          ? SmallVector<Value>{tensor::DimOp::create(b, loc, sum, 0)}
          : SmallVector<Value>{});
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  if (llvm::all_equal(divisors)) {
    Value d = scalarConstant(b, loc, elemTy, divisors.front());
    return linalg::GenericOp::create(
               b, loc, sumTy, ValueRange{sum}, ValueRange{empty},
               ArrayRef<AffineMap>{id, id}, iters,
               [&](OpBuilder &nb, Location l, ValueRange a) {
                 linalg::YieldOp::create(
                     nb, l, arith::DivFOp::create(nb, l, a[0], d).getResult());
               })
        .getResult(0);
  }
  SmallVector<Attribute> vals;
  for (double v : divisors)
    vals.push_back(b.getFloatAttr(elemTy, v));
  auto cTy = RankedTensorType::get(outShape, elemTy);
  Value counts =
      arith::ConstantOp::create(b, loc, DenseElementsAttr::get(cTy, vals));
  SmallVector<AffineExpr> cE;
  for (int64_t i = 2; i < rank; ++i)
    cE.push_back(getAffineDimExpr(i, ctx));
  return linalg::GenericOp::create(
             b, loc, sumTy, ValueRange{sum, counts}, ValueRange{empty},
             ArrayRef<AffineMap>{id, AffineMap::get(rank, 0, cE, ctx), id},
             iters,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               linalg::YieldOp::create(
                   nb, l, arith::DivFOp::create(nb, l, a[0], a[1]).getResult());
             })
      .getResult(0);
}

LogicalResult buildAveragePool(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "X must be a float tensor, got "
                         << dtypeName(n.inputDType(0));
  FailureOr<int64_t> includePad =
      n.opset >= 7 ? n.getInt("count_include_pad", 0) : FailureOr<int64_t>(0);
  FailureOr<int64_t> ceil =
      n.opset >= 10 ? n.getInt("ceil_mode", 0) : FailureOr<int64_t>(0);
  if (failed(includePad) || failed(ceil))
    return failure();
  FailureOr<Window> w = readPoolWindow(n, n.opset >= 19, *ceil != 0);
  if (failed(w))
    return failure();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value zero = scalarConstant(b, loc, n.inputType(0).getElementType(), 0);
  int64_t k = w->in.size();
  auto [xp, acc] = padPoolInput(b, loc, n.input(0), *w, zero);
  Value sum = poolGeneric(
      b, loc, xp, acc, *w, [](OpBuilder &nb, Location l, Value a, Value v) {
        return arith::AddFOp::create(nb, l, a, v).getResult();
      });
  // Elements per window: those in the input, or with count_include_pad
  // also those in the explicit padding (not ceil_mode's overhang).
  SmallVector<SmallVector<int64_t>> perDim(k);
  for (int64_t i = 0; i < k; ++i) {
    int64_t lo = *includePad ? -w->padBegin[i] : 0;
    int64_t hi = w->in[i] + (*includePad ? w->padEnd[i] : 0);
    for (int64_t o = 0; o < w->out[i]; ++o) {
      int64_t cnt = 0;
      for (int64_t j = 0; j < w->kernel[i]; ++j) {
        int64_t p = o * w->strides[i] - w->padBegin[i] + j * w->dilations[i];
        cnt += p >= lo && p < hi;
      }
      perDim[i].push_back(cnt);
    }
  }
  SmallVector<double> divisors{1.0};
  for (int64_t i = 0; i < k; ++i) {
    SmallVector<double> next;
    for (double d : divisors)
      for (int64_t c : perDim[i])
        next.push_back(d * static_cast<double>(c));
    divisors = std::move(next);
  }
  n.setOutput(0, divideByCount(b, loc, sum, w->out, divisors), n.inputDType(0));
  return success();
}

/// LpPool: (sum over the window of |x|^p)^(1/p); padding adds zeros. p is
/// a float attribute in opset 1, an integer from 2; ceil_mode and
/// dilations from 18.
LogicalResult buildLpPool(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "X must be a float tensor, got "
                         << dtypeName(n.inputDType(0));
  double p = 2.0;
  if (n.opset < 2) {
    FailureOr<double> pf = n.getFloat("p", 2.0);
    if (failed(pf))
      return failure();
    p = *pf;
  } else {
    FailureOr<int64_t> pi = n.getInt("p", 2);
    if (failed(pi))
      return failure();
    p = static_cast<double>(*pi);
  }
  if (!(p > 0))
    return n.emitError() << "p " << p << " must be positive";
  FailureOr<int64_t> ceil =
      n.opset >= 18 ? n.getInt("ceil_mode", 0) : FailureOr<int64_t>(0);
  if (failed(ceil))
    return failure();
  FailureOr<Window> w = readPoolWindow(n, n.opset >= 18, *ceil != 0);
  if (failed(w))
    return failure();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Type elemTy = n.inputType(0).getElementType();
  Value zero = scalarConstant(b, loc, elemTy, 0);
  auto [xp, acc] = padPoolInput(b, loc, n.input(0), *w, zero);
  Value sum = poolGeneric(
      b, loc, xp, acc, *w, [&](OpBuilder &nb, Location l, Value a, Value v) {
        Value t =
            p == 2.0
                ? arith::MulFOp::create(nb, l, v, v).getResult()
                : math::PowFOp::create(nb, l, math::AbsFOp::create(nb, l, v),
                                       scalarConstant(nb, l, elemTy, p))
                      .getResult();
        return arith::AddFOp::create(nb, l, a, t).getResult();
      });
  auto sumTy = cast<RankedTensorType>(sum.getType());
  Value y = parallelGeneric(
      b, loc, {sum},
      {AffineMap::getMultiDimIdentityMap(sumTy.getRank(), b.getContext())},
      emptyTensorLike(b, loc, sumTy, sum),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        if (p == 2.0)
          return math::SqrtOp::create(nb, l, a[0]);
        return math::PowFOp::create(nb, l, a[0],
                                    scalarConstant(nb, l, elemTy, 1.0 / p));
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// GlobalAveragePool / GlobalMaxPool: a reduction over all spatial dims
/// (which may be dynamic) into [N, C, 1...].
LogicalResult buildGlobalPool(ONNXNode &n, bool isMax) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "X must be a float tensor, got "
                         << dtypeName(n.inputDType(0));
  RankedTensorType xTy = n.inputType(0);
  int64_t rank = xTy.getRank();
  if (rank < 3)
    return n.emitError() << "X must have rank >= 3 (N, C, spatial dims...), "
                         << "got rank " << rank;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Type elemTy = xTy.getElementType();
  Value x = n.input(0);
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < 2; ++i)
    if (xTy.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, x, i));
  Value init = isMax ? extremeConstant(b, loc, elemTy, /*lowest=*/true,
                                       isUnsignedDType(n.inputDType(0)))
                     : scalarConstant(b, loc, elemTy, 0);
  Value acc = filled(b, loc,
                     tensor::EmptyOp::create(
                         b, loc, xTy.getShape().take_front(2), elemTy, dyn),
                     init);
  SmallVector<utils::IteratorType> iters(2, utils::IteratorType::parallel);
  iters.append(rank - 2, utils::IteratorType::reduction);
  Value r =
      linalg::GenericOp::create(
          b, loc, acc.getType(), ValueRange{x}, ValueRange{acc},
          ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                              AffineMap::get(rank, 0,
                                             {getAffineDimExpr(0, ctx),
                                              getAffineDimExpr(1, ctx)},
                                             ctx)},
          iters,
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value v =
                isMax ? arith::MaximumFOp::create(nb, l, a[1], a[0]).getResult()
                      : arith::AddFOp::create(nb, l, a[1], a[0]).getResult();
            linalg::YieldOp::create(nb, l, v);
          })
          .getResult(0);
  if (!isMax) {
    // The element count, from the dims at run time where they are dynamic.
    int64_t staticCount = 1;
    Value count;
    for (int64_t i = 2; i < rank; ++i) {
      if (!xTy.isDynamicDim(i)) {
        staticCount *= xTy.getDimSize(i);
        continue;
      }
      Value d = tensor::DimOp::create(b, loc, x, i);
      count = count ? arith::MulIOp::create(b, loc, count, d).getResult() : d;
    }
    Value divisor = scalarConstant(b, loc, elemTy, staticCount);
    if (count) {
      Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), count);
      Value f = arith::SIToFPOp::create(b, loc, elemTy, i64);
      divisor = arith::MulFOp::create(b, loc, divisor, f);
    }
    auto accTy = cast<RankedTensorType>(r.getType());
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    r = linalg::GenericOp::create(
            b, loc, accTy, ValueRange{r},
            ValueRange{
                tensor::EmptyOp::create(b, loc, accTy.getShape(), elemTy, dyn)},
            ArrayRef<AffineMap>{id, id},
            SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
            [&](OpBuilder &nb, Location l, ValueRange a) {
              linalg::YieldOp::create(
                  nb, l,
                  arith::DivFOp::create(nb, l, a[0], divisor).getResult());
            })
            .getResult(0);
  }
  SmallVector<int64_t> outShape(xTy.getShape().take_front(2));
  outShape.append(rank - 2, 1);
  ReassociationIndices tail;
  for (int64_t i = 1; i < rank; ++i)
    tail.push_back(i);
  Value y = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(outShape, elemTy), r,
      SmallVector<ReassociationIndices>{{0}, tail});
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

} // namespace

FailureOr<Value>
mlir::qopt::onnx_import::buildConvolution(ONNXNode &n, Value x, Value w,
                                          Value bias, Value padValue,
                                          Type accTy, ConvProductFn product) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto xTy = cast<RankedTensorType>(x.getType());
  auto wTy = cast<RankedTensorType>(w.getType());
  FailureOr<int64_t> group = n.getInt("group", 1);
  FailureOr<SmallVector<int64_t>> ks = n.getInts("kernel_shape", {});
  if (failed(group) || failed(ks))
    return failure();
  FailureOr<SmallVector<int64_t>> in = spatialSizes(n, xTy, "input X");
  if (failed(in))
    return failure();
  int64_t k = in->size();
  if (wTy.getRank() != xTy.getRank() || !wTy.hasStaticShape())
    return n.emitError() << "W must have a static shape of rank "
                         << xTy.getRank() << ", got " << wTy;
  SmallVector<int64_t> kernel(wTy.getShape().drop_front(2));
  if (!ks->empty() && ArrayRef<int64_t>(*ks) != ArrayRef<int64_t>(kernel))
    return n.emitError() << "kernel_shape " << fmt(*ks)
                         << " does not match W's spatial dims " << fmt(kernel);
  int64_t c = xTy.getDimSize(1), m = wTy.getDimSize(0);
  if (*group < 1 || c % *group != 0 || m % *group != 0)
    return n.emitError() << "group " << *group << " must divide the input "
                         << "channels (" << c << ") and the output channels ("
                         << m << ")";
  if (wTy.getDimSize(1) != c / *group)
    return n.emitError() << "W has " << wTy.getDimSize(1)
                         << " input channels per group, expected " << c << " / "
                         << *group << " = " << c / *group;
  FailureOr<Window> win = readWindow(n, *in, kernel, true, false);
  if (failed(win))
    return failure();
  Value xp = padSpatial(b, loc, x, win->padBegin, win->padEnd, padValue);
  SmallVector<int64_t> yShape{xTy.getDimSize(0), m};
  yShape.append(win->out);
  FailureOr<Value> acc = initAccumulator(n, yShape, accTy, x, bias);
  if (failed(acc))
    return failure();

  if (!product && *group == 1 && k <= 3) {
    auto yTy = cast<RankedTensorType>(acc->getType());
    Attribute st = b.getI64TensorAttr(win->strides);
    Attribute dl = b.getI64TensorAttr(win->dilations);
    SmallVector<Value> ins{xp, w}, outs{*acc};
    Operation *op;
    if (k == 1)
      op = linalg::Conv1DNcwFcwOp::create(b, loc, TypeRange{yTy}, ins, outs, st,
                                          dl);
    else if (k == 2)
      op = linalg::Conv2DNchwFchwOp::create(b, loc, TypeRange{yTy}, ins, outs,
                                            st, dl);
    else
      op = linalg::Conv3DNcdhwFcdhwOp::create(b, loc, TypeRange{yTy}, ins, outs,
                                              st, dl);
    return op->getResult(0);
  }
  Value xg = expandGroups(b, loc, xp, 1, *group);
  Value wg = expandGroups(b, loc, w, 0, *group);
  Value accG = expandGroups(b, loc, *acc, 1, *group);
  Value y = groupedConv(
      b, loc, xg, wg, accG, k, /*transposedW=*/false,
      [&](int64_t i, AffineExpr o, AffineExpr kk) {
        return o * win->strides[i] + kk * win->dilations[i];
      },
      product);
  return collapseGroups(b, loc, y, 1);
}

void mlir::qopt::onnx_import::registerConvOps(OpRegistry &r) {
  // Opset 11 only clarified auto_pad/pads; the builders are the same.
  for (int64_t v : {1, 11}) {
    r.add("", "Conv", v, buildConv);
    r.add("", "ConvTranspose", v, buildConvTranspose);
  }
  // MaxPool: storage_order from 8, ceil_mode and dilations from 10, int8
  // and uint8 from 12.
  for (int64_t v : {1, 8, 10, 11, 12})
    r.add("", "MaxPool", v, buildMaxPool);
  // AveragePool: count_include_pad from 7, ceil_mode from 10, dilations
  // from 19.
  for (int64_t v : {1, 7, 10, 11, 19})
    r.add("", "AveragePool", v, buildAveragePool);
  // LpPool: p an integer from 2, ceil_mode and dilations from 18.
  for (int64_t v : {1, 2, 11, 18})
    r.add("", "LpPool", v, buildLpPool);
  r.add("", "GlobalAveragePool", 1,
        [](ONNXNode &n) { return buildGlobalPool(n, /*isMax=*/false); });
  r.add("", "GlobalMaxPool", 1,
        [](ONNXNode &n) { return buildGlobalPool(n, /*isMax=*/true); });
}
