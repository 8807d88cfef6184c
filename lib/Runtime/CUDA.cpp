//===- CUDA.cpp - the runtime's CUDA layer over the driver API ------------===//
//
// The CUDA driver is loaded with dlopen("libcuda.so.1") at first use and
// its few functions are looked up by name: the runtime links nothing of
// CUDA, loads on machines without a GPU, and every entry point fails with a
// message there instead of crashing. The driver types are declared here
// (handles are opaque pointers), so building needs no CUDA headers either.
//
// On top of the driver:
//  - the host functions MLIR's gpu-to-llvm lowering emits calls to, with the
//    signatures of MLIR 22's mlir/lib/ExecutionEngine/CudaRuntimeWrappers.cpp
//    (mgpuModuleLoad, mgpuLaunchKernel, mgpuStreamCreate, mgpuMemAlloc,
//    ...). They return nothing, so a failure is printed to stderr (with the
//    CUDA error's name and description) and kept in qopt_cuda_last_error();
//    a failed call returns a null handle, which the next call reports rather
//    than hand to the driver. They are exported with C linkage: compiled
//    artifacts resolve them from libqopt_runtime.so when they are loaded.
//    (They are not in qopt_runtime_codegen_symbols(), whose table lives in
//    Symbols.cpp: a JIT that runs GPU code must add them itself.)
//  - the qopt_cuda_* C API of qopt_cuda.h: availability, memory helpers and
//    the GEMV kernels of GPUKernels/Gemv.cu, whose PTX is embedded at build
//    time and JIT-compiled by the driver at first use.
//
// Like upstream's wrappers, every call makes the primary context of the
// default device current for its duration (the context the CUDA runtime and
// PyTorch use, so device pointers and streams are shared with them).
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_cuda.h"

#include "GPUKernels/EmbeddedPTX.h"
#include "RuntimeInternal.h"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using qopt::rt::fail;

namespace {

//===----------------------------------------------------------------------===//
// The driver API subset (types and values as in cuda.h)
//===----------------------------------------------------------------------===//

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = uintptr_t;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_DEINITIALIZED = 4;
constexpr CUresult CUDA_ERROR_STUB_LIBRARY = 34;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;

constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr int CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED = 14;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr int CU_JIT_OPTIMIZATION_LEVEL = 7;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 1;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 2;
constexpr int CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4;

struct CUlaunchAttribute {
  int id;
  char pad[4];
  union {
    char raw[64];
    struct {
      unsigned x, y, z;
    } clusterDim;
  } value;
};
struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute *attrs;
  unsigned numAttrs;
};
static_assert(sizeof(CUlaunchAttribute) == 72, "cuda.h's CUlaunchAttribute");

// X(name, symbol, return, params): `symbol` is the versioned name cuda.h's
// macros map `name` to.
#define QOPT_CUDA_FUNCTIONS(X)                                                 \
  X(cuInit, "cuInit", (unsigned))                                              \
  X(cuDriverGetVersion, "cuDriverGetVersion", (int *))                         \
  X(cuGetErrorName, "cuGetErrorName", (CUresult, const char **))               \
  X(cuGetErrorString, "cuGetErrorString", (CUresult, const char **))           \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int *))                             \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice *, int))                             \
  X(cuDeviceGetName, "cuDeviceGetName", (char *, int, CUdevice))               \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *, int, CUdevice))      \
  X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", (size_t *, CUdevice))             \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",                      \
    (CUcontext *, CUdevice))                                                   \
  X(cuCtxPushCurrent, "cuCtxPushCurrent_v2", (CUcontext))                      \
  X(cuCtxPopCurrent, "cuCtxPopCurrent_v2", (CUcontext *))                      \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                  \
    (CUmodule *, const void *, unsigned, int *, void **))                      \
  X(cuModuleUnload, "cuModuleUnload", (CUmodule))                              \
  X(cuModuleGetGlobal, "cuModuleGetGlobal_v2",                                 \
    (CUdeviceptr *, size_t *, CUmodule, const char *))                         \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void *, CUdeviceptr, size_t))            \
  X(cuModuleGetFunction, "cuModuleGetFunction",                                \
    (CUfunction *, CUmodule, const char *))                                    \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", (CUfunction, int, int))          \
  X(cuLaunchKernel, "cuLaunchKernel",                                          \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,   \
     unsigned, CUstream, void **, void **))                                    \
  X(cuStreamCreate, "cuStreamCreate", (CUstream *, unsigned))                  \
  X(cuStreamDestroy, "cuStreamDestroy_v2", (CUstream))                         \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream))                    \
  X(cuStreamWaitEvent, "cuStreamWaitEvent", (CUstream, CUevent, unsigned))     \
  X(cuEventCreate, "cuEventCreate", (CUevent *, unsigned))                     \
  X(cuEventDestroy, "cuEventDestroy_v2", (CUevent))                            \
  X(cuEventSynchronize, "cuEventSynchronize", (CUevent))                       \
  X(cuEventRecord, "cuEventRecord", (CUevent, CUstream))                       \
  X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr *, size_t))                      \
  X(cuMemAllocManaged, "cuMemAllocManaged", (CUdeviceptr *, size_t, unsigned)) \
  X(cuMemFree, "cuMemFree_v2", (CUdeviceptr))                                  \
  X(cuMemcpyAsync, "cuMemcpyAsync",                                            \
    (CUdeviceptr, CUdeviceptr, size_t, CUstream))                              \
  X(cuMemsetD32Async, "cuMemsetD32Async",                                      \
    (CUdeviceptr, unsigned, size_t, CUstream))                                 \
  X(cuMemsetD16Async, "cuMemsetD16Async",                                      \
    (CUdeviceptr, unsigned short, size_t, CUstream))                           \
  X(cuMemHostRegister, "cuMemHostRegister_v2", (void *, size_t, unsigned))     \
  X(cuMemHostUnregister, "cuMemHostUnregister", (void *))

