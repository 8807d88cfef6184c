//===- IntegerDepthwise.cpp - W8A8 depthwise convolutions in int8 ---------===//
//
// The importer builds a Conv with group = C (one input channel per group)
// as a linalg.generic over (n, g, m, oh, ow, c, kh, kw):
//
//   x [N, G, 1, H', W'] (padded), w [G, M, 1, KH, KW] -> out [N, G, M, OH, OW]
//   out += x[n, g, c, oh * sh + kh * dh, ow * sw + kw * dw] * w[g, m, c, kh,
//   kw]
//
// which is not a linalg named convolution, so it is no
// QuantizableLayerOpInterface op; W8A8 used to leave it float. Here it gets
// the integer form qopt-quantize gives NCHW convolutions (IntegerConv.h):
// the observed input quantized per tensor, the filter per output channel,
// an i8 x i8 -> i32 generic of the same shape (the runtime's
// qopt_kernel_conv2d_depthwise_s8 takes it), and a dequantizing epilogue.
//
//===----------------------------------------------------------------------===//

#include "IntegerDepthwise.h"

#include "IntegerConv.h"
#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/NodeName.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Support/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// Whether `m`'s results are the loop dimensions `want`.
bool dimsAre(AffineMap m, ArrayRef<unsigned> want) {
  if (m.getNumResults() != want.size())
    return false;
  for (auto [e, d] : llvm::zip(m.getResults(), want)) {
    auto de = dyn_cast<AffineDimExpr>(e);
    if (!de || de.getPosition() != d)
      return false;
  }
  return true;
}

/// A float depthwise convolution generic (the importer's form above): its
/// filter values (constant, [G, M, 1, KH, KW] in C order) and the observer
/// with the input's calibrated range.
struct DepthwiseMatch {
  ObserveOp observer;
  Value source; // the input before any observer
  std::vector<float> filter;
};

std::optional<DepthwiseMatch> matchDepthwise(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumLoops() != 8)
    return std::nullopt;
  for (Value v : op->getOperands()) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t || !t.getElementType().isF32() || !t.hasStaticShape())
      return std::nullopt;
  }
  auto iters = op.getIteratorTypesArray();
  for (unsigned i = 0; i < 8; ++i)
    if (iters[i] != (i < 5 ? utils::IteratorType::parallel
                           : utils::IteratorType::reduction))
      return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!dimsAre(maps[2], {0, 1, 2, 3, 4}) ||
      !dimsAre(maps[1], {1, 2, 5, 6, 7}) || maps[0].getNumResults() != 5 ||
      !dimsAre(maps[0].getSliceMap(0, 3), {0, 1, 5}))
    return std::nullopt;
  Value x = op.getDpsInputOperand(0)->get();
  if (cast<RankedTensorType>(x.getType()).getDimSize(2) != 1)
    return std::nullopt; // not one input channel per group
  // Body: out + x * w.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || body.getOperations().size() != 3)
    return std::nullopt;
  Value acc = body.getArgument(2);
  Value prod = add.getLhs() == acc   ? add.getRhs()
               : add.getRhs() == acc ? add.getLhs()
                                     : Value();
  auto mul = prod ? prod.getDefiningOp<arith::MulFOp>() : nullptr;
  if (!mul || !((mul.getLhs() == body.getArgument(0) &&
                 mul.getRhs() == body.getArgument(1)) ||
                (mul.getLhs() == body.getArgument(1) &&
                 mul.getRhs() == body.getArgument(0))))
    return std::nullopt;
  // The filter: a constant, possibly viewed [G, M, 1, KH, KW].
  Value w = op.getDpsInputOperand(1)->get();
  if (auto e = w.getDefiningOp<tensor::ExpandShapeOp>())
    w = e.getSrc();
  std::optional<std::vector<float>> filter = constantF32Values(w);
  if (!filter)
    return std::nullopt;
  // The input's calibrated range: the nearest range observer above it.
  DepthwiseMatch m;
  Value v = x;
  while (auto obs = v.getDefiningOp<ObserveOp>()) {
    if (!m.observer && obs.getKind() != ObserverKind::SecondMoment &&
        obs.getCalibrationAttr())
      m.observer = obs;
    v = obs.getInput();
  }
  if (!m.observer)
    return std::nullopt;
  m.source = v;
  m.filter = std::move(*filter);
  return m;
}

