//===- MgpuWrappers.cpp - MLIR's gpu-to-llvm host functions over CUDA -----===//
//
// The host functions MLIR's gpu-to-llvm lowering emits calls to, with the
// signatures of MLIR 22's mlir/lib/ExecutionEngine/CudaRuntimeWrappers.cpp
// (mgpuModuleLoad, mgpuLaunchKernel, mgpuStreamCreate, mgpuMemAlloc, ...).
// They return nothing, so a failure is printed to stderr (with the CUDA
// error's name and description) and kept in qopt_cuda_last_error(); a
// failed call returns a null handle, which the next call reports rather
// than hand to the driver. They are exported with C linkage: compiled
// artifacts resolve them from libqopt_runtime.so when they are loaded.
// (They are not in qopt_runtime_codegen_symbols(), whose table lives in
// Symbols.cpp: a JIT that runs GPU code must add them itself.)
//
// Freed managed buffers and streams are pooled here for reuse;
// qopt_cuda_release_cached() (qopt_cuda.h) empties the pools.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace qopt::rt::cuda;

namespace {

/// Compiled artifacts allocate every buffer (cuMemAllocManaged) and a
/// stream for every launch on each call, and free them before returning;
/// the driver's allocation, first-touch page migration and stream creation
/// then cost far more than the kernels. Freed managed buffers and streams
/// are kept for reuse instead: the next call of the same model gets the
/// same buffers back, already resident on the GPU. At most
/// $QOPT_CUDA_POOL_MB (default 1024) MiB stay cached; 0 turns the cache
/// off. qopt_cuda_release_cached() returns everything to the driver.
struct Pools {
  std::mutex mutex;
  std::unordered_map<void *, size_t> managedSize; // every live managed block
  std::unordered_multimap<size_t, void *> freeManaged;
  size_t cachedBytes = 0;
  std::vector<CUstream> freeStreams;
  /// Blocks freed on a stream whose work may still use them: handed out
  /// again on that stream only (stream order keeps them safe) until the
  /// stream is synchronized, then to anyone.
  std::unordered_map<CUstream, std::vector<std::pair<void *, size_t>>>
      pendingFree;
  /// Pinned host staging buffers: free ones by size, and per stream those
  /// its queued copies use, with the host copies to finish at the sync
  /// (device-to-host copies into pageable memory).
  std::unordered_multimap<size_t, void *> freePinned;
  struct Staged {
    void *pinned;
    size_t bytes;
    void *hostDst; ///< null for host-to-device staging
  };
  std::unordered_map<CUstream, std::vector<Staged>> staged;
  /// Kernel names for QOPT_CUDA_PROFILE ("<name>#<lookup index>").
  std::unordered_map<CUfunction, std::string> names;
  size_t limitBytes() {
    static const size_t limit = [] {
      const char *env = std::getenv("QOPT_CUDA_POOL_MB");
      return static_cast<size_t>(env ? std::strtoull(env, nullptr, 10) : 1024)
             << 20;
    }();
    return limit;
  }
};

Pools &pools() {
  static Pools *p = new Pools; // never destroyed: used from atexit paths
  return *p;
}

/// Copies through pinned staging buffers ($QOPT_CUDA_STAGING=0: off):
/// transfers between pageable host memory and the GPU on a stream then
/// queue like any other work instead of blocking the host.
bool stagingEnabled() {
  static const bool on = [] {
    const char *env = std::getenv("QOPT_CUDA_STAGING");
    return !env || std::strcmp(env, "0") != 0;
  }();
  return on;
}

/// Whether `p` is ordinary (pageable) host memory: the driver knows
/// nothing of it.
bool isPageable(const void *p) {
  unsigned type = 0;
  return driver().cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                        dptr(p)) != CUDA_SUCCESS;
}

/// A pinned buffer of at least `bytes` (caller holds the pool lock).
size_t pinnedSize(size_t bytes);

void *takePinned(Pools &p, size_t bytes) {
  const size_t size = pinnedSize(bytes);
  auto it = p.freePinned.find(size);
  if (it != p.freePinned.end()) {
    void *b = it->second;
    p.freePinned.erase(it);
    return b;
  }
  void *b = nullptr;
  if (driver().cuMemHostAlloc(&b, size, 0) != CUDA_SUCCESS)
    return nullptr;
  return b;
}

/// Staging buffers come in powers of two (64 KiB up): a few sizes serve
/// every call.
size_t pinnedSize(size_t bytes) {
  size_t rounded = std::max<size_t>(size_t(1) << 16, bytes), size = 1;
  while (size < rounded)
    size <<= 1;
  return size;
}

