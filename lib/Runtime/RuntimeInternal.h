//===- RuntimeInternal.h - shared internals of the lean runtime -*- C++ -*-===//
//
// What the runtime's source files share: the tensor struct behind the C
// handle and the thread-local error message. Plain C++17, no LLVM/MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_RUNTIMEINTERNAL_H
#define QOPT_LIB_RUNTIME_RUNTIMEINTERNAL_H

#include "qopt/Runtime/qopt_runtime.h"

#include <cstdint>
#include <string>
#include <vector>

/// A dense C-order tensor. `data` points at the first element; `base` is
/// what must be freed with free(), or null when the data is not owned. A
/// view (qopt_tensor_create_view) sets `release`, which then receives
/// `base` (its context, possibly null) instead.
struct qopt_tensor {
  qopt_dtype dtype = QOPT_DTYPE_INVALID;
  std::vector<int64_t> dims;
  void *data = nullptr;
  void *base = nullptr;
  void (*release)(void *) = nullptr;
  ~qopt_tensor();
};

namespace qopt::rt {

/// Records `message` as the calling thread's last error; returns
/// QOPT_ERROR so that callers can `return fail(...)`.
qopt_status fail(std::string message);

/// Element count of `dims`, or -1 if a dim is negative or the count (times
/// `elemSize` bytes) overflows.
int64_t checkedNumElements(const std::vector<int64_t> &dims, size_t elemSize);

/// A new tensor owning a zeroed buffer (64-byte aligned); null with the
/// error set on a bad dtype/rank/dims.
qopt_tensor *newTensor(qopt_dtype dtype, std::vector<int64_t> dims);

/// Sizes the thread pool before a run: qopt_set_num_threads(), else
/// $QOPT_NUM_THREADS, else `artifactDefault`, else one thread per core.
void prepareThreads(int artifactDefault);

/// Calls the artifact's packed entry; false with `error` set when the
/// compiled code raised a run-time error (qopt_rt_fail, a failed
/// allocation) instead of returning.
bool runGuarded(void (*entry)(void **), void **args, std::string &error);

/// The state of the qopt_model_run() the calling thread works for (null
/// outside a run); see RunGuard.cpp.
struct RunState;
RunState *currentRunState();

/// Counts a task submitted to the pool on behalf of `run` (may be null);
/// runTask() uncounts it.
void taskSubmitted(RunState *run);

/// Runs task(arg) on a worker for `run`: a run-time error inside it is
/// recorded in the run and ends the task instead of the process.
void runTask(RunState *run, void (*task)(void *), void *arg);

/// Called by threads waiting for tasks: if the calling thread's run has
/// failed, abandons the wait (on the thread that entered the artifact:
/// after the run's other tasks ended, returning the first error).
void checkRunFailed();

/// Abandons the current run or task with `message` (as qopt_rt_fail).
[[noreturn]] void failRun(const std::string &message);

/// While alive, an allocation failure on this thread throws std::bad_alloc
/// instead of jumping out of the run: for code that must clean up first
/// (parallelFor waits for its helpers, then fails the run).
class AllocationsThrow {
public:
  AllocationsThrow();
  ~AllocationsThrow();
  AllocationsThrow(const AllocationsThrow &) = delete;
  AllocationsThrow &operator=(const AllocationsThrow &) = delete;

private:
  void *savedJump;
};

/// "float32[2,3]"-style description, for messages.
std::string describe(qopt_dtype dtype, const std::vector<int64_t> &dims);

/// Frees the GPU copies of the constants of the shared object `dlHandle`
/// (qopt_cuda_constant's cache), before it is unloaded.
void forgetCudaConstants(void *dlHandle);

/// The times a profiled run gathers (quant-compile --profile): per region
/// id, the start of the current entry, the total and the count.
struct ProfileRun {
  std::vector<double> start, seconds;
  std::vector<int64_t> calls;
  explicit ProfileRun(size_t n) : start(n), seconds(n), calls(n) {}
};

/// Makes `run` (or none) the calling thread's profile, which
/// qopt_rt_profile_begin/end update; returns the previous one.
ProfileRun *setActiveProfile(ProfileRun *run);

/// A block of memory for the static memory plan's intermediates, grown
/// (never shrunk) to the largest size a run asks for; 64-byte aligned.
struct Arena {
  void *data = nullptr;
  uint64_t bytes = 0;
  Arena() = default;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena();
  /// At least `size` bytes; null when the memory cannot be had.
  void *reserve(uint64_t size);
};

/// Makes `arena` (or none) the one qopt_rt_arena hands to compiled code
/// running on the calling thread; returns the previous one.
Arena *setActiveArena(Arena *arena);

} // namespace qopt::rt

namespace qopt::rt::cuda {
/// Drops the CUDA graphs captured for `model` (qopt_cuda_model_run_graph);
/// called by qopt_model_free.
void forgetModelGraphs(const qopt_model *model);
} // namespace qopt::rt::cuda

#endif // QOPT_LIB_RUNTIME_RUNTIMEINTERNAL_H
