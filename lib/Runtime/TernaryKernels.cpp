//===- TernaryKernels.cpp - BitLinear matmuls on 2-bit ternary weights ----===//
//
// What qopt.bitlinear lowers to on the CPU (docs/Quantization/Ternary.md).
// The weight B is [N, K/4] bytes, four weights a byte along K, weight k in
// bits 2*(k%4) of byte k/4 as the code t + 1 (qopt/Support/Ternary.h).
//
// * `qopt_kernel_matmul_s8t2`: C(i32) += q(A) · Bᵀ where each row i of the
//   f32 A is quantized with its scale s[i] (BitNet b1.58: q = clamp(
//   round_half_even(a * s[i]), -128, 127)); exact integer sums. The codes
//   go into x86's u8 x s8 dot products (vpdpbusd on AVX-512 VNNI,
//   vpmaddubsw + vpmaddwd on AVX2, never saturating: see rowI8AVX2), and
//   Σ (t + 1) q = Σ t q + Σ q is corrected with Σ q.
// * `qopt_kernel_matmul_f32t2`: C(f32) += A · Bᵀ, float inputs (a float
//   model whose weights are ternary; the scale gamma is applied after):
//   each code picks one of {-1, 0, +1} (vpermps) and is multiplied-added
//   in f32.
//
// A byte holds k = 4j .. 4j+3. The f32 kernels shift a vector of bytes
// right by 2s and mask it to get the weights k = 4j + s of consecutive
// bytes j; the int8 ones only mask it with 3 << 2s (code · 4^s, divided out
// of their sums exactly). Rather than reorder the weights, each row of A is
// reordered once per call to match: for a chunk of C bytes,
// A'[s*C + j] = A[4j + s] (C = the vector width in codes). The weight is
// read once, at 2 bits a weight, straight from the model's constant:
// nothing is packed or cached. Activations are quantized 16 (AVX-512) or 8
// (AVX2) at a time.
//
// Rows of B are split into tasks over the runtime's thread pool; each task
// streams its rows once for up to kTokens rows of A at a time.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kTokens = 4;       // rows of A per pass over B
constexpr int64_t kRowsPerTask = 64; // rows of B per thread-pool task
constexpr int64_t kParallelWork = 1 << 18;

enum class Isa { Generic, AVX2, AVX512 };

struct TernaryIsa {
  const char *name;
  Isa isa;
};

/// The widest ternary kernel the CPU runs; QOPT_KERNEL=avx2|generic picks a
/// narrower one, as for the other kernels.
const TernaryIsa &ternaryIsa() {
  static const TernaryIsa chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") &&
        __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
      return TernaryIsa{"avx512vnni", Isa::AVX512};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return TernaryIsa{"avx2", Isa::AVX2};
#endif
    return TernaryIsa{"generic", Isa::Generic};
  }();
  return chosen;
}

/// Bytes of B per vector chunk: int8 kernels take 64 (AVX-512) or 32 (AVX2)
/// codes a vector, f32 kernels 16 or 8; 0 for the portable loops (natural
/// order throughout).
int64_t chunkBytes(Isa isa, bool f32) {
  switch (isa) {
  case Isa::AVX512:
    return f32 ? 16 : 64;
  case Isa::AVX2:
    return f32 ? 8 : 32;
  case Isa::Generic:
    return 0;
  }
  return 0;
}

/// `src` (one row, 4 * kb values in natural order) reordered for chunks of
/// `chunk` bytes: dst[c*4C + s*C + j] = src[4(cC + j) + s]; the tail past
/// the last full chunk stays in natural order.
template <typename T>
void reorderRow(const T *src, int64_t kb, int64_t chunk, T *dst) {
  int64_t full = chunk ? kb / chunk : 0;
  for (int64_t c = 0; c < full; ++c)
    for (int64_t s = 0; s < 4; ++s)
      for (int64_t j = 0; j < chunk; ++j)
        dst[c * 4 * chunk + s * chunk + j] = src[4 * (c * chunk + j) + s];
  std::copy(src + 4 * full * chunk, src + 4 * kb, dst + 4 * full * chunk);
}

