//===- Wgmma.cpp - Hopper GEMMs: TMA tensor maps, kernel choice, launch ---===//
//
// Launches GPUKernels/Wgmma.cu (embedded PTX, table kWgmmaPTX: sm_90a for
// the TMA + wgmma kernels, the other architectures' PTX for the any-stride
// 16-bit fallback):
//
// - qopt_cuda_matmul_h16: C (+)= A·B for float16 / bfloat16 operands with
//   the arguments of qopt_cuda_matmul_f32 (two batch sizes, M, N, K, each
//   operand's address and four element strides, whether B is a constant)
//   plus the operand type, whether C is float32, whether a 16-bit C is
//   accumulated into, and the stream.
// - wgmmaTf32 (Wgmma.h): qopt_cuda_matmul_f32's tf32 precision on Hopper.
//
// The tensor maps (cuTensorMapEncodeTiled, 128-byte swizzle, zero fill
// outside the matrix) are encoded on the host at each call and passed by
// value (__grid_constant__). The kernel choice is CUDA/WgmmaPlan.h's.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Wgmma.h"
#include "CUDA/WgmmaPlan.h"

#include "GPUKernels/EmbeddedPTX.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

using namespace qopt::rt::cuda;

extern "C" [[noreturn]] void qopt_rt_fail(const char *message);

