//===- Gemv.cpp - the GEMV kernels of GPUKernels/Gemv.cu ------------------===//
//
// qopt_cuda_gemv() (qopt_cuda.h) launches the GEMV kernels of
// GPUKernels/Gemv.cu, whose PTX is embedded at build time and JIT-compiled
// by the driver at first use (per device, the closest architecture not
// above the device's).
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include "GPUKernels/EmbeddedPTX.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

using namespace qopt::rt::cuda;

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

const char *qopt_cuda_gemv_ptx(const char *arch) {
  if (!arch)
    return nullptr;
  for (size_t i = 0; i < qopt::rt::kGemvPTXCount; ++i)
    if (std::strcmp(qopt::rt::kGemvPTX[i].arch, arch) == 0)
      return qopt::rt::kGemvPTX[i].text;
  return nullptr;
}

} // extern "C"
