//===- SparseInt8Kernels.cpp - 2:4 semi-structured int8 matmul ------------===//
//
// C(i32) += A(s8 or u8) · Wᵀ for a 2:4 int8 weight W [N, K] stored as
// qopt/Support/Sparse24.h lays it out (int8 values [N, K/2], 2-bit
// positions [N, K/8]): what `--prune=2:4 --quantize=w8a8` layers call.
// Exact integer products, equal to qopt_kernel_matmul_{s8s8,u8s8} on the
// dense zeroed weight (a signed A is shifted to u8 (+128) and corrected
// with -128·Σk W[n, k], wrapping i32 arithmetic, as the dense kernel does).
//
// The weight is repacked once (cached) into panels of 16 (AVX-512) or 8
// (AVX2) output columns: per byte of positions (8 k, two groups), each
// column's 4 kept values and its position byte. Per step and column, the
// position byte expands into 4 byte indices (its 2-bit fields, +4 for the
// second group: vpmultishiftqb on AVX-512 VBMI) that pick the column's 4 x
// bytes out of a broadcast of x[8i..8i+7] (vpermb; vpshufb on AVX2), and
// one vpdpbusd multiplies them with the 4 values: per 8 k and 16 columns,
// one permute and one dot product per row of A (the dense kernel: two dot
// products) on 0.625x the dense int8 bytes. Rows of A in register blocks
// of 16 (AVX-512) / 4 (AVX2); threads split the panels. More than 16 rows
// of A: the dense int8 kernel on a dense copy of the weight (cached).
//
//===----------------------------------------------------------------------===//

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

extern "C" {
void qopt_kernel_matmul_s8s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t);
void qopt_kernel_matmul_u8s8(int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t, int64_t);
void qopt_kernel_matmul_w8(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t);
}

namespace {

/// A 2:4 int8 weight in panels of `width` columns: panel p, byte i holds
/// values [width][4] (column c's kept values of groups 2i and 2i+1) and
/// meta [width] (its position byte); sums[j] = Σk W[j, k].
struct Panels24I8 {
  int64_t width = 0, bytes = 0, panels = 0;
  std::vector<int8_t> values; // [panels][bytes][width][4]
  std::vector<uint8_t> meta;  // [panels][bytes][width]
  std::vector<int32_t> sums;  // [panels * width]
};

/// `byValue`: values [panels][bytes][4][width] instead (value u of every
/// column together: the f32 kernel of weight-only layers loads them as
/// one vector per u).
std::shared_ptr<Panels24I8> packPanels(const int8_t *values,
                                       const uint8_t *meta, int64_t n,
                                       int64_t k, int64_t width, bool byValue) {
  auto p = std::make_shared<Panels24I8>();
  p->width = width;
  p->bytes = k / 8;
  p->panels = (n + width - 1) / width;
  p->values.assign(size_t(p->panels * p->bytes * width * 4), 0);
  p->meta.assign(size_t(p->panels * p->bytes * width), 0);
  p->sums.assign(size_t(p->panels * width), 0);
  for (int64_t r = 0; r < n; ++r) {
    int64_t panel = r / width, c = r % width;
    for (int64_t i = 0; i < p->bytes; ++i) {
      int64_t at = panel * p->bytes + i;
      for (int u = 0; u < 4; ++u) {
        int8_t v = values[r * (k / 2) + 4 * i + u];
        p->values[size_t(byValue ? (at * 4 + u) * width + c
                                 : (at * width + c) * 4 + u)] = v;
        p->sums[size_t(r)] += v;
      }
      p->meta[size_t(at * width + c)] = meta[r * (k / 8) + i];
    }
  }
  return p;
}

std::mutex panelsMu;
std::map<std::array<int64_t, 6>, std::shared_ptr<const Panels24I8>> panelsCache;

std::shared_ptr<const Panels24I8> panels(const int8_t *values,
                                         const uint8_t *meta, int64_t n,
                                         int64_t k, int64_t width,
                                         bool byValue) {
  std::array<int64_t, 6> key{reinterpret_cast<int64_t>(values),
                             reinterpret_cast<int64_t>(meta),
                             n,
                             k,
                             width,
                             byValue};
  std::lock_guard<std::mutex> lock(panelsMu);
  std::shared_ptr<const Panels24I8> &entry = panelsCache[key];
  if (!entry)
    entry = packPanels(values, meta, n, k, width, byValue);
  return entry;
}

/// tile[r][c] = Σ_i Σ_u values[i][c][u] · x[r][8i + 4(u/2) + pos(c, i, u)]
/// for R rows of A (u8, row stride ldx) against one panel.
using PanelFn = void (*)(int64_t bytes, const int8_t *values,
                         const uint8_t *meta, const uint8_t *x, int64_t ldx,
                         int32_t *tile);

/// The portable loop over one column of the stored rows: Σ a · w with
/// wrapping i32 arithmetic (a signed or unsigned).
template <typename A>
int32_t dotGeneric(int64_t k, const A *a, const int8_t *values,
                   const uint8_t *meta) {
  uint32_t acc = 0;
  for (int64_t g = 0; g < k / 4; ++g) {
    uint8_t nibble = uint8_t(meta[g / 2] >> (4 * (g % 2)));
    acc += uint32_t(int32_t(values[2 * g]) * int32_t(a[4 * g + (nibble & 3)]));
    acc += uint32_t(int32_t(values[2 * g + 1]) *
                    int32_t(a[4 * g + ((nibble >> 2) & 3)]));
  }
  return int32_t(acc);
}

#if defined(__x86_64__)
/// One step (8 k) of panelVNNI into the accumulators `acc`.
template <int R>
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"),
               always_inline)) inline void
