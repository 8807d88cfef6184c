//===- Simd.h - one vector interface over AVX-512, AVX2 and C++ -*- C++ -*-===//
//
// Kernels written once against `V` (a float vector of V::L lanes) and
// included into each of the namespaces below (SIMD_BEGIN / SIMD_END wrap
// them): `simd512` (AVX-512F), `simd256` (AVX2 + FMA) and `simdgen`
// (portable C++, 8 lanes the compiler vectorizes for the baseline ISA). The
// x86 regions are compiled with their target attribute applied to every
// function in them (clang's `#pragma clang attribute`), so that one source
// gives the three variants and the caller picks one at run time
// (qopt_kernel_isa).
//
// Also the vectorized transcendental functions of the fused epilogues
// (exp, sigmoid, tanh, erf; vact applies an activation code), the same
// formulas in every ISA. Largest errors against double precision measured
// on dense grids (DepthwiseKernelsTest.cpp, SimdMath*, which asserts 2-3x
// these), identical for AVX-512, AVX2 and portable:
//   exp      relative 1.2e-7 on [-87, 88] (Cephes' reduction, degree 6)
//   sigmoid  relative 1.8e-7 on [-80, 30]; x * sigmoid(x) 2.0e-7
//   tanh     relative 1.3e-7 on [-12, 12] (odd polynomial below 0.625,
//            1 - 2 / (exp(2|x|) + 1) above)
//   erf      absolute 4.5e-8 on [-7, 7], relative 7e-8 on [1e-3, 7]
//            (FreeBSD s_erf.c's rational fits over four ranges)
//   GELU     |err| / max(1, |gelu|) 1.2e-7 (erf form), 1.8e-7 (tanh form)
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_SIMD_H
#define QOPT_LIB_RUNTIME_SIMD_H

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

//===----------------------------------------------------------------------===//
// The functions every V provides, generic over V (included per namespace).
//===----------------------------------------------------------------------===//

