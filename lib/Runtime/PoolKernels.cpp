//===- PoolKernels.cpp - 2-D max and sum pooling over NCHW f32 ------------===//
//
// qopt_kernel_pool2d_f32: the sliding-window reduction the importer builds
// for MaxPool and AveragePool (lib/Import/ONNX/Ops/Conv.cpp, poolGeneric)
//
//   out[n, c, oh, ow] = combine(out[n, c, oh, ow],
//                               pre(x[n, c, oh*SH + kh*DH, ow*SW + kw*DW]))
//
// over kh, kw in that order, where combine is max (arith.maximumf: NaN if
// either operand is NaN, +0 above -0) or + (AveragePool's sum; the division
// stays a loop of its own), and pre is nothing or maximumf(v, c) (a ReLU the
// element-wise fusion pulled into the pool). `out` holds the accumulator's
// start (the importer's -inf / 0 fill), so the padding stays the compiled
// code's padded copy of x. Sums run in the generated loop's order, lane by
// lane; a maximum selects one of its operands under a total order (-0 below
// +0, NaN absorbing), so the kernel's grouping (the window's maximum, then
// the clamp once, then the accumulator) selects the same value. Results are
// bit for bit those of the loop (NaN payloads aside: any NaN gives a NaN).
//
// Vectors run along OW: stride 1 loads contiguous lanes, stride 2
// deinterleaves two vectors (Simd.h's deinterleave2), other strides gather
// through a small local row. Written once over Simd.h's V, compiled for
// AVX-512, AVX2 + FMA and portable C++; qopt_kernel_isa picks one. Rows
// (n, c, oh) are spread over the thread pool; each is computed the same way
// whatever the thread count.
//
//===----------------------------------------------------------------------===//

#include "Simd.h"
#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

extern "C" const char *qopt_kernel_isa(void);

