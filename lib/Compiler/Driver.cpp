//===- Driver.cpp - quant-compile as a library ----------------------------===//
//
// The body of quant-compile (import, adapters, PTQ + report, lowering,
// emission) moved out of the tool so that the C API and Python run the very
// same code with the very same options struct.
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/Driver.h"
#include "qopt/Compiler/AccuracyTarget.h"
#include "qopt/Compiler/Report.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/FoldQDQ.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Export/ONNX.h"
#include "qopt/Import/ONNX.h"
#include "qopt/InitAll.h"
#include "qopt/Pipelines/PTQPipeline.h"
#include "qopt/Pipelines/PrunePipeline.h"
#include "qopt/Runtime/qopt_runtime.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Options by name
//===----------------------------------------------------------------------===//

namespace {
struct KeyInfo {
  const char *key;
  const char *help;
};
// The tool's flags, in its --help order.
constexpr KeyInfo kKeys[] = {
    {"target", "cpu | nvptx"},
    {"gpu-arch", "nvptx: sm_80 | sm_86 | sm_89 | sm_90"},
    {"libdevice", "nvptx: libdevice.10.bc path"},
    {"cubin", "nvptx: auto | always | never"},
    {"gpu-precision", "nvptx: f32 | tf32 | fma (float32 matmuls)"},
    {"cuda-toolkit", "nvptx: CUDA toolkit root"},
    {"emit-ptx", "nvptx: folder for each kernel module's PTX"},
    {"cpu", "native or an LLVM CPU name"},
    {"features", "extra LLVM target features"},
    {"pin-shape", "NAME=DxD (repeatable)"},
    {"pin-dim", "dim_param=N (repeatable)"},
    {"threads", "default thread count of the artifact (0: one per core)"},
    {"freeze-input", "NAME=FILE (repeatable)"},
    {"quantize", "w8a8 | w8a8-dynamic | w8 | w4 | nf4 | ternary"},
    {"ternary-mode", "ternary: absmean | lossless"},
    {"calibration-data", "folder of sample folders"},
    {"calibration-method", "minmax | percentile | entropy | mse"},
    {"percentile", "for calibration-method=percentile"},
    {"activation-type", "int8 | uint8 | auto"},
    {"calibration-margin-db", "clipping methods fall back to minmax beyond"},
    {"accuracy-target", "output SQNR dB: sensitive layers stay float"},
    {"include", "regex: only these layers are quantized"},
    {"exclude", "regex: these layers stay float"},
    {"group-size", "w4/nf4: weights per scale"},
    {"double-quant", "nf4: int8 block scales"},
    {"weight-asymmetric", "w4: uint4 weights with zero points (or auto)"},
    {"weight-granularity", "int8 weights: per-channel | per-tensor | auto"},
    {"int4-scale", "w4: mse | signed-extreme | absmax | minmax"},
    {"w4-activations", "w4: float | int8 (int8 per token and block)"},
    {"int8-depthwise", "w8a8: depthwise convolutions in int8 too"},
    {"smoothquant", "SmoothQuant alpha in [0, 1]"},
    {"weight-rounding", "nearest | gptq (needs calibration-data)"},
    {"bias-correction", "add (W - Wq)·E[x] to quantized layers' biases"},
    {"adapter", "PEFT LoRA folder DIR[:SCALE] (repeatable)"},
    {"adapter-mode", "merge | switch"},
    {"report", "report JSON path (or true/false)"},
    {"eval-data", "held-back samples for the report"},
    {"report-latency-runs", "timed runs for the report (0: none)"},
    {"default-opset", "ai.onnx opset assumed when the model has none"},
    {"O", "LLVM optimization level 0-3"},
    {"parallel-loops", "split generated loops over threads"},
    {"no-fusion", "skip element-wise fusion"},
    {"no-kernels", "generated loops instead of the runtime's kernels"},
    {"no-runtime-checks", "drop the run-time shape/division checks"},
    {"fold-qdq", "fold a QDQ model's patterns into integer layers"},
    {"prepare-qat", "with emit=onnx: a fake-quant training graph"},
    {"emit", "mlir | llvm | obj | so | onnx"},
    {"prune", "magnitude:S | wanda:S | N:M | channels:S | heads:S | neurons:S"},
    {"prune-method", "magnitude | wanda (N:M, channels:S)"},
    {"prune-scope", "layer | row | global"},
    {"prune-include", "regex: only these layers are pruned"},
    {"prune-exclude", "regex: these layers are not pruned"},
    {"shrink-structured",
     "remove channels, heads or neurons zeroed by --prune"},
    {"profile", "time each kernel call / loop nest (quant-run --profile)"},
    {"no-memory-plan", "malloc every intermediate (no arena)"},
};

LogicalResult parseBool(StringRef key, StringRef value, bool &out,
                        std::string &error) {
  std::optional<bool> b = llvm::StringSwitch<std::optional<bool>>(value)
                              .Cases({"", "1", "true", "True"}, true)
                              .Cases({"0", "false", "False"}, false)
                              .Default(std::nullopt);
  if (!b) {
    error = "--" + key.str() + "=" + value.str() + ": expected true or false";
    return failure();
  }
  out = *b;
  return success();
}

template <typename T>
LogicalResult parseNumber(StringRef key, StringRef value, T &out,
                          std::string &error) {
  if constexpr (std::is_floating_point_v<T>) {
    double d;
    if (!value.getAsDouble(d)) {
      out = T(d);
      return success();
    }
  } else {
    if (!value.getAsInteger(10, out))
      return success();
  }
  error = "--" + key.str() + "=" + value.str() + ": expected a number";
  return failure();
}

template <typename T>
LogicalResult parseChoice(StringRef key, StringRef value,
                          std::optional<T> parsed, const char *choices, T &out,
                          std::string &error) {
  if (!parsed) {
    error =
        "--" + key.str() + "='" + value.str() + "' is not one of: " + choices;
    return failure();
  }
  out = *parsed;
  return success();
}
} // namespace

