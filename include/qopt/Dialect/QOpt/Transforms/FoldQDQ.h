//===- FoldQDQ.h - QDQ patterns to integer layers ---------------*- C++ -*-===//
//
/// \file
/// The work of `qopt-fold-qdq` as a function, for drivers that list what
/// was folded and what stays float (quant-compile's QDQ report).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_TRANSFORMS_FOLDQDQ_H
#define QOPT_DIALECT_QOPT_TRANSFORMS_FOLDQDQ_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::qopt {

/// One layer of a QDQ model as qopt-fold-qdq saw it.
struct QDQLayer {
  /// The layer's name (weight name or ONNX node).
  std::string name;
  /// `linear` or `conv`.
  std::string kind;
  /// Folded: the integer form (`w8a8`, `w8`, `int4 g32`, ...); stays
  /// float: why.
  std::string detail;
};

/// What qopt-fold-qdq did to a module.
struct QDQFoldResult {
  std::vector<QDQLayer> folded;
  std::vector<QDQLayer> staysFloat;
  /// int32 bias DequantizeLinears of constants evaluated at compile time.
  int64_t foldedBiases = 0;
  /// Q -> DQ pairs removed as the identity: on values already on their grid
  /// (after moves, max pools, ReLU/Clip, concatenations), and absorbed by
  /// the next integer layer's quantization.
  int64_t pairsOnGrid = 0;
  int64_t pairsAbsorbed = 0;
  /// Element-wise chains of one 8-bit input replaced by a table lookup:
  /// the chain's first ONNX node, its ops and fake quants, table entries.
  struct Table {
    std::string name;
    int64_t ops = 0, fakeQuants = 0, entries = 0;
  };
  std::vector<Table> tables;
};

/// True when `module` holds a qopt.dequantize (a QDQ model).
bool hasQDQ(ModuleOp module);

/// Folds every recognized QDQ pattern of `module` into integer layers
/// (see the pass's description); layers with dequantized inputs that do
/// not fold stay float and are listed, each with a remark.
QDQFoldResult foldQDQ(ModuleOp module);

/// `{"folded": [{"layer", "kind", "form"}...], "stays_float": [{"layer",
/// "kind", "reason"}...], "folded_biases": n}`.
std::string qdqFoldResultToJSON(const QDQFoldResult &result);

} // namespace mlir::qopt

#endif // QOPT_DIALECT_QOPT_TRANSFORMS_FOLDQDQ_H