namespace qopt::rt {

/// The parameters of one pooling call (strides in elements).
struct Pool2DF32 {
  int64_t n, c, oh, ow, kh, kw, sh, sw, dh, dw;
  const float *x;
  int64_t xs[4];
  float *out;
  int64_t os[4];
  bool sum;   // combine by +, else by maximum
  bool clamp; // pre(v) = maximum(v, lo)
  float lo;
};

/// arith.maximumf on one pair (IEEE 754-2019 maximum): NaN when either is
/// NaN, +0 above -0.
inline float maximumScalar(float a, float b) {
  if (std::isnan(a))
    return a;
  if (std::isnan(b))
    return b;
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

} // namespace qopt::rt

// The row body, generic over V. Maxima are taken over order keys: the
// float's bits with the magnitude bits flipped when the sign is set, as
// signed integers, order floats totally with -0 below +0 (and NaNs beyond
// the infinities); the NaNs are tracked aside and put back at the end (a
// NaN anywhere gives a NaN). Each ISA gives K (keys), key / unkey, kmax and
// NanT (lanes that saw a NaN), nanNone, nanOr, withNan; the portable one
// uses floats and maximumScalar directly.
#define QOPT_POOL_BODY                                                         \
  /* One output row: out[n, c, oh, 0:ow] (unit inner strides). */              \
  inline void poolRow(const qopt::rt::Pool2DF32 &p, const float *xPlane,       \
                      float *o, int64_t oh) {                                  \
    constexpr int L = V::L;                                                    \
    const V::T lo = V::set1(p.lo);                                             \
    for (int64_t ow0 = 0; ow0 < p.ow; ow0 += L) {                              \
      const int cnt = int(std::min<int64_t>(L, p.ow - ow0));                   \
      V::T acc = V::loadN(o + ow0, cnt);                                       \
      /* max: over order keys (an integer max), NaNs tracked aside */          \
      K m = key(acc);                                                          \
      NanT nan = nanOr(nanNone(), acc);                                        \
      for (int64_t kh = 0; kh < p.kh; ++kh) {                                  \
        const float *row = xPlane + (oh * p.sh + kh * p.dh) * p.xs[2];         \
        for (int64_t kw = 0; kw < p.kw; ++kw) {                                \
          const float *s = row + ow0 * p.sw + kw * p.dw;                       \
          V::T v;                                                              \
          if (p.sw == 1) {                                                     \
            v = V::loadN(s, cnt);                                              \
          } else if (p.sw == 2) {                                              \
            v = vloadEven(s, cnt);                                             \
          } else {                                                             \
            v = vloadStrided(s, p.sw, cnt);                                    \
          }                                                                    \
          if (p.sum)                                                           \
            acc = V::add(acc, v);                                              \
          else                                                                 \
            m = kmax(m, key(v)), nan = nanOr(nan, v);                          \
        }                                                                      \
      }                                                                        \
      if (!p.sum) {                                                            \
        if (p.clamp)                                                           \
          m = kmax(m, key(lo)), nan = nanOr(nan, lo);                          \
        acc = withNan(unkey(m), nan);                                          \
      }                                                                        \
      V::storeN(o + ow0, acc, cnt);                                            \
    }                                                                          \
  }                                                                            \
  /* The same for the common 2x2 window, stride 2 along OW, no dilation        \
     along OW: both columns of a row from one pair of loads. */                \
  inline void poolRow2x2(const qopt::rt::Pool2DF32 &p, const float *xPlane,    \
                         float *o, int64_t oh) {                               \
    constexpr int L = V::L;                                                    \
    const V::T lo = V::set1(p.lo);                                             \
    const float *r0 = xPlane + oh * p.sh * p.xs[2];                            \
    const float *r1 = r0 + p.dh * p.xs[2];                                     \
    for (int64_t ow0 = 0; ow0 < p.ow; ow0 += L) {                              \
      const int cnt = int(std::min<int64_t>(L, p.ow - ow0));                   \
      V::T acc = V::loadN(o + ow0, cnt);                                       \
      V::T a0, a1, b0, b1;                                                     \
      vloadPair(r0 + 2 * ow0, cnt, a0, a1);                                    \
      vloadPair(r1 + 2 * ow0, cnt, b0, b1);                                    \
      if (p.sum) {                                                             \
        acc = V::add(V::add(V::add(V::add(acc, a0), a1), b0), b1);             \
      } else {                                                                 \
        K m = kmax(kmax(key(a0), key(a1)), kmax(key(b0), key(b1)));            \
        NanT nan =                                                             \
            nanOr(nanOr(nanOr(nanOr(nanOr(nanNone(), acc), a0), a1), b0), b1); \
        if (p.clamp)                                                           \
          m = kmax(m, key(lo)), nan = nanOr(nan, lo);                          \
        acc = withNan(unkey(kmax(m, key(acc))), nan);                          \
      }                                                                        \
      V::storeN(o + ow0, acc, cnt);                                            \
    }                                                                          \
  }

namespace qopt::rt::simdgen {
namespace {
using K = V::T;
inline K key(V::T a) { return a; }
inline V::T unkey(K a) { return a; }
inline K kmax(K a, K b) {
  return V::map([&](int i) { return maximumScalar(a.v[i], b.v[i]); });
}
using NanT = int;
inline NanT nanNone() { return 0; }
inline NanT nanOr(NanT n, V::T) { return n; }
inline V::T withNan(V::T a, NanT) { return a; }
/// s[0], s[2], ..., s[2 (cnt - 1)] (cnt <= L), zeros after.
inline V::T vloadEven(const float *s, int cnt) {
  return V::map([&](int i) { return i < cnt ? s[2 * i] : 0.0f; });
}
/// s[0], s[st], ..., s[(cnt - 1) st], zeros after.
inline V::T vloadStrided(const float *s, int64_t st, int cnt) {
  return V::map([&](int i) { return i < cnt ? s[i * st] : 0.0f; });
}
/// The even and odd elements of s[0, 2 cnt), zeros after.
inline void vloadPair(const float *s, int cnt, V::T &even, V::T &odd) {
  even = V::map([&](int i) { return i < cnt ? s[2 * i] : 0.0f; });
  odd = V::map([&](int i) { return i < cnt ? s[2 * i + 1] : 0.0f; });
}
QOPT_POOL_BODY
} // namespace
} // namespace qopt::rt::simdgen

#if defined(__x86_64__)
QOPT_SIMD512_BEGIN
namespace qopt::rt::simd512 {
namespace {
using K = __m512i;
inline K flip(K i) {
  return _mm512_xor_si512(i, _mm512_and_si512(_mm512_srai_epi32(i, 31),
                                              _mm512_set1_epi32(0x7FFFFFFF)));
}
inline K key(V::T a) { return flip(_mm512_castps_si512(a)); }
inline V::T unkey(K a) { return _mm512_castsi512_ps(flip(a)); }
inline K kmax(K a, K b) { return _mm512_max_epi32(a, b); }
using NanT = __mmask16;
inline NanT nanNone() { return 0; }
inline NanT nanOr(NanT n, V::T a) {
  return n | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
}
inline V::T withNan(V::T a, NanT n) {
  return _mm512_mask_blend_ps(
      n, a, _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN()));
}
/// s[0], s[2], ..., s[2 (cnt - 1)], zeros after: two masked loads (no read
/// past s[2 cnt - 2]) and one permute.
inline V::T vloadEven(const float *s, int cnt) {
  const int n = 2 * cnt - 1;
  __m512 a = V::loadN(s, n), b = V::loadN(s + 16, n - 16);
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                       22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(a, ie, b);
}
inline void vloadPair(const float *s, int cnt, V::T &even, V::T &odd) {
  __m512 a = V::loadN(s, 2 * cnt), b = V::loadN(s + 16, 2 * cnt - 16);
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                       22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21,
                                       23, 25, 27, 29, 31);
  even = _mm512_permutex2var_ps(a, ie, b);
  odd = _mm512_permutex2var_ps(a, io, b);
}
inline V::T vloadStrided(const float *s, int64_t st, int cnt) {
  __m512i idx = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(int(st)));
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), V::first(cnt), idx, s,
                                  4);
}
QOPT_POOL_BODY
} // namespace
} // namespace qopt::rt::simd512
QOPT_SIMD_END

