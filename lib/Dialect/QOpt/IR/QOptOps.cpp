//===- QOptOps.cpp - qopt operations: verifiers and folders ---------------===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/IR/NodeName.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/DenseMap.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Shared checks
//===----------------------------------------------------------------------===//

/// Prints a shape as `4x?x8` for diagnostics.
static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(
      shape, os,
      [&](int64_t d) {
        if (ShapedType::isDynamic(d))
          os << "?";
        else
          os << d;
      },
      "x");
  return s;
}

/// Checks that the element type of `quantTy` is a per-tensor or per-axis
/// uniform quantized type expressing `floatTy`'s element type, that both
/// tensors have the same shape, and that the quantization parameters fit the
/// tensor and the storage range.
static LogicalResult verifyQuantPair(Operation *op, RankedTensorType floatTy,
                                     RankedTensorType quantTy) {
  // Identical shapes, dynamic dims included, as quant.scast requires of the
  // lowered form.
  if (floatTy.getShape() != quantTy.getShape())
    return op->emitOpError("float shape ")
           << shapeStr(floatTy.getShape()) << " must equal the quantized shape "
           << shapeStr(quantTy.getShape());

  auto qTy = dyn_cast<quant::QuantizedType>(quantTy.getElementType());
  if (!isa<quant::UniformQuantizedType, quant::UniformQuantizedPerAxisType,
           quant::UniformQuantizedSubChannelType>(qTy))
    return op->emitOpError("only per-tensor (!quant.uniform<s:f, scale:zp>), "
                           "per-axis and sub-channel (block-wise) uniform "
                           "quantized types are supported, got ")
           << quantTy.getElementType();
  if (qTy.getExpressedType() != floatTy.getElementType())
    return op->emitOpError("float element type ")
           << floatTy.getElementType()
           << " must equal the expressed type of the quantized type ("
           << qTy.getExpressedType() << ")";

  int64_t qmin = qTy.getStorageTypeMin(), qmax = qTy.getStorageTypeMax();
  auto checkZeroPoint = [&](int64_t zp) -> LogicalResult {
    if (zp < qmin || zp > qmax)
      return op->emitOpError("zero point ")
             << zp << " is outside the storage range [" << qmin << ", " << qmax
             << "]";
    return success();
  };

  if (auto perTensor = dyn_cast<quant::UniformQuantizedType>(qTy))
    return checkZeroPoint(perTensor.getZeroPoint());

  if (auto blocked = dyn_cast<quant::UniformQuantizedSubChannelType>(qTy)) {
    // Scales index [i0 / B0, i1 / B1, ...]; a dimension with no block size
    // has one block.
    int64_t rank = quantTy.getRank();
    ArrayRef<int64_t> sShape = blocked.getScales().getType().getShape();
    if (!quantTy.hasStaticShape())
      return op->emitOpError("a sub-channel quantized tensor must have a "
                             "static shape");
    if (static_cast<int64_t>(sShape.size()) != rank)
      return op->emitOpError("sub-channel scales have rank ")
             << sShape.size() << ", the tensor " << rank;
    SmallVector<int64_t> blocks(quantTy.getShape());
    for (auto [d, size] :
         llvm::zip(blocked.getQuantizedDimensions(), blocked.getBlockSizes())) {
      if (d >= rank)
        return op->emitOpError("quantized dimension ")
               << d << " is out of range for a tensor of rank " << rank;
      blocks[d] = size;
    }
    for (int64_t d = 0; d < rank; ++d) {
      int64_t dim = quantTy.getDimSize(d);
      if (dim % blocks[d] != 0 || sShape[d] != dim / blocks[d])
        return op->emitOpError("block size ")
               << blocks[d] << " of dimension " << d << " (size " << dim
               << ") needs " << dim / std::max<int64_t>(blocks[d], 1)
               << " whole blocks, the scales have " << sShape[d];
    }
    for (const APInt &zp : blocked.getZeroPoints().getValues<APInt>())
      if (failed(checkZeroPoint(blocked.isSigned()
                                    ? zp.getSExtValue()
                                    : static_cast<int64_t>(zp.getZExtValue()))))
        return failure();
    return success();
  }

  auto perAxis = cast<quant::UniformQuantizedPerAxisType>(qTy);
  int64_t axis = perAxis.getQuantizedDimension();
  int64_t rank = quantTy.getRank();
  if (axis < 0 || axis >= rank)
    return op->emitOpError("quantized dimension ")
           << axis << " is out of range for a tensor of rank " << rank;
  int64_t dim = quantTy.getDimSize(axis);
  int64_t count = perAxis.getScales().size();
  if (ShapedType::isDynamic(dim))
    return op->emitOpError("quantized dimension ")
           << axis << " must have a static size (one scale per index)";
  if (count != dim)
    return op->emitOpError("scale count (")
           << count << ") must equal the size of axis " << axis << " (" << dim
           << ")";
  for (int64_t zp : perAxis.getZeroPoints())
    if (failed(checkZeroPoint(zp)))
      return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  RankedTensorType inTy = getInput().getType();
  RankedTensorType wTy = getWeight().getType();
  RankedTensorType outTy = getResult().getType();
  Type elemTy = inTy.getElementType();

  if (inTy.getRank() < 1)
    return emitOpError("input must have rank >= 1, got a rank-0 tensor");
  if (wTy.getRank() != 2)
    return emitOpError("weight must be 2-D [out_features, in_features], got "
                       "rank ")
           << wTy.getRank();
  if (wTy.getElementType() != elemTy || outTy.getElementType() != elemTy)
    return emitOpError("input, weight and result must share one element "
                       "type, got ")
           << elemTy << ", " << wTy.getElementType() << " and "
           << outTy.getElementType();

  int64_t inFeatures = inTy.getShape().back();
  int64_t outFeatures = wTy.getDimSize(0);
  if (!ShapedType::isDynamic(inFeatures) &&
      !ShapedType::isDynamic(wTy.getDimSize(1)) &&
      inFeatures != wTy.getDimSize(1))
    return emitOpError("input feature size (")
           << inFeatures << ") must equal the weight's in_features ("
           << wTy.getDimSize(1) << ")";

  if (Value bias = getBias()) {
    auto bTy = cast<RankedTensorType>(bias.getType());
    if (bTy.getElementType() != elemTy)
      return emitOpError("bias element type ")
             << bTy.getElementType() << " must equal the input's " << elemTy;
    if (bTy.getRank() != 1)
      return emitOpError("bias must be 1-D [out_features], got rank ")
             << bTy.getRank();
    if (!ShapedType::isDynamic(bTy.getDimSize(0)) &&
        !ShapedType::isDynamic(outFeatures) && bTy.getDimSize(0) != outFeatures)
      return emitOpError("bias size (")
             << bTy.getDimSize(0) << ") must equal out_features ("
             << outFeatures << ")";
  }

  SmallVector<int64_t> expected(inTy.getShape().drop_back());
  expected.push_back(outFeatures);
  if (outTy.getRank() != inTy.getRank() ||
      failed(verifyCompatibleShape(outTy.getShape(), expected)))
    return emitOpError("result shape ")
           << shapeStr(outTy.getShape()) << " must be " << shapeStr(expected)
           << " (input batch dims followed by out_features)";

  if (auto name = getWeightName(); name && name->empty())
    return emitOpError("weight_name must not be empty when present");
  return success();
}

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  // What calibration attaches must fit the observer's kind.
  bool perChannel = getKind() == ObserverKind::ChannelAbsMax;
  bool sumSq = getKind() == ObserverKind::ChannelSumSq;
  if (perChannel && (getStatistics() || getCalibration()))
    return emitOpError("a channel_absmax observer carries channel_absmax, not "
                       "statistics or calibration");
  if (sumSq && (getStatistics() || getCalibration() || getChannelAbsmax()))
    return emitOpError("a channel_sumsq observer carries channel_sumsq, not "
                       "statistics, calibration or channel_absmax");
  if (!perChannel && getChannelAbsmax())
    return emitOpError("channel_absmax is for channel_absmax observers, this "
                       "one is ")
           << stringifyObserverKind(getKind());
  if (!sumSq && (getChannelSumsq() || getChannelAxis()))
    return emitOpError("channel_sumsq and channel_axis are for channel_sumsq "
                       "observers, this one is ")
           << stringifyObserverKind(getKind());
  if (sumSq) {
    int64_t rank = getInput().getType().getRank();
    if (rank < 1)
      return emitOpError("a channel_sumsq observer needs a ranked value of "
                         "rank >= 1");
    if (getChannelDim() >= rank)
      return emitOpError("channel_axis ")
             << getChannelDim() << " is out of range for rank " << rank;
    if (auto sums = getChannelSumsq()) {
      int64_t channels = getInput().getType().getDimSize(getChannelDim());
      if (!ShapedType::isDynamic(channels) && int64_t(sums->size()) != channels)
        return emitOpError("channel_sumsq has ")
               << sums->size() << " values for " << channels << " channels";
      for (double v : *sums)
        if (!(v >= 0) || !std::isfinite(v))
          return emitOpError("channel_sumsq values must be finite and >= 0, "
                             "got ")
                 << v;
    }
  }
  bool moments = getKind() == ObserverKind::SecondMoment;
  if (moments && (getStatistics() || getCalibration() || getChannelAbsmax()))
    return emitOpError("a second_moment observer carries second_moment, not "
                       "statistics, calibration or channel_absmax");
  if (!moments && (getSecondMoment() || getWindow()))
    return emitOpError("second_moment and window are for second_moment "
                       "observers, this one is ")
           << stringifyObserverKind(getKind());
  if (moments) {
    auto type = getInput().getType();
    int64_t rank = type.getRank(), k = ShapedType::kDynamic;
    if (auto window = getWindow()) {
      if (window->size() != 6 ||
          llvm::any_of(*window, [](int64_t v) { return v < 1; }))
        return emitOpError("window must be [kh, kw, stride h, stride w, "
                           "dilation h, dilation w], all >= 1");
      if (rank != 4)
        return emitOpError("a window needs an NCHW input, got rank ") << rank;
      if (!type.isDynamicDim(1))
        k = type.getDimSize(1) * (*window)[0] * (*window)[1];
    } else if (rank < 1) {
      return emitOpError("a second_moment observer needs rank >= 1");
    } else if (!type.isDynamicDim(rank - 1)) {
      k = type.getDimSize(rank - 1);
    }
    if (auto sm = getSecondMomentAttr();
        sm && !ShapedType::isDynamic(k) && sm.getSize() != k)
      return emitOpError("second_moment has rows of ")
             << sm.getSize() << " values, the observed rows have " << k;
  }
  if (auto absmax = getChannelAbsmax()) {
    int64_t channels = getInput().getType().getShape().back();
    if (!ShapedType::isDynamic(channels) && int64_t(absmax->size()) != channels)
      return emitOpError("channel_absmax has ")
             << absmax->size() << " values for " << channels << " channels";
  }
  if (auto cal = getCalibrationAttr();
      cal &&
      cal.getType().getExpressedType() != getInput().getType().getElementType())
    return emitOpError("calibration type ")
           << cal.getType() << " does not express the observed "
           << getInput().getType().getElementType();
  // Calibration statistics are keyed by id, so ids must be unique within the
  // enclosing symbol table (the module). Only the first observer of that
  // scope checks, so the whole check is linear in the number of ops.
  Operation *scope = (*this)->getParentWithTrait<OpTrait::SymbolTable>();
  if (!scope)
    return success();
  ObserveOp first;
  scope->walk([&](ObserveOp op) {
    first = op;
    return WalkResult::interrupt();
  });
  if (first != *this)
    return success();

  llvm::DenseMap<int64_t, ObserveOp> seen;
  ObserveOp dupFirst, dupSecond;
  scope->walk([&](ObserveOp op) {
    auto [it, inserted] = seen.try_emplace(op.getId(), op);
    if (inserted)
      return WalkResult::advance();
    dupFirst = it->second;
    dupSecond = op;
    return WalkResult::interrupt();
  });
  if (dupSecond) {
    InFlightDiagnostic diag = dupSecond.emitOpError("id ")
                              << dupSecond.getId()
                              << " is not unique in the enclosing module";
    diag.attachNote(dupFirst.getLoc()) << "first used here";
    return diag;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult QuantizeOp::verify() {
  return verifyQuantPair(*this, getInput().getType(), getResult().getType());
}

/// quantize(dequantize(%q)) with the same quantized type is %q: dequantized
/// values sit exactly on the grid, so requantizing returns them unchanged.
/// Only exact when the float type holds every storage value: e.g. f16 cannot
/// tell 4096 from 4097 (i16 storage), so the round trip would change q.
OpFoldResult QuantizeOp::fold(FoldAdaptor) {
  auto dq = getInput().getDefiningOp<DequantizeOp>();
  if (!dq || dq.getInput().getType() != getResult().getType())
    return {};
  auto qTy = cast<quant::QuantizedType>(getResult().getType().getElementType());
  auto floatTy = cast<FloatType>(getInput().getType().getElementType());
  // (q - zp) spans up to width + 1 bits; one more guards the rounding of the
  // product with the scale.
  if (llvm::APFloat::semanticsPrecision(floatTy.getFloatSemantics()) <
      qTy.getStorageTypeIntegralWidth() + 2)
    return {};
  return dq.getInput();
}

LogicalResult DequantizeOp::verify() {
  return verifyQuantPair(*this, getResult().getType(), getInput().getType());
}

//===----------------------------------------------------------------------===//
// FakeQuantOp
//===----------------------------------------------------------------------===//

LogicalResult FakeQuantOp::verify() {
  int64_t qmin = getQuantMin(), qmax = getQuantMax();
  if (qmin >= qmax)
    return emitOpError("quant_min (")
           << qmin << ") must be less than quant_max (" << qmax << ")";

  ArrayRef<double> scales = getScale();
  ArrayRef<int64_t> zps = getZeroPoint();
  if (scales.empty())
    return emitOpError("needs at least one scale");
  if (scales.size() != zps.size())
    return emitOpError("scale count (")
           << scales.size() << ") must equal the zero point count ("
           << zps.size() << ")";
  auto floatTy = cast<FloatType>(getInput().getType().getElementType());
  const llvm::fltSemantics &sem = floatTy.getFloatSemantics();
  double smallest = llvm::APFloat::getSmallest(sem).convertToDouble();
  double largest = llvm::APFloat::getLargest(sem).convertToDouble();
  for (double s : scales) {
    if (!(s > 0.0) || !std::isfinite(s))
      return emitOpError("scale ") << s << " must be positive and finite";
    // The same bound upstream's !quant.uniform parser enforces.
    if (s < smallest || s > largest)
      return emitOpError("scale ")
             << s << " is out of the range of " << floatTy << " [" << smallest
             << ", " << largest << "]";
  }
  // Integers up to 2^precision are exact in the float type; the clamp
  // bounds and zero points must be.
  double exactLimit = std::ldexp(1.0, llvm::APFloat::semanticsPrecision(sem));
  if (std::fabs(static_cast<double>(qmin)) > exactLimit ||
      std::fabs(static_cast<double>(qmax)) > exactLimit)
    return emitOpError("range [")
           << qmin << ", " << qmax << "] is not exactly representable in "
           << floatTy;
  for (int64_t zp : zps)
    if (zp < qmin || zp > qmax)
      return emitOpError("zero point ")
             << zp << " is outside the range [" << qmin << ", " << qmax << "]";

  RankedTensorType ty = getInput().getType();
  std::optional<int64_t> axis = getAxis();
  if (!axis) {
    if (scales.size() != 1)
      return emitOpError("per-tensor fake quantization takes one scale, got ")
             << scales.size() << " (set `axis` for per-axis)";
    return success();
  }
  if (*axis < 0 || *axis >= ty.getRank())
    return emitOpError("axis ") << *axis << " is out of range for a tensor "
                                << "of rank " << ty.getRank();
  int64_t dim = ty.getDimSize(*axis);
  if (ShapedType::isDynamic(dim))
    return emitOpError("axis ")
           << *axis << " must have a static size (one scale per index)";
  if (static_cast<int64_t>(scales.size()) != dim)
    return emitOpError("scale count (")
           << scales.size() << ") must equal the size of axis " << *axis << " ("
           << dim << ")";
  return success();
}

/// Fake quantization is idempotent: a second identical fake_quant is a no-op.
OpFoldResult FakeQuantOp::fold(FoldAdaptor) {
  auto inner = getInput().getDefiningOp<FakeQuantOp>();
  if (inner && inner.getScale() == getScale() &&
      inner.getZeroPoint() == getZeroPoint() &&
      inner.getQuantMin() == getQuantMin() &&
      inner.getQuantMax() == getQuantMax() && inner.getAxis() == getAxis())
    return inner.getResult();
  return {};
}

//===----------------------------------------------------------------------===//
// QLinearOp
//===----------------------------------------------------------------------===//

/// `a` and `b` agree where both are static.
static bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

LogicalResult QLinearOp::verify() {
  RankedTensorType inTy = getInput().getType();
  RankedTensorType wTy = getWeight().getType();
  RankedTensorType sTy = getWeightScale().getType();
  RankedTensorType outTy = getResult().getType();
  bool doubleQuant = bool(getScaleScale());
  if (!inTy.getElementType().isF32() || !outTy.getElementType().isF32() ||
      (!doubleQuant && !sTy.getElementType().isF32()))
    return emitOpError("input, weight_scale and result must be f32");
  if (doubleQuant) {
    // Double-quantized NF4 scales: int8 codes, f32 per 256 of them, offset.
    if (getWeightFormat() != WeightFormat::NF4)
      return emitOpError("double_quant scales are for nf4 weights only");
    if (!sTy.getElementType().isInteger(8))
      return emitOpError("a double-quantized weight_scale must be i8, got ")
             << sTy.getElementType();
    if (!getScaleOffset() ||
        !std::isfinite(getScaleOffset()->convertToDouble()))
      return emitOpError("double_quant needs a finite scale_offset");
    auto ssTy = cast<RankedTensorType>(getScaleScale().getType());
    if (sTy.hasStaticShape() &&
        (ssTy.getRank() != 1 ||
         !dimsAgree(ssTy.getDimSize(0), (sTy.getNumElements() + 255) / 256)))
      return emitOpError("scale_scale must be [ceil(")
             << sTy.getNumElements() << " / 256)] = ["
             << (sTy.getNumElements() + 255) / 256 << "], got "
             << shapeStr(ssTy.getShape());
  } else if (getScaleOffset()) {
    return emitOpError("scale_offset is for double-quantized scales only");
  }
  if (inTy.getRank() < 1)
    return emitOpError("input must have rank >= 1, got a rank-0 tensor");
  if (wTy.getRank() != 2)
    return emitOpError("weight must be 2-D, got rank ") << wTy.getRank();

  WeightFormat format = getWeightFormat();
  bool packed = format != WeightFormat::Int8;
  int64_t n = wTy.getDimSize(0), k = inTy.getShape().back();
  int64_t group = getGroupSize();
  if (!packed && !dimsAgree(wTy.getDimSize(1), k))
    return emitOpError("int8 weight must be [N, K] with K = ")
           << k << ", got " << shapeStr(wTy.getShape());
  // Scales: per channel, or per block of group_size along K; a 4-bit
  // weight's last block may be partial, padded to the group.
  if (group < 0)
    return emitOpError("group_size must be >= 0, got ") << group;
  int64_t blocks = group > 0 ? (k + group - 1) / group : 0;
  if (packed) {
    if (ShapedType::isDynamic(k))
      return emitOpError("a 4-bit weight needs a static K");
    if (group > 0 && group % 2 == 0 &&
        !dimsAgree(wTy.getDimSize(1), blocks * group / 2))
      return emitOpError("4-bit weight must be packed [N, ceil(K/group) * "
                         "group/2] = [N, ")
             << blocks * group / 2 << "], got " << shapeStr(wTy.getShape());
  }
  if (group == 0) {
    if (packed)
      return emitOpError("4-bit weights are block-wise: group_size must be "
                         "> 0");
    if (sTy.getRank() != 1 || !dimsAgree(sTy.getDimSize(0), n))
      return emitOpError("per-channel weight_scale must be [N] = [")
             << n << "], got " << shapeStr(sTy.getShape());
  } else {
    if (!packed)
      return emitOpError("group_size applies to 4-bit weights only; int8 "
                         "weights are per channel");
    if (group % 2 != 0)
      return emitOpError("group_size must be even, got ") << group;
    if (sTy.getRank() != 2 || !dimsAgree(sTy.getDimSize(0), n) ||
        !dimsAgree(sTy.getDimSize(1), blocks))
      return emitOpError("block-wise weight_scale must be [N, "
                         "ceil(K/group)] = [")
             << n << ", " << blocks << "], got " << shapeStr(sTy.getShape());
  }
  if (Value zp = getWeightZeroPoint()) {
    if (format != WeightFormat::UInt4)
      return emitOpError("weight_zero_point is for uint4 weights only; ")
             << stringifyWeightFormat(format) << " weights are symmetric";
    if (cast<RankedTensorType>(zp.getType()).getShape() != sTy.getShape())
      return emitOpError("weight_zero_point must have weight_scale's shape ")
             << shapeStr(sTy.getShape());
  } else if (format == WeightFormat::UInt4) {
    return emitOpError("uint4 weights need a weight_zero_point");
  }

  ActivationMode act = getActivation();
  if (act == ActivationMode::DynamicBlock) {
    if (format != WeightFormat::Int4 && format != WeightFormat::UInt4)
      return emitOpError("activation 'dynamic_block' needs int4 or uint4 "
                         "weights, got ")
             << stringifyWeightFormat(format);
    if (group % 8 != 0)
      return emitOpError("activation 'dynamic_block' needs a group_size "
                         "that is a multiple of 8 (the int8 kernel's blocks "
                         "of k), got ")
             << group;
  } else if (act != ActivationMode::None && format != WeightFormat::Int8)
    return emitOpError("activation '")
           << stringifyActivationMode(act) << "' needs int8 weights, got "
           << stringifyWeightFormat(format)
           << " (4-bit weights are weight-only)";
  bool hasInputParams =
      getInputScale() || getInputZeroPoint() || getInputStorage();
  if (act == ActivationMode::Static) {
    if (!getInputScale() || !getInputZeroPoint() || !getInputStorage())
      return emitOpError("static activation needs input_scale, "
                         "input_zero_point and input_storage");
    double scale = getInputScale()->convertToDouble();
    if (!(scale > 0) || !std::isfinite(scale))
      return emitOpError("input_scale must be positive and finite, got ")
             << scale;
    ActivationStorage storage = *getInputStorage();
    if (storage == ActivationStorage::Auto)
      return emitOpError("input_storage must be int8 or uint8 (auto is "
                         "qopt-calibrate's choice between them)");
    int64_t zp = *getInputZeroPoint();
    int64_t lo = storage == ActivationStorage::Int8 ? -128 : 0, hi = lo + 255;
    if (zp < lo || zp > hi)
      return emitOpError("input_zero_point ")
             << zp << " is outside " << stringifyActivationStorage(storage)
             << "'s range [" << lo << ", " << hi << "]";
  } else if (hasInputParams) {
    return emitOpError("input_scale/input_zero_point/input_storage are for "
                       "static activations only");
  }

  if (Value bias = getBias()) {
    auto bTy = cast<RankedTensorType>(bias.getType());
    if (!bTy.getElementType().isF32() || bTy.getRank() != 1 ||
        !dimsAgree(bTy.getDimSize(0), n))
      return emitOpError("bias must be f32 [N] = [") << n << "], got " << bTy;
  }
  SmallVector<int64_t> expected(inTy.getShape().drop_back());
  expected.push_back(n);
  if (outTy.getRank() != inTy.getRank() ||
      failed(verifyCompatibleShape(outTy.getShape(), expected)))
    return emitOpError("result shape ")
           << shapeStr(outTy.getShape()) << " must be " << shapeStr(expected);
  if (auto name = getWeightName(); name && name->empty())
    return emitOpError("weight_name must not be empty when present");
  return success();
}

//===----------------------------------------------------------------------===//
// LoRAOp
//===----------------------------------------------------------------------===//

LogicalResult LoRAOp::verify() {
  RankedTensorType baseTy = getBase().getType(), inTy = getInput().getType();
  RankedTensorType aTy = getLoraA().getType(), bTy = getLoraB().getType();
  Type elem = baseTy.getElementType();
  if (inTy.getElementType() != elem || getResult().getType() != baseTy)
    return emitOpError("base, input and result must share the element type, "
                       "and result must have base's type");
  // The matrices are in the layer's type, or stored narrower (f16/bf16, as
  // PEFT saves them) and widened when they are used.
  Type adapterElem = aTy.getElementType();
  if (bTy.getElementType() != adapterElem ||
      (adapterElem != elem && (!(adapterElem.isF16() || adapterElem.isBF16()) ||
                               cast<FloatType>(elem).getWidth() <= 16)))
    return emitOpError("lora_a and lora_b must both have the layer's element "
                       "type, or both be f16/bf16 storage of a wider one; "
                       "got ")
           << aTy.getElementType() << " and " << bTy.getElementType()
           << " for a layer in " << elem;
  if (aTy.getRank() != 2 || bTy.getRank() != 2)
    return emitOpError("lora_a and lora_b must be 2-D, got ")
           << shapeStr(aTy.getShape()) << " and " << shapeStr(bTy.getShape());
  if (baseTy.getRank() < 1 || baseTy.getRank() != inTy.getRank())
    return emitOpError("base and input must have the same rank >= 1");
  int64_t r = aTy.getDimSize(0), in = inTy.getShape().back(),
          out = baseTy.getShape().back();
  if (!ShapedType::isDynamic(r) && r < 1)
    return emitOpError("the rank r must be >= 1");
  if (!dimsAgree(aTy.getDimSize(1), in))
    return emitOpError("lora_a must be [r, in] = [r, ")
           << in << "], got " << shapeStr(aTy.getShape());
  if (!dimsAgree(bTy.getDimSize(0), out) || !dimsAgree(bTy.getDimSize(1), r))
    return emitOpError("lora_b must be [out, r] = [")
           << out << ", " << r << "], got " << shapeStr(bTy.getShape());
  for (int64_t d = 0; d + 1 < baseTy.getRank(); ++d)
    if (!dimsAgree(baseTy.getDimSize(d), inTy.getDimSize(d)))
      return emitOpError("base ") << shapeStr(baseTy.getShape())
                                  << " and input " << shapeStr(inTy.getShape())
                                  << " differ in leading dimension " << d;
  double scale = getScale().convertToDouble();
  if (!std::isfinite(scale))
    return emitOpError("scale must be finite, got ") << scale;
  if (getAdapter().empty())
    return emitOpError("adapter must name the adapter");
  if (bool(getSelector()) != getAdapterIndex().has_value())
    return emitOpError("a switched adapter needs both a selector and an "
                       "adapter_index");
  if (IntegerAttr index = getAdapterIndexAttr(); index && index.getInt() < 0)
    return emitOpError("adapter_index must be >= 0, got ") << index.getInt();
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizableLayerOpInterface
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/IR/QOptInterfaces.cpp.inc"

std::string QuantizableLayerOpInterface::getLayerName() {
  if (StringRef name = getLayerWeightName(); !name.empty())
    return name.str();
  return onnxNodeName((*this)->getLoc());
}

std::string mlir::qopt::onnxNodeName(Location loc) {
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location l : fused.getLocations())
      if (auto n = dyn_cast<NameLoc>(l))
        return n.getName().str();
  } else if (auto n = dyn_cast<NameLoc>(loc)) {
    return n.getName().str();
  }
  return "";
}

