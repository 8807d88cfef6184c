//===- quant-compile.cpp - compile a model into a runnable artifact -------===//
//
//   quant-compile MODEL(.onnx|.onnxtext|.mlir) -o model.so [--target=cpu]
//       [--cpu=native|x86-64-v3|...] [--pin-shape NAME=DxD] [--pin-dim N=V]
//       [--threads N] [--emit=mlir|llvm|obj|so]
//       [--quantize=w8a8|w8a8-dynamic|w8|w4|nf4|ternary [--group-size=128]
//        [--int4-scale=mse|signed-extreme|absmax|minmax]
//        [--w4-activations=float|int8] [--int8-depthwise]
//        [--weight-asymmetric[=auto]]
//        [--weight-granularity=per-channel|per-tensor|auto]
//        [--ternary-mode=absmean|lossless]
//        --calibration-data=DIR --calibration-method=minmax|percentile|
//        entropy|mse [--percentile=99.99] [--exclude=REGEX]
//        [--report=report.json [--eval-data=DIR]]]
//       [--prune=magnitude:S|wanda:S|N:M|channels:S [--prune-method=M]
//        [--prune-scope=layer|row|global] [--prune-include=REGEX]
//        [--prune-exclude=REGEX] [--shrink-structured]]
//
// Imports the model (or parses graph-level MLIR), lowers it with the
// registered qopt-cpu-pipeline{artifact=true}, translates to LLVM IR,
// optimizes and emits code for the CPU, and links a shared library that
// the lean runtime (quant-run, libqopt_runtime) loads.
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/Compiler.h"
#include "qopt/Compiler/Driver.h"
#include "qopt/Compiler/Report.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/FoldQDQ.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Export/ONNX.h"
#include "qopt/Import/ONNX.h"
#include "qopt/InitAll.h"
#include "qopt/Pipelines/PTQPipeline.h"
#include "qopt/Pipelines/Pipelines.h"
#include "qopt/Pipelines/PrunePipeline.h"
#include "qopt/Runtime/qopt_runtime.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("quant-compile options");

/// cl's enum parser, with the accepted values in its error message.
template <typename T> struct ChoiceParser : cl::parser<T> {
  using cl::parser<T>::parser;
  bool parse(cl::Option &o, StringRef argName, StringRef arg, T &value) {
    std::string names;
    for (const auto &choice : this->Values) {
      if (choice.Name == arg) {
        value = choice.V.getValue();
        return false;
      }
      names += (names.empty() ? "" : ", ") + choice.Name.str();
    }
    return o.error("'" + arg + "' is not one of: " + names);
  }
};
template <typename T> using ChoiceOpt = cl::opt<T, false, ChoiceParser<T>>;
static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx|.onnxtext|.mlir>"),
                                      cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("Output file"),
                                       cl::value_desc("path"),
                                       cl::cat(category));
enum class Target { CPU, NVPTX };
static ChoiceOpt<Target>
    target("target", cl::desc("Target"), cl::init(Target::CPU),
           cl::values(clEnumValN(Target::CPU, "cpu", "the host's architecture"),
                      clEnumValN(Target::NVPTX, "nvptx",
                                 "NVIDIA GPUs: host code for this CPU plus PTX "
                                 "kernels")),
           cl::cat(category));
enum class GpuArch { SM80, SM86, SM89, SM90 };
static ChoiceOpt<GpuArch>
    gpuArch("gpu-arch", cl::desc("--target=nvptx: the GPU architecture"),
            cl::init(GpuArch::SM90),
            cl::values(clEnumValN(GpuArch::SM80, "sm_80", "A100"),
                       clEnumValN(GpuArch::SM86, "sm_86", "RTX 30xx, A10"),
                       clEnumValN(GpuArch::SM89, "sm_89", "L4, L40, RTX 40xx"),
                       clEnumValN(GpuArch::SM90, "sm_90", "H100, H200")),
            cl::cat(category));
