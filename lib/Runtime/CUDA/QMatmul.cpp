//===- QMatmul.cpp - compiled models' quantized matmuls on the GPU --------===//
//
// qopt_cuda_matmul_{w8,w4,s8s8,u8s8,s8t2,f32t2}: what compiled NVPTX
// artifacts call for their weight-only, W8A8 and ternary layers
// (qopt-gpu-kernel-calls), with the arguments of the CPU kernels of the
// same name (qopt_kernel_matmul_*: sizes, then each operand's address and
// strides as i64) plus the stream of the call. They launch the kernels of
// GPUKernels/QMatmul.cu, whose PTX is embedded at build time (table
// kQMatmulPTX) and JIT-compiled by the driver at first use.
//
// Stream 0 (an artifact compiled without qopt-gpu-one-stream) keeps the
// old synchronous behaviour: the launch is waited for. A failure ends the
// run through qopt_rt_fail (the artifact call returns the message).
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include "GPUKernels/EmbeddedPTX.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace qopt::rt::cuda;

extern "C" [[noreturn]] void qopt_rt_fail(const char *message);

namespace {

/// GPUKernels/QMatmul.cu's QParams, field for field.
struct QParams {
  const void *x;
  long long xM, xK;
  const void *w;
  long long wN, wK;
  const void *s;
  long long sN, sG;
  const void *z;
  long long zN, zG;
  void *c;
  long long cM, cN;
  int m, n, k, group, format;
};
static_assert(sizeof(QParams) == 144, "must match QMatmul.cu's QParams");

constexpr int kRowsPerBlock = 16; // 4 warps x 4 rows

const char *const kKernelFormats[] = {"w8", "w4", "s8s8", "u8s8", "f32t2"};
constexpr int kFormats = 5;
enum Format { W8, W4, S8S8, U8S8, F32T2, S8T2 };

struct QModule {
  bool tried = false;
  std::string error;
  CUmodule module = nullptr;
  CUfunction kernels[kFormats][3][2] = {}; // format, MT 1/2/4, scalar/vector
  CUfunction ternary[3] = {};              // s8t2, MT 1/2/4
  CUfunction quantize = nullptr;
  CUfunction ternaryFused = nullptr;  // s8t2 at batch 1, x quantized inside
  int ternaryFusedShape[2] = {};      // rows, threads a block
  CUfunction ternaryStream = nullptr; // s8t2 at batch 1, one wave of blocks
  int ternaryStreamShape[3] = {}; // threads a block, blocks an SM, ring bytes
  int multiprocessors = 0;
};

const qopt::rt::EmbeddedPTX *choosePTX(int cc) {
  const qopt::rt::EmbeddedPTX *best = nullptr;
  int bestArch = -1;
  for (size_t i = 0; i < qopt::rt::kQMatmulPTXCount; ++i) {
    const auto &e = qopt::rt::kQMatmulPTX[i];
    int arch = std::atoi(e.arch + 3);
    if (arch <= cc && arch > bestArch) {
      best = &e;
      bestArch = arch;
    }
  }
  return best;
}

/// The module of the default device, loaded at first use; null with
/// `error` set when it cannot be.
QModule *qmodule(std::string &error) {
  static std::mutex mutex;
  static std::vector<QModule> modules;
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(mutex);
  if (modules.empty())
    modules.resize(d.deviceCount);
  QModule &m = modules[defaultDevice];
  if (!m.tried) {
    m.tried = true;
    int major = 0, minor = 0;
    if (qopt_cuda_device_info(defaultDevice, nullptr, 0, &major, &minor,
                              &m.multiprocessors, nullptr) != QOPT_OK) {
      m.error = cudaError;
    } else if (qopt::rt::kQMatmulPTXCount == 0) {
      m.error = "the runtime was built without its GPU kernels (nvcc was not "
                "found at build time)";
    } else if (const qopt::rt::EmbeddedPTX *ptx = choosePTX(10 * major + minor);
               !ptx) {
      m.error = "the quantized matmul kernels need compute capability 8.0 or "
                "later";
    } else if (!(m.module =
                     loadModule(ptx->text, 4, "qopt_cuda_matmul", false))) {
      m.error = cudaError;
    } else {
      auto get = [&](CUfunction *f, const std::string &name) {
        if (!m.error.empty())
          return;
        CUresult r = d.cuModuleGetFunction(f, m.module, name.c_str());
        if (r != CUDA_SUCCESS)
          m.error = "kernel " + name + " is missing: " + describe(r);
      };
      static const char *mts[] = {"1", "2", "4"};
      for (int f = 0; f < kFormats; ++f)
        for (int t = 0; t < 3; ++t) {
          std::string base =
              std::string("qopt_qmm_") + kKernelFormats[f] + "_m" + mts[t];
          get(&m.kernels[f][t][0], base + "_s");
          get(&m.kernels[f][t][1], base + "_v");
        }
      for (int t = 0; t < 3; ++t)
        get(&m.ternary[t], std::string("qopt_qmm_s8t2_m") + mts[t]);
      get(&m.quantize, "qopt_qmm_tquant");
      // Optional (older PTX lacks it): the fused batch-1 ternary kernel.
      CUdeviceptr shape = 0;
      size_t shapeBytes = 0;
      const bool fused =
          m.error.empty() &&
          d.cuModuleGetFunction(&m.ternaryFused, m.module,
                                "qopt_qmm_s8t2_fused") == CUDA_SUCCESS &&
          d.cuModuleGetGlobal(&shape, &shapeBytes, m.module,
                              "qopt_qmm_s8t2_fused_shape") == CUDA_SUCCESS &&
          shapeBytes == sizeof(m.ternaryFusedShape) &&
          d.cuMemcpyDtoH(m.ternaryFusedShape, shape, shapeBytes) ==
              CUDA_SUCCESS &&
          m.ternaryFusedShape[0] > 0 && m.ternaryFusedShape[1] > 0;
      if (!fused)
        m.ternaryFused = nullptr;
      // Optional too: the streaming batch-1 ternary kernel.
      const bool stream =
          m.error.empty() && m.multiprocessors > 0 &&
          d.cuModuleGetFunction(&m.ternaryStream, m.module,
                                "qopt_qmm_s8t2_stream") == CUDA_SUCCESS &&
          d.cuModuleGetGlobal(&shape, &shapeBytes, m.module,
                              "qopt_qmm_s8t2_stream_shape") == CUDA_SUCCESS &&
          shapeBytes == sizeof(m.ternaryStreamShape) &&
          d.cuMemcpyDtoH(m.ternaryStreamShape, shape, shapeBytes) ==
              CUDA_SUCCESS &&
          m.ternaryStreamShape[0] > 0 && m.ternaryStreamShape[1] > 0 &&
          m.ternaryStreamShape[2] >= 0 &&
          // Its ring plus x's 48 KiB at most.
          (m.ternaryStreamShape[2] == 0 ||
           d.cuFuncSetAttribute(
               m.ternaryStream, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
               m.ternaryStreamShape[2] + 48 * 1024 + 16) == CUDA_SUCCESS);
      if (!stream)
        m.ternaryStream = nullptr;
    }
  }
  if (!m.error.empty()) {
    error = m.error;
    return nullptr;
  }
  return &m;
}

/// Per stream: the device buffer s8t2's quantized activations go to
/// (reused: kernels on one stream run in order).
struct Scratch {
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
};

std::string scratchFor(CUstream stream, size_t bytes, CUdeviceptr *out) {
  static std::mutex mutex;
  static auto *scratch = new std::unordered_map<CUstream, Scratch>;
  std::lock_guard<std::mutex> lock(mutex);
  Scratch &s = (*scratch)[stream];
  if (s.bytes < bytes) {
    const Driver &d = driver();
    if (s.ptr) {
      // Queued kernels may still read the old buffer.
      d.cuStreamSynchronize(stream);
      d.cuMemFree(s.ptr);
      s = {};
    }
    size_t want = std::max<size_t>(bytes, 1 << 20);
    CUresult r = d.cuMemAlloc(&s.ptr, want);
    if (r != CUDA_SUCCESS)
      return "allocating " + std::to_string(want) +
             " bytes of scratch: " + describe(r);
    s.bytes = want;
  }
  *out = s.ptr;
  return "";
}

bool aligned16(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

/// Rows of x a warp takes (MT 1, 2 or 4; grid.y walks the rest of M). 8
/// and 16 were slower on the H200 (register pressure: s8s8 16x8192x8192
/// 163 us against 92 us as four passes over the weights, which stay in L2).
int mtIndex(int64_t m) { return m >= 4 ? 2 : m >= 2 ? 1 : 0; }

/// Launches format `f` (or s8t2); "" on success, else the problem.
std::string launch(Format f, QParams p, CUstream stream) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0)
    return "";
  if (!p.x || !p.w || !p.c)
    return "null operand";
  std::string error;
  ScopedContext ctx("qopt_cuda_matmul", false);
  if (!ctx)
    return cudaError;
  QModule *m = qmodule(error);
  if (!m)
    return error;
  const Driver &d = driver();
  const int t = mtIndex(p.m), mt = 1 << t;
  const unsigned gridX = unsigned((p.n + kRowsPerBlock - 1) / kRowsPerBlock);
  const unsigned gridY = unsigned((p.m + mt - 1) / mt);
  if (f == S8T2) {
    if (p.k % 64 || p.wK != 1 || p.wN % 16 || !aligned16(p.w))
      return "ternary weights need K % 64 == 0 and 16-byte aligned rows";
    // Batch 1: one launch that quantizes x into shared memory (K bytes).
    const bool fusedOff = [] {
      const char *e = std::getenv("QOPT_CUDA_T2_FUSED");
      return e && std::string(e) == "0";
    }();
    // The streaming kernel when every warp of its one wave gets at least 4
    // items (4 rows x 2048 k): 28672x8192 21.7 us against 29.7 for the
    // block-per-64-rows kernel, which stays faster below (8192x8192: 9.8
    // against 10.7 us; H200, benchmarks/gpu/README.md).
    // QOPT_CUDA_T2_FUSED=stream / block forces one, 0 the two launches
    // (read at each call: tests switch it).
    const int forced = [] {
      const char *e = std::getenv("QOPT_CUDA_T2_FUSED");
      if (!e)
        return 0;
      std::string v(e);
      return v == "stream" ? 1 : v == "block" || v == "0" ? -1 : 0;
    }();
    const int64_t steps = (p.k / 4 + 511) / 512;
    const int64_t xBytes = steps * 2048 + steps * 4;
    const int64_t streamSmem =
        (xBytes + 15) / 16 * 16 + m->ternaryStreamShape[2];
    const int64_t streamWarps = int64_t(m->multiprocessors) *
                                m->ternaryStreamShape[1] *
                                (m->ternaryStreamShape[0] / 32);
    const bool streamPays =
        forced > 0 || (forced == 0 && (p.n + 3) / 4 * steps >= 4 * streamWarps);
    if (p.m == 1 && m->ternaryStream && streamPays && p.xK == 1 &&
        aligned16(p.x) && xBytes <= 48 * 1024) {
      void *sArgs[] = {&p};
      const int64_t rowGroups = (p.n + 3) / 4;
      const int64_t blocks = std::min<int64_t>(
          int64_t(m->multiprocessors) * m->ternaryStreamShape[1],
          std::max<int64_t>(1, rowGroups * steps /
                                   (m->ternaryStreamShape[0] / 32)));
      CUevent start = profileStart(stream);
      CUresult r =
          d.cuLaunchKernel(m->ternaryStream, unsigned(blocks), 1, 1,
                           unsigned(m->ternaryStreamShape[0]), 1, 1,
                           unsigned(streamSmem), stream, sArgs, nullptr);
      if (r != CUDA_SUCCESS)
        return "launching qopt_qmm_s8t2_stream: " + describe(r);
      profileLaunch("qopt_qmm_s8t2_stream", stream, start);
      if (!stream && (r = d.cuStreamSynchronize(nullptr)) != CUDA_SUCCESS)
        return "synchronizing: " + describe(r);
      return "";
    }
    if (p.m == 1 && m->ternaryFused && !fusedOff && p.xK == 1 &&
        aligned16(p.x) && p.k <= 48 * 1024) {
      void *fArgs[] = {&p};
      const int rows = m->ternaryFusedShape[0];
      const unsigned blocks = unsigned((p.n + rows - 1) / rows);
      CUevent start = profileStart(stream);
      CUresult r = d.cuLaunchKernel(m->ternaryFused, blocks, 1, 1,
                                    unsigned(m->ternaryFusedShape[1]), 1, 1,
                                    unsigned(p.k), stream, fArgs, nullptr);
      if (r != CUDA_SUCCESS)
        return "launching qopt_qmm_s8t2_fused: " + describe(r);
      profileLaunch("qopt_qmm_s8t2_fused", stream, start);
      if (!stream && (r = d.cuStreamSynchronize(nullptr)) != CUDA_SUCCESS)
        return "synchronizing: " + describe(r);
      return "";
    }
    CUdeviceptr scratch = 0;
    const size_t bytes = size_t(p.m) * size_t(p.k);
    if (std::string e = scratchFor(stream, bytes, &scratch); !e.empty())
      return e;
    int8_t *qx = reinterpret_cast<int8_t *>(scratch);
    void *qArgs[] = {&p, &qx};
    // 8 activations a thread, 256 threads a block, a row of blocks per M.
    const unsigned chunks = unsigned((p.k + 2047) / 2048);
    CUresult r = d.cuLaunchKernel(m->quantize, chunks, unsigned(p.m), 1, 256, 1,
                                  1, 0, stream, qArgs, nullptr);
    if (r != CUDA_SUCCESS)
      return "launching qopt_qmm_tquant: " + describe(r);
    const int8_t *cqx = qx;
    void *args[] = {&p, &cqx};
    CUevent start = profileStart(stream);
    r = d.cuLaunchKernel(m->ternary[t], gridX, gridY, 1, 128, 1, 1, 0, stream,
                         args, nullptr);
    if (r != CUDA_SUCCESS)
      return "launching qopt_qmm_s8t2: " + describe(r);
    profileLaunch("qopt_qmm_s8t2", stream, start);
  } else {
    // 16-byte chunks of the weight row: 16 (int8), 32 (int4), 4 (f32t2, x).
    bool vec = false;
    switch (f) {
    case W8:
      vec = p.k % 16 == 0 && p.wK == 1 && p.wN % 16 == 0 && p.xK == 1 &&
            p.xM % 4 == 0 && aligned16(p.x) && aligned16(p.w);
      break;
    case W4:
      vec = p.k % 32 == 0 && p.group % 32 == 0 && p.wK == 1 && p.wN % 16 == 0 &&
            p.xK == 1 && p.xM % 4 == 0 && aligned16(p.x) && aligned16(p.w);
      break;
    case S8S8:
    case U8S8:
      vec = p.k % 16 == 0 && p.wK == 1 && p.wN % 16 == 0 && p.xK == 1 &&
            p.xM % 16 == 0 && aligned16(p.x) && aligned16(p.w);
      break;
    case F32T2:
      vec = p.xK == 1 && p.xM % 4 == 0 && aligned16(p.x);
      break;
    default:
      break;
    }
    void *args[] = {&p};
    CUevent start = profileStart(stream);
    CUresult r = d.cuLaunchKernel(m->kernels[f][t][vec], gridX, gridY, 1, 128,
                                  1, 1, 0, stream, args, nullptr);
    if (r != CUDA_SUCCESS)
      return std::string("launching qopt_qmm_") + kKernelFormats[f] + ": " +
             describe(r);
    static const char *const names[] = {"qopt_qmm_w8", "qopt_qmm_w4",
                                        "qopt_qmm_s8s8", "qopt_qmm_u8s8",
                                        "qopt_qmm_f32t2"};
    profileLaunch(names[f], stream, start);
  }
  if (!stream) {
    CUresult r = d.cuStreamSynchronize(nullptr);
    if (r != CUDA_SUCCESS)
      return "synchronizing: " + describe(r);
  }
  return "";
}

