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
// code's padded copy of x. Each output element is reduced in the generated
// loop's order, lane by lane, so results are bit for bit those of that loop
// (NaN payloads aside: any NaN operand gives a NaN).
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

// The row body, generic over V; `vmaximum` is each ISA's maximum.
#define QOPT_POOL_BODY                                                         \
  /* One output row: out[n, c, oh, 0:ow] (unit inner strides). */              \
  inline void poolRow(const qopt::rt::Pool2DF32 &p, const float *xPlane,       \
                      float *o, int64_t oh) {                                  \
    constexpr int L = V::L;                                                    \
    float tmp[2 * L];                                                          \
    const V::T lo = V::set1(p.lo);                                             \
    for (int64_t ow0 = 0; ow0 < p.ow; ow0 += L) {                              \
      const int cnt = int(std::min<int64_t>(L, p.ow - ow0));                   \
      V::T acc = V::loadN(o + ow0, cnt);                                       \
      for (int64_t kh = 0; kh < p.kh; ++kh) {                                  \
        const float *row = xPlane + (oh * p.sh + kh * p.dh) * p.xs[2];         \
        for (int64_t kw = 0; kw < p.kw; ++kw) {                                \
          const float *s = row + ow0 * p.sw + kw * p.dw;                       \
          V::T v;                                                              \
          if (p.sw == 1) {                                                     \
            v = V::loadN(s, cnt);                                              \
          } else if (p.sw == 2) {                                              \
            V::T odd;                                                          \
            if (cnt == L) {                                                    \
              /* the last lane reads s[2L - 2]; s[2L - 1] may be past */       \
              std::memcpy(tmp, s, sizeof(float) * (2 * L - 1));                \
              tmp[2 * L - 1] = 0.0f;                                           \
              V::deinterleave2(tmp, v, odd);                                   \
            } else {                                                           \
              for (int i = 0; i < 2 * L; ++i)                                  \
                tmp[i] = i < 2 * cnt - 1 ? s[i] : 0.0f;                        \
              V::deinterleave2(tmp, v, odd);                                   \
            }                                                                  \
          } else {                                                             \
            for (int i = 0; i < L; ++i)                                        \
              tmp[i] = i < cnt ? s[i * p.sw] : 0.0f;                           \
            v = V::load(tmp);                                                  \
          }                                                                    \
          if (p.sum) {                                                         \
            acc = V::add(acc, v);                                              \
          } else {                                                             \
            if (p.clamp)                                                       \
              v = vmaximum(v, lo);                                             \
            acc = vmaximum(acc, v);                                            \
          }                                                                    \
        }                                                                      \
      }                                                                        \
      V::storeN(o + ow0, acc, cnt);                                            \
    }                                                                          \
  }

namespace qopt::rt::simdgen {
namespace {
inline V::T vmaximum(V::T a, V::T b) {
  return V::map([&](int i) { return maximumScalar(a.v[i], b.v[i]); });
}
QOPT_POOL_BODY
} // namespace
} // namespace qopt::rt::simdgen

#if defined(__x86_64__)
QOPT_SIMD512_BEGIN
namespace qopt::rt::simd512 {
namespace {
/// max_ps(x, y) = x > y ? x : y (y on ties and NaNs): with y the operand
/// whose sign is clear when a's is set, a tie of zeros gives +0; a NaN x is
/// put back afterwards.
inline V::T vmaximum(V::T a, V::T b) {
  __mmask16 neg = _mm512_movepi32_mask(_mm512_castps_si512(a));
  __m512 x = _mm512_mask_blend_ps(neg, b, a);
  __m512 y = _mm512_mask_blend_ps(neg, a, b);
  __m512 r = _mm512_max_ps(x, y);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), r, x);
}
QOPT_POOL_BODY
} // namespace
} // namespace qopt::rt::simd512
QOPT_SIMD_END

QOPT_SIMD256_BEGIN
namespace qopt::rt::simd256 {
namespace {
inline V::T vmaximum(V::T a, V::T b) {
  __m256 x = _mm256_blendv_ps(b, a, a); // a where a's sign is set
  __m256 y = _mm256_blendv_ps(a, b, a);
  __m256 r = _mm256_max_ps(x, y);
  return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
QOPT_POOL_BODY
} // namespace
} // namespace qopt::rt::simd256
QOPT_SIMD_END
#endif

namespace {

using RowFn = void (*)(const qopt::rt::Pool2DF32 &, const float *, float *,
                       int64_t);

RowFn rowFn() {
  static const RowFn fn = [] {
    std::string isa = qopt_kernel_isa();
#if defined(__x86_64__)
    if (isa == "avx512")
      return RowFn(qopt::rt::simd512::poolRow);
    if (isa == "avx2")
      return RowFn(qopt::rt::simd256::poolRow);
#endif
    return RowFn(qopt::rt::simdgen::poolRow);
  }();
  return fn;
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
  const RowFn row = (xW == 1 && oW == 1) ? rowFn() : poolRowScalar;
  const int64_t rows = n * c * oh;
  const int64_t threads = qopt::rt::numThreads();
  const int64_t chunk = std::max<int64_t>(1, rows / (4 * threads));
  const int64_t tasks = (rows + chunk - 1) / chunk;
  auto task = [&](int64_t t) {
    for (int64_t r = t * chunk; r < std::min(rows, (t + 1) * chunk); ++r) {
      const int64_t plane = r / oh, y = r % oh;
      const int64_t in = plane / c, ic = plane % c;
      row(p, p.x + in * p.xs[0] + ic * p.xs[1],
          p.out + in * p.os[0] + ic * p.os[1] + y * p.os[2], y);
    }
  };
  if (rows * ow * kh * kw < kParallelWork || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
    return;
  }
  qopt::rt::parallelFor(tasks, task);
}
