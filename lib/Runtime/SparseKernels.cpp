//===- SparseKernels.cpp - 2:4 semi-structured f32 GEMV -------------------===//
//
// y[r] = Σ_g Σ_{s<2} values[r, 2g + s] · x[4g + pos(r, g, s)], the weight in
// qopt/Support/Sparse24.h's storage: half the values plus 2 bits each, so a
// batch-1 product, which streams the whole weight once, reads ~56% of the
// dense bytes. AVX-512: 16 values (8 groups, 32 x) per step; their 2-bit
// positions become gather indices with one variable shift, and one
// two-source permute (vpermt2ps) picks the x values from registers.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using RowFn = void (*)(int64_t k, const float *x, const float *values,
                       const uint8_t *meta, float *y);

/// One row, any CPU.
void rowGeneric(int64_t k, const float *x, const float *values,
                const uint8_t *meta, float *y) {
  float acc = 0.0f;
  for (int64_t g = 0; g < k / 4; ++g) {
    uint8_t nibble = uint8_t(meta[g / 2] >> (4 * (g % 2)));
    acc += values[2 * g] * x[4 * g + (nibble & 3)];
    acc += values[2 * g + 1] * x[4 * g + ((nibble >> 2) & 3)];
  }
  *y = acc;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void rowAVX512(int64_t k, const float *x,
                                                  const float *values,
                                                  const uint8_t *meta,
                                                  float *y) {
  // Lane j holds value j of 16 = slot j%2 of group j/2: its position is at
  // bit 2j of the 32 metadata bits, and its group starts at x[4 (j/2)].
  const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
  const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20,
                                         20, 24, 24, 28, 28);
  const __m512i three = _mm512_set1_epi32(3);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 64 <= k; c += 64) {
    uint32_t m0, m1;
    std::memcpy(&m0, meta + c / 8, 4);
    std::memcpy(&m1, meta + c / 8 + 4, 4);
    __m512i i0 = _mm512_add_epi32(
        _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int(m0)), shifts),
                         three),
        base);
    __m512i i1 = _mm512_add_epi32(
        _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int(m1)), shifts),
                         three),
        base);
    __m512 x0 = _mm512_permutex2var_ps(_mm512_loadu_ps(x + c), i0,
                                       _mm512_loadu_ps(x + c + 16));
    __m512 x1 = _mm512_permutex2var_ps(_mm512_loadu_ps(x + c + 32), i1,
                                       _mm512_loadu_ps(x + c + 48));
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + c / 2), x0, acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(values + c / 2 + 16), x1, acc1);
  }
  for (; c + 32 <= k; c += 32) {
    uint32_t m0;
    std::memcpy(&m0, meta + c / 8, 4);
    __m512i i0 = _mm512_add_epi32(
        _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int(m0)), shifts),
                         three),
        base);
    __m512 x0 = _mm512_permutex2var_ps(_mm512_loadu_ps(x + c), i0,
                                       _mm512_loadu_ps(x + c + 16));
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + c / 2), x0, acc0);
  }
  float tail = 0.0f;
  if (c < k)
    rowGeneric(k - c, x + c, values + c / 2, meta + c / 8, &tail);
  *y = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail;
}
#endif

#if defined(__x86_64__)
/// R rows of A against one weight row: the positions are decoded once per
/// 16 values and applied to every row of A (batch > 1 reuses the decode).
template <int R>
__attribute__((target("avx512f"))) void
rowsAVX512(int64_t k, const float *const *xs, const float *values,
           const uint8_t *meta, float *ys) {
  const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
  const __m512i base = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20,
                                         20, 24, 24, 28, 28);
  const __m512i three = _mm512_set1_epi32(3);
  __m512 acc[R];
  for (int i = 0; i < R; ++i)
    acc[i] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 32 <= k; c += 32) {
    uint32_t m0;
    std::memcpy(&m0, meta + c / 8, 4);
    __m512i idx = _mm512_add_epi32(
        _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int(m0)), shifts),
                         three),
        base);
    __m512 v = _mm512_loadu_ps(values + c / 2);
    for (int i = 0; i < R; ++i) {
      __m512 x = _mm512_permutex2var_ps(_mm512_loadu_ps(xs[i] + c), idx,
                                        _mm512_loadu_ps(xs[i] + c + 16));
      acc[i] = _mm512_fmadd_ps(v, x, acc[i]);
    }
  }
  for (int i = 0; i < R; ++i) {
    float tail = 0.0f;
    if (c < k)
      rowGeneric(k - c, xs[i] + c, values + c / 2, meta + c / 8, &tail);
    ys[i] = _mm512_reduce_add_ps(acc[i]) + tail;
  }
}
#endif

struct Sparse24Kernel {
  const char *isa;
  RowFn row;
};