/// Functions newer drivers have; absent ones are null.
#define QOPT_CUDA_OPTIONAL_FUNCTIONS(X)                                        \
  X(cuLaunchKernelEx, "cuLaunchKernelEx",                                      \
    (const CUlaunchConfig *, CUfunction, void **, void **))

struct Driver {
#define QOPT_DECLARE(name, symbol, params) CUresult(*name) params = nullptr;
  QOPT_CUDA_FUNCTIONS(QOPT_DECLARE)
  QOPT_CUDA_OPTIONAL_FUNCTIONS(QOPT_DECLARE)
#undef QOPT_DECLARE
  bool ok = false;         ///< loaded, initialized, at least one device
  std::string unavailable; ///< why not, when !ok
  int deviceCount = 0;
};

/// Loads and initializes the driver once; never fails loudly.
const Driver &driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *env = std::getenv("QOPT_CUDA_DRIVER");
    const char *path = env && *env ? env : "libcuda.so.1";
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *why = dlerror();
      d.unavailable = std::string("no CUDA driver: cannot load ") + path +
                      " (" + (why ? why : "unknown error") +
                      "); is the NVIDIA driver installed?";
      return;
    }
    std::string missing;
#define QOPT_LOOKUP(name, symbol, params)                                      \
  if (!(d.name = reinterpret_cast<decltype(d.name)>(dlsym(handle, symbol))))   \
    missing += std::string(missing.empty() ? "" : ", ") + symbol;
    QOPT_CUDA_FUNCTIONS(QOPT_LOOKUP)
#undef QOPT_LOOKUP
#define QOPT_LOOKUP_OPTIONAL(name, symbol, params)                             \
  d.name = reinterpret_cast<decltype(d.name)>(dlsym(handle, symbol));
    QOPT_CUDA_OPTIONAL_FUNCTIONS(QOPT_LOOKUP_OPTIONAL)
#undef QOPT_LOOKUP_OPTIONAL
    if (!missing.empty()) {
      d.unavailable = std::string("the CUDA driver ") + path +
                      " lacks functions the runtime needs (" + missing +
                      "): it is too old or not NVIDIA's";
      return;
    }
    CUresult r = d.cuInit(0);
    if (r != CUDA_SUCCESS) {
      const char *name = nullptr, *text = nullptr;
      d.cuGetErrorName(r, &name);
      d.cuGetErrorString(r, &text);
      std::string detail = std::string(name ? name : "CUDA error ") +
                           (name ? "" : std::to_string(r)) +
                           (text ? std::string(": ") + text : "");
      if (r == CUDA_ERROR_STUB_LIBRARY)
        d.unavailable = std::string("no CUDA driver: ") + path +
                        " is the CUDA toolkit's stub library, not a driver (" +
                        detail + ")";
      else if (r == CUDA_ERROR_NO_DEVICE)
        d.unavailable =
            "no CUDA device: the driver found no GPU (" + detail + ")";
      else
        d.unavailable = "the CUDA driver failed to initialize (" + detail + ")";
      return;
    }
    r = d.cuDeviceGetCount(&d.deviceCount);
    if (r != CUDA_SUCCESS || d.deviceCount <= 0) {
      d.deviceCount = 0;
      d.unavailable = "no CUDA device: the driver found no GPU";
      return;
    }
    d.ok = true;
  });
  return d;
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

