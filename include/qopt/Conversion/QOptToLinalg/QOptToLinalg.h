//===- QOptToLinalg.h - qopt to linalg lowering -----------------*- C++ -*-===//
//
/// \file
/// Patterns that lower qopt operations to linalg/arith/math on tensors, for
/// reuse by compilers that embed qopt without running our pass.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_QOPTTOLINALG_QOPTTOLINALG_H
#define QOPT_CONVERSION_QOPTTOLINALG_QOPTTOLINALG_H

namespace mlir {
class RewritePatternSet;

namespace qopt {

/// Adds the patterns of `convert-qopt-to-linalg` to `patterns`: linear,
/// quantize, dequantize, fake_quant and observe.
/// `cpuSparse`: also the CPU-only sparse storage (int8 and weight-only 2:4,
/// CSR).
void populateQOptToLinalgPatterns(RewritePatternSet &patterns,
                                  bool cpuSparse = true);

/// Adds the lowering of qopt.bitlinear (ternary weights) alone; included in
/// populateQOptToLinalgPatterns.
void populateBitLinearToLinalgPatterns(RewritePatternSet &patterns);

} // namespace qopt
} // namespace mlir

#endif // QOPT_CONVERSION_QOPTTOLINALG_QOPTTOLINALG_H