static cl::opt<std::string> libdevice(
    "libdevice",
    cl::desc("--target=nvptx: libdevice.10.bc to link into the kernels "
             "(default: $QOPT_LIBDEVICE, else the CUDA toolkit's)"),
    cl::value_desc("path"), cl::cat(category));
static ChoiceOpt<qopt::CubinMode> cubin(
    "cubin",
    cl::desc("--target=nvptx: also embed a cubin for --gpu-arch (needs the "
             "CUDA toolkit's ptxas and fatbinary)"),
    cl::init(qopt::CubinMode::Auto),
    cl::values(clEnumValN(qopt::CubinMode::Auto, "auto", "when found"),
               clEnumValN(qopt::CubinMode::Always, "always",
                          "an error when not found"),
               clEnumValN(qopt::CubinMode::Never, "never",
                          "PTX only, JIT-compiled by the driver")),
    cl::cat(category));
static ChoiceOpt<qopt::GpuPrecision> gpuPrecision(
    "gpu-precision",
    cl::desc("--target=nvptx: how float32 matmuls multiply "
             "(docs/Codegen/NVPTX.md)"),
    cl::init(qopt::GpuPrecision::F32),
    cl::values(clEnumValN(qopt::GpuPrecision::F32, "f32",
                          "3xTF32 on the tensor cores: float32 accuracy"),
               clEnumValN(qopt::GpuPrecision::TF32, "tf32",
                          "one TF32 product: ~1e-3 relative, 3x faster"),
               clEnumValN(qopt::GpuPrecision::FMA, "fma",
                          "float32 FMAs on the CUDA cores (slow)")),
    cl::cat(category));
static cl::opt<std::string> cudaToolkit(
    "cuda-toolkit",
    cl::desc("--target=nvptx: CUDA toolkit root for ptxas and fatbinary "
             "(default: PATH, then /usr/local/cuda)"),
    cl::value_desc("dir"), cl::cat(category));
static cl::opt<std::string>
    emitPtx("emit-ptx",
            cl::desc("--target=nvptx: also write each kernel module's "
                     "PTX to DIR/<module>.ptx"),
            cl::value_desc("dir"), cl::cat(category));
static cl::opt<std::string>
    cpu("cpu",
        cl::desc("CPU to generate code for: native, or an LLVM CPU "
                 "name (x86-64-v3, skylake-avx512, znver4, ...)"),
        cl::init("native"), cl::cat(category));
static cl::opt<std::string>
    features("features", cl::desc("Extra LLVM target features, e.g. -avx512f"),
             cl::cat(category));
static cl::list<std::string>
    pinShapes("pin-shape",
              cl::desc("Static shape for a graph input: NAME=DxD (repeatable)"),
              cl::cat(category));
static cl::list<std::string> pinDims(
    "pin-dim",
    cl::desc("Value for a symbolic dim (dim_param): NAME=N (repeatable)"),
    cl::cat(category));
// `--threads` is taken out of argv before LLVM's parser sees it: a library
// linked into the tool registers a global option of that name.
static int threads = 0;
static const char *kThreadsHelp =
    "  --threads=<N>          - Default number of threads of the artifact (0: "
    "one per core;\n                           quant-run --threads and "
    "QOPT_NUM_THREADS override it)\n";

/// Removes `--threads N` / `--threads=N` from argv into `threads`; false on
/// a malformed value.
static bool extractThreads(int &argc, char **argv) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    llvm::StringRef value;
    if (arg == "--threads" || arg == "-threads") {
      if (i + 1 >= argc)
        return false;
      value = argv[++i];
    } else if (arg.consume_front("--threads=") ||
               arg.consume_front("-threads=")) {
      value = arg;
    } else {
      argv[out++] = argv[i];
      continue;
    }
    // The runtime runs at most 1024 threads (lib/Runtime/Threads.h).
    if (value.getAsInteger(10, threads) || threads < 0 || threads > 1024)
      return false;
  }
  argc = out;
  argv[argc] = nullptr;
  return true;
}
static cl::list<std::string> freezeInputs(
    "freeze-input",
    cl::desc("Import graph input NAME as a constant with the value in FILE "
             "(.npy or TensorProto .pb): NAME=FILE (repeatable)"),
    cl::cat(category));
