//===- WeightValues.h - the values of constant f32 weights -----*- C++ -*-===//

#ifndef QOPT_LIB_TRANSFORMS_WEIGHTVALUES_H
#define QOPT_LIB_TRANSFORMS_WEIGHTVALUES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <optional>
#include <vector>

namespace mlir::qopt {

/// The f32 values of a constant weight (dense or dense_resource), or
/// nothing when `w` is not one.
inline std::optional<std::vector<float>> constantF32Values(Value w) {
  auto c = w.getDefiningOp<arith::ConstantOp>();
  if (!c || !cast<ShapedType>(c.getType()).getElementType().isF32())
    return std::nullopt;
  if (auto d = dyn_cast<DenseFPElementsAttr>(c.getValue())) {
    auto v = d.getValues<float>();
    return std::vector<float>(v.begin(), v.end());
  }
  if (auto r = dyn_cast<DenseF32ResourceElementsAttr>(c.getValue()))
    if (auto arr = r.tryGetAsArrayRef())
      return std::vector<float>(arr->begin(), arr->end());
  return std::nullopt;
}

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_WEIGHTVALUES_H
