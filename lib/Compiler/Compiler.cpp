//===- Compiler.cpp - graph module to object, shared library or JIT -------===//

#include "qopt/Compiler/Compiler.h"
#include "qopt/Pipelines/Pipelines.h"
#include "qopt/Runtime/qopt_runtime.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#ifndef QOPT_DEFAULT_LINKER
#define QOPT_DEFAULT_LINKER "cc"
#endif

using namespace mlir;
using namespace mlir::qopt;

LogicalResult mlir::qopt::lowerToLLVMDialect(ModuleOp module,
                                             const CPUCompileOptions &options) {
  PassManager pm(module.getContext());
  CPUPipelineOptions pipeline;
  pipeline.artifact = true;
  pipeline.kernelCalls = options.kernelCalls;
  pipeline.parallel = options.parallelLoops;
  pipeline.instrument = options.instrument;
  pipeline.fuseElementwise = options.fuseElementwise;
  pipeline.runtimeChecks = options.runtimeChecks;
  pipeline.threads = options.defaultThreads;
  pipeline.profile = options.profile;
  pipeline.memoryPlan = options.memoryPlan;
  buildCPUPipeline(pm, pipeline);
  return pm.run(module);
}

std::unique_ptr<llvm::TargetMachine>
mlir::qopt::createCPUTargetMachine(const CPUCompileOptions &options,
                                   std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string cpu = options.cpu;
  std::string features;
  if (cpu.empty() || cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      features += (features.empty() ? "" : ",") +
                  std::string(f.second ? "+" : "-") + f.first().str();
  }
  if (!options.features.empty())
    features += (features.empty() ? "" : ",") + options.features;
  // An unknown CPU name only warns inside LLVM: check it here.
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(triple, "", ""));
  if (!subtarget || !subtarget->isCPUStringValid(cpu)) {
    error = "unknown CPU '" + options.cpu +
            "' (use an LLVM CPU name such as x86-64-v3, skylake-avx512 or "
            "native)";
    return nullptr;
  }
  llvm::TargetOptions targetOptions;
  auto level = options.optLevel >= 3   ? llvm::CodeGenOptLevel::Aggressive
               : options.optLevel == 0 ? llvm::CodeGenOptLevel::None
                                       : llvm::CodeGenOptLevel::Default;
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(triple, cpu, features, targetOptions,
                                  llvm::Reloc::PIC_, std::nullopt, level));
  if (!tm)
    error = "cannot create a target machine for CPU '" + cpu + "'";
  return tm;
}

static void registerTranslations(MLIRContext &ctx) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  ctx.appendDialectRegistry(registry);
}

std::unique_ptr<llvm::Module>
mlir::qopt::translateAndOptimize(ModuleOp module, llvm::LLVMContext &llvmCtx,
                                 llvm::TargetMachine &tm, unsigned optLevel,
                                 std::string &error) {
  registerTranslations(*module.getContext());
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmCtx, "qopt_artifact");
  if (!llvmModule) {
    error = "cannot translate the module to LLVM IR";
    return nullptr;
  }
  ExecutionEngine::setupTargetTripleAndDataLayout(llvmModule.get(), &tm);
  // The IR names its CPU, so that the vectorizer's cost model and any later
  // tool (llc, a JIT) see the same target.
  for (llvm::Function &f : *llvmModule)
    if (!f.isDeclaration()) {
      f.addFnAttr("target-cpu", tm.getTargetCPU());
      if (!tm.getTargetFeatureString().empty())
        f.addFnAttr("target-features", tm.getTargetFeatureString());
    }
  auto optimize = makeOptimizingTransformer(optLevel, /*sizeLevel=*/0, &tm);
  if (llvm::Error err = optimize(llvmModule.get())) {
    error = "LLVM optimization failed: " + llvm::toString(std::move(err));
    return nullptr;
  }
  return llvmModule;
}

/// Writes through `write` into a temporary file beside `path`, renamed to
/// `path` only when everything succeeded: no half-written outputs.
static LogicalResult
writeAtomically(StringRef path, std::string &error,
                llvm::function_ref<LogicalResult(StringRef tmp)> write) {
  // The rename would replace a device node, FIFO or directory.
  llvm::sys::fs::file_status st;
  if (!llvm::sys::fs::status(path, st, /*follow=*/false) &&
      llvm::sys::fs::exists(st) && !llvm::sys::fs::is_regular_file(st)) {
    error = "'" + path.str() +
            "' exists and is not a regular file; outputs are written to "
            "regular files only";
    return failure();
  }
  llvm::SmallString<256> tmp;
  llvm::SmallString<256> model(path);
  model += ".tmp-%%%%%%";
  int fd;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, tmp)) {
    error = "cannot create a file beside '" + path.str() + "': " + ec.message();
    return failure();
  }
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  if (failed(write(tmp))) {
    llvm::sys::fs::remove(tmp);
    return failure();
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    llvm::sys::fs::remove(tmp);
    error = "cannot write '" + path.str() + "': " + ec.message();
    return failure();
  }
  return success();
}

