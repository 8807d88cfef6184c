//===- FuseAttentionMasks.h - boolean attention masks -----------*- C++ -*-===//
//
// qopt-fuse-attention's boolean masks: the scores' `Where(cond, S, fill)`
// (GPT-2's causal mask, `torch.where`) and `Where(cond, fill, S)`
// (`S.masked_fill(cond, fill)`) with a large negative constant fill, as
// the importer lowers Where (one linalg.generic, `select`). A constant
// lower-triangular condition becomes the kernel's causal flag; any other
// condition becomes the kernel's additive mask (`select(cond, 0, fill)`,
// computed once per call from the i1 tensor).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_CODEGEN_CPU_FUSEATTENTIONMASKS_H
#define QOPT_LIB_CODEGEN_CPU_FUSEATTENTIONMASKS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::qopt {

/// An element-wise `select` of the scores with a constant.
struct WhereMask {
  linalg::GenericOp op;
  /// The scores S (an input of `op` with an identity map).
  Value scores;
  /// The i1 condition's operand (read through a broadcast map).
  OpOperand *cond = nullptr;
  /// The constant taken where S is not.
  float fill = 0.0f;
  /// Where(cond, S, fill): S is kept where cond is true; false for
  /// Where(cond, fill, S) (masked_fill).
  bool keepWhenTrue = true;
};

/// `op` is `select(c, S, fill)` or `select(c, fill, S)` on `s` (`op`'s
/// result has s's type), c an i1 tensor broadcast to S (map of loop dims
/// and zeros), fill a constant at most -1e4 or -inf.
std::optional<WhereMask> matchWhereMask(linalg::GenericOp op, Value s);

/// Keys hidden by `w` are exactly the causal ones, key j > query i + (n -
/// m), over S's last two dims (m queries, n keys, both static): the
/// condition is a constant (or a static slice of one) with that pattern.
bool isCausalWhere(const WhereMask &w);

/// The fill can be added instead of selected: -inf (S + -inf is -inf), or
/// at most -1e30, where S + fill rounds to fill for |S| < 1e22.
bool fillIsAdditive(const WhereMask &w);

/// The additive mask equal to `w` on finite scores: a tensor shaped like
/// the condition, 0 where S is kept and `fill` elsewhere (built at the
/// builder's insertion point).
Value additiveMaskOf(OpBuilder &b, Location loc, const WhereMask &w);

} // namespace mlir::qopt

#endif // QOPT_LIB_CODEGEN_CPU_FUSEATTENTIONMASKS_H
