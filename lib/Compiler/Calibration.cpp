//===- Calibration.cpp - run an instrumented model over calibration data --===//
//
// Calibration runs the float model compiled for this CPU (not an
// interpreter): the observers' values stream into the runtime's
// histograms, sample after sample, in a fixed order.
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/Compiler.h"
#include "qopt/Runtime/qopt_runtime.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The first non-finite element of a float tensor, or -1.
int64_t firstNonFinite(const qopt_tensor *t) {
  if (qopt_tensor_dtype(t) != QOPT_DTYPE_F32)
    return -1;
  const auto *v = static_cast<const float *>(qopt_tensor_const_data(t));
  for (int64_t i = 0, n = qopt_tensor_num_elements(t); i < n; ++i)
    if (!std::isfinite(v[i]))
      return i;
  return -1;
}

/// Whether every byte of `t` is zero (an all-zero tensor of any dtype).
bool allZero(const qopt_tensor *t) {
  const auto *p = static_cast<const unsigned char *>(qopt_tensor_const_data(t));
  size_t n = size_t(qopt_tensor_num_elements(t)) *
             qopt_dtype_size(qopt_tensor_dtype(t));
  return std::all_of(p, p + n, [](unsigned char b) { return b == 0; });
}

} // namespace

FailureOr<std::vector<std::string>>
mlir::qopt::listSamples(const std::string &dir, std::string &error) {
  // The samples, in name order.
  std::vector<std::string> samples;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec))
    if (llvm::sys::fs::is_directory(it->path()))
      samples.push_back(it->path());
  if (ec) {
    error = "cannot read the calibration data directory '" + dir +
            "': " + ec.message();
    return failure();
  }
  if (samples.empty()) {
    error = "the calibration data directory '" + dir +
            "' holds no sample folders (one folder per sample, with one "
            "<input name>.npy or .pb per model input)";
    return failure();
  }
  std::sort(samples.begin(), samples.end());

  return samples;
}

LogicalResult mlir::qopt::loadSample(qopt_model *model,
                                     const std::string &sample,
                                     std::vector<TensorPtr> &inputs,
                                     std::string &error,
                                     const std::string &kind) {
  std::string name = llvm::sys::path::filename(sample).str();
  int numInputs = qopt_model_num_inputs(model);
  // A sample's inputs are its .npy/.pb files; other entries (an out/ folder,
  // notes) are skipped. A tensor file that names no input is refused: it is
  // a misspelt input or data for another model.
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(sample, ec), end; !ec && it != end;
       it.increment(ec)) {
    llvm::StringRef file = llvm::sys::path::filename(it->path());
    llvm::StringRef ext = llvm::sys::path::extension(file);
    if ((ext != ".npy" && ext != ".pb") ||
        llvm::sys::fs::is_directory(it->path()))
      continue;
    llvm::StringRef stem = llvm::sys::path::stem(file);
    if (qopt_model_find_input(model, stem.str().c_str()) < 0) {
      error = kind + " '" + name + "': file '" + file.str() +
              "' names no input of the model\nexpected signature:\n" +
              qopt_model_signature_text(model);
      return failure();
    }
  }
  if (ec) {
    error = kind + " '" + name + "': cannot read the folder: " + ec.message();
    return failure();
  }
  for (int i = 0; i < numInputs; ++i) {
    std::string input = qopt_model_input(model, i)->name;
    std::string path;
    for (const char *ext : {".npy", ".pb"}) {
      llvm::SmallString<256> p(sample);
      llvm::sys::path::append(p, input + ext);
      if (!llvm::sys::fs::exists(p))
        continue;
      if (!path.empty()) {
        error = kind + " '" + name + "': input '" + input +
                "' is given twice (" + input + ".npy and " + input + ".pb)";
        return failure();
      }
      path = p.str().str();
    }
    if (path.empty()) {
      error = kind + " '" + name + "': no file for input '" + input + "' (" +
              input + ".npy or " + input + ".pb)\nexpected signature:\n" +
              qopt_model_signature_text(model);
      return failure();
    }
    qopt_tensor *t = nullptr;
    if (qopt_tensor_load(path.c_str(), &t) != QOPT_OK) {
      error = kind + " '" + name + "': " + qopt_last_error();
      return failure();
    }
    inputs.emplace_back(t);
    if (int64_t bad = firstNonFinite(t); bad >= 0) {
      error = kind + " '" + name + "': input '" + input +
              "' holds a NaN or an infinity (element " + std::to_string(bad) +
              ")";
      return failure();
    }
  }
  return success();
}

