//===- WgmmaPlan.h - which Hopper GEMM kernel takes a product ---*- C++ -*-===//
//
// The host-side choices of CUDA/Wgmma.cpp, kept free of the driver so that
// unit tests check them: whether GPUKernels/Wgmma.cu's TMA + wgmma kernels
// can take a product (operand layout, alignment, strides TMA accepts, a
// compute capability 9.0 device) and their launch shape (tile width, split
// K). Plain C++17.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_CUDA_WGMMAPLAN_H
#define QOPT_LIB_RUNTIME_CUDA_WGMMAPLAN_H

#include <algorithm>
#include <cstdint>

namespace qopt::rt::cuda {

/// Operand types of the wgmma kernels.
enum class WgmmaType { F16 = 0, BF16 = 1, TF32 = 2 };

/// A product C (+)= A·B with up to two batch dims and element strides (the
/// arguments of qopt_cuda_matmul_f32 / _h16).
struct WgmmaProblem {
  WgmmaType type = WgmmaType::F16;
  int64_t b0 = 1, b1 = 1, m = 0, n = 0, k = 0;
  uintptr_t a = 0, b = 0;
  int64_t aB0 = 0, aB1 = 0, aM = 0, aK = 1;
  int64_t bB0 = 0, bB1 = 0, bK = 0, bN = 0;
  bool cF32 = true; ///< C float32 (split K adds into it), else 16-bit
};

struct WgmmaPlan {
  bool ok = false;        ///< the wgmma kernels take it
  const char *why = "";   ///< why not, when !ok
  bool nn = false;        ///< B N-contiguous (16-bit types only)
  int bn = 256;           ///< tile columns (128 or 256)
  int splits = 1;         ///< K split over blocks
  bool workspace = false; ///< split K into a float32 workspace (16-bit C)
  int kTilesPer = 0;      ///< 128-byte k steps per split
  int64_t gridX = 0, gridY = 0, gridZ = 0; ///< tiles along N, M, batch x split
};

inline int wgmmaElemBytes(WgmmaType t) { return t == WgmmaType::TF32 ? 4 : 2; }

/// `ccMajor`.`ccMinor`: the device; `sms`: its multiprocessors. Operand
/// strides in elements; TMA needs 16-byte aligned bases and row / batch
/// strides that are multiples of 16 bytes.
inline WgmmaPlan planWgmma(const WgmmaProblem &p, int ccMajor, int ccMinor,
                           int64_t sms, bool split16 = true) {
  WgmmaPlan plan;
  auto no = [&](const char *why) {
    plan.why = why;
    return plan;
  };
  if (ccMajor != 9 || ccMinor != 0)
    return no("wgmma kernels need a compute capability 9.0 device");
  if (p.m <= 0 || p.n <= 0 || p.k <= 0 || p.b0 <= 0 || p.b1 <= 0)
    return no("empty product");
  if (p.m > INT32_MAX || p.n > INT32_MAX || p.k > INT32_MAX)
    return no("a dimension above 2^31");
  const int64_t eb = wgmmaElemBytes(p.type);
  auto strideOk = [&](int64_t s, int64_t count) {
    // A dim of size 1 is dropped (any stride); else a positive multiple of
    // 16 bytes.
    return count == 1 || (s > 0 && (s * eb) % 16 == 0);
  };
  // Batch dims: also stride 0 (an operand shared by the batches).
  auto batchOk = [&](int64_t s, int64_t count) {
    return s == 0 || strideOk(s, count);
  };
  if (p.aK != 1)
    return no("A is not K-contiguous");
  if (p.a % 16 || p.b % 16)
    return no("an operand is not 16-byte aligned");
  if (!strideOk(p.aM, p.m) || (p.aM < p.k && p.m > 1) ||
      !batchOk(p.aB1, p.b1) || !batchOk(p.aB0, p.b0))
    return no("A's strides are not multiples of 16 bytes");
  if (p.bK == 1) {
    plan.nn = false;
    if (!strideOk(p.bN, p.n) || (p.bN < p.k && p.n > 1))
      return no("B's rows are not multiples of 16 bytes");
  } else if (p.bN == 1 && p.type != WgmmaType::TF32) {
    plan.nn = true;
    if (!strideOk(p.bK, p.k) || (p.bK < p.n && p.k > 1))
      return no("B's rows are not multiples of 16 bytes");
  } else {
    return no(p.type == WgmmaType::TF32 ? "tf32 wgmma needs B K-contiguous"
                                        : "B is neither K- nor N-contiguous");
  }
  if (!batchOk(p.bB1, p.b1) || !batchOk(p.bB0, p.b0))
    return no("B's batch strides are not multiples of 16 bytes");
  const int64_t batches = p.b0 * p.b1;
  if (batches > 65535)
    return no("more than 65535 batches");

  // Tile width: 256 columns unless 128-column tiles (half the work a tile,
  // about 10% less efficient) finish in fewer waves of one block an SM.
  const int64_t mTiles = (p.m + 127) / 128;
  const int64_t tiles256 = (p.n + 255) / 256 * mTiles * batches;
  const int64_t tiles128 = (p.n + 127) / 128 * mTiles * batches;
  const int64_t waves256 = (tiles256 + sms - 1) / sms;
  const int64_t waves128 = (tiles128 + sms - 1) / sms;
  plan.bn = 20 * waves256 <= 11 * waves128 ? 256 : 128;
  const int64_t tiles = plan.bn == 256 ? tiles256 : tiles128;
  const int64_t kTiles = (p.k * eb + 127) / 128;
  plan.kTilesPer = int(kTiles);
  // Split K (at least 4 k steps a split) when the tiles leave at least half
  // the SMs idle and C is float32: the splits add their partial sums
  // atomically. A 16-bit C: each split stores its partial sums into a
  // float32 workspace slice of its own and a second kernel adds the slices
  // to C; measured on the H200 (benchmarks/gpu/README.md) that pays only
  // with very few tiles and long K (128x1024x4096: 25 -> 16 us) and costs
  // elsewhere (128x4096x1024: 12 -> 18 us), hence 8x fewer tiles than SMs
  // and at least 32 k steps (QOPT_CUDA_WGMMA_SPLIT16=0: never).
  const bool split =
      p.cF32 ? 2 * tiles <= sms : split16 && 8 * tiles <= sms && kTiles >= 32;
  if (split) {
    int64_t splits = std::min((sms + tiles - 1) / tiles, kTiles / 4);
    splits = std::min<int64_t>(splits, 65535 / batches);
    if (splits > 1) {
      const int64_t per = (kTiles + splits - 1) / splits;
      plan.kTilesPer = int(per);
      plan.splits = int((kTiles + per - 1) / per);
      plan.workspace = !p.cF32 && plan.splits > 1;
    }
  }
  plan.gridX = (p.n + plan.bn - 1) / plan.bn;
  plan.gridY = mTiles;
  plan.gridZ = batches * plan.splits;
  if (plan.gridX * plan.gridY * plan.gridZ > INT32_MAX)
    return no("more than 2^31 tiles");
  plan.ok = true;
  return plan;
}

} // namespace qopt::rt::cuda

#endif // QOPT_LIB_RUNTIME_CUDA_WGMMAPLAN_H
