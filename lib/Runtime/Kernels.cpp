//===- Kernels.cpp - matmul and convolution kernels compiled code calls ---===//
//
// `qopt_kernel_matmul_f32` computes C += A·B for (up to two) batch dims
// with arbitrary element strides, the way BLIS-style GEMMs do: blocks of A
// and B are packed into contiguous panels and a register-tile microkernel
// accumulates over K — AVX-512 (8x32) or AVX2+FMA (6x16) chosen at run time,
// portable C++ otherwise. Blocks are spread over the thread pool; constant
// B matrices (weights) are packed once and kept. `qopt_kernel_conv2d_nchw_f32`
// runs ConvKernels.cpp's direct
// kernel or this GEMM with input windows packed into its panels. The CPU
// pipeline lowers f32 contractions (qopt.linear, MatMul, Gemm) and NCHW
// convolutions to calls of these; everything else is generated code.
//
// The sum over K is evaluated in blocks of kKc in order, so results do not
// depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "Conv.h"
#include "Gemm.h"
#include "Threads.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using qopt::rt::Gemm;
using qopt::rt::PackedB;

namespace {

constexpr int64_t kKc = 256; // K block (A and B panels stay in L1/L2)
constexpr int64_t kMc = 96;  // M block (a multiple of every kernel's mr)
constexpr int64_t kNc = 256; // N block (a multiple of every kernel's nr)
constexpr int64_t kMaxTile = 8 * 32;

/// A register-tile kernel: C[mr x nr] (row stride ldc, unit column stride)
/// += sum_k ap[k][r] * bp[k][c] over packed panels.
using MicroFn = void (*)(int64_t kc, const float *ap, const float *bp, float *c,
                         int64_t ldc);

struct Micro {
  const char *isa;
  int64_t mr, nr;
  MicroFn fn;
  /// For a tile of `rows` < mr rows (an edge tile, or all of a matmul with
  /// few rows: a recurrent step's h · Rᵀ at batch 1): a kernel that computes
  /// only those rows into a tile of nr columns; null: the full kernel.
  MicroFn (*partial)(int64_t rows);
};

void microGeneric(int64_t kc, const float *ap, const float *bp, float *c,
                  int64_t ldc) {
  float t[6][16] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t j = 0; j < 16; ++j)
        t[r][j] += ap[k * 6 + r] * bp[k * 16 + j];
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t j = 0; j < 16; ++j)
      c[r * ldc + j] += t[r][j];
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void
microAVX2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc) {
  __m256 acc[6][2];
  for (auto &row : acc)
    row[0] = row[1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) {
      __m256 a = _mm256_broadcast_ss(ap + r);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
    ap += 6;
    bp += 16;
  }
  for (int r = 0; r < 6; ++r) {
    float *row = c + r * ldc;
    _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), acc[r][0]));
    _mm256_storeu_ps(row + 8,
                     _mm256_add_ps(_mm256_loadu_ps(row + 8), acc[r][1]));
  }
}

__attribute__((target("avx512f"))) void microAVX512(int64_t kc, const float *ap,
                                                    const float *bp, float *c,
                                                    int64_t ldc) {
  __m512 acc[8][2];
  for (auto &row : acc)
    row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      __m512 a = _mm512_set1_ps(ap[r]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
    ap += 8;
    bp += 32;
  }
  for (int r = 0; r < 8; ++r) {
    float *row = c + r * ldc;
    _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), acc[r][0]));
    _mm512_storeu_ps(row + 16,
                     _mm512_add_ps(_mm512_loadu_ps(row + 16), acc[r][1]));
  }
}

/// R of the mr rows of an AVX-512 tile (packed A panels keep their 8-row
/// stride). With one or two rows the K loop splits over four independent
/// accumulator chains, so that FMA latency, not the rows' few FMAs per k,
/// does not bound it; the chains are added in a fixed order (results stay
/// independent of the thread count).
template <int R>
__attribute__((target("avx512f"))) void
microAVX512Rows(int64_t kc, const float *ap, const float *bp, float *c,
                int64_t ldc) {
  constexpr int S = R <= 2 ? 4 : 1;
  __m512 acc[S][R][2];
  for (auto &chain : acc)
    for (auto &row : chain)
      row[0] = row[1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + S <= kc; k += S) {
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) {
      __m512 b0 = _mm512_loadu_ps(bp + s * 32),
             b1 = _mm512_loadu_ps(bp + s * 32 + 16);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        __m512 a = _mm512_set1_ps(ap[s * 8 + r]);
        acc[s][r][0] = _mm512_fmadd_ps(a, b0, acc[s][r][0]);
        acc[s][r][1] = _mm512_fmadd_ps(a, b1, acc[s][r][1]);
      }
    }
    ap += 8 * S;
    bp += 32 * S;
  }
  for (; k < kc; ++k) {
    __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
    for (int r = 0; r < R; ++r) {
      __m512 a = _mm512_set1_ps(ap[r]);
      acc[0][r][0] = _mm512_fmadd_ps(a, b0, acc[0][r][0]);
      acc[0][r][1] = _mm512_fmadd_ps(a, b1, acc[0][r][1]);
    }
    ap += 8;
    bp += 32;
  }
  for (int r = 0; r < R; ++r) {
    __m512 sum0 = acc[0][r][0], sum1 = acc[0][r][1];
    for (int s = 1; s < S; ++s) {
      sum0 = _mm512_add_ps(sum0, acc[s][r][0]);
      sum1 = _mm512_add_ps(sum1, acc[s][r][1]);
    }
    float *row = c + r * ldc;
    _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), sum0));
    _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), sum1));
  }
}

