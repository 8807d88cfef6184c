//===- Driver.cpp - the runtime's CUDA layer over the driver API ----------===//
//
// The CUDA driver is loaded with dlopen("libcuda.so.1") at first use and
// its few functions are looked up by name: the runtime links nothing of
// CUDA, loads on machines without a GPU, and every entry point fails with a
// message there instead of crashing. The driver types are declared in
// CUDA/Driver.h (handles are opaque pointers), so building needs no CUDA
// headers either.
//
// This file loads the driver, reports its errors, makes contexts current
// and implements the availability, device and memory part of the qopt_cuda_*
// C API of qopt_cuda.h. On top of it:
//  - MgpuWrappers.cpp: the host functions MLIR's gpu-to-llvm lowering emits
//    calls to (mgpuModuleLoad, mgpuLaunchKernel, ...);
//  - ConstantCache.cpp: the GPU copies of compiled artifacts' constants;
//  - Gemv.cpp: the GEMV kernels of GPUKernels/Gemv.cu.
//
// Like upstream's wrappers, every call makes the primary context of the
// default device current for its duration (the context the CUDA runtime and
// PyTorch use, so device pointers and streams are shared with them).
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

using namespace qopt::rt::cuda;

namespace qopt::rt::cuda {

//===----------------------------------------------------------------------===//
// Loading the driver
//===----------------------------------------------------------------------===//

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

} // namespace qopt::rt::cuda

//===----------------------------------------------------------------------===//
// qopt_cuda.h: availability, devices, memory
//===----------------------------------------------------------------------===//

extern "C" {

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

qopt_status qopt_cuda_synchronize(void *stream) {
  ScopedContext ctx("qopt_cuda_synchronize", false);
  if (!ctx)
    return QOPT_ERROR;
  return QOPT_CHECK("qopt_cuda_synchronize", false,
                    driver().cuStreamSynchronize(static_cast<CUstream>(stream)))
             ? QOPT_OK
             : QOPT_ERROR;
}

} // extern "C"
