//===- Profile.cpp - per-region timers of profiled artifacts --------------===//
//
// Code compiled with qopt-instrument-profile calls qopt_rt_profile_begin and
// qopt_rt_profile_end(id) around each kernel call and generated loop nest,
// always on the thread that entered the artifact (parallel loops and
// kernels wait for their workers before returning). qopt_model_run makes a
// ProfileRun the thread's active profile while profiling is on; otherwise
// the calls return at once.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <chrono>

namespace {
thread_local qopt::rt::ProfileRun *activeProfile = nullptr;

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
} // namespace

qopt::rt::ProfileRun *qopt::rt::setActiveProfile(ProfileRun *run) {
  ProfileRun *previous = activeProfile;
  activeProfile = run;
  return previous;
}

extern "C" {

void qopt_rt_profile_begin(int64_t id) {
  qopt::rt::ProfileRun *run = activeProfile;
  if (!run || id < 0 || uint64_t(id) >= run->start.size())
    return;
  run->start[id] = now();
}

void qopt_rt_profile_end(int64_t id) {
  qopt::rt::ProfileRun *run = activeProfile;
  if (!run || id < 0 || uint64_t(id) >= run->start.size())
    return;
  run->seconds[id] += now() - run->start[id];
  ++run->calls[id];
}

} // extern "C"
