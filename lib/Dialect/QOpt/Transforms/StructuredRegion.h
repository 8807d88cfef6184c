//===- StructuredRegion.h - where a layer's output channels go --*- C++ -*-===//
//
// The structured region of a linear layer's output channels: every tensor
// and op that carries them, along one dimension per tensor, from the linear
// layers that produce them (output rows) to the linear layers that reduce
// over them (input columns). Every op in between treats the dimension as a
// parallel loop (element-wise ops, transposes, reshapes, batched matmuls and
// softmaxes over other dimensions, as attention has), so that removing a
// slice of it removes independent work and leaves the other slices as they
// were. The slices are counted in `units`: a channel, or a whole attention
// head when a reshape splits the channels into [heads, head_dim]; a tensor
// dimension of size n holds n / units consecutive indices per unit.
//
// Used by qopt-shrink-structured (what can be removed) and qopt-prune
// granularity=heads|neurons (what to score and zero together).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TRANSFORMS_STRUCTUREDREGION_H
#define QOPT_LIB_TRANSFORMS_STRUCTUREDREGION_H

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/IR/Operation.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#include <string>

namespace mlir::qopt {

struct StructuredRegion {
  /// How many units the region's dimension holds.
  int64_t units = 0;
  /// Every tensor carrying the units (not the leaves below) and the
  /// dimension it carries them along.
  llvm::MapVector<Value, int64_t> values;
  /// Operands that are leaves: a `tensor.empty` init or a constant read by
  /// an op of the region, and the dimension the units run along in them.
  SmallVector<std::pair<OpOperand *, int64_t>> leaves;
  /// Linear layers whose output rows hold the units (output dim) and those
  /// whose input columns read them.
  SmallVector<LinearOp> producers, consumers;
  /// The ops of the region (linalg ops, reshapes), in program order.
  SmallVector<Operation *> ops;

  /// Indices per unit along `v`'s dimension.
  int64_t groupOf(Value v) const;
  /// True when a reshape groups the channels (attention heads).
  bool grouped() const;
  /// True when every op is an element-wise `linalg.generic` (identity maps
  /// for the region's tensors): a removed unit's constant value can be
  /// evaluated along the chain.
  bool elementwise() const;
};

/// The region of `layer`'s output channels, or failure with `why` (what it
/// reaches that cannot be shrunk, for a remark).
FailureOr<StructuredRegion> findStructuredRegion(LinearOp layer,
                                                 std::string &why);

/// `values` (a row-major tensor of `shape`) without the indices along `dim`
/// whose unit (index / group) is in `removed`.
std::vector<float> sliceUnits(ArrayRef<float> values, ArrayRef<int64_t> shape,
                              int64_t dim, int64_t group,
                              const std::vector<bool> &removed);

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_STRUCTUREDREGION_H
