//===- QDQTable.h - element-wise chains of one 8-bit input ------*- C++ -*-===//
//
/// \file
/// qopt-fold-qdq's third step: a chain of element-wise ops that reads one
/// per-tensor 8-bit fake quant (and scalar constants) and holds more fake
/// quants (GELU as onnxruntime quantizes it: Div, Erf, Add, Mul, Mul with a
/// Q -> DQ pair after most) is a function of at most 256 values. It is
/// evaluated at compile time on those values (a constant table) and each
/// element reads its entry: one division, rounding and lookup instead of
/// the chain's requantizations.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_DIALECT_QOPT_TRANSFORMS_QDQTABLE_H
#define QOPT_LIB_DIALECT_QOPT_TRANSFORMS_QDQTABLE_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::qopt {

/// One chain replaced by a table.
struct QDQTableChain {
  /// The ONNX node of the chain's first op ("" when unnamed).
  std::string name;
  /// Ops in the chain (element-wise ops and fake quants).
  int64_t ops = 0;
  /// Fake quants inside the chain (requantizations no longer run per
  /// element).
  int64_t fakeQuants = 0;
  /// Table entries (the input fake quant's range).
  int64_t entries = 0;
};

/// Replaces each such chain of `module` by a table and a lookup. The table
/// is evaluated as the CPU code computes the chain, so every element gets
/// bit for bit the value the chain computes there.
std::vector<QDQTableChain> tabulateQuantizedChains(ModuleOp module);

} // namespace mlir::qopt

#endif // QOPT_LIB_DIALECT_QOPT_TRANSFORMS_QDQTABLE_H