std::string CompileOptions::describeKeys() {
  std::string out;
  for (const KeyInfo &k : kKeys)
    out += std::string(k.key) + "\t" + k.help + "\n";
  return out;
}

LogicalResult CompileOptions::set(StringRef key, StringRef value,
                                  std::string &error) {
  if (key == "target")
    return parseChoice(key, value,
                       llvm::StringSwitch<std::optional<Target>>(value)
                           .Case("cpu", Target::CPU)
                           .Case("nvptx", Target::NVPTX)
                           .Default(std::nullopt),
                       "cpu, nvptx", target, error);
  if (key == "gpu-arch") {
    if (!llvm::is_contained({"sm_80", "sm_86", "sm_89", "sm_90"}, value)) {
      error = "--gpu-arch='" + value.str() +
              "' is not one of: sm_80, sm_86, sm_89, sm_90";
      return failure();
    }
    gpuArch = value.str();
    return success();
  }
  if (key == "libdevice")
    return libdevice = value.str(), success();
  if (key == "cubin")
    return parseChoice(key, value, symbolizeCubinMode(value),
                       "auto, always, never", cubin, error);
  if (key == "gpu-precision")
    return parseChoice(key, value, symbolizeGpuPrecision(value),
                       "f32, tf32, fma", gpuPrecision, error);
  if (key == "cuda-toolkit")
    return cudaToolkit = value.str(), success();
  if (key == "emit-ptx")
    return emitPtx = value.str(), success();
  if (key == "cpu")
    return cpu.cpu = value.str(), success();
  if (key == "features")
    return cpu.features = value.str(), success();
  if (key == "pin-shape")
    return pinShapes.push_back(value.str()), success();
  if (key == "pin-dim")
    return pinDims.push_back(value.str()), success();
  if (key == "freeze-input")
    return freezeInputs.push_back(value.str()), success();
  if (key == "threads") {
    if (failed(parseNumber(key, value, cpu.defaultThreads, error)) ||
        cpu.defaultThreads < 0 || cpu.defaultThreads > 1024) {
      error = "--threads expects a count from 0 to 1024 (0: one per core)";
      return failure();
    }
    return success();
  }
  if (key == "quantize") {
    QuantScheme scheme;
    if (failed(parseChoice(key, value, symbolizeQuantScheme(value),
                           "w8a8, w8a8-dynamic, w8, w4, nf4, ternary", scheme,
                           error)))
      return failure();
    quantize = scheme;
    return success();
  }
  if (key == "ternary-mode") {
    TernaryMode mode;
    if (failed(parseChoice(key, value, symbolizeTernaryMode(value),
                           "absmean, lossless", mode, error)))
      return failure();
    ternaryMode = mode;
    return success();
  }
  if (key == "fold-qdq")
    return parseBool(key, value, foldQdq, error);
  if (key == "prepare-qat")
    return parseBool(key, value, prepareQat, error);
  if (key == "no-runtime-checks") {
    bool b;
    if (failed(parseBool(key, value, b, error)))
      return failure();
    cpu.runtimeChecks = !b;
    return success();
  }
  if (key == "prune")
    return prune = value.str(), success();
  if (key == "prune-method") {
    PruneMethod method;
    if (failed(parseChoice(key, value, symbolizePruneMethod(value),
                           "magnitude, wanda", method, error)))
      return failure();
    pruneMethod = method;
    return success();
  }
  if (key == "prune-scope") {
    PruneScope scope;
    if (failed(parseChoice(key, value, symbolizePruneScope(value),
                           "layer, row, global", scope, error)))
      return failure();
    pruneScope = scope;
    return success();
  }
  if (key == "prune-include")
    return pruneInclude = value.str(), success();
  if (key == "prune-exclude")
    return pruneExclude = value.str(), success();
  if (key == "shrink-structured")
    return parseBool(key, value, shrinkStructured, error);
  if (key == "calibration-data")
    return calibrationData = value.str(), success();
  if (key == "calibration-method")
    return parseChoice(key, value, symbolizeCalibrationMethod(value),
                       "minmax, percentile, entropy, mse", calibrationMethod,
                       error);
  if (key == "percentile")
    return parseNumber(key, value, percentile, error);
  if (key == "calibration-margin-db")
    return parseNumber(key, value, calibrationMarginDb, error);
  if (key == "accuracy-target") {
    double t;
    if (failed(parseNumber(key, value, t, error)))
      return failure();
    accuracyTarget = t;
    return success();
  }
  if (key == "activation-type")
    return parseChoice(key, value, symbolizeActivationStorage(value),
                       "int8, uint8, auto", activationType, error);
  if (key == "include")
    return include = value.str(), success();
  if (key == "exclude")
    return exclude = value.str(), success();
  if (key == "group-size") {
    int64_t g;
    if (failed(parseNumber(key, value, g, error)))
      return failure();
    groupSize = g;
    return success();
  }
  if (key == "double-quant")
    return parseBool(key, value, doubleQuant, error);
  if (key == "weight-asymmetric") {
    if (value == "auto")
      return weightSymmetry = WeightSymmetry::Auto, success();
    bool asymmetric = false;
    if (failed(parseBool(key, value, asymmetric, error))) {
      error += " (or auto)";
      return failure();
    }
    weightSymmetry =
        asymmetric ? WeightSymmetry::Asymmetric : WeightSymmetry::Symmetric;
    return success();
  }
  if (key == "weight-granularity")
    return parseChoice(
        key, value,
        llvm::StringSwitch<std::optional<WeightGranularity>>(value)
            .Case("per-channel", WeightGranularity::PerChannel)
            .Case("per-tensor", WeightGranularity::PerTensor)
            .Case("auto", WeightGranularity::Auto)
            .Default(std::nullopt),
        "per-channel, per-tensor, auto", weightGranularity, error);
  if (key == "int4-scale") {
    Int4ScaleMethod method;
    if (failed(parseChoice(
            key, value,
            llvm::StringSwitch<std::optional<Int4ScaleMethod>>(value)
                .Case("mse", Int4ScaleMethod::MSE)
                .Case("signed-extreme", Int4ScaleMethod::SignedExtreme)
                .Case("absmax", Int4ScaleMethod::AbsMax)
                .Case("minmax", Int4ScaleMethod::MinMax)
                .Default(std::nullopt),
            "mse, signed-extreme, absmax, minmax", method, error)))
      return failure();
    int4Scale = method;
    return success();
  }
  if (key == "int8-depthwise")
    return parseBool(key, value, int8Depthwise, error);
  if (key == "w4-activations") {
    ActivationMode mode;
    if (failed(
            parseChoice(key, value,
                        llvm::StringSwitch<std::optional<ActivationMode>>(value)
                            .Case("float", ActivationMode::None)
                            .Case("int8", ActivationMode::DynamicBlock)
                            .Default(std::nullopt),
                        "float, int8", mode, error)))
      return failure();
    w4Activations = mode;
    return success();
  }
  if (key == "smoothquant") {
    double alpha;
    if (failed(parseNumber(key, value, alpha, error)))
      return failure();
    smoothquant = alpha;
    return success();
  }
  if (key == "weight-rounding")
    return parseChoice(key, value, symbolizeWeightRounding(value),
                       "nearest, gptq, auto", weightRounding, error);
  if (key == "bias-correction")
    return parseBool(key, value, biasCorrection, error);
  if (key == "adapter")
    return adapters.push_back(value.str()), success();
  if (key == "adapter-mode")
    return parseChoice(key, value,
                       llvm::StringSwitch<std::optional<AdapterMode>>(value)
                           .Case("merge", AdapterMode::Merge)
                           .Case("switch", AdapterMode::Switch)
                           .Default(std::nullopt),
                       "merge, switch", adapterMode, error);
  if (key == "report") {
    bool b;
    std::string ignored;
    if (succeeded(parseBool(key, value, b, ignored)) && !value.empty()) {
      report = b;
      reportPath.clear();
    } else {
      report = true;
      reportPath = value.str();
    }
    return success();
  }
  if (key == "eval-data")
    return evalData = value.str(), success();
  if (key == "report-latency-runs")
    return parseNumber(key, value, reportLatencyRuns, error);
  if (key == "default-opset")
    return parseNumber(key, value, defaultOpset, error);
  if (key == "O") {
    if (failed(parseNumber(key, value, cpu.optLevel, error)))
      return failure();
    if (cpu.optLevel > 3) {
      error = "-O" + value.str() + ": levels are 0 to 3";
      return failure();
    }
    return success();
  }
  if (key == "parallel-loops")
    return parseBool(key, value, cpu.parallelLoops, error);
  if (key == "profile")
    return parseBool(key, value, cpu.profile, error);
  if (key == "no-memory-plan") {
    bool b;
    if (failed(parseBool(key, value, b, error)))
      return failure();
    cpu.memoryPlan = !b;
    return success();
  }
  if (key == "no-fusion") {
    bool b;
    if (failed(parseBool(key, value, b, error)))
      return failure();
    cpu.fuseElementwise = !b;
    return success();
  }
  if (key == "no-kernels") {
    bool b;
    if (failed(parseBool(key, value, b, error)))
      return failure();
    cpu.kernelCalls = !b;
    return success();
  }
  if (key == "emit")
    return parseChoice(key, value,
                       llvm::StringSwitch<std::optional<Emit>>(value)
                           .Case("mlir", Emit::MLIR)
                           .Case("llvm", Emit::LLVM)
                           .Case("obj", Emit::Obj)
                           .Case("so", Emit::So)
                           .Case("onnx", Emit::ONNX)
                           .Default(std::nullopt),
                       "mlir, llvm, obj, so, onnx", emit, error);
  std::string keys;
  for (const KeyInfo &k : kKeys)
    keys += (keys.empty() ? "" : ", ") + std::string(k.key);
  error = "unknown option '" + key.str() + "' (options: " + keys + ")";
  return failure();
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

void mlir::qopt::registerCompilerDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerONNXImportDialects(registry);
}