LogicalResult rewrite(linalg::GenericOp op, DepthwiseMatch &match,
                      const std::string &name) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type(), i8 = b.getI8Type(), i32 = b.getI32Type();
  auto wTy = cast<RankedTensorType>(op.getDpsInputOperand(1)->get().getType());
  const int64_t g = wTy.getDimSize(0), mult = wTy.getDimSize(1);
  const int64_t f = g * mult, taps = wTy.getNumElements() / f;
  // Weights: symmetric int8 per output channel f = g * M + m.
  auto params = ::qopt::choosePerAxisParams(match.filter, {f, taps}, 0,
                                            ::qopt::StorageType::Int8,
                                            /*symmetric=*/true);
  if (!params)
    return op.emitOpError("qopt-quantize: the depthwise filter is not finite");
  ::qopt::StorageRange range =
      ::qopt::symmetricStorageRange(::qopt::StorageType::Int8);
  std::vector<int8_t> wq(match.filter.size());
  for (int64_t o = 0; o < f; ++o)
    for (int64_t t = 0; t < taps; ++t)
      wq[size_t(o * taps + t)] = int8_t(::qopt::quantizeValue(
          match.filter[size_t(o * taps + t)], (*params)[size_t(o)], range));
  // The input: per tensor, as an int8 type (uint8 shifted by -128).
  quant::UniformQuantizedType obsTy =
      match.observer.getCalibrationAttr().getType();
  const double sx = obsTy.getScale();
  const int64_t zx = obsTy.getZeroPoint() - (obsTy.isSigned() ? 0 : 128);
  auto sTy = quant::UniformQuantizedType::get(quant::QuantizationFlags::Signed,
                                              i8, f32, sx, zx, -128, 127);
  auto xTy = cast<RankedTensorType>(match.source.getType());
  Value xi;
  // The importer pads with zeros before the conv: quantize the unpadded
  // input and pad the int8 result with the zero point (the same values),
  // so that the quantization fuses with the element-wise loop producing
  // the input and the padded copy is int8.
  auto expand = match.source.getDefiningOp<tensor::ExpandShapeOp>();
  auto pad = expand ? expand.getSrc().getDefiningOp<tensor::PadOp>() : nullptr;
  Value padValue = pad ? pad.getConstantPaddingValue() : Value();
  if (pad && padValue && matchPattern(padValue, m_AnyZeroFloat()) &&
      pad.getSourceType().hasStaticShape()) {
    auto srcTy = pad.getSourceType();
    Value q = QuantizeOp::create(b, loc, srcTy.clone(sTy), pad.getSource());
    Value qi = quant::StorageCastOp::create(b, loc, srcTy.clone(i8), q);
    Value zp = arith::ConstantIntOp::create(b, loc, zx, 8);
    Value padded =
        tensor::PadOp::create(b, loc, pad.getResultType().clone(i8), qi,
                              pad.getMixedLowPad(), pad.getMixedHighPad(), zp);
    xi = tensor::ExpandShapeOp::create(b, loc, xTy.clone(i8), padded,
                                       expand.getReassociationIndices());
  } else {
    Value qx = QuantizeOp::create(b, loc, xTy.clone(sTy), match.source);
    xi = quant::StorageCastOp::create(b, loc, xTy.clone(i8), qx);
  }
  Value wi =
      makeBlobConstant<int8_t>(b, loc, wTy.clone(i8), name + ".int8", wq);
  // Per output channel [G, M]: zero-point correction and combined scale.
  std::vector<int32_t> corr = zeroPointCorrections(wq, f, zx);
  std::vector<float> scale(static_cast<size_t>(f));
  for (int64_t o = 0; o < f; ++o)
    scale[size_t(o)] = float(sx * double((*params)[size_t(o)].scale));
  auto gmTy = RankedTensorType::get({g, mult}, f32);
  Value scaleV = makeBlobConstant<float>(b, loc, gmTy, name + ".scale", scale);
  Value corrV = makeBlobConstant<int32_t>(
      b, loc, gmTy.clone(i32), name + ".zero_point_correction", corr);
  Value init = op.getDpsInitOperand(0)->get();
  auto outTy = cast<RankedTensorType>(init.getType());
  Value empty = tensor::EmptyOp::create(b, loc, outTy.getShape(), i32);
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value acc0 = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  auto intConv = linalg::GenericOp::create(
      b, loc, TypeRange{acc0.getType()}, ValueRange{xi, wi}, ValueRange{acc0},
      op.getIndexingMapsArray(), op.getIteratorTypesArray(),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value a = arith::ExtSIOp::create(nb, l, i32, args[0]);
        Value c = arith::ExtSIOp::create(nb, l, i32, args[1]);
        Value p = arith::MulIOp::create(nb, l, a, c);
        linalg::YieldOp::create(
            nb, l, arith::AddIOp::create(nb, l, args[2], p).getResult());
      });
  // The epilogue over [N, F, OH, OW] when the init is the importer's view
  // of a 4-D tensor (the usual case): it then fuses with the element-wise
  // ops after the conv (BatchNorm, activation, the next quantization),
  // which a 5-D loop behind a reshape would not.
  auto initView = init.getDefiningOp<tensor::ExpandShapeOp>();
  SmallVector<ReassociationIndices> groups{{0}, {1, 2}, {3}, {4}};
  const bool flat = initView && initView.getReassociationIndices() == groups;
  const int64_t rank = flat ? 4 : 5;
  Value acc = intConv.getResult(0), init4 = init, corrE = corrV,
        scaleE = scaleV;
  if (flat) {
    acc = tensor::CollapseShapeOp::create(b, loc, acc, groups);
    init4 = initView.getSrc();
    auto fTy = RankedTensorType::get({f}, f32);
    corrE = tensor::CollapseShapeOp::create(
        b, loc, fTy.clone(i32), corrV, ArrayRef<ReassociationIndices>{{0, 1}});
    scaleE = tensor::CollapseShapeOp::create(
        b, loc, fTy, scaleV, ArrayRef<ReassociationIndices>{{0, 1}});
  }
  auto resTy = cast<RankedTensorType>(init4.getType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap perF =
      flat
          ? AffineMap::get(4, 0, getAffineDimExpr(1, ctx), ctx)
          : AffineMap::get(5, 0,
                           {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)},
                           ctx);
  // A bias broadcast over batch and space is read as its vector.
  AffineMap initMap = id;
  if (auto bc = init4.getDefiningOp<linalg::BroadcastOp>();
      flat && bc &&
      cast<RankedTensorType>(bc.getInput().getType()).getRank() == 1 &&
      bc.getDimensions() == ArrayRef<int64_t>{0, 2, 3}) {
    init4 = bc.getInput();
    initMap = perF;
  }
  Value out = tensor::EmptyOp::create(b, loc, resTy.getShape(), f32);
  linalg::GenericOp epilogue = createDequantEpilogue(
      b, loc, resTy, ValueRange{acc, init4, corrE, scaleE}, out,
      {id, initMap, perF, perF, id});
  Value result = epilogue.getResult(0);
  if (flat)
    result = tensor::ExpandShapeOp::create(b, loc, outTy, result, groups);
  for (NamedAttribute attr : op->getDiscardableAttrs())
    epilogue->setAttr(attr.getName(), attr.getValue());
  Value oldFilter = op.getDpsInputOperand(1)->get();
  op->getResult(0).replaceAllUsesWith(result);
  op->erase();
  // The float filter (and its view) nothing reads any more.
  if (auto e = oldFilter.getDefiningOp<tensor::ExpandShapeOp>();
      e && e->use_empty()) {
    Value src = e.getSrc();
    e->erase();
    oldFilter = src;
  }
  if (auto c = oldFilter.getDefiningOp<arith::ConstantOp>();
      c && c->use_empty())
    c->erase();
  return success();
}

} // namespace

FailureOr<int64_t> mlir::qopt::quantizeDepthwiseConvs(
    ModuleOp module, function_ref<bool(const std::string &)> selected) {
  SmallVector<std::pair<linalg::GenericOp, DepthwiseMatch>> found;
  module.walk([&](linalg::GenericOp op) {
    if (std::optional<DepthwiseMatch> m = matchDepthwise(op))
      if (selected(onnxNodeName(op.getLoc())))
        found.push_back({op, std::move(*m)});
  });
  int64_t count = 0;
  for (auto &[op, m] : found) {
    std::string name = onnxNodeName(op.getLoc());
    if (failed(rewrite(op, m, name.empty() ? "depthwise" : name)))
      return failure();
    ++count;
  }
  return count;
}