static ChoiceOpt<qopt::QuantScheme> quantize(
    "quantize", cl::desc("Post-training quantization"),
    cl::values(clEnumValN(qopt::QuantScheme::W8A8, "w8a8",
                          "static int8 activations (needs --calibration-data)"),
               clEnumValN(qopt::QuantScheme::W8A8Dynamic, "w8a8-dynamic",
                          "per-token activation scales at run time"),
               clEnumValN(qopt::QuantScheme::W8, "w8", "weight-only int8"),
               clEnumValN(qopt::QuantScheme::W4, "w4",
                          "weight-only 4-bit (--group-size)"),
               clEnumValN(qopt::QuantScheme::NF4, "nf4",
                          "weight-only NF4 (QLoRA; --group-size, default "
                          "64)"),
               clEnumValN(qopt::QuantScheme::Ternary, "ternary",
                          "BitNet b1.58 BitLinear: ternary weights, 2 bits "
                          "each (--ternary-mode)")),
    cl::cat(category));
static ChoiceOpt<qopt::TernaryMode> ternaryMode(
    "ternary-mode", cl::desc("--quantize=ternary: how weights become ternary"),
    cl::init(qopt::TernaryMode::Absmean),
    cl::values(clEnumValN(qopt::TernaryMode::Absmean, "absmean",
                          "post-training absmean, int8 activations per token "
                          "(default)"),
               clEnumValN(qopt::TernaryMode::Lossless, "lossless",
                          "only layers whose weights are already {-g, 0, +g}, "
                          "float activations: the model is unchanged")),
    cl::cat(category));
static cl::opt<std::string>
    calibrationData("calibration-data",
                    cl::desc("Calibration samples: one folder per sample, one "
                             "<input name>.npy or .pb per model input"),
                    cl::value_desc("dir"), cl::cat(category));
static ChoiceOpt<qopt::CalibrationMethod> calibrationMethod(
    "calibration-method", cl::desc("Range selection"),
    cl::init(qopt::CalibrationMethod::MinMax),
    cl::values(clEnumValN(qopt::CalibrationMethod::MinMax, "minmax",
                          "running min/max (default)"),
               clEnumValN(qopt::CalibrationMethod::Percentile, "percentile",
                          "clip at --percentile"),
               clEnumValN(qopt::CalibrationMethod::Entropy, "entropy",
                          "TensorRT's KL-divergence search"),
               clEnumValN(qopt::CalibrationMethod::MSE, "mse",
                          "least quantization error")),
    cl::cat(category));
static cl::opt<double> calibrationPercentile(
    "percentile", cl::desc("Percentile for --calibration-method=percentile"),
    cl::init(99.99), cl::cat(category));
// PTQ accuracy (issue 25): the clipping methods' check against minmax and
// the accuracy target.
static cl::opt<double> calibrationMarginDb(
    "calibration-margin-db",
    cl::desc("percentile/entropy/mse keep a tensor's range only if it "
             "quantizes the calibration histogram at most this many dB worse "
             "than minmax (negative: never fall back)"),
    cl::init(3.0), cl::cat(category));
static cl::opt<double> accuracyTarget(
    "accuracy-target",
    cl::desc("Keep the layers whose quantization costs the output most in "
             "float until the output SQNR on the calibration samples reaches "
             "this many dB (per-layer sensitivity in the report)"),
    cl::value_desc("SQNR_DB"), cl::cat(category));
