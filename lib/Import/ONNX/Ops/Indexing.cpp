//===- Indexing.cpp - ONNX operators (see OpRegistry::get) ---------------------===//

#include "OpHelpers.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

void mlir::qopt::onnx_import::registerIndexingOps(OpRegistry &r) { (void)r; }
