//===- Report.cpp - accuracy of a quantized model against its float one ---===//
//
// Both models are compiled in process (the same CPU pipeline as the
// artifact) with every quantizable layer's output added as an extra result,
// and run on the same samples: per layer, the SQNR of the quantized model's
// layer output against the float model's (errors of earlier layers
// included, as they are at inference); per model output, SQNR, cosine
// similarity and max |error|; weight bytes before and after; latency of
// both models (without the extra results).
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/Report.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Support/Ternary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::qopt;

namespace {

constexpr StringLiteral kProbePrefix = "__qopt_layer.";

/// The `qopt.layer` id helper of the dialect.
QOptDialect::LayerAttrHelper layerIds(MLIRContext *ctx) {
  return ctx->getOrLoadDialect<QOptDialect>()->getLayerAttrHelper();
}

int64_t tensorBytes(Type t) {
  auto ty = dyn_cast<RankedTensorType>(t);
  if (!ty || !ty.hasStaticShape())
    return 0;
  Type e = ty.getElementType();
  int64_t bits = e.isIntOrFloat() ? e.getIntOrFloatBitWidth() : 32;
  return ty.getNumElements() * std::max<int64_t>(bits, 8) / 8;
}

/// Bytes of the constants a weight operand is made of: through the
/// dequantize / storage-cast of the QDQ form (per-axis scales counted as
/// f32 each).
int64_t weightBytes(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return 0;
  if (isa<arith::ConstantOp>(def))
    return tensorBytes(v.getType());
  if (isa<DequantizeOp, quant::StorageCastOp>(def)) {
    int64_t extra = 0;
    if (auto ty = dyn_cast<RankedTensorType>(def->getOperand(0).getType()))
      if (auto axis =
              dyn_cast<quant::UniformQuantizedPerAxisType>(ty.getElementType()))
        extra = int64_t(axis.getScales().size()) * 4;
    return weightBytes(def->getOperand(0)) + extra;
  }
  return 0;
}

/// Weight bytes of a layer: its weight and, for qlinear, scales and zero
/// points (the bias is the same in both models and left out).
int64_t layerWeightBytes(Operation *op) {
  if (auto q = dyn_cast<QLinearOp>(op)) {
    int64_t n = weightBytes(q.getWeight()) + weightBytes(q.getWeightScale());
    if (Value zp = q.getWeightZeroPoint())
      n += weightBytes(zp);
    if (Value ss = q.getScaleScale())
      n += weightBytes(ss) + 8; // and the f64 offset
    return n;
  }
  if (auto l = dyn_cast<LinearOp>(op))
    return weightBytes(l.getWeight());
  if (auto g = dyn_cast<linalg::GenericOp>(op)) {
    // An integer convolution's epilogue: filter, correction, scales.
    auto conv = g->getOperand(0).getDefiningOp<linalg::Conv2DNchwFchwOp>();
    if (!conv)
      return 0;
    return weightBytes(conv->getOperand(1)) + weightBytes(g->getOperand(2)) +
           weightBytes(g->getOperand(3));
  }
  return weightBytes(op->getOperand(1));
}

/// Logical weight elements of a layer (a packed or quantized weight counts
/// its unpacked [N, K]), and how many of them are zero.
struct Parameters {
  int64_t count = 0, zeros = 0;
};

/// The sparsity pattern of a layer; an integer convolution's epilogue
/// answers for its convolution, which carries it.
SparsityAttr sparsityOf(Operation *op) {
  if (!op)
    return {};
  if (auto s = op->getAttrOfType<SparsityAttr>(SparsityAttr::getAttrName()))
    return s;
  if (auto g = dyn_cast<linalg::GenericOp>(op))
    if (Operation *conv = g->getOperand(0).getDefiningOp())
      if (isa<linalg::Conv2DNchwFchwOp>(conv))
        return conv->getAttrOfType<SparsityAttr>(SparsityAttr::getAttrName());
  return {};
}

Parameters layerParameters(Operation *op) {
  Parameters p;
  if (auto q = dyn_cast<QLinearOp>(op)) {
    auto in = q.getInput().getType(), out = q.getResult().getType();
    if (in.hasStaticShape() || (!in.isDynamicDim(in.getRank() - 1) &&
                                !out.isDynamicDim(out.getRank() - 1)))
      p.count = in.getShape().back() * out.getShape().back();
  } else if (auto layer = dyn_cast<QuantizableLayerOpInterface>(op)) {
    if (auto ty = dyn_cast<RankedTensorType>(layer.getLayerWeight().getType());
        ty && ty.hasStaticShape())
      p.count = ty.getNumElements();
  } else if (auto g = dyn_cast<linalg::GenericOp>(op)) {
    // An integer convolution's epilogue: its filter's elements.
    if (auto conv = g->getOperand(0).getDefiningOp<linalg::Conv2DNchwFchwOp>())
      if (auto ty = dyn_cast<RankedTensorType>(conv->getOperand(1).getType());
          ty && ty.hasStaticShape())
        p.count = ty.getNumElements();
  }
  SparsityAttr s = sparsityOf(op);
  if (s)
    p.zeros = int64_t(std::llround(s.getAchievedValue() * double(p.count)));
  return p;
}

std::string sparsityText(Operation *op) {
  SparsityAttr s = sparsityOf(op);
  if (!s)
    return "dense";
  std::string out;
  llvm::raw_string_ostream os(out);
  os << stringifyPruneMethod(s.getMethod()) << " ";
  if (s.getGranularity() == SparsityGranularity::NM)
    os << s.getN() << ":" << s.getM();
  else
    os << stringifySparsityGranularity(s.getGranularity());
  os << llvm::format(" %.1f%%", 100 * s.getAchievedValue());
  return out;
}

std::string layerForm(Operation *op) {
  if (auto t = dyn_cast<BitLinearOp>(op))
    return t.getActivation() == BitLinearActivation::None
               ? "ternary, float activations"
               : "ternary, activations int8 per token";
  if (auto q = dyn_cast<QLinearOp>(op)) {
    std::string act =
        q.getActivation() == ActivationMode::None ? "weight-only"
        : q.getActivation() == ActivationMode::DynamicBlock
            ? "activations int8 per token and block"
            : ("activations " + stringifyActivationMode(q.getActivation()))
                  .str();
    std::string group =
        q.getGroupSize() ? " g" + std::to_string(q.getGroupSize()) : "";
    return stringifyWeightFormat(q.getWeightFormat()).str() + group + ", " +
           act;
  }
  if (isa<linalg::GenericOp>(op))
    return "int8, activations static";
  Value w = op->getOperand(1);
  if (w.getDefiningOp<DequantizeOp>()) {
    Value x = op->getOperand(0);
    return x.getDefiningOp<DequantizeOp>() ? "int8, activations static (QDQ)"
                                           : "int8, weight-only (QDQ)";
  }
  return "float";
}

/// A BitLinear layer's ternary statistics (docs/Quantization/Ternary.md):
/// gamma, the share of zero weights and the SQNR of gamma * t against the
/// float layer's weight, when both are constants.
llvm::json::Object ternaryJson(Operation *floatOp, BitLinearOp t) {
  llvm::json::Object out{{"gamma", t.getWeightScale().convertToDouble()}};
  auto packedTy = cast<RankedTensorType>(t.getWeight().getType());
  auto c = t.getWeight().getDefiningOp<arith::ConstantOp>();
  auto r = c ? dyn_cast<DenseResourceElementsAttr>(c.getValue()) : nullptr;
  AsmResourceBlob *blob = r ? r.getRawHandle().getBlob() : nullptr;
  if (!blob || !packedTy.hasStaticShape())
    return out;
  ArrayRef<char> bytes = blob->getData();
  int64_t n = packedTy.getDimSize(0), k = packedTy.getDimSize(1) * 4;
  if (int64_t(bytes.size()) != n * k / 4)
    return out;
  ::qopt::TernaryWeight tw;
  tw.gamma = float(t.getWeightScale().convertToDouble());
  tw.values.resize(size_t(n * k));
  ::qopt::unpackTernary(reinterpret_cast<const uint8_t *>(bytes.data()), n, k,
                        tw.values.data());
  out["zero_share"] = ::qopt::ternaryStats(tw).zeroShare;
  // The float weight, if it is an f32 constant.
  auto linear = dyn_cast<LinearOp>(floatOp);
  auto wc =
      linear ? linear.getWeight().getDefiningOp<arith::ConstantOp>() : nullptr;
  std::optional<std::vector<float>> w;
  if (wc) {
    if (auto d = dyn_cast<DenseFPElementsAttr>(wc.getValue());
        d && d.getElementType().isF32()) {
      auto values = d.getValues<float>();
      w = std::vector<float>(values.begin(), values.end());
    } else if (auto fr = dyn_cast<DenseF32ResourceElementsAttr>(wc.getValue()))
      if (auto arr = fr.tryGetAsArrayRef())
        w = std::vector<float>(arr->begin(), arr->end());
  }
  if (w && int64_t(w->size()) == n * k) {
    double sqnr = ::qopt::ternarySQNR(w->data(), tw);
    out["weight_sqnr_db"] =
        std::isinf(sqnr) ? llvm::json::Value(nullptr) : llvm::json::Value(sqnr);
    out["lossless"] = std::isinf(sqnr);
  }
  return out;
}

/// The layer ops of the entry function by id.
std::map<int64_t, Operation *> layersById(ModuleOp module) {
  std::map<int64_t, Operation *> out;
  QOptDialect::LayerAttrHelper ids = layerIds(module.getContext());
  module.walk([&](Operation *op) {
    if (IntegerAttr id = ids.getAttr(op))
      out[id.getInt()] = op;
  });
  return out;
}

/// A copy of `module` with a capturing observer (id = the layer id) on
/// every tagged layer's output.
OwningOpRef<ModuleOp> withProbes(ModuleOp module) {
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  // Observers left in the module would collide with the probes' ids.
  copy->walk([](ObserveOp op) {
    op.getResult().replaceAllUsesWith(op.getInput());
    op.erase();
  });
  QOptDialect::LayerAttrHelper ids = layerIds(module.getContext());
  copy->walk([&](Operation *op) {
    IntegerAttr id = ids.getAttr(op);
    if (!id || op->getNumResults() != 1 ||
        !isa<RankedTensorType>(op->getResult(0).getType()))
      return;
    OpBuilder b(op->getContext());
    b.setInsertionPointAfter(op);
    ObserveOp::create(b, op->getLoc(), op->getResult(0), id.getInt(),
                      ObserverKind::MinMax);
  });
  return copy;
}

/// A model compiled in process, with the runtime's handle over it.
struct Compiled {
  std::unique_ptr<JITArtifact> jit;
  std::unique_ptr<qopt_model, void (*)(qopt_model *)> model{nullptr,
                                                            qopt_model_free};
};

FailureOr<Compiled> compile(ModuleOp module, CPUCompileOptions cpu,
                            bool instrument, std::string &error) {
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  cpu.instrument = instrument;
  if (failed(lowerToLLVMDialect(*copy, cpu))) {
    error = "the report cannot lower the model";
    return failure();
  }
  Compiled c;
  c.jit = JITArtifact::create(*copy, cpu, error);
  if (!c.jit)
    return failure();
  qopt_model *raw = nullptr;
  if (qopt_model_create(c.jit->signature(), c.jit->entry(), &raw) != QOPT_OK) {
    error = qopt_last_error();
    return failure();
  }
  c.model.reset(raw);
  return c;
}

/// Sums of one compared tensor over samples.
struct Comparison {
  double signal = 0, noise = 0, dot = 0, refNorm = 0, gotNorm = 0;
  double maxAbs = 0;
  int64_t count = 0;