stepVNNI(const int8_t *values, const uint8_t *meta, const uint8_t *x,
         int64_t ldx, __m512i *acc) {
  // Qword q holds columns 2q (bits 0-7) and 2q+1 (bits 32-39) after the
  // zero extension; byte u of a column takes its bits 2u..2u+7, keeps the
  // low two (its position) and adds 4 for the second group (bytes 2, 3).
  const __m512i shifts = _mm512_set1_epi64(0x2624222006040200LL);
  const __m512i three = _mm512_set1_epi8(3);
  const __m512i second = _mm512_set1_epi32(0x04040000);
  __m512i m = _mm512_cvtepu8_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i *>(meta)));
  __m512i idx = _mm512_ternarylogic_epi32(
      _mm512_multishift_epi64_epi8(shifts, m), three, second, 0xEA);
  __m512i v = _mm512_loadu_si512(values);
  for (int r = 0; r < R; ++r) {
    int64_t q;
    std::memcpy(&q, x + r * ldx, 8);
    __m512i xs = _mm512_permutexvar_epi8(idx, _mm512_set1_epi64(q));
    acc[r] = _mm512_dpbusd_epi32(acc[r], xs, v);
  }
}

template <int R>
__attribute__((target("avx512f,avx512bw,avx512vnni,avx512vbmi"))) void
panelVNNI(int64_t bytes, const int8_t *values, const uint8_t *meta,
          const uint8_t *x, int64_t ldx, int32_t *tile) {
  // With few rows, two accumulators per row (even and odd steps) so that
  // a row does not wait on vpdpbusd's latency.
  constexpr int kSets = R < 4 ? 2 : 1;
  __m512i acc[kSets][R];
  for (int set = 0; set < kSets; ++set)
    for (int r = 0; r < R; ++r)
      acc[set][r] = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + kSets <= bytes; i += kSets)
    for (int set = 0; set < kSets; ++set)
      stepVNNI<R>(values + 64 * (i + set), meta + 16 * (i + set),
                  x + 8 * (i + set), ldx, acc[set]);
  if (i < bytes)
    stepVNNI<R>(values + 64 * i, meta + 16 * i, x + 8 * i, ldx, acc[0]);
  for (int r = 0; r < R; ++r)
    _mm512_storeu_si512(tile + 16 * r,
                        kSets == 2 ? _mm512_add_epi32(acc[0][r], acc[1][r])
                                   : acc[0][r]);
}
#endif