inline int ternaryOf(uint8_t byte, int s) {
  int code = (byte >> (2 * s)) & 3;
  return code == 3 ? 0 : code - 1;
}

//===----------------------------------------------------------------------===//
// int8 x ternary
//===----------------------------------------------------------------------===//

/// BitNet's activation quantization: clamp(round_half_even(x · s), -128,
/// 127) in f32, NaN giving 0 (qopt::quantizeToken).
inline int8_t quantizeScalar(float x, float s) {
  float v = std::nearbyint(x * s);
  return std::isnan(v) ? int8_t(0) : int8_t(std::clamp(v, -128.0f, 127.0f));
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) int64_t
quantizeAVX512(const float *x, int64_t k, float s, int8_t *out) {
  const __m512 scale = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f),
               hi = _mm512_set1_ps(127.0f);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m512 v =
        _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), scale),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
    v = _mm512_maskz_mov_ps(ordered, _mm512_min_ps(_mm512_max_ps(v, lo), hi));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(out + i),
                     _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
  }
  return i;
}

__attribute__((target("avx2"))) int64_t quantizeAVX2(const float *x, int64_t k,
                                                     float s, int8_t *out) {
  const __m256 scale = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.0f),
               hi = _mm256_set1_ps(127.0f);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), scale),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 ordered = _mm256_cmp_ps(v, v, _CMP_ORD_Q);
    v = _mm256_and_ps(ordered, _mm256_min_ps(_mm256_max_ps(v, lo), hi));
    __m256i w = _mm256_cvtps_epi32(v);
    __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(w),
                                _mm256_extracti128_si256(w, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i *>(out + i),
                     _mm_packs_epi16(h, h));
  }
  return i;
}
#endif

/// out[k] = quantizeScalar(x[k · stride], s) for one row of A.
void quantizeRow(Isa isa, const float *x, int64_t stride, int64_t k, float s,
                 int8_t *out) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (stride == 1 && isa == Isa::AVX512)
    i = quantizeAVX512(x, k, s, out);
  else if (stride == 1 && isa == Isa::AVX2)
    i = quantizeAVX2(x, k, s, out);
#endif
  for (; i < k; ++i)
    out[i] = quantizeScalar(x[i * stride], s);
}

/// acc[t] = Σ over the tail bytes [b0, kb) of ternary(row) · q_t (natural).
template <int T>
void tailI8(const uint8_t *row, int64_t b0, int64_t kb, const int8_t *q,
            int64_t k, int32_t *acc) {
  for (int64_t b = b0; b < kb; ++b)
    for (int s = 0; s < 4; ++s) {
      int w = ternaryOf(row[b], s);
      for (int t = 0; t < T; ++t)
        acc[t] += w * q[t * k + 4 * b + s];
    }
}

#if defined(__x86_64__)
/// Chunks a VNNI pass accumulates before its lanes are folded: a lane of the
/// s = 3 accumulator gains at most 4 · 2·64 · 128 a chunk (codes kept in
/// place, see below), so 2^13 chunks stay below 2^31.
constexpr int64_t kVnniChunksPerPass = int64_t(1) << 13;
/// Bytes ahead of the row being read that the int8 loops prefetch (rows of
/// B are read in order, so this runs into the next rows): 2 KiB took 8192^2
/// GEMVs from 1.02 to 0.70 ms on one core of an AVX-512 Xeon.
constexpr int64_t kPrefetch = 2048;

