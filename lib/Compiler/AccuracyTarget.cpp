//===- AccuracyTarget.cpp - per-layer sensitivity, mixed precision --------===//
//
// Greedy over a ranking, as onnxruntime's and Neural Compressor's
// accuracy-aware tuning fall back op by op: rank the layers by the output
// SQNR each alone gives when quantized (lowest first), then leave the first
// k float for k = 0, 1, ... until the output SQNR reaches the target. Each
// measurement compiles the variant in process and runs the calibration
// samples; the float model is compiled once.
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/AccuracyTarget.h"
#include "qopt/Compiler/Report.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

using namespace mlir;
using namespace mlir::qopt;

namespace {

int64_t constantBytes(ModuleOp module) {
  int64_t n = 0;
  module.walk([&](arith::ConstantOp c) {
    auto ty = dyn_cast<RankedTensorType>(c.getType());
    if (!ty || !ty.hasStaticShape())
      return;
    Type e = ty.getElementType();
    int64_t bits = e.isIntOrFloat() ? e.getIntOrFloatBitWidth() : 32;
    n += ty.getNumElements() * std::max<int64_t>(bits, 8) / 8;
  });
  return n;
}

/// An anchored regex matching exactly one of `names`.
std::string anyOf(const std::vector<std::string> &names) {
  std::string re;
  for (const std::string &n : names)
    re += (re.empty() ? "" : "|") + ("^" + llvm::Regex::escape(n) + "$");
  return re;
}

/// Runs qopt-quantize with `options` on `module`. Keeping every layer float
/// is one of the search's candidates, not an error.
LogicalResult runQuantize(ModuleOp module, QuantizePassOptions options) {
  options.allowNoLayer = true;
  PassManager pm(module.getContext());
  pm.addPass(createQuantizePass(options));
  return pm.run(module);
}

llvm::json::Value dbJson(double db) {
  if (std::isinf(db))
    return nullptr; // exact
  return db;
}

} // namespace

llvm::json::Value AccuracyTargetResult::toJSON() const {
  llvm::json::Array sens;
  for (const LayerSensitivity &s : sensitivity)
    sens.push_back(
        llvm::json::Object{{"name", s.name}, {"sqnr_db", dbJson(s.sqnrDb)}});
  llvm::json::Array kept, weightOnly, precision;
  for (const std::string &k : keptFloat)
    kept.push_back(k);
  for (const std::string &k : keptWeightOnly)
    weightOnly.push_back(k);
  for (const LayerSensitivity &s : sensitivity) {
    bool f = llvm::is_contained(keptFloat, s.name);
    bool w = llvm::is_contained(keptWeightOnly, s.name);
    precision.push_back(
        llvm::json::Object{{"name", s.name},
                           {"precision", f   ? std::string("float")
                                         : w ? fallbackScheme
                                             : std::string(mainScheme)}});
  }
  return llvm::json::Object{
      {"target_sqnr_db", targetDb},
      {"all_quantized_sqnr_db", dbJson(allQuantizedDb)},
      {"achieved_sqnr_db", dbJson(achievedDb)},
      {"met", met},
      {"kept_float", std::move(kept)},
      {"fallback_scheme", fallbackScheme.empty()
                              ? llvm::json::Value(nullptr)
                              : llvm::json::Value(fallbackScheme)},
      {"kept_weight_only", std::move(weightOnly)},
      {"precision", std::move(precision)},
      {"constant_bytes",
       llvm::json::Object{{"float", floatBytes},
                          {"all_quantized", allQuantizedBytes},
                          {"result", bytes}}},
      {"sensitivity", std::move(sens)}};
}

std::string AccuracyTargetResult::summary() const {
  std::string out;
  llvm::raw_string_ostream os(out);
  auto db = [](double v) {
    return std::isinf(v) ? std::string("exact")
                         : llvm::formatv("{0:f1} dB", v).str();
  };
  os << "accuracy target " << llvm::format("%.1f", targetDb)
     << " dB (output SQNR, calibration samples): all quantized "
     << db(allQuantizedDb) << ", result " << db(achievedDb)
     << (met ? "" : " (NOT met)") << "; " << keptFloat.size()
     << " layer(s) kept float";
  for (size_t i = 0; i < keptFloat.size(); ++i)
    os << (i ? ", " : ": ") << keptFloat[i];
  if (!keptWeightOnly.empty()) {
    os << "; " << keptWeightOnly.size() << " layer(s) " << fallbackScheme
       << " instead";
    for (size_t i = 0; i < keptWeightOnly.size(); ++i)
      os << (i ? ", " : ": ") << keptWeightOnly[i];
  }
  os << llvm::format("; constants %lld bytes (all quantized %lld, float "
                     "%lld)\n",
                     (long long)bytes, (long long)allQuantizedBytes,
                     (long long)floatBytes);
  os << "sensitivity (output SQNR with only this layer quantized):\n";
  for (const LayerSensitivity &s : sensitivity)
    os << llvm::format("  %-40s %s\n", s.name.substr(0, 40).c_str(),
                       db(s.sqnrDb).c_str());
  return out;
}