#if defined(__x86_64__)
/// vpdpbusd on 8 lanes without VNNI (as QuantKernels.cpp): even and odd
/// bytes widened to i16, multiplied and pair-summed by pmaddwd (exact).
__attribute__((target("avx2"))) inline __m256i
dpbusdAVX2(__m256i acc, __m256i a, __m256i b) {
  const __m256i lowBytes = _mm256_set1_epi16(0x00FF);
  __m256i aEven = _mm256_and_si256(a, lowBytes);
  __m256i aOdd = _mm256_srli_epi16(a, 8);
  __m256i bEven = _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8);
  __m256i bOdd = _mm256_srai_epi16(b, 8);
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(aEven, bEven));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(aOdd, bOdd));
}

template <int R>
__attribute__((target("avx2"))) void
panelAVX2(int64_t bytes, const int8_t *values, const uint8_t *meta,
          const uint8_t *x, int64_t ldx, int32_t *tile) {
  const __m256i three = _mm256_set1_epi8(3);
  const __m256i second = _mm256_set1_epi32(0x04040000);
  __m256i acc[R];
  for (int r = 0; r < R; ++r)
    acc[r] = _mm256_setzero_si256();
  for (int64_t i = 0; i < bytes; ++i) {
    int64_t mq;
    std::memcpy(&mq, meta + 8 * i, 8);
    __m256i m = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mq));
    // Byte u of a column: its bits 2u..2u+1 (m | m<<6 | m<<12 | m<<18).
    __m256i f = _mm256_or_si256(
        _mm256_or_si256(m, _mm256_slli_epi32(m, 6)),
        _mm256_or_si256(_mm256_slli_epi32(m, 12), _mm256_slli_epi32(m, 18)));
    __m256i idx = _mm256_or_si256(_mm256_and_si256(f, three), second);
    __m256i v =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(values + 32 * i));
    for (int r = 0; r < R; ++r) {
      int64_t q;
      std::memcpy(&q, x + r * ldx + 8 * i, 8);
      // vpshufb indexes within 128-bit lanes: x[8i..8i+7] in both halves.
      __m256i xs = _mm256_shuffle_epi8(_mm256_set1_epi64x(q), idx);
      acc[r] = dpbusdAVX2(acc[r], xs, v);
    }
  }
  for (int r = 0; r < R; ++r)
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(tile + 8 * r), acc[r]);
}
#endif

#if defined(__x86_64__)
/// Weight-only int8 2:4 (f32 A): tile[r][c] = Σ values[i][u][c] ·
/// x[r][8i + 4(u/2) + pos], unscaled, for R rows against one byValue
/// panel of 16 columns. Per 8 k: the four value vectors widened to f32 and
/// four position vectors decoded once for the block; per row, x[8i..8i+7]
/// broadcast to both 256-bit halves, one vpermps and one FMA per u.
template <int R>
__attribute__((target("avx512f,avx512bw"))) void
panelW8AVX512(int64_t bytes, const int8_t *values, const uint8_t *meta,
              const float *x, int64_t ldx, float *tile) {
  const __m512i three = _mm512_set1_epi32(3);
  const __m512i four = _mm512_set1_epi32(4);
  __m512 acc[2][R];
  for (int r = 0; r < R; ++r)
    acc[0][r] = acc[1][r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < bytes; ++i) {
    __m512i m = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(meta + 16 * i)));
    __m512i idx[4];
    __m512 v[4];
    for (int u = 0; u < 4; ++u) {
      idx[u] = _mm512_and_si512(_mm512_srli_epi32(m, 2 * u), three);
      if (u >= 2)
        idx[u] = _mm512_or_si512(idx[u], four);
      v[u] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
          reinterpret_cast<const __m128i *>(values + 64 * i + 16 * u))));
    }
    for (int r = 0; r < R; ++r) {
      __m512 xb = _mm512_castpd_ps(_mm512_broadcast_f64x4(
          _mm256_castps_pd(_mm256_loadu_ps(x + r * ldx + 8 * i))));
      for (int u = 0; u < 4; ++u)
        acc[u % 2][r] = _mm512_fmadd_ps(v[u], _mm512_permutexvar_ps(idx[u], xb),
                                        acc[u % 2][r]);
    }
  }
  for (int r = 0; r < R; ++r)
    _mm512_storeu_ps(tile + 16 * r, _mm512_add_ps(acc[0][r], acc[1][r]));
}
#endif