LogicalResult mlir::qopt::writeObjectFile(llvm::Module &module,
                                          llvm::TargetMachine &tm,
                                          StringRef path, std::string &error) {
  return writeAtomically(path, error, [&](StringRef tmp) -> LogicalResult {
    std::error_code ec;
    llvm::raw_fd_ostream os(tmp, ec, llvm::sys::fs::OF_None);
    if (ec) {
      error = "cannot open '" + tmp.str() + "': " + ec.message();
      return failure();
    }
    llvm::legacy::PassManager pm;
    if (tm.addPassesToEmitFile(pm, os, nullptr,
                               llvm::CodeGenFileType::ObjectFile)) {
      error = "the target cannot emit object files";
      return failure();
    }
    pm.run(module);
    os.close();
    if (os.has_error()) {
      error = "cannot write '" + tmp.str() + "': " + os.error().message();
      os.clear_error();
      return failure();
    }
    return success();
  });
}

LogicalResult mlir::qopt::linkSharedLibrary(StringRef objectPath,
                                            StringRef outputPath,
                                            std::string &error) {
  std::string linker = QOPT_DEFAULT_LINKER;
  if (const char *env = std::getenv("QOPT_LINKER"))
    linker = env;
  llvm::ErrorOr<std::string> program =
      llvm::sys::path::is_absolute(linker)
          ? llvm::ErrorOr<std::string>(linker)
          : llvm::sys::findProgramByName(linker);
  if (!program || !llvm::sys::fs::can_execute(*program)) {
    error = "cannot find the linker driver '" + linker +
            "' (set QOPT_LINKER to a C compiler driver such as clang)";
    return failure();
  }
  return writeAtomically(outputPath, error, [&](StringRef tmp) {
    // The runtime provides the qopt/async symbols when it loads the
    // artifact; libm the math functions without LLVM intrinsics.
    SmallVector<StringRef> args{*program, "-shared",  "-o",
                                tmp,      objectPath, "-lm"};
    std::string msg;
    int rc =
        llvm::sys::ExecuteAndWait(*program, args, std::nullopt, {}, 0, 0, &msg);
    if (rc != 0) {
      error = "linking '" + outputPath.str() + "' with " + *program +
              " failed" + (msg.empty() ? "" : ": " + msg);
      return failure();
    }
    return success();
  });
}

//===----------------------------------------------------------------------===//
// JIT
//===----------------------------------------------------------------------===//

JITArtifact::~JITArtifact() = default;

std::unique_ptr<JITArtifact>
JITArtifact::create(ModuleOp module, const CPUCompileOptions &options,
                    std::string &error) {
  std::unique_ptr<llvm::TargetMachine> tm =
      createCPUTargetMachine(options, error);
  if (!tm)
    return nullptr;
  registerTranslations(*module.getContext());
  auto transformer =
      makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0, tm.get());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = tm->getOptLevel();
  auto engine = ExecutionEngine::create(module, engineOptions, std::move(tm));
  if (!engine) {
    error = "JIT compilation failed: " + llvm::toString(engine.takeError());
    return nullptr;
  }
  (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    size_t count = 0;
    const qopt_symbol *symbols = qopt_runtime_codegen_symbols(&count);
    for (size_t i = 0; i < count; ++i)
      map[interner(symbols[i].name)] = {
          llvm::orc::ExecutorAddr::fromPtr(symbols[i].address),
          llvm::JITSymbolFlags::Exported};
    return map;
  });
  (*engine)->initialize();
  auto sig = (*engine)->lookup("qopt_artifact_signature");
  auto entry = (*engine)->lookup("qopt_artifact_main");
  if (!sig || !entry) {
    if (!sig)
      llvm::consumeError(sig.takeError());
    if (!entry)
      llvm::consumeError(entry.takeError());
    error = "the JIT-compiled module has no qopt_artifact_signature / "
            "qopt_artifact_main (lower it with lowerToLLVMDialect)";
    return nullptr;
  }
  std::unique_ptr<JITArtifact> result(new JITArtifact);
  result->engine = std::move(*engine);
  result->signatureText = static_cast<const char *>(*sig);
  result->entryFn = reinterpret_cast<void (*)(void **)>(*entry);
  return result;
}
