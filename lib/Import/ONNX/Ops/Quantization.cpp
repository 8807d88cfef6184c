//===- Quantization.cpp - QuantizeLinear / DequantizeLinear ---------------===//
//
// ONNX carries quantized tensors as plain integers next to scale/zero-point
// tensors; qopt carries them as !quant.uniform types. QuantizeLinear becomes
// qopt.quantize + quant.scast to the integer storage, DequantizeLinear
// quant.scast + qopt.dequantize, so that a Q/DQ pair meets again after
// canonicalization. Scales and zero points must be constants.
//
// Every form quantization tools write is accepted: per tensor, per axis,
// blocked (opset 21 `block_size`: a !quant.uniform sub-channel type with
// the block along `axis` and 1 along every other dimension), int8/uint8,
// int4/uint4, int16/uint16, and int32 DequantizeLinear (the bias of
// onnxruntime's QDQ Gemm/Conv, scale = input scale x weight scale).
// qopt-fold-qdq later turns recognized patterns into integer layers.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Quant/IR/Quant.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

namespace {

/// `[a, b, c]`.
std::string fmt(ArrayRef<int64_t> v) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(v))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

/// Storage range of the ONNX zero-point dtype (int32 only where
/// `allowInt32`: DequantizeLinear of a bias).
FailureOr<std::pair<unsigned, bool>> storageOf(ONNXNode &n, int32_t dtype,
                                               bool allowInt32 = false) {
  switch (dtype) {
  case kInt32:
    if (allowInt32)
      return std::make_pair(32u, true);
    break;
  case kUInt8:
    return std::make_pair(8u, false);
  case kInt8:
    return std::make_pair(8u, true);
  case kUInt16:
    return std::make_pair(16u, false);
  case kInt16:
    return std::make_pair(16u, true);
  case kUInt4:
    return std::make_pair(4u, false);
  case kInt4:
    return std::make_pair(4u, true);
  case kUInt2:
    return std::make_pair(2u, false);
  case kInt2:
    return std::make_pair(2u, true);
  default:
    break;
  }
  return n.emitError() << "quantized dtype " << dtypeName(dtype)
                       << " is not supported";
}

/// The blocked (opset 21 `block_size`) type: scale and zero point have the
/// input's shape with dim[axis] divided by the block size; every other
/// dimension has block size 1.
FailureOr<quant::QuantizedType>
blockedTypeOf(ONNXNode &n, RankedTensorType tensorTy, Type expressedTy,
              int64_t axisAttr, int64_t block, ArrayRef<double> scales,
              ArrayRef<int64_t> zps, Type storageTy, unsigned flags,
              int64_t qmin, int64_t qmax) {
  int64_t rank = tensorTy.getRank();
  FailureOr<int64_t> axis = n.normalizeAxis(axisAttr, rank);
  if (failed(axis))
    return failure();
  if (block < 0)
    return n.emitError() << "block_size " << block << " must be positive";
  if (!tensorTy.hasStaticShape())
    return n.emitError() << "block-wise quantization needs a static input "
                            "shape, got "
                         << tensorTy;
  int64_t dim = tensorTy.getDimSize(*axis);
  if (dim % block != 0)
    return n.emitError() << "block_size " << block
                         << " does not divide the size of axis " << *axis
                         << " (" << dim
                         << "): partial blocks are not supported";
  RankedTensorType sTy = n.inputType(1);
  SmallVector<int64_t> expected(tensorTy.getShape());
  expected[*axis] = dim / block;
  if (sTy.getShape() != ArrayRef<int64_t>(expected))
    return n.emitError() << "block-wise scale must have shape " << fmt(expected)
                         << " (the input's with axis " << *axis
                         << " divided by block_size " << block << "), got "
                         << fmt(sTy.getShape());
  if (n.hasInput(2) && n.inputType(2).getShape() != sTy.getShape())
    return n.emitError() << "zero point shape "
                         << fmt(n.inputType(2).getShape())
                         << " differs from the scale's " << fmt(sTy.getShape());
  SmallVector<APFloat> s;
  for (double v : scales) {
    APFloat f(v);
    bool lost;
    f.convert(cast<FloatType>(expressedTy).getFloatSemantics(),
              APFloat::rmNearestTiesToEven, &lost);
    s.push_back(f);
  }
  unsigned width = storageTy.getIntOrFloatBitWidth();
  SmallVector<APInt> z;
  for (int64_t v : zps)
    z.push_back(APInt(width, static_cast<uint64_t>(v), /*isSigned=*/true,
                      /*implicitTrunc=*/true));
  auto scaleAttr =
      DenseElementsAttr::get(RankedTensorType::get(expected, expressedTy), s);
  auto zpAttr =
      DenseElementsAttr::get(RankedTensorType::get(expected, storageTy), z);
  SmallVector<int32_t> dims;
  SmallVector<int64_t> blocks;
  for (int64_t d = 0; d < rank; ++d) {
    dims.push_back(static_cast<int32_t>(d));
    blocks.push_back(d == *axis ? block : 1);
  }
  auto emitErr = [&] { return n.emitError(); };
  auto t = quant::UniformQuantizedSubChannelType::getChecked(
      emitErr, flags, storageTy, expressedTy, scaleAttr, zpAttr, dims, blocks,
      qmin, qmax);
  if (!t)
    return failure();
  return cast<quant::QuantizedType>(t);
}