using PanelW8Fn = void (*)(int64_t bytes, const int8_t *values,
                           const uint8_t *meta, const float *x, int64_t ldx,
                           float *tile);

struct Kernel24I8 {
  const char *isa;
  int64_t width, rows; // 0: the portable loop
  std::array<PanelFn, 16> panels;
};

/// AVX-512 (VNNI and VBMI) where the CPU has them, else AVX2;
/// QOPT_KERNEL=avx2|generic picks a narrower one.
const Kernel24I8 &kernel() {
  static const Kernel24I8 chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") &&
        __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512vbmi") &&
        __builtin_cpu_supports("avx512bw"))
      return Kernel24I8{"avx512vnni",
                        16,
                        8,
                        {panelVNNI<1>, panelVNNI<2>, panelVNNI<3>, panelVNNI<4>,
                         panelVNNI<5>, panelVNNI<6>, panelVNNI<7>,
                         panelVNNI<8>}};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2"))
      return Kernel24I8{"avx2",
                        8,
                        4,
                        {panelAVX2<1>, panelAVX2<2>, panelAVX2<3>, panelAVX2<4>,
                         nullptr, nullptr, nullptr, nullptr}};
#endif
    return Kernel24I8{"generic", 0, 0, {}};
  }();
  return chosen;
}

constexpr int64_t kParallelWork = 1 << 20;

/// More rows of A than this run the dense int8 GEMM on a dense copy of the
/// weight (unpacked once, cached): with many rows it reuses each packed
/// weight panel across register tiles, and its two dot products per 8 k
/// beat one permute and one dot product here.
constexpr int64_t kMaxSparseRows = 16;

std::map<std::array<int64_t, 4>, std::shared_ptr<const std::vector<int8_t>>>
    denseCache;

std::shared_ptr<const std::vector<int8_t>>
denseWeight(const int8_t *values, const uint8_t *meta, int64_t n, int64_t k) {
  std::array<int64_t, 4> key{reinterpret_cast<int64_t>(values),
                             reinterpret_cast<int64_t>(meta), n, k};
  std::lock_guard<std::mutex> lock(panelsMu);
  auto &entry = denseCache[key];
  if (!entry) {
    auto w = std::make_shared<std::vector<int8_t>>(size_t(n * k), int8_t(0));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t g = 0; g < k / 4; ++g) {
        uint8_t nibble = uint8_t(meta[r * (k / 8) + g / 2] >> (4 * (g % 2)));
        for (int s = 0; s < 2; ++s)
          (*w)[size_t(r * k + 4 * g + ((nibble >> (2 * s)) & 3))] =
              values[r * (k / 2) + 2 * g + s];
      }
    entry = std::move(w);
  }
  return entry;
}

