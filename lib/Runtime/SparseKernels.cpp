//===- SparseKernels.cpp - 2:4 semi-structured f32 GEMV -------------------===//
//
// y[r] = Σ_g Σ_{s<2} values[r, 2g + s] · x[4g + pos(r, g, s)], the weight in
// qopt/Support/Sparse24.h's storage: half the values plus 2 bits each, so a
// batch-1 product, which streams the whole weight once, reads ~56% of the
// dense bytes. AVX-512: 16 values (8 groups, 32 x) per step; their 2-bit
// positions become gather indices with one variable shift, and one
// two-source permute (vpermt2ps) picks the x values from registers.
//
// Several rows of A (the layer form, M > 1): the weight is repacked once
// (cached like the dense kernel's packed panels) into panels of W output
// columns (16 on AVX-512, 8 on AVX2): per group of 4 k, the two slots'
// values of the W columns and their positions as one 32-bit word per slot.
// A register block of up to R rows of A (8 on AVX-512, 4 on AVX2) shares
// each decoded panel step: per row, x[4g..4g+3] broadcast to every 128-bit
// lane and one permute per slot (the position is the lane index; the bits
// above it pick an identical copy) feed one FMA into W columns, so that the
// block reads the compressed weight once, needs no horizontal sums and
// does half the dense multiply-adds. Threads split the panels (N).
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include "Gemm.h"

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

/// A 2:4 weight repacked for the several-row kernels: panels of `width`
/// weight rows (output columns); panel p, group g holds values
/// [2][width] (slot s of each row) and, per slot, one 32-bit word with row
/// c's 2-bit position at bits 2c. Rows past n are zero (values and
/// positions): their columns are computed and dropped.
struct Panels24 {
  int64_t width = 0, groups = 0, panels = 0;
  std::vector<float> values;  // [panels][groups][2][width]
  std::vector<uint32_t> meta; // [panels][groups][2]
};

std::shared_ptr<Panels24> pack24Panels(const float *values, const uint8_t *meta,
                                       int64_t n, int64_t k, int64_t width) {
  auto p = std::make_shared<Panels24>();
  p->width = width;
  p->groups = k / 4;
  p->panels = (n + width - 1) / width;
  p->values.assign(size_t(p->panels * p->groups * 2 * width), 0.0f);
  p->meta.assign(size_t(p->panels * p->groups * 2), 0u);
  for (int64_t r = 0; r < n; ++r) {
    int64_t panel = r / width, c = r % width;
    for (int64_t g = 0; g < p->groups; ++g) {
      uint8_t nibble = uint8_t(meta[r * (k / 8) + g / 2] >> (4 * (g % 2)));
      int64_t at = panel * p->groups + g;
      for (int s = 0; s < 2; ++s) {
        p->values[size_t((at * 2 + s) * width + c)] =
            values[r * (k / 2) + 2 * g + s];
        p->meta[size_t(at * 2 + s)] |= uint32_t((nibble >> (2 * s)) & 3)
                                       << (2 * c);
      }
    }
  }
  return p;
}

/// Repacked weights, keyed by the constants' addresses, shape and panel
/// width; cleared with the dense kernels' caches when a model is freed.
std::mutex panelsMu;
std::map<std::array<int64_t, 5>, std::shared_ptr<const Panels24>> panelsCache;

std::shared_ptr<const Panels24> panels24(const float *values,
                                         const uint8_t *meta, int64_t n,
                                         int64_t k, int64_t width) {
  std::array<int64_t, 5> key{reinterpret_cast<int64_t>(values),
                             reinterpret_cast<int64_t>(meta), n, k, width};
  std::lock_guard<std::mutex> lock(panelsMu);
  std::shared_ptr<const Panels24> &entry = panelsCache[key];
  if (!entry)
    entry = pack24Panels(values, meta, n, k, width);
  return entry;
}

/// tile[r][c] = Σ_g Σ_s values[g][s][c] · x[r][4g + pos] for R rows of A
/// (row stride ldx) against one panel of W columns.
using PanelFn = void (*)(int64_t groups, const float *values,
                         const uint32_t *meta, const float *x, int64_t ldx,
                         float *tile);

#if defined(__x86_64__)
template <int R>
__attribute__((target("avx512f"))) void
panelAVX512(int64_t groups, const float *values, const uint32_t *meta,
            const float *x, int64_t ldx, float *tile) {
  const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
  __m512 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r)
    acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    // Lane c: bits 0-1 are its position; higher bits select one of the
    // four identical copies of x[4g..4g+3] (vpermps reads bits 0-3).
    __m512i i0 = _mm512_srlv_epi32(_mm512_set1_epi32(int(meta[2 * g])), shifts);
    __m512i i1 =
        _mm512_srlv_epi32(_mm512_set1_epi32(int(meta[2 * g + 1])), shifts);
    __m512 v0 = _mm512_loadu_ps(values + 32 * g);
    __m512 v1 = _mm512_loadu_ps(values + 32 * g + 16);
    for (int r = 0; r < R; ++r) {
      __m512 xb = _mm512_broadcast_f32x4(_mm_loadu_ps(x + r * ldx + 4 * g));
      acc0[r] = _mm512_fmadd_ps(v0, _mm512_permutexvar_ps(i0, xb), acc0[r]);
      acc1[r] = _mm512_fmadd_ps(v1, _mm512_permutexvar_ps(i1, xb), acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r)
    _mm512_storeu_ps(tile + 16 * r, _mm512_add_ps(acc0[r], acc1[r]));
}