thread_local std::string cudaError;

std::string describe(CUresult r) {
  const Driver &d = driver();
  const char *name = nullptr, *text = nullptr;
  if (d.cuGetErrorName)
    d.cuGetErrorName(r, &name);
  if (d.cuGetErrorString)
    d.cuGetErrorString(r, &text);
  std::string s = name ? name : "CUDA error " + std::to_string(r);
  if (text)
    s += std::string(" (") + text + ")";
  return s;
}

/// Records `message` as the thread's CUDA error and its runtime error;
/// `print`: also to stderr (for the mgpu* functions, which return nothing).
qopt_status report(const std::string &message, bool print) {
  cudaError = message;
  if (print)
    std::fprintf(stderr, "qopt runtime: %s\n", message.c_str());
  return fail(message);
}

/// A failed driver call `what` inside `where`.
qopt_status reportCall(const char *where, const char *what, CUresult r,
                       bool print) {
  return report(std::string(where) + ": " + what + " failed: " + describe(r),
                print);
}

/// Whether the driver is usable; reports why not (once per call site use).
bool ready(const char *where, bool print) {
  const Driver &d = driver();
  if (d.ok)
    return true;
  report(std::string(where) + ": " + d.unavailable, print);
  return false;
}

#define QOPT_CHECK(where, print, call)                                         \
  [&]() {                                                                      \
    CUresult qoptResult = (call);                                              \
    if (qoptResult != CUDA_SUCCESS) {                                          \
      reportCall(where, #call, qoptResult, print);                             \
      return false;                                                            \
    }                                                                          \
    return true;                                                               \
  }()

//===----------------------------------------------------------------------===//
// Contexts
//===----------------------------------------------------------------------===//

thread_local int32_t defaultDevice = 0;

/// The primary context of `device`, retained once for the process.
CUcontext primaryContext(int device, const char *where, bool print) {
  static std::mutex mutex;
  static std::vector<CUcontext> contexts;
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(mutex);
  if (device < 0 || device >= d.deviceCount) {
    report(std::string(where) + ": no CUDA device " + std::to_string(device) +
               " (" + std::to_string(d.deviceCount) + " present)",
           print);
    return nullptr;
  }
  if (contexts.empty())
    contexts.resize(d.deviceCount, nullptr);
  if (!contexts[device]) {
    CUdevice dev;
    if (!QOPT_CHECK(where, print, d.cuDeviceGet(&dev, device)))
      return nullptr;
    CUcontext ctx = nullptr;
    if (!QOPT_CHECK(where, print, d.cuDevicePrimaryCtxRetain(&ctx, dev)))
      return nullptr;
    contexts[device] = ctx;
  }
  return contexts[device];
}

/// Makes the default device's primary context current for its lifetime.
class ScopedContext {
public:
  ScopedContext(const char *where, bool print) {
    if (!ready(where, print))
      return;
    CUcontext ctx = primaryContext(defaultDevice, where, print);
    if (!ctx)
      return;
    ok_ = QOPT_CHECK(where, print, driver().cuCtxPushCurrent(ctx));
  }
  ~ScopedContext() {
    if (ok_)
      driver().cuCtxPopCurrent(nullptr);
  }
  ScopedContext(const ScopedContext &) = delete;
  ScopedContext &operator=(const ScopedContext &) = delete;
  explicit operator bool() const { return ok_; }

private:
  bool ok_ = false;
};

CUdeviceptr dptr(const void *p) { return reinterpret_cast<CUdeviceptr>(p); }

/// Loads PTX or a cubin/fatbin, with the JIT's error log in the message.
CUmodule loadModule(const void *data, int optLevel, const char *where,
                    bool print) {
  const Driver &d = driver();
  char log[8192] = {0};
  int options[3] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                    CU_JIT_OPTIMIZATION_LEVEL};
  void *values[3] = {log, reinterpret_cast<void *>(sizeof(log)),
                     reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  CUmodule module = nullptr;
  CUresult r = d.cuModuleLoadDataEx(&module, data, optLevel >= 0 ? 3 : 2,
                                    options, values);
  if (r != CUDA_SUCCESS) {
    std::string message =
        std::string(where) + ": cuModuleLoadDataEx failed: " + describe(r);
    if (log[0])
      message += std::string("; JIT log: ") + log;
    report(message, print);
    return nullptr;
  }
  return module;
}

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
  QOPT_CHECK("mgpuLaunchKernel", true,
             driver().cuLaunchKernel(function, gridX, gridY, gridZ, blockX,
                                     blockY, blockZ, smem, stream, params,
                                     extra));
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

CUstream mgpuStreamCreate() {
  ScopedContext ctx("mgpuStreamCreate", true);
  if (!ctx)
    return nullptr;
  {
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.freeStreams.empty()) {
      CUstream s = p.freeStreams.back();
      p.freeStreams.pop_back();
      return s;
    }
  }
  CUstream stream = nullptr;
  if (!QOPT_CHECK("mgpuStreamCreate", true,
                  driver().cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING)))
    return nullptr;
  return stream;
}