OpOperand &LinearOp::getLayerInputOperand() { return getInputMutable(); }
OpOperand &LinearOp::getLayerWeightOperand() { return getWeightMutable(); }
StringRef LinearOp::getLayerWeightName() {
  return getWeightName().value_or("");
}

OpOperand &QLinearOp::getLayerInputOperand() { return getInputMutable(); }
OpOperand &QLinearOp::getLayerWeightOperand() { return getWeightMutable(); }
StringRef QLinearOp::getLayerWeightName() {
  return getWeightName().value_or("");
}
bool QLinearOp::isQuantizedLayer() { return true; }

namespace {
/// linalg.conv_2d_nchw_fchw as a layer: input 0, filter [F, C, KH, KW].
struct ConvLayerModel
    : QuantizableLayerOpInterface::ExternalModel<ConvLayerModel,
                                                 linalg::Conv2DNchwFchwOp> {
  OpOperand &getLayerInputOperand(Operation *op) const {
    return *cast<linalg::Conv2DNchwFchwOp>(op).getDpsInputOperand(0);
  }
  OpOperand &getLayerWeightOperand(Operation *op) const {
    return *cast<linalg::Conv2DNchwFchwOp>(op).getDpsInputOperand(1);
  }
};
} // namespace

void mlir::qopt::registerQuantizableLayerExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, linalg::LinalgDialect *) {
    linalg::Conv2DNchwFchwOp::attachInterface<ConvLayerModel>(*ctx);
  });
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

