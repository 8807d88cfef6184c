//===- IntegerDepthwise.h - W8A8 depthwise convolutions in int8 -*- C++ -*-===//
//
// qopt-quantize's W8A8 form of the importer's depthwise convolutions (a
// grouped convolution with one input channel per group, a linalg.generic:
// lib/Import/ONNX/Ops/Conv.cpp, groupedConv).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TRANSFORMS_INTEGERDEPTHWISE_H
#define QOPT_LIB_TRANSFORMS_INTEGERDEPTHWISE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::qopt {

/// Rewrites every float depthwise convolution of `module` whose filter is a
/// constant and whose input a calibrated range observer reads, and whose
/// ONNX node name `selected` accepts: the input quantized per tensor to int8
/// with the observer's parameters (uint8 shifted by -128), the filter to
/// int8 per output channel (symmetric, [-127, 127]), an i8 x i8 -> i32
/// grouped convolution, and the epilogue `init + float(acc - zx * Σ w[f]) *
/// sx * sw[f]`. Returns how many were rewritten; a failure has been
/// reported on the op.
FailureOr<int64_t>
quantizeDepthwiseConvs(ModuleOp module,
                       function_ref<bool(const std::string &)> selected);

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_INTEGERDEPTHWISE_H