template <int T>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
rowI8VNNI(const uint8_t *row, int64_t kb, const int8_t *q, int64_t k,
          int32_t *acc) {
  // The codes of shift s are masked in place (byte & 3 << 2s, no shift):
  // the u8 operand is code · 4^s ≤ 128, so lane sums of accumulator s are
  // exact multiples of 4^s, divided out (an exact arithmetic shift) when the
  // four are folded. One and + one vpdpbusd per 64 weights; one accumulator
  // per shift also keeps four independent vpdpbusd chains a token.
  const __m512i mask[4] = {_mm512_set1_epi8(0x03), _mm512_set1_epi8(0x0C),
                           _mm512_set1_epi8(0x30),
                           _mm512_set1_epi8(static_cast<char>(0xC0))};
  for (int t = 0; t < T; ++t)
    acc[t] = 0;
  int64_t full = kb / 64;
  for (int64_t c0 = 0; c0 < full; c0 += kVnniChunksPerPass) {
    int64_t c1 = std::min(full, c0 + kVnniChunksPerPass);
    __m512i a[T][4];
    for (int t = 0; t < T; ++t)
      for (int s = 0; s < 4; ++s)
        a[t][s] = _mm512_setzero_si512();
    for (int64_t c = c0; c < c1; ++c) {
      __m512i w = _mm512_loadu_si512(row + c * 64);
      _mm_prefetch(reinterpret_cast<const char *>(row + c * 64 + kPrefetch),
                   _MM_HINT_T0);
      for (int s = 0; s < 4; ++s) {
        __m512i codes = _mm512_and_si512(w, mask[s]);
        for (int t = 0; t < T; ++t)
          a[t][s] = _mm512_dpbusd_epi32(
              a[t][s], codes, _mm512_loadu_si512(q + t * k + c * 256 + s * 64));
      }
    }
    for (int t = 0; t < T; ++t)
      acc[t] += _mm512_reduce_add_epi32(_mm512_add_epi32(
          _mm512_add_epi32(a[t][0], _mm512_srai_epi32(a[t][1], 2)),
          _mm512_add_epi32(_mm512_srai_epi32(a[t][2], 4),
                           _mm512_srai_epi32(a[t][3], 6))));
  }
  tailI8<T>(row, full * 64, kb, q, k, acc);
}

/// One token (GEMV) against kRowBlock consecutive rows of B (`stride` bytes
/// apart): as rowI8VNNI<1>, with each 256 activations loaded once for all
/// the rows and the next block's rows prefetched.
constexpr int64_t kRowBlock = 4;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
rowsI8VNNI(const uint8_t *row0, int64_t stride, int64_t kb, const int8_t *q,
           int32_t *acc) {
  constexpr int R = int(kRowBlock);
  const __m512i mask[4] = {_mm512_set1_epi8(0x03), _mm512_set1_epi8(0x0C),
                           _mm512_set1_epi8(0x30),
                           _mm512_set1_epi8(static_cast<char>(0xC0))};
  for (int r = 0; r < R; ++r)
    acc[r] = 0;
  int64_t full = kb / 64;
  for (int64_t c0 = 0; c0 < full; c0 += kVnniChunksPerPass) {
    int64_t c1 = std::min(full, c0 + kVnniChunksPerPass);
    __m512i a[R][4];
    for (int r = 0; r < R; ++r)
      for (int s = 0; s < 4; ++s)
        a[r][s] = _mm512_setzero_si512();
    for (int64_t c = c0; c < c1; ++c) {
      __m512i x[4];
      for (int s = 0; s < 4; ++s)
        x[s] = _mm512_loadu_si512(q + c * 256 + s * 64);
      for (int r = 0; r < R; ++r) {
        const uint8_t *p = row0 + r * stride + c * 64;
        __m512i w = _mm512_loadu_si512(p);
        _mm_prefetch(reinterpret_cast<const char *>(p + R * stride),
                     _MM_HINT_T0);
        for (int s = 0; s < 4; ++s)
          a[r][s] =
              _mm512_dpbusd_epi32(a[r][s], _mm512_and_si512(w, mask[s]), x[s]);
      }
    }
    for (int r = 0; r < R; ++r)
      acc[r] += _mm512_reduce_add_epi32(_mm512_add_epi32(
          _mm512_add_epi32(a[r][0], _mm512_srai_epi32(a[r][1], 2)),
          _mm512_add_epi32(_mm512_srai_epi32(a[r][2], 4),
                           _mm512_srai_epi32(a[r][3], 6))));
  }
  for (int r = 0; r < R; ++r)
    tailI8<1>(row0 + r * stride, full * 64, kb, q, kb * 4, acc + r);
}

