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

#define GET_OP_CLASSES
#include "qopt/Dialect/QOpt/IR/QOptOps.h.inc"

#endif // QOPT_DIALECT_QOPT_IR_QOPTOPS_H
