//===- Tensors.h - ONNX TensorProto to MLIR attributes ----------*- C++ -*-===//
//
// Validates untrusted tensors (dims, dtype, byte counts, external data
// location) and turns them into dense_resource or dense attributes.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_IMPORT_ONNX_TENSORS_H
#define QOPT_LIB_IMPORT_ONNX_TENSORS_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <string>

namespace mlir::qopt::onnx_import {

using EmitErrorFn = std::function<InFlightDiagnostic()>;

/// The MLIR element type of an ONNX dtype: f32/f64/f16/bf16, signless
/// integers for (u)int4..64, i1 for bool. Other dtypes (string, complex,
/// float8, float4) are reported as unsupported, naming `what`.
FailureOr<Type> elementTypeFor(int32_t dtype, MLIRContext *ctx,
                               const EmitErrorFn &emitError, StringRef what);

/// Dims of a tensor, each non-negative, whose product fits int64.
FailureOr<SmallVector<int64_t>> checkedDims(ArrayRef<int64_t> dims,
                                            const EmitErrorFn &emitError,
                                            StringRef what);

/// Where tensor data may come from.
struct TensorSource {
  /// Directory external data must resolve inside ("" = external data is an
  /// error).
  std::string externalDataDir;
};

/// Converts `tensor` to an attribute of its type. With a non-empty
/// `resourceName` the data becomes a `dense_resource` blob of that name
/// (bool and 4-bit tensors stay inline `dense`); otherwise an inline
/// `dense` attribute. Every byte count is checked against the dims first.
FailureOr<ElementsAttr> tensorToAttr(const onnx::TensorProto &tensor,
                                     StringRef resourceName,
                                     const TensorSource &source,
                                     MLIRContext *ctx,
                                     const EmitErrorFn &emitError);

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_TENSORS_H