/// Chunks an AVX2 pass accumulates: a lane gains at most 4 shifts · 4 ·
/// 2·128 · 64 = 2^18 a chunk (scaled to 64×, see below), 2^12 chunks < 2^31.
constexpr int64_t kAvx2ChunksPerPass = int64_t(1) << 12;

template <int T>
__attribute__((target("avx2"))) void rowI8AVX2(const uint8_t *row, int64_t kb,
                                               const int8_t *q, int64_t k,
                                               int32_t *acc) {
  // As for VNNI the codes stay in place (u8 code · 4^s ≤ 128; a vpmaddubsw
  // pair is at most 2 · 128 · 128 = 2^15 in magnitude: -2^15 fits, and
  // positive pairs are at most 2 · 128 · 127), and vpmaddwd multiplies by
  // 64 / 4^s rather than 1, so every shift adds 64× its sum to the same
  // accumulators; the lanes are divided by 64 (exactly) at the end.
  const __m256i mask[4] = {_mm256_set1_epi8(0x03), _mm256_set1_epi8(0x0C),
                           _mm256_set1_epi8(0x30),
                           _mm256_set1_epi8(static_cast<char>(0xC0))};
  const __m256i scale[4] = {_mm256_set1_epi16(64), _mm256_set1_epi16(16),
                            _mm256_set1_epi16(4), _mm256_set1_epi16(1)};
  constexpr int A = T <= 2 ? 4 : 2; // independent chains a token
  for (int t = 0; t < T; ++t)
    acc[t] = 0;
  int64_t full = kb / 32;
  for (int64_t c0 = 0; c0 < full; c0 += kAvx2ChunksPerPass) {
    int64_t c1 = std::min(full, c0 + kAvx2ChunksPerPass);
    __m256i a[T][A];
    for (int t = 0; t < T; ++t)
      for (int u = 0; u < A; ++u)
        a[t][u] = _mm256_setzero_si256();
    for (int64_t c = c0; c < c1; ++c) {
      __m256i w =
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + c * 32));
      _mm_prefetch(reinterpret_cast<const char *>(row + c * 32 + kPrefetch),
                   _MM_HINT_T0);
      for (int s = 0; s < 4; ++s) {
        __m256i codes = _mm256_and_si256(w, mask[s]);
        for (int t = 0; t < T; ++t) {
          __m256i x = _mm256_loadu_si256(
              reinterpret_cast<const __m256i *>(q + t * k + c * 128 + s * 32));
          __m256i p = _mm256_maddubs_epi16(codes, x);
          a[t][s % A] =
              _mm256_add_epi32(a[t][s % A], _mm256_madd_epi16(p, scale[s]));
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      __m256i sum = _mm256_srai_epi32(a[t][0], 6);
      for (int u = 1; u < A; ++u)
        sum = _mm256_add_epi32(sum, _mm256_srai_epi32(a[t][u], 6));
      __m128i v = _mm_add_epi32(_mm256_castsi256_si128(sum),
                                _mm256_extracti128_si256(sum, 1));
      v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
      v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
      acc[t] += _mm_cvtsi128_si32(v);
    }
  }
  tailI8<T>(row, full * 32, kb, q, k, acc);
}
#endif

