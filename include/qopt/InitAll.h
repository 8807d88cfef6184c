//===- InitAll.h - register qopt and what it builds on --*- C++ -*-===//
//
/// \file
/// One call for tools and embedders: the qopt dialect, every upstream dialect
/// and extension, every qopt pass and pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_INITALL_H
#define QOPT_INITALL_H

namespace mlir {
class DialectRegistry;

namespace qopt {

/// Adds the qopt dialect to `registry`.
void registerQOptDialect(DialectRegistry &registry);

/// Adds qopt and every upstream dialect and interface extension.
void registerAllDialects(DialectRegistry &registry);

/// Registers every qopt pass and pipeline and every upstream pass with the
/// global pass registry (for command-line and textual pipelines).
void registerAllPasses();

} // namespace qopt
} // namespace mlir

#endif // QOPT_INITALL_H