namespace {

struct alignas(64) TensorMap {
  uint64_t q[16];
};

/// GPUKernels/Wgmma.cu's WParams, field for field.
struct alignas(64) WParams {
  TensorMap a, b;
  void *c;
  long long cB0, cB1, cM, cN;
  int b1;
  int m, n, k;
  int splits, kTilesPer;
  int aBatch, bBatch;
  int accumulate;
  int tilesX, tilesY, tilesZ;
  long long wsSplit;
};
static_assert(sizeof(WParams) == 384, "must match Wgmma.cu's WParams");

/// GPUKernels/Wgmma.cu's HParams (the fallback), field for field.
struct HParams {
  const void *a;
  long long aB0, aB1, aM, aK;
  const void *b;
  long long bB0, bB1, bK, bN;
  void *c;
  long long cB0, cB1, cM, cN;
  int b0, b1, m, n, k;
  int accumulate;
};
static_assert(sizeof(HParams) == 144, "must match Wgmma.cu's HParams");

/// Dynamic shared memory of the wgmma kernels: stages x (A + B tile) + 1 KiB
/// for alignment + the mbarriers (Wgmma.cu's Cfg).
constexpr int smemBytes(int bn) {
  return (bn == 256 ? 4 * (16384 + 32768) : 6 * (16384 + 16384)) + 1024 +
         2 * (bn == 256 ? 4 : 6) * 8;
}

constexpr const char *kTypeNames[3] = {"f16", "bf16", "tf32"};

struct WModule {
  bool tried = false;
  std::string error;
  CUmodule module = nullptr;
  bool wgmma = false; ///< the sm_90a PTX is loaded
  int ccMajor = 0, ccMinor = 0, sms = 0;
  // [type][nn][bn256][f32 C]
  CUfunction wg[3][2][2][2] = {};
  std::string wgName[3][2][2][2];
  CUfunction simt[2][2] = {}; // [bf16][f32 C]
  CUfunction addWs[2] = {};   // [bf16]
  /// Split-K workspaces, one per stream (work queued on a stream uses its
  /// own); outgrown ones stay allocated (queued work may still use them).
  struct Workspace {
    CUstream stream;
    CUdeviceptr ptr;
    size_t bytes;
  };
  std::vector<Workspace> workspaces;
  std::vector<CUdeviceptr> retired;
};

const qopt::rt::EmbeddedPTX *choosePTX(int cc, bool &isWgmma) {
  const qopt::rt::EmbeddedPTX *best = nullptr;
  int bestArch = -1;
  isWgmma = false;
  for (size_t i = 0; i < qopt::rt::kWgmmaPTXCount; ++i) {
    const auto &e = qopt::rt::kWgmmaPTX[i];
    if (!e.arch[0])
      continue;
    const int arch = std::atoi(e.arch + 3);
    const bool specific = e.arch[std::strlen(e.arch) - 1] == 'a';
    // sm_90a PTX runs on compute capability 9.0 only.
    if (specific) {
      if (arch == cc && cc == 90) {
        isWgmma = true;
        return &e;
      }
      continue;
    }
    if (arch <= cc && arch > bestArch) {
      best = &e;
      bestArch = arch;
    }
  }
  return best;
}

WModule *wmodule(std::string &error) {
  static std::mutex mutex;
  static std::vector<WModule> modules;
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(mutex);
  if (modules.empty())
    modules.resize(d.deviceCount);
  WModule &m = modules[defaultDevice];
  if (!m.tried) {
    m.tried = true;
    bool isWgmma = false;
    const qopt::rt::EmbeddedPTX *ptx = nullptr;
    if (qopt_cuda_device_info(defaultDevice, nullptr, 0, &m.ccMajor, &m.ccMinor,
                              &m.sms, nullptr) != QOPT_OK) {
      m.error = cudaError;
    } else if (qopt::rt::kWgmmaPTXCount == 0 ||
               !qopt::rt::kWgmmaPTX[0].arch[0]) {
      m.error = "the runtime was built without its GPU kernels (nvcc was not "
                "found at build time)";
    } else if (!(ptx = choosePTX(10 * m.ccMajor + m.ccMinor, isWgmma))) {
      m.error = "the 16-bit matmul kernels need compute capability 8.0 or "
                "later";
    } else if (!(m.module =
                     loadModule(ptx->text, 4, "qopt_cuda_matmul_h16", false))) {
      m.error = cudaError;
    } else {
      auto get = [&](CUfunction *f, const std::string &name, int smem) {
        if (!m.error.empty())
          return;
        CUresult r = d.cuModuleGetFunction(f, m.module, name.c_str());
        if (r != CUDA_SUCCESS) {
          m.error = "kernel " + name + " is missing: " + describe(r);
          return;
        }
        if (smem > 48 * 1024 &&
            (r = d.cuFuncSetAttribute(
                 *f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem)) !=
                CUDA_SUCCESS)
          m.error = "allowing " + std::to_string(smem) +
                    " bytes of shared memory to " + name + ": " + describe(r);
      };
      get(&m.simt[0][0], "qopt_h16_simt_f16_h", 0);
      get(&m.simt[0][1], "qopt_h16_simt_f16_f32", 0);
      get(&m.simt[1][0], "qopt_h16_simt_bf16_h", 0);
      get(&m.simt[1][1], "qopt_h16_simt_bf16_f32", 0);
      get(&m.addWs[0], "qopt_h16_add_ws_f16", 0);
      get(&m.addWs[1], "qopt_h16_add_ws_bf16", 0);
      m.wgmma = isWgmma && d.cuTensorMapEncodeTiled;
      if (m.wgmma)
        for (int t = 0; t < 3; ++t)
          for (int nn = 0; nn < 2; ++nn)
            for (int big = 0; big < 2; ++big)
              for (int f32 = 0; f32 < 2; ++f32) {
                if (t == 2 && (nn || !f32))
                  continue; // tf32: K-contiguous B, float32 C only
                std::string name = std::string("qopt_wg_") + kTypeNames[t] +
                                   (nn ? "_nn_" : "_nt_") +
                                   (big ? "256" : "128") +
                                   (f32 ? "_f32" : "_h");
                get(&m.wg[t][nn][big][f32], name, smemBytes(big ? 256 : 128));
                m.wgName[t][nn][big][f32] = name;
              }
    }
  }
  if (!m.error.empty()) {
    error = m.error;
    return nullptr;
  }
  return &m;
}

/// The kernel the calling thread's last qopt_cuda_matmul_h16, or tf32
/// qopt_cuda_matmul_f32, launched ("" when tf32 went to the mma.sync
/// kernels): qopt_cuda_wgmma_last_kernel(), for tests and benchmarks.
thread_local std::string lastWgmmaKernel;

bool wgmmaDisabled() {
  const char *v = std::getenv("QOPT_CUDA_WGMMA");
  return v && std::strcmp(v, "0") == 0;
}

/// A 4-d tensor map {inner, outer, z1, z0} over `base`; strides in
/// elements. A batch dim that is 1 (or not used) gets size 1.
bool encode(TensorMap &map, WgmmaType type, const void *base, int64_t inner,
            int64_t outer, int64_t outerStride, int64_t z1, int64_t z1Stride,
            int64_t z0, int64_t z0Stride, unsigned boxInner, unsigned boxOuter,
            int &batchMask, std::string &why) {
  const Driver &d = driver();
  const int64_t eb = wgmmaElemBytes(type);
  // FLOAT16 = 6, FLOAT32 = 7, BFLOAT16 = 9 (cuda.h's CUtensorMapDataType).
  const int dataType = type == WgmmaType::F16    ? 6
                       : type == WgmmaType::BF16 ? 9
                                                 : 7;
  batchMask = 0;
  uint64_t dims[4] = {uint64_t(inner), uint64_t(outer), 1, 1};
  uint64_t rowStride = uint64_t(outer > 1 ? outerStride : inner) * eb;
  rowStride = (rowStride + 15) / 16 * 16;
  uint64_t strides[3] = {rowStride, rowStride * dims[1], 0};
  if (z1 > 1 && z1Stride != 0) {
    dims[2] = uint64_t(z1);
    strides[1] = uint64_t(z1Stride) * eb;
    batchMask |= 1;
  }
  strides[2] = strides[1] * dims[2];
  if (z0 > 1 && z0Stride != 0) {
    dims[3] = uint64_t(z0);
    strides[2] = uint64_t(z0Stride) * eb;
    batchMask |= 2;
  }
  const unsigned box[4] = {boxInner, boxOuter, 1, 1};
  const unsigned elementStrides[4] = {1, 1, 1, 1};
  // Interleave none, swizzle 128B (3), L2 promotion 256B (3), zero fill.
  CUresult r =
      d.cuTensorMapEncodeTiled(&map, dataType, 4, const_cast<void *>(base),
                               dims, strides, box, elementStrides, 0, 3, 3, 0);
  if (r != CUDA_SUCCESS) {
    why = "cuTensorMapEncodeTiled: " + describe(r);
    return false;
  }
  return true;
}

/// A float32 workspace of at least `bytes` for work queued on `stream`.
std::string workspaceFor(WModule &m, CUstream stream, size_t bytes,
                         CUdeviceptr &out) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  for (WModule::Workspace &w : m.workspaces)
    if (w.stream == stream) {
      if (w.bytes >= bytes) {
        out = w.ptr;
        return "";
      }
      m.retired.push_back(w.ptr);
      w.ptr = 0;
      w.bytes = 0;
    }
  size_t size = 1 << 20;
  while (size < bytes)
    size *= 2;
  CUdeviceptr p = 0;
  CUresult r = driver().cuMemAlloc(&p, size);
  if (r != CUDA_SUCCESS)
    return "allocating a " + std::to_string(size) +
           "-byte split-K workspace: " + describe(r);
  bool placed = false;
  for (WModule::Workspace &w : m.workspaces)
    if (w.stream == stream)
      w.ptr = p, w.bytes = size, placed = true;
  if (!placed)
    m.workspaces.push_back({stream, p, size});
  out = p;
  return "";
}