template <int T>
void rowI8(Isa isa, const uint8_t *row, int64_t kb, const int8_t *q, int64_t k,
           int32_t *acc) {
#if defined(__x86_64__)
  if (isa == Isa::AVX512)
    return rowI8VNNI<T>(row, kb, q, k, acc);
  if (isa == Isa::AVX2)
    return rowI8AVX2<T>(row, kb, q, k, acc);
#endif
  for (int t = 0; t < T; ++t)
    acc[t] = 0;
  tailI8<T>(row, 0, kb, q, k, acc);
}

void rowI8N(Isa isa, int tokens, const uint8_t *row, int64_t kb,
            const int8_t *q, int64_t k, int32_t *acc) {
  switch (tokens) {
  case 1:
    return rowI8<1>(isa, row, kb, q, k, acc);
  case 2:
    return rowI8<2>(isa, row, kb, q, k, acc);
  case 3:
    return rowI8<3>(isa, row, kb, q, k, acc);
  default:
    return rowI8<4>(isa, row, kb, q, k, acc);
  }
}

//===----------------------------------------------------------------------===//
// f32 x ternary
//===----------------------------------------------------------------------===//

template <int T>
void tailF32(const uint8_t *row, int64_t b0, int64_t kb, const float *x,
             int64_t k, const float table[4], float *acc) {
  for (int64_t b = b0; b < kb; ++b)
    for (int s = 0; s < 4; ++s) {
      float w = table[(row[b] >> (2 * s)) & 3];
      for (int t = 0; t < T; ++t)
        acc[t] += x[t * k + 4 * b + s] * w;
    }
}

#if defined(__x86_64__)
template <int T>
__attribute__((target("avx512f"))) void
rowF32AVX512(const uint8_t *row, int64_t kb, const float *x, int64_t k,
             const float table[4], float *acc) {
  const __m512 lut = _mm512_setr_ps(table[0], table[1], table[2], table[3], 0,
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i mask = _mm512_set1_epi32(3);
  __m512 a[T][4]; // independent FMA chains a token
  for (int t = 0; t < T; ++t)
    for (int s = 0; s < 4; ++s)
      a[t][s] = _mm512_setzero_ps();
  int64_t full = kb / 16;
  for (int64_t c = 0; c < full; ++c) {
    __m512i w = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + c * 16)));
    for (int s = 0; s < 4; ++s) {
      __m512 v = _mm512_permutexvar_ps(
          _mm512_and_si512(_mm512_srli_epi32(w, 2 * s), mask), lut);
      for (int t = 0; t < T; ++t)
        a[t][s] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * k + c * 64 + s * 16),
                                  v, a[t][s]);
    }
  }
  for (int t = 0; t < T; ++t)
    acc[t] = _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(a[t][0], a[t][1]), _mm512_add_ps(a[t][2], a[t][3])));
  tailF32<T>(row, full * 16, kb, x, k, table, acc);
}

template <int T>
__attribute__((target("avx2,fma"))) void
rowF32AVX2(const uint8_t *row, int64_t kb, const float *x, int64_t k,
           const float table[4], float *acc) {
  const __m256 lut =
      _mm256_setr_ps(table[0], table[1], table[2], table[3], 0, 0, 0, 0);
  const __m256i mask = _mm256_set1_epi32(3);
  constexpr int A = T <= 2 ? 4 : 2; // independent FMA chains a token
  __m256 a[T][A];
  for (int t = 0; t < T; ++t)
    for (int u = 0; u < A; ++u)
      a[t][u] = _mm256_setzero_ps();
  int64_t full = kb / 8;
  for (int64_t c = 0; c < full; ++c) {
    __m256i w = _mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i *>(row + c * 8)));
    for (int s = 0; s < 4; ++s) {
      __m256 v = _mm256_permutevar8x32_ps(
          lut, _mm256_and_si256(_mm256_srli_epi32(w, 2 * s), mask));
      for (int t = 0; t < T; ++t)
        a[t][s % A] = _mm256_fmadd_ps(
            _mm256_loadu_ps(x + t * k + c * 32 + s * 8), v, a[t][s % A]);
    }
  }
  for (int t = 0; t < T; ++t) {
    __m256 sum = a[t][0];
    for (int u = 1; u < A; ++u)
      sum = _mm256_add_ps(sum, a[t][u]);
    __m128 v =
        _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    acc[t] = _mm_cvtss_f32(v);
  }
  tailF32<T>(row, full * 8, kb, x, k, table, acc);
}
#endif

