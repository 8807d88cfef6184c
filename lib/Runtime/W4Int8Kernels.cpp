//===- W4Int8Kernels.cpp - int4 weights × int8 activations (Q4×Q8) -------===//
//
// The int8-activation path of `qopt_kernel_matmul_w4` for int4 and uint4
// weights (not NF4, whose levels are not integers), taken by the layers
// compiled with --w4-activations=int8 (qlinear activation dynamic_block,
// kernel format 3/4; docs/Runtime/W4Int8.md), as onnxruntime's
// MatMulNBits accuracy_level=4 and llama.cpp's Q4_0×Q8_0 do:
//
// * Each row of A is quantized once per call, per weight group (block of
//   `group` k): s = max|x| / 127, q = round-half-even(x / s) in [-127, 127]
//   (s = 0 and q = 0 for an all-zero block), and Σq per block.
// * The weight is repacked once per model (constant weights) into panels
//   of 32 columns, two halves of 16, and blocks of 8 k: 64 bytes per half
//   and block, byte 4c + u holding column c's code for k = 8b + u in its
//   low nibble and k = 8b + 4 + u in its high nibble. Codes are unsigned
//   (int4 stored biased, v + 8, with a zero point of 8; uint4 as stored,
//   with its zero points), so that a nibble is `vpdpbusd`'s u8 operand
//   and the activation its s8 operand: two ANDs and a shift unpack 128
//   weights in registers, never into a buffer.
// * Per block, exact integer sums S = Σ u·q (i32; |S| ≤ 15·127·group), and
//   in float: y += (s_w · s_x) · (S − z · Σq).
//
// The only error added over the f32 path is the activation's rounding
// (≤ s_x / 2 per element, a relative 1/254 of the block's max|x|).
// Microkernels: AVX-512 VNNI, AVX2 (pmaddubsw is exact here: a pair sum
// is at most 2·15·127 < 2^15), portable C++; QOPT_KERNEL narrows the
// choice as for the other kernels.
//
//===----------------------------------------------------------------------===//

#include "Threads.h"
#include "W4Int8.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kPanel = 32; // columns per panel (two halves of 16)
constexpr int64_t kRows = 8;   // rows of A per microkernel call
/// Below this many multiply-adds a call runs on the calling thread: 2M
/// int8 multiply-adds are a few microseconds here, no more than handing
/// work to the pool costs on a loaded machine (a hidden-256 decoder step
/// ran 4x slower on 2 threads than on 1).
constexpr int64_t kParallelWork = 1 << 21;

/// A 4-bit weight repacked for the int8-activation kernels (layout in the
/// file comment). scales and zeros are [panel][group][32].
struct PackedW4I8 {
  int64_t k = 0, blocks = 0, group = 0, groups = 0;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
};

std::shared_ptr<PackedW4I8> pack(const qopt::rt::W4Weight &w, int64_t n,
                                 int64_t k) {
  auto p = std::make_shared<PackedW4I8>();
  p->k = k;
  p->blocks = (k + 7) / 8;
  p->group = w.group;
  p->groups = (k + w.group - 1) / w.group;
  const int64_t panels = (n + kPanel - 1) / kPanel;
  p->codes.assign(size_t(panels * p->blocks * 128), 0);
  p->scales.assign(size_t(panels * p->groups * kPanel), 0.0f);
  p->zeros.assign(size_t(panels * p->groups * kPanel), 0.0f);
  const int bias = w.isSigned ? 8 : 0;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t panel = j / kPanel, half = (j % kPanel) / 16, c = j % 16;
    const auto *bytes = reinterpret_cast<const uint8_t *>(w.w + j * w.wN);
    for (int64_t kk = 0; kk < k; ++kk) {
      int u = ((bytes[(kk / 2) * w.wK] >> ((kk & 1) * 4)) & 15) ^ bias;
      int64_t b = kk / 8, r = kk % 8;
      uint8_t &dst = p->codes[size_t(((panel * p->blocks + b) * 2 + half) * 64 +
                                     c * 4 + r % 4)];
      dst |= uint8_t(u << (r / 4 * 4));
    }
    for (int64_t g = 0; g < p->groups; ++g) {
      size_t at = size_t((panel * p->groups + g) * kPanel + j % kPanel);
      p->scales[at] = w.scale[j * w.sN + g * w.sG];
      p->zeros[at] = w.isSigned ? 8.0f : float(w.zp[j * w.zN + g * w.zG]);
    }
  }
  return p;
}