/// After `stream` finished: blocks freed on it go to the common pool,
/// staged device-to-host copies are finished, staging buffers reused.
void releaseStream(CUstream stream) {
  Pools &p = pools();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto pf = p.pendingFree.find(stream);
  if (pf != p.pendingFree.end()) {
    for (auto &[block, bytes] : pf->second)
      p.freeManaged.emplace(bytes, block);
    pf->second.clear();
  }
  auto st = p.staged.find(stream);
  if (st != p.staged.end()) {
    for (Pools::Staged &s : st->second) {
      if (s.hostDst)
        std::memcpy(s.hostDst, s.pinned, s.bytes);
      p.freePinned.emplace(pinnedSize(s.bytes), s.pinned);
    }
    st->second.clear();
  }
}

bool hasPendingWork(CUstream stream) {
  Pools &p = pools();
  std::lock_guard<std::mutex> lock(p.mutex);
  auto pf = p.pendingFree.find(stream);
  auto st = p.staged.find(stream);
  return (pf != p.pendingFree.end() && !pf->second.empty()) ||
         (st != p.staged.end() && !st->second.empty());
}

/// In a call probed or captured for a CUDA graph (qopt_cuda_model_run_graph):
/// `what`, queued on `stream`, must be on the call's stream and before its
/// synchronize, or a graph would miss it.
void graphOp(CUstream stream, const char *what) {
  GraphCapture *g = graphCapture;
  if (!g)
    return;
  if (stream != g->stream)
    g->note(std::string("the call queues ") + what + " outside its stream");
  else if (g->synced)
    g->note(std::string("the call queues ") + what +
            " after its synchronize (the host reads results mid-call)");
}

/// The stream's work is done: staged copies finished, blocks released.
void synchronizeStream(CUstream stream) {
  CUresult r = driver().cuStreamSynchronize(stream);
  if (r != CUDA_SUCCESS) {
    report("mgpuStreamSynchronize: the GPU work of the call failed: " +
               streamFailure(stream, r),
           true);
    return;
  }
  releaseStream(stream);
  profileCollect(stream);
}

} // namespace

thread_local GraphCapture *qopt::rt::cuda::graphCapture = nullptr;

//===----------------------------------------------------------------------===//
// The host functions of MLIR's gpu-to-llvm lowering (MLIR 22 signatures)
//===----------------------------------------------------------------------===//

extern "C" {

/// A cubin or fatbin (or NUL-terminated PTX) embedded by gpu-module-to-binary.
CUmodule mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  ScopedContext ctx("mgpuModuleLoad", true);
  if (!ctx)
    return nullptr;
  if (!data) {
    report("mgpuModuleLoad: no module data", true);
    return nullptr;
  }
  return loadModule(data, -1, "mgpuModuleLoad", true);
}

/// NUL-terminated PTX, compiled by the driver's JIT at `optLevel` (0-4).
CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  ScopedContext ctx("mgpuModuleLoadJIT", true);
  if (!ctx)
    return nullptr;
  if (!data) {
    report("mgpuModuleLoadJIT: no PTX", true);
    return nullptr;
  }
  return loadModule(data, std::clamp(optLevel, 0, 4), "mgpuModuleLoadJIT",
                    true);
}

void mgpuModuleUnload(CUmodule module) {
  if (!module || !driver().ok)
    return;
  // At exit the primary context may be gone already: nothing to free then.
  CUresult r = driver().cuModuleUnload(module);
  if (r != CUDA_SUCCESS && r != CUDA_ERROR_DEINITIALIZED)
    reportCall("mgpuModuleUnload", "cuModuleUnload", r, true);
}

CUfunction mgpuModuleGetFunction(CUmodule module, const char *name) {
  if (!ready("mgpuModuleGetFunction", true))
    return nullptr;
  if (!module) {
    report(std::string("mgpuModuleGetFunction: no module to look up '") +
               (name ? name : "") + "' in (its load failed)",
           true);
    return nullptr;
  }
  CUfunction function = nullptr;
  CUresult r = driver().cuModuleGetFunction(&function, module, name);
  if (r != CUDA_SUCCESS) {
    report(std::string("mgpuModuleGetFunction: kernel '") + name +
               "': " + describe(r),
           true);
    return nullptr;
  }
  {
    // Names for QOPT_CUDA_PROFILE and for errors ("the last kernel ...").
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.names.count(function))
      p.names[function] =
          std::string(name) + "#" + std::to_string(p.names.size());
  }
  return function;
}

