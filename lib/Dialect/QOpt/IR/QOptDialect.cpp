//===- QOptDialect.cpp - the qopt dialect ---------------------------------===//

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::qopt;

#include "qopt/Dialect/QOpt/IR/QOptDialect.cpp.inc"
#include "qopt/Dialect/QOpt/IR/QOptEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "qopt/Dialect/QOpt/IR/QOptAttrs.cpp.inc"

void QOptDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "qopt/Dialect/QOpt/IR/QOptOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "qopt/Dialect/QOpt/IR/QOptAttrs.cpp.inc"
      >();
}