template <int T>
void rowF32(Isa isa, const uint8_t *row, int64_t kb, const float *x, int64_t k,
            const float table[4], float *acc) {
#if defined(__x86_64__)
  if (isa == Isa::AVX512)
    return rowF32AVX512<T>(row, kb, x, k, table, acc);
  if (isa == Isa::AVX2)
    return rowF32AVX2<T>(row, kb, x, k, table, acc);
#endif
  for (int t = 0; t < T; ++t)
    acc[t] = 0;
  tailF32<T>(row, 0, kb, x, k, table, acc);
}

void rowF32N(Isa isa, int tokens, const uint8_t *row, int64_t kb,
             const float *x, int64_t k, const float table[4], float *acc) {
  switch (tokens) {
  case 1:
    return rowF32<1>(isa, row, kb, x, k, table, acc);
  case 2:
    return rowF32<2>(isa, row, kb, x, k, table, acc);
  case 3:
    return rowF32<3>(isa, row, kb, x, k, table, acc);
  default:
    return rowF32<4>(isa, row, kb, x, k, table, acc);
  }
}

/// Runs body(j0, j1) over the rows of B, on the pool when the work is big.
template <typename Body>
void overRows(int64_t m, int64_t n, int64_t k, const Body &body) {
  int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  auto task = [&](int64_t t) {
    body(t * kRowsPerTask, std::min(n, (t + 1) * kRowsPerTask));
  };
  if (m * n * k < kParallelWork || tasks == 1)
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
  else
    qopt::rt::parallelFor(tasks, task);
}

/// B's row j as contiguous bytes: the row itself when its K stride is 1,
/// else a copy in `tmp`.
const uint8_t *rowOf(const uint8_t *b, int64_t bN, int64_t bK, int64_t j,
                     int64_t kb, std::vector<uint8_t> &tmp) {
  const uint8_t *row = b + j * bN;
  if (bK == 1)
    return row;
  tmp.resize(size_t(kb));
  for (int64_t i = 0; i < kb; ++i)
    tmp[size_t(i)] = row[i * bK];
  return tmp.data();
}

} // namespace

extern "C" const char *qopt_kernel_isa_ternary(void) {
  return ternaryIsa().name;
}

