//===- CollectStatistics.cpp - calibration run as a pass ------------------===//

#include "qopt/Compiler/Report.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_COLLECTSTATISTICSPASS
#include "qopt/Compiler/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

struct CollectStatisticsPass
    : qopt::impl::CollectStatisticsPassBase<CollectStatisticsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (calibrationData.empty()) {
      module.emitError("qopt-collect-statistics: no calibration-data "
                       "directory given");
      return signalPassFailure();
    }
    if (bins < 128) {
      module.emitError("qopt-collect-statistics: bins must be >= 128, got ")
          << int64_t(bins);
      return signalPassFailure();
    }
    qopt::CalibrationRunOptions options;
    options.dataDir = calibrationData;
    options.bins = bins;
    std::string error;
    if (failed(qopt::runCalibration(module, options, error))) {
      module.emitError("qopt-collect-statistics: ") << error;
      return signalPassFailure();
    }
    qopt::attachCalibrationStatistics(module);
  }
};

} // namespace

void mlir::qopt::registerCompilerPasses() { registerQOptCompilerPasses(); }