static ChoiceOpt<qopt::ActivationStorage>
    activationType("activation-type", cl::desc("Activation storage"),
                   cl::init(qopt::ActivationStorage::Int8),
                   cl::values(clEnumValN(qopt::ActivationStorage::Int8, "int8",
                                         "symmetric (default)"),
                              clEnumValN(qopt::ActivationStorage::UInt8,
                                         "uint8", "asymmetric"),
                              clEnumValN(qopt::ActivationStorage::Auto, "auto",
                                         "per layer input, symmetric int8 or "
                                         "asymmetric uint8, whichever "
                                         "quantizes its calibration "
                                         "histogram with the lower error")),
                   cl::cat(category));
static cl::opt<std::string> includeLayers(
    "include", cl::desc("Regex: only layers whose name matches are quantized"),
    cl::cat(category));
static cl::opt<int64_t>
    groupSize("group-size",
              cl::desc("--quantize=w4: weights per scale along K (32, 64, "
                       "128, ...)"),
              cl::init(128), cl::cat(category));
static cl::opt<bool> doubleQuant(
    "double-quant",
    cl::desc("--quantize=nf4: store the block scales as int8 too (QLoRA's "
             "double quantization: minus their mean, blocks of 256)"),
    cl::cat(category));
static ChoiceOpt<qopt::WeightSymmetry> weightAsymmetric(
    "weight-asymmetric", cl::ValueOptional,
    cl::desc("--quantize=w4: asymmetric uint4 weights with per-block zero "
             "points (default: symmetric int4); =auto: per layer, int4 or "
             "uint4, whichever has the lower output error on the layer's "
             "calibration inputs (needs --calibration-data)"),
    cl::init(qopt::WeightSymmetry::Symmetric),
    cl::values(clEnumValN(qopt::WeightSymmetry::Asymmetric, "", "uint4"),
               clEnumValN(qopt::WeightSymmetry::Asymmetric, "true", "uint4"),
               clEnumValN(qopt::WeightSymmetry::Symmetric, "false",
                          "int4 (default)"),
               clEnumValN(qopt::WeightSymmetry::Auto, "auto",
                          "per layer, by output error")),
    cl::cat(category));
static ChoiceOpt<qopt::WeightGranularity> weightGranularity(
    "weight-granularity",
    cl::desc("int8 weights (--quantize=w8a8|w8a8-dynamic|w8): scales per "
             "output channel or per tensor"),
    cl::init(qopt::WeightGranularity::PerChannel),
    cl::values(clEnumValN(qopt::WeightGranularity::PerChannel, "per-channel",
                          "max|w_row| / 127 per output channel (default)"),
               clEnumValN(qopt::WeightGranularity::PerTensor, "per-tensor",
                          "max|w| / 127 for the whole weight"),
               clEnumValN(qopt::WeightGranularity::Auto, "auto",
                          "per layer, whichever has the lower output error "
                          "on the layer's calibration inputs (needs "
                          "--calibration-data)")),
    cl::cat(category));
static ChoiceOpt<qopt::Int4ScaleMethod> int4Scale(
    "int4-scale",
    cl::desc("--quantize=w4: how each block's scale (and zero point) is "
             "chosen (docs/Quantization/Int4.md); mse by default"),
    cl::init(qopt::Int4ScaleMethod::MSE),
    cl::values(clEnumValN(qopt::Int4ScaleMethod::MSE, "mse",
                          "least squared error among onnxruntime's scale and "
                          "21 others: never worse than onnxruntime (default)"),
               clEnumValN(qopt::Int4ScaleMethod::SignedExtreme,
                          "signed-extreme",
                          "onnxruntime MatMulNBits: the signed extreme / -8 "
                          "(bit-exact)"),
               clEnumValN(qopt::Int4ScaleMethod::AbsMax, "absmax",
                          "max|w| / 7 (REFERENCE.md's symmetric formula)"),
               clEnumValN(qopt::Int4ScaleMethod::MinMax, "minmax",
                          "--weight-asymmetric: the block's full range "
                          "(REFERENCE.md's asymmetric formula, onnxruntime's "
                          "asymmetric MatMulNBits)")),
    cl::cat(category));
