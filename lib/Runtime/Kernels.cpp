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

} // namespace

extern "C" void
qopt_kernel_matmul_f32(int64_t batch0, int64_t batch1, int64_t m, int64_t n,
                       int64_t k, int64_t aPtr, int64_t aB0, int64_t aB1,
                       int64_t aM, int64_t aK, int64_t bPtr, int64_t bB0,
                       int64_t bB1, int64_t bK, int64_t bN, int64_t cPtr,
                       int64_t cB0, int64_t cB1, int64_t cM, int64_t cN) {
  static const MicroKernel micro = pickMicroKernel();
  const auto *a = reinterpret_cast<const float *>(aPtr);
  const auto *b = reinterpret_cast<const float *>(bPtr);
  auto *c = reinterpret_cast<float *>(cPtr);
  if (batch0 <= 0 || batch1 <= 0 || m <= 0 || n <= 0 || k <= 0)
    return;
  int64_t mBlocks = (m + kMc - 1) / kMc, nBlocks = (n + kNc - 1) / kNc;
  int64_t tasks = batch0 * batch1 * mBlocks * nBlocks;
  qopt::rt::parallelFor(tasks, [&](int64_t task) {
    int64_t nb = task % nBlocks, rest = task / nBlocks;
    int64_t mb = rest % mBlocks;
    rest /= mBlocks;
    int64_t i1 = rest % batch1, i0 = rest / batch1;
    const float *ab = a + i0 * aB0 + i1 * aB1;
    const float *bb = b + i0 * bB0 + i1 * bB1;
    float *cb = c + i0 * cB0 + i1 * cB1;
    int64_t iStart = mb * kMc, mc = std::min(kMc, m - iStart);
    int64_t jStart = nb * kNc, nc = std::min(kNc, n - jStart);
    thread_local std::vector<float> aPack, bPack;
    aPack.resize(size_t(kMc * kKc));
    bPack.resize(size_t(kNc * kKc));
    alignas(64) float acc[kMr * kNr];
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      int64_t kc = std::min(kKc, k - k0);
      packA(ab, {0, 0, aM, aK}, iStart, mc, k0, kc, aPack.data());
      packB(bb, {0, 0, bK, bN}, k0, kc, jStart, nc, bPack.data());
      for (int64_t q = 0; q < nc; q += kNr)
        for (int64_t p = 0; p < mc; p += kMr) {
          micro(kc, aPack.data() + p * kc, bPack.data() + q * kc, acc);
          int64_t rows = std::min(kMr, mc - p), cols = std::min(kNr, nc - q);
          for (int64_t r = 0; r < rows; ++r) {
            float *out = cb + (iStart + p + r) * cM + (jStart + q) * cN;
            const float *src = acc + r * kNr;
            if (cN == 1)
              for (int64_t j = 0; j < cols; ++j)
                out[j] += src[j];
            else
              for (int64_t j = 0; j < cols; ++j)
                out[j * cN] += src[j];
          }
        }
    }
  });
}
