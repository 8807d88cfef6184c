//===- Dialects.cpp - C API of the qopt dialect and its passes ------------===//

#include "qopt-c/Dialects.h"
#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
#include "qopt/Import/ONNX.h"
#include "qopt/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/CAPI/Support.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>

using namespace mlir;

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(QOpt, qopt, mlir::qopt::QOptDialect)

void qoptRegisterAllDialects(MlirDialectRegistry registry) {
  qopt::registerAllDialects(*unwrap(registry));
  qopt::registerONNXImportDialects(*unwrap(registry));
}

void qoptRegisterAllPasses(void) {
  static std::once_flag once;
  std::call_once(once, [] { qopt::registerAllPasses(); });
}

namespace {
struct PassEntry {
  std::string summary;
  bool isPipeline;
};

/// The registered passes and pipelines. MLIR offers no iteration over its
/// registry, only mlir::printRegisteredPasses() on stdout: its text is
/// captured once (stdout briefly redirected to a temporary file) and parsed:
/// `  --name  -   summary` lines.
const std::map<std::string, PassEntry> &registeredPasses() {
  static std::map<std::string, PassEntry> entries;
  static std::once_flag once;
  std::call_once(once, [] {
    qoptRegisterAllPasses();
    llvm::SmallString<128> path;
    int fd;
    if (llvm::sys::fs::createTemporaryFile("qopt-passes", "txt", fd, path))
      return;
    llvm::outs().flush();
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    printRegisteredPasses();
    llvm::outs().flush();
    dup2(saved, 1);
    close(saved);
    close(fd);
    auto buffer = llvm::MemoryBuffer::getFile(path);
    llvm::sys::fs::remove(path);
    if (!buffer)
      return;
    bool pipelines = false;
    llvm::SmallVector<llvm::StringRef> lines;
    (*buffer)->getBuffer().split(lines, '\n');
    for (llvm::StringRef line : lines) {
      if (line.starts_with("Pass Pipelines:")) {
        pipelines = true;
        continue;
      }
      if (line.starts_with("Passes:")) {
        pipelines = false;
        continue;
      }
      // Options are indented further ("    --opt").
      if (!line.starts_with("  --"))
        continue;
      llvm::StringRef rest = line.drop_front(4);
      auto [name, summary] = rest.split(' ');
      summary = summary.trim();
      if (summary.consume_front("-"))
        summary = summary.trim();
      entries[name.str()] = {summary.str(), pipelines};
    }
    // printRegisteredPasses lists passes only: add the pipelines qopt
    // registers (and upstream's that quant-opt users reach for), looked up
    // by name.
    for (const char *name :
         {"qopt-ptq", "qopt-cpu-pipeline", "qopt-nvptx-pipeline",
          "buffer-deallocation-pipeline", "sparsifier"})
      if (const PassPipelineInfo *info = PassPipelineInfo::lookup(name))
        entries[name] = {info->getPassDescription().str(), true};
  });
  return entries;
}
} // namespace

void qoptListPasses(MlirStringRef prefix, qoptPassInfoCallback callback,
                    void *userData) {
  llvm::StringRef p = unwrap(prefix);
  for (const auto &[name, entry] : registeredPasses())
    if (llvm::StringRef(name).starts_with(p))
      callback(mlirStringRefCreate(name.data(), name.size()),
               mlirStringRefCreate(entry.summary.data(), entry.summary.size()),
               entry.isPipeline, userData);
}