static ChoiceOpt<qopt::ActivationMode> w4Activations(
    "w4-activations",
    cl::desc("--quantize=w4: the 4-bit layers' activations "
             "(docs/Runtime/W4Int8.md); float by default"),
    cl::init(qopt::ActivationMode::None),
    cl::values(clEnumValN(qopt::ActivationMode::None, "float",
                          "weight-only: float activations, the weight "
                          "dequantized in registers (default)"),
               clEnumValN(qopt::ActivationMode::DynamicBlock, "int8",
                          "int8 per token and weight block at run time, "
                          "integer products (onnxruntime MatMulNBits "
                          "accuracy_level 4)")),
    cl::cat(category));
static cl::opt<double> smoothquant(
    "smoothquant",
    cl::desc("SmoothQuant migration before --quantize=w8a8|w8a8-dynamic: "
             "alpha in [0, 1] (0.5 in the paper; needs --calibration-data)"),
    cl::init(-1.0), cl::cat(category));
static ChoiceOpt<qopt::WeightRounding> weightRounding(
    "weight-rounding",
    cl::desc("How weights are rounded (--quantize=w8a8|w8a8-dynamic|w8|w4)"),
    cl::init(qopt::WeightRounding::Nearest),
    cl::values(clEnumValN(qopt::WeightRounding::Nearest, "nearest",
                          "round to nearest (default)"),
               clEnumValN(qopt::WeightRounding::GPTQ, "gptq",
                          "GPTQ with each layer's calibration inputs (needs "
                          "--calibration-data)"),
               clEnumValN(qopt::WeightRounding::Auto, "auto",
                          "per layer, nearest or GPTQ, whichever has the "
                          "lower output error on the layer's calibration "
                          "inputs (needs --calibration-data)")),
    cl::cat(category));
static cl::opt<bool> int8Depthwise(
    "int8-depthwise",
    cl::desc("--quantize=w8a8: depthwise convolutions in int8 too (input per "
             "tensor, filter per channel, exact i32 sums; "
             "docs/Quantization/Depthwise.md). Off by default: on the CPU "
             "the float depthwise kernel with its fused epilogue is faster "
             "today"),
    cl::init(false), cl::cat(category));
static cl::opt<bool> biasCorrection(
    "bias-correction",
    cl::desc("Add each quantized layer's mean output error (W - Wq)·E[x] "
             "over the calibration inputs to its bias (needs "
             "--calibration-data)"),
    cl::init(false), cl::cat(category));
static cl::list<std::string> adapters(
    "adapter",
    cl::desc("PEFT LoRA adapter folder (adapter_config.json + "
             "adapter_model.safetensors) merged into the model's weights "
             "before anything else, times SCALE (default 1); repeatable: "
             "several adapters add up"),
    cl::value_desc("DIR[:SCALE]"), cl::cat(category));
enum class AdapterMode { Merge, Switch };
static ChoiceOpt<AdapterMode> adapterMode(
    "adapter-mode", cl::desc("What --adapter does"),
    cl::init(AdapterMode::Merge),
    cl::values(clEnumValN(AdapterMode::Merge, "merge",
                          "merge the adapters into the weights (default)"),
               clEnumValN(AdapterMode::Switch, "switch",
                          "keep them apart: the artifact's int64 input "
                          "qopt_adapter chooses one per call (quant-run "
                          "--adapter NAME), none runs the base model")),
    cl::cat(category));
static cl::opt<bool> listLayers(
    "list-layers",
    cl::desc("Print the model's layers (the names --adapter modules, "
             "--include and --exclude match) and exit"),
    cl::cat(category));
static cl::opt<std::string>
    report("report",
           cl::desc("Write the accuracy report (per-layer SQNR, output SQNR, "
                    "cosine, max error, weight bytes, latency) as JSON here "
                    "and print it as a table"),
           cl::value_desc("file"), cl::cat(category));
static cl::opt<std::string>
    evalData("eval-data",
             cl::desc("Held-back samples for the report (same layout as "
                      "--calibration-data)"),
             cl::value_desc("dir"), cl::cat(category));