void mgpuStreamDestroy(CUstream stream) {
  if (!stream || !ready("mgpuStreamDestroy", true))
    return;
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
  QOPT_CHECK("mgpuStreamSynchronize", true,
             driver().cuStreamSynchronize(stream));
}

void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  if (!ready("mgpuStreamWaitEvent", true))
    return;
  if (!event) {
    report("mgpuStreamWaitEvent: no event (its creation failed)", true);
    return;
  }
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
  QOPT_CHECK("mgpuEventSynchronize", true, driver().cuEventSynchronize(event));
}

void mgpuEventRecord(CUevent event, CUstream stream) {
  if (!ready("mgpuEventRecord", true))
    return;
  if (!event) {
    report("mgpuEventRecord: no event (its creation failed)", true);
    return;
  }
  QOPT_CHECK("mgpuEventRecord", true, driver().cuEventRecord(event, stream));
}

/// `isHostShared`: managed memory, reachable from host and device.
void *mgpuMemAlloc(uint64_t sizeBytes, CUstream /*stream*/, bool isHostShared) {
  ScopedContext ctx("mgpuMemAlloc", true);
  if (!ctx || sizeBytes == 0)
    return nullptr;
  if (isHostShared) {
    Pools &p = pools();
    std::lock_guard<std::mutex> lock(p.mutex);
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
      lock.unlock();
      // Whatever still uses the block finishes before it is handed out
      // again (artifacts free after a wait, so this returns at once).
      if (stream)
        QOPT_CHECK("mgpuMemFree", true, driver().cuStreamSynchronize(stream));
      lock.lock();
      p.freeManaged.emplace(bytes, ptr);
      p.cachedBytes += bytes;
      return;
    }
    if (it != p.managedSize.end())
      p.managedSize.erase(it);
  }
  QOPT_CHECK("mgpuMemFree", true, driver().cuMemFree(dptr(ptr)));
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, CUstream stream) {
  if (sizeBytes == 0)
    return;
  ScopedContext ctx("mgpuMemcpy", true);
  if (!ctx)
    return;
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
  QOPT_CHECK("mgpuMemset16", true,
             driver().cuMemsetD16Async(dptr(dst), value, count, stream));
}

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
  if (it != constants().end()) // same address, another size: replaced
    driver().cuMemFree(dptr(it->second.managed));
  constants()[host] = {bytes, reinterpret_cast<void *>(ptr), base};
  return reinterpret_cast<void *>(ptr);
}