/// The second moments of the first half of the samples, per observer id
/// (rows, E[x xᵀ]): snapshot during runCalibration, attached as
/// split_rows / split_matrix by attachCalibrationStatistics.
static std::map<int64_t, std::pair<int64_t, std::vector<double>>>
    firstHalfMoments;

FailureOr<int64_t> mlir::qopt::runCalibration(
    ModuleOp module, const CalibrationRunOptions &options, std::string &error) {
  firstHalfMoments.clear();
  std::vector<int64_t> momentIds;
  module.walk([&](ObserveOp op) {
    if (op.getKind() == ObserverKind::SecondMoment)
      momentIds.push_back(op.getId());
  });
  FailureOr<std::vector<std::string>> found =
      listSamples(options.dataDir, error);
  if (failed(found))
    return failure();
  const std::vector<std::string> &samples = *found;
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(module->clone()));
  CPUCompileOptions cpu = options.cpu;
  cpu.instrument = true;
  if (failed(lowerToLLVMDialect(*copy, cpu))) {
    error = "cannot lower the instrumented model";
    return failure();
  }
  std::unique_ptr<JITArtifact> jit = JITArtifact::create(*copy, cpu, error);
  if (!jit)
    return failure();
  qopt_model *raw = nullptr;
  if (qopt_model_create(jit->signature(), jit->entry(), &raw) != QOPT_OK) {
    error = qopt_last_error();
    return failure();
  }
  std::unique_ptr<qopt_model, void (*)(qopt_model *)> model(raw,
                                                            qopt_model_free);
  if (qopt_calibration_begin(options.bins) != QOPT_OK) {
    error = qopt_last_error();
    return failure();
  }

  int numInputs = qopt_model_num_inputs(model.get());
  int numOutputs = qopt_model_num_outputs(model.get());
  std::vector<bool> everNonZero(size_t(numInputs), false);
  for (const std::string &sample : samples) {
    std::string name = llvm::sys::path::filename(sample).str();
    std::vector<TensorPtr> inputs;
    if (failed(loadSample(model.get(), sample, inputs, error)))
      return failure();
    for (size_t i = 0; i < inputs.size(); ++i)
      if (!everNonZero[i] && !allZero(inputs[i].get()))
        everNonZero[i] = true;
    std::vector<const qopt_tensor *> args;
    for (const TensorPtr &t : inputs)
      args.push_back(t.get());
    std::vector<qopt_tensor *> outputs(size_t(numOutputs), nullptr);
    qopt_status st = qopt_model_run(model.get(), args.data(), numInputs,
                                    outputs.data(), numOutputs);
    for (qopt_tensor *t : outputs)
      qopt_tensor_free(t);
    if (st != QOPT_OK) {
      error = "calibration sample '" + name + "': " + qopt_last_error();
      return failure();
    }
    if (*qopt_calibration_error()) {
      error = "calibration sample '" + name + "': " + qopt_calibration_error();
      return failure();
    }
    // The first half of the samples' moments: weight-rounding=auto's
    // held-out comparison (fit on this half, judge on the other).
    if (samples.size() >= 2 &&
        size_t(&sample - samples.data()) + 1 == samples.size() / 2)
      for (int64_t id : momentIds) {
        int64_t k = 0, rows = 0;
        if (const double *m =
                qopt_calibration_second_moment(id, &k, &rows, nullptr))
          firstHalfMoments[id] = {rows,
                                  std::vector<double>(m, m + size_t(k * k))};
      }
    if (!reportCalibrationProgress(int64_t(&sample - samples.data()) + 1,
                                   int64_t(samples.size()))) {
      error = "calibration interrupted after " +
              std::to_string(&sample - samples.data() + 1) + " of " +
              std::to_string(samples.size()) + " samples";
      return failure();
    }
  }
  // Scales from all-zero data are meaningless (the model quantizes to
  // noise); say so rather than hand back a silently broken model.
  for (int i = 0; i < numInputs; ++i)
    if (!everNonZero[size_t(i)] &&
        qopt_model_input(model.get(), i)->dtype == QOPT_DTYPE_F32)
      mlir::emitWarning(module.getLoc())
          << "calibration input '" << qopt_model_input(model.get(), i)->name
          << "' is all zeros in every one of the " << samples.size()
          << " samples: the activation ranges (and so the scales) chosen "
             "from it do not describe real data";
  return int64_t(samples.size());
}