/// AVX-512 where the CPU has it; QOPT_KERNEL=avx2|generic picks the
/// portable loop (there is no AVX2 variant).
const Sparse24Kernel &kernel() {
  static const Sparse24Kernel chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") && __builtin_cpu_supports("avx512f"))
      return Sparse24Kernel{"avx512", rowAVX512};
#endif
    return Sparse24Kernel{"generic", rowGeneric};
  }();
  return chosen;
}

constexpr int64_t kParallelWork = 1 << 16;

} // namespace

extern "C" {

/// The 2:4 GEMV's code path: "avx512" or "generic".
const char *qopt_kernel_isa_sparse24(void) { return kernel().isa; }

/// y[n] = W · x for a 2:4 weight W [n, k] stored as values [n, k/2] and
/// metadata [n, k/8] (qopt/Support/Sparse24.h); k % 8 == 0. Rows are split
/// over the runtime's threads for large products.
void qopt_kernel_gemv_sparse24_f32(int64_t n, int64_t k, int64_t xPtr,
                                   int64_t valuesPtr, int64_t metaPtr,
                                   int64_t yPtr) {
  const auto *x = reinterpret_cast<const float *>(xPtr);
  const auto *values = reinterpret_cast<const float *>(valuesPtr);
  const auto *meta = reinterpret_cast<const uint8_t *>(metaPtr);
  auto *y = reinterpret_cast<float *>(yPtr);
  RowFn row = kernel().row;
  constexpr int64_t kRowsPerTask = 64;
  int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  auto task = [&](int64_t t) {
    for (int64_t r = t * kRowsPerTask; r < std::min(n, (t + 1) * kRowsPerTask);
         ++r)
      row(k, x, values + r * (k / 2), meta + r * (k / 8), y + r);
  };
  if (n * k < kParallelWork)
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
  else
    qopt::rt::parallelFor(tasks, task);
}

/// C[i, r] += Σ W[r, :] · A[i, :] for i < m: the 2:4 weight as above, A
/// [m, k] with strides (aM, aK), C [m, n] with strides (cM, cN). The layer
/// form compiled models call (qopt.linear with a 2:4 weight).
void qopt_kernel_matmul_sparse24_f32(int64_t m, int64_t n, int64_t k,
                                     int64_t aPtr, int64_t aM, int64_t aK,
                                     int64_t valuesPtr, int64_t metaPtr,
                                     int64_t cPtr, int64_t cM, int64_t cN) {
  const auto *a = reinterpret_cast<const float *>(aPtr);
  const auto *values = reinterpret_cast<const float *>(valuesPtr);
  const auto *meta = reinterpret_cast<const uint8_t *>(metaPtr);
  auto *c = reinterpret_cast<float *>(cPtr);
  RowFn row = kernel().row;
  constexpr int64_t kRowsPerTask = 64;
  int64_t chunks = (n + kRowsPerTask - 1) / kRowsPerTask;
  bool avx512 = std::string(kernel().isa) == "avx512";
  // Rows of A in blocks of 4 (the AVX-512 path decodes each weight row's
  // positions once per block); a strided row is copied per task.
  constexpr int64_t kBlock = 4;
  int64_t blocks = (m + kBlock - 1) / kBlock;
  auto task = [&](int64_t t) {
    int64_t i0 = (t / chunks) * kBlock, r0 = (t % chunks) * kRowsPerTask;
    int rows = int(std::min(kBlock, m - i0));
    const float *xs[kBlock];
    std::vector<float> copy;
    if (aK != 1)
      copy.resize(size_t(rows * k));
    for (int i = 0; i < rows; ++i) {
      xs[i] = a + (i0 + i) * aM;
      if (aK != 1) {
        for (int64_t l = 0; l < k; ++l)
          copy[size_t(i * k + l)] = xs[i][l * aK];
        xs[i] = copy.data() + i * k;
      }
    }
    for (int64_t r = r0; r < std::min(n, r0 + kRowsPerTask); ++r) {
      const float *v = values + r * (k / 2);
      const uint8_t *mt = meta + r * (k / 8);
      float ys[kBlock] = {0, 0, 0, 0};
#if defined(__x86_64__)
      if (avx512 && rows == 4)
        rowsAVX512<4>(k, xs, v, mt, ys);
      else if (avx512 && rows == 3)
        rowsAVX512<3>(k, xs, v, mt, ys);
      else if (avx512 && rows == 2)
        rowsAVX512<2>(k, xs, v, mt, ys);
      else
#endif
        for (int i = 0; i < rows; ++i)
          row(k, xs[i], v, mt, &ys[i]);
      for (int i = 0; i < rows; ++i)
        c[(i0 + i) * cM + r * cN] += ys[i];
    }
  };
  int64_t tasks = blocks * chunks;
  if (m * n * k < kParallelWork)
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
  else
    qopt::rt::parallelFor(tasks, task);
}

} // extern "C"
