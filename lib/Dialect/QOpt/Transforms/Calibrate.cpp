//===- Calibrate.cpp - observer statistics to quantization parameters -----===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Support/Calibration.h"
#include "qopt/Support/QuantMath.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CALIBRATEPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The histogram an observer's `qopt.stats` describes, or std::nullopt.
std::optional<::qopt::Histogram> histogramOf(DictionaryAttr stats) {
  auto count = stats.getAs<IntegerAttr>("count");
  auto lo = stats.getAs<FloatAttr>("min");
  auto hi = stats.getAs<FloatAttr>("max");
  auto range = stats.getAs<FloatAttr>("range");
  auto counts = stats.getAs<DenseFPElementsAttr>("counts");
  if (!count || !lo || !hi || !range || !counts)
    return std::nullopt;
  std::vector<double> c;
  for (const APFloat &v : counts.getValues<APFloat>())
    c.push_back(v.convertToDouble());
  return ::qopt::Histogram::fromState(
      std::move(c), range.getValueAsDouble(), count.getInt(),
      float(lo.getValueAsDouble()), float(hi.getValueAsDouble()));
}

struct CalibratePass : mlir::qopt::impl::CalibratePassBase<CalibratePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<::qopt::CalibrationMethod> m =
        ::qopt::parseCalibrationMethod(method);
    if (!m) {
      module.emitError("qopt-calibrate: unknown method '")
          << method << "' (minmax, percentile, entropy, mse)";
      return signalPassFailure();
    }
    if (*m == ::qopt::CalibrationMethod::Percentile &&
        !(percentile > 0 && percentile <= 100)) {
      module.emitError("qopt-calibrate: percentile must be in (0, 100], got ")
          << percentile;
      return signalPassFailure();
    }
    std::optional<::qopt::StorageType> st = ::qopt::parseStorageType(storage);
    if (!st || (*st != ::qopt::StorageType::Int8 &&
                *st != ::qopt::StorageType::UInt8)) {
      module.emitError("qopt-calibrate: storage must be int8 or uint8, got '")
          << storage << "'";
      return signalPassFailure();
    }
    int64_t levels = ::qopt::symmetricStorageRange(*st).max -
                     (::qopt::isSigned(*st) ? 0 : 128);
    Builder b(&getContext());
    WalkResult result = module.walk([&](ObserveOp op) {
      auto stats = op->getAttrOfType<DictionaryAttr>("qopt.stats");
      if (!stats) {
        op.emitOpError("qopt-calibrate: observer ")
            << op.getId()
            << " has no calibration statistics (qopt.stats): run the "
               "calibration first";
        return WalkResult::interrupt();
      }
      std::optional<::qopt::Histogram> h = histogramOf(stats);
      if (!h) {
        op.emitOpError("qopt-calibrate: observer ")
            << op.getId() << " has malformed qopt.stats";
        return WalkResult::interrupt();
      }
      ::qopt::ClipRange r =
          ::qopt::chooseRange(*h, *m, symmetric, percentile, levels);
      std::optional<::qopt::QuantParams> p =
          ::qopt::chooseQuantParams(r.lo, r.hi, *st, symmetric);
      if (!p) {
        op.emitOpError("qopt-calibrate: observer ")
            << op.getId() << " has no finite range";
        return WalkResult::interrupt();
      }
      op->setAttr("qopt.range", b.getF32ArrayAttr({r.lo, r.hi}));
      op->setAttr("qopt.scale", b.getF32FloatAttr(p->scale));
      op->setAttr("qopt.zero_point", b.getI64IntegerAttr(p->zeroPoint));
      op->setAttr("qopt.storage", b.getStringAttr(storage));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
