//===- PTQPipeline.cpp - the qopt-ptq pipeline ----------------------------===//

#include "qopt/Pipelines/PTQPipeline.h"
#include "qopt/Compiler/Report.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::qopt;

void mlir::qopt::buildPTQPipeline(OpPassManager &pm,
                                  const PTQPipelineOptions &options) {
  if (options.smoothquantAlpha >= 0) {
    // SmoothQuant needs per-channel max |x| of the linear layers' inputs
    // first: a calibration run of its own, before the ranges are taken.
    InsertObserversPassOptions channels;
    channels.ops = {stringifyObservedOp(ObservedOp::Linear).str()};
    channels.kind = ObserverKind::ChannelAbsMax;
    pm.addPass(createInsertObserversPass(channels));
    CollectStatisticsPassOptions collect;
    collect.calibrationData = options.calibrationData;
    pm.addPass(createCollectStatisticsPass(collect));
    SmoothQuantPassOptions smooth;
    smooth.alpha = options.smoothquantAlpha;
    pm.addPass(createSmoothQuantPass(smooth));
  }
  if (options.scheme == QuantScheme::Ternary) {
    // BitLinear needs no calibration: weights by absmean (or as they are),
    // activations per token at run time.
    TernarizePassOptions ternary;
    ternary.mode = options.ternaryMode;
    ternary.exclude = options.exclude;
    ternary.include = options.include;
    pm.addPass(createTernarizePass(ternary));
    return;
  }
  // GPTQ, bias correction and the schemes chosen by error need each
  // layer's input moments.
  bool moments = options.weightRounding != WeightRounding::Nearest ||
                 options.biasCorrection ||
                 options.weightGranularity == WeightGranularity::Auto ||
                 (options.scheme == QuantScheme::W4 &&
                  options.weightSymmetric == WeightSymmetry::Auto);
  bool ranges = options.scheme == QuantScheme::W8A8;
  if (ranges)
    pm.addPass(createInsertObserversPass());
  if (moments) {
    // GPTQ and bias correction: each layer's input moments, in the same
    // calibration run as the ranges.
    InsertObserversPassOptions second;
    second.kind = ObserverKind::SecondMoment;
    pm.addPass(createInsertObserversPass(second));
  }
  if (ranges || moments) {
    CollectStatisticsPassOptions collect;
    collect.calibrationData = options.calibrationData;
    pm.addPass(createCollectStatisticsPass(collect));
  }
  if (ranges) {
    // Static activations: the statistics become scales and zero points.
    CalibratePassOptions calibrate;
    calibrate.method = options.calibrationMethod;
    calibrate.percentile = options.percentile;
    calibrate.marginDb = options.calibrationMarginDb;
    calibrate.storage = options.activationType;
    calibrate.symmetric = options.activationType == ActivationStorage::Int8;
    pm.addPass(createCalibratePass(calibrate));
  }
  QuantizePassOptions quantize;
  quantize.scheme = options.scheme;
  quantize.groupSize = options.groupSize;
  quantize.weightSymmetric = options.weightSymmetric;
  quantize.weightGranularity = options.weightGranularity;
  quantize.int4Scale = options.int4Scale;
  quantize.w4Activations = options.w4Activations;
  quantize.int8Depthwise = options.int8Depthwise;
  quantize.doubleQuant = options.doubleQuant;
  quantize.exclude = options.exclude;
  quantize.include = options.include;
  quantize.form = options.form;
  quantize.allowNoLayer = options.allowNoLayer;
  quantize.weightRounding = options.weightRounding;
  quantize.biasCorrection = options.biasCorrection;
  quantize.gptqDamp = options.gptqDamp;
  pm.addPass(createQuantizePass(quantize));
}

void mlir::qopt::registerPTQPipeline() {
  registerCompilerPasses();
  PassPipelineRegistration<PTQPipelineOptions>(
      "qopt-ptq",
      "Post-training quantization: observers, calibration on the compiled "
      "float model, scales and zero points, quantized layers",
      buildPTQPipeline);
}