/// GPUKernels/Wgmma.cu's WsParams, field for field.
struct WsParams {
  const float *ws;
  void *c;
  long long cB0, cB1, cM, cN;
  long long total;
  int b1, m, n;
  int accumulate;
  int splits;
};
static_assert(sizeof(WsParams) == 80, "must match Wgmma.cu's WsParams");

/// Launches the wgmma kernel the plan picked. "" or an error; `launched`
/// false when the tensor maps could not be made (the caller falls back).
std::string launchWgmma(WModule &m, const WgmmaProblem &prob,
                        const WgmmaPlan &plan, const void *a, const void *b,
                        void *c, int64_t cB0, int64_t cB1, int64_t cM,
                        int64_t cN, bool accumulate, CUstream stream,
                        bool &launched) {
  launched = false;
  const Driver &d = driver();
  const int t = int(prob.type);
  const unsigned kElems = unsigned(128 / wgmmaElemBytes(prob.type));
  WParams w;
  std::memset(&w, 0, sizeof(w));
  std::string why;
  if (!encode(w.a, prob.type, a, prob.k, prob.m, prob.aM, prob.b1, prob.aB1,
              prob.b0, prob.aB0, kElems, 128, w.aBatch, why))
    return "";
  if (plan.nn) {
    if (!encode(w.b, prob.type, b, prob.n, prob.k, prob.bK, prob.b1, prob.bB1,
                prob.b0, prob.bB0, 64, kElems, w.bBatch, why))
      return "";
  } else if (!encode(w.b, prob.type, b, prob.k, prob.n, prob.bN, prob.b1,
                     prob.bB1, prob.b0, prob.bB0, kElems, unsigned(plan.bn),
                     w.bBatch, why)) {
    return "";
  }
  const int64_t batches = prob.b0 * prob.b1;
  CUdeviceptr ws = 0;
  if (plan.workspace) {
    // Split K with a 16-bit C: each split stores its partial sums into a
    // dense float32 slice of the workspace (no atomics, no clearing);
    // qopt_h16_add_ws_* adds the slices to C.
    const size_t count = size_t(batches * prob.m * prob.n);
    std::string err =
        workspaceFor(m, stream, count * 4 * size_t(plan.splits), ws);
    if (!err.empty())
      return err;
    w.wsSplit = (long long)count;
    w.c = reinterpret_cast<void *>(ws);
    w.cB1 = prob.m * prob.n;
    w.cB0 = prob.b1 * w.cB1;
    w.cM = prob.n;
    w.cN = 1;
  } else {
    w.c = c;
    w.cB0 = cB0;
    w.cB1 = cB1;
    w.cM = cM;
    w.cN = cN;
  }
  w.b1 = int(prob.b1);
  w.m = int(prob.m);
  w.n = int(prob.n);
  w.k = int(prob.k);
  w.splits = plan.splits;
  w.kTilesPer = plan.kTilesPer;
  w.accumulate = accumulate ? 1 : 0;
  const int big = plan.bn == 256;
  const int f32 = prob.cF32 || plan.workspace;
  CUfunction f = m.wg[t][plan.nn][big][f32];
  if (!f)
    return "";
  launched = true;
  const std::string &name = m.wgName[t][plan.nn][big][f32];
  void *args[] = {&w};
  CUevent start = profileStart(stream);
  w.tilesX = int(plan.gridX);
  w.tilesY = int(plan.gridY);
  w.tilesZ = int(plan.gridZ);
  // Persistent: one block an SM walks the tiles (its producer fills the
  // ring for the next tile during the epilogue); QOPT_CUDA_WGMMA_PERSISTENT=0
  // launches a block per tile.
  const int64_t tiles = plan.gridX * plan.gridY * plan.gridZ;
  const char *persistent = std::getenv("QOPT_CUDA_WGMMA_PERSISTENT");
  const int64_t blocks = persistent && std::strcmp(persistent, "0") == 0
                             ? tiles
                             : std::min<int64_t>(tiles, m.sms);
  CUresult r =
      d.cuLaunchKernel(f, unsigned(blocks), 1, 1, 384, 1, 1,
                       unsigned(smemBytes(plan.bn)), stream, args, nullptr);
  if (r != CUDA_SUCCESS)
    return "launching " + name + ": " + describe(r);
  profileLaunch(name.c_str(), stream, start);
  lastWgmmaKernel = name;
  if (plan.workspace) {
    WsParams a{reinterpret_cast<const float *>(ws),
               c,
               cB0,
               cB1,
               cM,
               cN,
               batches * prob.m * prob.n,
               int(prob.b1),
               int(prob.m),
               int(prob.n),
               accumulate ? 1 : 0,
               plan.splits};
    void *wargs[] = {&a};
    const char *addName =
        t == 1 ? "qopt_h16_add_ws_bf16" : "qopt_h16_add_ws_f16";
    const int64_t blocks =
        std::min<int64_t>((a.total + 255) / 256, int64_t(m.sms) * 8);
    start = profileStart(stream);
    r = d.cuLaunchKernel(m.addWs[t == 1], unsigned(blocks), 1, 1, 256, 1, 1, 0,
                         stream, wargs, nullptr);
    if (r != CUDA_SUCCESS)
      return std::string("launching ") + addName + ": " + describe(r);
    profileLaunch(addName, stream, start);
    lastWgmmaKernel += "+ws";
  }
  return "";
}