namespace {
bool prepareSharedMemory(CUfunction function, int32_t smem, const char *where) {
  if (smem <= 48 * 1024)
    return true;
  const Driver &d = driver();
  CUdevice device;
  int maxShmem = 0;
  if (!QOPT_CHECK(where, true, d.cuDeviceGet(&device, defaultDevice)) ||
      !QOPT_CHECK(where, true,
                  d.cuDeviceGetAttribute(
                      &maxShmem,
                      CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                      device)))
    return false;
  if (smem > maxShmem) {
    report(std::string(where) + ": the kernel asks for " +
               std::to_string(smem) + " bytes of shared memory, the device " +
               "allows " + std::to_string(maxShmem),
           true);
    return false;
  }
  return QOPT_CHECK(
      where, true,
      d.cuFuncSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem));
}
} // namespace

// intptr_t dimensions, as MLIR's index type (upstream's convention).
void mgpuLaunchKernel(CUfunction function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, CUstream stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  ScopedContext ctx("mgpuLaunchKernel", true);
  if (!ctx)
    return;
  if (!function) {
    report("mgpuLaunchKernel: no kernel (its lookup failed)", true);
    return;
  }
  if (!prepareSharedMemory(function, smem, "mgpuLaunchKernel"))
    return;
  graphOp(stream, "a kernel");
  CUevent start = profileStart(stream);
  QOPT_CHECK("mgpuLaunchKernel", true,
             driver().cuLaunchKernel(function, gridX, gridY, gridZ, blockX,
                                     blockY, blockZ, smem, stream, params,
                                     extra));
  Pools &p = pools();
  const char *name = "kernel";
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.names.find(function);
    if (it != p.names.end())
      name = it->second.c_str(); // stable: entries are never erased
  }
  profileLaunch(name, stream, start);
}

void mgpuLaunchClusterKernel(CUfunction function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, CUstream stream, void **params,
                             void **extra, size_t /*paramsCount*/) {
  ScopedContext ctx("mgpuLaunchClusterKernel", true);
  if (!ctx)
    return;
  const Driver &d = driver();
  if (!function) {
    report("mgpuLaunchClusterKernel: no kernel (its lookup failed)", true);
    return;
  }
  if (!d.cuLaunchKernelEx) {
    report("mgpuLaunchClusterKernel: the CUDA driver has no cuLaunchKernelEx "
           "(clusters need CUDA 11.8 or later)",
           true);
    return;
  }
  if (!prepareSharedMemory(function, smem, "mgpuLaunchClusterKernel"))
    return;
  graphOp(stream, "a kernel");
  if (clusterX * clusterY * clusterZ > 8 &&
      !QOPT_CHECK("mgpuLaunchClusterKernel", true,
                  d.cuFuncSetAttribute(
                      function,
                      CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1)))
    return;
  CUlaunchAttribute attr = {};
  attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attr.value.clusterDim = {static_cast<unsigned>(clusterX),
                           static_cast<unsigned>(clusterY),
                           static_cast<unsigned>(clusterZ)};
  CUlaunchConfig config = {};
  config.gridDimX = gridX;
  config.gridDimY = gridY;
  config.gridDimZ = gridZ;
  config.blockDimX = blockX;
  config.blockDimY = blockY;
  config.blockDimZ = blockZ;
  config.sharedMemBytes = smem;
  config.hStream = stream;
  config.attrs = &attr;
  config.numAttrs = 1;
  QOPT_CHECK("mgpuLaunchClusterKernel", true,
             d.cuLaunchKernelEx(&config, function, params, extra));
}

void mgpuStreamSynchronize(CUstream stream);

CUstream mgpuStreamCreate() {
  ScopedContext ctx("mgpuStreamCreate", true);
  if (!ctx)
    return nullptr;
  CUstream stream = nullptr;
  {
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.freeStreams.empty()) {
      stream = p.freeStreams.back();
      p.freeStreams.pop_back();
    }
  }
  if (!stream &&
      !QOPT_CHECK("mgpuStreamCreate", true,
                  driver().cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING)))
    return nullptr;
  if (GraphCapture *g = graphCapture) {
    if (g->stream) {
      g->note("the call uses more than one stream");
    } else {
      g->stream = stream;
      // Captured: the graph is launched on the caller's stream, ordered
      // after its work, so no join here.
      if (g->capture) {
        if (!QOPT_CHECK("mgpuStreamCreate", false,
                        driver().cuStreamBeginCapture(
                            stream, CU_STREAM_CAPTURE_MODE_RELAXED)))
          g->note("cuStreamBeginCapture failed: " + cudaError);
        return stream;
      }
    }
  }
  // In qopt_cuda_model_run: after the work the caller queued on its stream.
  joinCallerStream(stream);
  return stream;
}