MicroFn partialAVX512(int64_t rows) {
  static constexpr MicroFn fns[8] = {nullptr,
                                     microAVX512Rows<1>,
                                     microAVX512Rows<2>,
                                     microAVX512Rows<3>,
                                     microAVX512Rows<4>,
                                     microAVX512Rows<5>,
                                     microAVX512Rows<6>,
                                     microAVX512Rows<7>};
  return rows > 0 && rows < 8 ? fns[rows] : nullptr;
}

/// R of the 6 rows of an AVX2 tile; as microAVX512Rows.
template <int R>
__attribute__((target("avx2,fma"))) void
microAVX2Rows(int64_t kc, const float *ap, const float *bp, float *c,
              int64_t ldc) {
  constexpr int S = R <= 2 ? 4 : 1;
  __m256 acc[S][R][2];
  for (auto &chain : acc)
    for (auto &row : chain)
      row[0] = row[1] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + S <= kc; k += S) {
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) {
      __m256 b0 = _mm256_loadu_ps(bp + s * 16),
             b1 = _mm256_loadu_ps(bp + s * 16 + 8);
#pragma GCC unroll 6
      for (int r = 0; r < R; ++r) {
        __m256 a = _mm256_broadcast_ss(ap + s * 6 + r);
        acc[s][r][0] = _mm256_fmadd_ps(a, b0, acc[s][r][0]);
        acc[s][r][1] = _mm256_fmadd_ps(a, b1, acc[s][r][1]);
      }
    }
    ap += 6 * S;
    bp += 16 * S;
  }
  for (; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    for (int r = 0; r < R; ++r) {
      __m256 a = _mm256_broadcast_ss(ap + r);
      acc[0][r][0] = _mm256_fmadd_ps(a, b0, acc[0][r][0]);
      acc[0][r][1] = _mm256_fmadd_ps(a, b1, acc[0][r][1]);
    }
    ap += 6;
    bp += 16;
  }
  for (int r = 0; r < R; ++r) {
    __m256 sum0 = acc[0][r][0], sum1 = acc[0][r][1];
    for (int s = 1; s < S; ++s) {
      sum0 = _mm256_add_ps(sum0, acc[s][r][0]);
      sum1 = _mm256_add_ps(sum1, acc[s][r][1]);
    }
    float *row = c + r * ldc;
    _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), sum0));
    _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), sum1));
  }
}

MicroFn partialAVX2(int64_t rows) {
  static constexpr MicroFn fns[6] = {nullptr,          microAVX2Rows<1>,
                                     microAVX2Rows<2>, microAVX2Rows<3>,
                                     microAVX2Rows<4>, microAVX2Rows<5>};
  return rows > 0 && rows < 6 ? fns[rows] : nullptr;
}
#endif

/// The widest kernel the CPU runs; QOPT_KERNEL=avx2|generic picks a
/// narrower one (for tests and comparisons).
const Micro &micro() {
  static const Micro chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") && __builtin_cpu_supports("avx512f"))
      return Micro{"avx512", 8, 32, microAVX512, partialAVX512};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Micro{"avx2", 6, 16, microAVX2, partialAVX2};
#endif
    return Micro{"generic", 6, 16, microGeneric, nullptr};
  }();
  return chosen;
}

/// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of A (row stride sr, column
/// stride sc) into panels of mr rows: panel p holds A[i0 + p + r][k0 + k]
/// at p*kc + k*mr + r, zero padded.
void packA(const float *a, int64_t sr, int64_t sc, int64_t i0, int64_t mc,
           int64_t k0, int64_t kc, int64_t mr, float *out) {
  for (int64_t p = 0; p < mc; p += mr) {
    int64_t rows = std::min(mr, mc - p);
    float *panel = out + p * kc;
    if (sc == 1) {
      // Row-major A: read each row along K.
      for (int64_t r = 0; r < mr; ++r) {
        if (r >= rows) {
          for (int64_t k = 0; k < kc; ++k)
            panel[k * mr + r] = 0;
          continue;
        }
        const float *src = a + (i0 + p + r) * sr + k0;
        for (int64_t k = 0; k < kc; ++k)
          panel[k * mr + r] = src[k];
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      const float *col = a + (k0 + k) * sc + (i0 + p) * sr;
      int64_t r = 0;
      for (; r < rows; ++r)
        panel[k * mr + r] = col[r * sr];
      for (; r < mr; ++r)
        panel[k * mr + r] = 0;
    }
  }
}

/// Packs rows [k0, k0+kc) x cols [j0, j0+nc) of B (row stride sr, column
/// stride sc) into panels of nr columns: panel q holds B[k0 + k][j0 + q + c]
/// at q*kc + k*nr + c, zero padded.
void packB(const float *b, int64_t sr, int64_t sc, int64_t k0, int64_t kc,
           int64_t j0, int64_t nc, int64_t nr, float *out) {
  for (int64_t q = 0; q < nc; q += nr) {
    int64_t cols = std::min(nr, nc - q);
    float *panel = out + q * kc;
    if (sr == 1 && sc != 1) {
      // K-contiguous B (a linear layer's [N, K] weight): read along K.
      for (int64_t c = 0; c < nr; ++c) {
        if (c >= cols) {
          for (int64_t k = 0; k < kc; ++k)
            panel[k * nr + c] = 0;
          continue;
        }
        const float *src = b + k0 + (j0 + q + c) * sc;
        for (int64_t k = 0; k < kc; ++k)
          panel[k * nr + c] = src[k];
      }
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      const float *row = b + (k0 + k) * sr + (j0 + q) * sc;
      float *dst = panel + k * nr;
      if (sc == 1 && cols == nr) {
        std::memcpy(dst, row, sizeof(float) * size_t(nr));
        continue;
      }
      int64_t c = 0;
      for (; c < cols; ++c)
        dst[c] = row[c * sc];
      for (; c < nr; ++c)
        dst[c] = 0;
    }
  }
}

/// Constant B matrices packed once, keyed by what identifies the view and
/// the layout. Cleared when a model is freed (the next one may reuse the
/// addresses).
/// Shared pointers: a run in flight keeps its entry alive while another
/// thread frees a model (and clears the cache).
std::mutex packedMu;
std::map<std::array<int64_t, 6>, std::shared_ptr<const PackedB>> packedCache;

std::shared_ptr<const PackedB> packedConstant(const float *b, int64_t k,
                                              int64_t n, int64_t bK, int64_t bN,
                                              int64_t nr) {
  std::array<int64_t, 6> key{reinterpret_cast<int64_t>(b), k, n, bK, bN, nr};
  std::lock_guard<std::mutex> lock(packedMu);
  std::shared_ptr<const PackedB> &entry = packedCache[key];
  if (!entry) {
    auto p = std::make_shared<PackedB>();
    p->nPadded = (n + nr - 1) / nr * nr;
    p->data.resize(size_t(p->nPadded * k));
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      int64_t kc = std::min(kKc, k - k0);
      for (int64_t j0 = 0; j0 < n; j0 += kNc)
        packB(b, bK, bN, k0, kc, j0, std::min(kNc, n - j0), nr,
              p->data.data() + k0 * p->nPadded + j0 * kc);
    }
    entry = std::move(p);
  }
  return entry;
}

/// Below this many multiply-adds a matmul runs on the calling thread:
/// waking helpers would cost more.
constexpr int64_t kParallelWork = 1 << 16;

} // namespace

int64_t qopt::rt::gemmPanelWidth() { return micro().nr; }