std::string syncIfDefault(CUstream stream) {
  if (stream)
    return "";
  CUresult r = driver().cuStreamSynchronize(nullptr);
  return r == CUDA_SUCCESS ? "" : "synchronizing: " + describe(r);
}

template <typename T> T *ptr(int64_t v) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(v));
}

std::string runH16(const HParams &p, int type, bool cF32, CUstream stream) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0 || p.b0 <= 0 || p.b1 <= 0)
    return "";
  if (!p.a || !p.b || !p.c)
    return "null operand";
  if (type != 0 && type != 1)
    return "type " + std::to_string(type) + " is neither 0 (f16) nor 1 (bf16)";
  if (int64_t(p.b0) * p.b1 > 65535)
    return "more than 65535 batches";
  ScopedContext ctx("qopt_cuda_matmul_h16", false);
  if (!ctx)
    return cudaError;
  std::string error;
  WModule *m = wmodule(error);
  if (!m)
    return error;
  if (m->wgmma && !wgmmaDisabled()) {
    WgmmaProblem prob;
    prob.type = WgmmaType(type);
    prob.b0 = p.b0, prob.b1 = p.b1, prob.m = p.m, prob.n = p.n, prob.k = p.k;
    prob.a = reinterpret_cast<uintptr_t>(p.a);
    prob.b = reinterpret_cast<uintptr_t>(p.b);
    prob.aB0 = p.aB0, prob.aB1 = p.aB1, prob.aM = p.aM, prob.aK = p.aK;
    prob.bB0 = p.bB0, prob.bB1 = p.bB1, prob.bK = p.bK, prob.bN = p.bN;
    prob.cF32 = cF32;
    const char *split16 = std::getenv("QOPT_CUDA_WGMMA_SPLIT16");
    WgmmaPlan plan = planWgmma(prob, m->ccMajor, m->ccMinor, m->sms,
                               !(split16 && std::strcmp(split16, "0") == 0));
    if (plan.ok) {
      bool launched = false;
      error = launchWgmma(*m, prob, plan, p.a, p.b, p.c, p.cB0, p.cB1, p.cM,
                          p.cN, p.accumulate, stream, launched);
      if (!error.empty())
        return error;
      if (launched)
        return syncIfDefault(stream);
    }
  }
  HParams q = p;
  void *args[] = {&q};
  const char *name =
      type == 1 ? (cF32 ? "qopt_h16_simt_bf16_f32" : "qopt_h16_simt_bf16_h")
                : (cF32 ? "qopt_h16_simt_f16_f32" : "qopt_h16_simt_f16_h");
  CUevent start = profileStart(stream);
  CUresult r = driver().cuLaunchKernel(
      m->simt[type][cF32], unsigned((p.n + 63) / 64), unsigned((p.m + 63) / 64),
      unsigned(p.b0 * p.b1), 256, 1, 1, 0, stream, args, nullptr);
  if (r != CUDA_SUCCESS)
    return std::string("launching ") + name + ": " + describe(r);
  profileLaunch(name, stream, start);
  lastWgmmaKernel = name;
  return syncIfDefault(stream);
}

} // namespace