void mgpuStreamDestroy(CUstream stream) {
  if (!stream || !ready("mgpuStreamDestroy", true))
    return;
  if (GraphCapture *g = graphCapture; g && g->capture && stream == g->stream) {
    // Kept with the graph: the runtime's per-stream scratch buffers the
    // graph's kernels use stay its own.
    if (!g->synced)
      g->note("the call ends without synchronizing its stream");
    g->keepStream = true;
    return;
  }
  // Work that still holds pooled blocks or staging buffers finishes first.
  if (hasPendingWork(stream))
    synchronizeStream(stream);
  // Kept for the next mgpuStreamCreate (work still queued on it stays
  // ordered before whatever comes next).
  if (pools().limitBytes() > 0) {
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.freeStreams.size() < 64) {
      p.freeStreams.push_back(stream);
      return;
    }
  }
  QOPT_CHECK("mgpuStreamDestroy", true, driver().cuStreamDestroy(stream));
}

void mgpuStreamSynchronize(CUstream stream) {
  ScopedContext ctx("mgpuStreamSynchronize", true);
  if (!ctx)
    return;
  GraphCapture *g = graphCapture;
  if (g && stream != g->stream)
    g->note("the call synchronizes a stream not its own");
  if (g && stream == g->stream) {
    if (g->synced)
      g->note("the call synchronizes its stream more than once (the host "
              "reads results mid-call)");
    bool first = !g->synced;
    g->synced = true;
    if (first && g->capture) {
      // The end of the captured work: instantiate it and run it once.
      const Driver &d = driver();
      CUgraph graph = nullptr;
      if (!QOPT_CHECK("mgpuStreamSynchronize", false,
                      d.cuStreamEndCapture(stream, &graph))) {
        g->note("cuStreamEndCapture failed: " + cudaError);
      } else if (!QOPT_CHECK(
                     "mgpuStreamSynchronize", false,
                     d.cuGraphInstantiateWithFlags(&g->exec, graph, 0))) {
        g->note("cuGraphInstantiate failed: " + cudaError);
        g->exec = nullptr;
      }
      if (graph)
        d.cuGraphDestroy(graph);
      releaseStream(stream);
      if (!g->exec)
        return; // the call runs again without a graph
      CUresult r = d.cuGraphLaunch(g->exec, g->callerStream);
      if (r == CUDA_SUCCESS)
        r = d.cuStreamSynchronize(g->callerStream);
      if (r != CUDA_SUCCESS) {
        report("mgpuStreamSynchronize: the captured graph of the call "
               "failed: " +
                   describe(r),
               true);
        g->note("the captured graph failed: " + describe(r));
      }
      return;
    }
  }
  synchronizeStream(stream);
}

void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  if (!ready("mgpuStreamWaitEvent", true))
    return;
  if (!event) {
    report("mgpuStreamWaitEvent: no event (its creation failed)", true);
    return;
  }
  if (graphCapture)
    graphCapture->note("the call waits for events");
  QOPT_CHECK("mgpuStreamWaitEvent", true,
             driver().cuStreamWaitEvent(stream, event, 0));
}

CUevent mgpuEventCreate() {
  ScopedContext ctx("mgpuEventCreate", true);
  if (!ctx)
    return nullptr;
  CUevent event = nullptr;
  if (!QOPT_CHECK("mgpuEventCreate", true,
                  driver().cuEventCreate(&event, CU_EVENT_DISABLE_TIMING)))
    return nullptr;
  return event;
}

void mgpuEventDestroy(CUevent event) {
  if (!event || !ready("mgpuEventDestroy", true))
    return;
  QOPT_CHECK("mgpuEventDestroy", true, driver().cuEventDestroy(event));
}

void mgpuEventSynchronize(CUevent event) {
  if (!ready("mgpuEventSynchronize", true))
    return;
  if (!event) {
    report("mgpuEventSynchronize: no event (its creation failed)", true);
    return;
  }
  if (graphCapture)
    graphCapture->note("the host waits for an event of the call");
  QOPT_CHECK("mgpuEventSynchronize", true, driver().cuEventSynchronize(event));
}

