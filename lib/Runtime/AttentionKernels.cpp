//===- AttentionKernels.cpp - fused attention and row norms --------------===//
//
// `qopt_kernel_attention_f32`: O = softmax(scale(Q·Kᵀ) + mask)·V per
// (batch, head), in one pass over K and V: for a block of query rows, each
// tile of keys is packed (Kᵀ, so the score microkernel broadcasts a query
// element against 16 or 8 keys), scored, scaled and masked, and folded into
// the rows' running max, sum and output accumulator (online softmax, as
// FlashAttention does); scores never leave L1. With at most kTileN keys
// (one tile) this is the exact two-pass softmax of the unfused graph.
// AVX-512 and AVX2+FMA microkernels are picked at run time (QOPT_KERNEL
// narrows the choice), portable C++ otherwise; (batch, head, query block)
// tasks run on the thread pool.
//
// `qopt_kernel_norm_f32`: a row's statistics and its normalized, scaled
// (and shifted) output in one call per row, for LayerNormalization and
// RMS norms (the ONNX op and the decomposed form torch exports), evaluated
// in the order of the unfused graph's operations.
//
// The compiler's qopt-fuse-attention and qopt-fuse-norms passes call these
// (docs/Codegen/FusedKernels.md).
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kTileN = 256; // keys per tile (a scores row stays in L1)
constexpr int64_t kBlockM = 64; // query rows per task
constexpr int64_t kRows = 4;    // query rows per score microkernel call
constexpr int64_t kParallelWork = 1 << 15;

enum class Isa { Generic, AVX2, AVX512 };

Isa pickIsa() {
#if defined(__x86_64__)
  static const Isa isa = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
    if ((want.empty() || want == "avx512") && __builtin_cpu_supports("avx512f"))
      return Isa::AVX512;
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Isa::AVX2;
    return Isa::Generic;
  }();
  return isa;
#else
  return Isa::Generic;
#endif
}

//===----------------------------------------------------------------------===//
// Score and P·V microkernels. Packed operands: qp[r][d] (rows of the query
// block, d contiguous), kt[d][j] (the key tile transposed, row stride
// ldk >= tile width, zero padded to a multiple of 16), vp[j][e] (e
// contiguous, row stride ldv).
//===----------------------------------------------------------------------===//

/// s[r][j] = sum_d qp[r][d] * kt[d][j] for r < rows, j < nt.
void scoresGeneric(int64_t rows, int64_t nt, int64_t d, const float *qp,
                   const float *kt, int64_t ldk, float *s, int64_t lds) {
  for (int64_t r = 0; r < rows; ++r) {
    float *sr = s + r * lds;
    for (int64_t j = 0; j < nt; ++j)
      sr[j] = 0.0f;
    for (int64_t k = 0; k < d; ++k) {
      const float q = qp[r * d + k];
      const float *kr = kt + k * ldk;
      for (int64_t j = 0; j < nt; ++j)
        sr[j] += q * kr[j];
    }
  }
}

/// For r < rows: o[r][:] = o[r][:] * corr[r] + sum_j p[r][j] * vp[j][:]
/// (p row stride ldp, o row stride e).
void pvGeneric(int64_t rows, int64_t nt, int64_t e, const float *p, int64_t ldp,
               const float *vp, int64_t ldv, const float *corr, float *o) {
  for (int64_t r = 0; r < rows; ++r) {
    float *orow = o + r * e;
    if (corr[r] != 1.0f)
      for (int64_t c = 0; c < e; ++c)
        orow[c] *= corr[r];
    for (int64_t j = 0; j < nt; ++j) {
      const float pj = p[r * ldp + j];
      const float *vr = vp + j * ldv;
      for (int64_t c = 0; c < e; ++c)
        orow[c] += pj * vr[c];
    }
  }
}

/// p[j] = exp(s[j] - max), returns the sum of p (in order).
float expSumGeneric(int64_t nt, const float *s, float max, float *p) {
  float sum = 0.0f;
  for (int64_t j = 0; j < nt; ++j) {
    p[j] = std::exp(s[j] - max);
    sum += p[j];
  }
  return sum;
}