std::mutex cacheMu;
std::map<std::array<int64_t, 11>, std::shared_ptr<const PackedW4I8>> cache;

std::shared_ptr<const PackedW4I8> packed(const qopt::rt::W4Weight &w, int64_t n,
                                         int64_t k, bool constant) {
  if (!constant)
    return pack(w, n, k);
  std::array<int64_t, 11> key{reinterpret_cast<int64_t>(w.w),
                              n,
                              k,
                              w.wN,
                              w.wK,
                              w.group * 2 + (w.isSigned ? 1 : 0),
                              reinterpret_cast<int64_t>(w.scale),
                              w.sN * 65536 + w.sG,
                              reinterpret_cast<int64_t>(w.zp),
                              w.zN,
                              w.zG};
  std::lock_guard<std::mutex> lock(cacheMu);
  std::shared_ptr<const PackedW4I8> &entry = cache[key];
  if (!entry)
    entry = pack(w, n, k);
  return entry;
}

/// Rows of A quantized per block: q [m][blocks * 8] (zero padded), and
/// per row and group the scale and Σq.
struct QuantRows {
  int64_t stride = 0, groups = 0;
  std::vector<int8_t> q;
  std::vector<float> scale;
  std::vector<int32_t> sum;
};

/// q[k0, k1) = round-half-even(x / s) for a contiguous block, Σq returned.
int32_t quantizeBlockGeneric(const float *x, int64_t len, float s, int8_t *q) {
  int32_t sum = 0;
  for (int64_t kk = 0; kk < len; ++kk) {
    float v = std::nearbyint(x[kk] / s);
    int32_t iv = int32_t(std::clamp(v, -127.0f, 127.0f));
    q[kk] = int8_t(iv);
    sum += iv;
  }
  return sum;
}

#if defined(__x86_64__)
/// quantizeBlockGeneric 16 lanes at a time: the same division and
/// round-half-even conversion (the default MXCSR rounding).
__attribute__((target("avx512f,avx512bw,avx512vl"))) int32_t
quantizeBlockAVX512(const float *x, int64_t len, float s, int8_t *q) {
  const __m512 sv = _mm512_set1_ps(s);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  __m512i sum = _mm512_setzero_si512();
  for (int64_t kk = 0; kk < len; kk += 16) {
    __mmask16 mask =
        len - kk >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (len - kk)) - 1);
    __m512i v = _mm512_cvtps_epi32(
        _mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + kk), sv));
    v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
    sum = _mm512_add_epi32(sum, v);
    _mm_mask_storeu_epi8(q + kk, mask, _mm512_cvtepi32_epi8(v));
  }
  return _mm512_reduce_add_epi32(sum);
}
#endif

/// False if a row holds a NaN or an infinity (the f32 path then runs, so
/// that they propagate as they would there).
int32_t quantizeBlock(const float *x, int64_t len, float s, int8_t *q) {
#if defined(__x86_64__)
  static const bool avx512 = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
    return (want.empty() || want == "avx512") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  if (avx512)
    return quantizeBlockAVX512(x, len, s, q);
#endif
  return quantizeBlockGeneric(x, len, s, q);
}

bool quantizeRows(int64_t m, int64_t k, const float *a, int64_t aM, int64_t aK,
                  int64_t group, QuantRows &out) {
  out.stride = (k + 7) / 8 * 8;
  out.groups = (k + group - 1) / group;
  out.q.assign(size_t(m * out.stride), 0);
  out.scale.assign(size_t(m * out.groups), 0.0f);
  out.sum.assign(size_t(m * out.groups), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t g = 0; g < out.groups; ++g) {
      const int64_t k0 = g * group, k1 = std::min(k, k0 + group);
      float amax = 0;
      bool finite = true;
      for (int64_t kk = k0; kk < k1; ++kk) {
        float v = std::fabs(a[i * aM + kk * aK]);
        finite &= v <= std::numeric_limits<float>::max(); // false for NaN
        amax = std::max(amax, v);
      }
      if (!finite)
        return false;
      if (amax == 0)
        continue;
      const float s = amax / 127.0f;
      int8_t *q = out.q.data() + i * out.stride + k0;
      int32_t sum;
      if (aK != 1) {
        float x[1024];
        sum = 0;
        for (int64_t c0 = k0; c0 < k1; c0 += 1024) {
          int64_t len = std::min<int64_t>(1024, k1 - c0);
          for (int64_t kk = 0; kk < len; ++kk)
            x[kk] = a[i * aM + (c0 + kk) * aK];
          sum += quantizeBlockGeneric(x, len, s, q + (c0 - k0));
        }
      } else {
        sum = quantizeBlock(a + i * aM + k0, k1 - k0, s, q);
      }
      out.scale[size_t(i * out.groups + g)] = s;
      out.sum[size_t(i * out.groups + g)] = sum;
    }
  return true;
}