  void add(const float *ref, const float *got, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      double r = ref[i], g = got[i], d = g - r;
      signal += r * r;
      noise += d * d;
      dot += r * g;
      refNorm += r * r;
      gotNorm += g * g;
      maxAbs = std::max(maxAbs, std::fabs(d));
    }
    count += n;
  }
  /// SQNR in dB; nullopt when the outputs are identical.
  std::optional<double> sqnr() const {
    if (noise == 0)
      return std::nullopt;
    return 10 * std::log10(signal / noise);
  }
  double cosine() const {
    return refNorm > 0 && gotNorm > 0 ? dot / std::sqrt(refNorm * gotNorm)
                                      : 1.0;
  }
};

/// Runs both models over the samples of `dir`; results keyed by output
/// name.
LogicalResult compareOn(Compiled &ref, Compiled &got,
                        const std::vector<int64_t> &layerIds,
                        const std::string &dir, const std::string &kind,
                        std::map<std::string, Comparison> &out,
                        int64_t &samples, std::string &error) {
  FailureOr<std::vector<std::string>> found = listSamples(dir, error);
  if (failed(found))
    return failure();
  samples = int64_t(found->size());
  int numOut = qopt_model_num_outputs(ref.model.get());
  if (numOut != qopt_model_num_outputs(got.model.get())) {
    error = "the float and quantized models have different outputs";
    return failure();
  }
  for (const std::string &sample : *found) {
    std::vector<TensorPtr> inputs;
    if (failed(loadSample(ref.model.get(), sample, inputs, error, kind)))
      return failure();
    std::vector<const qopt_tensor *> args;
    for (TensorPtr &t : inputs)
      args.push_back(t.get());
    std::vector<qopt_tensor *> a(numOut, nullptr), b(numOut, nullptr);
    // The float model's layer outputs, captured by its probes.
    qopt_capture_begin();
    qopt_status st = qopt_model_run(ref.model.get(), args.data(),
                                    int(args.size()), a.data(), numOut);
    std::map<int64_t, std::vector<float>> floatLayers;
    for (int64_t id : layerIds) {
      int64_t n = 0;
      const float *v = qopt_capture_values(id, &n);
      if (v)
        floatLayers[id].assign(v, v + n);
    }
    qopt_capture_begin();
    if (st == QOPT_OK)
      st = qopt_model_run(got.model.get(), args.data(), int(args.size()),
                          b.data(), numOut);
    if (st == QOPT_OK)
      for (auto &[id, ref] : floatLayers) {
        int64_t n = 0;
        const float *v = qopt_capture_values(id, &n);
        if (v && n == int64_t(ref.size()))
          out[kProbePrefix.str() + std::to_string(id)].add(ref.data(), v, n);
      }
    qopt_capture_end();
    if (st != QOPT_OK) {
      error = kind + " '" + sample + "': " + qopt_last_error();
      for (qopt_tensor *t : a)
        qopt_tensor_free(t);
      for (qopt_tensor *t : b)
        qopt_tensor_free(t);
      return failure();
    }
    for (int i = 0; i < numOut; ++i) {
      TensorPtr ta(a[i]), tb(b[i]);
      if (!ta || !tb)
        continue;
      if (qopt_tensor_dtype(ta.get()) != QOPT_DTYPE_F32 ||
          qopt_tensor_num_elements(ta.get()) !=
              qopt_tensor_num_elements(tb.get()))
        continue;
      out[qopt_model_output(ref.model.get(), i)->name].add(
          static_cast<const float *>(qopt_tensor_const_data(ta.get())),
          static_cast<const float *>(qopt_tensor_const_data(tb.get())),
          qopt_tensor_num_elements(ta.get()));
    }
  }
  return success();
}

