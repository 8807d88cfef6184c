//===- Profile.cpp - kernel times by CUDA events (QOPT_CUDA_PROFILE) ------===//
//
// With QOPT_CUDA_PROFILE=FILE, mgpuLaunchKernel and the quantized matmuls
// record a pair of timing events around each launch; when the stream is
// synchronized the elapsed times are added up per kernel name, and at exit
// FILE receives {"kernels": [{"name", "launches", "total_ms", "mean_ms"}]},
// slowest first. Off (the default), nothing is recorded.
//
// Always: the last kernel queued on each stream, so that an error the
// stream reports at its synchronize (a call synchronizes once, at its end)
// names a kernel; QOPT_CUDA_SYNC=1 synchronizes after every launch instead,
// naming the one that failed.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace qopt::rt::cuda;

namespace {

struct Pending {
  const char *name;
  CUevent start, end;
};

struct Totals {
  long launches = 0;
  double ms = 0;
};

struct Profile {
  std::mutex mutex;
  std::unordered_map<CUstream, std::vector<Pending>> pending;
  std::map<std::string, Totals> totals;
};

Profile &profile() {
  static Profile *p = new Profile;
  return *p;
}

const char *profileFile() {
  static const char *file = std::getenv("QOPT_CUDA_PROFILE");
  return file && *file ? file : nullptr;
}

void writeProfile() {
  Profile &p = profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  std::vector<std::pair<std::string, Totals>> rows(p.totals.begin(),
                                                   p.totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
    return a.second.ms > b.second.ms;
  });
  FILE *f = std::fopen(profileFile(), "w");
  if (!f)
    return;
  std::fprintf(f, "{\"kernels\": [");
  for (size_t i = 0; i < rows.size(); ++i)
    std::fprintf(f,
                 "%s\n {\"name\": \"%s\", \"launches\": %ld, \"total_ms\": "
                 "%.6f, \"mean_ms\": %.6f}",
                 i ? "," : "", rows[i].first.c_str(), rows[i].second.launches,
                 rows[i].second.ms,
                 rows[i].second.ms / rows[i].second.launches);
  std::fprintf(f, "\n]}\n");
  std::fclose(f);
}

} // namespace

bool qopt::rt::cuda::profilingKernels() {
  static const bool on = [] {
    if (!profileFile())
      return false;
    std::atexit(writeProfile);
    return true;
  }();
  return on;
}

CUevent qopt::rt::cuda::profileStart(CUstream stream) {
  if (!profilingKernels())
    return nullptr;
  CUevent e = nullptr;
  if (driver().cuEventCreate(&e, 0) != CUDA_SUCCESS)
    return nullptr;
  driver().cuEventRecord(e, stream);
  return e;
}

namespace {
struct LastKernels {
  std::mutex mutex;
  std::unordered_map<CUstream, const char *> last;
};
LastKernels &lastKernels() {
  static LastKernels *l = new LastKernels;
  return *l;
}
} // namespace

bool qopt::rt::cuda::syncEachLaunch() {
  static const bool on = [] {
    const char *env = std::getenv("QOPT_CUDA_SYNC");
    return env && *env && std::string(env) != "0";
  }();
  return on;
}

std::string qopt::rt::cuda::lastKernelOn(CUstream stream) {
  LastKernels &l = lastKernels();
  std::lock_guard<std::mutex> lock(l.mutex);
  auto it = l.last.find(stream);
  return it == l.last.end() || !it->second ? std::string() : it->second;
}

std::string qopt::rt::cuda::streamFailure(CUstream stream, CUresult r) {
  std::string k = lastKernelOn(stream);
  std::string s = describe(r);
  if (!k.empty())
    s += "; the last kernel queued on the stream was '" + k +
         "' (QOPT_CUDA_SYNC=1 waits after each launch to name the failing "
         "kernel)";
  return s;
}

void qopt::rt::cuda::profileLaunch(const char *name, CUstream stream,
                                   CUevent start) {
  {
    LastKernels &l = lastKernels();
    std::lock_guard<std::mutex> lock(l.mutex);
    l.last[stream] = name;
  }
  if (syncEachLaunch()) {
    CUresult r = driver().cuStreamSynchronize(stream);
    if (r != CUDA_SUCCESS)
      report(std::string("kernel '") + (name ? name : "?") +
                 "' failed: " + describe(r),
             true);
  }
  if (!start)
    return;
  CUevent end = nullptr;
  if (driver().cuEventCreate(&end, 0) != CUDA_SUCCESS)
    return;
  driver().cuEventRecord(end, stream);
  Profile &p = profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.pending[stream].push_back({name, start, end});
}

void qopt::rt::cuda::profileCollect(CUstream stream) {
  if (!profilingKernels())
    return;
  Profile &p = profile();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto it = p.pending.find(stream);
  if (it == p.pending.end())
    return;
  for (Pending &e : it->second) {
    float ms = 0;
    if (driver().cuEventSynchronize(e.end) == CUDA_SUCCESS &&
        driver().cuEventElapsedTime(&ms, e.start, e.end) == CUDA_SUCCESS) {
      Totals &t = p.totals[e.name];
      ++t.launches;
      t.ms += ms;
    }
    driver().cuEventDestroy(e.start);
    driver().cuEventDestroy(e.end);
  }
  it->second.clear();
}