#if defined(__x86_64__)
// exp(x) as Cephes' expf: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-6
// polynomial, 2^n by exponent bits; within 2 ulp of libm on the range a
// softmax sees (x <= 0); -inf gives 0, NaN stays NaN.
#define QOPT_EXP_CONSTANTS                                                     \
  const float hi = 88.3762626647949f, lo = -88.3762626647949f;                 \
  const float log2e = 1.44269504088896341f, c1 = 0.693359375f,                 \
              c2 = -2.12194440e-4f;                                            \
  const float p0 = 1.9875691500E-4f, p1 = 1.3981999507E-3f,                    \
              p2 = 8.3334519073E-3f, p3 = 4.1665795894E-2f,                    \
              p4 = 1.6666665459E-1f, p5 = 5.0000001201E-1f;

__attribute__((target("avx512f"))) inline __m512 exp512(__m512 x) {
  QOPT_EXP_CONSTANTS
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(lo), _CMP_LT_OQ);
  __m512 xin = x;
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(lo)), _mm512_set1_ps(hi));
  __m512 fx = _mm512_roundscale_ps(
      _mm512_fmadd_ps(x, _mm512_set1_ps(log2e), _mm512_set1_ps(0.5f)),
      _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(c1), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(c2), x);
  __m512 z = _mm512_mul_ps(x, x);
  __m512 y = _mm512_set1_ps(p0);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(p1));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(p2));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(p3));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(p4));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(p5));
  y = _mm512_fmadd_ps(y, z, x);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  y = _mm512_scalef_ps(y, fx);
  y = _mm512_mask_blend_ps(under, y, _mm512_setzero_ps());
  return _mm512_mask_blend_ps(nan, y, xin);
}

__attribute__((target("avx2,fma"))) inline __m256 exp256(__m256 x) {
  QOPT_EXP_CONSTANTS
  __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(lo), _CMP_LT_OQ);
  __m256 xin = x;
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
  __m256 fx = _mm256_floor_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(log2e), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(c1), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(c2), x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(p0);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(p1));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(p2));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(p3));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(p4));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(p5));
  y = _mm256_fmadd_ps(y, z, x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  // 2^fx: fx in [-127, 128] after the clamp; build the exponent in two
  // halves so that fx = 128 (x near hi) does not overflow the field.
  __m256i n = _mm256_cvtps_epi32(fx);
  __m256i half = _mm256_srai_epi32(n, 1);
  __m256 s1 = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_add_epi32(_mm256_sub_epi32(n, half), _mm256_set1_epi32(127)), 23));
  y = _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), under);
  return _mm256_blendv_ps(y, xin, nan);
}
#undef QOPT_EXP_CONSTANTS

__attribute__((target("avx512f"))) void
scoresAVX512(int64_t rows, int64_t nt, int64_t d, const float *qp,
             const float *kt, int64_t ldk, float *s, int64_t lds) {
  for (int64_t j = 0; j < nt; j += 32) {
    const bool two = j + 16 < nt;
    __m512 a[kRows][2];
    for (int64_t r = 0; r < kRows; ++r)
      a[r][0] = a[r][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < d; ++k) {
      __m512 k0 = _mm512_loadu_ps(kt + k * ldk + j);
      __m512 k1 = two ? _mm512_loadu_ps(kt + k * ldk + j + 16) : k0;
#pragma clang loop unroll(full)
      for (int64_t r = 0; r < kRows; ++r) {
        if (r < rows) {
          __m512 q = _mm512_set1_ps(qp[r * d + k]);
          a[r][0] = _mm512_fmadd_ps(q, k0, a[r][0]);
          a[r][1] = _mm512_fmadd_ps(q, k1, a[r][1]);
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      _mm512_storeu_ps(s + r * lds + j, a[r][0]);
      if (two)
        _mm512_storeu_ps(s + r * lds + j + 16, a[r][1]);
    }
  }
}

__attribute__((target("avx512f"))) void
pvAVX512(int64_t rows, int64_t nt, int64_t e, const float *p, int64_t ldp,
         const float *vp, int64_t ldv, const float *corr, float *o) {
  // Up to kRows rows x 64 columns of O in registers; each V row is loaded
  // once for all rows.
  for (int64_t c = 0; c < e; c += 64) {
    __mmask16 mk[4];
    for (int v = 0; v < 4; ++v) {
      int64_t left = e - c - 16 * v;
      mk[v] = left >= 16  ? __mmask16(0xffff)
              : left <= 0 ? __mmask16(0)
                          : __mmask16((1u << left) - 1);
    }
    __m512 a[kRows][4];
#pragma clang loop unroll(full)
    for (int64_t r = 0; r < kRows; ++r)
#pragma clang loop unroll(full)
      for (int v = 0; v < 4; ++v)
        a[r][v] = r < rows ? _mm512_mul_ps(_mm512_maskz_loadu_ps(
                                               mk[v], o + r * e + c + 16 * v),
                                           _mm512_set1_ps(corr[r]))
                           : _mm512_setzero_ps();
    for (int64_t j = 0; j < nt; ++j) {
      const float *vr = vp + j * ldv + c;
      __m512 vv[4];
#pragma clang loop unroll(full)
      for (int v = 0; v < 4; ++v)
        vv[v] = _mm512_maskz_loadu_ps(mk[v], vr + 16 * v);
#pragma clang loop unroll(full)
      for (int64_t r = 0; r < kRows; ++r) {
        if (r < rows) {
          __m512 pj = _mm512_set1_ps(p[r * ldp + j]);
#pragma clang loop unroll(full)
          for (int v = 0; v < 4; ++v)
            a[r][v] = _mm512_fmadd_ps(pj, vv[v], a[r][v]);
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int v = 0; v < 4; ++v)
        _mm512_mask_storeu_ps(o + r * e + c + 16 * v, mk[v], a[r][v]);
  }
}

__attribute__((target("avx512f"))) float
expSumAVX512(int64_t nt, const float *s, float max, float *p) {
  const __m512 mv = _mm512_set1_ps(max);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < nt; j += 16) {
    __mmask16 m =
        nt - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (nt - j)) - 1);
    __m512 v = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), mv));
    _mm512_mask_storeu_ps(p + j, m, v);
    acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(m, v));
  }
  return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx2,fma"))) void
