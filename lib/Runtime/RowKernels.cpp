//===- RowKernels.cpp - per-row reductions compiled code calls -----------===//
//
// `qopt_kernel_row_absmax_f32`: out[m] = max(out[m], max_k |x[m, k]|), the
// per-token range w8a8-dynamic quantizes each linear layer's input with
// (qopt.qlinear's lowering tags that reduction, QOptToLinalg.cpp). As a
// generated loop it ran scalar: arith.maximumf's NaN and signed-zero rules
// and the accumulator kept in memory left LLVM a serial chain of ~10
// cycles per element (a third of a w8a8-dynamic transformer block's time).
// Here it is 16 lanes at a time; a NaN anywhere in a row gives NaN, as
// maximumf does.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kParallelWork = 1 << 16;

float rowAbsMaxGeneric(const float *x, int64_t k, int64_t xK, float acc) {
  bool nan = std::isnan(acc);
  for (int64_t i = 0; i < k; ++i) {
    float v = std::fabs(x[i * xK]);
    nan |= std::isnan(v);
    acc = std::max(acc, v);
  }
  return nan ? std::numeric_limits<float>::quiet_NaN() : acc;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float rowAbsMaxAVX512(const float *x,
                                                         int64_t k, float acc) {
  __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
  __mmask16 nan0 = 0, nan1 = 0;
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    __m512 v0 = _mm512_abs_ps(_mm512_loadu_ps(x + i));
    __m512 v1 = _mm512_abs_ps(_mm512_loadu_ps(x + i + 16));
    nan0 |= _mm512_cmp_ps_mask(v0, v0, _CMP_UNORD_Q);
    nan1 |= _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, v0);
    m1 = _mm512_max_ps(m1, v1);
  }
  if (i < k) {
    for (; i + 16 <= k; i += 16) {
      __m512 v = _mm512_abs_ps(_mm512_loadu_ps(x + i));
      nan0 |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      m0 = _mm512_max_ps(m0, v);
    }
    if (i < k) {
      __mmask16 tail = __mmask16((1u << (k - i)) - 1);
      __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + i));
      nan0 |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      m0 = _mm512_max_ps(m0, v);
    }
  }
  if ((nan0 | nan1) || std::isnan(acc))
    return std::numeric_limits<float>::quiet_NaN();
  return std::max(acc, _mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
}
#endif

} // namespace

// Addresses arrive as i64, strides in elements: x [M, K], out [M].
extern "C" void qopt_kernel_row_absmax_f32(int64_t m, int64_t k, int64_t xPtr,
                                           int64_t xM, int64_t xK,
                                           int64_t outPtr, int64_t outS) {
  const auto *x = reinterpret_cast<const float *>(xPtr);
  auto *out = reinterpret_cast<float *>(outPtr);
  if (m <= 0 || k <= 0)
    return;
#if defined(__x86_64__)
  // QOPT_KERNEL=avx2|generic: the portable loop (tests of both paths).
  static const bool avx512 = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
    return (want.empty() || want == "avx512") &&
           __builtin_cpu_supports("avx512f");
  }();
  const bool vector = avx512 && xK == 1;
#endif
  auto row = [&](int64_t i) {
    float &o = out[i * outS];
#if defined(__x86_64__)
    if (vector) {
      o = rowAbsMaxAVX512(x + i * xM, k, o);
      return;
    }
#endif
    o = rowAbsMaxGeneric(x + i * xM, k, xK, o);
  };
  if (m * k < kParallelWork || m == 1) {
    for (int64_t i = 0; i < m; ++i)
      row(i);
    return;
  }
  qopt::rt::parallelFor(m, row);
}

//===----------------------------------------------------------------------===//
// w8a8-dynamic: per-token quantization and the dequantizing epilogue
//===----------------------------------------------------------------------===//
//
// The two element-wise passes around the int8 GEMM of a w8a8-dynamic
// linear layer (QOptToLinalg.cpp tags them), as generated loops scalar
// (`vcvtsi2ss`/`vmulss`: 30% of a 32-token block). Same arithmetic as the
// generated code (quantizeInFloat): q = x / s, round half to even,
// maxnum(-128), minnum(127), a NaN x → 0; y = float(acc) · (sx · ws) + bias.