/// Builds the !quant.uniform element type from the node's constant scale
/// (input 1) and zero point (input 2, optional), per tensor or along `axis`
/// of a tensor of type `tensorTy`.
FailureOr<quant::QuantizedType> quantTypeOf(ONNXNode &n,
                                            RankedTensorType tensorTy,
                                            Type expressedTy, int32_t zpDType,
                                            bool allowInt32 = false) {
  FailureOr<int64_t> axisAttr = n.getInt("axis", 1);
  if (failed(axisAttr))
    return failure();
  int64_t block = 0;
  if (n.opset >= 21) {
    FailureOr<int64_t> b = n.getInt("block_size", 0);
    if (failed(b))
      return failure();
    block = *b;
  }
  std::optional<SmallVector<double>> scales = n.constantFloats(1);
  if (!scales)
    return n.emitError() << "scale must be a constant (initializer or "
                            "Constant)";
  RankedTensorType sTy = n.inputType(1);
  if (sTy.getRank() > 1 && block == 0)
    return n.emitError() << "scale must be a scalar or 1-D (or block_size "
                            "set, opset 21)";
  SmallVector<int64_t> zps(scales->size(), 0);
  if (n.hasInput(2)) {
    std::optional<SmallVector<int64_t>> z = n.constantInts(2);
    if (!z)
      return n.emitError() << "zero point must be a constant";
    if (z->size() != scales->size())
      return n.emitError() << "zero point has " << z->size()
                           << " values, scale has " << scales->size();
    zps = *z;
  }
  FailureOr<std::pair<unsigned, bool>> storage =
      storageOf(n, zpDType, allowInt32);
  if (failed(storage))
    return failure();
  auto [width, isSigned] = *storage;
  int64_t qmin =
      quant::QuantizedType::getDefaultMinimumForInteger(isSigned, width);
  int64_t qmax =
      quant::QuantizedType::getDefaultMaximumForInteger(isSigned, width);
  for (double s : *scales)
    if (!(s > 0.0) || !std::isfinite(s))
      return n.emitError() << "scale " << s << " must be positive and finite";
  for (int64_t z : zps)
    if (z < qmin || z > qmax)
      return n.emitError() << "zero point " << z << " is outside [" << qmin
                           << ", " << qmax << "]";
  Type storageTy = n.b.getIntegerType(width);
  unsigned flags = isSigned ? quant::QuantizationFlags::Signed : 0;
  auto emitErr = [&] { return n.emitError(); };
  if (block != 0)
    return blockedTypeOf(n, tensorTy, expressedTy, *axisAttr, block, *scales,
                         zps, storageTy, flags, qmin, qmax);
  bool perTensor =
      sTy.getRank() == 0 ||
      (sTy.getRank() == 1 && sTy.getDimSize(0) == 1 && !n.hasAttr("axis"));
  if (perTensor)
    return cast<quant::QuantizedType>(quant::UniformQuantizedType::getChecked(
        emitErr, flags, storageTy, expressedTy, (*scales)[0], zps[0], qmin,
        qmax));
  FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, tensorTy.getRank());
  if (failed(axis))
    return failure();
  if (tensorTy.isDynamicDim(*axis) ||
      tensorTy.getDimSize(*axis) != static_cast<int64_t>(scales->size()))
    return n.emitError() << "scale has " << scales->size() << " values, axis "
                         << *axis << " has size " << tensorTy.getDimSize(*axis);
  return cast<quant::QuantizedType>(
      quant::UniformQuantizedPerAxisType::getChecked(
          emitErr, flags, storageTy, expressedTy, *scales, zps,
          static_cast<int32_t>(*axis), qmin, qmax));
}

