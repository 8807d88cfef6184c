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
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/// The jump point of the run in progress on this thread, if any.
thread_local std::jmp_buf *activeRun = nullptr;
/// The message of the failure that jumped back to it.
thread_local std::string pendingError;

[[noreturn]] void raise(std::string message) {
  if (!activeRun) {
    // Off the thread that entered the artifact (a worker of a parallel
    // loop): there is no frame to return to. Say why, then stop.
    std::fprintf(stderr, "quant-opt runtime: %s\n", message.c_str());
    std::abort();
  }
  pendingError = std::move(message);
  std::longjmp(*activeRun, 1);
}

} // namespace

bool qopt::rt::runGuarded(void (*entry)(void **), void **args,
                          std::string &error) {
  std::jmp_buf here;
  std::jmp_buf *const saved = activeRun;
  activeRun = &here;
  if (setjmp(here) == 0) {
    entry(args);
    activeRun = saved;
    return true;
  }
  activeRun = saved;
  error = std::move(pendingError);
  pendingError.clear();
  return false;
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
