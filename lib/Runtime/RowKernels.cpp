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