void mgpuEventRecord(CUevent event, CUstream stream) {
  if (!ready("mgpuEventRecord", true))
    return;
  if (!event) {
    report("mgpuEventRecord: no event (its creation failed)", true);
    return;
  }
  if (graphCapture)
    graphCapture->note("the call records events");
  QOPT_CHECK("mgpuEventRecord", true, driver().cuEventRecord(event, stream));
}

/// `isHostShared`: managed memory, reachable from host and device.
static void *memAlloc(uint64_t sizeBytes, CUstream stream, bool isHostShared);

void *mgpuMemAlloc(uint64_t sizeBytes, CUstream stream, bool isHostShared) {
  void *p = memAlloc(sizeBytes, stream, isHostShared);
  // While capturing, a buffer the graph uses stays the graph's.
  if (p && graphCapture && graphCapture->capture)
    graphCapture->owned.push_back(p);
  return p;
}

static void *memAlloc(uint64_t sizeBytes, CUstream stream, bool isHostShared) {
  ScopedContext ctx("mgpuMemAlloc", true);
  if (!ctx || sizeBytes == 0)
    return nullptr;
  if (isHostShared) {
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
    // A block freed earlier on the same stream: its last users come
    // before whatever this caller queues on that stream.
    if (stream) {
      auto pf = p.pendingFree.find(stream);
      if (pf != p.pendingFree.end())
        for (auto it = pf->second.begin(); it != pf->second.end(); ++it)
          if (it->second == sizeBytes) {
            void *block = it->first;
            pf->second.erase(it);
            p.cachedBytes -= sizeBytes;
            return block;
          }
    }
    auto it = p.freeManaged.find(sizeBytes);
    if (it != p.freeManaged.end()) {
      void *block = it->second;
      p.freeManaged.erase(it);
      p.cachedBytes -= sizeBytes;
      return block;
    }
  }
  CUdeviceptr ptr = 0;
  bool ok = isHostShared
                ? QOPT_CHECK("mgpuMemAlloc", true,
                             driver().cuMemAllocManaged(&ptr, sizeBytes,
                                                        CU_MEM_ATTACH_GLOBAL))
                : QOPT_CHECK("mgpuMemAlloc", true,
                             driver().cuMemAlloc(&ptr, sizeBytes));
  if (!ok)
    return nullptr;
  if (isHostShared) {
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
    p.managedSize[reinterpret_cast<void *>(ptr)] = sizeBytes;
  }
  return reinterpret_cast<void *>(ptr);
}

void mgpuMemFree(void *ptr, CUstream stream) {
  if (!ptr)
    return;
  if (GraphCapture *g = graphCapture;
      g && g->capture &&
      std::find(g->owned.begin(), g->owned.end(), ptr) != g->owned.end())
    return; // the graph's: freed with it
  ScopedContext ctx("mgpuMemFree", true);
  if (!ctx)
    return;
  {
    Pools &p = pools();
    std::unique_lock<std::mutex> lock(p.mutex);
    auto it = p.managedSize.find(ptr);
    if (it != p.managedSize.end() &&
        p.cachedBytes + it->second <= p.limitBytes()) {
      size_t bytes = it->second;
      // On a stream: work queued there may still use the block; it is
      // reused on that stream alone until the stream is synchronized.
      if (stream)
        p.pendingFree[stream].emplace_back(ptr, bytes);
      else
        p.freeManaged.emplace(bytes, ptr);
      p.cachedBytes += bytes;
      return;
    }
    if (it != p.managedSize.end())
      p.managedSize.erase(it);
  }
  if (stream)
    QOPT_CHECK("mgpuMemFree", true, driver().cuStreamSynchronize(stream));
  QOPT_CHECK("mgpuMemFree", true, driver().cuMemFree(dptr(ptr)));
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, CUstream stream) {
  if (sizeBytes == 0)
    return;
  ScopedContext ctx("mgpuMemcpy", true);
  if (!ctx)
    return;
  if (GraphCapture *g = graphCapture) {
    graphOp(stream, "a copy");
    // A graph would read or write the host memory of this call again at
    // every replay.
    unsigned srcType = 0, dstType = 0;
    driver().cuPointerGetAttribute(&srcType, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                   dptr(src));
    driver().cuPointerGetAttribute(&dstType, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                   dptr(dst));
    constexpr unsigned kHost = 1;
    if (srcType == 0 || dstType == 0 || srcType == kHost || dstType == kHost)
      g->note("the call copies between host and device memory");
  }
  // On a stream of its own, a copy from or to pageable host memory goes
  // through a pinned staging buffer, so that it queues instead of blocking.
  if (stream && stagingEnabled()) {
    bool srcHost = isPageable(src), dstHost = isPageable(dst);
    if (srcHost != dstHost) {
      Pools &p = pools();
      std::unique_lock<std::mutex> lock(p.mutex);
      void *pinned = takePinned(p, sizeBytes);
      if (pinned) {
        if (srcHost)
          std::memcpy(pinned, src, sizeBytes);
        p.staged[stream].push_back(
            {pinned, sizeBytes, srcHost ? nullptr : dst});
        lock.unlock();
        QOPT_CHECK("mgpuMemcpy", true,
                   driver().cuMemcpyAsync(dptr(srcHost ? dst : pinned),
                                          dptr(srcHost ? pinned : src),
                                          sizeBytes, stream));
        return;
      }
    }
  }
  QOPT_CHECK("mgpuMemcpy", true,
             driver().cuMemcpyAsync(dptr(dst), dptr(src), sizeBytes, stream));
}

