//===- Threads.cpp - thread pool and MLIR's async runtime ABI -------------===//
//
// Compiled models run their parallel loops through MLIR's async dialect
// (async-parallel-for), whose lowering calls the `mlirAsyncRuntime*`
// functions. This file implements that ABI over our own thread pool, so
// artifacts need no MLIR runtime library. Reference-count conventions
// follow MLIR's: tokens and values start at 2 (one reference is dropped
// when they are emplaced), groups at 1.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"
#include "RuntimeInternal.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

using namespace qopt::rt;

//===----------------------------------------------------------------------===//
// Thread pool
//===----------------------------------------------------------------------===//

namespace {

/// Spins this many times (tens of µs) before a thread blocks: inference
/// issues many short parallel regions, and waking a sleeping thread costs
/// more than most of them.
constexpr int kSpinIterations = 65536;

/// One spin step; every 256th yields the core, in case the thread we wait
/// for is not running (more threads than free cores).
inline void cpuRelax(int spin = 1) {
  if ((spin & 255) == 255) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

class ThreadPool {
public:
  explicit ThreadPool(int n) {
    // The caller of parallelFor is one of the n threads.
    for (int i = 0; i + 1 < n; ++i)
      workers.emplace_back([this] { work(); });
    threads = n;
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping.store(true);
    }
    cv.notify_all();
    for (std::thread &t : workers)
      t.join();
  }
  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(std::move(task));
      queued.fetch_add(1, std::memory_order_release);
    }
    if (sleeping.load(std::memory_order_acquire) > 0)
      cv.notify_one();
  }
  /// Runs one queued task on the calling thread, if there is one: a thread
  /// waiting for tasks helps instead of idling until a worker wakes.
  bool runOne() {
    if (queued.load(std::memory_order_acquire) <= 0)
      return false;
    std::function<void()> task;
    if (!tryPop(task))
      return false;
    task();
    return true;
  }
  /// Threads that run work: the workers plus the calling thread.
  int size() const { return threads; }
  /// With no workers (one thread), tasks run on the submitting thread.
  bool hasWorkers() const { return !workers.empty(); }

private:
  bool tryPop(std::function<void()> &task) {
    std::lock_guard<std::mutex> lock(mu);
    if (queue.empty())
      return false;
    task = std::move(queue.front());
    queue.pop_front();
    queued.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }
  void work() {
    for (;;) {
      std::function<void()> task;
      for (int spin = 0; spin < kSpinIterations && !task; ++spin) {
        if (queued.load(std::memory_order_acquire) > 0 && tryPop(task))
          break;
        if (stopping.load(std::memory_order_relaxed))
          break;
        cpuRelax(spin);
      }
      if (!task) {
        std::unique_lock<std::mutex> lock(mu);
        sleeping.fetch_add(1);
        cv.wait(lock, [this] { return stopping || !queue.empty(); });
        sleeping.fetch_sub(1);
        if (queue.empty())
          return;
        task = std::move(queue.front());
        queue.pop_front();
        queued.fetch_sub(1, std::memory_order_relaxed);
      }
      task();
    }
  }
  std::vector<std::thread> workers;
  std::deque<std::function<void()>> queue;
  std::atomic<int> queued{0}, sleeping{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  int threads = 1;
};

std::atomic<int> requestedThreads{0};
std::mutex poolMu;
// The current pool. A pool replaced because the thread count changed is
// kept, not destroyed (a run on another thread may still be using it), and
// reused when that count comes back: one pool per count ever used, so
// alternating counts cannot pile up threads. (Pools are leaked at exit,
// where workers may still be parked.)
std::atomic<ThreadPool *> pool{nullptr};
std::map<int, ThreadPool *> poolsBySize; // guarded by poolMu

/// A count from $QOPT_NUM_THREADS within [1, kMaxThreads], else 0.
int envThreads() {
  const char *env = std::getenv("QOPT_NUM_THREADS");
  if (!env)
    return 0;
  char *end = nullptr;
  long v = std::strtol(env, &end, 10);
  return end != env && *end == 0 && v >= 1 && v <= kMaxThreads ? int(v) : 0;
}