/// Median wall time of `runs` runs of `c` on the first sample of `dir`.
FailureOr<double> latencyMs(Compiled &c, const std::string &dir, int runs,
                            std::string &error) {
  FailureOr<std::vector<std::string>> found = listSamples(dir, error);
  if (failed(found))
    return failure();
  std::vector<TensorPtr> inputs;
  if (failed(
          loadSample(c.model.get(), found->front(), inputs, error, "sample")))
    return failure();
  std::vector<const qopt_tensor *> args;
  for (TensorPtr &t : inputs)
    args.push_back(t.get());
  int numOut = qopt_model_num_outputs(c.model.get());
  std::vector<double> times;
  for (int r = 0; r < runs + 5; ++r) {
    std::vector<qopt_tensor *> outs(numOut, nullptr);
    auto t0 = std::chrono::steady_clock::now();
    qopt_status st = qopt_model_run(c.model.get(), args.data(),
                                    int(args.size()), outs.data(), numOut);
    auto t1 = std::chrono::steady_clock::now();
    for (qopt_tensor *t : outs)
      qopt_tensor_free(t);
    if (st != QOPT_OK) {
      error = qopt_last_error();
      return failure();
    }
    if (r >= 5)
      times.push_back(
          std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

llvm::json::Value sqnrJson(const Comparison &c) {
  if (auto s = c.sqnr())
    return *s;
  return nullptr;
}

std::string sqnrText(const Comparison *c) {
  if (!c)
    return "-";
  if (auto s = c->sqnr()) {
    std::string out;
    llvm::raw_string_ostream os(out);
    os << llvm::format("%.1f", *s);
    return out;
  }
  return "exact";
}

int64_t constantBytes(ModuleOp module) {
  int64_t n = 0;
  module.walk([&](arith::ConstantOp c) { n += tensorBytes(c.getType()); });
  return n;
}

} // namespace

namespace mlir::qopt {

struct OutputComparator::Impl {
  Compiled ref;
  std::string samples;
  CPUCompileOptions cpu;
};

OutputComparator::OutputComparator() : impl(std::make_unique<Impl>()) {}
OutputComparator::~OutputComparator() = default;

/// A copy of `module` without observers (calibration points only here).
static OwningOpRef<ModuleOp> withoutObservers(ModuleOp module) {
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  copy->walk([](ObserveOp op) {
    op.getResult().replaceAllUsesWith(op.getInput());
    op.erase();
  });
  return copy;
}

std::unique_ptr<OutputComparator>
OutputComparator::create(ModuleOp floatModule, const std::string &samples,
                         const CPUCompileOptions &cpu, std::string &error) {
  std::unique_ptr<OutputComparator> c(new OutputComparator());
  OwningOpRef<ModuleOp> plain = withoutObservers(floatModule);
  FailureOr<Compiled> ref = compile(*plain, cpu, false, error);
  if (failed(ref))
    return nullptr;
  c->impl->ref = std::move(*ref);
  c->impl->samples = samples;
  c->impl->cpu = cpu;
  return c;
}

FailureOr<double> OutputComparator::sqnr(ModuleOp variant, std::string &error) {
  OwningOpRef<ModuleOp> plain = withoutObservers(variant);
  FailureOr<Compiled> got = compile(*plain, impl->cpu, false, error);
  if (failed(got))
    return failure();
  std::map<std::string, Comparison> results;
  int64_t samples = 0;
  if (failed(compareOn(impl->ref, *got, {}, impl->samples, "calibration sample",
                       results, samples, error)))
    return failure();
  double worst = std::numeric_limits<double>::infinity();
  for (auto &[name, c] : results)
    if (std::optional<double> s = c.sqnr())
      worst = std::min(worst, *s);
  return worst;
}

} // namespace mlir::qopt

void mlir::qopt::tagLayers(ModuleOp module) {
  int64_t id = 0;
  Builder b(module.getContext());
  QOptDialect::LayerAttrHelper ids = layerIds(module.getContext());
  module.walk([&](QuantizableLayerOpInterface layer) {
    ids.setAttr(layer, b.getI64IntegerAttr(id++));
  });
}

FailureOr<std::string> mlir::qopt::buildReport(ModuleOp floatModule,
                                               ModuleOp quantModule,
                                               const ReportOptions &options,
                                               std::string &table,
                                               std::string &error) {
  if (options.calibrationData.empty() && options.evalData.empty()) {
    error = "the report needs samples: --calibration-data or --eval-data";
    return failure();
  }
  OwningOpRef<ModuleOp> floatProbed = withProbes(floatModule);
  OwningOpRef<ModuleOp> quantProbed = withProbes(quantModule);
  FailureOr<Compiled> ref = compile(*floatProbed, options.cpu, true, error);
  if (failed(ref))
    return failure();
  FailureOr<Compiled> got = compile(*quantProbed, options.cpu, true, error);
  if (failed(got))
    return failure();

  struct Set {
    std::string key, dir;
    std::map<std::string, Comparison> results;
    int64_t samples = 0;
  };
  std::vector<Set> sets;
  if (!options.calibrationData.empty())
    sets.push_back({"calibration", options.calibrationData, {}, 0});
  if (!options.evalData.empty())
    sets.push_back({"eval", options.evalData, {}, 0});
  std::map<int64_t, Operation *> floatLayers = layersById(floatModule);
  std::map<int64_t, Operation *> quantLayers = layersById(quantModule);
  std::vector<int64_t> layerIds;
  for (auto &entry : floatLayers)
    layerIds.push_back(entry.first);
  for (Set &s : sets)
    if (failed(compareOn(*ref, *got, layerIds, s.dir,
                         s.key == "eval" ? "eval sample" : "calibration sample",
                         s.results, s.samples, error)))
      return failure();

  llvm::json::Array layers;
  std::string t;
  llvm::raw_string_ostream os(t);
  os << llvm::format("%-36s %-32s %10s %10s %12s %12s\n", "layer",
                     "quantized as", "SQNR cal", "SQNR eval", "bytes float",
                     "bytes quant");
  int64_t floatWeights = 0, quantWeights = 0;
  int64_t paramsBefore = 0, paramsAfter = 0, nonzeroBefore = 0,
          nonzeroAfter = 0;
  std::string pruneTable;
  llvm::raw_string_ostream ps(pruneTable);
  if (!options.prune.empty())
    ps << llvm::format("\n%-36s %-28s %12s %12s %12s\n", "layer", "sparsity",
                       "params", "params after", "nonzero after");
  for (auto [id, fop] : floatLayers) {
    Operation *qop = quantLayers.count(id) ? quantLayers[id] : nullptr;
    auto layer = dyn_cast<QuantizableLayerOpInterface>(fop);
    std::string name = layer ? layer.getLayerName() : "";
    if (name.empty())
      name = "layer " + std::to_string(id);
    int64_t fb = layerWeightBytes(fop), qb = qop ? layerWeightBytes(qop) : fb;
    floatWeights += fb;
    quantWeights += qb;
    std::string probe = kProbePrefix.str() + std::to_string(id);
    llvm::json::Object entry{{"name", name},
                             {"op", fop->getName().getStringRef()},
                             {"quantized_as", qop ? layerForm(qop) : "float"},
                             {"weight_bytes_float", fb},
                             {"weight_bytes_quantized", qb}};
    const Comparison *cal = nullptr, *eval = nullptr;
    for (Set &s : sets) {
      auto it = s.results.find(probe);
      if (it == s.results.end())
        continue;
      entry["sqnr_db_" + s.key] = sqnrJson(it->second);
      (s.key == "eval" ? eval : cal) = &it->second;
    }
    if (auto t = dyn_cast_or_null<BitLinearOp>(qop))
      entry["ternary"] = ternaryJson(fop, t);
    // GPTQ / bias correction: the weight's output SQNR on the calibration
    // inputs, round-to-nearest's and the rounding used.
    if (auto r = qop ? qop->getAttrOfType<RoundingErrorAttr>(
                           RoundingErrorAttr::getAttrName())
                     : RoundingErrorAttr())
      entry["weight_rounding"] = llvm::json::Object{
          {"method", stringifyWeightRounding(r.getMethod())},
          {"nearest_sqnr_db", r.getNearestSqnrDb().convertToDouble()},
          {"sqnr_db", r.getSqnrDb().convertToDouble()},
          {"bias_corrected", r.getBiasCorrected()}};
    // The weight scheme chosen by error (--weight-granularity=auto,
    // --weight-asymmetric=auto): the kept one and the alternative's output
    // SQNR on the calibration inputs.
    WeightSchemeAttr chosenScheme = qop ? qop->getAttrOfType<WeightSchemeAttr>(
                                              WeightSchemeAttr::getAttrName())
                                        : WeightSchemeAttr();
    if (chosenScheme)
      entry["weight_scheme"] = llvm::json::Object{
          {"granularity",
           stringifyWeightGranularity(chosenScheme.getGranularity())},
          {"symmetry", stringifyWeightSymmetry(chosenScheme.getSymmetry())},
          {"sqnr_db", chosenScheme.getSqnrDb().convertToDouble()},
          {"alternative_sqnr_db",
           chosenScheme.getAlternativeSqnrDb().convertToDouble()}};
    // The storage of a static layer input (--activation-type=auto chooses
    // it per layer).
    if (auto ql = dyn_cast_or_null<QLinearOp>(qop); ql && ql.getInputStorage())
      entry["activation_storage"] =
          stringifyActivationStorage(*ql.getInputStorage());
    if (auto why = qop ? qop->getAttrOfType<NotQuantizedReasonAttr>(
                             NotQuantizedReasonAttr::getAttrName())
                       : NotQuantizedReasonAttr())
      entry["not_quantized"] = stringifyNotQuantizedReason(why.getValue());
    if (!options.prune.empty()) {
      Parameters before = layerParameters(fop);
      Parameters after = qop ? layerParameters(qop) : before;
      paramsBefore += before.count;
      paramsAfter += after.count;
      nonzeroBefore += before.count - before.zeros;
      nonzeroAfter += after.count - after.zeros;
      llvm::json::Object params{{"before", before.count},
                                {"after", after.count},
                                {"nonzero_after", after.count - after.zeros}};
      entry["parameters"] = std::move(params);
      if (SparsityAttr sp = sparsityOf(qop)) {
        llvm::json::Object o{
            {"method", stringifyPruneMethod(sp.getMethod())},
            {"granularity", stringifySparsityGranularity(sp.getGranularity())},
            {"target", sp.getTargetValue()},
            {"achieved", sp.getAchievedValue()}};
        if (sp.getGranularity() == SparsityGranularity::NM) {
          o["n"] = sp.getN();
          o["m"] = sp.getM();
        }
        entry["sparsity"] = std::move(o);
      } else {
        entry["sparsity"] = nullptr;
      }
      ps << llvm::format("%-36s %-28s %12lld %12lld %12lld\n",
                         name.substr(0, 36).c_str(), sparsityText(qop).c_str(),
                         (long long)before.count, (long long)after.count,
                         (long long)(after.count - after.zeros));
    }
    layers.push_back(std::move(entry));
    std::string form = qop ? layerForm(qop) : std::string("float");
    if (chosenScheme)
      form +=
          (" [" + stringifyWeightGranularity(chosenScheme.getGranularity()) +
           " " + stringifyWeightSymmetry(chosenScheme.getSymmetry()) + "]")
              .str();
    os << llvm::format("%-36s %-32s %10s %10s %12lld %12lld\n",
                       name.substr(0, 36).c_str(), form.c_str(),
                       sqnrText(cal).c_str(), sqnrText(eval).c_str(),
                       (long long)fb, (long long)qb);
  }

  os << ps.str();
  // Every matmul-like op qopt-quantize left float (layers and contractions
  // that are not layers: products of activations, computed weights), and
  // why.
  llvm::json::Array notQuantized;
  quantModule.walk([&](Operation *op) {
    auto why = op->getAttrOfType<NotQuantizedReasonAttr>(
        NotQuantizedReasonAttr::getAttrName());
    if (!why)
      return;
    std::string name;
    if (auto layer = dyn_cast<QuantizableLayerOpInterface>(op))
      name = layer.getLayerName();
    // Else the ONNX node's name (the importer's NameLoc).
    Location loc = op->getLoc();
    if (auto fused = dyn_cast<FusedLoc>(loc))
      for (Location l : fused.getLocations())
        if (isa<NameLoc>(l)) {
          loc = l;
          break;
        }
    if (auto n = dyn_cast<NameLoc>(loc); n && name.empty())
      name = n.getName().str();
    StringRef reason = stringifyNotQuantizedReason(why.getValue());
    if (notQuantized.empty())
      os << "\nleft float:\n";
    os << llvm::format("  %-44s %-24s %s\n", name.substr(0, 44).c_str(),
                       op->getName().getStringRef().str().c_str(),
                       reason.str().c_str());
    notQuantized.push_back(
        llvm::json::Object{{"name", name},
                           {"op", op->getName().getStringRef()},
                           {"reason", reason}});
  });
  llvm::json::Object outputs;
  os << "\n";
  for (Set &s : sets) {
    llvm::json::Object perSet;
    for (auto &[name, c] : s.results) {
      if (StringRef(name).starts_with(kProbePrefix))
        continue;
      perSet[name] = llvm::json::Object{{"sqnr_db", sqnrJson(c)},
                                        {"cosine", c.cosine()},
                                        {"max_abs_error", c.maxAbs},
                                        {"elements", c.count}};
      os << llvm::format("output %-20s %-11s (%3lld samples): SQNR %s dB, "
                         "cosine %.6f, max |err| %.3g\n",
                         name.c_str(), s.key.c_str(), (long long)s.samples,
                         sqnrText(&c).c_str(), c.cosine(), c.maxAbs);
    }
    outputs[s.key] = std::move(perSet);
  }

  int64_t floatConst = constantBytes(floatModule),
          quantConst = constantBytes(quantModule);
  os << llvm::format("weights: %lld -> %lld bytes (%.2fx smaller); all "
                     "constants: %lld -> %lld bytes\n",
                     (long long)floatWeights, (long long)quantWeights,
                     quantWeights ? double(floatWeights) / quantWeights : 0.0,
                     (long long)floatConst, (long long)quantConst);

  if (!options.prune.empty())
    os << llvm::format("parameters: %lld -> %lld (%lld nonzero, %.1f%% "
                       "sparse)\n",
                       (long long)paramsBefore, (long long)paramsAfter,
                       (long long)nonzeroAfter,
                       paramsBefore
                           ? 100.0 * double(paramsBefore - nonzeroAfter) /
                                 double(paramsBefore)
                           : 0.0);
  llvm::json::Object report{
      {"scheme", options.quantized ? stringifyQuantScheme(options.scheme).str()
                                   : std::string("none")},
      {"kernel_isa", llvm::json::Object{{"f32", qopt_kernel_isa()},
                                        {"int8", qopt_kernel_isa_int8()}}},
      {"layers", std::move(layers)},
      {"not_quantized", std::move(notQuantized)},
      {"outputs", std::move(outputs)},
      {"weight_bytes", llvm::json::Object{{"float", floatWeights},
                                          {"quantized", quantWeights}}},
      {"constant_bytes",
       llvm::json::Object{{"float", floatConst}, {"quantized", quantConst}}}};
  if (!options.prune.empty()) {
    report["prune"] = options.prune;
    report["parameters"] = llvm::json::Object{{"before", paramsBefore},
                                              {"after", paramsAfter},
                                              {"nonzero_before", nonzeroBefore},
                                              {"nonzero_after", nonzeroAfter}};
  }
  llvm::json::Object samples;
  for (Set &s : sets)
    samples[s.key] = s.samples;
  report["samples"] = std::move(samples);
  if (options.accuracyTarget)
    report["accuracy_target"] = *options.accuracyTarget;

  if (options.latencyRuns > 0) {
    // Latency without the probes: the models as deployed.
    FailureOr<Compiled> f = compile(floatModule, options.cpu, false, error);
    if (failed(f))
      return failure();
    FailureOr<Compiled> q = compile(quantModule, options.cpu, false, error);
    if (failed(q))
      return failure();
    const std::string &dir = sets.back().dir;
    // Alternate the two, best of three rounds each, so that both see the
    // same machine state.
    double fBest = 1e300, qBest = 1e300;
    for (int round = 0; round < 3; ++round) {
      FailureOr<double> fMs = latencyMs(*f, dir, options.latencyRuns, error);
      if (failed(fMs))
        return failure();
      FailureOr<double> qMs = latencyMs(*q, dir, options.latencyRuns, error);
      if (failed(qMs))
        return failure();
      fBest = std::min(fBest, *fMs);
      qBest = std::min(qBest, *qMs);
    }
    report["latency_ms"] =
        llvm::json::Object{{"float", fBest},
                           {"quantized", qBest},
                           {"runs", options.latencyRuns},
                           {"threads", qopt_get_num_threads()}};
    os << llvm::format("latency (best of 3 medians of %d, %s sample): float "
                       "%.4f ms, quantized %.4f ms (%.2fx)\n",
                       options.latencyRuns, sets.back().key.c_str(), fBest,
                       qBest, qBest > 0 ? fBest / qBest : 0.0);
  }
  table = os.str();
  std::string json;
  llvm::raw_string_ostream js(json);
  js << llvm::formatv("{0:2}", llvm::json::Value(std::move(report)));
  return json;
}