static CalibrationProgressFn progressFn = nullptr;
static void *progressUserData = nullptr;

void mlir::qopt::setCalibrationProgress(CalibrationProgressFn fn,
                                        void *userData) {
  progressFn = fn;
  progressUserData = userData;
}

bool mlir::qopt::reportCalibrationProgress(int64_t done, int64_t total) {
  return !progressFn || progressFn(done, total, progressUserData);
}

void mlir::qopt::attachCalibrationStatistics(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  module.walk([&](ObserveOp op) {
    if (op.getKind() == ObserverKind::ChannelSumSq) {
      int64_t n = 0;
      if (const double *m = qopt_calibration_channel_sumsq(op.getId(), &n))
        op.setChannelSumsq(llvm::ArrayRef<double>(m, size_t(n)));
      return;
    }
    if (op.getKind() == ObserverKind::SecondMoment) {
      int64_t k = 0, rows = 0;
      const double *mean = nullptr;
      const double *m =
          qopt_calibration_second_moment(op.getId(), &k, &rows, &mean);
      if (!m)
        return;
      // E[x xᵀ] is K² doubles: a resource blob, never printed inline.
      auto type = RankedTensorType::get({k, k}, Float64Type::get(ctx));
      auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(
          llvm::ArrayRef<double>(m, size_t(k * k)));
      auto matrix = DenseResourceElementsAttr::get(
          type, "second_moment." + std::to_string(op.getId()), std::move(blob));
      int64_t splitRows = 0;
      ElementsAttr splitMatrix;
      auto half = firstHalfMoments.find(op.getId());
      if (half != firstHalfMoments.end() && half->second.first < rows &&
          int64_t(half->second.second.size()) == k * k) {
        splitRows = half->second.first;
        splitMatrix = DenseResourceElementsAttr::get(
            type, "second_moment." + std::to_string(op.getId()) + ".split",
            HeapAsmResourceBlob::allocateAndCopyInferAlign(
                llvm::ArrayRef<double>(half->second.second)));
      }
      op.setSecondMomentAttr(SecondMomentAttr::get(
          ctx, rows,
          DenseF64ArrayAttr::get(ctx, llvm::ArrayRef<double>(mean, size_t(k))),
          matrix, splitRows, splitMatrix));
      return;
    }
    if (op.getKind() == ObserverKind::ChannelAbsMax) {
      int64_t n = 0;
      if (const float *m = qopt_calibration_channel_absmax(op.getId(), &n))
        op.setChannelAbsmax(llvm::ArrayRef<float>(m, size_t(n)));
      return;
    }
    const qopt_histogram *h = qopt_calibration_observer(op.getId());
    if (!h)
      return;
    double range = 0;
    float lo = 0, hi = 0;
    int64_t n = qopt_histogram_state(h, nullptr, nullptr, nullptr, nullptr);
    std::vector<double> counts(static_cast<size_t>(n), 0.0);
    qopt_histogram_state(h, counts.data(), &range, &lo, &hi);
    op.setStatisticsAttr(HistogramAttr::get(ctx, qopt_histogram_count(h), lo,
                                            hi, range, counts));
  });
}