scoresAVX2(int64_t rows, int64_t nt, int64_t d, const float *qp,
           const float *kt, int64_t ldk, float *s, int64_t lds) {
  // Tiles are padded to 16 keys: two vectors of 8 per row.
  for (int64_t j = 0; j < nt; j += 16) {
    __m256 a[kRows][2];
    for (int64_t r = 0; r < kRows; ++r)
      a[r][0] = a[r][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < d; ++k) {
      __m256 k0 = _mm256_loadu_ps(kt + k * ldk + j);
      __m256 k1 = _mm256_loadu_ps(kt + k * ldk + j + 8);
#pragma clang loop unroll(full)
      for (int64_t r = 0; r < kRows; ++r) {
        if (r < rows) {
          __m256 q = _mm256_set1_ps(qp[r * d + k]);
          a[r][0] = _mm256_fmadd_ps(q, k0, a[r][0]);
          a[r][1] = _mm256_fmadd_ps(q, k1, a[r][1]);
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      _mm256_storeu_ps(s + r * lds + j, a[r][0]);
      _mm256_storeu_ps(s + r * lds + j + 8, a[r][1]);
    }
  }
}

__attribute__((target("avx2,fma"))) void
pvAVX2(int64_t rows, int64_t nt, int64_t e, const float *p, int64_t ldp,
       const float *vp, int64_t ldv, const float *corr, float *o) {
  // Up to kRows rows x 16 columns of O in registers.
  int64_t c = 0;
  for (; c + 16 <= e; c += 16) {
    __m256 a[kRows][2];
#pragma clang loop unroll(full)
    for (int64_t r = 0; r < kRows; ++r)
#pragma clang loop unroll(full)
      for (int v = 0; v < 2; ++v)
        a[r][v] = r < rows
                      ? _mm256_mul_ps(_mm256_loadu_ps(o + r * e + c + 8 * v),
                                      _mm256_set1_ps(corr[r]))
                      : _mm256_setzero_ps();
    for (int64_t j = 0; j < nt; ++j) {
      const float *vr = vp + j * ldv + c;
      __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8);
#pragma clang loop unroll(full)
      for (int64_t r = 0; r < kRows; ++r) {
        if (r < rows) {
          __m256 pj = _mm256_set1_ps(p[r * ldp + j]);
          a[r][0] = _mm256_fmadd_ps(pj, v0, a[r][0]);
          a[r][1] = _mm256_fmadd_ps(pj, v1, a[r][1]);
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      _mm256_storeu_ps(o + r * e + c, a[r][0]);
      _mm256_storeu_ps(o + r * e + c + 8, a[r][1]);
    }
  }
  if (c < e)
    for (int64_t r = 0; r < rows; ++r) {
      float *orow = o + r * e;
      for (int64_t cc = c; cc < e; ++cc)
        orow[cc] *= corr[r];
      for (int64_t j = 0; j < nt; ++j)
        for (int64_t cc = c; cc < e; ++cc)
          orow[cc] = std::fma(p[r * ldp + j], vp[j * ldv + cc], orow[cc]);
    }
}

__attribute__((target("avx2,fma"))) float expSumAVX2(int64_t nt, const float *s,
                                                     float max, float *p) {
  const __m256 mv = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= nt; j += 8) {
    __m256 v = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
    _mm256_storeu_ps(p + j, v);
    acc = _mm256_add_ps(acc, v);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float sum = 0.0f;
  for (float l : lanes)
    sum += l;
  for (; j < nt; ++j) {
    p[j] = std::exp(s[j] - max);
    sum += p[j];
  }
  return sum;
}
#endif

/// Scales the scores s[0..nt) (times or divided by `scale`), adds the mask
/// row (stride mN; null: none), sets keys from `visible` on to -inf, and
/// returns the max (NaN if any score is NaN), in the unfused graph's
/// order of operations.
float prepareRowGeneric(float *s, int64_t nt, int64_t visible, float scale,
                        bool divide, const float *mr, int64_t mN) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float mx = ninf;
  bool nan = false;
  for (int64_t j = 0; j < nt; ++j) {
    float x = divide ? s[j] / scale : s[j] * scale;
    if (mr)
      x += mr[j * mN];
    if (j >= visible)
      x = ninf;
    s[j] = x;
    nan |= std::isnan(x);
    mx = std::max(mx, x);
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : mx;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float
prepareRowAVX512(float *s, int64_t nt, int64_t visible, float scale,
                 bool divide, const float *mr) {
  const __m512 sc = _mm512_set1_ps(scale);
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 mx = ninf;
  __mmask16 nan = 0;
  for (int64_t j = 0; j < nt; j += 16) {
    __mmask16 m =
        nt - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (nt - j)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(m, s + j);
    x = divide ? _mm512_div_ps(x, sc) : _mm512_mul_ps(x, sc);
    if (mr)
      x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, mr + j));
    if (j + 16 > visible) {
      int64_t keep = std::clamp<int64_t>(visible - j, 0, 16);
      __mmask16 vis = __mmask16((1u << keep) - 1);
      x = _mm512_mask_blend_ps(vis, ninf, x);
    }
    _mm512_mask_storeu_ps(s + j, m, x);
    nan |= _mm512_mask_cmp_ps_mask(m, x, x, _CMP_UNORD_Q);
    mx = _mm512_mask_max_ps(mx, m, mx, x);
  }
  if (nan)
    return std::numeric_limits<float>::quiet_NaN();
  return _mm512_reduce_max_ps(mx);
}
#endif

float prepareRow(Isa isa, float *s, int64_t nt, int64_t visible, float scale,
                 bool divide, const float *mr, int64_t mN) {
#if defined(__x86_64__)
  if (isa == Isa::AVX512 && (!mr || mN == 1))
    return prepareRowAVX512(s, nt, visible, scale, divide, mr);
#endif
  (void)isa;
  return prepareRowGeneric(s, nt, visible, scale, divide, mr, mN);
}

struct AttentionArgs {
  int64_t b, h, m, n, d, e, group;
  const float *q;
  int64_t qB, qH, qM, qD;
  const float *k;
  int64_t kB, kH, kN, kD;
  const float *v;
  int64_t vB, vH, vN, vE;
  const float *mask; // null: none
  int64_t mB, mH, mM, mN;
  float *o;
  int64_t oB, oH, oM, oE;
  float scale;
  bool divide;    // S / scale (torch's Div) rather than S * scale
  bool causal;    // key j > query i + (n - m) masked
  bool zeroEmpty; // a row with no visible key is 0 (ONNX Attention), not NaN
};

/// Rows [i0, i0 + rows) of head (bi, hi).
void attentionBlock(const AttentionArgs &a, Isa isa, int64_t bi, int64_t hi,
                    int64_t i0, int64_t rows) {
  const int64_t d = a.d, e = a.e;
  const int64_t kvh = hi / a.group;
  const float *q = a.q + bi * a.qB + hi * a.qH;
  const float *k = a.k + bi * a.kB + kvh * a.kH;
  const float *v = a.v + bi * a.vB + kvh * a.vH;
  const float *mask = a.mask ? a.mask + bi * a.mB + hi * a.mH : nullptr;
  const int64_t ldk = kTileN;
  thread_local std::vector<float> scratch;
  // qp [rows][d], kt [d][kTileN], vp [kTileN][e], s [kRows][kTileN],
  // acc [rows][e], max/sum [rows].
  const size_t need = size_t(rows * d + d * ldk + kTileN * e + kRows * kTileN +
                             rows * e + 2 * rows);
  if (scratch.size() < need)
    scratch.resize(need);
  float *qp = scratch.data();
  float *kt = qp + rows * d;
  float *vp = kt + d * ldk;
  float *s = vp + kTileN * e;
  float *acc = s + kRows * kTileN;
  float *rowMax = acc + rows * e;
  float *rowSum = rowMax + rows;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < d; ++c)
      qp[r * d + c] = q[(i0 + r) * a.qM + c * a.qD];
  std::fill(acc, acc + rows * e, 0.0f);
  std::fill(rowMax, rowMax + rows, -std::numeric_limits<float>::infinity());
  std::fill(rowSum, rowSum + rows, 0.0f);
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t shift =
      a.n - a.m; // causal: key j visible to i iff j <= i+shift
  for (int64_t j0 = 0; j0 < a.n; j0 += kTileN) {
    const int64_t nt = std::min(kTileN, a.n - j0);
    const int64_t ntPad = (nt + 15) / 16 * 16;
    // Kᵀ tile, zero padded to 16 keys.
    for (int64_t c = 0; c < d; ++c) {
      float *row = kt + c * ldk;
      const float *src = k + j0 * a.kN + c * a.kD;
      for (int64_t j = 0; j < nt; ++j)
        row[j] = src[j * a.kN];
      for (int64_t j = nt; j < ntPad; ++j)
        row[j] = 0.0f;
    }
    // V tile with e contiguous (V itself when it already is).
    const float *vt = v + j0 * a.vN;
    int64_t ldv = a.vN;
    if (a.vE != 1) {
      for (int64_t j = 0; j < nt; ++j)
        for (int64_t c = 0; c < e; ++c)
          vp[j * e + c] = vt[j * a.vN + c * a.vE];
      vt = vp;
      ldv = e;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      const int64_t rr = std::min(kRows, rows - r0);
      switch (isa) {
#if defined(__x86_64__)
      case Isa::AVX512:
        scoresAVX512(rr, ntPad, d, qp + r0 * d, kt, ldk, s, kTileN);
        break;
      case Isa::AVX2:
        scoresAVX2(rr, ntPad, d, qp + r0 * d, kt, ldk, s, kTileN);
        break;
#endif
      default:
        scoresGeneric(rr, nt, d, qp + r0 * d, kt, ldk, s, kTileN);
      }
      float corr[kRows];
      for (int64_t r = 0; r < rr; ++r) {
        const int64_t i = i0 + r0 + r;
        float *sr = s + r * kTileN;
        const float *mr = mask ? mask + i * a.mM + j0 * a.mN : nullptr;
        // Keys from `visible` on are causally masked.
        const int64_t visible =
            a.causal ? std::clamp<int64_t>(i + shift + 1 - j0, 0, nt) : nt;
        const float tileMax =
            prepareRow(isa, sr, nt, visible, a.scale, a.divide, mr, a.mN);
        const float oldMax = rowMax[r0 + r];
        const float newMax =
            std::isnan(tileMax) ? tileMax : std::max(oldMax, tileMax);
        if (newMax == ninf) {
          // Every key so far masked: nothing to add (exp(-inf - max) is 0
          // once a visible key sets the max); a row that never sees one
          // is NaN below, as the unfused softmax's 0/0.
          corr[r] = 1.0f;
          std::fill(sr, sr + nt, 0.0f);
          continue;
        }
        // exp(old - new) rescales what earlier tiles accumulated (nothing
        // before the first visible key: acc and sum are 0).
        corr[r] = oldMax == ninf ? 1.0f : std::exp(oldMax - newMax);
        float tileSum;
        switch (isa) {
#if defined(__x86_64__)
        case Isa::AVX512:
          tileSum = expSumAVX512(nt, sr, newMax, sr);
          break;
        case Isa::AVX2:
          tileSum = expSumAVX2(nt, sr, newMax, sr);
          break;
#endif
        default:
          tileSum = expSumGeneric(nt, sr, newMax, sr);
        }
        rowSum[r0 + r] = rowSum[r0 + r] * corr[r] + tileSum;
        rowMax[r0 + r] = newMax;
      }
      float *ar = acc + r0 * e;
      switch (isa) {
#if defined(__x86_64__)
      case Isa::AVX512:
        pvAVX512(rr, nt, e, s, kTileN, vt, ldv, corr, ar);
        break;
      case Isa::AVX2:
        pvAVX2(rr, nt, e, s, kTileN, vt, ldv, corr, ar);
        break;
#endif
      default:
        pvGeneric(rr, nt, e, s, kTileN, vt, ldv, corr, ar);
      }
    }
  }
  float *o = a.o + bi * a.oB + hi * a.oH;
  for (int64_t r = 0; r < rows; ++r) {
    // The unfused graph divides each probability by the sum before P·V;
    // dividing the accumulated row instead differs by rounding only.
    const float *ar = acc + r * e;
    float *orow = o + (i0 + r) * a.oM;
    if (rowMax[r] == ninf) {
      // No visible key: the softmax's 0/0, or ONNX Attention's zero row.
      const float fill =
          a.zeroEmpty ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      for (int64_t c = 0; c < e; ++c)
        orow[c * a.oE] = fill;
      continue;
    }
    const float sum = rowSum[r];
    for (int64_t c = 0; c < e; ++c)
      orow[c * a.oE] = ar[c] / sum;
  }
}

} // namespace

