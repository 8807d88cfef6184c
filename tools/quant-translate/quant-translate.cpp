//===- quant-translate.cpp - translations into and out of MLIR ------------===//
//
// mlir-translate with quant-opt's translations: `--import-onnx` turns an
// ONNX model (binary or ONNX text) into graph-level MLIR; `--mlir-to-llvmir`
// translates the LLVM-dialect output of qopt-cpu-pipeline to LLVM IR (the
// stage between quant-opt and an object file, as quant-compile runs it);
// `--export-onnx` writes the quantization of a module (the source model
// imported, then qopt-ptq{form=qdq}) back into the source ONNX model.
//
//   quant-translate --import-onnx model.onnx -o model.mlir
//       [--pin-shape input=1x128] [--pin-dim batch=1] [--default-opset 17]
//   quant-translate --list-onnx-ops
//   quant-translate --export-onnx --source-model model.onnx model.qdq.mlir
//       -o model.qdq.onnx [--fake-quant-weights]
//   quant-translate --export-onnx-pruned --source-model model.onnx
//       shrunk.mlir -o shrunk.onnx   (locations kept: --mlir-print-debuginfo)
//
//===----------------------------------------------------------------------===//

#include "qopt/Export/ONNX.h"
#include "qopt/Import/ONNX.h"
#include "qopt/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

static llvm::cl::OptionCategory importCategory("ONNX import options");

static llvm::cl::list<std::string>
    pinShapes("pin-shape",
              llvm::cl::desc("Static shape for a graph input: NAME=DxDxD "
                             "(repeatable)"),
              llvm::cl::cat(importCategory));
static llvm::cl::list<std::string>
    pinDims("pin-dim",
            llvm::cl::desc("Value for a symbolic dim (dim_param): NAME=N "
                           "(repeatable)"),
            llvm::cl::cat(importCategory));
static llvm::cl::opt<bool> foldBatchNorm(
    "fold-batchnorm",
    llvm::cl::desc("--import-onnx: fold BatchNormalization into the Conv "
                   "with constant weights before it (as quant-compile does)"),
    llvm::cl::cat(importCategory));
static llvm::cl::opt<int64_t> defaultOpset(
    "default-opset",
    llvm::cl::desc("ai.onnx opset assumed when the model imports none"),
    llvm::cl::init(17), llvm::cl::cat(importCategory));

static llvm::cl::OptionCategory exportCategory("ONNX export options");
static llvm::cl::opt<std::string> sourceModel(
    "source-model",
    llvm::cl::desc("--export-onnx: the ONNX model the module was imported "
                   "from (the export rewrites it)"),
    llvm::cl::cat(exportCategory));
static llvm::cl::opt<bool> fakeQuantWeights(
    "fake-quant-weights",
    llvm::cl::desc("--export-onnx: float weights behind QuantizeLinear -> "
                   "DequantizeLinear (a QAT graph) instead of int8 "
                   "initializers"),
    llvm::cl::cat(exportCategory));

static LogicalResult exportONNX(Operation *op, llvm::raw_ostream &os) {
  auto module = dyn_cast<ModuleOp>(op);
  if (!module)
    return op->emitError("--export-onnx: expected a module");
  if (sourceModel.empty())
    return module.emitError("--export-onnx needs --source-model=PATH (the "
                            "ONNX model the module was imported from)");
  qopt::ONNXExportOptions options;
  options.fakeQuantWeights = fakeQuantWeights;
  std::string error;
  if (failed(qopt::exportQDQModel(module, sourceModel, os, options, error)))
    return module.emitError("--export-onnx: ") << error;
  return success();
}

static LogicalResult exportPrunedONNX(Operation *op, llvm::raw_ostream &os) {
  auto module = dyn_cast<ModuleOp>(op);
  if (!module)
    return op->emitError("--export-onnx-pruned: expected a module");
  if (sourceModel.empty())
    return module.emitError("--export-onnx-pruned needs --source-model=PATH "
                            "(the ONNX model the module was imported from)");
  std::string error;
  if (failed(qopt::exportPrunedModel(module, sourceModel, os, error)))
    return module.emitError("--export-onnx-pruned: ") << error;
  return success();
}

static OwningOpRef<Operation *> importONNX(llvm::SourceMgr &sourceMgr,
                                           MLIRContext *context) {
  qopt::ONNXImportOptions options;
  options.defaultOpset = defaultOpset;
  options.foldBatchNorm = foldBatchNorm;
  Location loc = UnknownLoc::get(context);
  for (const std::string &s : pinShapes) {
    std::string err = qopt::parsePinnedShape(s, options);
    if (!err.empty()) {
      emitError(loc) << err;
      return nullptr;
    }
  }
  for (const std::string &s : pinDims) {
    std::string err = qopt::parsePinnedDim(s, options);
    if (!err.empty()) {
      emitError(loc) << err;
      return nullptr;
    }
  }
  const llvm::MemoryBuffer *buf =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  OwningOpRef<ModuleOp> module = qopt::importONNXBytes(
      buf->getBuffer(), buf->getBufferIdentifier(), context, options);
  if (!module)
    return nullptr;
  return OwningOpRef<Operation *>(module.release());
}

int main(int argc, char **argv) {
  // `--list-onnx-ops`: the supported operators, one per line
  // ("Op since1,since2"), for docs and scripts.
  if (argc == 2 && llvm::StringRef(argv[1]) == "--list-onnx-ops") {
    for (const auto &op : qopt::listSupportedONNXOps()) {
      llvm::outs() << (op.domain.empty() ? "" : op.domain + "::") << op.opType
                   << " ";
      llvm::interleave(op.sinceVersions, llvm::outs(), ",");
      llvm::outs() << "\n";
    }
    return 0;
  }
  registerToLLVMIRTranslation();
  TranslateToMLIRRegistration importReg(
      "import-onnx", "Import an ONNX model (binary or ONNX text)", importONNX,
      [](DialectRegistry &registry) {
        qopt::registerONNXImportDialects(registry);
      });
  TranslateFromMLIRRegistration exportReg(
      "export-onnx",
      "Write a module's W8A8 quantization (QDQ form) into its source ONNX "
      "model (--source-model)",
      exportONNX, [](DialectRegistry &registry) {
        qopt::registerONNXImportDialects(registry);
      });
  TranslateFromMLIRRegistration exportPrunedReg(
      "export-onnx-pruned",
      "Write a pruned (qopt-shrink-structured) float module's weights, "
      "biases and reshape sizes into its source ONNX model (--source-model; "
      "the module keeps the ONNX node names in its locations)",
      exportPrunedONNX, [](DialectRegistry &registry) {
        qopt::registerONNXImportDialects(registry);
      });
  return failed(mlirTranslateMain(argc, argv, "quant-opt translation tool"))
             ? 1
             : 0;
}
