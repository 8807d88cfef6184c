//===- Kernels.cpp - matmul kernel that compiled code calls ---------------===//
//
// `qopt_kernel_matmul_f32` computes C += A·B for (up to two) batch dims
// with arbitrary element strides, the way BLIS-style GEMMs do: blocks of A
// and B are packed into contiguous panels and a 6x16 register-tile
// microkernel (AVX2 + FMA, chosen at run time; portable C++ otherwise)
// accumulates over K. Blocks are spread over the thread pool. The CPU
// pipeline lowers f32 contractions (qopt.linear, MatMul, Gemm) to calls of
// it; everything else is generated code.
//
// The sum over K is evaluated in blocks of kKc in order, so results do not
// depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kMr = 6, kNr = 16; // register tile
constexpr int64_t kKc = 256;         // K block (A and B panels in L1/L2)
constexpr int64_t kMc = 72;          // M block (multiple of kMr)
constexpr int64_t kNc = 256;         // N block (multiple of kNr)

struct Strides {
  int64_t b0, b1, r, c; // batch0, batch1, row, column
};

/// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of A into panels of kMr rows:
/// panel p holds A[i0 + p*kMr + r][k0 + k] at p*kc*kMr + k*kMr + r, zero
/// padded.
void packA(const float *a, Strides s, int64_t i0, int64_t mc, int64_t k0,
           int64_t kc, float *out) {
  for (int64_t p = 0; p < mc; p += kMr) {
    int64_t rows = std::min(kMr, mc - p);
    for (int64_t k = 0; k < kc; ++k) {
      const float *col = a + (k0 + k) * s.c + (i0 + p) * s.r;
      float *dst = out + p * kc + k * kMr;
      int64_t r = 0;
      for (; r < rows; ++r)
        dst[r] = col[r * s.r];
      for (; r < kMr; ++r)
        dst[r] = 0;
    }
  }
}

/// Packs rows [k0, k0+kc) x cols [j0, j0+nc) of B into panels of kNr
/// columns: panel q holds B[k0 + k][j0 + q*kNr + c] at q*kc*kNr + k*kNr + c.
void packB(const float *b, Strides s, int64_t k0, int64_t kc, int64_t j0,
           int64_t nc, float *out) {
  if (s.r == 1 && s.c != 1) {
    // K-contiguous (a linear layer's [N, K] weight): read along K.
    for (int64_t q = 0; q < nc; q += kNr) {
      int64_t cols = std::min(kNr, nc - q);
      float *panel = out + q * kc;
      for (int64_t c = 0; c < kNr; ++c) {
        if (c >= cols) {
          for (int64_t k = 0; k < kc; ++k)
            panel[k * kNr + c] = 0;
          continue;
        }
        const float *src = b + k0 + (j0 + q + c) * s.c;
        for (int64_t k = 0; k < kc; ++k)
          panel[k * kNr + c] = src[k];
      }
    }
    return;
  }
  for (int64_t q = 0; q < nc; q += kNr) {
    int64_t cols = std::min(kNr, nc - q);
    for (int64_t k = 0; k < kc; ++k) {
      const float *row = b + (k0 + k) * s.r + (j0 + q) * s.c;
      float *dst = out + q * kc + k * kNr;
      int64_t c = 0;
      if (s.c == 1 && cols == kNr) {
        std::memcpy(dst, row, sizeof(float) * kNr);
        continue;
      }
      for (; c < cols; ++c)
        dst[c] = row[c * s.c];
      for (; c < kNr; ++c)
        dst[c] = 0;
    }
  }
}

/// acc[kMr][kNr] = sum_k ap[k][r] * bp[k][c].
void microGeneric(int64_t kc, const float *ap, const float *bp, float *acc) {
  float t[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = 0; r < kMr; ++r)
      for (int64_t c = 0; c < kNr; ++c)
        t[r][c] += ap[k * kMr + r] * bp[k * kNr + c];
  std::memcpy(acc, t, sizeof(t));
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void
microAVX2(int64_t kc, const float *ap, const float *bp, float *acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00,
         c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
         c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    __m256 a;
    a = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
    ap += kMr;
    bp += kNr;
  }
  __m256 rows[12] = {c00, c01, c10, c11, c20, c21,
                     c30, c31, c40, c41, c50, c51};
  for (int i = 0; i < 12; ++i)
    _mm256_storeu_ps(acc + 8 * i, rows[i]);
}
#endif

using MicroKernel = void (*)(int64_t, const float *, const float *, float *);

MicroKernel pickMicroKernel() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return microAVX2;
#endif
  return microGeneric;
}


/// C += A·B over two outer dims; strides in elements (see the kernel
/// declaration below for the order).
struct PackedB;

struct Gemm {
  int64_t batch0, batch1, m, n, k;
  bool bConstant; // B is a constant of the artifact: pack it once
  const float *a;
  int64_t aB0, aB1, aM, aK;
  const float *b;
  int64_t bB0, bB1, bK, bN;
  float *c;
  int64_t cB0, cB1, cM, cN;
  /// B already packed by the caller (the convolution's im2col); b and its
  /// strides are then unused.
  const PackedB *packed = nullptr;
};

