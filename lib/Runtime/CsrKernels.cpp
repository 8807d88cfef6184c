//===- CsrKernels.cpp - unstructured sparse (CSR) f32 matmul --------------===//
//
// C[i, n] += Σ_{j in [begin[n], end[n])} values[j] · A[i, cols[j]]: a weight
// [N, K] with most of its entries zero (qopt-prune unstructured at >= 70%)
// stored as row ranges (i32), 16-bit column indices and f32 values, 6 bytes
// per nonzero: at 70% zeros 0.45x the dense bytes, at 80% 0.3x.
//
// One row of A (a GEMV): per weight row, 16 nonzeros at a time, the
// columns widened and the x values gathered (vgatherdps), one FMA.
// Several rows: A is transposed into [K][W] (W = 16 rows on AVX-512, 8 on
// AVX2, zero padded), so that each nonzero is one broadcast of its value
// times one contiguous load of its column's W activations: the nonzero's
// index is decoded once for all rows of the block. Threads split the
// weight rows. More than 16 rows of A: the dense f32 kernel on a dense
// copy of the weight (expanded once, cached).
//
//===----------------------------------------------------------------------===//

#include "Gemm.h"
#include "Threads.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

struct Csr {
  const int32_t *begin, *end;
  const uint16_t *cols;
  const float *values;
};

/// y = Σ values[j] · x[cols[j]] over [b, e).
float dotGeneric(const Csr &w, int64_t b, int64_t e, const float *x) {
  float acc = 0.0f;
  for (int64_t j = b; j < e; ++j)
    acc += w.values[j] * x[w.cols[j]];
  return acc;
}

/// out[r] = Σ values[j] · xt[cols[j] * W + r] for r < W over [b, e).
template <int W>
void rowsGeneric(const Csr &w, int64_t b, int64_t e, const float *xt,
                 float *out) {
  float acc[W] = {};
  for (int64_t j = b; j < e; ++j)
    for (int r = 0; r < W; ++r)
      acc[r] += w.values[j] * xt[int64_t(w.cols[j]) * W + r];
  for (int r = 0; r < W; ++r)
    out[r] = acc[r];
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float dotAVX512(const Csr &w, int64_t b,
                                                   int64_t e, const float *x) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t j = b;
  for (; j + 32 <= e; j += 32) {
    __m512i c0 = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w.cols + j)));
    __m512i c1 = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w.cols + j + 16)));
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w.values + j),
                           _mm512_i32gather_ps(c0, x, 4), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w.values + j + 16),
                           _mm512_i32gather_ps(c1, x, 4), acc1);
  }
  if (j + 16 <= e) {
    __m512i c0 = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w.cols + j)));
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w.values + j),
                           _mm512_i32gather_ps(c0, x, 4), acc0);
    j += 16;
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) +
         dotGeneric(w, j, e, x);
}

__attribute__((target("avx512f"))) void
rowsAVX512(const Csr &w, int64_t b, int64_t e, const float *xt, float *out) {
  // Four chains: consecutive nonzeros do not wait on each other's FMA.
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t j = b;
  for (; j + 4 <= e; j += 4)
    for (int u = 0; u < 4; ++u)
      acc[u] = _mm512_fmadd_ps(
          _mm512_set1_ps(w.values[j + u]),
          _mm512_loadu_ps(xt + int64_t(w.cols[j + u]) * 16), acc[u]);
  for (; j < e; ++j)
    acc[0] =
        _mm512_fmadd_ps(_mm512_set1_ps(w.values[j]),
                        _mm512_loadu_ps(xt + int64_t(w.cols[j]) * 16), acc[0]);
  _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]),
                                      _mm512_add_ps(acc[2], acc[3])));
}

__attribute__((target("avx2,fma"))) void
rowsAVX2(const Csr &w, int64_t b, int64_t e, const float *xt, float *out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t j = b;
  for (; j + 4 <= e; j += 4)
    for (int u = 0; u < 4; ++u)
      acc[u] = _mm256_fmadd_ps(_mm256_set1_ps(w.values[j + u]),
                               _mm256_loadu_ps(xt + int64_t(w.cols[j + u]) * 8),
                               acc[u]);
  for (; j < e; ++j)
    acc[0] =
        _mm256_fmadd_ps(_mm256_set1_ps(w.values[j]),
                        _mm256_loadu_ps(xt + int64_t(w.cols[j]) * 8), acc[0]);
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                      _mm256_add_ps(acc[2], acc[3])));
}
#endif

using DotFn = float (*)(const Csr &, int64_t, int64_t, const float *);
using RowsFn = void (*)(const Csr &, int64_t, int64_t, const float *, float *);

struct CsrKernel {
  const char *isa;
  DotFn dot;
  RowsFn rows;
  int64_t width; // rows of A per transposed block
};

/// AVX-512 where the CPU has it, else AVX2; QOPT_KERNEL=avx2|generic picks
/// a narrower one (AVX2 keeps the scalar loop for one row of A).
const CsrKernel &kernel() {
  static const CsrKernel chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") &&
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
      return CsrKernel{"avx512", dotAVX512, rowsAVX512, 16};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return CsrKernel{"avx2", dotGeneric, rowsAVX2, 8};
#endif
    return CsrKernel{"generic", dotGeneric, rowsGeneric<8>, 8};
  }();
  return chosen;
}

constexpr int64_t kParallelWork = 1 << 18;