void mgpuMemset32(void *dst, unsigned int value, size_t count,
                  CUstream stream) {
  if (count == 0)
    return;
  ScopedContext ctx("mgpuMemset32", true);
  if (!ctx)
    return;
  graphOp(stream, "a memset");
  QOPT_CHECK("mgpuMemset32", true,
             driver().cuMemsetD32Async(dptr(dst), value, count, stream));
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  CUstream stream) {
  if (count == 0)
    return;
  ScopedContext ctx("mgpuMemset16", true);
  if (!ctx)
    return;
  graphOp(stream, "a memset");
  QOPT_CHECK("mgpuMemset16", true,
             driver().cuMemsetD16Async(dptr(dst), value, count, stream));
}

void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes) {
  if (graphCapture)
    graphCapture->note("the call registers host memory");
  ScopedContext ctx("mgpuMemHostRegister", true);
  if (!ctx || !ptr || sizeBytes == 0)
    return;
  QOPT_CHECK("mgpuMemHostRegister", true,
             driver().cuMemHostRegister(ptr, sizeBytes, 0));
}

void mgpuMemHostUnregister(void *ptr) {
  ScopedContext ctx("mgpuMemHostUnregister", true);
  if (!ctx || !ptr)
    return;
  QOPT_CHECK("mgpuMemHostUnregister", true, driver().cuMemHostUnregister(ptr));
}

/// A ranked memref descriptor {allocated, aligned, offset, sizes[rank],
/// strides[rank]} (dense, as upstream requires).
void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes) {
  if (!descriptor)
    return;
  auto *words = static_cast<int64_t *>(descriptor);
  char *aligned = reinterpret_cast<char *>(words[1]);
  int64_t bytes = elementSizeBytes;
  for (int64_t i = 0; i < rank; ++i)
    bytes *= words[3 + i];
  mgpuMemHostRegister(aligned + words[2] * elementSizeBytes,
                      static_cast<uint64_t>(bytes));
}

void mgpuMemHostUnregisterMemRef(int64_t /*rank*/, void *descriptor,
                                 int64_t elementSizeBytes) {
  if (!descriptor)
    return;
  auto *words = static_cast<int64_t *>(descriptor);
  char *aligned = reinterpret_cast<char *>(words[1]);
  mgpuMemHostUnregister(aligned + words[2] * elementSizeBytes);
}

void mgpuSetDefaultDevice(int32_t device) { defaultDevice = device; }

/// qopt_cuda.h: returns the pooled buffers and streams to the driver.
qopt_status qopt_cuda_release_cached(void) {
  if (!qopt_cuda_available())
    return QOPT_OK;
  ScopedContext ctx("qopt_cuda_release_cached", false);
  if (!ctx)
    return QOPT_ERROR;
  Pools &p = pools();
  std::lock_guard<std::mutex> lock(p.mutex);
  bool ok = true;
  for (auto &entry : p.freeManaged) {
    void *block = entry.second;
    p.managedSize.erase(block);
    ok &= QOPT_CHECK("qopt_cuda_release_cached", false,
                     driver().cuMemFree(dptr(block)));
  }
  p.freeManaged.clear();
  p.cachedBytes = 0;
  for (CUstream s : p.freeStreams)
    ok &= QOPT_CHECK("qopt_cuda_release_cached", false,
                     driver().cuStreamDestroy(s));
  p.freeStreams.clear();
  return ok ? QOPT_OK : QOPT_ERROR;
}

} // extern "C"
