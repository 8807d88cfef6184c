//===- QOptOps.h - qopt operations ------------------------------*- C++ -*-===//
//
/// \file
/// Declares the operations of the qopt dialect (generated from QOptOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTOPS_H
#define QOPT_DIALECT_QOPT_IR_QOPTOPS_H

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "qopt/Dialect/QOpt/IR/QOptInterfaces.h.inc"

namespace mlir {
class DialectRegistry;
namespace qopt {
/// Attaches QuantizableLayerOpInterface to linalg's NCHW/FCHW convolution
/// (the layers ONNX Conv imports to). Passes that walk layers register it
/// in their dependent dialects; tools get it from registerAllDialects.
void registerQuantizableLayerExternalModels(DialectRegistry &registry);
} // namespace qopt
} // namespace mlir

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/IR/QOptOps.h.inc"

#endif // QOPT_DIALECT_QOPT_IR_QOPTOPS_H
