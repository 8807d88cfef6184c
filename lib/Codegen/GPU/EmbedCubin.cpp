//===- EmbedCubin.cpp - cubin next to the PTX of each kernel module -------===//
//
// gpu-module-to-binary{format=isa} leaves each kernel module as PTX, which
// the driver JIT-compiles on first load (hundreds of milliseconds for a
// model, and again on every machine without a warm cache). When the CUDA
// toolkit's ptxas and fatbinary are present at compile time, this pass
// assembles that PTX into a cubin for the target chip and embeds both in a
// fatbin: the driver loads the cubin on a matching GPU and still JITs the
// PTX on a newer one. Optionally it also writes the PTX of each kernel module
// to a directory, for users to read and for the lit tests to assemble
// with ptxas.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"

#include <algorithm>

namespace mlir::qopt {
#define GEN_PASS_DEF_GPUEMBEDCUBINPASS
#include "qopt/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// `name` in `<toolkit>/bin`, else on PATH, else in /usr/local/cuda/bin.
std::string findCudaTool(StringRef toolkit, StringRef name) {
  SmallVector<std::string> dirs;
  if (!toolkit.empty())
    dirs.push_back((toolkit + "/bin").str());
  for (const std::string &dir : dirs) {
    SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    if (llvm::sys::fs::can_execute(p))
      return std::string(p);
  }
  if (!toolkit.empty())
    return ""; // an explicit toolkit is not second-guessed
  if (auto onPath = llvm::sys::findProgramByName(name))
    return *onPath;
  SmallString<256> p("/usr/local/cuda/bin");
  llvm::sys::path::append(p, name);
  return llvm::sys::fs::can_execute(p) ? std::string(p) : "";
}

/// A temporary file removed when it goes out of scope.
struct TempFile {
  SmallString<128> path;
  ~TempFile() {
    if (!path.empty())
      llvm::sys::fs::remove(path);
  }
};

LogicalResult makeTemp(Operation *op, StringRef suffix, TempFile &f) {
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("qopt-kernels", suffix, f.path))
    return op->emitError("qopt-gpu-embed-cubin: cannot create a temporary "
                         "file: ")
           << ec.message();
  return success();
}

/// Runs `args` (args[0] is the program); its stderr goes to `log`.
LogicalResult runTool(Operation *op, ArrayRef<std::string> args,
                      const TempFile &log) {
  SmallVector<StringRef> argv(args.begin(), args.end());
  std::optional<StringRef> redirects[] = {std::nullopt, std::nullopt,
                                          StringRef(log.path)};
  std::string err;
  int rc =
      llvm::sys::ExecuteAndWait(argv[0], argv, std::nullopt, redirects,
                                /*SecondsToWait=*/0, /*MemoryLimit=*/0, &err);
  if (rc == 0)
    return success();
  std::string output;
  if (auto buf = llvm::MemoryBuffer::getFile(log.path))
    output = (*buf)->getBuffer().trim().str();
  return op->emitError("qopt-gpu-embed-cubin: ")
         << llvm::sys::path::filename(args[0]) << " failed"
         << (err.empty() ? "" : " (" + err + ")")
         << (output.empty() ? "" : ":\n" + output);
}

/// "sm_90a" -> "90a", for fatbinary's --image3 sm=.
StringRef smNumber(StringRef chip) {
  chip.consume_front("sm_");
  return chip;
}

