//===- Calibrate.cpp - observer statistics to quantization parameters -----===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Support/Calibration.h"
#include "qopt/Support/QuantMath.h"

#include "mlir/IR/Builders.h"

#include <cmath>

namespace mlir::qopt {
#define GEN_PASS_DEF_CALIBRATEPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The support library's histogram, rebuilt from its attribute (whose
/// verifier already checked everything fromState checks).
::qopt::Histogram histogramOf(HistogramAttr stats) {
  ArrayRef<double> counts = stats.getCounts().asArrayRef();
  std::optional<::qopt::Histogram> h = ::qopt::Histogram::fromState(
      std::vector<double>(counts.begin(), counts.end()),
      stats.getRange().convertToDouble(), stats.getCount(),
      float(stats.getMin().convertToDouble()),
      float(stats.getMax().convertToDouble()));
  assert(h && "a verified #qopt.histogram is a consistent state");
  return *h;
}

::qopt::CalibrationMethod supportMethod(CalibrationMethod m) {
  switch (m) {
  case CalibrationMethod::MinMax:
    return ::qopt::CalibrationMethod::MinMax;
  case CalibrationMethod::Percentile:
    return ::qopt::CalibrationMethod::Percentile;
  case CalibrationMethod::Entropy:
    return ::qopt::CalibrationMethod::Entropy;
  case CalibrationMethod::MSE:
    return ::qopt::CalibrationMethod::MSE;
  }
  llvm_unreachable("unknown calibration method");
}

struct CalibratePass : mlir::qopt::impl::CalibratePassBase<CalibratePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (method == CalibrationMethod::Percentile &&
        !(percentile > 0 && percentile <= 100)) {
      module.emitError("qopt-calibrate: percentile must be in (0, 100], got ")
          << percentile;
      return signalPassFailure();
    }
    if (!std::isfinite(double(marginDb))) {
      module.emitError("qopt-calibrate: margin-db must be finite, got ")
          << marginDb;
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    Type i8 = IntegerType::get(ctx, 8), f32 = Float32Type::get(ctx);
    WalkResult result = module.walk([&](ObserveOp op) {
      // GPTQ's and bias correction's moments are qopt-quantize's.
      if (op.getKind() == ObserverKind::SecondMoment)
        return WalkResult::advance();
      HistogramAttr stats = op.getStatisticsAttr();
      if (!stats) {
        op.emitOpError("qopt-calibrate: observer ")
            << op.getId()
            << " has no calibration statistics: run the calibration first "
               "(qopt-collect-statistics)";
        return WalkResult::interrupt();
      }
      // The clipping methods keep their range only where it does not
      // quantize the observed values worse than minmax's (marginDb).
      ::qopt::Histogram hist = histogramOf(stats);
      auto rangeFor = [&](bool isSigned, bool sym) {
        ::qopt::StorageType st =
            isSigned ? ::qopt::StorageType::Int8 : ::qopt::StorageType::UInt8;
        int64_t levels =
            ::qopt::symmetricStorageRange(st).max - (isSigned ? 0 : 128);
        return ::qopt::chooseRangeChecked(hist, supportMethod(method), sym,
                                          percentile, levels, marginDb, st);
      };
      bool isSigned = storage != ActivationStorage::UInt8;
      bool sym = storage == ActivationStorage::Auto ? true : bool(symmetric);
      ::qopt::RangeChoice choice = rangeFor(isSigned, sym);
      if (storage == ActivationStorage::Auto) {
        // Symmetric int8 or asymmetric uint8: the lower quantization
        // error over the histogram (a one-sided ReLU output wastes half of
        // int8's levels; a centred one gains nothing from a zero point).
        ::qopt::RangeChoice asym = rangeFor(false, false);
        if (::qopt::preferAsymmetricActivation(
                ::qopt::quantizationError(hist, choice.range,
                                          ::qopt::StorageType::Int8, true),
                ::qopt::quantizationError(hist, asym.range,
                                          ::qopt::StorageType::UInt8, false))) {
          choice = asym;
          isSigned = false;
          sym = false;
        }
      }
      ::qopt::StorageType st =
          isSigned ? ::qopt::StorageType::Int8 : ::qopt::StorageType::UInt8;
      ::qopt::ClipRange r = choice.range;
      CalibrationMethod used =
          choice.method == ::qopt::CalibrationMethod::MinMax
              ? CalibrationMethod::MinMax
              : CalibrationMethod(method);
      std::optional<::qopt::QuantParams> p =
          ::qopt::chooseQuantParams(r.lo, r.hi, st, sym);
      if (!p) {
        op.emitOpError("qopt-calibrate: observer ")
            << op.getId() << " has no finite range";
        return WalkResult::interrupt();
      }
      auto type = quant::UniformQuantizedType::get(
          isSigned ? quant::QuantizationFlags::Signed : 0, i8, f32,
          double(p->scale), p->zeroPoint, isSigned ? -128 : 0,
          isSigned ? 127 : 255);
      op.setCalibrationAttr(
          CalibrationAttr::get(ctx, used, double(r.lo), double(r.hi), type));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
