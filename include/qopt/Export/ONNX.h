//===- ONNX.h - export quantization as an ONNX QDQ model --------*- C++ -*-===//
//
/// \file
/// Writes the quantization qopt decided for a model back into the ONNX model
/// it came from: QuantizeLinear/DequantizeLinear at every point the W8A8
/// scheme quantizes (each quantized MatMul/Gemm/Conv's input activation per
/// tensor, its weight per output channel), with the scales and zero points
/// as named initializers (`<tensor>_scale`, `<tensor>_zero_point`, as
/// onnxruntime names them); every other node and initializer unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_EXPORT_ONNX_H
#define QOPT_EXPORT_ONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::qopt {

struct ONNXExportOptions {
  /// Quantization-aware training graph: weights stay float behind
  /// QuantizeLinear -> DequantizeLinear (fake quant, learnable scales);
  /// otherwise weights are stored int8 and dequantized (a QDQ model for
  /// deployment).
  bool fakeQuantWeights = false;
  /// Activation range when `module` is still float (no dequantize at all:
  /// `--prepare-qat` without calibration data): every layer gets symmetric
  /// int8 over [-defaultActivationRange, defaultActivationRange] and its
  /// weight's own per-channel range. In a quantized module, layers the
  /// scheme left float stay float.
  double defaultActivationRange = 1.0;
};

/// Exports `module` — the model at `sourcePath` as imported, then quantized
/// W8A8 in the QDQ form (qopt-quantize form=qdq), or still float — by
/// rewriting the source model and writing its protobuf to `os`. Layers are
/// found by their ONNX node names (the ops' locations). Returns the number
/// of layers quantized, or failure with `error` set.
FailureOr<int64_t> exportQDQModel(ModuleOp module, StringRef sourcePath,
                                  llvm::raw_ostream &os,
                                  const ONNXExportOptions &options,
                                  std::string &error);

/// Exports a pruned (and possibly qopt-shrink-structured) float `module`
/// by rewriting the model at `sourcePath`: each layer's weight and bias
/// (qopt.linear, NCHW convolution; found by the ONNX node name in its
/// location) replace its MatMul/Gemm/Conv node's initializers, with their
/// new, smaller shapes (a bias the shrinking created becomes a Gemm C or an
/// Add); Reshape nodes with constant target shapes get the module's static
/// sizes (fewer heads); intermediate value_info is dropped. Returns the
/// number of layers written, or failure with `error` set.
FailureOr<int64_t> exportPrunedModel(ModuleOp module, StringRef sourcePath,
                                     llvm::raw_ostream &os, std::string &error);

} // namespace mlir::qopt

#endif // QOPT_EXPORT_ONNX_H
