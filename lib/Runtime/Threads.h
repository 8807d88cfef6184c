//===- Threads.h - the runtime's thread pool --------------------*- C++ -*-===//

#ifndef QOPT_LIB_RUNTIME_THREADS_H
#define QOPT_LIB_RUNTIME_THREADS_H

#include <cstdint>
#include <functional>

namespace qopt::rt {

/// Threads of the pool (at least 1).
int numThreads();

/// Runs body(0) ... body(n - 1) over the pool; the caller takes part and
/// returns when all are done.
void parallelFor(int64_t n, const std::function<void(int64_t)> &body);

/// Drops the kernels' packed copies of constants (see Kernels.cpp).
void clearKernelCaches();

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_THREADS_H
