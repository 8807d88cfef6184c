//===- Sparse24.cpp - 2:4 sparse matmuls on the sparse tensor cores -------===//
//
// qopt_cuda_matmul_sparse24_f32: what compiled NVPTX artifacts call for a
// qopt.linear with a 2:4 weight (qopt-gpu-kernel-calls), with the
// arguments of the CPU's qopt_kernel_matmul_sparse24_f32 (M, N, K, x and
// its strides, `values`, `meta`, C and its strides) plus the precision and
// the stream. qopt_cuda_matmul_sparse24_f16 takes float16 activations
// ([M, K] contiguous) for benchmarks and tests. Both launch the kernels of
// GPUKernels/Sparse24.cu (embedded PTX, table kSparse24PTX).
//
// The weight is repacked into the kernels' tiled layout at its first use
// and kept, keyed by the address of `values` (with `meta`, N, K and the
// format): compiled models' weights are constants that do not change
// while the artifact is loaded (ConstantCache.cpp drops the copies of an
// unloaded artifact through forgetSparse24). qopt_cuda_sparse24_forget()
// drops them all (tests that reuse device memory call it).
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"

#include "GPUKernels/EmbeddedPTX.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

using namespace qopt::rt::cuda;

extern "C" [[noreturn]] void qopt_rt_fail(const char *message);