static cl::opt<int> reportLatencyRuns(
    "report-latency-runs",
    cl::desc("Timed runs of each model for the report's latency (0: none)"),
    cl::init(100), cl::cat(category));
static cl::opt<std::string> excludeLayers(
    "exclude", cl::desc("Regex: layers whose weight name matches stay float"),
    cl::cat(category));
static cl::opt<int64_t>
    defaultOpset("default-opset",
                 cl::desc("ai.onnx opset assumed when the model has none"),
                 cl::init(17), cl::cat(category));
static cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level"),
                                  cl::init(3), cl::Prefix, cl::cat(category));
static cl::opt<bool> parallelLoops(
    "parallel-loops",
    cl::desc("Split generated loops over threads as well (the matmul and "
             "convolution kernels always are)"),
    cl::cat(category));
static cl::opt<bool> noRuntimeChecks(
    "no-runtime-checks",
    cl::desc("Drop the run-time checks of dynamic shapes and integer "
             "division (docs/Security.md); a bad input is then undefined "
             "behaviour"),
    cl::cat(category));
// Profiling and memory planning (docs/Runtime/Profile.md, Memory.md).
static cl::opt<bool> profile(
    "profile",
    cl::desc("Time every runtime kernel call and generated loop nest when "
             "the artifact runs (quant-run --profile prints the table)"),
    cl::cat(category));
static cl::opt<bool> noMemoryPlan(
    "no-memory-plan",
    cl::desc("Allocate every intermediate with malloc on each call instead "
             "of the static memory plan's arena"),
    cl::cat(category));
static cl::opt<bool> noFusion("no-fusion", cl::desc("Skip element-wise fusion"),
                              cl::cat(category));
static cl::opt<bool>
    noKernels("no-kernels",
              cl::desc("Generate loops for matmuls and convolutions instead "
                       "of calling the runtime's kernels (a reference build)"),
              cl::cat(category));
