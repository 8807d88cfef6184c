//===- PrunePipeline.h - the qopt-prune-pipeline ----------------*- C++ -*-===//
//
/// \file
/// Pruning as one registered pipeline: for Wanda, per-input-channel
/// statistics from a calibration run on the compiled float model (JIT),
/// then qopt-prune, then (optionally) qopt-shrink-structured. In the
/// QOptPTQPipeline library because the calibration run needs the JIT.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PIPELINES_PRUNEPIPELINE_H
#define QOPT_PIPELINES_PRUNEPIPELINE_H

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::qopt {

/// Options of `qopt-prune-pipeline` (those of qopt-prune, plus the
/// calibration data Wanda needs and the shrinking step).
struct PrunePipelineOptions : public PassPipelineOptions<PrunePipelineOptions> {
  PassOptions::Option<PruneMethod> method{
      *this, "method", llvm::cl::desc("Weight score"),
      llvm::cl::init(PruneMethod::Magnitude),
      llvm::cl::values(
          clEnumValN(PruneMethod::Magnitude, "magnitude", "|W|"),
          clEnumValN(PruneMethod::Wanda, "wanda",
                     "|W| times the input channel's L2 norm (needs "
                     "calibration-data)"))};
  PassOptions::Option<SparsityGranularity> granularity{
      *this, "granularity", llvm::cl::desc("What is removed"),
      llvm::cl::init(SparsityGranularity::Unstructured),
      llvm::cl::values(
          clEnumValN(SparsityGranularity::Unstructured, "unstructured",
                     "single weights"),
          clEnumValN(SparsityGranularity::NM, "n_m",
                     "n of every m along the reduction dimension kept"),
          clEnumValN(SparsityGranularity::Channels, "channels",
                     "whole output channels"),
          clEnumValN(SparsityGranularity::Heads, "heads",
                     "whole attention heads"),
          clEnumValN(SparsityGranularity::Neurons, "neurons",
                     "whole MLP neurons"))};
  PassOptions::Option<double> sparsity{
      *this, "sparsity", llvm::cl::desc("Fraction removed, in [0, 1)"),
      llvm::cl::init(0.5)};
  PassOptions::Option<int64_t> n{*this, "n", llvm::cl::desc("n_m: kept"),
                                 llvm::cl::init(2)};
  PassOptions::Option<int64_t> m{*this, "m", llvm::cl::desc("n_m: group"),
                                 llvm::cl::init(4)};
  PassOptions::Option<PruneScope> scope{
      *this, "scope", llvm::cl::desc("unstructured: where the target holds"),
      llvm::cl::init(PruneScope::Layer),
      llvm::cl::values(
          clEnumValN(PruneScope::Layer, "layer", "each layer"),
          clEnumValN(PruneScope::Row, "row", "each output row"),
          clEnumValN(PruneScope::Global, "global", "all layers together"))};
  PassOptions::Option<std::string> include{
      *this, "include", llvm::cl::desc("Regex: the only layers pruned")};
  PassOptions::Option<std::string> exclude{
      *this, "exclude", llvm::cl::desc("Regex: layers not pruned")};
  PassOptions::Option<std::string> calibrationData{
      *this, "calibration-data",
      llvm::cl::desc("Samples for Wanda's activation norms: one folder per "
                     "sample")};
  PassOptions::Option<bool> shrink{
      *this, "shrink",
      llvm::cl::desc("Then remove zeroed output channels "
                     "(qopt-shrink-structured)"),
      llvm::cl::init(false)};
};

/// [wanda with data: insert-observers{kind=channel_sumsq, ops=linear,conv}
/// → collect-statistics] → prune → [shrink-structured]. Wanda without data
/// reaches qopt-prune without statistics, which names what is missing.
void buildPrunePipeline(OpPassManager &pm, const PrunePipelineOptions &options);

/// Registers the qopt-prune-pipeline pipeline.
void registerPrunePipeline();

} // namespace mlir::qopt

#endif // QOPT_PIPELINES_PRUNEPIPELINE_H