/// C[i][p*32 + col] += the panel's result for rows [0, M) of `x` (the
/// first of those rows at `row0`), `cols` ≤ 32 valid columns.
using PanelFn = void (*)(int64_t rows, const QuantRows &x, int64_t row0,
                         const PackedW4I8 &pw, int64_t panel, float *c,
                         int64_t cM, int64_t cN, int64_t cols);

void storePanel(const float (&t)[kPanel], float *c, int64_t cN, int64_t cols) {
  for (int64_t col = 0; col < cols; ++col)
    c[col * cN] += t[col];
}

void panelGeneric(int64_t rows, const QuantRows &x, int64_t row0,
                  const PackedW4I8 &pw, int64_t panel, float *c, int64_t cM,
                  int64_t cN, int64_t cols) {
  const int64_t blocksPerGroup = pw.group / 8;
  for (int64_t i = 0; i < rows; ++i) {
    const int8_t *q = x.q.data() + (row0 + i) * x.stride;
    float t[kPanel] = {};
    for (int64_t g = 0; g < pw.groups; ++g) {
      const int64_t b0 = g * blocksPerGroup,
                    b1 = std::min(pw.blocks, b0 + blocksPerGroup);
      int32_t acc[kPanel] = {};
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t h = 0; h < 2; ++h) {
          const uint8_t *bytes =
              pw.codes.data() + ((panel * pw.blocks + b) * 2 + h) * 64;
          for (int64_t col = 0; col < 16; ++col)
            for (int64_t u = 0; u < 4; ++u) {
              uint8_t v = bytes[col * 4 + u];
              acc[h * 16 + col] += int32_t(v & 15) * q[b * 8 + u] +
                                   int32_t(v >> 4) * q[b * 8 + 4 + u];
            }
        }
      const float xs = x.scale[size_t((row0 + i) * x.groups + g)];
      const float xsum = float(x.sum[size_t((row0 + i) * x.groups + g)]);
      const float *sp = pw.scales.data() + (panel * pw.groups + g) * kPanel;
      const float *zp = pw.zeros.data() + (panel * pw.groups + g) * kPanel;
      for (int64_t col = 0; col < kPanel; ++col)
        t[col] += (sp[col] * xs) * (float(acc[col]) - zp[col] * xsum);
    }
    storePanel(t, c + i * cM, cN, cols);
  }
}