void run(const char *name, Format f, const QParams &p, int64_t stream) {
  std::string error =
      launch(f, p, reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (error.empty())
    return;
  error = std::string(name) + ": " + error;
  report(error, false);
  qopt_rt_fail(error.c_str());
}

template <typename T> const void *ptr(T v) {
  return reinterpret_cast<const void *>(static_cast<intptr_t>(v));
}

QParams base(int64_t m, int64_t n, int64_t k, int64_t a, int64_t aM, int64_t aK,
             int64_t b, int64_t bN, int64_t bK, int64_t c, int64_t cM,
             int64_t cN) {
  QParams p{};
  p.x = ptr(a);
  p.xM = aM;
  p.xK = aK;
  p.w = ptr(b);
  p.wN = bN;
  p.wK = bK;
  p.c = const_cast<void *>(ptr(c));
  p.cM = cM;
  p.cN = cN;
  p.m = int(m);
  p.n = int(n);
  p.k = int(k);
  return p;
}

} // namespace

extern "C" {

void qopt_cuda_matmul_w8(int64_t m, int64_t n, int64_t k, int64_t aPtr,
                         int64_t aM, int64_t aK, int64_t bPtr, int64_t bN,
                         int64_t bK, int64_t sPtr, int64_t sN, int64_t cPtr,
                         int64_t cM, int64_t cN, int64_t stream) {
  QParams p = base(m, n, k, aPtr, aM, aK, bPtr, bN, bK, cPtr, cM, cN);
  p.s = ptr(sPtr);
  p.sN = sN;
  run("qopt_cuda_matmul_w8", W8, p, stream);
}

void qopt_cuda_matmul_w4(int64_t m, int64_t n, int64_t k, int64_t group,
                         int64_t format, int64_t aPtr, int64_t aM, int64_t aK,
                         int64_t bPtr, int64_t bN, int64_t bK, int64_t sPtr,
                         int64_t sN, int64_t sG, int64_t zPtr, int64_t zN,
                         int64_t zG, int64_t cPtr, int64_t cM, int64_t cN,
                         int64_t stream) {
  QParams p = base(m, n, k, aPtr, aM, aK, bPtr, bN, bK, cPtr, cM, cN);
  p.s = ptr(sPtr);
  p.sN = sN;
  p.sG = sG;
  p.z = ptr(zPtr);
  p.zN = zN;
  p.zG = zG;
  p.group = int(group);
  p.format = int(format);
  run("qopt_cuda_matmul_w4", W4, p, stream);
}

void qopt_cuda_matmul_s8s8(int64_t m, int64_t n, int64_t k, int64_t aPtr,
                           int64_t aM, int64_t aK, int64_t bPtr, int64_t bN,
                           int64_t bK, int64_t cPtr, int64_t cM, int64_t cN,
                           int64_t /*bConstant*/, int64_t stream) {
  run("qopt_cuda_matmul_s8s8", S8S8,
      base(m, n, k, aPtr, aM, aK, bPtr, bN, bK, cPtr, cM, cN), stream);
}

void qopt_cuda_matmul_u8s8(int64_t m, int64_t n, int64_t k, int64_t aPtr,
                           int64_t aM, int64_t aK, int64_t bPtr, int64_t bN,
                           int64_t bK, int64_t cPtr, int64_t cM, int64_t cN,
                           int64_t /*bConstant*/, int64_t stream) {
  run("qopt_cuda_matmul_u8s8", U8S8,
      base(m, n, k, aPtr, aM, aK, bPtr, bN, bK, cPtr, cM, cN), stream);
}

void qopt_cuda_matmul_s8t2(int64_t m, int64_t n, int64_t k, int64_t aPtr,
                           int64_t aM, int64_t aK, int64_t sPtr, int64_t sM,
                           int64_t bPtr, int64_t bN, int64_t bK, int64_t cPtr,
                           int64_t cM, int64_t cN, int64_t stream) {
  QParams p = base(m, n, k, aPtr, aM, aK, bPtr, bN, bK, cPtr, cM, cN);
  p.s = ptr(sPtr);
  p.sN = sM;
  run("qopt_cuda_matmul_s8t2", S8T2, p, stream);
}

void qopt_cuda_matmul_f32t2(int64_t m, int64_t n, int64_t k, int64_t aPtr,
                            int64_t aM, int64_t aK, int64_t bPtr, int64_t bN,
                            int64_t bK, int64_t cPtr, int64_t cM, int64_t cN,
                            int64_t stream) {
  run("qopt_cuda_matmul_f32t2", F32T2,
      base(m, n, k, aPtr, aM, aK, bPtr, bN, bK, cPtr, cM, cN), stream);
}

} // extern "C"
