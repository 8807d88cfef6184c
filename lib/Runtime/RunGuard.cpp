//===- RunGuard.cpp - errors raised by compiled code while it runs --------===//
//
// What the ONNX spec makes an error at run time (dynamic dims that do not
// agree, a Reshape whose element count differs, an integer division by
// zero, an allocation that fails) is checked by the compiled code, which
// calls qopt_rt_fail() with a message naming the node. The run is then
// abandoned: qopt_model_run() set a jump point before entering the
// artifact and returns QOPT_ERROR with the message. Compiled code holds no
// destructors, so jumping over its frames is safe; the buffers it had
// allocated for that run are not freed (a failed run leaks them).
//
// Parallel loops run as tasks on the thread pool's workers. A task runs
// under its own jump point (runTask): a failure there records the message
// in the run's RunState and ends only that task. The thread that entered
// the artifact notices the failure while it waits for tasks (the awaits
// poll checkRunFailed), waits until no task of the run is still running,
// so none writes into buffers its caller is about to free, and returns
// the first message.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <thread>

namespace qopt::rt {

/// What the threads working for one qopt_model_run() share.
struct RunState {
  std::thread::id owner = std::this_thread::get_id();
  /// Tasks submitted for this run that have not finished (queued or
  /// running).
  std::atomic<int64_t> inflight{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error; // the first failure's message (mu)

  void recordFailure(std::string message) {
    std::lock_guard<std::mutex> lock(mu);
    if (!failed.load()) {
      error = std::move(message);
      failed.store(true, std::memory_order_release);
    }
  }
};

} // namespace qopt::rt

using qopt::rt::RunState;

namespace {

/// The jump point of the run or task in progress on this thread, if any.
thread_local std::jmp_buf *activeJump = nullptr;
/// The run this thread works for (set on the entering thread and inside
/// tasks), if any.
thread_local RunState *currentRun = nullptr;
/// The message of the failure that jumped back to activeJump.
thread_local std::string pendingError;

[[noreturn]] void raise(std::string message) {
  if (!activeJump) {
    // Outside any run or task (a kernel's own helper thread): there is no
    // frame to return to. Say why, then stop.
    std::fprintf(stderr, "quant-opt runtime: %s\n", message.c_str());
    std::abort();
  }
  pendingError = std::move(message);
  std::longjmp(*activeJump, 1);
}

/// Saves and restores the calling thread's run context around a run or a
/// task.
struct ScopedContext {
  ScopedContext(std::jmp_buf *jump, RunState *run)
      : savedJump(activeJump), savedRun(currentRun) {
    activeJump = jump;
    currentRun = run;
  }
  ~ScopedContext() {
    activeJump = savedJump;
    currentRun = savedRun;
  }
  std::jmp_buf *savedJump;
  RunState *savedRun;
};

/// operator new's handler while runs are possible: inside a run (or a task
/// of one) an allocation failure in a runtime kernel fails the run like
/// qopt_rt_fail, instead of a std::bad_alloc unwinding into compiled code
/// (which has no unwind tables: std::terminate). Elsewhere it defers to the
/// handler the process had, else throws as operator new would.
std::new_handler previousNewHandler = nullptr;
void runNewHandler() {
  if (activeJump)
    raise("a runtime kernel could not allocate its memory");
  if (previousNewHandler)
    previousNewHandler();
  else
    throw std::bad_alloc();
}

void installNewHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::new_handler previous = std::set_new_handler(runNewHandler);
    previousNewHandler = previous == runNewHandler ? nullptr : previous;
  });
}

} // namespace

bool qopt::rt::runGuarded(void (*entry)(void **), void **args,
                          std::string &error) {
  installNewHandler();
  RunState run;
  std::jmp_buf here;
  ScopedContext context(&here, &run);
  if (setjmp(here) == 0) {
    entry(args);
    // A worker may still be between completing its last token and
    // uncounting its task: `run` must outlive that.
    while (run.inflight.load(std::memory_order_acquire) != 0)
      std::this_thread::yield();
    return true;
  }
  // A task's failure reaches this thread through checkRunFailed(), which
  // has already waited for the run's other tasks.
  error = std::move(pendingError);
  pendingError.clear();
  return false;
}

RunState *qopt::rt::currentRunState() { return currentRun; }

void qopt::rt::taskSubmitted(RunState *run) {
  if (run)
    run->inflight.fetch_add(1, std::memory_order_relaxed);
}

void qopt::rt::runTask(RunState *run, void (*task)(void *), void *arg) {
  {
    std::jmp_buf here;
    ScopedContext context(&here, run);
    if (setjmp(here) != 0) {
      if (run)
        run->recordFailure(std::move(pendingError));
      else
        std::fprintf(stderr, "quant-opt runtime: %s\n", pendingError.c_str());
      pendingError.clear();
    } else if (!run || !run->failed.load(std::memory_order_acquire)) {
      // A task of a run that has already failed is skipped: its inputs
      // may be incomplete.
      task(arg);
    }
  }
  if (run)
    run->inflight.fetch_sub(1, std::memory_order_release);
}

void qopt::rt::checkRunFailed() {
  RunState *run = currentRun;
  if (!run || !run->failed.load(std::memory_order_acquire))
    return;
  if (std::this_thread::get_id() == run->owner) {
    // Let every task of the run end first.
    while (run->inflight.load(std::memory_order_acquire) != 0)
      std::this_thread::yield();
    std::string message;
    {
      std::lock_guard<std::mutex> lock(run->mu);
      message = run->error;
    }
    raise(std::move(message));
  }
  // A task waiting inside the failed run ends too.
  raise("the run failed on another thread");
}

void qopt::rt::failRun(const std::string &message) { raise(message); }

qopt::rt::AllocationsThrow::AllocationsThrow() : savedJump(activeJump) {
  activeJump = nullptr;
}
qopt::rt::AllocationsThrow::~AllocationsThrow() {
  activeJump = static_cast<std::jmp_buf *>(savedJump);
}

extern "C" {

[[noreturn]] void qopt_rt_fail(const char *message) {
  raise(message ? message : "the compiled model failed");
}

void *qopt_rt_malloc(uint64_t size) {
  void *p = std::malloc(size);
  if (!p && size)
    raise("cannot allocate " + std::to_string(size) +
          " bytes for an intermediate tensor");
  return p;
}

void *qopt_rt_aligned_alloc(uint64_t alignment, uint64_t size) {
  void *p = std::aligned_alloc(alignment, size);
  if (!p && size)
    raise("cannot allocate " + std::to_string(size) +
          " bytes for an intermediate tensor");
  return p;
}

} // extern "C"
