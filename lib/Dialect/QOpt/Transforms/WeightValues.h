//===- WeightValues.h - the values of constant f32 weights -----*- C++ -*-===//

#ifndef QOPT_LIB_TRANSFORMS_WEIGHTVALUES_H
#define QOPT_LIB_TRANSFORMS_WEIGHTVALUES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <optional>
#include <vector>

namespace mlir::qopt {

/// The values of a constant (dense or dense_resource) stored in f32, or in
/// f16/bf16 widened exactly to f32; nothing when `w` is not one.
inline std::optional<std::vector<float>> constantValuesAsF32(Value w) {
  auto c = w.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return std::nullopt;
  Type elem = cast<ShapedType>(c.getType()).getElementType();
  if (!elem.isF32() && !elem.isF16() && !elem.isBF16())
    return std::nullopt;
  if (auto d = dyn_cast<DenseFPElementsAttr>(c.getValue())) {
    std::vector<float> out;
    out.reserve(d.getNumElements());
    for (const APFloat &v : d.getValues<APFloat>()) {
      bool lost = false;
      APFloat f = v;
      f.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
      out.push_back(f.convertToFloat());
    }
    return out;
  }
  if (auto r = dyn_cast<DenseF32ResourceElementsAttr>(c.getValue()))
    if (auto arr = r.tryGetAsArrayRef())
      return std::vector<float>(arr->begin(), arr->end());
  // 16-bit storage in a resource blob: the raw halves, widened.
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue());
      r && !elem.isF32()) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    ArrayRef<char> bytes = blob->getData();
    const llvm::fltSemantics &sem =
        elem.isF16() ? APFloat::IEEEhalf() : APFloat::BFloat();
    std::vector<float> out(bytes.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t bits = uint16_t(uint8_t(bytes[2 * i])) |
                      uint16_t(uint16_t(uint8_t(bytes[2 * i + 1])) << 8);
      APFloat f(sem, APInt(16, bits));
      bool lost = false;
      f.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven, &lost);
      out[i] = f.convertToFloat();
    }
    return out;
  }
  return std::nullopt;
}

/// The f32 values of a constant f32 weight (dense or dense_resource), or
/// nothing when `w` is not one.
inline std::optional<std::vector<float>> constantF32Values(Value w) {
  auto c = w.getDefiningOp<arith::ConstantOp>();
  if (!c || !cast<ShapedType>(c.getType()).getElementType().isF32())
    return std::nullopt;
  return constantValuesAsF32(w);
}

/// A constant f32 tensor of `type` holding `values`: inline (`dense<...>`)
/// when `like` was inline, else a `dense_resource` blob named `name`, so
/// that rewritten weights keep the form of the weights they replace.
inline Value makeF32Constant(OpBuilder &b, Location loc, Value like,
                             RankedTensorType type, llvm::StringRef name,
                             ArrayRef<float> values) {
  auto c = like ? like.getDefiningOp<arith::ConstantOp>() : nullptr;
  if (c && isa<DenseElementsAttr>(c.getValue()))
    return arith::ConstantOp::create(b, loc,
                                     DenseElementsAttr::get(type, values));
  auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(values);
  return arith::ConstantOp::create(
      b, loc, DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_WEIGHTVALUES_H
