//===- QuantizedOps.cpp - ONNX operators (see OpRegistry::get) ---------------------===//

#include "OpHelpers.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

void mlir::qopt::onnx_import::registerQuantizedOps(OpRegistry &r) { (void)r; }