/// qopt_set_num_threads, else $QOPT_NUM_THREADS, else the artifact's
/// default, else one per core; never more than kMaxThreads.
int effectiveThreads(int artifactDefault = 0) {
  int n = requestedThreads.load();
  if (n <= 0)
    n = envThreads();
  if (n <= 0)
    n = artifactDefault;
  if (n <= 0)
    n = int(std::thread::hardware_concurrency());
  return std::clamp(n, 1, kMaxThreads);
}

/// The pool of `n` threads (poolMu held), created on first use.
ThreadPool *poolOfSize(int n) {
  ThreadPool *&p = poolsBySize[n];
  if (!p)
    p = new ThreadPool(n);
  return p;
}

ThreadPool &getPool() {
  if (ThreadPool *p = pool.load(std::memory_order_acquire))
    return *p;
  std::lock_guard<std::mutex> lock(poolMu);
  if (!pool.load())
    pool.store(poolOfSize(effectiveThreads()), std::memory_order_release);
  return *pool.load();
}

} // namespace

void qopt::rt::prepareThreads(int artifactDefault) {
  int n = effectiveThreads(artifactDefault);
  if (ThreadPool *p = pool.load(std::memory_order_acquire); p && p->size() == n)
    return;
  std::lock_guard<std::mutex> lock(poolMu);
  ThreadPool *p = pool.load();
  if (p && p->size() == n)
    return;
  pool.store(poolOfSize(n), std::memory_order_release);
}

int qopt::rt::numPools() {
  std::lock_guard<std::mutex> lock(poolMu);
  return int(poolsBySize.size());
}

int qopt::rt::numThreads() { return getPool().size(); }

void qopt::rt::parallelFor(int64_t n,
                           const std::function<void(int64_t)> &body) {
  if (n <= 0)
    return;
  int threads = numThreads();
  if (n == 1 || threads == 1) {
    bool failed = false;
    {
      AllocationsThrow throwing;
      try {
        for (int64_t i = 0; i < n; ++i)
          body(i);
      } catch (...) {
        failed = true;
      }
    }
    if (failed)
      failRun("a runtime kernel could not allocate its scratch memory");
    return;
  }
  // Workers and the caller take indices from one counter, the caller first
  // (it is running; a helper may still be waking up). The caller waits for
  // the indices, not for the helpers: once every index is done it returns,
  // and a helper that starts later finds none left and never touches
  // `body` (only `shared`, which it co-owns). So a call whose helpers are
  // slow to start (asleep, or their core busy) costs the caller the
  // submission, not the wake-up.
  struct Shared {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    std::atomic<bool> failed{false};
    std::atomic<bool> waiting{false};
    std::mutex mu;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  // An exception (std::bad_alloc from a kernel's scratch buffer) must not
  // leave a worker: it is recorded, the indices after it are counted done
  // without running, and the caller fails the run once all are done.
  auto run = [shared, n, &body] {
    AllocationsThrow throwing; // on the caller: do not jump past the helpers
    for (int64_t i; (i = shared->next.fetch_add(1)) < n;) {
      if (!shared->failed.load(std::memory_order_relaxed)) {
        try {
          body(i);
        } catch (...) {
          shared->failed.store(true);
        }
      }
      // The last index wakes a caller that went to sleep (seq_cst with
      // its `waiting` store: one of the two sees the other).
      if (shared->done.fetch_add(1) + 1 == n && shared->waiting.load()) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->cv.notify_all();
      }
    }
  };
  int helpers = int(std::min<int64_t>(threads, n)) - 1;
  for (int h = 0; h < helpers; ++h)
    getPool().submit([run] { run(); });
  run();
  bool finished = false;
  for (int spin = 0; spin < kSpinIterations && !finished; ++spin) {
    finished = shared->done.load(std::memory_order_acquire) == n;
    cpuRelax(spin);
  }
  if (!finished) {
    shared->waiting.store(true);
    std::unique_lock<std::mutex> lock(shared->mu);
    shared->cv.wait(lock, [&] { return shared->done.load() == n; });
  }
  if (shared->failed.load())
    failRun("a runtime kernel could not allocate its scratch memory");
}

