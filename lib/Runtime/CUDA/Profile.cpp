//===- Profile.cpp - kernel times by CUDA events (QOPT_CUDA_PROFILE) ------===//
//
// With QOPT_CUDA_PROFILE=FILE, mgpuLaunchKernel and the quantized matmuls
// record a pair of timing events around each launch; when the stream is
// synchronized the elapsed times are added up per kernel name, and at exit
// FILE receives {"kernels": [{"name", "launches", "total_ms", "mean_ms"}]},
// slowest first. Off (the default), nothing is recorded.
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

void qopt::rt::cuda::profileLaunch(const char *name, CUstream stream,
                                   CUevent start) {
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
