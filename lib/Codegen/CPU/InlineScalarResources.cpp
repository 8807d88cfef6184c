//===- InlineScalarResources.cpp - one-element blobs become dense ---------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_INLINESCALARRESOURCESPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

struct InlineScalarResourcesPass
    : qopt::impl::InlineScalarResourcesPassBase<InlineScalarResourcesPass> {
  void runOnOperation() override {
    WalkResult result = getOperation()->walk([](arith::ConstantOp op) {
      auto res = dyn_cast<DenseResourceElementsAttr>(op.getValue());
      if (!res || res.getType().getNumElements() > 1)
        return WalkResult::advance();
      AsmResourceBlob *blob = res.getRawHandle().getBlob();
      ShapedType type = res.getType();
      bool splat = false;
      if (!blob || type.getElementType().isInteger(1) ||
          !DenseElementsAttr::isValidRawBuffer(type, blob->getData(), splat)) {
        op.emitOpError("resource '")
            << res.getRawHandle().getKey() << "' has no data of type " << type
            << " to inline";
        return WalkResult::interrupt();
      }
      op.setValueAttr(
          DenseElementsAttr::getFromRawBuffer(type, blob->getData()));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