bool isFloat8DType(int32_t d);
LogicalResult buildFloat8Quantize(ONNXNode &n, int32_t outDType, bool saturate);

LogicalResult buildQuantizeLinear(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  FailureOr<int64_t> saturate =
      n.opset >= 19 ? n.getInt("saturate", 1) : FailureOr<int64_t>(1);
  if (failed(saturate))
    return failure();
  int32_t outDType = n.hasInput(2) ? n.inputDType(2) : kUInt8;
  if (n.opset >= 21) {
    FailureOr<int64_t> od = n.getInt("output_dtype", 0);
    if (failed(od))
      return failure();
    if (*od != 0) {
      if (n.hasInput(2) && *od != outDType)
        return n.emitError() << "output_dtype " << dtypeName(*od)
                             << " differs from the zero point's dtype "
                             << dtypeName(outDType);
      outDType = static_cast<int32_t>(*od);
    }
  }
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "input must be a float tensor";
  if (n.inputDType(1) != n.inputDType(0))
    return n.emitError() << "scale dtype " << dtypeName(n.inputDType(1))
                         << " differs from the input's "
                         << dtypeName(n.inputDType(0)) << " (not supported)";
  if (isFloat8DType(outDType))
    return buildFloat8Quantize(n, outDType, *saturate != 0);
  RankedTensorType xTy = n.inputType(0);
  FailureOr<quant::QuantizedType> qTy =
      quantTypeOf(n, xTy, xTy.getElementType(), outDType);
  if (failed(qTy))
    return failure();
  auto q = QuantizeOp::create(n.b, n.loc, xTy.clone(*qTy), n.input(0));
  Value ints = quant::StorageCastOp::create(
      n.b, n.loc, xTy.clone(qTy->getStorageType()), q.getResult());
  n.setOutput(0, ints, outDType);
  return success();
}

bool isFloat8DType(int32_t d) {
  return d == kFloat8E4M3FN || d == kFloat8E4M3FNUZ || d == kFloat8E5M2 ||
         d == kFloat8E5M2FNUZ;
}