void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes) {
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

//===----------------------------------------------------------------------===//
// qopt_cuda.h: availability, devices, memory
//===----------------------------------------------------------------------===//

int qopt_cuda_available(void) {
  const Driver &d = driver();
  if (!d.ok) {
    cudaError = d.unavailable;
    return 0;
  }
  return 1;
}

const char *qopt_cuda_last_error(void) { return cudaError.c_str(); }

void qopt_cuda_clear_error(void) { cudaError.clear(); }

int qopt_cuda_device_count(void) { return driver().deviceCount; }

int qopt_cuda_driver_version(void) {
  const Driver &d = driver();
  int version = 0;
  if (d.ok)
    d.cuDriverGetVersion(&version);
  return version;
}

qopt_status qopt_cuda_device_info(int device, char *name, size_t size,
                                  int *cc_major, int *cc_minor,
                                  int *multiprocessors, size_t *memory_bytes) {
  const char *where = "qopt_cuda_device_info";
  if (!ready(where, false))
    return QOPT_ERROR;
  const Driver &d = driver();
  CUdevice dev;
  if (device < 0 || device >= d.deviceCount)
    return report(std::string(where) + ": no CUDA device " +
                      std::to_string(device),
                  false);
  if (!QOPT_CHECK(where, false, d.cuDeviceGet(&dev, device)))
    return QOPT_ERROR;
  if (name && size > 0) {
    std::vector<char> buf(256, 0);
    if (!QOPT_CHECK(where, false,
                    d.cuDeviceGetName(buf.data(), int(buf.size()) - 1, dev)))
      return QOPT_ERROR;
    std::snprintf(name, size, "%s", buf.data());
  }
  struct {
    int *out;
    int attribute;
  } attributes[] = {
      {cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR},
      {cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR},
      {multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT}};
  for (auto &a : attributes)
    if (a.out && !QOPT_CHECK(where, false,
                             d.cuDeviceGetAttribute(a.out, a.attribute, dev)))
      return QOPT_ERROR;
  if (memory_bytes &&
      !QOPT_CHECK(where, false, d.cuDeviceTotalMem(memory_bytes, dev)))
    return QOPT_ERROR;
  return QOPT_OK;
}

qopt_status qopt_cuda_malloc(size_t bytes, void **out) {
  const char *where = "qopt_cuda_malloc";
  if (!out)
    return report(std::string(where) + ": no output pointer", false);
  *out = nullptr;
  ScopedContext ctx(where, false);
  if (!ctx)
    return QOPT_ERROR;
  if (bytes == 0)
    return QOPT_OK;
  CUdeviceptr ptr = 0;
  if (!QOPT_CHECK(where, false, driver().cuMemAlloc(&ptr, bytes)))
    return QOPT_ERROR;
  *out = reinterpret_cast<void *>(ptr);
  return QOPT_OK;
}

qopt_status qopt_cuda_free(void *device_ptr) {
  if (!device_ptr)
    return QOPT_OK;
  ScopedContext ctx("qopt_cuda_free", false);
  if (!ctx)
    return QOPT_ERROR;
  return QOPT_CHECK("qopt_cuda_free", false,
                    driver().cuMemFree(dptr(device_ptr)))
             ? QOPT_OK
             : QOPT_ERROR;
}

namespace {
qopt_status copySync(void *dst, const void *src, size_t bytes,
                     const char *where) {
  ScopedContext ctx(where, false);
  if (!ctx)
    return QOPT_ERROR;
  if (bytes == 0)
    return QOPT_OK;
  if (!dst || !src)
    return report(std::string(where) + ": null pointer", false);
  // Unified addressing tells the driver which side each pointer is on.
  const Driver &d = driver();
  if (!QOPT_CHECK(where, false,
                  d.cuMemcpyAsync(dptr(dst), dptr(src), bytes, nullptr)) ||
      !QOPT_CHECK(where, false, d.cuStreamSynchronize(nullptr)))
    return QOPT_ERROR;
  return QOPT_OK;
}
} // namespace

qopt_status qopt_cuda_copy_to_device(void *device_dst, const void *host_src,
                                     size_t bytes) {
  return copySync(device_dst, host_src, bytes, "qopt_cuda_copy_to_device");
}

qopt_status qopt_cuda_copy_to_host(void *host_dst, const void *device_src,
                                   size_t bytes) {
  return copySync(host_dst, device_src, bytes, "qopt_cuda_copy_to_host");
}

qopt_status qopt_cuda_copy_device(void *device_dst, const void *device_src,
                                  size_t bytes) {
  return copySync(device_dst, device_src, bytes, "qopt_cuda_copy_device");
}

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

qopt_status qopt_cuda_synchronize(void *stream) {
  ScopedContext ctx("qopt_cuda_synchronize", false);
  if (!ctx)
    return QOPT_ERROR;
  return QOPT_CHECK("qopt_cuda_synchronize", false,
                    driver().cuStreamSynchronize(static_cast<CUstream>(stream)))
             ? QOPT_OK
             : QOPT_ERROR;
}

const char *qopt_cuda_gemv_ptx(const char *arch) {
  if (!arch)
    return nullptr;
  for (size_t i = 0; i < qopt::rt::kGemvPTXCount; ++i)
    if (std::strcmp(qopt::rt::kGemvPTX[i].arch, arch) == 0)
      return qopt::rt::kGemvPTX[i].text;
  return nullptr;
}

} // extern "C"