#define QOPT_SIMD_COMMON                                                       \
  /* exp(x): Cephes' range reduction x = n ln2 + r, degree 6 polynomial. */    \
  inline V::T vexp(V::T x) {                                                   \
    x = V::min(V::max(x, V::set1(-87.33654f)), V::set1(88.72283f));            \
    V::T n = V::round(V::mul(x, V::set1(1.44269504088896341f)));               \
    V::T r = V::fnmadd(n, V::set1(0.693359375f), x);                           \
    r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);                             \
    V::T p = V::set1(1.9875691500e-4f);                                        \
    p = V::fmadd(p, r, V::set1(1.3981999507e-3f));                             \
    p = V::fmadd(p, r, V::set1(8.3334519073e-3f));                             \
    p = V::fmadd(p, r, V::set1(4.1665795894e-2f));                             \
    p = V::fmadd(p, r, V::set1(1.6666665459e-1f));                             \
    p = V::fmadd(p, r, V::set1(5.0000001201e-1f));                             \
    p = V::fmadd(V::mul(p, r), r, V::add(r, V::set1(1.0f)));                   \
    return V::scale2(p, n);                                                    \
  }                                                                            \
  /* 1 / (1 + exp(-x)) */                                                      \
  inline V::T vsigmoid(V::T x) {                                               \
    V::T one = V::set1(1.0f);                                                  \
    return V::div(one, V::add(one, vexp(V::sub(V::zero(), x))));               \
  }                                                                            \
  /* tanh(x): an odd polynomial for |x| < 0.625, else                          \
     sign(x) * (1 - 2 / (exp(2|x|) + 1)). */                                   \
  inline V::T vtanh(V::T x) {                                                  \
    V::T ax = V::abs(x);                                                       \
    V::T e = vexp(V::mul(V::min(ax, V::set1(9.0f)), V::set1(2.0f)));           \
    V::T big = V::sub(V::set1(1.0f),                                           \
                      V::div(V::set1(2.0f), V::add(e, V::set1(1.0f))));        \
    V::T x2 = V::mul(x, x);                                                    \
    V::T p = V::set1(-5.70498872745e-3f);                                      \
    p = V::fmadd(p, x2, V::set1(2.06390887954e-2f));                           \
    p = V::fmadd(p, x2, V::set1(-5.37397155531e-2f));                          \
    p = V::fmadd(p, x2, V::set1(1.33314422036e-1f));                           \
    p = V::fmadd(p, x2, V::set1(-3.33332819422e-1f));                          \
    V::T small = V::fmadd(V::mul(p, x2), ax, ax);                              \
    V::T r = V::select(V::lt(ax, V::set1(0.625f)), small, big);                \
    return V::copysign(r, x);                                                  \
  }                                                                            \
  /* erf(x): FreeBSD s_erff.c's rational fits (four ranges). */                \
  inline V::T verf(V::T x) {                                                   \
    V::T ax = V::min(V::abs(x), V::set1(6.0f));                                \
    V::T one = V::set1(1.0f);                                                  \
    /* |x| < 0.84375: x + x * P(x^2) / Q(x^2) */                               \
    V::T z = V::mul(ax, ax);                                                   \
    V::T pp = V::set1(-2.3763017452e-05f);                                     \
    pp = V::fmadd(pp, z, V::set1(-5.7702702470e-03f));                         \
    pp = V::fmadd(pp, z, V::set1(-2.8481749818e-02f));                         \
    pp = V::fmadd(pp, z, V::set1(-3.2504209876e-01f));                         \
    pp = V::fmadd(pp, z, V::set1(1.2837916613e-01f));                          \
    V::T qq = V::set1(-3.9602282413e-06f);                                     \
    qq = V::fmadd(qq, z, V::set1(1.3249473704e-04f));                          \
    qq = V::fmadd(qq, z, V::set1(5.0813062117e-03f));                          \
    qq = V::fmadd(qq, z, V::set1(6.5022252500e-02f));                          \
    qq = V::fmadd(qq, z, V::set1(3.9791721106e-01f));                          \
    qq = V::fmadd(qq, z, one);                                                 \
    V::T r0 = V::fmadd(ax, V::div(pp, qq), ax);                                \
    /* 0.84375 <= |x| < 1.25: erx + P(s) / Q(s), s = |x| - 1 */                \
    V::T s = V::sub(ax, one);                                                  \
    V::T pa = V::set1(-2.1663755178e-03f);                                     \
    pa = V::fmadd(pa, s, V::set1(3.5478305072e-02f));                          \
    pa = V::fmadd(pa, s, V::set1(-1.1089469492e-01f));                         \
    pa = V::fmadd(pa, s, V::set1(3.1834661961e-01f));                          \
    pa = V::fmadd(pa, s, V::set1(-3.7220788002e-01f));                         \
    pa = V::fmadd(pa, s, V::set1(4.1485610604e-01f));                          \
    pa = V::fmadd(pa, s, V::set1(-2.3621185683e-03f));                         \
    V::T qa = V::set1(1.1984500103e-02f);                                      \
    qa = V::fmadd(qa, s, V::set1(1.3637083583e-02f));                          \
    qa = V::fmadd(qa, s, V::set1(1.2617121637e-01f));                          \
    qa = V::fmadd(qa, s, V::set1(7.1828655899e-02f));                          \
    qa = V::fmadd(qa, s, V::set1(5.4039794207e-01f));                          \
    qa = V::fmadd(qa, s, V::set1(1.0642088205e-01f));                          \
    qa = V::fmadd(qa, s, one);                                                 \
    V::T r1 = V::add(V::set1(8.4506291151e-01f), V::div(pa, qa));              \
    /* |x| >= 1.25: 1 - exp(-z - 0.5625) * exp(R / S) / |x| */                 \
    V::T t = V::div(one, z);                                                   \
    V::M lo = V::lt(ax, V::set1(2.857142857f));                                \
    V::T ra = V::select(lo, V::set1(-9.8143293442e+00f), V::zero());           \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-8.1287435506e+01f),                   \
                            V::set1(-4.8351919161e+02f)));                     \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-1.8460509291e+02f),                   \
                            V::set1(-1.0250951316e+03f)));                     \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-1.6239666946e+02f),                   \
                            V::set1(-6.3756644337e+02f)));                     \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-6.2375332450e+01f),                   \
                            V::set1(-1.6063638486e+02f)));                     \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-1.0558626225e+01f),                   \
                            V::set1(-1.7757954918e+01f)));                     \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-6.9385857271e-01f),                   \
                            V::set1(-7.9928323768e-01f)));                     \
    ra = V::fmadd(ra, t,                                                       \
                  V::select(lo, V::set1(-9.8649440348e-03f),                   \
                            V::set1(-9.8649429247e-03f)));                     \
    V::T sa = V::select(lo, V::set1(-6.0424413532e-02f), V::zero());           \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(6.5702495575e+00f),                    \
                            V::set1(-2.2440952301e+01f)));                     \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(1.0863500214e+02f),                    \
                            V::set1(4.7475283203e+02f)));                      \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(4.2900814819e+02f),                    \
                            V::set1(2.5530502930e+03f)));                      \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(6.4538726807e+02f),                    \
                            V::set1(3.1998581543e+03f)));                      \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(4.3456588745e+02f),                    \
                            V::set1(1.5367296143e+03f)));                      \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(1.3765776062e+02f),                    \
                            V::set1(3.2579251099e+02f)));                      \
    sa = V::fmadd(sa, t,                                                       \
                  V::select(lo, V::set1(1.9651271820e+01f),                    \
                            V::set1(3.0338060379e+01f)));                      \
    sa = V::fmadd(sa, t, one);                                                 \
    /* exp(-z - 0.5625) split as exp(-zh^2 - 0.5625) exp((zh-x)(zh+x)):        \
       zh = |x| with its low 12 mantissa bits cleared. */                      \
    V::T zh = V::truncLow12(ax);                                               \
    V::T e1 =                                                                  \
        vexp(V::sub(V::mul(V::sub(V::zero(), zh), zh), V::set1(0.5625f)));     \
    V::T e2 =                                                                  \
        vexp(V::add(V::mul(V::sub(zh, ax), V::add(zh, ax)), V::div(ra, sa)));  \
    V::T r2 = V::sub(one, V::div(V::mul(e1, e2), ax));                         \
    V::T r = V::select(V::lt(ax, V::set1(0.84375f)), r0,                       \
                       V::select(V::lt(ax, V::set1(1.25f)), r1, r2));          \
    return V::copysign(r, x);                                                  \
  }                                                                            \
  /* The fused epilogues' activations (codes: Conv.h's ConvAct). */            \
  inline V::T vact(int act, float alpha, float beta, V::T v) {                 \
    switch (act) {                                                             \
    case 1: /* Relu */                                                         \
      return V::max(v, V::zero());                                             \
    case 2: /* Clip */                                                         \
      return V::min(V::max(v, V::set1(alpha)), V::set1(beta));                 \
    case 3: /* LeakyRelu */                                                    \
      return V::select(V::lt(v, V::zero()), V::mul(v, V::set1(alpha)), v);     \
    case 4: /* Sigmoid */                                                      \
      return vsigmoid(v);                                                      \
    case 5: /* HardSwish */                                                    \
      return V::mul(v,                                                         \
                    V::min(V::max(V::fmadd(v, V::set1(alpha), V::set1(beta)),  \
                                  V::zero()),                                  \
                           V::set1(1.0f)));                                    \
    case 6: /* SiLU */                                                         \
      return V::mul(v, vsigmoid(v));                                           \
    case 7: /* GELU (erf): 0.5 x (1 + erf(x / sqrt 2)) */                      \
      return V::mul(V::mul(V::set1(0.5f), v),                                  \
                    V::add(V::set1(1.0f),                                      \
                           verf(V::mul(v, V::set1(0.70710678118654752f)))));   \
    case 8: /* GELU (tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */ \
    {                                                                          \
      V::T u =                                                                 \
          V::mul(V::set1(0.79788456080286536f),                                \
                 V::fmadd(V::mul(V::mul(v, v), v), V::set1(0.044715f), v));    \
      return V::mul(V::mul(V::set1(0.5f), v),                                  \
                    V::add(V::set1(1.0f), vtanh(u)));                          \
    }                                                                          \
    default:                                                                   \
      return v;                                                                \
    }                                                                          \
  }