FailureOr<llvm::APFloat> mlir::qopt::detail::parseF64(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return llvm::APFloat(value);
}

void mlir::qopt::detail::printF64(AsmPrinter &printer,
                                  const llvm::APFloat &value) {
  printer.printFloat(value);
}

LogicalResult
HistogramAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t count, llvm::APFloat minF, llvm::APFloat maxF,
                      llvm::APFloat rangeF, DenseF64ArrayAttr counts) {
  double min = minF.convertToDouble(), max = maxF.convertToDouble(),
         range = rangeF.convertToDouble();
  if (count < 0)
    return emitError() << "histogram count must be >= 0, got " << count;
  if (!(min <= max))
    return emitError() << "histogram min " << min << " exceeds max " << max;
  if (!(range >= 0) || !std::isfinite(range))
    return emitError() << "histogram range must be finite and >= 0, got "
                       << range;
  // Signed bins: as many below zero as above.
  if (!counts || counts.empty() || counts.size() % 2)
    return emitError() << "histogram counts must be a non-empty, even number "
                          "of bins (as many below zero as above), got "
                       << (counts ? counts.size() : 0);
  for (double c : counts.asArrayRef())
    if (!(c >= 0))
      return emitError() << "histogram bin counts must be >= 0";
  return success();
}

LogicalResult
SecondMomentAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t rows, DenseF64ArrayAttr mean,
                         ElementsAttr matrix, int64_t splitRows,
                         ElementsAttr splitMatrix) {
  if (rows < 1)
    return emitError() << "second_moment rows must be >= 1, got " << rows;
  if (!mean || mean.empty())
    return emitError() << "second_moment mean must not be empty";
  int64_t k = int64_t(mean.size());
  auto type = dyn_cast<RankedTensorType>(matrix.getShapedType());
  if (!type || !type.getElementType().isF64() || type.getRank() != 2 ||
      type.getDimSize(0) != k || type.getDimSize(1) != k)
    return emitError() << "second_moment matrix must be tensor<" << k << "x"
                       << k << "xf64> (mean has " << k << " values), got "
                       << matrix.getShapedType();
  for (double v : mean.asArrayRef())
    if (!std::isfinite(v))
      return emitError() << "second_moment mean values must be finite";
  if (bool(splitMatrix) != (splitRows != 0))
    return emitError()
           << "second_moment split_rows and split_matrix go together";
  if (splitMatrix) {
    if (splitRows < 1 || splitRows >= rows)
      return emitError() << "second_moment split_rows must be in [1, rows = "
                         << rows << "), got " << splitRows;
    if (splitMatrix.getShapedType() != matrix.getShapedType())
      return emitError() << "second_moment split_matrix must have the "
                            "matrix's type "
                         << matrix.getShapedType() << ", got "
                         << splitMatrix.getShapedType();
  }
  return success();
}