QOPT_SIMD256_BEGIN
namespace qopt::rt::simd256 {
namespace {
using K = __m256i;
inline K flip(K i) {
  return _mm256_xor_si256(i, _mm256_and_si256(_mm256_srai_epi32(i, 31),
                                              _mm256_set1_epi32(0x7FFFFFFF)));
}
inline K key(V::T a) { return flip(_mm256_castps_si256(a)); }
inline V::T unkey(K a) { return _mm256_castsi256_ps(flip(a)); }
inline K kmax(K a, K b) { return _mm256_max_epi32(a, b); }
using NanT = __m256;
inline NanT nanNone() { return _mm256_setzero_ps(); }
inline NanT nanOr(NanT n, V::T a) {
  return _mm256_or_ps(n, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
inline V::T withNan(V::T a, NanT n) {
  return _mm256_blendv_ps(
      a, _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()), n);
}
inline V::T vloadEven(const float *s, int cnt) {
  const int n = 2 * cnt - 1;
  __m256 a = V::loadN(s, n), b = V::loadN(s + 8, n - 8);
  // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
  __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline void vloadPair(const float *s, int cnt, V::T &even, V::T &odd) {
  __m256 a = V::loadN(s, 2 * cnt), b = V::loadN(s + 8, 2 * cnt - 8);
  __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  even = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  odd = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline V::T vloadStrided(const float *s, int64_t st, int cnt) {
  __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                   _mm256_set1_epi32(int(st)));
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), s, idx,
                                  _mm256_castsi256_ps(V::firstMask(cnt)), 4);
}
QOPT_POOL_BODY
} // namespace
} // namespace qopt::rt::simd256
QOPT_SIMD_END
#endif