//===----------------------------------------------------------------------===//
// Portable: 8 lanes of plain C++.
//===----------------------------------------------------------------------===//

namespace qopt::rt::simdgen {
struct V {
  static constexpr int L = 8;
  struct T {
    float v[8];
  };
  using M = T; // masks as all-ones / zero lanes
  template <typename F> static T map(F f) {
    T r;
    for (int i = 0; i < L; ++i)
      r.v[i] = f(i);
    return r;
  }
  static T zero() {
    return map([](int) { return 0.0f; });
  }
  static T set1(float a) {
    return map([=](int) { return a; });
  }
  static T load(const float *p) {
    return map([=](int i) { return p[i]; });
  }
  static T loadN(const float *p, int n) {
    return map([=](int i) { return i < n ? p[i] : 0.0f; });
  }
  static void store(float *p, T a) {
    for (int i = 0; i < L; ++i)
      p[i] = a.v[i];
  }
  /// Lanes [from, to) from p[from...], zeros elsewhere (p[i] outside is
  /// not read).
  static T loadRange(const float *p, int from, int to) {
    return map([=](int i) { return i >= from && i < to ? p[i] : 0.0f; });
  }
  /// Even and odd elements of p[0, 2L).
  static void deinterleave2(const float *p, T &even, T &odd) {
    even = map([=](int i) { return p[2 * i]; });
    odd = map([=](int i) { return p[2 * i + 1]; });
  }
  static void storeN(float *p, T a, int n) {
    for (int i = 0; i < n && i < L; ++i)
      p[i] = a.v[i];
  }
  static T add(T a, T b) {
    return map([&](int i) { return a.v[i] + b.v[i]; });
  }
  static T sub(T a, T b) {
    return map([&](int i) { return a.v[i] - b.v[i]; });
  }
  static T mul(T a, T b) {
    return map([&](int i) { return a.v[i] * b.v[i]; });
  }
  static T div(T a, T b) {
    return map([&](int i) { return a.v[i] / b.v[i]; });
  }
  static T min(T a, T b) {
    return map([&](int i) { return a.v[i] < b.v[i] ? a.v[i] : b.v[i]; });
  }
  static T max(T a, T b) {
    return map([&](int i) { return a.v[i] > b.v[i] ? a.v[i] : b.v[i]; });
  }
  static T fmadd(T a, T b, T c) {
    return map([&](int i) { return std::fma(a.v[i], b.v[i], c.v[i]); });
  }
  static T fnmadd(T a, T b, T c) {
    return map([&](int i) { return std::fma(-a.v[i], b.v[i], c.v[i]); });
  }
  static T abs(T a) {
    return map([&](int i) { return std::fabs(a.v[i]); });
  }
  static T round(T a) {
    return map([&](int i) { return std::nearbyint(a.v[i]); });
  }
  static T scale2(T a, T n) {
    return map([&](int i) { return std::ldexp(a.v[i], int(n.v[i])); });
  }
  static M lt(T a, T b) {
    return map([&](int i) { return a.v[i] < b.v[i] ? 1.0f : 0.0f; });
  }
  static T select(M m, T a, T b) {
    return map([&](int i) { return m.v[i] != 0 ? a.v[i] : b.v[i]; });
  }
  static T copysign(T a, T s) {
    return map([&](int i) { return std::copysign(a.v[i], s.v[i]); });
  }
  static T truncLow12(T a) {
    return map([&](int i) {
      uint32_t u;
      std::memcpy(&u, &a.v[i], 4);
      u &= 0xfffff000u;
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    });
  }
};
QOPT_SIMD_COMMON
} // namespace qopt::rt::simdgen

