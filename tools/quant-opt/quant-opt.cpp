//===- quant-opt.cpp - the qopt optimizer driver --------------------------===//
//
// mlir-opt for quant-opt: parses MLIR (text or bytecode), runs passes and
// pipelines, prints the result. Registers qopt, every upstream dialect and
// pass, the qopt pipelines and the JIT-backed PTQ passes (qopt-ptq).
//
//===----------------------------------------------------------------------===//

#include "qopt/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::qopt::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::qopt::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "quant-opt: quantization optimizer for MLIR\n", registry));
}