// Addresses arrive as i64, strides in elements (bytes for B).
// C[i, j] += Σ_k clamp(round_half_even(A[i, k] · s[i]), -128, 127) · t[j, k].
extern "C" void qopt_kernel_matmul_s8t2(int64_t m, int64_t n, int64_t k,
                                        int64_t aPtr, int64_t aM, int64_t aK,
                                        int64_t sPtr, int64_t sM, int64_t bPtr,
                                        int64_t bN, int64_t bK, int64_t cPtr,
                                        int64_t cM, int64_t cN) {
  if (m <= 0 || n <= 0 || k <= 0 || k % 4 != 0)
    return;
  const auto *a = reinterpret_cast<const float *>(aPtr);
  const auto *s = reinterpret_cast<const float *>(sPtr);
  const auto *b = reinterpret_cast<const uint8_t *>(bPtr);
  auto *c = reinterpret_cast<int32_t *>(cPtr);
  Isa isa = ternaryIsa().isa;
  const int64_t kb = k / 4, chunk = chunkBytes(isa, false);
  const int64_t fullK = chunk ? kb / chunk * chunk * 4 : 0;
  // Each row of A quantized, reordered for the chunks, and Σ q over the
  // chunked part (where the kernels multiply codes t + 1).
  std::vector<int8_t> q(size_t(m * k));
  std::vector<int8_t> natural(static_cast<size_t>(k));
  std::vector<int32_t> sums(size_t(m), 0);
  for (int64_t i = 0; i < m; ++i) {
    quantizeRow(isa, a + i * aM, aK, k, s[i * sM], natural.data());
    int32_t sum = 0;
    for (int64_t kk = 0; kk < fullK; ++kk)
      sum += natural[size_t(kk)];
    sums[size_t(i)] = sum;
    reorderRow(natural.data(), kb, chunk, q.data() + i * k);
  }
  overRows(m, n, k, [&](int64_t j0, int64_t j1) {
    std::vector<uint8_t> tmp;
    int32_t acc[kTokens];
    int64_t j = j0;
#if defined(__x86_64__)
    // GEMV on VNNI: blocks of rows share the activation loads.
    if (m == 1 && isa == Isa::AVX512 && bK == 1)
      for (int32_t blockAcc[kRowBlock]; j + kRowBlock <= j1; j += kRowBlock) {
        rowsI8VNNI(b + j * bN, bN, kb, q.data(), blockAcc);
        for (int64_t r = 0; r < kRowBlock; ++r)
          c[(j + r) * cN] += blockAcc[r] - sums[0];
      }
#endif
    for (; j < j1; ++j) {
      const uint8_t *row = rowOf(b, bN, bK, j, kb, tmp);
      for (int64_t i0 = 0; i0 < m; i0 += kTokens) {
        int tokens = int(std::min(kTokens, m - i0));
        rowI8N(isa, tokens, row, kb, q.data() + i0 * k, k, acc);
        for (int t = 0; t < tokens; ++t)
          c[(i0 + t) * cM + j * cN] += acc[t] - sums[size_t(i0 + t)];
      }
    }
  });
}

// C[i, j] += Σ_k A[i, k] · t[j, k].
extern "C" void qopt_kernel_matmul_f32t2(int64_t m, int64_t n, int64_t k,
                                         int64_t aPtr, int64_t aM, int64_t aK,
                                         int64_t bPtr, int64_t bN, int64_t bK,
                                         int64_t cPtr, int64_t cM, int64_t cN) {
  if (m <= 0 || n <= 0 || k <= 0 || k % 4 != 0)
    return;
  const auto *a = reinterpret_cast<const float *>(aPtr);
  const auto *b = reinterpret_cast<const uint8_t *>(bPtr);
  auto *c = reinterpret_cast<float *>(cPtr);
  Isa isa = ternaryIsa().isa;
  const int64_t kb = k / 4, chunk = chunkBytes(isa, true);
  // Codes 0, 1, 2 are -1, 0, +1 (3 is invalid and reads as 0).
  const float table[4] = {-1.0f, 0.0f, 1.0f, 0.0f};
  std::vector<float> x(size_t(m * k));
  std::vector<float> natural(static_cast<size_t>(k));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t kk = 0; kk < k; ++kk)
      natural[size_t(kk)] = a[i * aM + kk * aK];
    reorderRow(natural.data(), kb, chunk, x.data() + i * k);
  }
  overRows(m, n, k, [&](int64_t j0, int64_t j1) {
    std::vector<uint8_t> tmp;
    float acc[kTokens];
    for (int64_t j = j0; j < j1; ++j) {
      const uint8_t *row = rowOf(b, bN, bK, j, kb, tmp);
      for (int64_t i0 = 0; i0 < m; i0 += kTokens) {
        int tokens = int(std::min(kTokens, m - i0));
        rowF32N(isa, tokens, row, kb, x.data() + i0 * k, k, table, acc);
        for (int t = 0; t < tokens; ++t)
          c[(i0 + t) * cM + j * cN] += acc[t];
      }
    }
  });
}