#if defined(__x86_64__)

//===----------------------------------------------------------------------===//
// AVX-512F: 16 lanes.
//===----------------------------------------------------------------------===//

// clang-format off
#ifdef __clang__
#define QOPT_SIMD512_BEGIN \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512dq,avx512vl,avx512bw,avx2,fma\"))), apply_to = function)")
#define QOPT_SIMD256_BEGIN \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define QOPT_SIMD_END _Pragma("clang attribute pop")
#else
#define QOPT_SIMD512_BEGIN \
  _Pragma("GCC push_options") \
  _Pragma("GCC target(\"avx512f,avx512dq,avx512vl,avx512bw,avx2,fma\")")
#define QOPT_SIMD256_BEGIN \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define QOPT_SIMD_END _Pragma("GCC pop_options")
#endif
// clang-format on

QOPT_SIMD512_BEGIN
namespace qopt::rt::simd512 {
struct V {
  static constexpr int L = 16;
  using T = __m512;
  using M = __mmask16;
  static __mmask16 first(int n) {
    return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n < 0 ? 0 : n)) - 1);
  }
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float a) { return _mm512_set1_ps(a); }
  static T load(const float *p) { return _mm512_loadu_ps(p); }
  static T loadN(const float *p, int n) {
    return _mm512_maskz_loadu_ps(first(n), p);
  }
  static void store(float *p, T a) { _mm512_storeu_ps(p, a); }
  static void storeN(float *p, T a, int n) {
    _mm512_mask_storeu_ps(p, first(n), a);
  }
  static T loadRange(const float *p, int from, int to) {
    return _mm512_maskz_loadu_ps(__mmask16(first(to) & ~first(from)), p);
  }
  static void deinterleave2(const float *p, T &even, T &odd) {
    __m512 a = _mm512_loadu_ps(p), b = _mm512_loadu_ps(p + 16);
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                         22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21,
                                         23, 25, 27, 29, 31);
    even = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, io, b);
  }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }
  static T abs(T a) { return _mm512_abs_ps(a); }
  static T round(T a) {
    return _mm512_roundscale_ps(a,
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static T scale2(T a, T n) { return _mm512_scalef_ps(a, n); }
  static M lt(T a, T b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static T select(M m, T a, T b) { return _mm512_mask_blend_ps(m, b, a); }
  static T copysign(T a, T s) {
    const __m512i sign = _mm512_set1_epi32(int(0x80000000u));
    return _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_andnot_si512(sign, _mm512_castps_si512(a)),
                        _mm512_and_si512(sign, _mm512_castps_si512(s))));
  }
  static T truncLow12(T a) {
    return _mm512_castsi512_ps(_mm512_and_si512(
        _mm512_castps_si512(a), _mm512_set1_epi32(int(0xfffff000u))));
  }
};
QOPT_SIMD_COMMON
} // namespace qopt::rt::simd512
QOPT_SIMD_END