void matmul24I8(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t aM,
                int64_t aK, bool aSigned, const int8_t *values,
                const uint8_t *meta, int32_t *c, int64_t cM, int64_t cN) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  const Kernel24I8 &kern = kernel();
  // Threads only for products that amortize waking them.
  bool parallel = m * n * k >= kParallelWork;
  if (kern.rows == 0) {
    auto task = [&](int64_t t) {
      int64_t i = t / n, r = t % n;
      const int8_t *v = values + r * (k / 2);
      const uint8_t *mt = meta + r * (k / 8);
      std::vector<int32_t> row(static_cast<size_t>(k));
      for (int64_t l = 0; l < k; ++l)
        row[size_t(l)] = aSigned ? int32_t(int8_t(a[i * aM + l * aK]))
                                 : int32_t(a[i * aM + l * aK]);
      int32_t &o = c[i * cM + r * cN];
      o = int32_t(uint32_t(o) + uint32_t(dotGeneric(k, row.data(), v, mt)));
    };
    if (parallel)
      qopt::rt::parallelFor(m * n, task);
    else
      for (int64_t t = 0; t < m * n; ++t)
        task(t);
    return;
  }
  // A as contiguous u8 rows (a signed A shifted by +128).
  std::vector<uint8_t> au(size_t(m * k));
  const uint8_t flip = aSigned ? 0x80 : 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t l = 0; l < k; ++l)
      au[size_t(i * k + l)] = uint8_t(a[i * aM + l * aK] ^ flip);
  std::shared_ptr<const Panels24I8> packed =
      panels(values, meta, n, k, kern.width, /*byValue=*/false);
  const int64_t w = kern.width, bytes = packed->bytes;
  constexpr int64_t kPanelsPerTask = 4;
  int64_t tasks = (packed->panels + kPanelsPerTask - 1) / kPanelsPerTask;
  auto task = [&](int64_t t) {
    alignas(64) int32_t tile[16 * 16];
    for (int64_t p = t * kPanelsPerTask;
         p < std::min(packed->panels, (t + 1) * kPanelsPerTask); ++p) {
      const int8_t *pv = packed->values.data() + p * bytes * w * 4;
      const uint8_t *pm = packed->meta.data() + p * bytes * w;
      int64_t j0 = p * w, cols = std::min(w, n - j0);
      for (int64_t i0 = 0; i0 < m; i0 += kern.rows) {
        int64_t rows = std::min(kern.rows, m - i0);
        kern.panels[size_t(rows - 1)](bytes, pv, pm, au.data() + i0 * k, k,
                                      tile);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j) {
            uint32_t v = uint32_t(tile[r * w + j]);
            if (aSigned) // undo the +128 shift: -128 · Σk W[n, k]
              v -= 128u * uint32_t(packed->sums[size_t(j0 + j)]);
            int32_t &o = c[(i0 + r) * cM + (j0 + j) * cN];
            o = int32_t(uint32_t(o) + v);
          }
      }
    }
  };
  if (parallel)
    qopt::rt::parallelFor(tasks, task);
  else
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
}

} // namespace

void qopt::rt::clearSparseInt8KernelCaches() {
  std::lock_guard<std::mutex> lock(panelsMu);
  panelsCache.clear();
  denseCache.clear();
}