/// `m`'s f64 values row-major, or nothing.
static std::optional<std::vector<double>> f64Values(ElementsAttr m) {
  if (!m)
    return std::nullopt;
  if (auto r = dyn_cast<DenseF64ResourceElementsAttr>(m)) {
    if (auto arr = r.tryGetAsArrayRef())
      return std::vector<double>(arr->begin(), arr->end());
    return std::nullopt;
  }
  if (auto d = dyn_cast<DenseElementsAttr>(m)) {
    std::vector<double> out;
    for (double v : d.getValues<double>())
      out.push_back(v);
    return out;
  }
  return std::nullopt;
}

std::optional<std::vector<double>>
SecondMomentAttr::getSplitMatrixValues() const {
  return f64Values(getSplitMatrix());
}

std::optional<std::vector<double>> SecondMomentAttr::getMatrixValues() const {
  ElementsAttr m = getMatrix();
  if (auto r = dyn_cast<DenseF64ResourceElementsAttr>(m)) {
    if (auto arr = r.tryGetAsArrayRef())
      return std::vector<double>(arr->begin(), arr->end());
    return std::nullopt;
  }
  if (auto d = dyn_cast<DenseElementsAttr>(m)) {
    std::vector<double> out;
    for (double v : d.getValues<double>())
      out.push_back(v);
    return out;
  }
  return std::nullopt;
}