/// B packed whole, as packB lays out each (k0, j0) block: block (k0, j0)
/// starts at k0 * nPadded + j0 * kc.
struct PackedB {
  std::vector<float> data;
  int64_t nPadded;
};

/// Constant B matrices packed once per model, keyed by what identifies the
/// view. Cleared when a model is freed (the next one may reuse addresses).
std::mutex packedMu;
std::map<std::array<int64_t, 6>, std::unique_ptr<PackedB>> packedCache;

const PackedB &packedConstant(const float *b, int64_t k, int64_t n,
                              int64_t bK, int64_t bN) {
  std::array<int64_t, 6> key{reinterpret_cast<int64_t>(b), k, n, bK, bN, 0};
  std::lock_guard<std::mutex> lock(packedMu);
  std::unique_ptr<PackedB> &entry = packedCache[key];
  if (!entry) {
    auto p = std::make_unique<PackedB>();
    p->nPadded = (n + kNr - 1) / kNr * kNr;
    p->data.resize(size_t(p->nPadded * k));
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      int64_t kc = std::min(kKc, k - k0);
      for (int64_t j0 = 0; j0 < n; j0 += kNc)
        packB(b, {0, 0, bK, bN}, k0, kc, j0, std::min(kNc, n - j0),
              p->data.data() + k0 * p->nPadded + j0 * kc);
    }
    entry = std::move(p);
  }
  return *entry;
}

void runGemm(const Gemm &g) {
  static const MicroKernel micro = pickMicroKernel();
  if (g.batch0 <= 0 || g.batch1 <= 0 || g.m <= 0 || g.n <= 0 || g.k <= 0)
    return;
  int64_t mBlocks = (g.m + kMc - 1) / kMc, nBlocks = (g.n + kNc - 1) / kNc;
  int64_t tasks = g.batch0 * g.batch1 * mBlocks * nBlocks;
  // A constant B without batch strides is the same matrix for every task.
  const PackedB *prepacked =
      g.packed ? g.packed
      : g.bConstant && g.bB0 == 0 && g.bB1 == 0
          ? &packedConstant(g.b, g.k, g.n, g.bK, g.bN)
          : nullptr;
  qopt::rt::parallelFor(tasks, [&](int64_t task) {
    int64_t nb = task % nBlocks, rest = task / nBlocks;
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
    alignas(64) float acc[kMr * kNr];
    for (int64_t k0 = 0; k0 < g.k; k0 += kKc) {
      int64_t kc = std::min(kKc, g.k - k0);
      packA(ab, {0, 0, g.aM, g.aK}, iStart, mc, k0, kc, aPack.data());
      const float *bPanels;
      if (prepacked) {
        bPanels = prepacked->data.data() + k0 * prepacked->nPadded + jStart * kc;
      } else {
        packB(bb, {0, 0, g.bK, g.bN}, k0, kc, jStart, nc, bPack.data());
        bPanels = bPack.data();
      }
      for (int64_t q = 0; q < nc; q += kNr)
        for (int64_t p = 0; p < mc; p += kMr) {
          micro(kc, aPack.data() + p * kc, bPanels + q * kc, acc);
          int64_t rows = std::min(kMr, mc - p), cols = std::min(kNr, nc - q);
          for (int64_t r = 0; r < rows; ++r) {
            float *out = cb + (iStart + p + r) * g.cM + (jStart + q) * g.cN;
            const float *src = acc + r * kNr;
            if (g.cN == 1)
              for (int64_t j = 0; j < cols; ++j)
                out[j] += src[j];
            else
              for (int64_t j = 0; j < cols; ++j)
                out[j * g.cN] += src[j];
          }
        }
    }
  });
}

} // namespace

void qopt::rt::clearKernelCaches() {
  std::lock_guard<std::mutex> lock(packedMu);
  packedCache.clear();
}

// Addresses arrive as i64 (what the generated code computes); strides are
// in elements.
extern "C" void
qopt_kernel_matmul_f32(int64_t batch0, int64_t batch1, int64_t m, int64_t n,
                       int64_t k, int64_t aPtr, int64_t aB0, int64_t aB1,
                       int64_t aM, int64_t aK, int64_t bPtr, int64_t bB0,
                       int64_t bB1, int64_t bK, int64_t bN, int64_t cPtr,
                       int64_t cB0, int64_t cB1, int64_t cM, int64_t cN,
                       int64_t bConstant) {
  runGemm({batch0, batch1, m, n, k, bConstant != 0,
           reinterpret_cast<const float *>(aPtr),
           aB0, aB1, aM, aK, reinterpret_cast<const float *>(bPtr), bB0, bB1,
           bK, bN, reinterpret_cast<float *>(cPtr), cB0, cB1, cM, cN});
}