/// More rows of A than this run the dense f32 GEMM on a dense copy of the
/// weight (expanded once, cached): at 70-80% zeros the dense kernel's full
/// vectors and reused panels win once a block of rows is compute-bound.
constexpr int64_t kMaxSparseRows = 16;

std::mutex denseMu;
std::map<std::array<int64_t, 6>, std::shared_ptr<const std::vector<float>>>
    denseCache;

std::shared_ptr<const std::vector<float>> denseWeight(const Csr &w, int64_t n,
                                                      int64_t k) {
  std::array<int64_t, 6> key{reinterpret_cast<int64_t>(w.begin),
                             reinterpret_cast<int64_t>(w.end),
                             reinterpret_cast<int64_t>(w.cols),
                             reinterpret_cast<int64_t>(w.values),
                             n,
                             k};
  std::lock_guard<std::mutex> lock(denseMu);
  auto &entry = denseCache[key];
  if (!entry) {
    auto d = std::make_shared<std::vector<float>>(size_t(n * k), 0.0f);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = w.begin[r]; j < w.end[r]; ++j)
        (*d)[size_t(r * k + w.cols[j])] = w.values[j];
    entry = std::move(d);
  }
  return entry;
}

} // namespace

void qopt::rt::clearCsrKernelCaches() {
  std::lock_guard<std::mutex> lock(denseMu);
  denseCache.clear();
}

extern "C" {

void qopt_kernel_matmul_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t);

/// The CSR kernel's code path: "avx512", "avx2" or "generic".
const char *qopt_kernel_isa_csr(void) { return kernel().isa; }

/// C[i, r] += Σ_{j in [begin[r], end[r])} values[j] · A[i, cols[j]] for
/// i < m, r < n: A [m, k] f32 (strides aM, aK), begin/end [n] i32 (CSR row
/// pointers: end = begin + 1 for a row-pointer array), cols u16 (< k <=
/// 65536), values f32, C [m, n] f32 (strides cM, cN).
void qopt_kernel_matmul_csr_f32(int64_t m, int64_t n, int64_t k, int64_t aPtr,
                                int64_t aM, int64_t aK, int64_t beginPtr,
                                int64_t endPtr, int64_t colsPtr,
                                int64_t valuesPtr, int64_t cPtr, int64_t cM,
                                int64_t cN) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  const auto *a = reinterpret_cast<const float *>(aPtr);
  auto *c = reinterpret_cast<float *>(cPtr);
  Csr w{reinterpret_cast<const int32_t *>(beginPtr),
        reinterpret_cast<const int32_t *>(endPtr),
        reinterpret_cast<const uint16_t *>(colsPtr),
        reinterpret_cast<const float *>(valuesPtr)};
  const CsrKernel &kern = kernel();
  if (m > kMaxSparseRows) { // C += A · Wᵀ: B[l, j] = W[j, l]
    std::shared_ptr<const std::vector<float>> dense = denseWeight(w, n, k);
    qopt_kernel_matmul_f32(1, 1, m, n, k, aPtr, 0, 0, aM, aK,
                           reinterpret_cast<int64_t>(dense->data()), 0, 0, 1, k,
                           cPtr, 0, 0, cM, cN, 1);
    return;
  }
  int64_t nnz = 0;
  for (int64_t r = 0; r < n; ++r)
    nnz += w.end[r] - w.begin[r];
  // Threads only for products that amortize waking them.
  bool parallel = m * nnz >= kParallelWork;
  constexpr int64_t kRowsPerTask = 32;
  int64_t chunks = (n + kRowsPerTask - 1) / kRowsPerTask;
  if (m == 1 && aK == 1) {
    auto task = [&](int64_t t) {
      for (int64_t r = t * kRowsPerTask;
           r < std::min(n, (t + 1) * kRowsPerTask); ++r)
        c[r * cN] += kern.dot(w, w.begin[r], w.end[r], a);
    };
    if (parallel)
      qopt::rt::parallelFor(chunks, task);
    else
      for (int64_t t = 0; t < chunks; ++t)
        task(t);
    return;
  }
  // Blocks of W rows of A, transposed to [k][W] (zero padded); up to 8
  // rows take 8-wide vectors on AVX-512 too (half the bytes per nonzero).
  int64_t width = kern.width;
  RowsFn rowsFn = kern.rows;
#if defined(__x86_64__)
  if (m <= 8 && width == 16) {
    width = 8;
    rowsFn = rowsAVX2;
  }
#endif
  int64_t blocks = (m + width - 1) / width;
  std::vector<float> xt(static_cast<size_t>(blocks * k * width), 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t l = 0; l < k; ++l)
      xt[size_t(((i / width) * k + l) * width + i % width)] =
          a[i * aM + l * aK];
  auto task = [&](int64_t t) {
    int64_t blk = t / chunks, r0 = (t % chunks) * kRowsPerTask;
    int64_t i0 = blk * width, rows = std::min(width, m - i0);
    const float *xb = xt.data() + blk * k * width;
    alignas(64) float out[16];
    for (int64_t r = r0; r < std::min(n, r0 + kRowsPerTask); ++r) {
      rowsFn(w, w.begin[r], w.end[r], xb, out);
      for (int64_t i = 0; i < rows; ++i)
        c[(i0 + i) * cM + r * cN] += out[i];
    }
  };
  if (parallel)
    qopt::rt::parallelFor(blocks * chunks, task);
  else
    for (int64_t t = 0; t < blocks * chunks; ++t)
      task(t);
}

} // extern "C"