namespace {

/// GPUKernels/Sparse24.cu's SParams, field for field.
struct SParams {
  const void *x;
  const void *xlo;
  const void *w;
  const void *wlo;
  const void *meta;
  float *c;
  long long cM, cN;
  int m, n, kp, tiles, kPer, splits;
};
static_assert(sizeof(SParams) == 88, "must match Sparse24.cu's SParams");

constexpr int kShapes = 4; // (rows a warp, tokens a block) below
constexpr int kShapeRows[kShapes] = {1, 1, 2, 2};
constexpr int kShapeTokens[kShapes] = {8, 16, 32, 64};

struct SModule {
  bool tried = false;
  std::string error;
  CUmodule module = nullptr;
  CUfunction mm[2][kShapes] = {}; // [split bf16][shape]
  int smem[2][kShapes] = {};      // dynamic shared memory (qopt_sp24_smem)
  CUfunction pack = nullptr, convert = nullptr, fma = nullptr;
  CUfunction i8[2][2] = {}; // [u8][t8, t32]: W8A8 2:4 (int32 sums)
  int i8smem[2] = {};
  CUfunction packI8 = nullptr, convertI8 = nullptr;
  int multiprocessors = 0;
};

const qopt::rt::EmbeddedPTX *choosePTX(int cc) {
  const qopt::rt::EmbeddedPTX *best = nullptr;
  int bestArch = -1;
  for (size_t i = 0; i < qopt::rt::kSparse24PTXCount; ++i) {
    const auto &e = qopt::rt::kSparse24PTX[i];
    int arch = std::atoi(e.arch + 3);
    if (arch <= cc && arch > bestArch) {
      best = &e;
      bestArch = arch;
    }
  }
  return best;
}

SModule *smodule(std::string &error) {
  static std::mutex mutex;
  static std::vector<SModule> modules;
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(mutex);
  if (modules.empty())
    modules.resize(d.deviceCount);
  SModule &m = modules[defaultDevice];
  if (!m.tried) {
    m.tried = true;
    int major = 0, minor = 0;
    if (qopt_cuda_device_info(defaultDevice, nullptr, 0, &major, &minor,
                              &m.multiprocessors, nullptr) != QOPT_OK) {
      m.error = cudaError;
    } else if (qopt::rt::kSparse24PTXCount == 0) {
      m.error = "the runtime was built without its GPU kernels (nvcc was not "
                "found at build time)";
    } else if (const qopt::rt::EmbeddedPTX *ptx = choosePTX(10 * major + minor);
               !ptx) {
      m.error = "the 2:4 sparse kernels need compute capability 8.0 or later";
    } else if (!(m.module = loadModule(ptx->text, 4,
                                       "qopt_cuda_matmul_sparse24", false))) {
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
      CUdeviceptr table = 0;
      size_t tableBytes = 0;
      if (d.cuModuleGetGlobal(&table, &tableBytes, m.module,
                              "qopt_sp24_smem") != CUDA_SUCCESS ||
          tableBytes != sizeof(m.smem) ||
          d.cuMemcpyDtoH(m.smem, table, tableBytes) != CUDA_SUCCESS)
        m.error = "the 2:4 PTX lacks its qopt_sp24_smem table";
      for (int split = 0; split < 2; ++split)
        for (int s = 0; s < kShapes; ++s)
          get(&m.mm[split][s],
              std::string(split ? "qopt_sp24_bf16x3" : "qopt_sp24_f16") + "_r" +
                  std::to_string(kShapeRows[s]) + "_t" +
                  std::to_string(kShapeTokens[s]),
              m.smem[split][s]);
      get(&m.pack, "qopt_sp24_pack", 0);
      get(&m.convert, "qopt_sp24_convert_x", 0);
      get(&m.fma, "qopt_sp24_fma", 0);
      if (m.error.empty() &&
          (d.cuModuleGetGlobal(&table, &tableBytes, m.module,
                               "qopt_sp24_i8_smem") != CUDA_SUCCESS ||
           tableBytes != sizeof(m.i8smem) ||
           d.cuMemcpyDtoH(m.i8smem, table, tableBytes) != CUDA_SUCCESS))
        m.error = "the 2:4 PTX lacks its qopt_sp24_i8_smem table";
      get(&m.i8[0][0], "qopt_sp24_s8_t8", m.i8smem[0]);
      get(&m.i8[0][1], "qopt_sp24_s8_t32", m.i8smem[1]);
      get(&m.i8[1][0], "qopt_sp24_u8_t8", m.i8smem[0]);
      get(&m.i8[1][1], "qopt_sp24_u8_t32", m.i8smem[1]);
      get(&m.packI8, "qopt_sp24_pack_i8", 0);
      get(&m.convertI8, "qopt_sp24_convert_x_i8", 0);
    }
  }
  if (!m.error.empty()) {
    error = m.error;
    return nullptr;
  }
  return &m;
}

/// A weight in the kernels' layout.
struct Packed {
  CUdeviceptr w = 0, wlo = 0, meta = 0;
};
using PackKey = std::tuple<int, const void *, const void *, int64_t, int64_t,
                           int>; // device, values, meta, n, k, mode

std::mutex &packMutex() {
  static auto *m = new std::mutex;
  return *m;
}
std::map<PackKey, Packed> &packs() {
  static auto *p = new std::map<PackKey, Packed>;
  return *p;
}

void freePacked(const Packed &p) {
  const Driver &d = driver();
  for (CUdeviceptr q : {p.w, p.wlo, p.meta})
    if (q)
      d.cuMemFree(q);
}

int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/// The packed copy of (values, meta) for `mode` (0 f16, 1 bf16 hi + lo),
/// made on `stream` at first use.
std::string packedFor(SModule *m, const float *values, const uint8_t *meta,
                      int64_t n, int64_t k, int mode, CUstream stream,
                      Packed *out) {
  std::lock_guard<std::mutex> lock(packMutex());
  PackKey key{defaultDevice, values, meta, n, k, mode};
  auto it = packs().find(key);
  if (it != packs().end()) {
    *out = it->second;
    return "";
  }
  const Driver &d = driver();
  const int64_t kp = roundUp(k, 64), tiles = (n + 15) / 16;
  const size_t valueBytes = size_t(tiles) * 16 * (kp / 2) * (mode == 2 ? 1 : 2);
  const size_t metaBytes = size_t(tiles) * (kp / 64) * 32 * 4;
  Packed p;
  CUresult r = d.cuMemAlloc(&p.w, valueBytes);
  if (r == CUDA_SUCCESS && mode == 1)
    r = d.cuMemAlloc(&p.wlo, valueBytes);
  if (r == CUDA_SUCCESS)
    r = d.cuMemAlloc(&p.meta, metaBytes);
  if (r != CUDA_SUCCESS) {
    freePacked(p);
    return "allocating the packed 2:4 weight: " + describe(r);
  }
  int in = int(n), ik = int(k), ikp = int(kp), imode = mode;
  void *w = reinterpret_cast<void *>(p.w),
       *wlo = reinterpret_cast<void *>(p.wlo),
       *tm = reinterpret_cast<void *>(p.meta);
  void *args[] = {&values, &meta, &in, &ik, &ikp, &imode, &w, &wlo, &tm};
  // QOPT_CUDA_SP24_I8_META=1: the int8 metadata in the other order the
  // PTX figures allow (a layout check on a device).
  int metaRows = std::getenv("QOPT_CUDA_SP24_I8_META")
                     ? std::atoi(std::getenv("QOPT_CUDA_SP24_I8_META"))
                     : 0;
  void *argsI8[] = {&values, &meta, &in, &ik, &ikp, &w, &tm, &metaRows};
  const int64_t threads = tiles * (kp / 64) * 32;
  const unsigned blocks =
      unsigned(std::min<int64_t>((threads + 255) / 256, 65535));
  r = d.cuLaunchKernel(mode == 2 ? m->packI8 : m->pack, blocks, 1, 1, 256, 1, 1,
                       0, stream, mode == 2 ? argsI8 : args, nullptr);
  if (r != CUDA_SUCCESS) {
    freePacked(p);
    return "launching qopt_sp24_pack: " + describe(r);
  }
  packs()[key] = p;
  *out = p;
  return "";
}

/// Per stream: the converted activations (reused: kernels on one stream
/// run in order).
std::string scratchFor(CUstream stream, size_t bytes, CUdeviceptr *out) {
  static std::mutex mutex;
  static auto *scratch =
      new std::unordered_map<CUstream, std::pair<CUdeviceptr, size_t>>;
  std::lock_guard<std::mutex> lock(mutex);
  auto &s = (*scratch)[stream];
  if (s.second < bytes) {
    const Driver &d = driver();
    if (s.first) {
      d.cuStreamSynchronize(stream);
      d.cuMemFree(s.first);
      s = {};
    }
    size_t want = std::max<size_t>(bytes, 1 << 20);
    CUresult r = d.cuMemAlloc(&s.first, want);
    if (r != CUDA_SUCCESS)
      return "allocating " + std::to_string(want) +
             " bytes of scratch: " + describe(r);
    s.second = want;
  }
  *out = s.first;
  return "";
}

/// The launch shape for M tokens: 8 or 16 tokens a block up to 16, then
/// 32 and 64 (two 16-row tiles a warp).
int shapeFor(int64_t m) {
  if (const char *e = std::getenv("QOPT_CUDA_SP24_SHAPE"))
    return std::clamp(std::atoi(e), 0, kShapes - 1);
  return m <= 8 ? 0 : m <= 16 ? 1 : m <= 32 ? 2 : 3;
}

/// Launches the tensor-core kernel on prepared x (p.x, p.xlo) and packed
/// weights.
std::string launchMma(SModule *m, SParams p, bool split, CUstream stream) {
  const Driver &d = driver();
  const int shape = shapeFor(p.m);
  const int rowsPerBlock = 4 * 16 * kShapeRows[shape];
  const int64_t gridX = (int64_t(p.n) + rowsPerBlock - 1) / rowsPerBlock;
  const int64_t gridY =
      (int64_t(p.m) + kShapeTokens[shape] - 1) / kShapeTokens[shape];
  if (gridY > 65535)
    return "more than 65535 token blocks";
  // Split K when the tiles fill less than one wave of resident blocks,
  // into as many splits as fit in that wave (a second, partly filled wave
  // cost 11008x4096 at M = 1 a third more), keeping at least 4 steps of
  // 64 k a split.
  const int64_t steps = p.kp / 64;
  const unsigned smem = unsigned(m->smem[split][shape]);
  int resident = 4;
  if (d.cuOccupancyMaxActiveBlocksPerMultiprocessor &&
      d.cuOccupancyMaxActiveBlocksPerMultiprocessor(
          &resident, m->mm[split][shape], 128, smem) != CUDA_SUCCESS)
    resident = 4;
  const int64_t wave = int64_t(m->multiprocessors) * std::max(resident, 1);
  int64_t splits = 1;
  if (gridX * gridY < wave)
    splits = std::clamp<int64_t>(wave / (gridX * gridY), 1,
                                 std::max<int64_t>(1, steps / 4));
  if (const char *e = std::getenv("QOPT_CUDA_SP24_SPLITS"))
    splits = std::clamp<int64_t>(std::atoi(e), 1, steps);
  const int64_t perSteps = (steps + splits - 1) / splits;
  p.kPer = int(perSteps * 64);
  p.splits = int((steps + perSteps - 1) / perSteps);
  void *args[] = {&p};
  CUevent start = profileStart(stream);
  CUresult r = d.cuLaunchKernel(m->mm[split][shape], unsigned(gridX),
                                unsigned(gridY), unsigned(p.splits), 128, 1, 1,
                                smem, stream, args, nullptr);
  if (r != CUDA_SUCCESS)
    return std::string("launching the 2:4 kernel: ") + describe(r);
  profileLaunch(split ? "qopt_sp24_bf16x3" : "qopt_sp24_f16", stream, start);
  return "";
}

std::string sync(CUstream stream) {
  if (stream)
    return "";
  CUresult r = driver().cuStreamSynchronize(nullptr);
  return r == CUDA_SUCCESS ? "" : "synchronizing: " + describe(r);
}

/// precision: 0 bf16 hi + lo (three products), 1 f16 (one product), 2 f32
/// FMAs on the CUDA cores.
std::string runF32(int64_t mRows, int64_t n, int64_t k, const float *x,
                   int64_t xM, int64_t xK, const float *values,
                   const uint8_t *meta, float *c, int64_t cM, int64_t cN,
                   int64_t precision, CUstream stream) {
  if (mRows <= 0 || n <= 0 || k <= 0)
    return "";
  if (!x || !values || !meta || !c)
    return "null operand";
  if (k % 8)
    return "k must be a multiple of 8 (got " + std::to_string(k) + ")";
  if (precision < 0 || precision > 2)
    return "precision " + std::to_string(precision) +
           " is none of 0 (f32), 1 (tf32), 2 (fma)";
  if (n > INT32_MAX / 2 || k > INT32_MAX / 2 || mRows > INT32_MAX / 2)
    return "m, n and k must be below 2^30";
  ScopedContext ctx("qopt_cuda_matmul_sparse24_f32", false);
  if (!ctx)
    return cudaError;
  std::string error;
  SModule *m = smodule(error);
  if (!m)
    return error;
  const Driver &d = driver();
  if (precision == 2) {
    int im = int(mRows), in = int(n), ik = int(k);
    long long lxM = xM, lxK = xK, lcM = cM, lcN = cN;
    void *args[] = {&x,   &lxM, &lxK, &values, &meta, &c,
                    &lcM, &lcN, &im,  &in,     &ik};
    const int64_t warps = mRows * n;
    CUevent start = profileStart(stream);
    CUresult r = d.cuLaunchKernel(m->fma, unsigned((warps + 7) / 8), 1, 1, 256,
                                  1, 1, 0, stream, args, nullptr);
    if (r != CUDA_SUCCESS)
      return "launching qopt_sp24_fma: " + describe(r);
    profileLaunch("qopt_sp24_fma", stream, start);
    return sync(stream);
  }
  const int mode = precision == 0 ? 1 : 0;
  Packed packed;
  if (std::string e = packedFor(m, values, meta, n, k, mode, stream, &packed);
      !e.empty())
    return e;
  const int64_t kp = roundUp(k, 64);
  const size_t half = size_t(mRows) * size_t(kp) * 2;
  CUdeviceptr scratch = 0;
  if (std::string e = scratchFor(stream, mode ? 2 * half : half, &scratch);
      !e.empty())
    return e;
  void *hi = reinterpret_cast<void *>(scratch);
  void *lo = mode ? reinterpret_cast<void *>(scratch + half) : nullptr;
  {
    int im = int(mRows), ik = int(k), ikp = int(kp), imode = mode;
    long long lxM = xM, lxK = xK;
    void *args[] = {&x, &lxM, &lxK, &im, &ik, &ikp, &imode, &hi, &lo};
    const int64_t total = mRows * kp;
    CUresult r = d.cuLaunchKernel(
        m->convert, unsigned(std::min<int64_t>((total + 255) / 256, 65535)), 1,
        1, 256, 1, 1, 0, stream, args, nullptr);
    if (r != CUDA_SUCCESS)
      return "launching qopt_sp24_convert_x: " + describe(r);
  }
  SParams p{hi,
            lo,
            reinterpret_cast<void *>(packed.w),
            reinterpret_cast<void *>(packed.wlo),
            reinterpret_cast<void *>(packed.meta),
            c,
            cM,
            cN,
            int(mRows),
            int(n),
            int(kp),
            int((n + 15) / 16),
            0,
            0};
  if (std::string e = launchMma(m, p, mode == 1, stream); !e.empty())
    return e;
  return sync(stream);
}

std::string runF16(int64_t mRows, int64_t n, int64_t k, const void *x,
                   const float *values, const uint8_t *meta, float *c,
                   int64_t cM, int64_t cN, CUstream stream) {
  if (mRows <= 0 || n <= 0 || k <= 0)
    return "";
  if (!x || !values || !meta || !c)
    return "null operand";
  if (k % 64)
    return "k must be a multiple of 64 (got " + std::to_string(k) + ")";
  if (reinterpret_cast<uintptr_t>(x) % 16)
    return "x must be 16-byte aligned";
  ScopedContext ctx("qopt_cuda_matmul_sparse24_f16", false);
  if (!ctx)
    return cudaError;
  std::string error;
  SModule *m = smodule(error);
  if (!m)
    return error;
  Packed packed;
  if (std::string e = packedFor(m, values, meta, n, k, 0, stream, &packed);
      !e.empty())
    return e;
  SParams p{x,
            nullptr,
            reinterpret_cast<void *>(packed.w),
            nullptr,
            reinterpret_cast<void *>(packed.meta),
            c,
            cM,
            cN,
            int(mRows),
            int(n),
            int(k),
            int((n + 15) / 16),
            0,
            0};
  if (std::string e = launchMma(m, p, false, stream); !e.empty())
    return e;
  return sync(stream);
}

/// W8A8 (x int8, or uint8 when u8; values int8): C int32 += exact sums.
std::string runI8(bool u8, int64_t mRows, int64_t n, int64_t k, const int8_t *x,
                  int64_t xM, int64_t xK, const int8_t *values,
                  const uint8_t *meta, int32_t *c, int64_t cM, int64_t cN,
                  CUstream stream) {
  if (mRows <= 0 || n <= 0 || k <= 0)
    return "";
  if (!x || !values || !meta || !c)
    return "null operand";
  if (k % 8)
    return "k must be a multiple of 8 (got " + std::to_string(k) + ")";
  if (n > INT32_MAX / 2 || k > INT32_MAX / 2 || mRows > INT32_MAX / 2)
    return "m, n and k must be below 2^30";
  ScopedContext ctx("qopt_cuda_matmul_sparse24_s8s8", false);
  if (!ctx)
    return cudaError;
  std::string error;
  SModule *m = smodule(error);
  if (!m)
    return error;
  const Driver &d = driver();
  Packed packed;
  if (std::string e =
          packedFor(m, reinterpret_cast<const float *>(values), meta, n, k,
                    /*mode=*/2, stream, &packed);
      !e.empty())
    return e;
  const int64_t kp = roundUp(k, 64);
  CUdeviceptr scratch = 0;
  if (std::string e = scratchFor(stream, size_t(mRows) * size_t(kp), &scratch);
      !e.empty())
    return e;
  {
    int im = int(mRows), ik = int(k), ikp = int(kp);
    long long lxM = xM, lxK = xK;
    void *out = reinterpret_cast<void *>(scratch);
    void *args[] = {&x, &lxM, &lxK, &im, &ik, &ikp, &out};
    const int64_t total = mRows * kp;
    CUresult r = d.cuLaunchKernel(
        m->convertI8, unsigned(std::min<int64_t>((total + 255) / 256, 65535)),
        1, 1, 256, 1, 1, 0, stream, args, nullptr);
    if (r != CUDA_SUCCESS)
      return "launching qopt_sp24_convert_x_i8: " + describe(r);
  }
  const int shape = mRows <= 8 ? 0 : 1;
  const int tokens = shape == 0 ? 8 : 32;
  CUfunction fn = m->i8[u8][shape];
  const unsigned smem = unsigned(m->i8smem[shape]);
  const int64_t tiles = (n + 15) / 16, gridX = (tiles + 3) / 4;
  const int64_t gridY = (mRows + tokens - 1) / tokens;
  if (gridY > 65535)
    return "more than 65535 token blocks";
  const int64_t steps = kp / 64;
  int resident = 4;
  if (d.cuOccupancyMaxActiveBlocksPerMultiprocessor &&
      d.cuOccupancyMaxActiveBlocksPerMultiprocessor(&resident, fn, 128, smem) !=
          CUDA_SUCCESS)
    resident = 4;
  const int64_t wave = int64_t(m->multiprocessors) * std::max(resident, 1);
  int64_t splits = 1;
  if (gridX * gridY < wave)
    splits = std::clamp<int64_t>(wave / (gridX * gridY), 1,
                                 std::max<int64_t>(1, steps / 4));
  if (const char *e = std::getenv("QOPT_CUDA_SP24_SPLITS"))
    splits = std::clamp<int64_t>(std::atoi(e), 1, steps);
  const int64_t perSteps = (steps + splits - 1) / splits;
  struct {
    const void *x, *w, *meta;
    int32_t *c;
    long long cM, cN;
    int m, n, kp, tiles, kPer, splits;
  } p{reinterpret_cast<const void *>(scratch),
      reinterpret_cast<const void *>(packed.w),
      reinterpret_cast<const void *>(packed.meta),
      c,
      cM,
      cN,
      int(mRows),
      int(n),
      int(kp),
      int(tiles),
      int(perSteps * 64),
      int((steps + perSteps - 1) / perSteps)};
  static_assert(sizeof(p) == 72, "must match Sparse24.cu's IParams");
  void *args[] = {&p};
  CUevent start = profileStart(stream);
  CUresult r =
      d.cuLaunchKernel(fn, unsigned(gridX), unsigned(gridY), unsigned(p.splits),
                       128, 1, 1, smem, stream, args, nullptr);
  if (r != CUDA_SUCCESS)
    return std::string("launching the int8 2:4 kernel: ") + describe(r);
  profileLaunch(u8 ? "qopt_sp24_u8" : "qopt_sp24_s8", stream, start);
  return sync(stream);
}

template <typename T> T *ptr(int64_t v) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(v));
}