// out[n, f, oh, ow] += sum_{c, kh, kw} in[n, c, oh*sh + kh*dh, ow*sw + kw*dw]
//                                     * filter[f, c, kh, kw]
// (the input is already padded): im2col per image, then one matmul with
// M = F, N = OH*OW (or OW per output row when rows are not contiguous),
// K = C*KH*KW.
extern "C" void qopt_kernel_conv2d_nchw_f32(
    int64_t n, int64_t c, int64_t h, int64_t w, int64_t f, int64_t kh,
    int64_t kw, int64_t oh, int64_t ow, int64_t sh, int64_t sw, int64_t dh,
    int64_t dw, int64_t inPtr, int64_t inN, int64_t inC, int64_t inH,
    int64_t inW, int64_t fPtr, int64_t fF, int64_t fC, int64_t fH, int64_t fW,
    int64_t outPtr, int64_t outN, int64_t outF, int64_t outH, int64_t outW) {
  (void)h;
  (void)w;
  const auto *in = reinterpret_cast<const float *>(inPtr);
  const auto *filter = reinterpret_cast<const float *>(fPtr);
  auto *out = reinterpret_cast<float *>(outPtr);
  int64_t kdim = c * kh * kw, pixels = oh * ow;
  if (n <= 0 || f <= 0 || kdim <= 0 || pixels <= 0)
    return;
  // The filter as a [F, K] matrix: its (c, kh, kw) dims must collapse.
  std::vector<float> filterCopy;
  int64_t fK = 1;
  if (!(fW == 1 && fH == kw && fC == kh * kw)) {
    filterCopy.resize(size_t(f * kdim));
    for (int64_t i = 0; i < f; ++i)
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            filterCopy[size_t(i * kdim + (ci * kh + y) * kw + x)] =
                filter[i * fF + ci * fC + y * fH + x * fW];
    filter = filterCopy.data();
    fF = kdim;
  }
  bool rowsContiguous = outH == ow * outW;
  // im2col straight into the matmul's packed-B layout (K x pixels in
  // panels of kNr pixels), so that no separate packing pass is needed.
  // Reused between calls (grown, never shrunk): no allocation per call.
  // Named through a reference: inside the lambdas, which run on the pool's
  // threads, `colCache` would name each thread's own copy.
  thread_local PackedB colCache;
  PackedB &col = colCache;
  col.nPadded = (pixels + kNr - 1) / kNr * kNr;
  if (col.data.size() < size_t(col.nPadded * kdim))
    col.data.resize(size_t(col.nPadded * kdim));
  int64_t panels = col.nPadded / kNr;
  const int64_t rowStep = sh * inH, colStep = sw * inW;
  for (int64_t b = 0; b < n; ++b) {
    const float *img = in + b * inN;
    int64_t kBlocks = (kdim + kKc - 1) / kKc;
    qopt::rt::parallelFor(kBlocks * panels, [&](int64_t task) {
      int64_t kb = task / panels, q = task % panels;
      int64_t k0 = kb * kKc, kc = std::min(kKc, kdim - k0);
      // Block (k0, j0) starts at k0 * nPadded + j0 * kc; panel q of it at
      // q * kNr * kc.
      float *panel = col.data.data() + k0 * col.nPadded + q * kNr * kc;
      int64_t p0 = q * kNr, count = std::min(kNr, pixels - p0);
      // The panel's pixels as runs within one output row.
      struct Run {
        int64_t dst, src, len;
      } runs[kNr];
      int numRuns = 0;
      for (int64_t e = 0; e < count;) {
        int64_t i = (p0 + e) / ow, j = (p0 + e) % ow;
        int64_t len = std::min(count - e, ow - j);
        runs[numRuns++] = {e, i * rowStep + j * colStep, len};
        e += len;
      }
      for (int64_t k = 0; k < kc; ++k) {
        int64_t r = k0 + k;
        int64_t x = r % kw, y = (r / kw) % kh, ci = r / (kw * kh);
        const float *base = img + ci * inC + y * dh * inH + x * dw * inW;
        float *dst = panel + k * kNr;
        for (int u = 0; u < numRuns; ++u) {
          const Run &run = runs[u];
          if (colStep == 1) {
            std::memcpy(dst + run.dst, base + run.src,
                        sizeof(float) * size_t(run.len));
          } else {
            for (int64_t e = 0; e < run.len; ++e)
              dst[run.dst + e] = base[run.src + e * colStep];
          }
        }
        for (int64_t e = count; e < kNr; ++e)
          dst[e] = 0;
      }
    });
    float *o = out + b * outN;
    Gemm g{1,       1,       f,       pixels, kdim, false, filter, 0,
           0,       fF,      fK,      nullptr, 0,   0,     0,      0,
           o,       0,       0,       outF,    outW};
    g.packed = &col;
    if (rowsContiguous) {
      runGemm(g);
      continue;
    }
    // Output rows are not contiguous: write through a contiguous buffer.
    std::vector<float> tmp(size_t(f * pixels), 0.0f);
    g.c = tmp.data();
    g.cM = pixels;
    g.cN = 1;
    runGemm(g);
    for (int64_t i = 0; i < f; ++i)
      for (int64_t p = 0; p < pixels; ++p)
        o[i * outF + (p / ow) * outH + (p % ow) * outW] += tmp[i * pixels + p];
  }
}
