//===- OpHelpers.h - building blocks shared by the op builders --*- C++ -*-===//

#ifndef QOPT_LIB_IMPORT_ONNX_OPS_OPHELPERS_H
#define QOPT_LIB_IMPORT_ONNX_OPS_OPHELPERS_H

#include "../ONNXNode.h"

#include "mlir/IR/Builders.h"

namespace mlir::qopt::onnx_import {

/// Computes one result element from the (broadcast) input elements.
using ElementBodyFn =
    function_ref<Value(OpBuilder &b, Location loc, ValueRange args)>;

/// The numpy-style broadcast of `types`' shapes; reports incompatible static
/// dims on `node`.
FailureOr<SmallVector<int64_t>> broadcastShapes(ONNXNode &node,
                                                ArrayRef<RankedTensorType> types);

/// An element-wise linalg.generic over `inputs` broadcast to a common shape
/// (numpy rules), with result element type `resultElemTy`. A dynamic result
/// dim takes its size from an input whose dim there is dynamic.
FailureOr<Value> buildElementwise(ONNXNode &node, ValueRange inputs,
                                  Type resultElemTy, ElementBodyFn body);

/// tensor.empty of `type`, dynamic sizes read from `source`'s dims at the
/// same positions.
Value emptyTensorLike(OpBuilder &b, Location loc, RankedTensorType type,
                      Value source);

/// A scalar constant of int or float type `type`.
Value scalarConstant(OpBuilder &b, Location loc, Type type, double value);

/// Converts scalar `v` to `to` following ONNX Cast: float<->int with
/// truncation toward zero, signedness from the ONNX dtypes, bool as != 0.
Value convertScalar(OpBuilder &b, Location loc, Value v, Type to,
                    bool srcUnsigned, bool dstUnsigned);

/// The MLIR element type for ONNX dtype `dtype`, reported on `node` when
/// unsupported.
FailureOr<Type> elementTypeForNode(ONNXNode &node, int32_t dtype);

/// Folds Add(qopt.linear without bias, constant [N]) into the linear's
/// bias; binds the node's output and returns true when it did.
bool tryFuseLinearBias(ONNXNode &node);

/// The product of one input and one weight element in the accumulator type;
/// null means float multiplication.
using ConvProductFn =
    function_ref<Value(OpBuilder &b, Location loc, Value x, Value w)>;

/// A Conv of x [N, C, D...] with w [M, C/group, K...] reading the node's
/// Conv attributes; accumulates in `accTy` starting from `bias` ([M], may be
/// null); padding uses `padValue`. Shared by Conv, ConvInteger and
/// QLinearConv (defined in Conv.cpp).
FailureOr<Value> buildConvolution(ONNXNode &n, Value x, Value w, Value bias,
                                  Value padValue, Type accTy,
                                  ConvProductFn product);

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_OPS_OPHELPERS_H