void qopt::rt::runGemm(const Gemm &g) {
  const Micro &mk = micro();
  if (g.batch0 <= 0 || g.batch1 <= 0 || g.m <= 0 || g.n <= 0 ||
      (g.k <= 0 && !g.epilogue))
    return;
  int64_t mBlocks = (g.m + kMc - 1) / kMc, nBlocks = (g.n + kNc - 1) / kNc;
  int64_t tasks = g.batch0 * g.batch1 * mBlocks * nBlocks;
  // A constant B without batch strides is the same matrix for every task.
  std::shared_ptr<const PackedB> cached;
  if (!g.packed && g.bConstant && g.bB0 == 0 && g.bB1 == 0)
    cached = packedConstant(g.b, g.k, g.n, g.bK, g.bN, mk.nr);
  const PackedB *prepacked = g.packed ? g.packed : cached.get();
  auto task = [&](int64_t t) {
    int64_t nb = t % nBlocks, rest = t / nBlocks;
    int64_t mb = rest % mBlocks;
    rest /= mBlocks;
    int64_t i1 = rest % g.batch1, i0 = rest / g.batch1;
    const float *ab = g.a + i0 * g.aB0 + i1 * g.aB1;
    const float *bb = g.b + i0 * g.bB0 + i1 * g.bB1;
    float *cb = g.c + i0 * g.cB0 + i1 * g.cB1;
    int64_t iStart = mb * kMc, mc = std::min(kMc, g.m - iStart);
    int64_t jStart = nb * kNc, nc = std::min(kNc, g.n - jStart);
    thread_local std::vector<float> aPack, bPack;
    aPack.resize(size_t(kMc * kKc));
    bPack.resize(size_t(kNc * kKc));
    alignas(64) float tile[kMaxTile];
    const qopt::rt::GemmEpilogue *epi = g.epilogue;
    if (epi) // the block starts at the bias (or zeros)
      for (int64_t r = 0; r < mc; ++r) {
        float *row = cb + (iStart + r) * g.cM + jStart * g.cN;
        for (int64_t j = 0; j < nc; ++j)
          row[j * g.cN] =
              epi->bias ? epi->bias[(jStart + j) * epi->biasStride] : 0.0f;
      }
    for (int64_t k0 = 0; k0 < g.k; k0 += kKc) {
      int64_t kc = std::min(kKc, g.k - k0);
      packA(ab, g.aM, g.aK, iStart, mc, k0, kc, mk.mr, aPack.data());
      const float *bPanels;
      if (prepacked) {
        bPanels =
            prepacked->data.data() + k0 * prepacked->nPadded + jStart * kc;
      } else if (g.packBlock) {
        g.packBlock(g.packContext, k0, kc, jStart, nc, mk.nr, bPack.data());
        bPanels = bPack.data();
      } else {
        packB(bb, g.bK, g.bN, k0, kc, jStart, nc, mk.nr, bPack.data());
        bPanels = bPack.data();
      }
      for (int64_t q = 0; q < nc; q += mk.nr)
        for (int64_t p = 0; p < mc; p += mk.mr) {
          int64_t rows = std::min(mk.mr, mc - p),
                  cols = std::min(mk.nr, nc - q);
          float *out = cb + (iStart + p) * g.cM + (jStart + q) * g.cN;
          const float *ap = aPack.data() + p * kc, *bp = bPanels + q * kc;
          if (rows == mk.mr && cols == mk.nr && g.cN == 1) {
            mk.fn(kc, ap, bp, out, g.cM); // full tile straight into C
            continue;
          }
          MicroFn partial =
              rows < mk.mr && mk.partial ? mk.partial(rows) : nullptr;
          std::memset(tile, 0,
                      sizeof(float) * size_t((partial ? rows : mk.mr) * mk.nr));
          (partial ? partial : mk.fn)(kc, ap, bp, tile, mk.nr);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j)
              out[r * g.cM + j * g.cN] += tile[r * mk.nr + j];
        }
    }
    if (epi && (epi->res || epi->act != 0)) {
      const float *rb =
          epi->res ? epi->res + i0 * epi->resB0 + i1 * epi->resB1 : nullptr;
      for (int64_t r = 0; r < mc; ++r) {
        float *row = cb + (iStart + r) * g.cM + jStart * g.cN;
        const float *res =
            rb ? rb + (iStart + r) * epi->resM + jStart * epi->resN : nullptr;
        if (g.cN == 1 && (!res || epi->resN == 1)) {
          qopt::rt::activateRow(row, res, nc, epi->act, epi->alpha, epi->beta,
                                epi->gated);
          continue;
        }
        for (int64_t j = 0; j < nc; ++j) {
          float v = row[j * g.cN];
          if (res && !epi->gated)
            v += res[j * epi->resN];
          v = qopt::rt::convActivation(qopt::rt::ConvAct(epi->act), v,
                                       epi->alpha, epi->beta);
          row[j * g.cN] = epi->gated ? v * res[j * epi->resN] : v;
        }
      }
    }
  };
  if (g.batch0 * g.batch1 * g.m * g.n * g.k < kParallelWork)
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
  else
    qopt::rt::parallelFor(tasks, task);
}

extern "C" const char *qopt_kernel_isa(void) { return micro().isa; }

