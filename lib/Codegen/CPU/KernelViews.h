//===- KernelViews.h - runtime kernel calls placed on tensors ---*- C++ -*-===//
//
// qopt-fuse-attention and qopt-fuse-norms replace chains of linalg ops on
// tensors by one runtime kernel call. Before bufferization the call cannot
// take addresses (the buffers are not placed, and deallocation would not
// see the kernel as a user), so it is emitted as
//
//   func.call @qopt_views.NAME.K(i64 | memref ...)   (K: one per signature)
//
// on strided memref views of the tensors (bufferization.to_buffer, then a
// reinterpret_cast selecting the kernel's dims); the result is a fresh
// buffer turned back into a tensor (bufferization.to_tensor restrict
// writable). convert-linalg-to-qopt-kernel-calls lowers each such call to
// NAME's C ABI: every memref operand becomes its address and its element
// strides, i64 operands stay.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_CODEGEN_CPU_KERNELVIEWS_H
#define QOPT_LIB_CODEGEN_CPU_KERNELVIEWS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::qopt {

/// The prefix of the memref-operand form of a kernel call.
inline constexpr StringLiteral kKernelViewsPrefix = "qopt_views.";

/// A strided view of `tensor` with one dim per entry of `srcDims`: dim i is
/// the tensor's dim srcDims[i] (its size and stride), or, for -1, a dim of
/// size `sizes[i]` and stride 0 (broadcast). `sizes` gives every view dim's
/// size (index values).
Value kernelView(OpBuilder &b, Location loc, Value tensor,
                 ArrayRef<int64_t> srcDims, ArrayRef<Value> sizes);

/// A view of an alloc-backed result, like kernelView on a memref.
Value kernelViewOfBuffer(OpBuilder &b, Location loc, Value memref,
                         ArrayRef<int64_t> srcDims, ArrayRef<Value> sizes);

/// A fresh buffer shaped like `like` (a ranked tensor; dynamic sizes read
/// from it).
Value allocLike(OpBuilder &b, Location loc, Value like);

/// `buffer` as a tensor (restrict, writable): the kernel call's result.
Value bufferAsTensor(OpBuilder &b, Location loc, Value buffer);

/// Calls `qopt_views.<name>` with `args`, declaring it once.
void createViewsCall(OpBuilder &b, Location loc, Operation *inModule,
                     StringRef name, ValueRange args);

/// i64 / index helpers.
Value i64Constant(OpBuilder &b, Location loc, int64_t v);
Value dimOf(OpBuilder &b, Location loc, Value tensor, int64_t d);
Value asI64(OpBuilder &b, Location loc, Value index);

/// The f32 constant `v` stands for inside `op`'s body: an arith.constant, or
/// the block argument of an input that is a splat constant tensor.
std::optional<float> scalarConstantIn(linalg::GenericOp op, Value v);

/// `v` is `fill(c)` of a constant c (returned).
std::optional<float> filledWith(Value v);

/// `op` reduces `s` (its first input, identity map) over s's last dim
/// into an init `fill(c)` (the output map drops that dim): c.
std::optional<float> lastDimReduction(linalg::GenericOp op, Value s);

/// `op` is a linalg.generic with all loops parallel.
bool allParallel(linalg::GenericOp op);

/// The body's yielded value (single result).
Value yielded(linalg::GenericOp op);

/// Every use of `v` is by an op in `users`.
bool onlyUsedBy(Value v, ArrayRef<Operation *> users);

} // namespace mlir::qopt

#endif // QOPT_LIB_CODEGEN_CPU_KERNELVIEWS_H
