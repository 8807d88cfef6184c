//===- PTQPipeline.h - the qopt-ptq pipeline --------------------*- C++ -*-===//
//
/// \file
/// Post-training quantization as one registered pipeline: observers,
/// calibration on the compiled float model (JIT), scales and zero points,
/// quantized layers. Built above QOptCompiler (the calibration run needs
/// the JIT, which needs the CPU pipeline), hence its own library.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PIPELINES_PTQPIPELINE_H
#define QOPT_PIPELINES_PTQPIPELINE_H

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
#include "qopt/Dialect/QOpt/Transforms/Int4ScaleMethod.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::qopt {

/// Options of `qopt-ptq`.
struct PTQPipelineOptions : public PassPipelineOptions<PTQPipelineOptions> {
  PassOptions::Option<QuantScheme> scheme{
      *this, "scheme", llvm::cl::desc("Quantization scheme"),
      llvm::cl::init(QuantScheme::W8A8),
      llvm::cl::values(
          clEnumValN(QuantScheme::W8A8, "w8a8",
                     "static int8 activations (needs calibration-data)"),
          clEnumValN(QuantScheme::W8A8Dynamic, "w8a8-dynamic",
                     "per-token activation scales at run time"),
          clEnumValN(QuantScheme::W8, "w8", "weight-only int8 per channel"),
          clEnumValN(QuantScheme::W4, "w4", "weight-only 4-bit block-wise"),
          clEnumValN(QuantScheme::NF4, "nf4",
                     "weight-only NF4 (QLoRA), block-wise absmax"),
          clEnumValN(QuantScheme::Ternary, "ternary",
                     "BitNet b1.58 BitLinear (qopt-ternarize)"))};
  PassOptions::Option<std::string> calibrationData{
      *this, "calibration-data",
      llvm::cl::desc("Calibration samples (w8a8): one folder per sample")};
  PassOptions::Option<CalibrationMethod> calibrationMethod{
      *this, "calibration-method", llvm::cl::desc("Range selection"),
      llvm::cl::init(CalibrationMethod::MinMax),
      llvm::cl::values(
          clEnumValN(CalibrationMethod::MinMax, "minmax", "running min/max"),
          clEnumValN(CalibrationMethod::Percentile, "percentile",
                     "clip at a percentile"),
          clEnumValN(CalibrationMethod::Entropy, "entropy",
                     "TensorRT's KL-divergence search"),
          clEnumValN(CalibrationMethod::MSE, "mse",
                     "least quantization error"))};
  PassOptions::Option<double> percentile{
      *this, "percentile", llvm::cl::desc("For calibration-method=percentile"),
      llvm::cl::init(99.99)};
  PassOptions::Option<double> calibrationMarginDb{
      *this, "calibration-margin-db",
      llvm::cl::desc("qopt-calibrate's margin-db: a clipping method's range "
                     "is kept only within this many dB of minmax's error"),
      llvm::cl::init(3.0)};
  PassOptions::Option<ActivationStorage> activationType{
      *this, "activation-type", llvm::cl::desc("Activation storage"),
      llvm::cl::init(ActivationStorage::Int8),
      llvm::cl::values(
          clEnumValN(ActivationStorage::Int8, "int8", "int8, symmetric"),
          clEnumValN(ActivationStorage::UInt8, "uint8", "uint8, asymmetric"),
          clEnumValN(ActivationStorage::Auto, "auto",
                     "per layer input, int8 symmetric or uint8 asymmetric by "
                     "histogram error"))};
  PassOptions::Option<int64_t> groupSize{
      *this, "group-size", llvm::cl::desc("w4: weights per scale"),
      llvm::cl::init(128)};
  PassOptions::Option<WeightSymmetry> weightSymmetric{
      *this, "weight-symmetric",
      llvm::cl::desc("w4: symmetric int4 (true), uint4 + zero points "
                     "(false) or per layer by error (auto: needs "
                     "calibration-data)"),
      llvm::cl::init(WeightSymmetry::Symmetric),
      llvm::cl::values(
          clEnumValN(WeightSymmetry::Symmetric, "true", "symmetric int4"),
          clEnumValN(WeightSymmetry::Asymmetric, "false", "uint4"),
          clEnumValN(WeightSymmetry::Auto, "auto",
                     "per layer, int4 or uint4 by output error"))};
  PassOptions::Option<WeightGranularity> weightGranularity{
      *this, "weight-granularity",
      llvm::cl::desc("int8 weights: per-channel, per-tensor or per layer by "
                     "error (auto: needs calibration-data)"),
      llvm::cl::init(WeightGranularity::PerChannel),
      llvm::cl::values(clEnumValN(WeightGranularity::PerChannel, "per-channel",
                                  "one scale per output channel"),
                       clEnumValN(WeightGranularity::PerTensor, "per-tensor",
                                  "one scale for the weight"),
                       clEnumValN(WeightGranularity::Auto, "auto",
                                  "per layer, by output error"))};
  PassOptions::Option<Int4ScaleMethod> int4Scale{
      *this, "int4-scale",
      llvm::cl::desc("w4: each block's scale (and zero point)"),
      llvm::cl::init(Int4ScaleMethod::MSE),
      llvm::cl::values(
          clEnumValN(Int4ScaleMethod::MSE, "mse", "least squared error"),
          clEnumValN(Int4ScaleMethod::SignedExtreme, "signed-extreme",
                     "onnxruntime MatMulNBits: signed extreme / -8"),
          clEnumValN(Int4ScaleMethod::AbsMax, "absmax", "max|w| / 7"),
          clEnumValN(Int4ScaleMethod::MinMax, "minmax",
                     "uint4: the full range"))};
  PassOptions::Option<ActivationMode> w4Activations{
      *this, "w4-activations",
      llvm::cl::desc("w4: float activations or int8 per token and block"),
      llvm::cl::init(ActivationMode::None),
      llvm::cl::values(clEnumValN(ActivationMode::None, "float",
                                  "weight-only (activation none)"),
                       clEnumValN(ActivationMode::DynamicBlock, "int8",
                                  "int8 at run time (dynamic_block)"))};
  PassOptions::Option<bool> doubleQuant{
      *this, "double-quant",
      llvm::cl::desc("nf4: int8 block scales (QLoRA's double quantization)"),
      llvm::cl::init(false)};
  PassOptions::Option<double> smoothquantAlpha{
      *this, "smoothquant-alpha",
      llvm::cl::desc("SmoothQuant migration strength in [0, 1] before "
                     "quantizing (w8a8, w8a8-dynamic); negative: off"),
      llvm::cl::init(-1.0)};
  PassOptions::Option<std::string> exclude{
      *this, "exclude", llvm::cl::desc("Regex: layers left float")};
  PassOptions::Option<std::string> include{
      *this, "include", llvm::cl::desc("Regex: the only layers quantized")};
  PassOptions::Option<TernaryMode> ternaryMode{
      *this, "ternary-mode",
      llvm::cl::desc("ternary: absmean (post-training) or lossless (only "
                     "weights already ternary)"),
      llvm::cl::init(TernaryMode::Absmean),
      llvm::cl::values(
          clEnumValN(TernaryMode::Absmean, "absmean", "BitNet's absmean"),
          clEnumValN(TernaryMode::Lossless, "lossless",
                     "weights already in {-g, 0, +g} only"))};
  PassOptions::Option<bool> allowNoLayer{
      *this, "allow-no-layer",
      llvm::cl::desc("quantizing no layer is not an error"),
      llvm::cl::init(false)};
  PassOptions::Option<WeightRounding> weightRounding{
      *this, "weight-rounding",
      llvm::cl::desc("Weight rounding: nearest, gptq or auto (need "
                     "calibration-data)"),
      llvm::cl::init(WeightRounding::Nearest),
      llvm::cl::values(
          clEnumValN(WeightRounding::Nearest, "nearest", "round to nearest"),
          clEnumValN(WeightRounding::GPTQ, "gptq",
                     "GPTQ with each layer's input second moment"),
          clEnumValN(WeightRounding::Auto, "auto",
                     "per layer, nearest or GPTQ by output error"))};
  PassOptions::Option<bool> int8Depthwise{
      *this, "int8-depthwise",
      llvm::cl::desc("w8a8: depthwise convolutions in int8 too"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> biasCorrection{
      *this, "bias-correction",
      llvm::cl::desc("Add (W - Wq)·E[x] to each quantized layer's bias "
                     "(needs calibration-data)"),
      llvm::cl::init(false)};
  PassOptions::Option<double> gptqDamp{
      *this, "gptq-damp",
      llvm::cl::desc("GPTQ: fraction of mean(diag H) added to its diagonal"),
      llvm::cl::init(0.01)};
  PassOptions::Option<QuantizedLinearForm> form{
      *this, "form",
      llvm::cl::desc("w8a8: integer layers, or the QDQ form (what the ONNX "
                     "QDQ export writes)"),
      llvm::cl::init(QuantizedLinearForm::QLinear),
      llvm::cl::values(clEnumValN(QuantizedLinearForm::QLinear, "qlinear",
                                  "qopt.qlinear and integer convolutions"),
                       clEnumValN(QuantizedLinearForm::QDQ, "qdq",
                                  "quantize/dequantize around float layers"))};
};

/// [SmoothQuant: insert-observers{kind=channel_absmax} → collect-statistics
/// → smooth-quant] → insert-observers (w8a8) [→ insert-observers{kind=
/// second_moment} with GPTQ or bias correction] → collect-statistics →
/// calibrate (w8a8 only), then qopt-quantize. Option errors (w8a8 without data)
/// surface when the passes run.
void buildPTQPipeline(OpPassManager &pm, const PTQPipelineOptions &options);

/// Registers qopt-collect-statistics and the qopt-ptq pipeline.
void registerPTQPipeline();

} // namespace mlir::qopt

#endif // QOPT_PIPELINES_PTQPIPELINE_H
