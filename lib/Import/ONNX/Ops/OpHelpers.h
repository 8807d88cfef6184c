//===- OpHelpers.h - building blocks shared by the op builders --*- C++ -*-===//

#ifndef QOPT_LIB_IMPORT_ONNX_OPS_OPHELPERS_H
#define QOPT_LIB_IMPORT_ONNX_OPS_OPHELPERS_H

#include "../ONNXNode.h"

#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Builders.h"

namespace mlir::qopt::onnx_import {

/// Computes one result element from the (broadcast) input elements.
using ElementBodyFn =
    function_ref<Value(OpBuilder &b, Location loc, ValueRange args)>;

/// The numpy-style broadcast of `types`' shapes; reports incompatible static
/// dims on `node`.
FailureOr<SmallVector<int64_t>>
broadcastShapes(ONNXNode &node, ArrayRef<RankedTensorType> types);

/// An element-wise linalg.generic over `inputs` broadcast to a common shape
/// (numpy rules), with result element type `resultElemTy`. A dynamic result
/// dim takes its size from an input whose dim there is dynamic.
FailureOr<Value> buildElementwise(ONNXNode &node, ValueRange inputs,
                                  Type resultElemTy, ElementBodyFn body);

/// Asserts at run time (cf.assert: a run-time error naming the node in
/// artifacts, see qopt-lower-asserts) that `ok` holds; `what` follows the
/// node in the message.
void assertAtRunTime(ONNXNode &node, Value ok, const Twine &what);

/// Asserts at run time that no element of `v` satisfies `isBad` (one pass
/// over `v`, an OR reduction to one i1).
void assertNoElement(
    ONNXNode &node, Value v,
    function_ref<Value(OpBuilder &, Location, Value element)> isBad,
    const Twine &what);

/// Asserts at run time (cf.assert, a run-time error in artifacts) that the
/// inputs' dynamic dims agree with each other and with the static size of
/// the broadcast `shape`: element-wise loops index every input with the
/// output's indices, so a shorter input would be read past its end.
void assertDynamicDimsAgree(ONNXNode &node, ValueRange inputs,
                            ArrayRef<int64_t> shape);

/// Asserts at run time that dim `dimA` of `a` equals dim `dimB` of `b`
/// (nothing when both are static: the importer checks those itself);
/// `what` follows the node in the message.
void assertSameSize(ONNXNode &node, Value a, int64_t dimA, Value b,
                    int64_t dimB, const Twine &what);

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

/// The MLIR element type of a node's result of ONNX dtype `dtype` (as
/// elementTypeFor, 4-bit types excluded), reported on `node` when
/// unsupported.
FailureOr<Type> elementTypeForNode(ONNXNode &node, int32_t dtype);

/// `axis` normalized against input #0 (named `what` in the error), which
/// must have rank >= 1.
FailureOr<int64_t> inputAxis(ONNXNode &n, int64_t axis,
                             StringRef what = "input");

/// Folds Add(qopt.linear without bias, constant [N]) into the linear's
/// bias; binds the node's output and returns true when it did.
bool tryFuseLinearBias(ONNXNode &node);

/// Records that `out`, the result of Transpose node `node` with permutation
/// `perm`, is the [1, 0] transpose of a 2-D float constant (when it is), so
/// that MatMul(x, Transpose(W)) imports as qopt.linear on W itself.
void noteTransposedWeight(ONNXNode &node, Value out, ArrayRef<int64_t> perm);

/// When input `idx` of `node` is an f32 tensor computed from one constant
/// by reshapes (Reshape, Squeeze, Unsqueeze, Flatten), transposes and
/// float Casts only, that chain evaluated into a new f32 constant (named
/// after the constant's initializer; shared by every node reading the same
/// value), else null. MatMul and Gemm use it as a constant weight
/// (WeightFolding.cpp).
Value foldConstantWeight(ONNXNode &node, int64_t idx);
/// Folds inference BatchNormalization node `n` (epsilon `eps`) into the f32
/// 2-D Conv with constant weights that produces its input and nothing else
/// uses, when the statistics and affine parameters are constants: binds the
/// node's output to the Conv and returns true when it did
/// (FoldBatchNorm.cpp).
bool tryFoldBatchNormIntoConv(ONNXNode &n, double eps);

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

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

/// The type a reduction or statistic accumulates in: f32 for floats narrower
/// than 32 bits (f16, bf16), `elemTy` otherwise.
Type accumulatorType(Type elemTy);

/// The smallest (`lowest`) or largest value of int or float type `ty`:
/// -inf/+inf for floats, so that they are neutral for max/min; integer
/// limits follow `isUnsigned`.
Value extremeConstant(OpBuilder &b, Location loc, Type ty, bool lowest,
                      bool isUnsigned);

/// (d0, ..., d{rank-1}) -> (the dims not marked in `reduced`).
AffineMap keptDimsMap(ArrayRef<bool> reduced, MLIRContext *ctx);

/// tensor.empty of `x`'s shape without the `reduced` dims, element type
/// `elemTy`; dynamic sizes read from `x`.
Value emptyReduced(OpBuilder &b, Location loc, Value x, ArrayRef<bool> reduced,
                   Type elemTy);

/// Combines the input elements `ins` into the accumulator `acc`.
using CombineFn =
    function_ref<Value(OpBuilder &, Location, ValueRange ins, Value acc)>;

/// A linalg.generic over the loops of `x`'s shape that reduces the loops
/// marked in `reduced` into an `accTy` tensor (without those dims) that starts
/// as `init`. `ins` are read through `inMaps`.
Value reduceLoops(OpBuilder &b, Location loc, Value x, ArrayRef<bool> reduced,
                  ValueRange ins, ArrayRef<AffineMap> inMaps, Type accTy,
                  Value init, CombineFn combine);

/// Puts the `reduced` dims of a reduction result back as unit dims
/// (keepdims).
Value expandReduced(OpBuilder &b, Location loc, Value v,
                    ArrayRef<bool> reduced);

/// Number of elements in the `reduced` dims of `x` (dynamic dims included),
/// as a scalar of int or float type `ty`.
Value reducedCount(OpBuilder &b, Location loc, Value x, ArrayRef<bool> reduced,
                   Type ty);

//===----------------------------------------------------------------------===//
// Unit dims and matmuls
//===----------------------------------------------------------------------===//

/// Reassociation that maps a rank-`rank` shape onto the same shape without
/// its unit dim `pos` (that dim joins its neighbour's group).
SmallVector<ReassociationIndices> reassocDropping(int64_t rank, int64_t pos);

/// Inserts a unit dim at `pos` (tensor.expand_shape).
Value insertUnitDim(OpBuilder &b, Location loc, Value v, int64_t pos);

/// Drops the unit dim at `pos` (tensor.collapse_shape).
Value dropUnitDim(OpBuilder &b, Location loc, Value v, int64_t pos);

/// The indexing maps of a batched matmul's extra operands, given the number
/// of loops and the loop dims of the output rows (`m`) and columns (`n`).
using MatmulExtraMapsFn = function_ref<SmallVector<AffineMap>(
    int64_t loops, AffineExpr m, AffineExpr n)>;

/// One step of a batched matmul: the new accumulator from
/// (a, b, extra operands..., acc).
using MatmulBodyFn =
    function_ref<Value(OpBuilder &b, Location loc, ValueRange args)>;

/// A batched matmul A[..., M, K] x B[..., K, N] with numpy broadcasting of
/// the batch dims, as one linalg.generic (loops batch..., m, n, k) into an
/// `accTy` tensor that starts at 0. Both ranks >= 2. `extraIns` are read
/// through the maps `extraMaps` returns (may be null when there are none).
/// A null `body` multiplies and adds in `accTy` (float or int).
FailureOr<Value> buildBatchMatmul(ONNXNode &n, Value a, Value b, Type accTy,
                                  ValueRange extraIns = {},
                                  MatmulExtraMapsFn extraMaps = nullptr,
                                  MatmulBodyFn body = nullptr);

/// numpy matmul: buildBatchMatmul where a 1-D A (B) first gets a unit dim
/// in front (at the end), dropped again from the result. Both ranks >= 1.
FailureOr<Value> buildMatmul(ONNXNode &n, Value a, Value b, Type accTy,
                             ValueRange extraIns = {},
                             MatmulExtraMapsFn extraMaps = nullptr,
                             MatmulBodyFn body = nullptr);

//===----------------------------------------------------------------------===//
// Index values and dims
//===----------------------------------------------------------------------===//

/// An index constant (arith.constant of index type).
Value cIndex(OpBuilder &b, Location loc, int64_t v);

/// Size of dim `d` of tensor `t`: an index attribute when static, a
/// tensor.dim otherwise.
OpFoldResult dimOFR(OpBuilder &b, Location loc, Value t, int64_t d);

/// Size of dim `d` of tensor `t` as an index value: an index constant when
/// static, a tensor.dim otherwise.
Value dimValue(OpBuilder &b, Location loc, Value t, int64_t d);

/// An integer (signed or unsigned) or float scalar as an index; floats are
/// truncated toward zero.
Value toIndex(OpBuilder &b, Location loc, Value v, bool isUnsigned = false);

/// Loop `d` of the enclosing linalg op (linalg.index).
Value loopIndex(OpBuilder &b, Location loc, int64_t d);

/// The map (d0..d[numDims-1]) -> (d[first], ..., d[first + count - 1]).
AffineMap dimRangeMap(MLIRContext *ctx, int64_t numDims, int64_t first,
                      int64_t count);

/// An all-parallel linalg.generic writing `init` (identity map) from
/// `inputs` (maps `inputMaps`); `body` gets the input elements.
Value parallelGeneric(
    OpBuilder &b, Location loc, ValueRange inputs,
    ArrayRef<AffineMap> inputMaps, Value init,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body);

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_OPS_OPHELPERS_H