extern "C" {
qopt_status qopt_set_num_threads(int n) {
  if (n < 0 || n > kMaxThreads)
    return qopt::rt::fail("qopt_set_num_threads(" + std::to_string(n) +
                          "): the thread count must be 0 (one per core) to " +
                          std::to_string(kMaxThreads));
  requestedThreads = n;
  return QOPT_OK;
}
int qopt_get_num_threads(void) { return effectiveThreads(); }
}

//===----------------------------------------------------------------------===//
// MLIR async runtime ABI
//===----------------------------------------------------------------------===//

namespace {

using Awaiter = std::function<void()>;

/// How often a thread blocked on a token or group checks whether a task of
/// its run failed (such a task never completes its token).
constexpr std::chrono::milliseconds kFailurePoll{2};
using CoroHandle = void *;
using CoroResume = void (*)(void *);

struct RefCounted {
  explicit RefCounted(int64_t initial) : refs(initial) {}
  virtual ~RefCounted() = default;
  void addRef(int64_t n = 1) { refs.fetch_add(n); }
  void dropRef(int64_t n = 1) {
    if (refs.fetch_sub(n) == n)
      delete this;
  }
  std::atomic<int64_t> refs;
};

enum class State { Unavailable, Available, Error };

/// Tokens and values: a state that becomes final once, and the awaiters to
/// run then.
struct Completion : RefCounted {
  Completion() : RefCounted(2) {}
  std::mutex mu;
  std::condition_variable cv;
  State state = State::Unavailable;
  std::vector<Awaiter> awaiters;

  void finish(State final) {
    std::vector<Awaiter> run;
    {
      std::lock_guard<std::mutex> lock(mu);
      state = final;
      run.swap(awaiters);
    }
    cv.notify_all();
    for (Awaiter &a : run)
      a();
    dropRef(); // the reference the producer held
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, kFailurePoll,
                        [this] { return state != State::Unavailable; })) {
      lock.unlock();
      checkRunFailed(); // a failed task never completes what we wait for
      lock.lock();
    }
  }
  /// Runs `a` now if finished, else when finished.
  void onDone(Awaiter a) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (state == State::Unavailable) {
        awaiters.push_back(std::move(a));
        return;
      }
    }
    a();
  }
};

struct AsyncToken : Completion {};
struct AsyncValue : Completion {
  explicit AsyncValue(int64_t size) : storage(size_t(size > 0 ? size : 1)) {}
  std::vector<int8_t> storage;
};

struct AsyncGroup : RefCounted {
  explicit AsyncGroup(int64_t size)
      : RefCounted(1), pending(size), remaining(size) {}
  std::mutex mu;
  std::condition_variable cv;
  int64_t pending;
  std::atomic<int64_t> remaining; // `pending`, readable without the lock
  int64_t rank = 0;
  bool error = false;
  std::vector<Awaiter> awaiters;

  void tokenDone(bool isError) {
    std::vector<Awaiter> run;
    bool done;
    {
      std::lock_guard<std::mutex> lock(mu);
      error |= isError;
      done = --pending == 0;
      if (done)
        run.swap(awaiters);
    }
    remaining.fetch_sub(1, std::memory_order_release);
    if (done)
      cv.notify_all();
    for (Awaiter &a : run)
      a();
  }
};

void execute(CoroHandle handle, CoroResume resume) {
  ThreadPool &pool = getPool();
  if (!pool.hasWorkers()) {
    resume(handle); // one thread: run inline
    return;
  }
  // The task runs for the run that submitted it: a run-time error inside
  // it ends the task and fails that run (RunGuard.cpp).
  RunState *run = currentRunState();
  taskSubmitted(run);
  pool.submit([handle, resume, run] { runTask(run, resume, handle); });
}

} // namespace

