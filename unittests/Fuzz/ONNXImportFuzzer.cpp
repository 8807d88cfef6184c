//===- ONNXImportFuzzer.cpp - libFuzzer target for the ONNX loader --------===//
//
// Feeds arbitrary bytes to the binary ONNX importer. Any input must end in a
// module or a diagnostic: crashes, sanitizer reports and hangs are bugs.
// External data is disabled so the fuzzer reads no files.
//
//===----------------------------------------------------------------------===//

#include "qopt/Import/ONNX.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    mlir::qopt::registerONNXImportDialects(*r);
    return r;
  }();
  mlir::MLIRContext ctx(*registry, mlir::MLIRContext::Threading::DISABLED);
  mlir::ScopedDiagnosticHandler silence(
      &ctx, [](mlir::Diagnostic &) { return mlir::success(); });
  mlir::qopt::ONNXImportOptions options;
  options.allowExternalData = false;
  options.format = mlir::qopt::ONNXImportOptions::Format::Binary;
  (void)mlir::qopt::importONNXBytes(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.onnx",
      &ctx, options);
  return 0;
}