LogicalResult
CalibrationAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        CalibrationMethod method, llvm::APFloat minF,
                        llvm::APFloat maxF, quant::UniformQuantizedType type) {
  double min = minF.convertToDouble(), max = maxF.convertToDouble();
  if (!(min <= max) || !std::isfinite(min) || !std::isfinite(max))
    return emitError() << "calibration range [" << min << ", " << max
                       << "] must be finite with min <= max";
  if (!type || type.getStorageTypeIntegralWidth() != 8)
    return emitError() << "calibration type must have 8-bit storage, got "
                       << type;
  return success();
}

LogicalResult SparsityAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   PruneMethod method,
                                   SparsityGranularity granularity, int64_t n,
                                   int64_t m, llvm::APFloat targetF,
                                   llvm::APFloat achievedF) {
  double target = targetF.convertToDouble(),
         achieved = achievedF.convertToDouble();
  if (!(target >= 0 && target < 1))
    return emitError() << "sparsity target must be in [0, 1), got " << target;
  if (!(achieved >= 0 && achieved <= 1))
    return emitError() << "achieved sparsity must be in [0, 1], got "
                       << achieved;
  if (granularity != SparsityGranularity::NM) {
    if (n || m)
      return emitError() << "n and m are for granularity n_m, not "
                         << stringifySparsityGranularity(granularity);
    return success();
  }
  if (!(m >= 1 && n >= 1 && n < m))
    return emitError() << "an n:m pattern needs 1 <= n < m, got " << n << ":"
                       << m;
  if (std::fabs(target - double(m - n) / double(m)) > 1e-12)
    return emitError() << "the target of " << n << ":" << m << " is "
                       << double(m - n) / double(m) << ", got " << target;
  return success();
}

