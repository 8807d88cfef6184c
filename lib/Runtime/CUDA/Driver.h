//===- Driver.h - what the runtime's CUDA layer shares ----------*- C++ -*-===//
//
// Shared by CUDA/*.cpp (defined in CUDA/Driver.cpp): the subset of the CUDA
// driver API the runtime uses, loaded with dlopen (the types are declared
// here, handles are opaque pointers, so building needs no CUDA headers);
// the thread's CUDA error; and the primary context every call makes
// current. Plain C++17, no LLVM/MLIR and nothing of CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_CUDA_DRIVER_H
#define QOPT_LIB_RUNTIME_CUDA_DRIVER_H

#include "qopt/Runtime/qopt_cuda.h"

#include "RuntimeInternal.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qopt::rt::cuda {

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
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;

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
constexpr int CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2;
constexpr int CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4;
constexpr int CU_STREAM_CAPTURE_MODE_RELAXED = 2;

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
  X(cuMemHostUnregister, "cuMemHostUnregister", (void *))                      \
  X(cuMemHostAlloc, "cuMemHostAlloc", (void **, size_t, unsigned))             \
  X(cuMemFreeHost, "cuMemFreeHost", (void *))                                  \
  X(cuPointerGetAttribute, "cuPointerGetAttribute",                            \
    (void *, int, CUdeviceptr))                                                \
  X(cuEventElapsedTime, "cuEventElapsedTime", (float *, CUevent, CUevent))

/// Functions newer drivers have; absent ones are null.
#define QOPT_CUDA_OPTIONAL_FUNCTIONS(X)                                        \
  X(cuLaunchKernelEx, "cuLaunchKernelEx",                                      \
    (const CUlaunchConfig *, CUfunction, void **, void **))                    \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor,                               \
    "cuOccupancyMaxActiveBlocksPerMultiprocessor",                             \
    (int *, CUfunction, int, size_t))                                          \
  X(cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled",                          \
    (void *, int, unsigned, void *, const uint64_t *, const uint64_t *,        \
     const unsigned *, const unsigned *, int, int, int, int))                  \
  X(cuStreamBeginCapture, "cuStreamBeginCapture_v2", (CUstream, int))          \
  X(cuStreamEndCapture, "cuStreamEndCapture", (CUstream, CUgraph *))           \
  X(cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags",                \
    (CUgraphExec *, CUgraph, unsigned long long))                              \
  X(cuGraphLaunch, "cuGraphLaunch", (CUgraphExec, CUstream))                   \
  X(cuGraphExecDestroy, "cuGraphExecDestroy", (CUgraphExec))                   \
  X(cuGraphDestroy, "cuGraphDestroy", (CUgraph))

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
const Driver &driver();

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// The calling thread's last CUDA error (qopt_cuda_last_error()).
extern thread_local std::string cudaError;

std::string describe(CUresult r);

/// Records `message` as the thread's CUDA error and its runtime error;
/// `print`: also to stderr (for the mgpu* functions, which return nothing).
qopt_status report(const std::string &message, bool print);

/// A failed driver call `what` inside `where`.
qopt_status reportCall(const char *where, const char *what, CUresult r,
                       bool print);

/// Whether the driver is usable; reports why not (once per call site use).
bool ready(const char *where, bool print);

/// Calls the driver; false (with the failure reported) unless it succeeds.
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

/// The device of the calling thread (mgpuSetDefaultDevice()).
extern thread_local int32_t defaultDevice;

/// The primary context of `device`, retained once for the process.
CUcontext primaryContext(int device, const char *where, bool print);

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

inline CUdeviceptr dptr(const void *p) {
  return reinterpret_cast<CUdeviceptr>(p);
}

/// QOPT_CUDA_PROFILE=FILE: every kernel launched on a stream is timed with
/// CUDA events; the times are collected when the stream is synchronized
/// and written to FILE as JSON (per kernel: launches, total and mean ms)
/// at exit. `name` must outlive the process (a literal or an interned
/// string).
bool profilingKernels();
/// Called after every launch (profiled or not): notes `name` as the
/// stream's last kernel; with QOPT_CUDA_SYNC=1 waits for it and reports a
/// failure naming it.
void profileLaunch(const char *name, CUstream stream, CUevent start);
bool syncEachLaunch();
/// The last kernel launched on `stream` ("" when none).
std::string lastKernelOn(CUstream stream);
/// `r`, a failure a synchronize of `stream` returned, described with the
/// last kernel queued on the stream.
std::string streamFailure(CUstream stream, CUresult r);
CUevent profileStart(CUstream stream);
void profileCollect(CUstream stream);

/// In qopt_cuda_model_run: makes `stream` (the artifact's) wait for the
/// work queued so far on the caller's stream. Nothing otherwise.
void joinCallerStream(CUstream stream);

/// qopt_cuda_model_run_graph (Graph.cpp): the state of a call whose work is
/// probed for CUDA-graph capture (`capture` false: the warm-up call) or
/// captured (`capture` true). The mgpu* functions report here what a graph
/// could not replay (`unsupported`, the first reason) and, when capturing,
/// capture the call's stream, keep what it allocates (`owned`) and, at its
/// synchronize, instantiate the graph and launch it on `callerStream`.
struct GraphCapture {
  bool capture = false;
  CUstream callerStream = nullptr;
  CUstream stream = nullptr; ///< the call's stream (its first)
  bool synced = false;       ///< the call's stream was synchronized
  bool keepStream = false;   ///< the stream belongs to the graph now
  std::string unsupported;
  CUgraphExec exec = nullptr;
  std::vector<void *> owned; ///< blocks allocated while capturing
  void note(const std::string &why) {
    if (unsupported.empty())
      unsupported = why;
  }
};
extern thread_local GraphCapture *graphCapture;

/// Loads PTX or a cubin/fatbin, with the JIT's error log in the message.
CUmodule loadModule(const void *data, int optLevel, const char *where,
                    bool print);

/// Frees the packed copies Sparse24.cpp made of the 2:4 weight whose
/// `values` are at this device address (before that memory is freed).
void forgetSparse24(const void *values);

} // namespace qopt::rt::cuda

#endif // QOPT_LIB_RUNTIME_CUDA_DRIVER_H
