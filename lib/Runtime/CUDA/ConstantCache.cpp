//===- ConstantCache.cpp - GPU copies of compiled artifacts' constants ----===//
//
// qopt_cuda_constant() gives compiled artifacts a GPU-reachable (managed)
// copy of each of their constants, made at first use and kept while the
// artifact stays loaded, so that a call no longer copies its weights;
// forgetCudaConstants() frees an artifact's copies before it is unloaded.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>

using namespace qopt::rt::cuda;

namespace {

/// GPU copies of compiled artifacts' constants (weights), made at their
/// first use and kept while the artifact stays loaded: a call no longer
/// copies its weights. Keyed by the constant's host address; `base` is the
/// load address of the shared object holding it (forgotten at unload).
struct ConstantCopy {
  uint64_t bytes;
  void *managed;
  void *base;
};

std::mutex &constantsMutex() {
  static std::mutex *m = new std::mutex;
  return *m;
}

std::unordered_map<const void *, ConstantCopy> &constants() {
  static auto *c = new std::unordered_map<const void *, ConstantCopy>;
  return *c;
}

} // namespace

extern "C" {

/// The GPU-reachable (managed) copy of the constant at `host` (`bytes`
/// long), made once: compiled artifacts call this instead of copying their
/// constants on every call. Null (with the error reported) on failure.
void *qopt_cuda_constant(const void *host, uint64_t bytes) {
  if (!host || bytes == 0)
    return nullptr;
  std::lock_guard<std::mutex> lock(constantsMutex());
  auto it = constants().find(host);
  if (it != constants().end() && it->second.bytes == bytes)
    return it->second.managed;
  ScopedContext ctx("qopt_cuda_constant", true);
  if (!ctx)
    return nullptr;
  CUdeviceptr ptr = 0;
  if (!QOPT_CHECK(
          "qopt_cuda_constant", true,
          driver().cuMemAllocManaged(&ptr, bytes, CU_MEM_ATTACH_GLOBAL)))
    return nullptr;
  if (!QOPT_CHECK("qopt_cuda_constant", true,
                  driver().cuMemcpyAsync(ptr, dptr(const_cast<void *>(host)),
                                         bytes, nullptr)) ||
      !QOPT_CHECK("qopt_cuda_constant", true,
                  driver().cuStreamSynchronize(nullptr))) {
    driver().cuMemFree(ptr);
    return nullptr;
  }
  Dl_info info{};
  void *base = dladdr(host, &info) ? info.dli_fbase : nullptr;
  if (it != constants().end()) { // same address, another size: replaced
    qopt::rt::cuda::forgetSparse24(it->second.managed);
    driver().cuMemFree(dptr(it->second.managed));
  }
  constants()[host] = {bytes, reinterpret_cast<void *>(ptr), base};
  return reinterpret_cast<void *>(ptr);
}

} // extern "C"

void qopt::rt::forgetCudaConstants(void *dlHandle) {
  std::lock_guard<std::mutex> lock(constantsMutex());
  if (constants().empty() || !dlHandle)
    return;
  struct link_map *map = nullptr;
  if (dlinfo(dlHandle, RTLD_DI_LINKMAP, &map) != 0 || !map)
    return;
  void *base = reinterpret_cast<void *>(map->l_addr);
  ScopedContext ctx("qopt_cuda_constant", false);
  for (auto it = constants().begin(); it != constants().end();) {
    if (it->second.base == base) {
      qopt::rt::cuda::forgetSparse24(it->second.managed);
      if (ctx)
        driver().cuMemFree(dptr(it->second.managed));
      it = constants().erase(it);
    } else {
      ++it;
    }
  }
}