/// Reads axis/block_size (and output_dtype for DequantizeLinear) of a Q/DQ
/// node on float8, and gives the indexing maps of [x, scale, zero point]
/// (the zero point's only when given): per tensor when the scale has one
/// element, else along `axis`.
FailureOr<SmallVector<AffineMap>> float8Maps(ONNXNode &n) {
  FailureOr<int64_t> axisAttr = n.getInt("axis", 1);
  FailureOr<int64_t> block =
      n.opset >= 21 ? n.getInt("block_size", 0) : FailureOr<int64_t>(0);
  if (failed(axisAttr) || failed(block))
    return failure();
  if (*block != 0)
    return n.emitError() << "block_size is not supported for float8";
  if (!isFloatDType(n.inputDType(1)))
    return n.emitError() << "scale must be a float tensor";
  RankedTensorType xTy = n.inputType(0), sTy = n.inputType(1);
  int64_t rank = xTy.getRank();
  if (sTy.getRank() > 1)
    return n.emitError() << "scale must be a scalar or 1-D";
  if (n.hasInput(2) && n.inputType(2).getRank() > 1)
    return n.emitError() << "zero point must be a scalar or 1-D";
  MLIRContext *ctx = n.b.getContext();
  // Per tensor when the scale has one element: a scalar, or [1] read at 0.
  bool perTensor = sTy.hasStaticShape() && sTy.getNumElements() == 1;
  AffineMap axisMap;
  if (!perTensor) {
    FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, rank);
    if (failed(axis))
      return failure();
    if (!sTy.isDynamicDim(0) && !xTy.isDynamicDim(*axis) &&
        sTy.getDimSize(0) != xTy.getDimSize(*axis))
      return n.emitError() << "scale has " << sTy.getDimSize(0)
                           << " values, axis " << *axis << " has "
                           << xTy.getDimSize(*axis);
    assertSameSize(n, n.input(1), 0, n.input(0), *axis,
                   "the scale's size differs from the axis' at run time");
    axisMap = AffineMap::get(rank, 0, {getAffineDimExpr(*axis, ctx)}, ctx);
  }
  auto mapOf = [&](RankedTensorType t) {
    if (t.getRank() == 0)
      return AffineMap::get(rank, 0, {}, ctx);
    if (perTensor)
      return AffineMap::get(rank, 0, {getAffineConstantExpr(0, ctx)}, ctx);
    return axisMap;
  };
  SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(rank, ctx),
                              mapOf(sTy)};
  if (n.hasInput(2)) {
    RankedTensorType zTy = n.inputType(2);
    bool zOne = zTy.hasStaticShape() && zTy.getNumElements() == 1;
    if (zOne != perTensor || (!perTensor && zTy.getShape() != sTy.getShape()))
      return n.emitError() << "zero point and scale differ in shape";
    maps.push_back(mapOf(zTy));
  }
  return maps;
}

/// DequantizeLinear of a float8 tensor: y = (x - zero_point) * scale in
/// the scale's type, the scale and zero point read at run time (no quant
/// type has float storage).
LogicalResult buildFloat8Dequantize(ONNXNode &n) {
  if (n.opset >= 23) {
    FailureOr<int64_t> od = n.getInt("output_dtype", 0);
    if (failed(od))
      return failure();
    if (*od != 0 && *od != n.inputDType(1))
      return n.emitError() << "output_dtype " << dtypeName(*od)
                           << " other than the scale's is not supported for "
                              "float8 inputs";
  }
  FailureOr<SmallVector<AffineMap>> maps = float8Maps(n);
  if (failed(maps))
    return failure();
  SmallVector<Value> ins{n.input(0), n.input(1)};
  if (n.hasInput(2))
    ins.push_back(n.input(2));
  RankedTensorType xTy = n.inputType(0);
  Type outTy = n.inputType(1).getElementType();
  Type ct = accumulatorType(outTy);
  Value y = parallelGeneric(
      n.b, n.loc, ins, *maps,
      emptyTensorLike(n.b, n.loc, xTy.clone(outTy), n.input(0)),
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value x = convertScalar(b, l, a[0], ct, false, false);
        if (a.size() > 2)
          x = arith::SubFOp::create(
              b, l, x, convertScalar(b, l, a[2], ct, false, false));
        Value r = arith::MulFOp::create(
            b, l, x, convertScalar(b, l, a[1], ct, false, false));
        return convertScalar(b, l, r, outTy, false, false);
      });
  n.setOutput(0, y, n.inputDType(1));
  return success();
}