// Sizes: batch b, query heads h, query length m, key length n, head dims
// d (Q, K) and e (V, O); `group` query heads share a K/V head (GQA, 1:
// none). Each operand: address, then element strides in the order of its
// dims: Q [b, h, m, d], K [b, h/group, n, d], V [b, h/group, n, e],
// mask [b, h, m, n] (address 0: none; stride 0 broadcasts), O [b, h, m, e].
// `scaleBits`: the f32 scale's bits; flags: bit 0 divide by the scale
// (else multiply), bit 1 causal, bit 2 a row whose keys are all masked is
// 0 (ONNX Attention's masked softmax) instead of NaN (Softmax's 0/0).
extern "C" void qopt_kernel_attention_f32(
    int64_t b, int64_t h, int64_t m, int64_t n, int64_t d, int64_t e,
    int64_t group, int64_t qPtr, int64_t qB, int64_t qH, int64_t qM, int64_t qD,
    int64_t kPtr, int64_t kB, int64_t kH, int64_t kN, int64_t kD, int64_t vPtr,
    int64_t vB, int64_t vH, int64_t vN, int64_t vE, int64_t maskPtr, int64_t mB,
    int64_t mH, int64_t mM, int64_t mN, int64_t oPtr, int64_t oB, int64_t oH,
    int64_t oM, int64_t oE, int64_t scaleBits, int64_t flags) {
  if (b <= 0 || h <= 0 || m <= 0 || e <= 0)
    return;
  AttentionArgs a;
  a.b = b, a.h = h, a.m = m, a.n = n, a.d = d, a.e = e;
  a.group = group < 1 ? 1 : group;
  a.q = reinterpret_cast<const float *>(qPtr);
  a.qB = qB, a.qH = qH, a.qM = qM, a.qD = qD;
  a.k = reinterpret_cast<const float *>(kPtr);
  a.kB = kB, a.kH = kH, a.kN = kN, a.kD = kD;
  a.v = reinterpret_cast<const float *>(vPtr);
  a.vB = vB, a.vH = vH, a.vN = vN, a.vE = vE;
  a.mask = reinterpret_cast<const float *>(maskPtr);
  a.mB = mB, a.mH = mH, a.mM = mM, a.mN = mN;
  a.o = reinterpret_cast<float *>(oPtr);
  a.oB = oB, a.oH = oH, a.oM = oM, a.oE = oE;
  uint32_t bits = uint32_t(scaleBits);
  std::memcpy(&a.scale, &bits, sizeof(float));
  a.divide = flags & 1;
  a.causal = flags & 2;
  a.zeroEmpty = flags & 4;
  if (n <= 0) {
    // Softmax over no keys: 0/0, as the unfused graph computes (0 for
    // ONNX Attention).
    const float fill =
        a.zeroEmpty ? 0.0f : std::numeric_limits<float>::quiet_NaN();
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t c = 0; c < e; ++c)
            a.o[bi * oB + hi * oH + i * oM + c * oE] = fill;
    return;
  }
  const Isa isa = pickIsa();
  const int64_t blocks = (m + kBlockM - 1) / kBlockM;
  const int64_t tasks = b * h * blocks;
  auto task = [&](int64_t t) {
    const int64_t blk = t % blocks, bh = t / blocks;
    const int64_t i0 = blk * kBlockM;
    attentionBlock(a, isa, bh / h, bh % h, i0, std::min(kBlockM, m - i0));
  };
  if (tasks == 1 || b * h * m * n * (d + e) < kParallelWork) {
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
    return;
  }
  qopt::rt::parallelFor(tasks, task);
}