#if defined(__x86_64__)
template <int M>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
panelVNNIRows(const QuantRows &x, int64_t row0, const PackedW4I8 &pw,
              int64_t panel, float *c, int64_t cM, int64_t cN, int64_t cols) {
  const int64_t blocksPerGroup = pw.group / 8;
  const __m512i low = _mm512_set1_epi8(0x0F);
  const int8_t *q[M];
  for (int i = 0; i < M; ++i)
    q[i] = x.q.data() + (row0 + i) * x.stride;
  __m512 sum[M][2];
  for (auto &r : sum)
    r[0] = r[1] = _mm512_setzero_ps();
  const uint8_t *codes = pw.codes.data() + panel * pw.blocks * 128;
  for (int64_t g = 0; g < pw.groups; ++g) {
    const int64_t b0 = g * blocksPerGroup,
                  b1 = std::min(pw.blocks, b0 + blocksPerGroup);
    __m512i acc[M][2];
    for (auto &r : acc)
      r[0] = r[1] = _mm512_setzero_si512();
    for (int64_t b = b0; b < b1; ++b) {
      __m512i v0 = _mm512_loadu_si512(codes + b * 128);
      __m512i v1 = _mm512_loadu_si512(codes + b * 128 + 64);
      __m512i lo0 = _mm512_and_si512(v0, low);
      __m512i hi0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), low);
      __m512i lo1 = _mm512_and_si512(v1, low);
      __m512i hi1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), low);
      for (int i = 0; i < M; ++i) {
        int32_t qa, qb;
        std::memcpy(&qa, q[i] + b * 8, 4);
        std::memcpy(&qb, q[i] + b * 8 + 4, 4);
        __m512i xa = _mm512_set1_epi32(qa), xb = _mm512_set1_epi32(qb);
        acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], lo0, xa);
        acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], lo1, xa);
        acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], hi0, xb);
        acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], hi1, xb);
      }
    }
    const float *sp = pw.scales.data() + (panel * pw.groups + g) * kPanel;
    const float *zp = pw.zeros.data() + (panel * pw.groups + g) * kPanel;
    const __m512 s0 = _mm512_loadu_ps(sp), s1 = _mm512_loadu_ps(sp + 16);
    const __m512 z0 = _mm512_loadu_ps(zp), z1 = _mm512_loadu_ps(zp + 16);
    for (int i = 0; i < M; ++i) {
      const int64_t at = (row0 + i) * x.groups + g;
      const __m512 xs = _mm512_set1_ps(x.scale[size_t(at)]);
      const __m512 xsum = _mm512_set1_ps(float(x.sum[size_t(at)]));
      __m512 t0 = _mm512_fnmadd_ps(z0, xsum, _mm512_cvtepi32_ps(acc[i][0]));
      __m512 t1 = _mm512_fnmadd_ps(z1, xsum, _mm512_cvtepi32_ps(acc[i][1]));
      sum[i][0] = _mm512_fmadd_ps(_mm512_mul_ps(s0, xs), t0, sum[i][0]);
      sum[i][1] = _mm512_fmadd_ps(_mm512_mul_ps(s1, xs), t1, sum[i][1]);
    }
  }
  for (int i = 0; i < M; ++i) {
    alignas(64) float t[kPanel];
    _mm512_store_ps(t, sum[i][0]);
    _mm512_store_ps(t + 16, sum[i][1]);
    storePanel(t, c + i * cM, cN, cols);
  }
}

void panelVNNI(int64_t rows, const QuantRows &x, int64_t row0,
               const PackedW4I8 &pw, int64_t panel, float *c, int64_t cM,
               int64_t cN, int64_t cols) {
  switch (rows) {
  case 1:
    return panelVNNIRows<1>(x, row0, pw, panel, c, cM, cN, cols);
  case 2:
    return panelVNNIRows<2>(x, row0, pw, panel, c, cM, cN, cols);
  case 3:
    return panelVNNIRows<3>(x, row0, pw, panel, c, cM, cN, cols);
  case 4:
    return panelVNNIRows<4>(x, row0, pw, panel, c, cM, cN, cols);
  case 5:
    return panelVNNIRows<5>(x, row0, pw, panel, c, cM, cN, cols);
  case 6:
    return panelVNNIRows<6>(x, row0, pw, panel, c, cM, cN, cols);
  case 7:
    return panelVNNIRows<7>(x, row0, pw, panel, c, cM, cN, cols);
  default:
    return panelVNNIRows<8>(x, row0, pw, panel, c, cM, cN, cols);
  }
}

