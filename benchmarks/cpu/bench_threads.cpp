//===- bench_threads.cpp - the runtime thread pool's hand-off cost --------===//
//
// Built and run by bench_threads.py against a build's libqopt_runtime.so.
// Measures, per call, the time of
//   parallel_for  qopt::rt::parallelFor(n, body) with an empty body over n
//                 = the pool's thread count (what the runtime kernels use);
//   async_group   the calls async-parallel-for's lowering makes for one
//                 parallel loop split in as many blocks as threads: a group,
//                 a token per block, mlirAsyncRuntimeExecute for all blocks
//                 but the caller's, await the group (generated loops use
//                 this path);
//   parallel_for_work  2 x threads indices of 2 µs of work each (4 µs when
//                 the threads share them, more when helpers start late);
// each with `gap` ns of serial work by the caller between calls (inference
// runs short regions separated by serial code, so the workers are between
// spinning and sleeping). Prints one JSON object per line.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace qopt::rt {
void prepareThreads(int artifactDefault);
} // namespace qopt::rt

extern "C" {
int qopt_set_num_threads(int n);
void *mlirAsyncRuntimeCreateToken();
void *mlirAsyncRuntimeCreateGroup(int64_t size);
int64_t mlirAsyncRuntimeAddTokenToGroup(void *token, void *group);
void mlirAsyncRuntimeEmplaceToken(void *token);
void mlirAsyncRuntimeAwaitAllInGroup(void *group);
void mlirAsyncRuntimeDropRef(void *ptr, int64_t count);
void mlirAsyncRuntimeExecute(void *handle, void (*resume)(void *));
}

#ifdef QOPT_BENCH_THREADS_STANDALONE
// bench_threads.py --tsan compiles Threads.cpp and RunGuard.cpp into this
// program under ThreadSanitizer; the one other runtime function they call
// (a bad thread count's error) is this.
#include <string>
typedef int qopt_status;
namespace qopt::rt {
qopt_status fail(std::string message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  return 1;
}
} // namespace qopt::rt
#endif

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int64_t> sink{0};

/// About `ns` nanoseconds of caller work.
void spinFor(int64_t ns) {
  if (ns <= 0)
    return;
  auto end = Clock::now() + std::chrono::nanoseconds(ns);
  while (Clock::now() < end)
    sink.fetch_add(1, std::memory_order_relaxed);
}

struct Block {
  void *token;
};

void runBlock(void *p) {
  auto *b = static_cast<Block *>(p);
  sink.fetch_add(1, std::memory_order_relaxed);
  mlirAsyncRuntimeEmplaceToken(b->token);
}

void asyncGroup(int blocks) {
  void *group = mlirAsyncRuntimeCreateGroup(blocks - 1);
  std::vector<Block> bs(size_t(blocks > 1 ? blocks - 1 : 0));
  for (Block &b : bs) {
    b.token = mlirAsyncRuntimeCreateToken();
    mlirAsyncRuntimeAddTokenToGroup(b.token, group);
    mlirAsyncRuntimeExecute(&b, runBlock);
  }
  sink.fetch_add(1, std::memory_order_relaxed); // the caller's block
  mlirAsyncRuntimeAwaitAllInGroup(group);
  for (Block &b : bs)
    mlirAsyncRuntimeDropRef(b.token, 1);
  mlirAsyncRuntimeDropRef(group, 1);
}

template <typename F>
void measure(const char *what, int threads, int64_t gap, int calls, F f) {
  for (int i = 0; i < calls / 10; ++i) {
    spinFor(gap);
    f();
  }
  std::vector<double> ns(static_cast<size_t>(calls), 0.0);
  for (int i = 0; i < calls; ++i) {
    spinFor(gap);
    auto t0 = Clock::now();
    f();
    ns[size_t(i)] =
        std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  }
  std::sort(ns.begin(), ns.end());
  auto q = [&](double p) { return ns[size_t(p * double(calls - 1))]; };
  std::printf("{\"what\": \"%s\", \"threads\": %d, \"gap_ns\": %lld, "
              "\"calls\": %d, \"median_ns\": %.0f, \"p10_ns\": %.0f, "
              "\"p90_ns\": %.0f, \"p99_ns\": %.0f}\n",
              what, threads, (long long)gap, calls, q(0.5), q(0.1), q(0.9),
              q(0.99));
  std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
  int calls = argc > 1 ? std::atoi(argv[1]) : 20000;
  std::vector<int> threadCounts = {1, 2};
  if (argc > 2)
    threadCounts = {std::atoi(argv[2])};
  for (int t : threadCounts) {
    qopt_set_num_threads(t);
    qopt::rt::prepareThreads(t);
    for (int64_t gap : {0, 2000, 20000, 200000}) {
      int c = gap >= 200000 ? calls / 20 : calls;
      measure("parallel_for", t, gap, c, [t] {
        qopt::rt::parallelFor(
            t, [](int64_t) { sink.fetch_add(1, std::memory_order_relaxed); });
      });
      measure("async_group", t, gap, c, [t] { asyncGroup(t); });
      // 2 µs of work per index, 2 indices per thread: 4 µs when the
      // threads share it, up to 4 µs x threads when the caller does it all.
      measure("parallel_for_work", t, gap, c, [t] {
        qopt::rt::parallelFor(2 * t, [](int64_t) { spinFor(2000); });
      });
    }
  }
  return 0;
}
