//===- PrunePipeline.cpp - the qopt-prune-pipeline ------------------------===//

#include "qopt/Pipelines/PrunePipeline.h"
#include "qopt/Compiler/Report.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::qopt;

void mlir::qopt::buildPrunePipeline(OpPassManager &pm,
                                    const PrunePipelineOptions &options) {
  if (options.method == PruneMethod::Wanda &&
      !options.calibrationData.empty()) {
    // Wanda's ||X_j||²: one calibration run over the layers' inputs.
    InsertObserversPassOptions observe;
    observe.ops = {stringifyObservedOp(ObservedOp::Linear).str(),
                   stringifyObservedOp(ObservedOp::Conv).str()};
    observe.kind = ObserverKind::ChannelSumSq;
    pm.addPass(createInsertObserversPass(observe));
    CollectStatisticsPassOptions collect;
    collect.calibrationData = options.calibrationData;
    pm.addPass(createCollectStatisticsPass(collect));
  }
  PrunePassOptions prune;
  prune.method = options.method;
  prune.granularity = options.granularity;
  prune.sparsity = options.sparsity;
  prune.n = options.n;
  prune.m = options.m;
  prune.scope = options.scope;
  prune.include = options.include;
  prune.exclude = options.exclude;
  pm.addPass(createPrunePass(prune));
  if (options.shrink)
    pm.addPass(createShrinkStructuredPass());
}

void mlir::qopt::registerPrunePipeline() {
  PassPipelineRegistration<PrunePipelineOptions>(
      "qopt-prune-pipeline",
      "Pruning: Wanda's activation statistics from the compiled float model "
      "(when calibration-data is given), qopt-prune, optionally "
      "qopt-shrink-structured",
      buildPrunePipeline);
}