//===----------------------------------------------------------------------===//
// AVX2 + FMA: 8 lanes.
//===----------------------------------------------------------------------===//

QOPT_SIMD256_BEGIN
namespace qopt::rt::simd256 {
struct V {
  static constexpr int L = 8;
  using T = __m256;
  using M = __m256;
  static __m256i firstMask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float a) { return _mm256_set1_ps(a); }
  static T load(const float *p) { return _mm256_loadu_ps(p); }
  static T loadN(const float *p, int n) {
    return _mm256_maskload_ps(p, firstMask(n));
  }
  static void store(float *p, T a) { _mm256_storeu_ps(p, a); }
  static void storeN(float *p, T a, int n) {
    _mm256_maskstore_ps(p, firstMask(n), a);
  }
  static T loadRange(const float *p, int from, int to) {
    return _mm256_maskload_ps(
        p, _mm256_andnot_si256(firstMask(from), firstMask(to)));
  }
  static void deinterleave2(const float *p, T &even, T &odd) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    // [a0 a2 b0 b2 | a4 a6 b4 b6] -> lanes 0 1 4 5 | 2 3 6 7 in order.
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    even = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static T abs(T a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static T round(T a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  /// a * 2^n for integral n in [-127, 127] (vexp's range).
  static T scale2(T a, T n) {
    // Two steps so that n = -127 (exp(-87.3)) stays a normal number.
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i h = _mm256_srai_epi32(ni, 1);
    __m256i l = _mm256_sub_epi32(ni, h);
    auto pow2 = [](__m256i e) {
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
    };
    return _mm256_mul_ps(_mm256_mul_ps(a, pow2(h)), pow2(l));
  }
  static M lt(T a, T b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static T select(M m, T a, T b) { return _mm256_blendv_ps(b, a, m); }
  static T copysign(T a, T s) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, a), _mm256_and_ps(sign, s));
  }
  static T truncLow12(T a) {
    return _mm256_and_ps(
        a, _mm256_castsi256_ps(_mm256_set1_epi32(int(0xfffff000u))));
  }
};
QOPT_SIMD_COMMON
} // namespace qopt::rt::simd256
QOPT_SIMD_END

#endif // __x86_64__

#endif // QOPT_LIB_RUNTIME_SIMD_H