bool qopt::rt::cuda::wgmmaTf32(int64_t b0, int64_t b1, int64_t m, int64_t n,
                               int64_t k, const void *a, int64_t aB0,
                               int64_t aB1, int64_t aM, int64_t aK,
                               const void *b, int64_t bB0, int64_t bB1,
                               int64_t bK, int64_t bN, void *c, int64_t cB0,
                               int64_t cB1, int64_t cM, int64_t cN,
                               CUstream stream, std::string &error) {
  lastWgmmaKernel.clear();
  if (wgmmaDisabled())
    return false;
  std::string moduleError;
  WModule *mod = wmodule(moduleError);
  if (!mod || !mod->wgmma)
    return false; // the caller's kernels report their own module errors
  WgmmaProblem prob;
  prob.type = WgmmaType::TF32;
  prob.b0 = b0, prob.b1 = b1, prob.m = m, prob.n = n, prob.k = k;
  prob.a = reinterpret_cast<uintptr_t>(a);
  prob.b = reinterpret_cast<uintptr_t>(b);
  prob.aB0 = aB0, prob.aB1 = aB1, prob.aM = aM, prob.aK = aK;
  prob.bB0 = bB0, prob.bB1 = bB1, prob.bK = bK, prob.bN = bN;
  prob.cF32 = true;
  WgmmaPlan plan = planWgmma(prob, mod->ccMajor, mod->ccMinor, mod->sms);
  if (!plan.ok)
    return false;
  bool launched = false;
  error = launchWgmma(*mod, prob, plan, a, b, c, cB0, cB1, cM, cN, true, stream,
                      launched);
  return launched;
}