namespace {

using RowFn = void (*)(const qopt::rt::Pool2DF32 &, const float *, float *,
                       int64_t);

RowFn rowFn(bool twoByTwo) {
  static const RowFn fns[2] = {
#if defined(__x86_64__)
#define QOPT_POOL_PICK(F)                                                      \
  [] {                                                                         \
    std::string isa = qopt_kernel_isa();                                       \
    if (isa == "avx512")                                                       \
      return RowFn(qopt::rt::simd512::F);                                      \
    if (isa == "avx2")                                                         \
      return RowFn(qopt::rt::simd256::F);                                      \
    return RowFn(qopt::rt::simdgen::F);                                        \
  }()
#else
#define QOPT_POOL_PICK(F) RowFn(qopt::rt::simdgen::F)
#endif
    QOPT_POOL_PICK(poolRow),
    QOPT_POOL_PICK(poolRow2x2)
  };
#undef QOPT_POOL_PICK
  return fns[twoByTwo];
}

/// Any strides: the generated loop's order, one element at a time.
void poolRowScalar(const qopt::rt::Pool2DF32 &p, const float *xPlane, float *o,
                   int64_t oh) {
  for (int64_t ow = 0; ow < p.ow; ++ow) {
    float acc = o[ow * p.os[3]];
    for (int64_t kh = 0; kh < p.kh; ++kh)
      for (int64_t kw = 0; kw < p.kw; ++kw) {
        float v = xPlane[(oh * p.sh + kh * p.dh) * p.xs[2] +
                         (ow * p.sw + kw * p.dw) * p.xs[3]];
        if (p.sum) {
          acc = acc + v;
        } else {
          if (p.clamp)
            v = qopt::rt::maximumScalar(v, p.lo);
          acc = qopt::rt::maximumScalar(acc, v);
        }
      }
    o[ow * p.os[3]] = acc;
  }
}

/// Below this many window reads a call runs on the calling thread.
constexpr int64_t kParallelWork = 1 << 15;

} // namespace

// x [N, C, IH, IW] (padded as the window needs; strides in elements),
// out [N, C, OH, OW] holding the accumulators' start; mode 0: maximum,
// 1: sum; clamp 1: each x goes through maximum(x, lo) first (lo: f32 bits).
extern "C" void qopt_kernel_pool2d_f32(
    int64_t mode, int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t kh,
    int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t xPtr,
    int64_t xN, int64_t xC, int64_t xH, int64_t xW, int64_t outPtr, int64_t oN,
    int64_t oC, int64_t oH, int64_t oW, int64_t clamp, int64_t loBits) {
  if (n <= 0 || c <= 0 || oh <= 0 || ow <= 0)
    return;
  qopt::rt::Pool2DF32 p;
  p.n = n, p.c = c, p.oh = oh, p.ow = ow, p.kh = kh, p.kw = kw;
  p.sh = sh, p.sw = sw, p.dh = dh, p.dw = dw;
  p.x = reinterpret_cast<const float *>(static_cast<intptr_t>(xPtr));
  p.xs[0] = xN, p.xs[1] = xC, p.xs[2] = xH, p.xs[3] = xW;
  p.out = reinterpret_cast<float *>(static_cast<intptr_t>(outPtr));
  p.os[0] = oN, p.os[1] = oC, p.os[2] = oH, p.os[3] = oW;
  p.sum = mode == 1;
  p.clamp = clamp != 0;
  uint32_t bits = static_cast<uint32_t>(loBits);
  std::memcpy(&p.lo, &bits, sizeof(float));
  const RowFn row = xW != 1 || oW != 1
                        ? poolRowScalar
                        : rowFn(kh == 2 && kw == 2 && sw == 2 && dw == 1);
  const int64_t rows = n * c * oh;
  const int64_t threads = qopt::rt::numThreads();
  const int64_t chunk = std::max<int64_t>(1, rows / (4 * threads));
  const int64_t tasks = (rows + chunk - 1) / chunk;
  auto task = [&](int64_t t) {
    const int64_t r0 = t * chunk, r1 = std::min(rows, r0 + chunk);
    int64_t plane = r0 / oh, y = r0 % oh;
    // Plane by plane, without a division per row.
    for (int64_t r = r0; r < r1;) {
      const int64_t in = plane / c, ic = plane % c;
      const float *xPlane = p.x + in * p.xs[0] + ic * p.xs[1];
      float *oPlane = p.out + in * p.os[0] + ic * p.os[1];
      const int64_t yEnd = std::min(oh, y + (r1 - r));
      r += yEnd - y;
      for (; y < yEnd; ++y)
        row(p, xPlane, oPlane + y * p.os[2], y);
      y = 0, ++plane;
    }
  };
  if (rows * ow * kh * kw < kParallelWork || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
    return;
  }
  qopt::rt::parallelFor(tasks, task);
}