void qopt::rt::clearKernelCaches() {
  {
    std::lock_guard<std::mutex> lock(packedMu);
    packedCache.clear();
  }
  clearQuantKernelCaches();
  clearSparseKernelCaches();
  clearSparseInt8KernelCaches();
  clearCsrKernelCaches();
}

// Addresses arrive as i64 (what the generated code computes); strides are
// in elements.
extern "C" void qopt_kernel_matmul_f32(int64_t batch0, int64_t batch1,
                                       int64_t m, int64_t n, int64_t k,
                                       int64_t aPtr, int64_t aB0, int64_t aB1,
                                       int64_t aM, int64_t aK, int64_t bPtr,
                                       int64_t bB0, int64_t bB1, int64_t bK,
                                       int64_t bN, int64_t cPtr, int64_t cB0,
                                       int64_t cB1, int64_t cM, int64_t cN,
                                       int64_t bConstant) {
  Gemm g{batch0,
         batch1,
         m,
         n,
         k,
         bConstant != 0,
         reinterpret_cast<const float *>(aPtr),
         aB0,
         aB1,
         aM,
         aK,
         reinterpret_cast<const float *>(bPtr),
         bB0,
         bB1,
         bK,
         bN,
         reinterpret_cast<float *>(cPtr),
         cB0,
         cB1,
         cM,
         cN};
  qopt::rt::runGemm(g);
}

// qopt_kernel_matmul_f32 with an epilogue (Gemm.h, GemmEpilogue): C =
// act(bias[n] + A·B + res) instead of C += A·B. Bias [N] (stride) or 0,
// the activation code (Conv.h's ConvAct) and its two parameters (f32 bits),
// the residual (strides over the two outer dims, M and N) or 0, and whether
// it is a gate (act(C) * res) rather than added before the activation.
extern "C" void qopt_kernel_matmul_f32_fused(
    int64_t batch0, int64_t batch1, int64_t m, int64_t n, int64_t k,
    int64_t aPtr, int64_t aB0, int64_t aB1, int64_t aM, int64_t aK,
    int64_t bPtr, int64_t bB0, int64_t bB1, int64_t bK, int64_t bN,
    int64_t cPtr, int64_t cB0, int64_t cB1, int64_t cM, int64_t cN,
    int64_t bConstant, int64_t biasPtr, int64_t biasStride, int64_t act,
    int64_t alphaBits, int64_t betaBits, int64_t resPtr, int64_t resB0,
    int64_t resB1, int64_t resM, int64_t resN, int64_t gated) {
  qopt::rt::GemmEpilogue epi;
  epi.bias = reinterpret_cast<const float *>(biasPtr);
  epi.biasStride = biasStride;
  epi.res = reinterpret_cast<const float *>(resPtr);
  epi.resB0 = resB0;
  epi.resB1 = resB1;
  epi.resM = resM;
  epi.resN = resN;
  epi.act = int(qopt::rt::convActFromCode(act));
  epi.alpha = qopt::rt::floatFromBits(alphaBits);
  epi.beta = qopt::rt::floatFromBits(betaBits);
  epi.gated = gated != 0 && epi.res;
  Gemm g{batch0,
         batch1,
         m,
         n,
         k,
         bConstant != 0,
         reinterpret_cast<const float *>(aPtr),
         aB0,
         aB1,
         aM,
         aK,
         reinterpret_cast<const float *>(bPtr),
         bB0,
         bB1,
         bK,
         bN,
         reinterpret_cast<float *>(cPtr),
         cB0,
         cB1,
         cM,
         cN};
  g.epilogue = &epi;
  qopt::rt::runGemm(g);
}

// out[n, f, oh, ow] += sum_{c, kh, kw} in[n, c, oh*sh + kh*dh, ow*sw + kw*dw]
//                                     * filter[f, c, kh, kw]
// (the input is already padded): ConvKernels.cpp's direct kernel, or the
// GEMM above with input windows packed block by block into its panels.
extern "C" void qopt_kernel_conv2d_nchw_f32(QOPT_CONV2D_NCHW_PARAMS) {
  qopt::rt::ConvF32 conv{n,
                         c,
                         f,
                         kh,
                         kw,
                         oh,
                         ow,
                         sh,
                         sw,
                         dh,
                         dw,
                         reinterpret_cast<const float *>(inPtr),
                         inN,
                         inC,
                         inH,
                         inW,
                         reinterpret_cast<const float *>(fPtr),
                         fF,
                         fC,
                         fH,
                         fW,
                         reinterpret_cast<float *>(outPtr),
                         outN,
                         outF,
                         outH,
                         outW};
  qopt::rt::convF32(conv, qopt::rt::ConvEpilogue{});
}