extern "C" {

void mlirAsyncRuntimeAddRef(void *ptr, int64_t count) {
  static_cast<RefCounted *>(ptr)->addRef(count);
}
void mlirAsyncRuntimeDropRef(void *ptr, int64_t count) {
  static_cast<RefCounted *>(ptr)->dropRef(count);
}
AsyncToken *mlirAsyncRuntimeCreateToken() { return new AsyncToken; }
AsyncValue *mlirAsyncRuntimeCreateValue(int64_t size) {
  return new AsyncValue(size);
}
AsyncGroup *mlirAsyncRuntimeCreateGroup(int64_t size) {
  return new AsyncGroup(size);
}
int64_t mlirAsyncRuntimeAddTokenToGroup(AsyncToken *token, AsyncGroup *group) {
  int64_t rank;
  {
    std::lock_guard<std::mutex> lock(group->mu);
    rank = group->rank++;
  }
  group->addRef(); // alive until the token is done
  token->onDone([token, group] {
    group->tokenDone(token->state == State::Error);
    group->dropRef();
  });
  return rank;
}
void mlirAsyncRuntimeEmplaceToken(AsyncToken *t) {
  t->finish(State::Available);
}
void mlirAsyncRuntimeEmplaceValue(AsyncValue *v) {
  v->finish(State::Available);
}
void mlirAsyncRuntimeSetTokenError(AsyncToken *t) { t->finish(State::Error); }
void mlirAsyncRuntimeSetValueError(AsyncValue *v) { v->finish(State::Error); }
bool mlirAsyncRuntimeIsTokenError(AsyncToken *t) {
  std::lock_guard<std::mutex> lock(t->mu);
  return t->state == State::Error;
}
bool mlirAsyncRuntimeIsValueError(AsyncValue *v) {
  std::lock_guard<std::mutex> lock(v->mu);
  return v->state == State::Error;
}
bool mlirAsyncRuntimeIsGroupError(AsyncGroup *g) {
  std::lock_guard<std::mutex> lock(g->mu);
  return g->error;
}
void mlirAsyncRuntimeAwaitToken(AsyncToken *t) { t->wait(); }
void mlirAsyncRuntimeAwaitValue(AsyncValue *v) { v->wait(); }
void mlirAsyncRuntimeAwaitAllInGroup(AsyncGroup *g) {
  // The awaiting thread runs queued tasks (most often the group's own
  // blocks that no worker has picked up yet) instead of idling until a
  // worker wakes for them.
  ThreadPool &pool = getPool();
  for (int spin = 0; spin < kSpinIterations; ++spin) {
    if (g->remaining.load(std::memory_order_acquire) == 0)
      return;
    if (pool.runOne())
      continue;
    cpuRelax(spin);
  }
  std::unique_lock<std::mutex> lock(g->mu);
  while (!g->cv.wait_for(lock, kFailurePoll, [g] { return g->pending == 0; })) {
    lock.unlock();
    checkRunFailed(); // a failed task never completes its token
    lock.lock();
  }
}
int8_t *mlirAsyncRuntimeGetValueStorage(AsyncValue *v) {
  return v->storage.data();
}
void mlirAsyncRuntimeExecute(CoroHandle handle, CoroResume resume) {
  execute(handle, resume);
}
void mlirAsyncRuntimeAwaitTokenAndExecute(AsyncToken *t, CoroHandle handle,
                                          CoroResume resume) {
  t->onDone([handle, resume] { resume(handle); });
}
void mlirAsyncRuntimeAwaitValueAndExecute(AsyncValue *v, CoroHandle handle,
                                          CoroResume resume) {
  v->onDone([handle, resume] { resume(handle); });
}
void mlirAsyncRuntimeAwaitAllInGroupAndExecute(AsyncGroup *g, CoroHandle handle,
                                               CoroResume resume) {
  {
    std::lock_guard<std::mutex> lock(g->mu);
    if (g->pending != 0) {
      g->awaiters.push_back([handle, resume] { resume(handle); });
      return;
    }
  }
  resume(handle);
}
// (sic) MLIR's name.
int64_t mlirAsyncRuntimGetNumWorkerThreads() { return numThreads(); }
void mlirAsyncRuntimePrintCurrentThreadId() {
  std::printf("Current thread id: %zu\n",
              std::hash<std::thread::id>()(std::this_thread::get_id()));
}

} // extern "C"