extern "C" {

/// The int8 2:4 kernel's code path: "avx512vnni", "avx2" or "generic".
const char *qopt_kernel_isa_sparse24_int8(void) { return kernel().isa; }

/// C[i, r] += Σ W[r, :] · A[i, :] (i32, wrapping) for i < m: A [m, k] s8
/// (strides aM, aK), W a constant 2:4 int8 weight stored as values
/// [n, k/2] i8 and positions [n, k/8] (Sparse24.h; k % 8 == 0), C [m, n]
/// i32 (strides cM, cN). Several-row products repack W once per address.
void qopt_kernel_matmul_sparse24_s8s8(int64_t m, int64_t n, int64_t k,
                                      int64_t aPtr, int64_t aM, int64_t aK,
                                      int64_t valuesPtr, int64_t metaPtr,
                                      int64_t cPtr, int64_t cM, int64_t cN) {
  matmul24I8(m, n, k, reinterpret_cast<const uint8_t *>(aPtr), aM, aK, true,
             reinterpret_cast<const int8_t *>(valuesPtr),
             reinterpret_cast<const uint8_t *>(metaPtr),
             reinterpret_cast<int32_t *>(cPtr), cM, cN);
}

/// C[i, r] += scale[r] · Σ W[r, :] · A[i, :] (f32) for a weight-only int8
/// 2:4 weight (values [n, k/2] i8 + positions [n, k/8]; scale [n] with
/// stride sN): what `--prune=2:4 --quantize=w8` layers call. AVX-512:
/// register blocks of up to 8 rows over panels of 16 columns; elsewhere a
/// portable loop; more than 16 rows: qopt_kernel_matmul_w8 on a dense copy.
void qopt_kernel_matmul_sparse24_w8(int64_t m, int64_t n, int64_t k,
                                    int64_t aPtr, int64_t aM, int64_t aK,
                                    int64_t valuesPtr, int64_t metaPtr,
                                    int64_t sPtr, int64_t sN, int64_t cPtr,
                                    int64_t cM, int64_t cN) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  const auto *a = reinterpret_cast<const float *>(aPtr);
  const auto *values = reinterpret_cast<const int8_t *>(valuesPtr);
  const auto *meta = reinterpret_cast<const uint8_t *>(metaPtr);
  const auto *scale = reinterpret_cast<const float *>(sPtr);
  auto *c = reinterpret_cast<float *>(cPtr);
  if (m > kMaxSparseRows) {
    std::shared_ptr<const std::vector<int8_t>> dense =
        denseWeight(values, meta, n, k);
    qopt_kernel_matmul_w8(m, n, k, aPtr, aM, aK,
                          reinterpret_cast<int64_t>(dense->data()), k, 1, sPtr,
                          sN, cPtr, cM, cN, 1);
    return;
  }
  // A as contiguous f32 rows.
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
  bool parallel = m * n * k >= kParallelWork;
  std::array<PanelW8Fn, 8> fns{};
#if defined(__x86_64__)
  if (kernel().width == 16) // the AVX-512 path (VNNI, VBMI: so AVX512BW)
    fns = {panelW8AVX512<1>, panelW8AVX512<2>, panelW8AVX512<3>,
           panelW8AVX512<4>, panelW8AVX512<5>, panelW8AVX512<6>,
           panelW8AVX512<7>, panelW8AVX512<8>};
#endif
  if (!fns[0]) { // the portable loop, 64 weight rows per task
    constexpr int64_t kRowsPerTask = 64;
    int64_t chunks = (n + kRowsPerTask - 1) / kRowsPerTask;
    auto task = [&](int64_t t) {
      int64_t i = t / chunks, r0 = (t % chunks) * kRowsPerTask;
      for (int64_t r = r0; r < std::min(n, r0 + kRowsPerTask); ++r) {
        const int8_t *v = values + r * (k / 2);
        const uint8_t *mt = meta + r * (k / 8);
        const float *x = a + i * lda;
        float acc = 0.0f;
        for (int64_t g = 0; g < k / 4; ++g) {
          uint8_t nibble = uint8_t(mt[g / 2] >> (4 * (g % 2)));
          acc += float(v[2 * g]) * x[4 * g + (nibble & 3)];
          acc += float(v[2 * g + 1]) * x[4 * g + ((nibble >> 2) & 3)];
        }
        c[i * cM + r * cN] += acc * scale[r * sN];
      }
    };
    if (parallel)
      qopt::rt::parallelFor(m * chunks, task);
    else
      for (int64_t t = 0; t < m * chunks; ++t)
        task(t);
    return;
  }
  std::shared_ptr<const Panels24I8> packed =
      panels(values, meta, n, k, 16, /*byValue=*/true);
  const int64_t bytes = packed->bytes;
  constexpr int64_t kPanelsPerTask = 4, kRows = 8;
  int64_t tasks = (packed->panels + kPanelsPerTask - 1) / kPanelsPerTask;
  auto task = [&](int64_t t) {
    alignas(64) float tile[kRows * 16];
    for (int64_t p = t * kPanelsPerTask;
         p < std::min(packed->panels, (t + 1) * kPanelsPerTask); ++p) {
      const int8_t *pv = packed->values.data() + p * bytes * 64;
      const uint8_t *pm = packed->meta.data() + p * bytes * 16;
      int64_t j0 = p * 16, cols = std::min<int64_t>(16, n - j0);
      for (int64_t i0 = 0; i0 < m; i0 += kRows) {
        int64_t rows = std::min(kRows, m - i0);
        fns[size_t(rows - 1)](bytes, pv, pm, a + i0 * lda, lda, tile);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j)
            c[(i0 + r) * cM + (j0 + j) * cN] +=
                tile[r * 16 + j] * scale[(j0 + j) * sN];
      }
    }
  };
  if (parallel)
    qopt::rt::parallelFor(tasks, task);
  else
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
}

/// As qopt_kernel_matmul_sparse24_s8s8 with an unsigned (u8) A.
void qopt_kernel_matmul_sparse24_u8s8(int64_t m, int64_t n, int64_t k,
                                      int64_t aPtr, int64_t aM, int64_t aK,
                                      int64_t valuesPtr, int64_t metaPtr,
                                      int64_t cPtr, int64_t cM, int64_t cN) {
  matmul24I8(m, n, k, reinterpret_cast<const uint8_t *>(aPtr), aM, aK, false,
             reinterpret_cast<const int8_t *>(valuesPtr),
             reinterpret_cast<const uint8_t *>(metaPtr),
             reinterpret_cast<int32_t *>(cPtr), cM, cN);
}

} // extern "C"