namespace {

inline int8_t quantizeOne(float x, float s) {
  if (std::isnan(x))
    return 0;
  float v = std::nearbyint(x / s);
  v = std::fmax(v, -128.0f); // maxnum: a NaN quotient (inf/inf) → -128
  v = std::fmin(v, 127.0f);
  return int8_t(v);
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl"))) void
quantizeRowAVX512(const float *x, int64_t k, float s, int8_t *q) {
  const __m512 sv = _mm512_set1_ps(s);
  const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t i = 0; i < k; i += 16) {
    __mmask16 mask =
        k - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k - i)) - 1);
    __m512 xv = _mm512_maskz_loadu_ps(mask, x + i);
    __m512 v = _mm512_roundscale_ps(
        _mm512_div_ps(xv, sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // max_ps/min_ps return the second operand when the first is NaN.
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    __mmask16 nan = _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
    v = _mm512_mask_blend_ps(nan, v, _mm512_setzero_ps());
    _mm_mask_storeu_epi8(q + i, mask,
                         _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
  }
}

__attribute__((target("avx512f"))) void
dequantRowAVX512(const int32_t *acc, int64_t n, float sx, const float *ws,
                 const float *bias, float *y) {
  const __m512 s = _mm512_set1_ps(sx);
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 mask =
        n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
    __m512 scale = _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mask, ws + j));
    __m512 v = _mm512_mul_ps(
        _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(mask, acc + j)), scale);
    if (bias)
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + j));
    _mm512_mask_storeu_ps(y + j, mask, v);
  }
}
#endif

bool rowVectors() {
#if defined(__x86_64__)
  static const bool avx512 = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
    return (want.empty() || want == "avx512") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return avx512;
#else
  return false;
#endif
}

} // namespace

// Addresses as i64, strides in elements: x [M, K], s [M], q [M, K].
extern "C" void qopt_kernel_quantize_rows_s8(int64_t m, int64_t k, int64_t xPtr,
                                             int64_t xM, int64_t xK,
                                             int64_t sPtr, int64_t sS,
                                             int64_t qPtr, int64_t qM,
                                             int64_t qK) {
  const auto *x = reinterpret_cast<const float *>(xPtr);
  const auto *s = reinterpret_cast<const float *>(sPtr);
  auto *q = reinterpret_cast<int8_t *>(qPtr);
  if (m <= 0 || k <= 0)
    return;
  const bool vector = rowVectors() && xK == 1 && qK == 1;
  auto row = [&](int64_t i) {
    const float si = s[i * sS];
#if defined(__x86_64__)
    if (vector) {
      quantizeRowAVX512(x + i * xM, k, si, q + i * qM);
      return;
    }
#endif
    for (int64_t j = 0; j < k; ++j)
      q[i * qM + j * qK] = quantizeOne(x[i * xM + j * xK], si);
  };
  if (m * k < 4 * kParallelWork || m == 1) {
    for (int64_t i = 0; i < m; ++i)
      row(i);
    return;
  }
  qopt::rt::parallelFor(m, row);
}

// acc [M, N] i32, ws [N], sx [M], bias [N] (address 0: none), y [M, N].
extern "C" void qopt_kernel_dequant_rows_f32(
    int64_t m, int64_t n, int64_t accPtr, int64_t aM, int64_t aN, int64_t wsPtr,
    int64_t wsS, int64_t sxPtr, int64_t sxS, int64_t biasPtr, int64_t biasS,
    int64_t yPtr, int64_t yM, int64_t yN) {
  const auto *acc = reinterpret_cast<const int32_t *>(accPtr);
  const auto *ws = reinterpret_cast<const float *>(wsPtr);
  const auto *sx = reinterpret_cast<const float *>(sxPtr);
  const auto *bias = reinterpret_cast<const float *>(biasPtr);
  auto *y = reinterpret_cast<float *>(yPtr);
  if (m <= 0 || n <= 0)
    return;
  const bool vector =
      rowVectors() && aN == 1 && wsS == 1 && yN == 1 && (!bias || biasS == 1);
  auto row = [&](int64_t i) {
    const float si = sx[i * sxS];
#if defined(__x86_64__)
    if (vector) {
      dequantRowAVX512(acc + i * aM, n, si, ws, bias, y + i * yM);
      return;
    }
#endif
    for (int64_t j = 0; j < n; ++j) {
      float v = float(acc[i * aM + j * aN]) * (si * ws[j * wsS]);
      if (bias)
        v = v + bias[j * biasS];
      y[i * yM + j * yN] = v;
    }
  };
  if (m * n < 4 * kParallelWork || m == 1) {
    for (int64_t i = 0; i < m; ++i)
      row(i);
    return;
  }
  qopt::rt::parallelFor(m, row);
}
