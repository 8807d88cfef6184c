//===- Compiler.cpp - C API of quant-compile and the ONNX importer --------===//

#include "qopt-c/Compiler.h"
#include "qopt-c/Dialects.h"
#include "qopt/Compiler/Driver.h"
#include "qopt/Import/ONNX.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Support.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace mlir;

static qopt::CompileOptions *unwrapOptions(qoptCompileOptions o) {
  return static_cast<qopt::CompileOptions *>(o.ptr);
}

static void send(MlirStringCallback callback, const std::string &text,
                 void *userData) {
  if (callback)
    callback(mlirStringRefCreate(text.data(), text.size()), userData);
}

qoptCompileOptions qoptCompileOptionsCreate(void) {
  return {new qopt::CompileOptions()};
}

void qoptCompileOptionsDestroy(qoptCompileOptions options) {
  delete unwrapOptions(options);
}

MlirLogicalResult qoptCompileOptionsSet(qoptCompileOptions options,
                                        MlirStringRef key, MlirStringRef value,
                                        MlirStringCallback error,
                                        void *userData) {
  std::string message;
  if (failed(
          unwrapOptions(options)->set(unwrap(key), unwrap(value), message))) {
    send(error, message, userData);
    return mlirLogicalResultFailure();
  }
  return mlirLogicalResultSuccess();
}

void qoptCompileOptionsDescribe(MlirStringCallback callback, void *userData) {
  send(callback, qopt::CompileOptions::describeKeys(), userData);
}

MlirLogicalResult qoptCompile(qoptCompileOptions options,
                              MlirStringRef modelPath, MlirStringRef modelBytes,
                              MlirStringRef modelName, MlirStringRef outputPath,
                              MlirStringCallback report,
                              MlirStringCallback table,
                              MlirStringCallback error, void *userData) {
  const qopt::CompileOptions &opts = *unwrapOptions(options);
  // The tool's context, with its diagnostics printed exactly as the tool
  // prints them, into a string.
  DialectRegistry registry;
  qopt::registerCompilerDialects(registry);
  qoptRegisterAllPasses();
  MLIRContext ctx(registry, MLIRContext::Threading::DISABLED);
  ctx.loadAllAvailableDialects();
  ctx.printOpOnDiagnostic(false);
  std::string diagnostics;
  llvm::raw_string_ostream diagOS(diagnostics);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &ctx, diagOS);

  std::string message;
  auto fail = [&]() {
    diagOS.flush();
    std::string text = diagnostics;
    if (!message.empty())
      text += (text.empty() || text.back() == '\n' ? "" : "\n") + message;
    while (!text.empty() && text.back() == '\n')
      text.pop_back();
    send(error, text.empty() ? "compilation failed" : text, userData);
    return mlirLogicalResultFailure();
  };
  OwningOpRef<ModuleOp> module =
      modelPath.length
          ? qopt::loadModel(ctx, unwrap(modelPath), opts, sourceMgr, message)
          : qopt::loadModelBytes(ctx, unwrap(modelBytes), unwrap(modelName),
                                 opts, message);
  if (!module)
    return fail();
  qopt::CompileResult result;
  if (failed(qopt::compileModule(*module, opts, unwrap(modelPath),
                                 unwrap(outputPath), result, message)))
    return fail();
  if (!result.reportJson.empty())
    send(report, result.reportJson, userData);
  if (!result.reportTable.empty())
    send(table, result.reportTable, userData);
  return mlirLogicalResultSuccess();
}

void qoptSetCalibrationProgressCallback(qoptProgressCallback callback,
                                        void *userData) {
  qopt::setCalibrationProgress(callback, userData);
}

MlirModule qoptImportONNX(MlirContext context, MlirStringRef bytes,
                          MlirStringRef name, qoptCompileOptions options) {
  qopt::CompileOptions defaults;
  const qopt::CompileOptions &opts =
      options.ptr ? *unwrapOptions(options) : defaults;
  std::string message;
  MLIRContext *ctx = unwrap(context);
  OwningOpRef<ModuleOp> module =
      qopt::loadModelBytes(*ctx, unwrap(bytes), unwrap(name), opts, message);
  if (!module) {
    if (!message.empty())
      emitError(UnknownLoc::get(ctx)) << message;
    return MlirModule{nullptr};
  }
  return wrap(module.release());
}