//===----------------------------------------------------------------------===//
// GEMV
//===----------------------------------------------------------------------===//

namespace {

/// The kernels' argument: GPUKernels/Gemv.cu's `Params`, field for field.
struct GemvParams {
  const void *x;
  const void *w;
  const void *scales;
  const void *zeros;
  const void *bias;
  void *y;
  int batch, n, k, group;
  int scaleF32;
  int asym;
};
static_assert(sizeof(GemvParams) == 72, "must match Gemv.cu's Params");

constexpr int kFormats = 4;    // f16, i8, i4, u4 (int4 with zero points)
constexpr int kBatchTiles = 2; // n-tiles of 8 batch rows
constexpr int kRowTiles = 2;   // 16-row tiles per block
constexpr int kMaxBatch = 8 * kBatchTiles;

/// The GEMV module of one device: loaded at first use.
struct GemvModule {
  bool tried = false;
  std::string error; ///< why loading failed
  CUmodule module = nullptr;
  CUfunction kernels[kFormats][kBatchTiles][kRowTiles] = {};
  /// Dynamic shared memory per warp (the kernels' cp.async ring).
  int ringBytes[kFormats][kBatchTiles][kRowTiles] = {};
  /// The most bytes of staged x an int4 launch may add (2 * batch * k).
  int xStageBytes = 0;
  int multiprocessors = 0;
};

/// The embedded PTX closest to (and not above) compute capability `cc`.
const qopt::rt::EmbeddedPTX *choosePTX(int cc) {
  const qopt::rt::EmbeddedPTX *best = nullptr;
  int bestArch = -1;
  for (size_t i = 0; i < qopt::rt::kGemvPTXCount; ++i) {
    const auto &e = qopt::rt::kGemvPTX[i];
    int arch = std::atoi(e.arch + 3); // "sm_90"
    if (arch <= cc && arch > bestArch) {
      best = &e;
      bestArch = arch;
    }
  }
  return best;
}

GemvModule *gemvModule(const char *where) {
  static std::mutex mutex;
  static std::vector<GemvModule> modules;
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(mutex);
  if (modules.empty())
    modules.resize(d.deviceCount);
  GemvModule &m = modules[defaultDevice];
  if (!m.tried) {
    m.tried = true;
    int major = 0, minor = 0;
    if (qopt_cuda_device_info(defaultDevice, nullptr, 0, &major, &minor,
                              &m.multiprocessors, nullptr) != QOPT_OK) {
      m.error = cudaError;
    } else if (qopt::rt::kGemvPTXCount == 0) {
      m.error = "the runtime was built without its GPU kernels (nvcc was not "
                "found at build time)";
    } else if (const qopt::rt::EmbeddedPTX *ptx = choosePTX(10 * major + minor);
               !ptx) {
      m.error = "the GEMV kernels need compute capability 8.0 or later; "
                "device " +
                std::to_string(defaultDevice) + " has " +
                std::to_string(major) + "." + std::to_string(minor);
    } else if (!(m.module = loadModule(ptx->text, 4, where, false))) {
      m.error = cudaError;
    } else {
      static const char *names[kFormats] = {"f16", "i8", "i4", "u4"};
      for (int f = 0; f < kFormats && m.error.empty(); ++f)
        for (int nt = 0; nt < kBatchTiles && m.error.empty(); ++nt)
          for (int mt = 0; mt < kRowTiles && m.error.empty(); ++mt) {
            std::string name = std::string("qopt_gemv_") + names[f] + "_n" +
                               std::to_string(nt + 1) + "_m" +
                               std::to_string(mt + 1);
            CUresult r = d.cuModuleGetFunction(&m.kernels[f][nt][mt], m.module,
                                               name.c_str());
            if (r != CUDA_SUCCESS)
              m.error =
                  "kernel " + name + " is missing from the PTX: " + describe(r);
          }
      // The ring size each kernel was compiled with; a block of 8 warps
      // may need more than the default 48 KiB of shared memory.
      CUdeviceptr table = 0;
      size_t tableBytes = 0;
      if (m.error.empty() &&
          (d.cuModuleGetGlobal(&table, &tableBytes, m.module,
                               "qopt_gemv_ring_bytes") != CUDA_SUCCESS ||
           tableBytes != sizeof(m.ringBytes)))
        m.error = "the GEMV PTX lacks its qopt_gemv_ring_bytes table";
      if (m.error.empty()) {
        CUresult r = d.cuMemcpyDtoH(m.ringBytes, table, sizeof(m.ringBytes));
        if (r != CUDA_SUCCESS)
          m.error = "reading qopt_gemv_ring_bytes: " + describe(r);
      }
      // int4 kernels stage x in shared memory when the launch adds room.
      if (m.error.empty() &&
          d.cuModuleGetGlobal(&table, &tableBytes, m.module,
                              "qopt_gemv_xstage_bytes") == CUDA_SUCCESS &&
          tableBytes == sizeof(int)) {
        CUresult r = d.cuMemcpyDtoH(&m.xStageBytes, table, sizeof(int));
        if (r != CUDA_SUCCESS)
          m.error = "reading qopt_gemv_xstage_bytes: " + describe(r);
      }
      for (int f = 0; f < kFormats && m.error.empty(); ++f)
        for (int nt = 0; nt < kBatchTiles && m.error.empty(); ++nt)
          for (int mt = 0; mt < kRowTiles && m.error.empty(); ++mt) {
            const int bytes =
                8 * m.ringBytes[f][nt][mt] + (f >= 2 ? m.xStageBytes : 0);
            if (bytes == 0)
              continue;
            CUresult r = d.cuFuncSetAttribute(
                m.kernels[f][nt][mt],
                CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
            if (r != CUDA_SUCCESS)
              m.error =
                  "allowing " + std::to_string(bytes) +
                  " bytes of shared memory to the GEMV kernels: " + describe(r);
          }
    }
  }
  if (!m.error.empty()) {
    report(std::string(where) + ": " + m.error, false);
    return nullptr;
  }
  return &m;
}

bool aligned(const void *p, uintptr_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

/// Checks the arguments; "" when they are fine.
std::string checkGemv(const qopt_cuda_gemv_args &a) {
  if (!a.x || !a.weight || !a.y)
    return "x, weight and y must be device pointers (one is null)";
  if (a.batch < 1 || a.n < 1 || a.k < 1)
    return "batch, n and k must be positive (got batch " +
           std::to_string(a.batch) + ", n " + std::to_string(a.n) + ", k " +
           std::to_string(a.k) + ")";
  if (a.n > INT32_MAX || a.k > INT32_MAX)
    return "n and k must be below 2^31";
  if ((a.format == QOPT_CUDA_WEIGHT_INT4 ||
       a.format == QOPT_CUDA_WEIGHT_UINT4) &&
      a.group_size > 0 && a.n * (a.k / a.group_size) > INT32_MAX)
    return "int4 weights need n * k / group_size below 2^31";
  if (!aligned(a.x, 16) || !aligned(a.weight, 16))
    return "x and weight must be 16-byte aligned";
  if (!aligned(a.y, 2) || (a.bias && !aligned(a.bias, 2)))
    return "y and bias must be 2-byte aligned";
  bool usesScales = a.format != QOPT_CUDA_WEIGHT_F16;
  switch (a.format) {
  case QOPT_CUDA_WEIGHT_F16:
    if (a.k % 8)
      return "float16 weights need k to be a multiple of 8 (got " +
             std::to_string(a.k) + ")";
    break;
  case QOPT_CUDA_WEIGHT_INT8:
    if (a.k % 16)
      return "int8 weights need k to be a multiple of 16 (got " +
             std::to_string(a.k) + ")";
    break;
  case QOPT_CUDA_WEIGHT_INT4:
  case QOPT_CUDA_WEIGHT_UINT4:
    if (a.group_size <= 0 || a.group_size % 128 || a.k % a.group_size)
      return "int4 weights need a group size that is a multiple of 128 and "
             "divides k (got group size " +
             std::to_string(a.group_size) + ", k " + std::to_string(a.k) + ")";
    if (a.format == QOPT_CUDA_WEIGHT_UINT4 && !a.zero_points)
      return "uint4 weights need zero points";
    break;
  default:
    return "unknown weight format " + std::to_string(int(a.format));
  }
  if (usesScales) {
    if (!a.scales)
      return "int8 and int4 weights need scales";
    if (a.scale_dtype != QOPT_DTYPE_F16 && a.scale_dtype != QOPT_DTYPE_F32)
      return "scales must be float16 or float32";
    if (!aligned(a.scales, a.scale_dtype == QOPT_DTYPE_F32 ? 4 : 2))
      return "scales are not aligned to their element size";
  }
  return "";
}

} // namespace

extern "C" {

qopt_status qopt_cuda_gemv_tuned(const qopt_cuda_gemv_args *args, void *stream,
                                 int row_tiles, int warps) {
  const char *where = "qopt_cuda_gemv";
  if (!args)
    return report(std::string(where) + ": no arguments", false);
  if (std::string problem = checkGemv(*args); !problem.empty())
    return report(std::string(where) + ": " + problem, false);
  if (row_tiles < 0 || row_tiles > kRowTiles || warps < 0 || warps > 8)
    return report(std::string(where) +
                      ": row_tiles must be 0-2 and warps 0-8 (0: automatic)",
                  false);
  ScopedContext ctx(where, false);
  if (!ctx)
    return QOPT_ERROR;
  GemvModule *m = gemvModule(where);
  if (!m)
    return QOPT_ERROR;
  const qopt_cuda_gemv_args &a = *args;
  const int format = a.format == QOPT_CUDA_WEIGHT_F16    ? 0
                     : a.format == QOPT_CUDA_WEIGHT_INT8 ? 1
                     : a.format == QOPT_CUDA_WEIGHT_INT4 ? 2
                                                         : 3;
  const size_t elemBytes = 2;
  for (int64_t b0 = 0; b0 < a.batch; b0 += kMaxBatch) {
    const int batch =
        static_cast<int>(std::min<int64_t>(kMaxBatch, a.batch - b0));
    // The launch shape unless the caller gives it (measured on an H200 by
    // benchmarks/gpu/bench_gemv.py, which sweeps them): one 16-row tile and
    // 8 warps for float16/int8 at batch <= 8 and for narrow layers; two
    // tiles (the cp.async kernels) for int4, or batch > 8, when N >= 8192,
    // with 8 warps while the grid alone would not give each SM about 10
    // warps. int4 at batch > 8 takes two tiles at any N, with 8 warps only
    // for grids under 4 warps an SM (2x4 beat 2x8 by 10-30% from 8192 rows
    // up, 2x8 won at 4096).
    const bool int4Wide = format >= 2 && batch > 8;
    const bool wide = int4Wide || (a.n >= 8192 && (format >= 2 || batch > 8));
    const int mt = row_tiles ? row_tiles : wide ? 2 : 1;
    const int64_t blocks = (a.n + 16 * mt - 1) / (16 * mt);
    const int64_t smallGrid = (int4Wide ? 4 : 10) * m->multiprocessors;
    const int w = warps ? warps : mt == 1 || blocks * 4 < smallGrid ? 8 : 4;
    GemvParams p;
    p.x = static_cast<const char *>(a.x) + b0 * a.k * elemBytes;
    p.w = a.weight;
    p.scales = a.scales;
    p.zeros = a.zero_points;
    p.bias = a.bias;
    p.y = static_cast<char *>(a.y) + b0 * a.n * elemBytes;
    p.batch = batch;
    p.n = static_cast<int>(a.n);
    p.k = static_cast<int>(a.k);
    p.group = static_cast<int>(a.group_size);
    p.scaleF32 = a.scale_dtype == QOPT_DTYPE_F32;
    p.asym = a.format == QOPT_CUDA_WEIGHT_UINT4;
    CUfunction kernel = m->kernels[format][batch > 8 ? 1 : 0][mt - 1];
    // int4 at batch 1: room for x, staged once per block (measured on an
    // H200: it pays at batch 1, and costs at batch 4).
    const int64_t xBytes = 2 * int64_t(batch) * a.k;
    const bool stageX = format >= 2 && batch == 1 && xBytes <= m->xStageBytes;
    const int64_t smem = w * m->ringBytes[format][batch > 8 ? 1 : 0][mt - 1] +
                         (stageX ? xBytes : 0);
    void *params[] = {&p};
    if (!QOPT_CHECK(where, false,
                    driver().cuLaunchKernel(kernel, unsigned(blocks), 1, 1,
                                            32 * w, 1, 1, unsigned(smem),
                                            static_cast<CUstream>(stream),
                                            params, nullptr)))
      return QOPT_ERROR;
  }
  return QOPT_OK;
}

qopt_status qopt_cuda_gemv(const qopt_cuda_gemv_args *args, void *stream) {
  return qopt_cuda_gemv_tuned(args, stream, 0, 0);
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
      if (ctx)
        driver().cuMemFree(dptr(it->second.managed));
      it = constants().erase(it);
    } else {
      ++it;
    }
  }
}