/// QuantizeLinear to float8 `outDType`: y = x / scale + zero_point rounded
/// to the float8 type (round to nearest even); with `saturate` out-of-range
/// values and infinities clamp to the largest finite value, as Cast does.
LogicalResult buildFloat8Quantize(ONNXNode &n, int32_t outDType,
                                  bool saturate) {
  FailureOr<SmallVector<AffineMap>> maps = float8Maps(n);
  if (failed(maps))
    return failure();
  FailureOr<Type> f8 = elementTypeForNode(n, outDType);
  if (failed(f8))
    return failure();
  SmallVector<Value> ins{n.input(0), n.input(1)};
  if (n.hasInput(2))
    ins.push_back(n.input(2));
  RankedTensorType xTy = n.inputType(0);
  Type ct = n.b.getF32Type();
  if (n.inputType(0).getElementType().isF64())
    ct = n.b.getF64Type();
  Value y = parallelGeneric(
      n.b, n.loc, ins, *maps,
      emptyTensorLike(n.b, n.loc, xTy.clone(*f8), n.input(0)),
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value x = arith::DivFOp::create(
            b, l, convertScalar(b, l, a[0], ct, false, false),
            convertScalar(b, l, a[1], ct, false, false));
        if (a.size() > 2)
          x = arith::AddFOp::create(
              b, l, x, convertScalar(b, l, a[2], ct, false, false));
        if (saturate) {
          APFloat big =
              APFloat::getLargest(cast<FloatType>(*f8).getFloatSemantics());
          bool lost;
          big.convert(cast<FloatType>(ct).getFloatSemantics(),
                      APFloat::rmNearestTiesToEven, &lost);
          Value hi =
              arith::ConstantFloatOp::create(b, l, cast<FloatType>(ct), big);
          Value lo = arith::NegFOp::create(b, l, hi);
          // minimumf/maximumf keep NaN a NaN.
          x = arith::MaximumFOp::create(
              b, l, arith::MinimumFOp::create(b, l, x, hi), lo);
        }
        if (ct.isF64())
          x = arith::TruncFOp::create(b, l, b.getF32Type(), x);
        return arith::TruncFOp::create(b, l, *f8, x).getResult();
      });
  n.setOutput(0, y, outDType);
  return success();
}

LogicalResult buildDequantizeLinear(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  int32_t inDType = n.inputDType(0);
  if (isFloat8DType(inDType)) {
    if (n.hasInput(2) && n.inputDType(2) != inDType)
      return n.emitError() << "zero point dtype " << dtypeName(n.inputDType(2))
                           << " differs from the input's "
                           << dtypeName(inDType);
    return buildFloat8Dequantize(n);
  }
  if (n.hasInput(2) && n.inputDType(2) != inDType)
    return n.emitError() << "zero point dtype " << dtypeName(n.inputDType(2))
                         << " differs from the input's " << dtypeName(inDType);
  if (!isFloatDType(n.inputDType(1)))
    return n.emitError() << "scale must be a float tensor";
  RankedTensorType xTy = n.inputType(0);
  Type expressed = n.inputType(1).getElementType();
  FailureOr<quant::QuantizedType> qTy =
      quantTypeOf(n, xTy, expressed, inDType, /*allowInt32=*/true);
  if (failed(qTy))
    return failure();
  Value q =
      quant::StorageCastOp::create(n.b, n.loc, xTy.clone(*qTy), n.input(0));
  auto dq = DequantizeOp::create(n.b, n.loc, xTy.clone(expressed), q);
  n.setOutput(0, dq.getResult(), n.inputDType(1));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerQuantizationOps(OpRegistry &r) {
  r.add("", "QuantizeLinear", 10, buildQuantizeLinear);
  r.add("", "DequantizeLinear", 10, buildDequantizeLinear);
}