[[noreturn]] void fail(const char *name, const std::string &error) {
  std::string message = std::string(name) + ": " + error;
  report(message, false);
  qopt_rt_fail(message.c_str());
}

} // namespace

void qopt::rt::cuda::forgetSparse24(const void *values) {
  std::lock_guard<std::mutex> lock(packMutex());
  for (auto it = packs().begin(); it != packs().end();) {
    if (std::get<1>(it->first) == values) {
      freePacked(it->second);
      it = packs().erase(it);
    } else {
      ++it;
    }
  }
}

extern "C" {

/// C[i, r] += Σ_k A[i, k] · W[r, k] for the 2:4 weight W [n, k] stored as
/// `values` [n, k/2] f32 and `meta` [n, k/8] (Sparse24.h), device
/// pointers. precision: 0 (f32: bf16 hi + lo, three products), 1 (tf32:
/// one f16 product), 2 (fma: f32 on the CUDA cores).
void qopt_cuda_matmul_sparse24_f32(int64_t m, int64_t n, int64_t k,
                                   int64_t aPtr, int64_t aM, int64_t aK,
                                   int64_t valuesPtr, int64_t metaPtr,
                                   int64_t cPtr, int64_t cM, int64_t cN,
                                   int64_t precision, int64_t stream) {
  std::string error = runF32(
      m, n, k, ptr<const float>(aPtr), aM, aK, ptr<const float>(valuesPtr),
      ptr<const uint8_t>(metaPtr), ptr<float>(cPtr), cM, cN, precision,
      reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (!error.empty())
    fail("qopt_cuda_matmul_sparse24_f32", error);
}

/// The same with float16 activations x [m, k] (contiguous, 16-byte
/// aligned, k % 64 == 0) and f16 weights: one mma.sp product.
void qopt_cuda_matmul_sparse24_f16(int64_t m, int64_t n, int64_t k,
                                   int64_t xPtr, int64_t valuesPtr,
                                   int64_t metaPtr, int64_t cPtr, int64_t cM,
                                   int64_t cN, int64_t stream) {
  std::string error =
      runF16(m, n, k, ptr<const void>(xPtr), ptr<const float>(valuesPtr),
             ptr<const uint8_t>(metaPtr), ptr<float>(cPtr), cM, cN,
             reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (!error.empty())
    fail("qopt_cuda_matmul_sparse24_f16", error);
}

/// The embedded PTX of GPUKernels/Sparse24.cu for `arch` ("sm_90"), null
/// when there is none (tests assemble it with ptxas).
const char *qopt_cuda_sparse24_ptx(const char *arch) {
  if (!arch)
    return nullptr;
  for (size_t i = 0; i < qopt::rt::kSparse24PTXCount; ++i)
    if (std::strcmp(qopt::rt::kSparse24PTX[i].arch, arch) == 0)
      return qopt::rt::kSparse24PTX[i].text;
  return nullptr;
}

/// C[i, r] += Σ_k A[i, k] · W[r, k] in int32, exact, for a W8A8 layer with
/// a 2:4 weight: A int8 (s8s8) or uint8 (u8s8) [m, k], `values` int8
/// [n, k/2] and `meta` [n, k/8] (the CPU kernels' arguments).
void qopt_cuda_matmul_sparse24_s8s8(int64_t m, int64_t n, int64_t k,
                                    int64_t aPtr, int64_t aM, int64_t aK,
                                    int64_t valuesPtr, int64_t metaPtr,
                                    int64_t cPtr, int64_t cM, int64_t cN,
                                    int64_t stream) {
  std::string error =
      runI8(false, m, n, k, ptr<const int8_t>(aPtr), aM, aK,
            ptr<const int8_t>(valuesPtr), ptr<const uint8_t>(metaPtr),
            ptr<int32_t>(cPtr), cM, cN,
            reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (!error.empty())
    fail("qopt_cuda_matmul_sparse24_s8s8", error);
}

void qopt_cuda_matmul_sparse24_u8s8(int64_t m, int64_t n, int64_t k,
                                    int64_t aPtr, int64_t aM, int64_t aK,
                                    int64_t valuesPtr, int64_t metaPtr,
                                    int64_t cPtr, int64_t cM, int64_t cN,
                                    int64_t stream) {
  std::string error =
      runI8(true, m, n, k, ptr<const int8_t>(aPtr), aM, aK,
            ptr<const int8_t>(valuesPtr), ptr<const uint8_t>(metaPtr),
            ptr<int32_t>(cPtr), cM, cN,
            reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (!error.empty())
    fail("qopt_cuda_matmul_sparse24_u8s8", error);
}

/// Frees every packed 2:4 weight (their device memory may be reused).
void qopt_cuda_sparse24_forget(void) {
  std::lock_guard<std::mutex> lock(packMutex());
  if (packs().empty())
    return;
  ScopedContext ctx("qopt_cuda_sparse24_forget", false);
  if (ctx)
    driver().cuStreamSynchronize(nullptr);
  for (auto &[key, p] : packs())
    freePacked(p);
  packs().clear();
}

} // extern "C"