// QDQ models (issue 18).
static cl::opt<bool> foldQdq(
    "fold-qdq",
    cl::desc("Fold the QDQ patterns of a QDQ model (DequantizeLinear in "
             "front of MatMul/Gemm/Conv) into integer layers with the "
             "model's scales (default; =false keeps them float)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> prepareQat(
    "prepare-qat",
    cl::desc("With --quantize=w8a8 --emit=onnx: write a quantization-aware "
             "training graph: QuantizeLinear -> DequantizeLinear (fake quant) "
             "on the float weights and activations at every point W8A8 "
             "quantizes, initial scales and zero points as named "
             "initializers (from --calibration-data; without it, weights' "
             "own ranges and activations over [-1, 1])"),
    cl::cat(category));
enum class Emit { MLIR, LLVM, Obj, So, ONNX };
static cl::opt<Emit>
    emit("emit", cl::desc("What to write"), cl::init(Emit::So),
         cl::values(clEnumValN(Emit::MLIR, "mlir",
                               "the module after qopt-cpu-pipeline "
                               "(LLVM dialect)"),
                    clEnumValN(Emit::LLVM, "llvm", "optimized LLVM IR"),
                    clEnumValN(Emit::Obj, "obj", "an object file"),
                    clEnumValN(Emit::So, "so",
                               "a shared-library artifact (default)"),
                    clEnumValN(Emit::ONNX, "onnx",
                               "the source ONNX model with the W8A8 "
                               "quantization as QuantizeLinear/"
                               "DequantizeLinear (a QDQ model; "
                               "--prepare-qat: a fake-quant training "
                               "graph)")),
         cl::cat(category));

// Pruning (docs/Pruning/Pruning.md): before quantization.
static cl::opt<std::string> pruneSpec(
    "prune",
    cl::desc("Prune before anything else is quantized: magnitude:S or "
             "wanda:S (unstructured, fraction S; wanda needs "
             "--calibration-data), N:M (e.g. 2:4, 4:8: N of every M kept "
             "along the reduction dimension), channels:S (fraction S of "
             "output channels, by L2 norm), heads:S (whole attention "
             "heads), neurons:S (whole MLP neurons: fc1/gate/up rows and "
             "fc2/down columns)"),
    cl::value_desc("spec"), cl::cat(category));
static ChoiceOpt<qopt::PruneMethod> pruneMethod(
    "prune-method",
    cl::desc("Score for --prune=N:M, channels:S, heads:S, neurons:S "
             "(magnitude:S and "
             "wanda:S name theirs)"),
    cl::init(qopt::PruneMethod::Magnitude),
    cl::values(clEnumValN(qopt::PruneMethod::Magnitude, "magnitude", "|W|"),
               clEnumValN(qopt::PruneMethod::Wanda, "wanda",
                          "|W| times the input channel's L2 norm")),
    cl::cat(category));
static ChoiceOpt<qopt::PruneScope> pruneScope(
    "prune-scope",
    cl::desc("Where an unstructured target is reached (default: layer for "
             "magnitude, row for wanda as in the paper)"),
    cl::values(clEnumValN(qopt::PruneScope::Layer, "layer", "each layer"),
               clEnumValN(qopt::PruneScope::Row, "row", "each output row"),
               clEnumValN(qopt::PruneScope::Global, "global",
                          "all pruned layers together")),
    cl::cat(category));
static cl::opt<std::string>
    pruneInclude("prune-include",
                 cl::desc("Regex: only layers whose name matches are pruned"),
                 cl::value_desc("regex"), cl::cat(category));
static cl::opt<std::string>
    pruneExclude("prune-exclude",
                 cl::desc("Regex: layers whose name matches are not pruned"),
                 cl::value_desc("regex"), cl::cat(category));
static cl::opt<bool> shrinkStructured(
    "shrink-structured",
    cl::desc("After --prune=channels:S, heads:S or neurons:S, remove the "
             "zeroed channels, heads or neurons (through element-wise ops, "
             "reshapes and attention); layers that "
             "cannot be shrunk stay dense, with a remark saying why"),
    cl::cat(category));

static int fail(const std::string &message) {
  llvm::errs() << "quant-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  if (!extractThreads(argc, argv))
    return fail("--threads expects a count from 0 to 1024 (0: one per core)");
  cl::HideUnrelatedOptions(category);
  cl::AddExtraVersionPrinter([](llvm::raw_ostream &) {});
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "quant-compile (quant-opt 0.1.0, LLVM 22)\n";
  });
  std::string overview = std::string("quant-opt model compiler\n\n") +
                         "Options not listed by LLVM's parser:\n" +
                         kThreadsHelp;
  cl::ParseCommandLineOptions(argc, argv, overview);
  if (optLevel > 3)
    return fail("-O" + std::to_string(optLevel) + ": levels are 0 to 3");

  // The flags fill the driver's options struct (qopt/Compiler/Driver.h),
  // the one the C API and Python fill too.
  qopt::CompileOptions options;
  options.target = target == Target::NVPTX ? qopt::CompileOptions::Target::NVPTX
                                           : qopt::CompileOptions::Target::CPU;
  options.gpuArch = gpuArch == GpuArch::SM80   ? "sm_80"
                    : gpuArch == GpuArch::SM86 ? "sm_86"
                    : gpuArch == GpuArch::SM89 ? "sm_89"
                                               : "sm_90";
  options.libdevice = libdevice;
  options.cubin = cubin;
  options.gpuPrecision = gpuPrecision;
  options.cudaToolkit = cudaToolkit;
  options.emitPtx = emitPtx;
  options.cpu.cpu = cpu;
  options.cpu.features = features;
  options.cpu.optLevel = optLevel;
  options.cpu.fuseElementwise = !noFusion;
  options.cpu.runtimeChecks = !noRuntimeChecks;
  options.cpu.kernelCalls = !noKernels;
  options.cpu.defaultThreads = threads;
  options.cpu.parallelLoops = parallelLoops;
  options.cpu.profile = profile;
  options.cpu.memoryPlan = !noMemoryPlan;
  options.pinShapes.assign(pinShapes.begin(), pinShapes.end());
  options.pinDims.assign(pinDims.begin(), pinDims.end());
  options.freezeInputs.assign(freezeInputs.begin(), freezeInputs.end());
  options.defaultOpset = defaultOpset;
  if (quantize.getNumOccurrences())
    options.quantize = quantize;
  options.calibrationData = calibrationData;
  options.calibrationMethod = calibrationMethod;
  options.percentile = calibrationPercentile;
  options.activationType = activationType;
  options.calibrationMarginDb = calibrationMarginDb;
  if (accuracyTarget.getNumOccurrences())
    options.accuracyTarget = accuracyTarget;
  options.include = includeLayers;
  options.exclude = excludeLayers;
  if (groupSize.getNumOccurrences())
    options.groupSize = groupSize;
  options.doubleQuant = doubleQuant;
  options.weightSymmetry = weightAsymmetric;
  options.weightGranularity = weightGranularity;
  if (int4Scale.getNumOccurrences())
    options.int4Scale = int4Scale;
  if (w4Activations.getNumOccurrences())
    options.w4Activations = w4Activations;
  if (smoothquant.getNumOccurrences())
    options.smoothquant = smoothquant;
  if (ternaryMode.getNumOccurrences())
    options.ternaryMode = ternaryMode;
  options.weightRounding = weightRounding;
  options.biasCorrection = biasCorrection;
  options.int8Depthwise = int8Depthwise;
  options.foldQdq = foldQdq;
  options.prepareQat = prepareQat;
  options.prune = pruneSpec;
  if (pruneMethod.getNumOccurrences())
    options.pruneMethod = pruneMethod;
  if (pruneScope.getNumOccurrences())
    options.pruneScope = pruneScope;
  options.pruneInclude = pruneInclude;
  options.pruneExclude = pruneExclude;
  options.shrinkStructured = shrinkStructured;
  options.adapters.assign(adapters.begin(), adapters.end());
  options.adapterMode = adapterMode == AdapterMode::Switch
                            ? qopt::CompileOptions::AdapterMode::Switch
                            : qopt::CompileOptions::AdapterMode::Merge;
  options.reportPath = report;
  options.evalData = evalData;
  options.reportLatencyRuns = reportLatencyRuns;
  options.emit = emit == Emit::MLIR   ? qopt::CompileOptions::Emit::MLIR
                 : emit == Emit::LLVM ? qopt::CompileOptions::Emit::LLVM
                 : emit == Emit::Obj  ? qopt::CompileOptions::Emit::Obj
                 : emit == Emit::ONNX ? qopt::CompileOptions::Emit::ONNX
                                      : qopt::CompileOptions::Emit::So;

  DialectRegistry registry;
  qopt::registerCompilerDialects(registry);
  // The NVPTX pipeline spells upstream passes out by name.
  qopt::registerAllPasses();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  // An error names the ONNX node, pass and option; a dump of the whole
  // model after it (MLIR's default for errors on an op) helps no user.
  ctx.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &ctx);

  std::string error;
  OwningOpRef<ModuleOp> module =
      qopt::loadModel(ctx, inputPath, options, sourceMgr, error);
  if (!module)
    return error.empty() ? 1 : fail(error);

  if (listLayers) {
    module->walk([](qopt::QuantizableLayerOpInterface layer) {
      llvm::outs() << layer.getLayerName() << "  " << layer->getName() << "  "
                   << layer.getLayerWeight().getType() << "\n";
    });
    return 0;
  }
  qopt::CompileResult result;
  LogicalResult compiled = qopt::compileModule(*module, options, inputPath,
                                               outputPath, result, error);
  llvm::outs() << result.reportTable << result.message;
  if (failed(compiled))
    return error.empty() ? 1 : fail(error);
  return 0;
}
