//===- Threads.h - the runtime's thread pool --------------------*- C++ -*-===//

#ifndef QOPT_LIB_RUNTIME_THREADS_H
#define QOPT_LIB_RUNTIME_THREADS_H

#include <cstdint>
#include <functional>

namespace qopt::rt {

/// The most threads a pool gets: a larger request (qopt_set_num_threads,
/// $QOPT_NUM_THREADS, an artifact's default) is refused or clamped rather
/// than spawning threads until the process dies.
constexpr int kMaxThreads = 1024;

/// Threads of the pool (at least 1).
int numThreads();

/// Pools created so far (one per thread count used), for tests.
int numPools();

/// Runs body(0) ... body(n - 1) over the pool; the caller takes part and
/// returns when all are done.
void parallelFor(int64_t n, const std::function<void(int64_t)> &body);

/// Drops the kernels' packed copies of constants (see Kernels.cpp).
void clearKernelCaches();

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_THREADS_H
