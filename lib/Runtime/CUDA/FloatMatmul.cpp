//===- FloatMatmul.cpp - compiled models' float32 matmuls on the GPU ------===//
//
// qopt_cuda_matmul_f32: what compiled NVPTX artifacts call for their float
// matmuls and linear layers (qopt-gpu-kernel-calls), with the arguments of
// the CPU's qopt_kernel_matmul_f32 (two batch sizes, M, N, K, then each
// operand's address and four element strides, then whether B is a
// constant) plus the precision and the stream. It launches the kernels of
// GPUKernels/FloatMatmul.cu (embedded PTX, table kFloatMatmulPTX).
//
// Stream 0 waits for the kernel before returning. A failure ends the run
// through qopt_rt_fail (the artifact call returns the message).
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"
#include "CUDA/Wgmma.h"

#include "GPUKernels/EmbeddedPTX.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

using namespace qopt::rt::cuda;

extern "C" [[noreturn]] void qopt_rt_fail(const char *message);

namespace {

/// GPUKernels/FloatMatmul.cu's FParams, field for field.
struct FParams {
  const float *a;
  long long aB0, aB1, aM, aK;
  const float *b;
  long long bB0, bB1, bK, bN;
  float *c;
  long long cB0, cB1, cM, cN;
  int b0, b1, m, n, k;
  int splits, kPer;
};
static_assert(sizeof(FParams) == 152, "must match FloatMatmul.cu's FParams");

/// 3 stages of a 128x32 A tile and a 32x128 B tile, float32.
constexpr int kTcSmemBytes = 3 * (128 * 32 + 32 * 128) * 4;

struct FModule {
  bool tried = false;
  std::string error;
  CUmodule module = nullptr;
  CUfunction tc[2][2] = {}; // [nt][tf32]
  CUfunction simt = nullptr;
};

const qopt::rt::EmbeddedPTX *choosePTX(int cc) {
  const qopt::rt::EmbeddedPTX *best = nullptr;
  int bestArch = -1;
  for (size_t i = 0; i < qopt::rt::kFloatMatmulPTXCount; ++i) {
    const auto &e = qopt::rt::kFloatMatmulPTX[i];
    int arch = std::atoi(e.arch + 3);
    if (arch <= cc && arch > bestArch) {
      best = &e;
      bestArch = arch;
    }
  }
  return best;
}

FModule *fmodule(std::string &error) {
  static std::mutex mutex;
  static std::vector<FModule> modules;
  const Driver &d = driver();
  std::lock_guard<std::mutex> lock(mutex);
  if (modules.empty())
    modules.resize(d.deviceCount);
  FModule &m = modules[defaultDevice];
  if (!m.tried) {
    m.tried = true;
    int major = 0, minor = 0;
    if (qopt_cuda_device_info(defaultDevice, nullptr, 0, &major, &minor,
                              nullptr, nullptr) != QOPT_OK) {
      m.error = cudaError;
    } else if (qopt::rt::kFloatMatmulPTXCount == 0) {
      m.error = "the runtime was built without its GPU kernels (nvcc was not "
                "found at build time)";
    } else if (const qopt::rt::EmbeddedPTX *ptx = choosePTX(10 * major + minor);
               !ptx) {
      m.error = "the float matmul kernels need compute capability 8.0 or later";
    } else if (!(m.module =
                     loadModule(ptx->text, 4, "qopt_cuda_matmul_f32", false))) {
      m.error = cudaError;
    } else {
      auto get = [&](CUfunction *f, const char *name, int smem) {
        if (!m.error.empty())
          return;
        CUresult r = d.cuModuleGetFunction(f, m.module, name);
        if (r != CUDA_SUCCESS) {
          m.error =
              std::string("kernel ") + name + " is missing: " + describe(r);
          return;
        }
        if (smem > 48 * 1024 &&
            (r = d.cuFuncSetAttribute(
                 *f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem)) !=
                CUDA_SUCCESS)
          m.error = std::string("allowing ") + std::to_string(smem) +
                    " bytes of shared memory to " + name + ": " + describe(r);
      };
      get(&m.tc[0][0], "qopt_fmm_tc_nn_f32", kTcSmemBytes);
      get(&m.tc[1][0], "qopt_fmm_tc_nt_f32", kTcSmemBytes);
      get(&m.tc[0][1], "qopt_fmm_tc_nn_tf32", kTcSmemBytes);
      get(&m.tc[1][1], "qopt_fmm_tc_nt_tf32", kTcSmemBytes);
      get(&m.simt, "qopt_fmm_simt", 0);
    }
  }
  if (!m.error.empty()) {
    error = m.error;
    return nullptr;
  }
  return &m;
}

/// Multiprocessors of the default device (132 on an H200).
int64_t smCount() {
  static thread_local int device = -1, sms = 0;
  if (device != defaultDevice) {
    device = defaultDevice;
    int count = 0;
    if (qopt_cuda_device_info(defaultDevice, nullptr, 0, nullptr, nullptr,
                              &count, nullptr) != QOPT_OK ||
        count <= 0)
      count = 100;
    sms = count;
  }
  return sms;
}

bool aligned16(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

/// The kernel's name for profiles.
const char *const kNames[2][2] = {
    {"qopt_fmm_tc_nn_f32", "qopt_fmm_tc_nn_tf32"},
    {"qopt_fmm_tc_nt_f32", "qopt_fmm_tc_nt_tf32"}};

std::string launch(const FParams &p, int precision, CUstream stream) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0 || p.b0 <= 0 || p.b1 <= 0)
    return "";
  if (!p.a || !p.b || !p.c)
    return "null operand";
  if (precision < 0 || precision > 2)
    return "precision " + std::to_string(precision) +
           " is none of 0 (f32), 1 (tf32), 2 (fma)";
  if (int64_t(p.b0) * p.b1 > 65535)
    return "more than 65535 batches";
  ScopedContext ctx("qopt_cuda_matmul_f32", false);
  if (!ctx)
    return cudaError;
  std::string error;
  FModule *m = fmodule(error);
  if (!m)
    return error;
  const Driver &d = driver();
  // The tensor-core kernels read 16-byte chunks along K of A and along K
  // (nt) or N (nn) of B.
  auto chunks = [](long long a, long long b, long long c) {
    return a % 4 == 0 && b % 4 == 0 && c % 4 == 0;
  };
  const bool aOk =
      p.aK == 1 && p.k % 4 == 0 && aligned16(p.a) && chunks(p.aM, p.aB0, p.aB1);
  const bool nt =
      p.bK == 1 && p.k % 4 == 0 && aligned16(p.b) && chunks(p.bN, p.bB0, p.bB1);
  const bool nn =
      p.bN == 1 && p.n % 4 == 0 && aligned16(p.b) && chunks(p.bK, p.bB0, p.bB1);
  const bool simt = precision == 2 || !aOk || !(nt || nn) ||
                    std::getenv("QOPT_CUDA_FMM_SIMT") != nullptr;
  // tf32 on Hopper: the TMA + wgmma kernels when they take the operands
  // (CUDA/Wgmma.cpp), else the mma.sync kernels below.
  if (!simt && precision == 1) {
    std::string werr;
    if (wgmmaTf32(p.b0, p.b1, p.m, p.n, p.k, p.a, p.aB0, p.aB1, p.aM, p.aK, p.b,
                  p.bB0, p.bB1, p.bK, p.bN, p.c, p.cB0, p.cB1, p.cM, p.cN,
                  stream, werr)) {
      if (!werr.empty())
        return werr;
      if (!stream) {
        CUresult r = d.cuStreamSynchronize(nullptr);
        if (r != CUDA_SUCCESS)
          return "synchronizing: " + describe(r);
      }
      return "";
    }
  }
  FParams q = p;
  q.splits = 1;
  q.kPer = p.k;
  void *args[] = {&q};
  const unsigned batches = unsigned(p.b0 * p.b1);
  CUevent start = profileStart(stream);
  CUresult r;
  const char *name;
  if (simt) {
    name = "qopt_fmm_simt";
    r = d.cuLaunchKernel(m->simt, unsigned((p.n + 63) / 64),
                         unsigned((p.m + 63) / 64), batches, 256, 1, 1, 0,
                         stream, args, nullptr);
  } else {
    const int tf32 = precision == 1;
    name = kNames[nt][tf32];
    // Split K when the tiles fill less than two waves of blocks (one block
    // an SM), keeping at least 4 k-steps of 32 a split.
    const int64_t tiles =
        int64_t((p.n + 127) / 128) * ((p.m + 127) / 128) * batches;
    const int64_t want = 2 * smCount();
    if (tiles < want && std::getenv("QOPT_CUDA_FMM_NO_SPLITK") == nullptr) {
      int64_t splits =
          std::min<int64_t>((want + tiles - 1) / tiles, (p.k + 127) / 128);
      splits = std::min<int64_t>(splits, 65535 / batches);
      if (splits > 1) {
        const int64_t per = ((p.k + splits - 1) / splits + 31) / 32 * 32;
        q.kPer = int(per);
        q.splits = int((p.k + per - 1) / per);
      }
    }
    r = d.cuLaunchKernel(m->tc[nt][tf32], unsigned((p.n + 127) / 128),
                         unsigned((p.m + 127) / 128), batches * q.splits, 256,
                         1, 1, kTcSmemBytes, stream, args, nullptr);
  }
  if (r != CUDA_SUCCESS)
    return std::string("launching ") + name + ": " + describe(r);
  profileLaunch(name, stream, start);
  if (!stream) {
    r = d.cuStreamSynchronize(nullptr);
    if (r != CUDA_SUCCESS)
      return "synchronizing: " + describe(r);
  }
  return "";
}