FailureOr<AccuracyTargetResult> mlir::qopt::meetAccuracyTarget(
    ModuleOp module, ModuleOp floatModule, const QuantizePassOptions &quantize,
    double targetDb, const std::string &samples, const CPUCompileOptions &cpu,
    std::string &error) {
  if (!std::isfinite(targetDb)) {
    error = "--accuracy-target must be a finite SQNR in dB";
    return failure();
  }
  AccuracyTargetResult r;
  r.targetDb = targetDb;
  r.floatBytes = constantBytes(floatModule);
  std::unique_ptr<OutputComparator> cmp =
      OutputComparator::create(floatModule, samples, cpu, error);
  if (!cmp)
    return failure();

  // The layers qopt-quantize would quantize (named, not excluded by the
  // user, matching the user's include), in program order, once each.
  llvm::Regex excluded(quantize.exclude), included(quantize.include);
  std::vector<std::string> names;
  std::set<std::string> seen;
  module.walk([&](QuantizableLayerOpInterface layer) {
    std::string name = layer.getLayerName();
    if (name.empty() || layer.isQuantizedLayer() ||
        (!quantize.exclude.empty() && excluded.match(name)) ||
        (!quantize.include.empty() && !included.match(name)))
      return;
    if (seen.insert(name).second)
      names.push_back(name);
  });

  // Sensitivity: one layer at a time.
  for (const std::string &name : names) {
    OwningOpRef<ModuleOp> one(cast<ModuleOp>(module->clone()));
    QuantizePassOptions o = quantize;
    o.include = anyOf({name});
    if (failed(runQuantize(*one, o))) {
      error = "--accuracy-target: quantizing layer '" + name + "' failed";
      return failure();
    }
    FailureOr<double> s = cmp->sqnr(*one, error);
    if (failed(s))
      return failure();
    r.sensitivity.push_back({name, *s});
  }
  std::stable_sort(r.sensitivity.begin(), r.sensitivity.end(),
                   [](const LayerSensitivity &a, const LayerSensitivity &b) {
                     return a.sqnrDb < b.sqnrDb;
                   });

  // Leave the k most sensitive float, k = 0, 1, ...
  auto withFloat = [&](size_t k) {
    QuantizePassOptions o = quantize;
    std::vector<std::string> keep;
    for (size_t i = 0; i < k; ++i)
      keep.push_back(r.sensitivity[i].name);
    std::string re = anyOf(keep);
    if (!quantize.exclude.empty() && !re.empty())
      o.exclude = "(" + quantize.exclude + ")|" + re;
    else if (!re.empty())
      o.exclude = re;
    return std::pair{o, keep};
  };
  // The fallback before float: weight-only int8 (no activation error, a
  // quarter of the float weight).
  std::optional<QuantScheme> fallback;
  if (quantize.scheme != QuantScheme::W8)
    fallback = QuantScheme::W8;
  r.mainScheme = stringifyQuantScheme(quantize.scheme).str();
  if (fallback)
    r.fallbackScheme = stringifyQuantScheme(*fallback).str();
  // The k most sensitive layers at the fallback scheme (float if none).
  auto apply = [&](ModuleOp m, size_t k, bool useFallback) {
    auto [o, keep] = withFloat(k);
    if (failed(runQuantize(m, o)))
      return failure();
    if (!useFallback || keep.empty())
      return success();
    QuantizePassOptions fb = quantize;
    fb.scheme = *fallback;
    fb.include = anyOf(keep);
    fb.form = QuantizedLinearForm::QLinear;
    fb.doubleQuant = false;
    return runQuantize(m, fb);
  };
  size_t chosen = r.sensitivity.size();
  bool chosenFallback = false;
  for (size_t k = 0; k <= r.sensitivity.size() && !r.met; ++k) {
    for (bool useFallback : {true, false}) {
      if (useFallback && (k == 0 || !fallback))
        continue;
      OwningOpRef<ModuleOp> trial(cast<ModuleOp>(module->clone()));
      if (failed(apply(*trial, k, useFallback))) {
        error = "--accuracy-target: quantizing the model failed";
        return failure();
      }
      FailureOr<double> s = cmp->sqnr(*trial, error);
      if (failed(s))
        return failure();
      if (k == 0) {
        r.allQuantizedDb = *s;
        r.allQuantizedBytes = constantBytes(*trial);
      }
      if (*s >= targetDb) {
        chosen = k;
        chosenFallback = useFallback;
        r.achievedDb = *s;
        r.met = true;
        break;
      }
      if (k == r.sensitivity.size() && !useFallback)
        r.achievedDb = *s;
    }
  }
  auto [o, keep] = withFloat(chosen);
  (chosenFallback ? r.keptWeightOnly : r.keptFloat) = keep;
  if (failed(apply(module, chosen, chosenFallback))) {
    error = "--accuracy-target: quantizing the model failed";
    return failure();
  }
  r.bytes = constantBytes(module);
  return r;
}
