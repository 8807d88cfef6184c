//===- QOptDialect.h - the qopt dialect -------------------------*- C++ -*-===//
//
/// \file
/// Declares mlir::qopt::QOptDialect, the graph-level dialect of quant-opt, and
/// its attributes. Operations are declared in QOptOps.h.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTDIALECT_H
#define QOPT_DIALECT_QOPT_IR_QOPTDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"
#include <optional>
#include <vector>

#include "qopt/Dialect/QOpt/IR/QOptDialect.h.inc"
#include "qopt/Dialect/QOpt/IR/QOptEnums.h.inc"

namespace mlir::qopt::detail {
/// Parses / prints a double so that it reads back bit-exactly (the
/// calibration attributes' float parameters).
FailureOr<llvm::APFloat> parseF64(AsmParser &parser);
void printF64(AsmPrinter &printer, const llvm::APFloat &value);
} // namespace mlir::qopt::detail

#define GET_ATTRDEF_CLASSES
#include "qopt/Dialect/QOpt/IR/QOptAttrs.h.inc"

#endif // QOPT_DIALECT_QOPT_IR_QOPTDIALECT_H
