//===- ShapeHelpers.h - helpers of the shape op builders --------*- C++ -*-===//
//
// Shared by the shape and data-movement builders (Reshape.cpp,
// ConcatSlice.cpp, ExpandTilePad.cpp, Shape.cpp): axis and shape-input
// checks, OpFoldResult arithmetic, and the import-time folding of small
// constants that lets the shape subgraphs exporters emit
// (Shape -> Slice -> Concat -> Reshape) end in constants.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_IMPORT_ONNX_OPS_SHAPEHELPERS_H
#define QOPT_LIB_IMPORT_ONNX_OPS_SHAPEHELPERS_H

#include "OpHelpers.h"

#include <string>

namespace mlir::qopt::onnx_import {

/// Constants up to this many elements are folded at import time.
constexpr int64_t kMaxFoldElements = 4096;

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

/// `ofr` as an index value (an index constant when static).
Value toValue(OpBuilder &b, Location loc, OpFoldResult ofr);

/// Product of `ofrs`, folded when all are static.
OpFoldResult product(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> ofrs);

/// tensor.empty of `sizes` (dynamic where a size is a value).
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elemTy);

/// `shape` as "[2, ?, 3]" for error messages.
std::string shapeString(ArrayRef<int64_t> shape);

/// Normalizes an axis; negative axes are only valid from opset 11.
FailureOr<int64_t> axisOf(ONNXNode &n, int64_t axis, int64_t rank,
                          StringRef what = "axis");

/// Normalizes a list of distinct axes against `rank`.
FailureOr<SmallVector<int64_t>> axesOf(ONNXNode &n, ArrayRef<int64_t> axes,
                                       int64_t rank, StringRef what = "axis");

/// A constant 1-D integer input that must be a constant (a shape, axes,
/// repeats...): its values, or an error naming `what`.
FailureOr<SmallVector<int64_t>>
requireConstInts(ONNXNode &n, int64_t i, StringRef what, StringRef why = "");

/// Static shape and sizes for an output of dims `sizes`.
RankedTensorType typeOfSizes(ArrayRef<OpFoldResult> sizes, Type et);

//===----------------------------------------------------------------------===//
// Import-time folding of small constants
//===----------------------------------------------------------------------===//

/// The small dense constant behind input `i`, or null.
DenseElementsAttr smallConstant(ONNXNode &n, int64_t i);

/// Row-major strides of `shape`.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape);

/// A constant of `outTy` whose element at each multi-index is element
/// `src(index)` of the concatenated values of `ins`. Null when the result
/// is too large to fold.
Value foldGather(OpBuilder &b, Location loc, ArrayRef<DenseElementsAttr> ins,
                 RankedTensorType outTy,
                 function_ref<int64_t(ArrayRef<int64_t>)> src);

//===----------------------------------------------------------------------===//
// Shape computations on dynamic dims (SymbolicShapes.cpp)
//===----------------------------------------------------------------------===//

/// A 1-D (0-D when `scalar`) integer tensor of `elemTy` holding `elems`
/// (index constants or values): a constant when all are constants, else
/// tensor.from_elements.
Value materializeInts(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> elems,
                      bool scalar, Type elemTy);

/// Binds output #0 of `n` to `elems` materialized, and records them as the
/// symbolic elements of that value when some are not constants.
void setSymbolicOutput(ONNXNode &n, ArrayRef<OpFoldResult> elems, bool scalar,
                       Type elemTy, int32_t dtype);

/// Evaluates a shape-arithmetic node (Gather, Slice, Concat, Unsqueeze,
/// Squeeze, Reshape, Cast, Identity, Add, Sub, Mul, Div, Max, Min, Neg, Abs,
/// comparisons, And, Or, Not, Where) on the symbolic elements of its inputs;
/// true when it did (the output is bound, the builder must not run).
bool evaluateSymbolically(ONNXNode &n);

/// The elements of the 1-D (or 0-D) integer input `i` (a shape, starts,
/// repeats...) as index sizes: constants where known at import, symbolic
/// values where the input is a shape computation on dynamic dims, and
/// otherwise read at run time (tensor.extract). Errors name `what`.
FailureOr<SmallVector<OpFoldResult>> dynamicInts(ONNXNode &n, int64_t i,
                                                 StringRef what);

/// Whether index size `size` provably equals dim `d` of `t` at import: the
/// same constant, or a dynamic size that traces back (through casts,
/// destination-style ops, the size operands of tensor.empty, expand_shape
/// and extract_slice, tensor.dim and qopt.linear's leading dims) to the
/// same graph-input dim as `t`'s, dims of one dim_param counting as one.
bool isSameSizeAsDim(ONNXNode &n, OpFoldResult size, Value t, int64_t d);

/// Results sized at run time hold fewer elements than this (2^48).
constexpr int64_t kMaxRunTimeElements = int64_t(1) << 48;

/// Asserts at run time that the product of `sizes` is below
/// kMaxRunTimeElements, computed without overflow and with the sizes read
/// as unsigned (a negative size fails): a result sized by a shape known
/// only at run time must not wrap its byte count. Nothing when all are
/// constants.
void assertSizesFit(ONNXNode &n, ArrayRef<OpFoldResult> sizes);

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_OPS_SHAPEHELPERS_H
