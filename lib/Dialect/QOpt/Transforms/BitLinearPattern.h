//===- BitLinearPattern.h - the exporter's BitLinear subgraphs --*- C++ -*-===//
//
// A BitLinear trained in PyTorch (BitNet b1.58's reference code) and
// exported to ONNX as float computes, around its matmul,
//
//   weight      w + (clamp(round(w * S), -1, 1) / S - w),
//               S = 1 / max(mean |w|, 1e-5)                 (per tensor)
//   activation  x + (clamp(round(x * s), -128, 127) / s - x),
//               s = 127 / max(max_k |x|, 1e-5)              (per token)
//
// (the `.detach()` of the straight-through estimator vanishes in export).
// After import these are chains of element-wise linalg.generic ops; this
// matches them on the contraction that consumes them.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TRANSFORMS_BITLINEARPATTERN_H
#define QOPT_LIB_TRANSFORMS_BITLINEARPATTERN_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <optional>

namespace mlir::qopt {

/// A contraction `acc[..., n] = Σ_k A[..., k] · B[k, n]` whose B is the
/// transposed weight-quant chain of a constant f32 weight [N, K].
struct ExportedBitLinear {
  linalg::GenericOp contraction;
  /// The latent float weight constant [N, K].
  Value weight;
  /// The contraction's A operand.
  Value input;
  /// x when A is the activation-quant chain of x, else null.
  Value activation;
};

/// Matches `contraction` (zero-initialized, maps (..., m, k), (k, n),
/// (..., m, n), body mulf + addf).
std::optional<ExportedBitLinear> matchExportedBitLinear(linalg::GenericOp op);

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_BITLINEARPATTERN_H