//===----------------------------------------------------------------------===//
// Row norms
//===----------------------------------------------------------------------===//

namespace {

/// Sum of x[0..n) (contiguous) in 16 independent lanes, which vectorizes
/// (an in-order sum would not): rounding differs from the unfused loop's
/// by a few ulp of the sum.
inline __attribute__((always_inline)) float laneSum(const float *x, int64_t n) {
  float lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l)
      lanes[l] += x[i + l];
  float s = 0.0f;
  for (float l : lanes)
    s += l;
  for (; i < n; ++i)
    s += x[i];
  return s;
}

/// normRow on contiguous operands, gamma and beta present or not as
/// compile-time facts: every loop has unit strides and no per-element
/// branch, so it vectorizes (the strided form stayed scalar). The same
/// operations in the same order as normRow: identical results.
template <bool HasG, bool HasB>
inline __attribute__((always_inline)) void
normRowContiguous(const float *xr, int64_t n, const float *g, const float *bias,
                  float *orow, float eps, int64_t mode, float *t) {
  const float count = float(n);
  const float *src = xr;
  float mean = 0.0f;
  if (mode == 0 || mode == 3) {
    mean = laneSum(xr, n) / count;
    for (int64_t i = 0; i < n; ++i)
      t[i] = xr[i] - mean;
    src = t;
  }
  float sq = 0.0f;
  {
    float lanes[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      for (int l = 0; l < 16; ++l)
        lanes[l] += src[i + l] * src[i + l];
    for (float l : lanes)
      sq += l;
    for (; i < n; ++i)
      sq += src[i] * src[i];
  }
  const float stat = sq / count + eps;
  if (mode == 1 || mode == 3) {
    const float rms = std::sqrt(stat);
    for (int64_t i = 0; i < n; ++i) {
      float y = src[i] / rms * (HasG ? g[i] : 1.0f);
      orow[i] = HasB ? y + bias[i] : y;
    }
    return;
  }
  const float scale = 1.0f / std::sqrt(stat);
  for (int64_t i = 0; i < n; ++i) {
    float y = src[i] * scale * (HasG ? g[i] : 1.0f);
    orow[i] = HasB ? y + bias[i] : y;
  }
}

/// One row of qopt_kernel_norm_f32 (t: n floats of scratch).
inline __attribute__((always_inline)) void
normRow(const float *xr, int64_t n, int64_t xN, const float *g, int64_t gN,
        const float *bias, int64_t bN, float *orow, int64_t oN, float eps,
        int64_t mode, float *t) {
  if (xN == 1 && oN == 1 && (!g || gN == 1) && (!bias || bN == 1)) {
    if (g && bias)
      normRowContiguous<true, true>(xr, n, g, bias, orow, eps, mode, t);
    else if (g)
      normRowContiguous<true, false>(xr, n, g, bias, orow, eps, mode, t);
    else if (bias)
      normRowContiguous<false, true>(xr, n, g, bias, orow, eps, mode, t);
    else
      normRowContiguous<false, false>(xr, n, g, bias, orow, eps, mode, t);
    return;
  }
  const float count = float(n);
  for (int64_t i = 0; i < n; ++i)
    t[i] = xr[i * xN];
  float mean = 0.0f, scale;
  if (mode == 0 || mode == 3) {
    mean = laneSum(t, n) / count;
    for (int64_t i = 0; i < n; ++i)
      t[i] -= mean;
  }
  float sq = 0.0f;
  {
    float lanes[16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      for (int l = 0; l < 16; ++l)
        lanes[l] += t[i + l] * t[i + l];
    for (float l : lanes)
      sq += l;
    for (; i < n; ++i)
      sq += t[i] * t[i];
  }
  const float stat = sq / count + eps;
  if (mode == 1 || mode == 3) {
    // (x - mean) / sqrt(mean((x - mean)²) + eps) * gamma (torch's
    // decomposed norms), divisions as the graph has them.
    const float rms = std::sqrt(stat);
    for (int64_t i = 0; i < n; ++i) {
      float y = t[i] / rms * (g ? g[i * gN] : 1.0f);
      orow[i * oN] = bias ? y + bias[i * bN] : y;
    }
    return;
  }
  scale = 1.0f / std::sqrt(stat);
  for (int64_t i = 0; i < n; ++i) {
    float y = t[i] * scale * (g ? g[i * gN] : 1.0f);
    orow[i * oN] = bias ? y + bias[i * bN] : y;
  }
}

void normRowGeneric(const float *xr, int64_t n, int64_t xN, const float *g,
                    int64_t gN, const float *bias, int64_t bN, float *orow,
                    int64_t oN, float eps, int64_t mode, float *t) {
  normRow(xr, n, xN, g, gN, bias, bN, orow, oN, eps, mode, t);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void
normRowAVX512(const float *xr, int64_t n, int64_t xN, const float *g,
              int64_t gN, const float *bias, int64_t bN, float *orow,
              int64_t oN, float eps, int64_t mode, float *t) {
  normRow(xr, n, xN, g, gN, bias, bN, orow, oN, eps, mode, t);
}

__attribute__((target("avx2,fma"))) void
normRowAVX2(const float *xr, int64_t n, int64_t xN, const float *g, int64_t gN,
            const float *bias, int64_t bN, float *orow, int64_t oN, float eps,
            int64_t mode, float *t) {
  normRow(xr, n, xN, g, gN, bias, bN, orow, oN, eps, mode, t);
}
#endif

} // namespace

// Rows of n elements: x [rows, n] (strides xR, xN), gamma [n] and beta [n]
// (address 0: none, i.e. 1 and 0) with strides, out [rows, n]. mode 0:
// LayerNorm
// ((x - mean) * 1/sqrt(var + eps) * gamma + beta), 1: torch's decomposed
// RMS norm (x / sqrt(mean(x²) + eps) * gamma), 2: RMSNormalization
// (x * 1/sqrt(mean(x²) + eps) * gamma), 3: torch's decomposed LayerNorm
// ((x - mean) / sqrt(var + eps) * gamma + beta). `epsBits`: the f32
// epsilon's bits.
extern "C" void qopt_kernel_norm_f32(int64_t rows, int64_t n, int64_t xPtr,
                                     int64_t xR, int64_t xN, int64_t gPtr,
                                     int64_t gN, int64_t bPtr, int64_t bN,
                                     int64_t oPtr, int64_t oR, int64_t oN,
                                     int64_t epsBits, int64_t mode) {
  if (rows <= 0 || n <= 0)
    return;
  const auto *x = reinterpret_cast<const float *>(xPtr);
  const auto *g = reinterpret_cast<const float *>(gPtr);
  const auto *bias = reinterpret_cast<const float *>(bPtr);
  auto *out = reinterpret_cast<float *>(oPtr);
  float eps;
  uint32_t bits = uint32_t(epsBits);
  std::memcpy(&eps, &bits, sizeof(float));
  const Isa isa = pickIsa();
  auto row = [&](int64_t r) {
    thread_local std::vector<float> tmp;
    if (tmp.size() < size_t(n))
      tmp.resize(size_t(n));
    const float *xr = x + r * xR;
    float *orow = out + r * oR;
    switch (isa) {
#if defined(__x86_64__)
    case Isa::AVX512:
      normRowAVX512(xr, n, xN, g, gN, bias, bN, orow, oN, eps, mode,
                    tmp.data());
      return;
    case Isa::AVX2:
      normRowAVX2(xr, n, xN, g, gN, bias, bN, orow, oN, eps, mode, tmp.data());
      return;
#endif
    default:
      normRowGeneric(xr, n, xN, g, gN, bias, bN, orow, oN, eps, mode,
                     tmp.data());
    }
  };
  if (rows * n < kParallelWork * 2 || rows == 1) {
    for (int64_t r = 0; r < rows; ++r)
      row(r);
    return;
  }
  qopt::rt::parallelFor(rows, row);
}