/// The length of a layer's reduction dimension that an n:m pattern groups
/// along (a linear layer's in_features, a convolution's input channels), or
/// nothing when unknown.
static std::optional<int64_t> reductionSize(QuantizableLayerOpInterface layer) {
  auto inTy = dyn_cast<RankedTensorType>(layer.getLayerInput().getType());
  if (!inTy || inTy.getRank() < 1)
    return std::nullopt;
  // qopt.linear / qopt.qlinear: the last input dim; convolutions (NCHW): C.
  int64_t size =
      isa<LinearOp, QLinearOp>(layer.getOperation())
          ? inTy.getShape().back()
          : (inTy.getRank() >= 2 ? inTy.getDimSize(1) : ShapedType::kDynamic);
  if (ShapedType::isDynamic(size))
    return std::nullopt;
  return size;
}

LogicalResult QOptDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  if (attr.getName() == NotQuantizedReasonAttr::getAttrName()) {
    if (!isa<NotQuantizedReasonAttr>(attr.getValue()))
      return op->emitOpError("'")
             << attr.getName().strref()
             << "' must be a #qopt.not_quantized attribute";
    return success();
  }
  if (attr.getName() != SparsityAttr::getAttrName())
    return success();
  auto sparsity = dyn_cast<SparsityAttr>(attr.getValue());
  if (!sparsity)
    return op->emitOpError("'")
           << attr.getName().strref() << "' must be a #qopt.sparsity attribute";
  auto layer = dyn_cast<QuantizableLayerOpInterface>(op);
  if (!layer)
    return op->emitOpError("'")
           << attr.getName().strref()
           << "' is for layers (qopt.linear, qopt.qlinear, convolutions)";
  if (sparsity.getGranularity() == SparsityGranularity::NM)
    if (std::optional<int64_t> k = reductionSize(layer);
        k && *k % sparsity.getM() != 0)
      return op->emitOpError("a ")
             << sparsity.getN() << ":" << sparsity.getM()
             << " pattern needs a reduction dimension that is a multiple of "
             << sparsity.getM() << ", this layer's is " << *k;
  return success();
}

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/IR/QOptOps.cpp.inc"