struct GPUEmbedCubinPass
    : public qopt::impl::GPUEmbedCubinPassBase<GPUEmbedCubinPass> {
  using GPUEmbedCubinPassBase::GPUEmbedCubinPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Each kernel module's PTX, for write-ptx.
    SmallVector<std::pair<std::string, std::string>> ptxFiles;
    bool assemble = cubin != qopt::CubinMode::Never;
    if (assemble) {
      ptxas = findCudaTool(toolkit, "ptxas");
      fatbinary = findCudaTool(toolkit, "fatbinary");
      if (ptxas.empty() || fatbinary.empty()) {
        if (cubin == qopt::CubinMode::Always) {
          module.emitError("qopt-gpu-embed-cubin: cubin=always but the CUDA "
                           "toolkit's ")
              << (ptxas.empty() ? "ptxas" : "fatbinary") << " was not found"
              << (toolkit.empty() ? " (PATH, /usr/local/cuda/bin)"
                                  : " in " + toolkit + "/bin");
          return signalPassFailure();
        }
        assemble = false; // auto: PTX only, JIT-compiled by the driver
      }
    }

    WalkResult walk = module.walk([&](gpu::BinaryOp bin) {
      SmallVector<Attribute> objects;
      for (Attribute a : bin.getObjectsAttr()) {
        auto obj = cast<gpu::ObjectAttr>(a);
        auto target = dyn_cast<NVVM::NVVMTargetAttr>(obj.getTarget());
        if (!target || obj.getFormat() != gpu::CompilationTarget::Assembly) {
          objects.push_back(obj);
          continue;
        }
        StringRef ptx = obj.getObject().getValue();
        // A call of libdevice math that was not linked in would fail in
        // ptxas or when the driver loads the module: say what is missing.
        size_t at = ptx.find("__nv_");
        if (at != StringRef::npos) {
          StringRef fn = ptx.substr(at).take_while(
              [](char c) { return llvm::isAlnum(c) || c == '_'; });
          bin.emitError("qopt-gpu-embed-cubin: kernel module @")
              << bin.getSymName() << " calls libdevice's " << fn
              << ", which is not linked in (qopt-nvptx-pipeline libdevice=PATH "
                 "to libdevice.10.bc; quant-compile --libdevice or "
                 "$QOPT_LIBDEVICE)";
          return WalkResult::interrupt();
        }
        if (!writePtx.empty())
          ptxFiles.emplace_back(bin.getSymName().str(), ptx.str());
        if (!assemble) {
          objects.push_back(obj);
          continue;
        }
        FailureOr<std::string> fat = buildFatbin(bin, target, ptx);
        if (failed(fat))
          return WalkResult::interrupt();
        objects.push_back(
            gpu::ObjectAttr::get(target, gpu::CompilationTarget::Fatbin,
                                 StringAttr::get(&getContext(), *fat),
                                 obj.getProperties(), obj.getKernels()));
      }
      bin.setObjectsAttr(ArrayAttr::get(&getContext(), objects));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    if (!writePtx.empty()) {
      if (std::error_code ec = llvm::sys::fs::create_directories(writePtx)) {
        module.emitError("qopt-gpu-embed-cubin: cannot create '")
            << writePtx << "': " << ec.message();
        return signalPassFailure();
      }
      for (auto &[name, text] : ptxFiles) {
        SmallString<256> path(writePtx);
        llvm::sys::path::append(path, name + ".ptx");
        std::string err;
        // ToolOutputFile: nothing is left behind if writing fails.
        auto out = mlir::openOutputFile(path, &err);
        if (!out) {
          module.emitError("qopt-gpu-embed-cubin: cannot write the PTX: ")
              << err;
          return signalPassFailure();
        }
        out->os() << text;
        out->keep();
      }
    }
  }

  std::string ptxas, fatbinary; // the tools' paths, when found

  /// ptxas + fatbinary: a fatbin holding the cubin for the target chip and
  /// the PTX (for newer GPUs).
  FailureOr<std::string>
  buildFatbin(gpu::BinaryOp bin, NVVM::NVVMTargetAttr target, StringRef ptx) {
    TempFile ptxFile, cubinFile, fatFile, log;
    if (failed(makeTemp(bin, "ptx", ptxFile)) ||
        failed(makeTemp(bin, "cubin", cubinFile)) ||
        failed(makeTemp(bin, "fatbin", fatFile)) ||
        failed(makeTemp(bin, "log", log)))
      return failure();
    {
      std::error_code ec;
      llvm::raw_fd_ostream os(ptxFile.path, ec);
      if (ec)
        return bin.emitError("qopt-gpu-embed-cubin: cannot write ")
               << ptxFile.path << ": " << ec.message();
      os << ptx;
    }
    std::string chip = target.getChip().str();
    std::string opt = "-O" + std::to_string(std::clamp(target.getO(), 0, 3));
    if (failed(runTool(bin,
                       {ptxas, "-arch=" + chip, opt, ptxFile.path.str().str(),
                        "-o", cubinFile.path.str().str()},
                       log)))
      return failure();
    std::string sm = smNumber(chip).str();
    if (failed(runTool(bin,
                       {fatbinary, "-64", "--create", fatFile.path.str().str(),
                        "--image3=kind=elf,sm=" + sm +
                            ",file=" + cubinFile.path.str().str(),
                        "--image3=kind=ptx,sm=" + sm +
                            ",file=" + ptxFile.path.str().str()},
                       log)))
      return failure();
    auto buf = llvm::MemoryBuffer::getFile(fatFile.path, /*IsText=*/false);
    if (!buf)
      return bin.emitError("qopt-gpu-embed-cubin: cannot read the fatbin: ")
             << buf.getError().message();
    return (*buf)->getBuffer().str();
  }
};

} // namespace
