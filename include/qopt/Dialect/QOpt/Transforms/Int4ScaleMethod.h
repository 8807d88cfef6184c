//===- Int4ScaleMethod.h - qopt-quantize's int4-scale option ----*- C++ -*-===//
//
/// \file
/// The values of qopt-quantize's `int4-scale` option; qopt-quantize maps
/// them to ::qopt::Int4Scale (qopt/Support/Int4Blocks.h, which documents
/// the formulas). Kept apart from the Support header so that Passes.h does
/// not bring a top-level `qopt` namespace next to `mlir::qopt`.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_TRANSFORMS_INT4SCALEMETHOD_H
#define QOPT_DIALECT_QOPT_TRANSFORMS_INT4SCALEMETHOD_H

namespace mlir::qopt {

/// How qopt-quantize picks a symmetric int4 block's scale.
enum class Int4ScaleMethod { MSE, SignedExtreme, AbsMax, MinMax };

} // namespace mlir::qopt

#endif // QOPT_DIALECT_QOPT_TRANSFORMS_INT4SCALEMETHOD_H