template <int R>
__attribute__((target("avx2,fma"))) void
panelAVX2(int64_t groups, const float *values, const uint32_t *meta,
          const float *x, int64_t ldx, float *tile) {
  const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  __m256 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r)
    acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (int64_t g = 0; g < groups; ++g) {
    // vpermps reads bits 0-2: bit 2 picks one of two identical copies.
    __m256i i0 = _mm256_srlv_epi32(_mm256_set1_epi32(int(meta[2 * g])), shifts);
    __m256i i1 =
        _mm256_srlv_epi32(_mm256_set1_epi32(int(meta[2 * g + 1])), shifts);
    __m256 v0 = _mm256_loadu_ps(values + 16 * g);
    __m256 v1 = _mm256_loadu_ps(values + 16 * g + 8);
    for (int r = 0; r < R; ++r) {
      __m256 xb = _mm256_broadcast_ps(
          reinterpret_cast<const __m128 *>(x + r * ldx + 4 * g));
      acc0[r] = _mm256_fmadd_ps(v0, _mm256_permutevar8x32_ps(xb, i0), acc0[r]);
      acc1[r] = _mm256_fmadd_ps(v1, _mm256_permutevar8x32_ps(xb, i1), acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r)
    _mm256_storeu_ps(tile + 8 * r, _mm256_add_ps(acc0[r], acc1[r]));
}
#endif

struct Sparse24Kernel {
  const char *isa;
  RowFn row;
  /// Panel width W and register block R (rows of A); panels[R' - 1] runs
  /// R' <= R rows. No panels: the row loop for every row of A.
  int64_t width, rows;
  std::array<PanelFn, 8> panels;
};

/// AVX-512 where the CPU has it, else AVX2; QOPT_KERNEL=avx2|generic picks
/// a narrower one (the AVX2 path keeps the portable row loop for M = 1).
const Sparse24Kernel &kernel() {
  static const Sparse24Kernel chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") && __builtin_cpu_supports("avx512f"))
      return Sparse24Kernel{"avx512",
                            rowAVX512,
                            16,
                            8,
                            {panelAVX512<1>, panelAVX512<2>, panelAVX512<3>,
                             panelAVX512<4>, panelAVX512<5>, panelAVX512<6>,
                             panelAVX512<7>, panelAVX512<8>}};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Sparse24Kernel{"avx2",
                            rowGeneric,
                            8,
                            4,
                            {panelAVX2<1>, panelAVX2<2>, panelAVX2<3>,
                             panelAVX2<4>, nullptr, nullptr, nullptr, nullptr}};
#endif
    return Sparse24Kernel{"generic", rowGeneric, 0, 0, {}};
  }();
  return chosen;
}

constexpr int64_t kParallelWork = 1 << 16;

} // namespace

void qopt::rt::clearSparseKernelCaches() {
  std::lock_guard<std::mutex> lock(panelsMu);
  panelsCache.clear();
}

extern "C" {

/// The 2:4 kernels' code path: "avx512", "avx2" or "generic".
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
  const Sparse24Kernel &kern = kernel();
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  // A strided A is copied once (the kernels read rows along K).
  std::vector<float> copy;
  int64_t lda = aM;
  if (aK != 1) {
    copy.resize(size_t(m * k));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t l = 0; l < k; ++l)
        copy[size_t(i * k + l)] = a[i * aM + l * aK];
    a = copy.data();
    lda = k;
  }
  // Threads only for products that amortize waking them (a dense-sized
  // 1M multiply-adds: the sparse kernels do half or less of that work).
  bool parallel = m * n * k >= (int64_t(1) << 20);
  // One row of A on AVX-512 (or no panel kernel): the row-at-a-time GEMV
  // on the compressed rows as stored.
  if (kern.rows == 0 || (m == 1 && kern.row == rowAVX512)) {
    constexpr int64_t kRowsPerTask = 64;
    int64_t chunks = (n + kRowsPerTask - 1) / kRowsPerTask;
    auto task = [&](int64_t t) {
      int64_t i = t / chunks, r0 = (t % chunks) * kRowsPerTask;
      for (int64_t r = r0; r < std::min(n, r0 + kRowsPerTask); ++r) {
        float y = 0.0f;
        kern.row(k, a + i * lda, values + r * (k / 2), meta + r * (k / 8), &y);
        c[i * cM + r * cN] += y;
      }
    };
    if (parallel)
      qopt::rt::parallelFor(m * chunks, task);
    else
      for (int64_t t = 0; t < m * chunks; ++t)
        task(t);
    return;
  }
  std::shared_ptr<const Panels24> packed =
      panels24(values, meta, n, k, kern.width);
  const int64_t w = kern.width, groups = packed->groups;
  constexpr int64_t kPanelsPerTask = 4;
  int64_t tasks = (packed->panels + kPanelsPerTask - 1) / kPanelsPerTask;
  auto task = [&](int64_t t) {
    alignas(64) float tile[8 * 16];
    for (int64_t p = t * kPanelsPerTask;
         p < std::min(packed->panels, (t + 1) * kPanelsPerTask); ++p) {
      const float *pv = packed->values.data() + p * groups * 2 * w;
      const uint32_t *pm = packed->meta.data() + p * groups * 2;
      int64_t j0 = p * w, cols = std::min(w, n - j0);
      for (int64_t i0 = 0; i0 < m; i0 += kern.rows) {
        int64_t rows = std::min(kern.rows, m - i0);
        kern.panels[size_t(rows - 1)](groups, pv, pm, a + i0 * lda, lda, tile);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j)
            c[(i0 + r) * cM + (j0 + j) * cN] += tile[r * w + j];
      }
    }
  };
  if (parallel)
    qopt::rt::parallelFor(tasks, task);
  else
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
}

} // extern "C"