template <typename T> T *ptr(int64_t v) {
  return reinterpret_cast<T *>(static_cast<intptr_t>(v));
}

} // namespace

extern "C" {

void qopt_cuda_matmul_f32(int64_t batch0, int64_t batch1, int64_t m, int64_t n,
                          int64_t k, int64_t aPtr, int64_t aB0, int64_t aB1,
                          int64_t aM, int64_t aK, int64_t bPtr, int64_t bB0,
                          int64_t bB1, int64_t bK, int64_t bN, int64_t cPtr,
                          int64_t cB0, int64_t cB1, int64_t cM, int64_t cN,
                          int64_t /*bConstant*/, int64_t precision,
                          int64_t stream) {
  FParams p{ptr<const float>(aPtr),
            aB0,
            aB1,
            aM,
            aK,
            ptr<const float>(bPtr),
            bB0,
            bB1,
            bK,
            bN,
            ptr<float>(cPtr),
            cB0,
            cB1,
            cM,
            cN,
            int(batch0),
            int(batch1),
            int(m),
            int(n),
            int(k)};
  std::string error =
      launch(p, int(precision),
             reinterpret_cast<CUstream>(static_cast<intptr_t>(stream)));
  if (error.empty())
    return;
  error = "qopt_cuda_matmul_f32: " + error;
  report(error, false);
  qopt_rt_fail(error.c_str());
}

} // extern "C"