extern "C" {

const char *qopt_cuda_wgmma_last_kernel(void) {
  return lastWgmmaKernel.c_str();
}

/// The embedded PTX of GPUKernels/Wgmma.cu for `arch` ("sm_90a", "sm_80").
const char *qopt_cuda_wgmma_ptx(const char *arch) {
  if (!arch)
    return nullptr;
  for (size_t i = 0; i < qopt::rt::kWgmmaPTXCount; ++i)
    if (std::strcmp(qopt::rt::kWgmmaPTX[i].arch, arch) == 0)
      return qopt::rt::kWgmmaPTX[i].text;
  return nullptr;
}

void qopt_cuda_matmul_h16(int64_t batch0, int64_t batch1, int64_t m, int64_t n,
                          int64_t k, int64_t aPtr, int64_t aB0, int64_t aB1,
                          int64_t aM, int64_t aK, int64_t bPtr, int64_t bB0,
                          int64_t bB1, int64_t bK, int64_t bN, int64_t cPtr,
                          int64_t cB0, int64_t cB1, int64_t cM, int64_t cN,
                          int64_t /*bConstant*/, int64_t type, int64_t cF32,
                          int64_t accumulate, int64_t stream) {
  HParams p{ptr<const void>(aPtr), aB0,         aB1,    aM,     aK,
            ptr<const void>(bPtr), bB0,         bB1,    bK,     bN,
            ptr<void>(cPtr),       cB0,         cB1,    cM,     cN,
            int(batch0),           int(batch1), int(m), int(n), int(k),
            accumulate != 0};
  lastWgmmaKernel.clear();
  std::string error =
      runH16(p, int(type), cF32 != 0,
             reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (error.empty())
    return;
  error = "qopt_cuda_matmul_h16: " + error;
  report(error, false);
  qopt_rt_fail(error.c_str());
}

} // extern "C"