static bool importOptions(const CompileOptions &options,
                          ONNXImportOptions &import, std::string &error) {
  import.defaultOpset = options.defaultOpset;
  // BatchNormalization is folded into the Conv before it, for float and
  // quantized artifacts (the quantized conv then has the folded weights, as
  // onnxruntime's quantization of a BN-fused model; no per-element
  // normalization is left after the integer conv). Not for pruning and the
  // ONNX export (--emit=onnx, --prepare-qat), which work on the model's own
  // weights and nodes: the exported QDQ model must compute what the
  // artifact computes.
  import.foldBatchNorm = options.prune.empty() && !options.prepareQat &&
                         options.emit != CompileOptions::Emit::ONNX;
  for (const std::string &s : options.pinShapes) {
    std::string err = parsePinnedShape(s, import);
    if (!err.empty()) {
      error = "--pin-shape " + s + ": " + err;
      return false;
    }
  }
  for (const std::string &s : options.pinDims) {
    std::string err = parsePinnedDim(s, import);
    if (!err.empty()) {
      error = "--pin-dim " + s + ": " + err;
      return false;
    }
  }
  for (const std::string &s : options.freezeInputs) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
      error = "--freeze-input " + s + ": expected NAME=FILE";
      return false;
    }
    std::string name = s.substr(0, eq), file = s.substr(eq + 1);
    qopt_tensor *t = nullptr;
    if (qopt_tensor_load(file.c_str(), &t) != QOPT_OK) {
      error = "--freeze-input " + name + ": " + qopt_last_error();
      return false;
    }
    FrozenInput value;
    value.dtype = qopt_tensor_dtype(t); // the runtime uses ONNX's codes
    value.dims.assign(qopt_tensor_dims(t),
                      qopt_tensor_dims(t) + qopt_tensor_rank(t));
    value.rawData.assign(static_cast<const char *>(qopt_tensor_const_data(t)),
                         qopt_tensor_byte_size(t));
    qopt_tensor_free(t);
    import.frozenInputs[name] = std::move(value);
  }
  return true;
}