/// AVX2: a half (16 columns) is two vectors of 8 columns × 4 k;
/// pmaddubsw (u8 code × s8 activation, pair sums ≤ 2·15·127: exact) then
/// pmaddwd by ones gives the quad sums.
template <int M>
__attribute__((target("avx2,fma"))) void
panelAVX2Rows(const QuantRows &x, int64_t row0, const PackedW4I8 &pw,
              int64_t panel, float *c, int64_t cM, int64_t cN, int64_t cols) {
  const int64_t blocksPerGroup = pw.group / 8;
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t *q[M];
  for (int i = 0; i < M; ++i)
    q[i] = x.q.data() + (row0 + i) * x.stride;
  __m256 sum[M][4];
  for (auto &r : sum)
    for (auto &v : r)
      v = _mm256_setzero_ps();
  const uint8_t *codes = pw.codes.data() + panel * pw.blocks * 128;
  for (int64_t g = 0; g < pw.groups; ++g) {
    const int64_t b0 = g * blocksPerGroup,
                  b1 = std::min(pw.blocks, b0 + blocksPerGroup);
    __m256i acc[M][4];
    for (auto &r : acc)
      for (auto &v : r)
        v = _mm256_setzero_si256();
    for (int64_t b = b0; b < b1; ++b) {
      __m256i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        __m256i v = _mm256_loadu_si256(
            reinterpret_cast<const __m256i *>(codes + b * 128) + j);
        lo[j] = _mm256_and_si256(v, low);
        hi[j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
      }
      for (int i = 0; i < M; ++i) {
        int32_t qa, qb;
        std::memcpy(&qa, q[i] + b * 8, 4);
        std::memcpy(&qb, q[i] + b * 8 + 4, 4);
        __m256i xa = _mm256_set1_epi32(qa), xb = _mm256_set1_epi32(qb);
        for (int j = 0; j < 4; ++j) {
          __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo[j], xa),
                                       _mm256_maddubs_epi16(hi[j], xb));
          acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(p, ones));
        }
      }
    }
    const float *sp = pw.scales.data() + (panel * pw.groups + g) * kPanel;
    const float *zp = pw.zeros.data() + (panel * pw.groups + g) * kPanel;
    for (int i = 0; i < M; ++i) {
      const int64_t at = (row0 + i) * x.groups + g;
      const __m256 xs = _mm256_set1_ps(x.scale[size_t(at)]);
      const __m256 xsum = _mm256_set1_ps(float(x.sum[size_t(at)]));
      for (int j = 0; j < 4; ++j) {
        __m256 t = _mm256_fnmadd_ps(_mm256_loadu_ps(zp + 8 * j), xsum,
                                    _mm256_cvtepi32_ps(acc[i][j]));
        sum[i][j] = _mm256_fmadd_ps(
            _mm256_mul_ps(_mm256_loadu_ps(sp + 8 * j), xs), t, sum[i][j]);
      }
    }
  }
  for (int i = 0; i < M; ++i) {
    float t[kPanel];
    for (int j = 0; j < 4; ++j)
      _mm256_storeu_ps(t + 8 * j, sum[i][j]);
    storePanel(t, c + i * cM, cN, cols);
  }
}

void panelAVX2(int64_t rows, const QuantRows &x, int64_t row0,
               const PackedW4I8 &pw, int64_t panel, float *c, int64_t cM,
               int64_t cN, int64_t cols) {
  switch (rows) {
  case 1:
    return panelAVX2Rows<1>(x, row0, pw, panel, c, cM, cN, cols);
  case 2:
    return panelAVX2Rows<2>(x, row0, pw, panel, c, cM, cN, cols);
  default:
    // Two rows at a time keep the 16 accumulators in registers.
    panelAVX2Rows<2>(x, row0, pw, panel, c, cM, cN, cols);
    return panelAVX2(rows - 2, x, row0 + 2, pw, panel, c + 2 * cM, cM, cN,
                     cols);
  }
}
#endif

struct W4I8Isa {
  const char *name;
  PanelFn fn;
};

const W4I8Isa &isa() {
  static const W4I8Isa chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") &&
        __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512bw"))
      return W4I8Isa{"avx512vnni", panelVNNI};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return W4I8Isa{"avx2", panelAVX2};
#endif
    return W4I8Isa{"generic", panelGeneric};
  }();
  return chosen;
}

} // namespace

const char *qopt::rt::w4Int8Isa() { return isa().name; }

void qopt::rt::clearW4Int8Cache() {
  std::lock_guard<std::mutex> lock(cacheMu);
  cache.clear();
}

bool qopt::rt::matmulW4Int8(int64_t m, int64_t n, int64_t k, const float *a,
                            int64_t aM, int64_t aK, const W4Weight &w, float *c,
                            int64_t cM, int64_t cN, bool constant) {
  if (w.group <= 0 || w.group % 8 != 0)
    return false;
  QuantRows x;
  if (!quantizeRows(m, k, a, aM, aK, w.group, x))
    return false;
  std::shared_ptr<const PackedW4I8> pw = packed(w, n, k, constant);
  const PanelFn fn = isa().fn;
  const int64_t panels = (n + kPanel - 1) / kPanel;
  // A panel's codes (K/8 · 128 bytes) stay in L1 while every group of
  // rows runs over them.
  auto task = [&](int64_t p) {
    const int64_t cols = std::min(kPanel, n - p * kPanel);
    for (int64_t i0 = 0; i0 < m; i0 += kRows)
      fn(std::min(kRows, m - i0), x, i0, *pw, p, c + i0 * cM + p * kPanel * cN,
         cM, cN, cols);
  };
  if (m * n * k < kParallelWork)
    for (int64_t p = 0; p < panels; ++p)
      task(p);
  else
    qopt::rt::parallelFor(panels, task);
  return true;
}
