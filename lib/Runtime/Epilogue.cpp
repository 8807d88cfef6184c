//===- Epilogue.cpp - activations of the fused matmul epilogue ------------===//
//
// qopt::rt::activateRow (Gemm.h): a C row of a fused matmul gets its
// residual added and its activation applied, with Simd.h's vector math
// (AVX-512, AVX2 or portable as qopt_kernel_isa says).
//
//===----------------------------------------------------------------------===//

#include "Gemm.h"
#include "Simd.h"

#include <string>

extern "C" const char *qopt_kernel_isa(void);

#define QOPT_ACTIVATE_ROW                                                      \
  void activateRow(float *out, const float *res, int64_t n, int act,           \
                   float alpha, float beta, bool gated) {                      \
    int64_t i = 0;                                                             \
    for (; i + V::L <= n; i += V::L) {                                         \
      V::T v = V::load(out + i);                                               \
      if (gated) {                                                             \
        V::store(out + i,                                                      \
                 V::mul(vact(act, alpha, beta, v), V::load(res + i)));         \
        continue;                                                              \
      }                                                                        \
      if (res)                                                                 \
        v = V::add(v, V::load(res + i));                                       \
      V::store(out + i, vact(act, alpha, beta, v));                            \
    }                                                                          \
    if (i < n) {                                                               \
      int r = int(n - i);                                                      \
      V::T v = V::loadN(out + i, r);                                           \
      if (gated)                                                               \
        v = V::mul(vact(act, alpha, beta, v), V::loadN(res + i, r));           \
      else                                                                     \
        v = vact(act, alpha, beta, res ? V::add(v, V::loadN(res + i, r)) : v); \
      V::storeN(out + i, v, r);                                                \
    }                                                                          \
  }

namespace qopt::rt::simdgen {
QOPT_ACTIVATE_ROW
} // namespace qopt::rt::simdgen

#if defined(__x86_64__)
QOPT_SIMD512_BEGIN
namespace qopt::rt::simd512 {
QOPT_ACTIVATE_ROW
} // namespace qopt::rt::simd512
QOPT_SIMD_END
QOPT_SIMD256_BEGIN
namespace qopt::rt::simd256 {
QOPT_ACTIVATE_ROW
} // namespace qopt::rt::simd256
QOPT_SIMD_END
#endif

void qopt::rt::activateRow(float *out, const float *res, int64_t n, int act,
                           float alpha, float beta, bool gated) {
  using Fn = void (*)(float *, const float *, int64_t, int, float, float, bool);
  static const Fn fn = [] {
    std::string isa = qopt_kernel_isa();
#if defined(__x86_64__)
    if (isa == "avx512")
      return Fn(simd512::activateRow);
    if (isa == "avx2")
      return Fn(simd256::activateRow);
#endif
    return Fn(simdgen::activateRow);
  }();
  fn(out, res, n, act, alpha, beta, gated);
}