OwningOpRef<ModuleOp> mlir::qopt::loadModel(MLIRContext &ctx, StringRef path,
                                            const CompileOptions &options,
                                            llvm::SourceMgr &sourceMgr,
                                            std::string &error) {
  StringRef ext = llvm::sys::path::extension(path);
  if (ext == ".mlir" || ext == ".mlirbc") {
    auto file = openInputFile(path, &error);
    if (!file)
      return nullptr;
    sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    return parseSourceFile<ModuleOp>(sourceMgr, &ctx);
  }
  ONNXImportOptions import;
  if (!importOptions(options, import, error))
    return nullptr;
  return importONNXFile(path, &ctx, import);
}

OwningOpRef<ModuleOp>
mlir::qopt::loadModelBytes(MLIRContext &ctx, StringRef bytes, StringRef name,
                           const CompileOptions &options, std::string &error) {
  ONNXImportOptions import;
  if (!importOptions(options, import, error))
    return nullptr;
  return importONNXBytes(bytes, name, &ctx, import);
}

//===----------------------------------------------------------------------===//
// Compiling
//===----------------------------------------------------------------------===//

/// libdevice.10.bc: the option, $QOPT_LIBDEVICE, then the CUDA toolkit's
/// usual places; empty when none exists.
static std::string findLibdevice(const std::string &given) {
  if (!given.empty())
    return given;
  std::vector<std::string> candidates;
  if (const char *env = std::getenv("QOPT_LIBDEVICE"))
    candidates.push_back(env);
  if (const char *cuda = std::getenv("CUDA_PATH"))
    candidates.push_back(std::string(cuda) + "/nvvm/libdevice/libdevice.10.bc");
  candidates.push_back("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc");
  candidates.push_back(
      "/usr/lib/nvidia-cuda-toolkit/libdevice/libdevice.10.bc");
  for (const std::string &c : candidates)
    if (llvm::sys::fs::exists(c))
      return c;
  return "";
}

/// Parses --prune into the pipeline's options; an error message or "".
static std::string parsePruneSpec(StringRef spec, const CompileOptions &opts,
                                  PrunePipelineOptions &o) {
  auto [head, tail] = spec.split(':');
  std::string usage = "--prune=" + spec.str() +
                      ": expected magnitude:S, wanda:S, N:M (2:4, 4:8), "
                      "channels:S, heads:S or neurons:S with S in [0, 1)";
  if (tail.empty())
    return usage;
  PruneMethod chosen = opts.pruneMethod.value_or(PruneMethod::Magnitude);
  int64_t n = 0, m = 0;
  if (!head.getAsInteger(10, n) && !tail.getAsInteger(10, m)) {
    if (!(n >= 1 && n < m))
      return "--prune=" + spec.str() + ": N:M needs 1 <= N < M";
    o.granularity = SparsityGranularity::NM;
    o.n = n;
    o.m = m;
    o.method = chosen;
    return "";
  }
  double s = 0;
  if (tail.getAsDouble(s) || !(s >= 0 && s < 1))
    return usage;
  o.sparsity = s;
  if (head == "channels" || head == "heads" || head == "neurons") {
    o.granularity = head == "channels" ? SparsityGranularity::Channels
                    : head == "heads"  ? SparsityGranularity::Heads
                                       : SparsityGranularity::Neurons;
    o.method = chosen;
    return "";
  }
  std::optional<PruneMethod> method = symbolizePruneMethod(head);
  if (!method)
    return usage;
  if (opts.pruneMethod)
    return "--prune-method is for --prune=N:M, channels:S, heads:S and "
           "neurons:S; --prune=" +
           spec.str() + " names its method";
  o.method = *method;
  o.granularity = SparsityGranularity::Unstructured;
  // Wanda compares weights within each output row (Sun et al., 2023).
  o.scope = *method == PruneMethod::Wanda ? PruneScope::Row : PruneScope::Layer;
  return "";
}

