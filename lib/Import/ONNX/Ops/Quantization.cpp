//===- Quantization.cpp - QuantizeLinear / DequantizeLinear ---------------===//
//
// ONNX carries quantized tensors as plain integers next to scale/zero-point
// tensors; qopt carries them as !quant.uniform types. QuantizeLinear becomes
// qopt.quantize + quant.scast to the integer storage, DequantizeLinear
// quant.scast + qopt.dequantize, so that a Q/DQ pair meets again after
// canonicalization. Scales and zero points must be constants.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Quant/IR/Quant.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

namespace {

/// Storage range of the ONNX zero-point dtype.
FailureOr<std::pair<unsigned, bool>> storageOf(ONNXNode &n, int32_t dtype) {
  switch (dtype) {
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
  default:
    return n.emitError() << "quantized dtype " << dtypeName(dtype)
                         << " is not supported";
  }
}

/// Builds the !quant.uniform element type from the node's constant scale
/// (input 1) and zero point (input 2, optional), per tensor or along `axis`
/// of a tensor of type `tensorTy`.
FailureOr<quant::QuantizedType> quantTypeOf(ONNXNode &n,
                                            RankedTensorType tensorTy,
                                            Type expressedTy, int32_t zpDType) {
  FailureOr<int64_t> axisAttr = n.getInt("axis", 1);
  if (failed(axisAttr))
    return failure();
  if (n.opset >= 21) {
    FailureOr<int64_t> block = n.getInt("block_size", 0);
    if (failed(block))
      return failure();
    if (*block != 0)
      return n.emitError() << "block-wise quantization (block_size " << *block
                           << ") is not supported yet";
  }
  std::optional<SmallVector<double>> scales = n.constantFloats(1);
  if (!scales)
    return n.emitError() << "scale must be a constant (initializer or "
                            "Constant)";
  RankedTensorType sTy = n.inputType(1);
  if (sTy.getRank() > 1)
    return n.emitError() << "scale must be a scalar or 1-D";
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
  FailureOr<std::pair<unsigned, bool>> storage = storageOf(n, zpDType);
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

LogicalResult buildQuantizeLinear(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  if (n.opset >= 19 && failed(n.getInt("saturate", 1)))
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

LogicalResult buildDequantizeLinear(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  int32_t inDType = n.inputDType(0);
  if (n.hasInput(2) && n.inputDType(2) != inDType)
    return n.emitError() << "zero point dtype " << dtypeName(n.inputDType(2))
                         << " differs from the input's " << dtypeName(inDType);
  if (inDType == kInt32)
    return n.emitError() << "int32 input (bias dequantization) is not "
                            "supported yet";
  if (!isFloatDType(n.inputDType(1)))
    return n.emitError() << "scale must be a float tensor";
  RankedTensorType xTy = n.inputType(0);
  Type expressed = n.inputType(1).getElementType();
  FailureOr<quant::QuantizedType> qTy = quantTypeOf(n, xTy, expressed, inDType);
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
