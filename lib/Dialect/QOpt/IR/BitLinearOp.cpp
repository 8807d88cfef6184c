//===- BitLinearOp.cpp - qopt.bitlinear: verifier and layer interface -----===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

/// The bytes of a constant i8 weight (dense or dense_resource), if any.
static std::optional<ArrayRef<char>> constantBytes(Value w,
                                                   SmallVector<char> &tmp) {
  auto c = w.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return std::nullopt;
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue())) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    return blob->getData();
  }
  if (auto d = dyn_cast<DenseIntElementsAttr>(c.getValue())) {
    for (APInt v : d.getValues<APInt>())
      tmp.push_back(char(v.getSExtValue()));
    return ArrayRef<char>(tmp);
  }
  return std::nullopt;
}

LogicalResult BitLinearOp::verify() {
  RankedTensorType inTy = getInput().getType();
  RankedTensorType wTy = getWeight().getType();
  RankedTensorType outTy = getResult().getType();
  if (inTy.getRank() < 1)
    return emitOpError("input must have rank >= 1, got a rank-0 tensor");
  if (wTy.getRank() != 2)
    return emitOpError("packed ternary weight must be 2-D [N, K/4], got rank ")
           << wTy.getRank();
  int64_t k = inTy.getShape().back(), n = wTy.getDimSize(0);
  if (ShapedType::isDynamic(k))
    return emitOpError("needs a static input feature size K");
  if (k % 4 != 0)
    return emitOpError("K = ")
           << k << " must be a multiple of 4 (four 2-bit weights a byte)";
  if (wTy.getDimSize(1) != k / 4)
    return emitOpError("packed ternary weight must be [N, K/4] = [N, ")
           << k / 4 << "], got " << wTy.getDimSize(0) << "x"
           << wTy.getDimSize(1);
  double gamma = getWeightScale().convertToDouble();
  if (!(gamma > 0) || !std::isfinite(gamma))
    return emitOpError("weight_scale must be positive and finite, got ")
           << gamma;
  if (Value bias = getBias()) {
    auto bTy = cast<RankedTensorType>(bias.getType());
    if (bTy.getRank() != 1 ||
        (!ShapedType::isDynamic(n) &&
         !ShapedType::isDynamic(bTy.getDimSize(0)) && bTy.getDimSize(0) != n))
      return emitOpError("bias must be [N] = [") << n << "], got " << bTy;
  }
  SmallVector<int64_t> expected(inTy.getShape().drop_back());
  expected.push_back(n);
  if (outTy.getRank() != inTy.getRank() ||
      failed(verifyCompatibleShape(outTy.getShape(), expected)))
    return emitOpError("result shape must be the input's batch dims followed "
                       "by N = ")
           << n;
  if (auto name = getWeightName(); name && name->empty())
    return emitOpError("weight_name must not be empty when present");
  // Code 3 stands for no ternary value; a constant weight must not hold it.
  SmallVector<char> tmp;
  if (std::optional<ArrayRef<char>> bytes = constantBytes(getWeight(), tmp))
    for (auto [i, c] : llvm::enumerate(*bytes))
      for (int j = 0; j < 4; ++j)
        if (((uint8_t(c) >> (2 * j)) & 3) == 3)
          return emitOpError("packed weight byte ")
                 << i << " holds the invalid 2-bit code 3 (weight k = "
                 << (int64_t(i) % (k / 4)) * 4 + j << " of row "
                 << int64_t(i) / (k / 4) << ")";
  return success();
}

OpOperand &BitLinearOp::getLayerInputOperand() { return getInputMutable(); }
OpOperand &BitLinearOp::getLayerWeightOperand() { return getWeightMutable(); }
StringRef BitLinearOp::getLayerWeightName() {
  return getWeightName().value_or("");
}
bool BitLinearOp::isQuantizedLayer() { return true; }