LogicalResult
mlir::qopt::compileModule(ModuleOp module, const CompileOptions &options,
                          StringRef modelPath, StringRef outputPath,
                          CompileResult &result, std::string &error) {
  MLIRContext &ctx = *module.getContext();
  auto fail = [&](const std::string &message) {
    error = message;
    return failure();
  };
  bool switched = options.adapterMode == CompileOptions::AdapterMode::Switch;
  bool reporting = options.report || !options.reportPath.empty();
  if (switched && options.adapters.empty())
    return fail("--adapter-mode=switch needs --adapter=DIR");
  if (switched && reporting)
    return fail("--report with --adapter-mode=switch is not supported (the "
                "report runs one model; merge the adapter to measure it)");
  if (!options.adapters.empty()) {
    // Adapters first: quantization and the report then see the merged
    // model (switch mode: the base layers are quantized, the adapters stay
    // in float).
    PassManager pm(&ctx);
    AttachAdaptersPassOptions attach;
    attach.adapters.assign(options.adapters.begin(), options.adapters.end());
    attach.switched = switched;
    pm.addPass(createAttachAdaptersPass(attach));
    if (!switched)
      pm.addPass(createFoldLoRAPass());
    if (failed(pm.run(module)))
      return failure();
  }

  // Check the CPU before the (longer) lowering.
  std::unique_ptr<llvm::TargetMachine> tm =
      createCPUTargetMachine(options.cpu, error);
  if (!tm)
    return failure();
  bool quantizing = options.quantize.has_value();
  QuantScheme scheme = options.quantize.value_or(QuantScheme::W8A8);
  bool pruning = !options.prune.empty();
  using Emit = CompileOptions::Emit;
  if (options.doubleQuant && (!quantizing || scheme != QuantScheme::NF4))
    return fail("--double-quant is for --quantize=nf4");
  if (options.accuracyTarget && (!quantizing || options.emit == Emit::ONNX))
    return fail("--accuracy-target needs --quantize (and an artifact, not "
                "--emit=onnx)");
  if (options.prepareQat && options.emit != Emit::ONNX)
    return fail("--prepare-qat writes an ONNX model: add --emit=onnx");
  // --prune: qopt-prune-pipeline (before any quantization).
  auto runPrune = [&]() -> LogicalResult {
    PrunePipelineOptions po;
    if (std::string err = parsePruneSpec(options.prune, options, po);
        !err.empty())
      return fail(err);
    if (options.pruneScope) {
      if (po.granularity != SparsityGranularity::Unstructured)
        return fail("--prune-scope is for --prune=magnitude:S or wanda:S");
      po.scope = *options.pruneScope;
    }
    if (options.shrinkStructured &&
        po.granularity != SparsityGranularity::Channels &&
        po.granularity != SparsityGranularity::Heads &&
        po.granularity != SparsityGranularity::Neurons)
      return fail("--shrink-structured is for --prune=channels:S, heads:S "
                  "or neurons:S");
    if (po.method == PruneMethod::Wanda && options.calibrationData.empty())
      return fail("--prune=" + options.prune +
                  " with wanda needs --calibration-data=DIR (qopt-prune "
                  "method=wanda scores weights by the input channels' L2 "
                  "norms over the samples)");
    po.calibrationData = options.calibrationData;
    po.include = options.pruneInclude;
    po.exclude = options.pruneExclude;
    po.shrink = options.shrinkStructured;
    PassManager pm(&ctx);
    buildPrunePipeline(pm, po);
    if (failed(pm.run(module)))
      return failure();
    return success();
  };
  // --prune without --quantize, --emit=onnx: the pruned (shrunk) weights go
  // back into the source model after pruning (exportPrunedModel, below).
  bool exportPruned = options.emit == Emit::ONNX && pruning && !quantizing &&
                      !options.prepareQat;
  if (exportPruned) {
    StringRef ext = llvm::sys::path::extension(modelPath);
    if (modelPath.empty() || ext == ".mlir" || ext == ".mlirbc")
      return fail("--emit=onnx rewrites the source ONNX model: give the "
                  "model as an ONNX file");
    if (!options.adapters.empty() || options.smoothquant)
      return fail("--emit=onnx with --prune exports the pruned weights "
                  "only: --adapter and --smoothquant are not exported");
    if (reporting)
      return fail("--emit=onnx with --prune writes no report");
  }
  if (options.emit == Emit::ONNX && !exportPruned) {
    // The quantization goes back into the source model (lib/Export/ONNX).
    StringRef ext = llvm::sys::path::extension(modelPath);
    if (modelPath.empty())
      return fail("--emit=onnx rewrites the source ONNX model: give the "
                  "model as a file");
    if (ext == ".mlir" || ext == ".mlirbc")
      return fail("--emit=onnx rewrites the source ONNX model; " +
                  modelPath.str() + " is MLIR");
    if (!quantizing || scheme != QuantScheme::W8A8)
      return fail("--emit=onnx exports --quantize=w8a8 (static int8 "
                  "activations, int8 weights per channel)");
    if (!options.adapters.empty() || options.smoothquant)
      return fail("--emit=onnx keeps the source model's weights: "
                  "--adapter and --smoothquant change them");
    if (pruning && options.prepareQat)
      return fail("--prepare-qat does not take --prune");
    if (hasQDQ(module))
      return fail("--emit=onnx: the model is already a QDQ model");
    if (options.calibrationData.empty() && !options.prepareQat)
      return fail("--quantize=w8a8 needs --calibration-data=DIR (static "
                  "activation ranges come from calibration)");
    // Pruned first: the pruned (shrunk) float weights go into a copy of
    // the source model, which the QDQ export then quantizes.
    std::string source = modelPath.str();
    llvm::SmallString<128> prunedPath;
    auto removeTemp = llvm::make_scope_exit([&] {
      if (!prunedPath.empty())
        llvm::sys::fs::remove(prunedPath);
    });
    if (pruning) {
      if (failed(runPrune()))
        return failure();
      int fd = -1;
      if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
              "qopt-pruned", "onnx", fd, prunedPath))
        return fail("--emit=onnx: cannot create a temporary file: " +
                    ec.message());
      {
        llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
        if (failed(exportPrunedModel(module, modelPath, os, error)))
          return fail("--emit=onnx: " + error);
      }
      source = prunedPath.str().str();
    }
    if (!options.calibrationData.empty()) {
      PTQPipelineOptions ptq;
      ptq.scheme = QuantScheme::W8A8;
      ptq.calibrationData = options.calibrationData;
      ptq.calibrationMethod = options.calibrationMethod;
      ptq.percentile = options.percentile;
      ptq.calibrationMarginDb = options.calibrationMarginDb;
      ptq.activationType = options.activationType;
      ptq.exclude = options.exclude;
      ptq.include = options.include;
      ptq.form = QuantizedLinearForm::QDQ;
      PassManager pm(&ctx);
      buildPTQPipeline(pm, ptq);
      if (failed(pm.run(module)))
        return failure();
    }
    ONNXExportOptions eo;
    eo.fakeQuantWeights = options.prepareQat;
    auto out = openOutputFile(outputPath, &error);
    if (!out)
      return failure();
    FailureOr<int64_t> layers =
        exportQDQModel(module, source, out->os(), eo, error);
    if (failed(layers))
      return fail("--emit=onnx: " + error);
    out->keep();
    result.message =
        "wrote " + outputPath.str() + ": " + std::to_string(*layers) +
        " layers quantized" +
        (options.prepareQat ? " (fake quant, for training)\n" : "\n");
    return success();
  }
  bool qdqModel = hasQDQ(module);
  if (reporting && !quantizing && !pruning && !(qdqModel && options.foldQdq))
    return fail("--report needs --quantize, --prune or a QDQ model to fold");
  if (options.ternaryMode && (!quantizing || scheme != QuantScheme::Ternary))
    return fail("--ternary-mode is for --quantize=ternary");
  if (options.int4Scale && (!quantizing || scheme != QuantScheme::W4))
    return fail("--int4-scale is for --quantize=w4");
  if (options.int4Scale &&
      options.weightSymmetry == WeightSymmetry::Asymmetric &&
      (*options.int4Scale == Int4ScaleMethod::SignedExtreme ||
       *options.int4Scale == Int4ScaleMethod::AbsMax))
    return fail("--int4-scale=signed-extreme|absmax are for symmetric int4; "
                "--weight-asymmetric takes mse or minmax");
  if (options.int8Depthwise && (!quantizing || scheme != QuantScheme::W8A8))
    return fail("--int8-depthwise is for --quantize=w8a8");
  if (options.w4Activations && (!quantizing || scheme != QuantScheme::W4))
    return fail("--w4-activations is for --quantize=w4");
  if (options.w4Activations == ActivationMode::DynamicBlock &&
      options.groupSize && *options.groupSize % 8 != 0)
    return fail("--w4-activations=int8 needs a --group-size that is a "
                "multiple of 8 (the int8 kernel's blocks of k), got " +
                std::to_string(*options.groupSize));
  if (options.int4Scale &&
      options.weightSymmetry == WeightSymmetry::Symmetric &&
      *options.int4Scale == Int4ScaleMethod::MinMax)
    return fail("--int4-scale=minmax is for --weight-asymmetric (uint4)");
  if (!pruning && (options.pruneMethod || options.pruneScope ||
                   !options.pruneInclude.empty() ||
                   !options.pruneExclude.empty() || options.shrinkStructured))
    return fail("--prune-method, --prune-scope, --prune-include, "
                "--prune-exclude and --shrink-structured need --prune");
  if (qdqModel && options.foldQdq) {
    // The model's own quantization first: its scales, no calibration.
    QDQFoldResult folded = foldQDQ(module);
    if (reporting && !quantizing && !pruning) {
      result.reportJson = "{\"qdq\": " + qdqFoldResultToJSON(folded) + "}";
      result.reportTable =
          "qdq: " + std::to_string(folded.folded.size()) + " layers folded, " +
          std::to_string(folded.staysFloat.size()) + " stay float\n";
      if (!options.reportPath.empty()) {
        auto out = openOutputFile(options.reportPath, &error);
        if (!out)
          return failure();
        out->os() << result.reportJson << "\n";
        out->keep();
      }
    }
  }
  // The report compares against the model as it was before pruning and
  // quantization.
  // (A QDQ model's report, without --quantize or --prune, is the fold's.)
  bool fullReport = reporting && (quantizing || pruning);
  std::optional<llvm::json::Value> accuracyTargetJson;
  OwningOpRef<ModuleOp> floatModule;
  if (fullReport) {
    tagLayers(module);
    floatModule = cast<ModuleOp>(module->clone());
  }
  if (pruning) {
    if (failed(runPrune()))
      return failure();
    if (exportPruned) {
      auto out = openOutputFile(outputPath, &error);
      if (!out)
        return failure();
      FailureOr<int64_t> layers =
          exportPrunedModel(module, modelPath, out->os(), error);
      if (failed(layers))
        return fail("--emit=onnx: " + error);
      out->keep();
      result.message = "wrote " + outputPath.str() + ": " +
                       std::to_string(*layers) + " layers' pruned weights\n";
      return success();
    }
  }
  if (quantizing) {
    if (scheme == QuantScheme::W8A8 && options.calibrationData.empty())
      return fail("--quantize=w8a8 needs --calibration-data=DIR (static "
                  "activation ranges come from calibration)");
    bool gptq = options.weightRounding != WeightRounding::Nearest;
    if ((gptq || options.biasCorrection) && options.calibrationData.empty())
      return fail(
          std::string(
              gptq ? "--weight-rounding=" +
                         stringifyWeightRounding(options.weightRounding).str()
                   : "--bias-correction") +
          " needs --calibration-data=DIR (each layer's input "
          "moments come from calibration)");
    if (gptq && (scheme == QuantScheme::NF4 || scheme == QuantScheme::Ternary ||
                 (scheme == QuantScheme::W4 &&
                  options.weightSymmetry == WeightSymmetry::Asymmetric)))
      return fail("--weight-rounding=" +
                  stringifyWeightRounding(options.weightRounding).str() +
                  " is for --quantize=w8a8, w8a8-dynamic, w8 and "
                  "symmetric w4");
    // The weight schemes chosen per layer by error
    // (docs/Quantization/AutoSchemes.md).
    if (options.weightGranularity != WeightGranularity::PerChannel &&
        (scheme == QuantScheme::W4 || scheme == QuantScheme::NF4 ||
         scheme == QuantScheme::Ternary))
      return fail(std::string("--weight-granularity=") +
                  (options.weightGranularity == WeightGranularity::PerTensor
                       ? "per-tensor"
                       : "auto") +
                  " is for int8 weights (--quantize=w8a8, w8a8-dynamic, "
                  "w8); 4-bit and ternary weights have their own scales");
    if (options.weightSymmetry == WeightSymmetry::Auto) {
      if (scheme != QuantScheme::W4)
        return fail("--weight-asymmetric=auto is for --quantize=w4 (int8 "
                    "weights are symmetric: the int8 kernels take no weight "
                    "zero point)");
      if (options.int4Scale && *options.int4Scale != Int4ScaleMethod::MSE)
        return fail("--weight-asymmetric=auto compares int4 and uint4 with "
                    "--int4-scale=mse (the rule both take)");
      if (gptq)
        return fail("--weight-asymmetric=auto compares round-to-nearest int4 "
                    "and uint4: GPTQ's 4-bit weights are symmetric (drop "
                    "--weight-rounding or --weight-asymmetric=auto)");
    }
    if ((options.weightGranularity == WeightGranularity::Auto ||
         options.weightSymmetry == WeightSymmetry::Auto) &&
        options.calibrationData.empty())
      return fail(
          std::string(options.weightGranularity == WeightGranularity::Auto
                          ? "--weight-granularity=auto"
                          : "--weight-asymmetric=auto") +
          " needs --calibration-data=DIR (each layer's output error "
          "is measured on its calibration inputs)");
    if (options.biasCorrection &&
        (scheme == QuantScheme::NF4 || scheme == QuantScheme::Ternary))
      return fail("--bias-correction is for --quantize=w8a8, w8a8-dynamic, "
                  "w8 and w4");
    if (options.smoothquant) {
      double alpha = *options.smoothquant;
      if (scheme != QuantScheme::W8A8 && scheme != QuantScheme::W8A8Dynamic)
        return fail("--smoothquant is for --quantize=w8a8 or w8a8-dynamic");
      if (options.calibrationData.empty())
        return fail("--smoothquant needs --calibration-data=DIR (the "
                    "activations' per-channel ranges)");
      if (!(alpha >= 0 && alpha <= 1))
        return fail("--smoothquant=" + std::to_string(alpha) +
                    ": alpha must be in [0, 1]");
    }
    // The qopt-ptq pipeline: observe, calibrate on the samples (JIT),
    // choose parameters, quantize.
    PTQPipelineOptions ptq;
    ptq.scheme = scheme;
    ptq.calibrationData = options.calibrationData;
    ptq.calibrationMethod = options.calibrationMethod;
    ptq.percentile = options.percentile;
    ptq.calibrationMarginDb = options.calibrationMarginDb;
    ptq.activationType = options.activationType;
    // QLoRA's NF4 blocks are 64 weights; int4's default is 128.
    ptq.groupSize = options.groupSize.value_or(
        scheme == QuantScheme::NF4 ? int64_t(64) : int64_t(128));
    ptq.weightSymmetric = options.weightSymmetry;
    ptq.weightGranularity = options.weightGranularity;
    ptq.int4Scale = options.int4Scale.value_or(Int4ScaleMethod::MSE);
    ptq.w4Activations = options.w4Activations.value_or(ActivationMode::None);
    ptq.int8Depthwise = options.int8Depthwise;
    ptq.doubleQuant = options.doubleQuant;
    ptq.smoothquantAlpha = options.smoothquant.value_or(-1.0);
    ptq.exclude = options.exclude;
    ptq.include = options.include;
    ptq.ternaryMode = options.ternaryMode.value_or(TernaryMode::Absmean);
    ptq.weightRounding = options.weightRounding;
    ptq.biasCorrection = options.biasCorrection;
    if (options.accuracyTarget) {
      if (scheme == QuantScheme::Ternary)
        return fail("--accuracy-target is for --quantize=w8a8, "
                    "w8a8-dynamic, w8, w4 or nf4");
      if (options.calibrationData.empty())
        return fail("--accuracy-target needs --calibration-data=DIR (the "
                    "output SQNR is measured on those samples)");
      // Calibrate with nothing quantized, then let the search quantize.
      OwningOpRef<ModuleOp> reference(cast<ModuleOp>(module->clone()));
      std::string userInclude = ptq.include;
      ptq.include = "^$";
      ptq.allowNoLayer = true;
      PassManager pm(&ctx);
      buildPTQPipeline(pm, ptq);
      if (failed(pm.run(module)))
        return failure();
      QuantizePassOptions qo;
      qo.scheme = ptq.scheme;
      qo.groupSize = ptq.groupSize;
      qo.weightSymmetric = ptq.weightSymmetric;
      qo.weightGranularity = ptq.weightGranularity;
      qo.doubleQuant = ptq.doubleQuant;
      qo.exclude = ptq.exclude;
      qo.include = userInclude;
      qo.form = ptq.form;
      qo.int4Scale = ptq.int4Scale;
      qo.w4Activations = ptq.w4Activations;
      qo.int8Depthwise = ptq.int8Depthwise;
      qo.weightRounding = ptq.weightRounding;
      qo.biasCorrection = ptq.biasCorrection;
      FailureOr<AccuracyTargetResult> target =
          meetAccuracyTarget(module, *reference, qo, *options.accuracyTarget,
                             options.calibrationData, options.cpu, error);
      if (failed(target))
        return failure();
      result.message += target->summary();
      accuracyTargetJson = target->toJSON();
    } else {
      // A scheme that quantizes nothing (no layer, all excluded, weights
      // computed at run time) is an error of qopt-quantize, which lists
      // the ops left float and why.
      PassManager pm(&ctx);
      buildPTQPipeline(pm, ptq);
      if (failed(pm.run(module)))
        return failure();
    }
    // Observers of layers left float (excluded, non-constant weights) are
    // calibration points only: drop them.
    module->walk([](ObserveOp op) {
      op.getResult().replaceAllUsesWith(op.getInput());
      op.erase();
    });
  }
  if (fullReport) {
    ReportOptions ro;
    ro.calibrationData = options.calibrationData;
    ro.evalData = options.evalData;
    ro.scheme = scheme;
    ro.quantized = quantizing;
    ro.prune = options.prune;
    ro.latencyRuns = options.reportLatencyRuns;
    ro.cpu = options.cpu;
    ro.accuracyTarget = accuracyTargetJson;
    std::string reportError;
    std::string table;
    FailureOr<std::string> json =
        buildReport(*floatModule, module, ro, table, reportError);
    if (failed(json))
      return fail("--report: " + reportError);
    result.reportTable += table;
    result.reportJson = *json;
    if (!options.reportPath.empty()) {
      auto out = openOutputFile(options.reportPath, &error);
      if (!out)
        return failure();
      out->os() << *json << "\n";
      out->keep();
    }
  }
  if (options.target == CompileOptions::Target::NVPTX) {
    PassManager pm(&ctx);
    NVPTXPipelineOptions nv;
    nv.chip = options.gpuArch;
    nv.artifact = true;
    nv.libdevice = findLibdevice(options.libdevice);
    nv.cubin = options.cubin;
    nv.precision = options.gpuPrecision;
    nv.toolkit = options.cudaToolkit;
    nv.writePtx = options.emitPtx;
    buildNVPTXPipeline(pm, nv);
    // The pipeline names the kernel module that calls libdevice math when
    // no libdevice.10.bc was found.
    if (failed(pm.run(module)))
      return failure();
  } else if (failed(lowerToLLVMDialect(module, options.cpu))) {
    return failure();
  }

  if (options.emit == Emit::MLIR) {
    auto out = openOutputFile(outputPath, &error);
    if (!out)
      return failure();
    module->print(out->os());
    out->keep();
    return success();
  }
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> llvmModule =
      translateAndOptimize(module, llvmCtx, *tm, options.cpu.optLevel, error);
  if (!llvmModule)
    return failure();
  if (options.emit == Emit::LLVM) {
    auto out = openOutputFile(outputPath, &error);
    if (!out)
      return failure();
    llvmModule->print(out->os(), nullptr);
    out->keep();
    return success();
  }
  if (options.emit == Emit::Obj)
    return writeObjectFile(*llvmModule, *tm, outputPath, error);

  llvm::SmallString<128> objPath;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("quant-compile", "o", objPath))
    return fail("cannot create a temporary object file: " + ec.message());
  llvm::FileRemover removeObj(objPath);
  if (failed(writeObjectFile(*llvmModule, *tm, objPath, error)) ||
      failed(linkSharedLibrary(objPath, outputPath, error)))
    return failure();
  return success();
}
