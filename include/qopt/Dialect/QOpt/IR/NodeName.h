//===- NodeName.h - the ONNX node name behind a location --------*- C++ -*-===//
//
// The importer names each op's location after its ONNX node (a NameLoc,
// kept inside the FusedLoc of ops that fusion merges).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_NODENAME_H
#define QOPT_DIALECT_QOPT_IR_NODENAME_H

#include "mlir/IR/Location.h"

#include <string>

namespace mlir::qopt {

/// The ONNX node name of `loc`: its NameLoc's, or the first NameLoc's among
/// a FusedLoc's locations; "" when there is none.
std::string onnxNodeName(Location loc);

} // namespace mlir::qopt

#endif // QOPT_DIALECT_QOPT_IR_NODENAME_H
