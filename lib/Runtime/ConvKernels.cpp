//===- ConvKernels.cpp - f32 convolutions without an im2col copy ----------===//
//
// The direct kernel (unit W strides of the input, any window stride in H,
// any dilation) reads the input where it lies: a register tile of MR output
// channels x NR output pixels accumulates, for each k = (ci, y, x) of the
// window, a broadcast filter value times NR consecutive input values
// (offset table off[k]); no im2col buffer and no packing. When the window
// stride is 1 the tiles run over the flattened (row, column) index of the
// input rows, so narrow feature maps (7x7, 14x14) still fill whole vectors:
// the lanes that fall into the padding columns are computed and dropped.
// Otherwise a tile covers up to NR pixels of one output row. The filter is
// read in place too (embedded broadcasts from MR rows). AVX-512 (8 x 32,
// masked loads for edge tiles), AVX2 + FMA (6 x 16) or portable C++ (4 x
// 16), as $QOPT_KERNEL narrows the GEMM's choice (qopt_kernel_isa).
//
// Column strides other than 1 (sw > 1, or an input whose W is not
// contiguous) go through the packed GEMM of Kernels.cpp, which packs input
// windows block by block straight into its B panels (packBlock): no
// whole-image im2col matrix either.
//
// The epilogue (bias, residual, activation, Conv.h) is applied to the tile
// in registers before it is stored. Sums over the window run in one fixed
// order: results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "Conv.h"
#include "Gemm.h"
#include "Simd.h"
#include "Threads.h"

#include <algorithm>
#include <array>
#include <cmath>
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

extern "C" const char *qopt_kernel_isa(void);

using qopt::rt::ConvAct;
using qopt::rt::ConvEpilogue;
using qopt::rt::ConvF32;

float qopt::rt::convActivation(ConvAct act, float v, float alpha, float beta) {
  switch (act) {
  case ConvAct::None:
    return v;
  case ConvAct::Relu:
    return v > 0 ? v : 0.0f;
  case ConvAct::Clip:
    return std::min(std::max(v, alpha), beta);
  case ConvAct::LeakyRelu:
    return v < 0 ? alpha * v : v;
  case ConvAct::Sigmoid:
    return 1.0f / (1.0f + std::exp(-v));
  case ConvAct::HardSwish:
    return v * std::min(std::max(alpha * v + beta, 0.0f), 1.0f);
  case ConvAct::SiLU:
    return v / (1.0f + std::exp(-v));
  case ConvAct::GeluErf:
    return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
  case ConvAct::GeluTanh:
    return 0.5f * v *
           (1.0f +
            std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  }
  return v;
}

namespace {

constexpr int kMaxNr = 32;

/// Lanes [lane, lane + len) of a tile are output pixels (oy, ox ...).
struct Seg {
  int lane, len;
  int64_t oy, ox;
};

/// What every tile of one image reads and writes.
struct Direct {
  const float *img;   // the image's input
  const int64_t *off; // input offset of window element k
  int64_t kdim;
  const float *filter; // [F, K], row stride fF
  int64_t fF;
  float *out; // the image's output
  int64_t outF, outH, outW;
  const float *res; // the image's residual (or null)
  int64_t resF, resH, resW;
  const ConvEpilogue *epi;
};

/// The scalar epilogue of `rows` rows of a tile stored row-major (stride
/// `ld`), for channels f0...
void epilogueScalar(const Direct &d, const float *tile, int64_t ld, int rows,
                    int64_t f0, const Seg *segs, int numSegs) {
  const ConvEpilogue &e = *d.epi;
  for (int r = 0; r < rows; ++r) {
    int64_t f = f0 + r;
    float bias = e.bias ? e.bias[f * e.biasStride] : 0.0f;
    for (int s = 0; s < numSegs; ++s) {
      const Seg &g = segs[s];
      float *o = d.out + f * d.outF + g.oy * d.outH + g.ox * d.outW;
      const float *rp =
          d.res ? d.res + f * d.resF + g.oy * d.resH + g.ox * d.resW : nullptr;
      for (int l = 0; l < g.len; ++l) {
        float v = tile[r * ld + g.lane + l] + bias;
        if (e.accumulate)
          v += o[l * d.outW];
        if (rp)
          v += rp[l * d.resW];
        o[l * d.outW] = qopt::rt::convActivation(e.act, v, e.alpha, e.beta);
      }
    }
  }
}

void tileGeneric(const Direct &d, int rows, int64_t f0, int64_t inOff,
                 int valid, const Seg *segs, int numSegs) {
  float acc[4][16] = {};
  const float *src = d.img + inOff;
  for (int64_t k = 0; k < d.kdim; ++k) {
    const float *s = src + d.off[k];
    for (int r = 0; r < rows; ++r) {
      float a = d.filter[(f0 + r) * d.fF + k];
      for (int l = 0; l < valid; ++l)
        acc[r][l] += a * s[l];
    }
  }
  epilogueScalar(d, &acc[0][0], 16, rows, f0, segs, numSegs);
}

#if defined(__x86_64__)
template <int R>
__attribute__((target("avx2,fma"))) void
tileAVX2(const Direct &d, int64_t f0, int64_t inOff, int valid, const Seg *segs,
         int numSegs) {
  __m256 acc[R][2];
  for (auto &row : acc)
    row[0] = row[1] = _mm256_setzero_ps();
  const float *src = d.img + inOff;
  const float *w = d.filter + f0 * d.fF;
  const int64_t fF = d.fF;
  if (valid == 16) {
    for (int64_t k = 0; k < d.kdim; ++k) {
      const float *s = src + d.off[k];
      __m256 b0 = _mm256_loadu_ps(s), b1 = _mm256_loadu_ps(s + 8);
#pragma GCC unroll 6
      for (int r = 0; r < R; ++r) {
        __m256 a = _mm256_broadcast_ss(w + r * fF + k);
        acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
      }
    }
  } else {
    alignas(32) int32_t m[16];
    for (int l = 0; l < 16; ++l)
      m[l] = l < valid ? -1 : 0;
    __m256i m0 = _mm256_load_si256(reinterpret_cast<const __m256i *>(m)),
            m1 = _mm256_load_si256(reinterpret_cast<const __m256i *>(m + 8));
    for (int64_t k = 0; k < d.kdim; ++k) {
      const float *s = src + d.off[k];
      __m256 b0 = _mm256_maskload_ps(s, m0), b1 = _mm256_maskload_ps(s + 8, m1);
      for (int r = 0; r < R; ++r) {
        __m256 a = _mm256_broadcast_ss(w + r * fF + k);
        acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
      }
    }
  }
  alignas(32) float tile[R][16];
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(tile[r], acc[r][0]);
    _mm256_store_ps(tile[r] + 8, acc[r][1]);
  }
  epilogueScalar(d, &tile[0][0], 16, R, f0, segs, numSegs);
}

/// exp(x) to about 2 ulp on [-87, 88] (Cephes' range reduction, a degree 6
/// polynomial, scalef for 2^n).
__attribute__((target("avx512f"))) inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)),
                    _mm512_set1_ps(88.7f));
  __m512 n = _mm512_roundscale_ps(
      _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx512f"))) inline __m512 act512(const ConvEpilogue &e,
                                                        __m512 v) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  switch (e.act) {
  case ConvAct::None:
    return v;
  case ConvAct::Relu:
    return _mm512_max_ps(v, zero);
  case ConvAct::Clip:
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(e.alpha)),
                         _mm512_set1_ps(e.beta));
  case ConvAct::LeakyRelu:
    return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v,
                              _mm512_set1_ps(e.alpha));
  case ConvAct::Sigmoid:
    return _mm512_div_ps(one,
                         _mm512_add_ps(one, exp512(_mm512_sub_ps(zero, v))));
  case ConvAct::HardSwish: {
    __m512 g =
        _mm512_fmadd_ps(v, _mm512_set1_ps(e.alpha), _mm512_set1_ps(e.beta));
    return _mm512_mul_ps(v, _mm512_min_ps(_mm512_max_ps(g, zero), one));
  }
  case ConvAct::SiLU:
    return _mm512_div_ps(v, _mm512_add_ps(one, exp512(_mm512_sub_ps(zero, v))));
  case ConvAct::GeluErf:
  case ConvAct::GeluTanh:
    return qopt::rt::simd512::vact(int(e.act), e.alpha, e.beta, v);
  }
  return v;
}

template <int R>
__attribute__((target("avx512f"))) void
tileAVX512(const Direct &d, int64_t f0, int64_t inOff, int valid,
           const Seg *segs, int numSegs) {
  __m512 acc[R][2];
  for (auto &row : acc)
    row[0] = row[1] = _mm512_setzero_ps();
  const __mmask16 m0 = valid >= 16 ? 0xFFFF : __mmask16((1u << valid) - 1);
  const __mmask16 m1 = valid >= 32  ? 0xFFFF
                       : valid > 16 ? __mmask16((1u << (valid - 16)) - 1)
                                    : 0;
  const float *src = d.img + inOff;
  const float *w = d.filter + f0 * d.fF;
  const int64_t fF = d.fF;
  for (int64_t k = 0; k < d.kdim; ++k) {
    const float *s = src + d.off[k];
    __m512 b0 = _mm512_maskz_loadu_ps(m0, s),
           b1 = _mm512_maskz_loadu_ps(m1, s + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512 a = _mm512_set1_ps(w[r * fF + k]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  const ConvEpilogue &e = *d.epi;
  if (d.outW != 1 || (d.res && d.resW != 1)) {
    alignas(64) float tile[R][32];
    for (int r = 0; r < R; ++r) {
      _mm512_store_ps(tile[r], acc[r][0]);
      _mm512_store_ps(tile[r] + 16, acc[r][1]);
    }
    epilogueScalar(d, &tile[0][0], 32, R, f0, segs, numSegs);
    return;
  }
  // Each segment's lanes go to consecutive outputs: masked loads and stores
  // at the address lane 0 would have (masked lanes are never touched).
  for (int r = 0; r < R; ++r) {
    int64_t f = f0 + r;
    __m512 bias = _mm512_set1_ps(e.bias ? e.bias[f * e.biasStride] : 0.0f);
    for (int s = 0; s < numSegs; ++s) {
      const Seg &g = segs[s];
      for (int h = 0; h < 2; ++h) {
        int lo = std::max(g.lane, 16 * h),
            hi = std::min(g.lane + g.len, 16 * h + 16);
        if (lo >= hi)
          continue;
        __mmask16 m = __mmask16(((1u << (hi - 16 * h)) - 1) &
                                ~((1u << (lo - 16 * h)) - 1));
        int64_t shift = 16 * h - g.lane;
        float *o = d.out + f * d.outF + g.oy * d.outH + g.ox + shift;
        __m512 v = _mm512_add_ps(acc[r][h], bias);
        if (e.accumulate)
          v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o));
        if (d.res)
          v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, d.res + f * d.resF +
                                                            g.oy * d.resH +
                                                            g.ox + shift));
        _mm512_mask_storeu_ps(o, m, act512(e, v));
      }
    }
  }
}
#endif

using TileFn = void (*)(const Direct &, int64_t, int64_t, int, const Seg *,
                        int);

struct DirectIsa {
  int mr, nr;
  TileFn rows[9]; // rows[R]: a tile of R channels
};

const DirectIsa &directIsa() {
  static const DirectIsa isa = [] {
    std::string name = qopt_kernel_isa();
    DirectIsa d{};
#if defined(__x86_64__)
    if (name == "avx512") {
      d = {8,
           32,
           {nullptr, tileAVX512<1>, tileAVX512<2>, tileAVX512<3>, tileAVX512<4>,
            tileAVX512<5>, tileAVX512<6>, tileAVX512<7>, tileAVX512<8>}};
      return d;
    }
    if (name == "avx2") {
      d = {6,
           16,
           {nullptr, tileAVX2<1>, tileAVX2<2>, tileAVX2<3>, tileAVX2<4>,
            tileAVX2<5>, tileAVX2<6>, nullptr, nullptr}};
      return d;
    }
#endif
    d = {4, 16, {}};
    return d;
  }();
  return isa;
}

/// Set while a task of the grouped kernel runs one group's convolution:
/// the direct path then stays on its thread (the groups are the tasks).
thread_local bool serialConvs = false;

/// Below this many multiply-adds a convolution runs on the calling thread.
constexpr int64_t kParallelWork = 1 << 16;

/// The direct kernel over all images. `phases` > 1: the input's rows are
/// split into that many column phases of `pw` columns (splitColumns), the
/// window's column stride being `phases`.
void convDirect(const ConvF32 &p, const ConvEpilogue &epi, int64_t phases = 1,
                int64_t pw = 0, int64_t rowPhases = 1, int64_t ph = 0) {
  const DirectIsa &isa = directIsa();
  const int64_t nr = isa.nr, mr = isa.mr;
  const int64_t kdim = p.c * p.kh * p.kw;
  std::vector<float> filterCopy;
  int64_t fF = p.fF;
  const float *filter = qopt::rt::filterAsMatrix(
      p.filter, p.f, p.c, p.kh, p.kw, fF, p.fC, p.fH, p.fW, filterCopy);
  std::vector<int64_t> off(static_cast<size_t>(kdim));
  for (int64_t ci = 0, k = 0; ci < p.c; ++ci)
    for (int64_t y = 0; y < p.kh; ++y)
      for (int64_t x = 0; x < p.kw; ++x)
        off[size_t(k++)] =
            ci * p.inC +
            (rowPhases == 1
                 ? y * p.dh
                 : (y * p.dh) % rowPhases * ph + (y * p.dh) / rowPhases) *
                p.inH +
            (phases == 1 ? x * p.dw
                         : (x * p.dw) % phases * pw + (x * p.dw) / phases);
  // Flat tiles (window stride 1): lanes over v = oy * inH + ox, the columns
  // ox >= ow computed and dropped. Row tiles: up to nr pixels of one row.
  const int64_t tilesPerRow = (p.ow + nr - 1) / nr;
  const bool flat = p.sh == 1 && p.inH < tilesPerRow * nr;
  const int64_t span = (p.oh - 1) * p.inH + p.ow;
  const int64_t tiles = flat ? (span + nr - 1) / nr : p.oh * tilesPerRow;
  // Channel groups whose filter rows stay in L2 while a task's tiles pass.
  const int64_t panels = (p.f + mr - 1) / mr;
  const int64_t groupPanels =
      std::max<int64_t>(1, (64 << 10) / (mr * kdim * int64_t(sizeof(float))));
  const int64_t groups = (panels + groupPanels - 1) / groupPanels;
  const int64_t threads = qopt::rt::numThreads();
  const int64_t chunk =
      std::clamp<int64_t>(tiles * groups / (32 * threads), 1, 64);
  const int64_t chunks = (tiles + chunk - 1) / chunk;
  const bool parallel =
      !serialConvs && p.f * kdim * p.oh * p.ow >= kParallelWork;
  for (int64_t b = 0; b < p.n; ++b) {
    Direct d{p.in + b * p.inN,
             off.data(),
             kdim,
             filter,
             fF,
             p.out + b * p.outN,
             p.outF,
             p.outH,
             p.outW,
             epi.res ? epi.res + b * epi.resN : nullptr,
             epi.resF,
             epi.resH,
             epi.resW,
             &epi};
    auto task = [&](int64_t t) {
      int64_t group = t % groups, ch = t / groups;
      int64_t pBegin = group * groupPanels,
              pEnd = std::min(panels, pBegin + groupPanels);
      int64_t tEnd = std::min(tiles, (ch + 1) * chunk);
      Seg segs[kMaxNr + 1];
      for (int64_t tile = ch * chunk; tile < tEnd; ++tile) {
        int64_t inOff;
        int valid, numSegs = 0;
        if (flat) {
          int64_t v0 = tile * nr;
          valid = int(std::min(nr, span - v0));
          inOff = v0;
          for (int l = 0; l < valid;) {
            int64_t v = v0 + l, oy = v / p.inH, ox = v % p.inH;
            if (ox >= p.ow) { // padding columns: skip to the next row
              l += int(std::min<int64_t>(p.inH - ox, valid - l));
              continue;
            }
            int len = int(std::min<int64_t>(p.ow - ox, valid - l));
            segs[numSegs++] = {l, len, oy, ox};
            l += len;
          }
        } else {
          int64_t oy = tile / tilesPerRow, ox = (tile % tilesPerRow) * nr;
          valid = int(std::min(nr, p.ow - ox));
          inOff = oy * p.sh * p.inH + ox;
          segs[numSegs++] = {0, valid, oy, ox};
        }
        for (int64_t q = pBegin; q < pEnd; ++q) {
          int64_t f0 = q * mr;
          int rows = int(std::min(mr, p.f - f0));
          if (isa.rows[rows])
            isa.rows[rows](d, f0, inOff, valid, segs, numSegs);
          else
            tileGeneric(d, rows, f0, inOff, valid, segs, numSegs);
        }
      }
    };
    if (parallel)
      qopt::rt::parallelFor(chunks * groups, task);
    else
      for (int64_t t = 0; t < chunks * groups; ++t)
        task(t);
  }
}

/// Input windows of one image, packed block by block into the GEMM's B
/// panels (rows k = (ci, y, x), columns output pixels).
struct Im2Col {
  const ConvF32 *p;
  const float *img;
};

void packWindows(const void *context, int64_t k0, int64_t kc, int64_t j0,
                 int64_t nc, int64_t nr, float *out) {
  const Im2Col &ctx = *static_cast<const Im2Col *>(context);
  const ConvF32 &p = *ctx.p;
  const int64_t rowStep = p.sh * p.inH, colStep = p.sw * p.inW;
  for (int64_t q = 0; q < nc; q += nr) {
    float *panel = out + q * kc;
    int64_t p0 = j0 + q, count = std::min(nr, nc - q);
    // The panel's pixels as runs within one output row.
    struct Run {
      int64_t dst, src, len;
    } runs[kMaxNr + 1];
    int numRuns = 0;
    for (int64_t e = 0; e < count;) {
      int64_t i = (p0 + e) / p.ow, j = (p0 + e) % p.ow;
      int64_t len = std::min(count - e, p.ow - j);
      runs[numRuns++] = {e, i * rowStep + j * colStep, len};
      e += len;
    }
    for (int64_t k = 0; k < kc; ++k) {
      int64_t r = k0 + k;
      int64_t x = r % p.kw, y = (r / p.kw) % p.kh, ci = r / (p.kw * p.kh);
      const float *base =
          ctx.img + ci * p.inC + y * p.dh * p.inH + x * p.dw * p.inW;
      float *dst = panel + k * nr;
      for (int u = 0; u < numRuns; ++u) {
        const Run &run = runs[u];
        const float *src = base + run.src;
        float *to = dst + run.dst;
        if (colStep == 1)
          for (int64_t e = 0; e < run.len; ++e)
            to[e] = src[e];
        else
          for (int64_t e = 0; e < run.len; ++e)
            to[e] = src[e * colStep];
      }
      for (int64_t e = count; e < nr; ++e)
        dst[e] = 0;
    }
  }
}

/// The GEMM path: out (+)= filter · windows per image, then the epilogue's
/// bias, residual and activation over the output.
void convGemm(const ConvF32 &p, const ConvEpilogue &epi) {
  const int64_t kdim = p.c * p.kh * p.kw, pixels = p.oh * p.ow;
  std::vector<float> filterCopy;
  int64_t fF = p.fF;
  const float *filter = qopt::rt::filterAsMatrix(
      p.filter, p.f, p.c, p.kh, p.kw, fF, p.fC, p.fH, p.fW, filterCopy);
  const bool rowsContiguous = p.outH == p.ow * p.outW;
  const bool post = epi.bias || epi.res || epi.act != ConvAct::None;
  for (int64_t b = 0; b < p.n; ++b) {
    float *o = p.out + b * p.outN;
    if (!epi.accumulate)
      for (int64_t i = 0; i < p.f; ++i)
        for (int64_t y = 0; y < p.oh; ++y)
          for (int64_t x = 0; x < p.ow; ++x)
            o[i * p.outF + y * p.outH + x * p.outW] = 0;
    Im2Col ctx{&p, p.in + b * p.inN};
    qopt::rt::Gemm g{1, 1, p.f, pixels, kdim,    false,  filter,
                     0, 0, fF,  1,      nullptr, 0,      0,
                     0, 0, o,   0,      0,       p.outF, p.outW};
    g.packBlock = packWindows;
    g.packContext = &ctx;
    std::vector<float> tmp;
    if (!rowsContiguous) {
      // Output rows are not contiguous: accumulate in a contiguous buffer.
      tmp.assign(size_t(p.f * pixels), 0.0f);
      g.c = tmp.data();
      g.cM = pixels;
      g.cN = 1;
    }
    qopt::rt::runGemm(g);
    if (!rowsContiguous)
      for (int64_t i = 0; i < p.f; ++i)
        for (int64_t q = 0; q < pixels; ++q)
          o[i * p.outF + (q / p.ow) * p.outH + (q % p.ow) * p.outW] +=
              tmp[size_t(i * pixels + q)];
    if (!post)
      continue;
    const float *res = epi.res ? epi.res + b * epi.resN : nullptr;
    for (int64_t i = 0; i < p.f; ++i) {
      float bias = epi.bias ? epi.bias[i * epi.biasStride] : 0.0f;
      for (int64_t y = 0; y < p.oh; ++y)
        for (int64_t x = 0; x < p.ow; ++x) {
          float &v = o[i * p.outF + y * p.outH + x * p.outW];
          float s = v + bias;
          if (res)
            s += res[i * epi.resF + y * epi.resH + x * epi.resW];
          v = qopt::rt::convActivation(epi.act, s, epi.alpha, epi.beta);
        }
    }
  }
}

/// sum_k a[k] * b[k], in lanes of the widest ISA (the 1x1-output path).
#if defined(__x86_64__)
__attribute__((target("avx512f"))) float dotAvx512(const float *a,
                                                   const float *b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16),
                         _mm512_loadu_ps(b + k + 16), s1);
  }
  for (; k + 16 <= n; k += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
  if (k < n) {
    __mmask16 m = __mmask16((1u << (n - k)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k),
                         _mm512_maskz_loadu_ps(m, b + k), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx2,fma"))) float dotAvx2(const float *a,
                                                  const float *b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8),
                         s1);
  }
  __m256 v = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float sum = _mm_cvtss_f32(h);
  for (; k < n; ++k)
    sum += a[k] * b[k];
  return sum;
}
#endif

float dotPortable(const float *a, const float *b, int64_t n) {
  float s[8] = {};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int u = 0; u < 8; ++u)
      s[u] += a[k + u] * b[k + u];
  float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; k < n; ++k)
    sum += a[k] * b[k];
  return sum;
}

using DotFn = float (*)(const float *, const float *, int64_t);
DotFn dotFn() {
  static const DotFn fn = [] {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f"))
      return DotFn(dotAvx512);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return DotFn(dotAvx2);
#endif
    return DotFn(dotPortable);
  }();
  return fn;
}

/// One output pixel per image (the 1x1 convolutions of squeeze-excitation
/// blocks and of classifier heads after a global pooling): a GEMV, each
/// filter row against the window gathered into one contiguous vector, the
/// lanes along the window. The direct kernel's lanes are output pixels (1
/// of 32 used here) and the GEMM's would pack the filter on every call.
void convGemv(const ConvF32 &p, const ConvEpilogue &epi) {
  const int64_t kdim = p.c * p.kh * p.kw;
  std::vector<float> filterCopy;
  int64_t fF = p.fF;
  const float *filter = qopt::rt::filterAsMatrix(
      p.filter, p.f, p.c, p.kh, p.kw, fF, p.fC, p.fH, p.fW, filterCopy);
  const DotFn dot = dotFn();
  std::vector<float> window(static_cast<size_t>(kdim));
  for (int64_t b = 0; b < p.n; ++b) {
    const float *img = p.in + b * p.inN;
    for (int64_t ci = 0, k = 0; ci < p.c; ++ci)
      for (int64_t y = 0; y < p.kh; ++y)
        for (int64_t x = 0; x < p.kw; ++x)
          window[size_t(k++)] =
              img[ci * p.inC + y * p.dh * p.inH + x * p.dw * p.inW];
    float *o = p.out + b * p.outN;
    const float *res = epi.res ? epi.res + b * epi.resN : nullptr;
    auto rows = [&](int64_t f0, int64_t f1) {
      for (int64_t i = f0; i < f1; ++i) {
        float s = dot(filter + i * fF, window.data(), kdim);
        float &v = o[i * p.outF];
        if (epi.accumulate)
          s += v;
        if (epi.bias)
          s += epi.bias[i * epi.biasStride];
        if (res)
          s += res[i * epi.resF];
        v = qopt::rt::convActivation(epi.act, s, epi.alpha, epi.beta);
      }
    };
    const int64_t block = 64;
    const int64_t blocks = (p.f + block - 1) / block;
    if (serialConvs || p.f * kdim < kParallelWork || blocks < 2)
      rows(0, p.f);
    else
      qopt::rt::parallelFor(blocks, [&](int64_t t) {
        rows(t * block, std::min(p.f, (t + 1) * block));
      });
  }
}

} // namespace

void qopt::rt::convF32(const ConvF32 &p, const ConvEpilogue &epi) {
  if (p.n <= 0 || p.f <= 0 || p.oh <= 0 || p.ow <= 0)
    return;
  if (p.c * p.kh * p.kw <= 0) {
    // No window: the epilogue alone (accumulating nothing).
    convGemm(p, epi);
    return;
  }
  const char *force = std::getenv("QOPT_CONV");
  std::string want = force ? force : "";
  if (want == "gemm")
    return convGemm(p, epi);
  if (p.oh == 1 && p.ow == 1 && want != "direct")
    return convGemv(p, epi);
  if (p.sw == 1 && p.sh == 1 && p.inW == 1 && p.inH >= p.ow + (p.kw - 1) * p.dw)
    return convDirect(p, epi);
  // Strides > 1 (or a strided W): a copy of the rows the windows read,
  // each split into s phases (column s*i + r at r*pw + i), so that a
  // window's columns are consecutive for the direct kernel. The copy is
  // the input's size; an im2col matrix would be KH*KW/(sh*s) times that.
  const int64_t sph = p.sw;
  const int64_t hn = (p.oh - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const int64_t wn = (p.ow - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const int64_t pw = (wn + sph - 1) / sph, wp = sph * pw;
  // Rows likewise (row rs*i + r at r*ph + i): output rows then read
  // consecutive rows, so tiles run over flattened rows (sh = 1 below).
  const int64_t rs = p.sh, ph = (hn + rs - 1) / rs;
  thread_local std::vector<float> splitCache;
  std::vector<float> &split = splitCache;
  split.resize(size_t(p.n * p.c * rs * ph * wp));
  auto copyRow = [&](int64_t t) {
    int64_t row = t % hn, bc = t / hn, ci = bc % p.c, b = bc / p.c;
    const float *src = p.in + b * p.inN + ci * p.inC + row * p.inH;
    float *dst = split.data() + (bc * rs * ph + row % rs * ph + row / rs) * wp;
    // Phase by phase: no division per element.
    for (int64_t r = 0; r < sph; ++r) {
      float *to = dst + r * pw;
      const float *from = src + r * p.inW;
      const int64_t step = sph * p.inW;
      for (int64_t i = 0; r + i * sph < wn; ++i)
        to[i] = from[i * step];
    }
  };
  if (serialConvs || p.n * p.c * hn * wn < kParallelWork)
    for (int64_t t = 0; t < p.n * p.c * hn; ++t)
      copyRow(t);
  else
    qopt::rt::parallelFor(p.n * p.c * hn, copyRow);
  ConvF32 q = p;
  q.in = split.data();
  q.inN = p.c * rs * ph * wp;
  q.inC = rs * ph * wp;
  q.inH = wp;
  q.inW = 1;
  q.sh = 1;
  convDirect(q, epi, sph, pw, rs, ph);
}

//===----------------------------------------------------------------------===//
// int8: the same direct structure with VNNI dot products. The image is
// first rewritten channel-quad interleaved ([C/4][H][W][4] bytes, +128 so
// that vpdpbusd's unsigned operand holds it): a lane of a tile is one
// pixel and its 32-bit word the four channels vpdpbusd multiplies with a
// broadcast word of four filter bytes. The +128 is taken back with the
// filter rows' sums (Σ w * 128) in the epilogue. One pass over the input
// instead of an im2col matrix KH*KW times its size.
//===----------------------------------------------------------------------===//

extern "C" const char *qopt_kernel_isa_int8(void);

namespace {

struct DirectS8 {
  const uint8_t *in4; // the image, quad-interleaved
  const int64_t *off; // byte offset of window quad g = (cq, y, x)
  int64_t quads;
  const int32_t *wq;   // [F, quads] words of four filter bytes
  const int32_t *comp; // [F]: -128 * Σ filter row
  int32_t *out;
  int64_t outF, outH, outW;
  // The dequantizing epilogue (Conv.h), its output at this image; or null.
  const qopt::rt::ConvS8Dequant *dq;
  void *outBase;
};

#if defined(__x86_64__)
template <int R>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
tileS8VNNI(const DirectS8 &d, int64_t f0, int64_t inOff, int valid,
           const Seg *segs, int numSegs) {
  __m512i acc[R][2];
  for (auto &row : acc)
    row[0] = row[1] = _mm512_setzero_si512();
  const __mmask16 m0 = valid >= 16 ? 0xFFFF : __mmask16((1u << valid) - 1);
  const __mmask16 m1 = valid >= 32  ? 0xFFFF
                       : valid > 16 ? __mmask16((1u << (valid - 16)) - 1)
                                    : 0;
  const uint8_t *src = d.in4 + inOff * 4;
  const int32_t *w = d.wq + f0 * d.quads;
  const int64_t quads = d.quads;
  for (int64_t g = 0; g < quads; ++g) {
    const uint8_t *s = src + d.off[g];
    __m512i b0 = _mm512_maskz_loadu_epi32(m0, s),
            b1 = _mm512_maskz_loadu_epi32(m1, s + 64);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512i a = _mm512_set1_epi32(w[r * quads + g]);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], b0, a);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], b1, a);
    }
  }
  if (d.dq) {
    const qopt::rt::ConvS8Dequant &e = *d.dq;
    for (int r = 0; r < R; ++r) {
      int64_t f = f0 + r;
      // sum - corr = acc + (comp - corr), wrapping as the i32 loop does.
      __m512i shift = _mm512_set1_epi32(
          int32_t(uint32_t(d.comp[f]) - uint32_t(e.corr[f * e.corrStride])));
      __m512 scale = _mm512_set1_ps(e.scale[f * e.scaleStride]);
      __m512 bias = _mm512_set1_ps(e.biasOf(f));
      alignas(64) float tile[32];
      __m512 v[2];
      for (int h = 0; h < 2; ++h)
        v[h] = _mm512_add_ps(
            bias,
            _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_add_epi32(acc[r][h], shift)), scale));
      if (e.outW != 1) {
        _mm512_store_ps(tile, v[0]);
        _mm512_store_ps(tile + 16, v[1]);
      }
      if (e.toInt8) {
        // qopt.quantize's lowering, lane by lane the same operations.
        const __m512 qs = _mm512_set1_ps(e.qScale), lo = _mm512_set1_ps(e.qLo),
                     hi = _mm512_set1_ps(e.qHi), zp = _mm512_set1_ps(e.qZp);
        __m512i q[2];
        for (int h = 0; h < 2; ++h) {
          __m512 t = _mm512_roundscale_ps(_mm512_div_ps(v[h], qs),
                                          _MM_FROUND_TO_NEAREST_INT |
                                              _MM_FROUND_NO_EXC);
          t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(t, lo, _CMP_LT_OQ), lo);
          t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(t, hi, _CMP_GT_OQ), hi);
          t = _mm512_add_ps(t, zp);
          t = _mm512_mask_mov_ps(
              t, _mm512_cmp_ps_mask(v[h], v[h], _CMP_UNORD_Q), zp);
          q[h] = _mm512_cvtps_epi32(t);
        }
        int8_t *out = static_cast<int8_t *>(d.outBase);
        for (int s = 0; s < numSegs; ++s) {
          const Seg &sg = segs[s];
          if (e.outW != 1) {
            int8_t *o = out + f * e.outF + sg.oy * e.outH + sg.ox * e.outW;
            for (int l = 0; l < sg.len; ++l)
              o[l * e.outW] = e.requantize(tile[sg.lane + l]);
            continue;
          }
          for (int h = 0; h < 2; ++h) {
            int lo16 = std::max(sg.lane, 16 * h),
                hi16 = std::min(sg.lane + sg.len, 16 * h + 16);
            if (lo16 >= hi16)
              continue;
            __mmask16 m = __mmask16(((1u << (hi16 - 16 * h)) - 1) &
                                    ~((1u << (lo16 - 16 * h)) - 1));
            int8_t *o =
                out + f * e.outF + sg.oy * e.outH + sg.ox + (16 * h - sg.lane);
            _mm512_mask_cvtepi32_storeu_epi8(o, m, q[h]);
          }
        }
        continue;
      }
      float *outF32 = static_cast<float *>(d.outBase);
      for (int s = 0; s < numSegs; ++s) {
        const Seg &sg = segs[s];
        if (e.outW != 1) {
          float *o = outF32 + f * e.outF + sg.oy * e.outH + sg.ox * e.outW;
          for (int l = 0; l < sg.len; ++l)
            o[l * e.outW] = tile[sg.lane + l];
          continue;
        }
        for (int h = 0; h < 2; ++h) {
          int lo = std::max(sg.lane, 16 * h),
              hi = std::min(sg.lane + sg.len, 16 * h + 16);
          if (lo >= hi)
            continue;
          __mmask16 m = __mmask16(((1u << (hi - 16 * h)) - 1) &
                                  ~((1u << (lo - 16 * h)) - 1));
          float *o =
              outF32 + f * e.outF + sg.oy * e.outH + sg.ox + (16 * h - sg.lane);
          _mm512_mask_storeu_ps(o, m, v[h]);
        }
      }
    }
    return;
  }
  for (int r = 0; r < R; ++r) {
    int64_t f = f0 + r;
    __m512i comp = _mm512_set1_epi32(d.comp[f]);
    alignas(64) int32_t tile[32];
    if (d.outW != 1) {
      _mm512_store_si512(tile, _mm512_add_epi32(acc[r][0], comp));
      _mm512_store_si512(tile + 16, _mm512_add_epi32(acc[r][1], comp));
    }
    for (int s = 0; s < numSegs; ++s) {
      const Seg &sg = segs[s];
      if (d.outW != 1) {
        int32_t *o = d.out + f * d.outF + sg.oy * d.outH + sg.ox * d.outW;
        for (int l = 0; l < sg.len; ++l)
          o[l * d.outW] += tile[sg.lane + l];
        continue;
      }
      for (int h = 0; h < 2; ++h) {
        int lo = std::max(sg.lane, 16 * h),
            hi = std::min(sg.lane + sg.len, 16 * h + 16);
        if (lo >= hi)
          continue;
        __mmask16 m = __mmask16(((1u << (hi - 16 * h)) - 1) &
                                ~((1u << (lo - 16 * h)) - 1));
        int32_t *o =
            d.out + f * d.outF + sg.oy * d.outH + sg.ox + (16 * h - sg.lane);
        __m512i v = _mm512_add_epi32(_mm512_add_epi32(acc[r][h], comp),
                                     _mm512_maskz_loadu_epi32(m, o));
        _mm512_mask_storeu_epi32(o, m, v);
      }
    }
  }
}
#endif

using TileS8Fn = void (*)(const DirectS8 &, int64_t, int64_t, int, const Seg *,
                          int);

/// sum_k a[k] * b[k] of int8 vectors in i32 (the 1x1-output path).
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw"))) int32_t
dotS8Avx512(const int8_t *a, const int8_t *b, int64_t n) {
  __m512i acc = _mm512_setzero_si512();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32)
    acc = _mm512_add_epi32(
        acc,
        _mm512_madd_epi16(
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + k))),
            _mm512_cvtepi8_epi16(
                _mm256_loadu_si256((const __m256i *)(b + k)))));
  int32_t sum = _mm512_reduce_add_epi32(acc);
  for (; k < n; ++k)
    sum += int32_t(a[k]) * int32_t(b[k]);
  return sum;
}

__attribute__((target("avx2"))) int32_t dotS8Avx2(const int8_t *a,
                                                  const int8_t *b, int64_t n) {
  __m256i acc = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    acc = _mm256_add_epi32(
        acc,
        _mm256_madd_epi16(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + k))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + k)))));
  __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc),
                            _mm256_extracti128_si256(acc, 1));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
  h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
  int32_t sum = _mm_cvtsi128_si32(h);
  for (; k < n; ++k)
    sum += int32_t(a[k]) * int32_t(b[k]);
  return sum;
}
#endif

int32_t dotS8Portable(const int8_t *a, const int8_t *b, int64_t n) {
  int32_t sum = 0;
  for (int64_t k = 0; k < n; ++k)
    sum += int32_t(a[k]) * int32_t(b[k]);
  return sum;
}

/// convGemv's int8 form: out[n, f] += filter row f . window (or the
/// dequantizing epilogue's f32 of it, into its output), the window
/// gathered once, the filter read in place (the direct VNNI kernel would
/// use 1 of its 32 pixel lanes).
void convS8Gemv(const qopt::rt::ConvS8 &p) {
  using DotS8 = int32_t (*)(const int8_t *, const int8_t *, int64_t);
  static const DotS8 dot = [] {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512bw"))
      return DotS8(dotS8Avx512);
    if (__builtin_cpu_supports("avx2"))
      return DotS8(dotS8Avx2);
#endif
    return DotS8(dotS8Portable);
  }();
  const int64_t kdim = p.c * p.kh * p.kw;
  std::vector<int8_t> filterCopy;
  int64_t fF = p.fF;
  const int8_t *filter = qopt::rt::filterAsMatrix(
      p.filter, p.f, p.c, p.kh, p.kw, fF, p.fC, p.fH, p.fW, filterCopy);
  std::vector<int8_t> window(static_cast<size_t>(kdim));
  for (int64_t b = 0; b < p.n; ++b) {
    const int8_t *img = p.in + b * p.inN;
    for (int64_t ci = 0, k = 0; ci < p.c; ++ci)
      for (int64_t y = 0; y < p.kh; ++y)
        for (int64_t x = 0; x < p.kw; ++x)
          window[size_t(k++)] =
              img[ci * p.inC + y * p.dh * p.inH + x * p.dw * p.inW];
    int32_t *o = p.out + b * p.outN;
    // With the dequantizing epilogue, its f32 output instead (Conv.h).
    const qopt::rt::ConvS8Dequant *dq = p.dequant;
    float *dqF = dq && !dq->toInt8
                     ? static_cast<float *>(dq->out) + b * dq->outN
                     : nullptr;
    int8_t *dqI = dq && dq->toInt8
                      ? static_cast<int8_t *>(dq->out) + b * dq->outN
                      : nullptr;
    auto rows = [&](int64_t f0, int64_t f1) {
      for (int64_t i = f0; i < f1; ++i) {
        int32_t sum = dot(filter + i * fF, window.data(), kdim);
        if (dqI)
          dqI[i * dq->outF] = dq->requantize(dq->apply(i, sum));
        else if (dqF)
          dqF[i * dq->outF] = dq->apply(i, sum);
        else
          o[i * p.outF] += sum;
      }
    };
    const int64_t block = 128;
    const int64_t blocks = (p.f + block - 1) / block;
    if (p.f * kdim < 4 * kParallelWork || blocks < 2)
      rows(0, p.f);
    else
      qopt::rt::parallelFor(blocks, [&](int64_t t) {
        rows(t * block, std::min(p.f, (t + 1) * block));
      });
  }
}

/// A filter as the direct kernel reads it: [F, quads] words of four bytes
/// (channels quad-interleaved, windows in (cq, y, x) order) and each row's
/// compensation -128 * sum (the image is read +128).
struct S8Filter {
  std::vector<int32_t> wq, comp;
};

std::shared_ptr<const S8Filter> makeS8Filter(const qopt::rt::ConvS8 &p) {
  const int64_t cq = (p.c + 3) / 4, quads = cq * p.kh * p.kw;
  auto out = std::make_shared<S8Filter>();
  out->wq.resize(size_t(p.f * quads));
  out->comp.resize(size_t(p.f));
  for (int64_t o = 0; o < p.f; ++o) {
    int64_t sum = 0;
    for (int64_t q = 0; q < cq; ++q)
      for (int64_t y = 0; y < p.kh; ++y)
        for (int64_t x = 0; x < p.kw; ++x) {
          uint32_t word = 0;
          for (int u = 0; u < 4; ++u) {
            int64_t ci = q * 4 + u;
            if (ci >= p.c)
              continue;
            int8_t v = p.filter[o * p.fF + ci * p.fC + y * p.fH + x * p.fW];
            sum += v;
            word |= uint32_t(uint8_t(v)) << (8 * u);
          }
          out->wq[size_t(o * quads + (q * p.kh + y) * p.kw + x)] =
              int32_t(word);
        }
    out->comp[size_t(o)] = int32_t(-128 * sum);
  }
  return out;
}

std::mutex s8FilterMu;
std::map<std::array<int64_t, 9>, std::shared_ptr<const S8Filter>> s8FilterCache;

std::shared_ptr<const S8Filter> cachedS8Filter(const qopt::rt::ConvS8 &p) {
  std::array<int64_t, 9> key{reinterpret_cast<int64_t>(p.filter),
                             p.f,
                             p.c,
                             p.kh,
                             p.kw,
                             p.fF,
                             p.fC,
                             p.fH,
                             p.fW};
  std::lock_guard<std::mutex> lock(s8FilterMu);
  std::shared_ptr<const S8Filter> &entry = s8FilterCache[key];
  if (!entry)
    entry = makeS8Filter(p);
  return entry;
}

} // namespace

bool qopt::rt::convS8Direct(const ConvS8 &p) {
  const char *force = std::getenv("QOPT_CONV");
  const std::string want = force ? force : "";
  if (p.oh == 1 && p.ow == 1 && p.n > 0 && p.f > 0 && want != "gemm" &&
      want != "direct") {
    convS8Gemv(p);
    return true;
  }
#if defined(__x86_64__)
  if (want == "gemm" || p.inW != 1 || p.inH < p.w ||
      std::string(qopt_kernel_isa_int8()) != "avx512vnni")
    return false;
  if (p.n <= 0 || p.f <= 0 || p.oh <= 0 || p.ow <= 0 || p.c <= 0 || p.kh <= 0 ||
      p.kw <= 0)
    return true;
  static constexpr TileS8Fn rowsFns[9] = {
      nullptr,       tileS8VNNI<1>, tileS8VNNI<2>, tileS8VNNI<3>, tileS8VNNI<4>,
      tileS8VNNI<5>, tileS8VNNI<6>, tileS8VNNI<7>, tileS8VNNI<8>};
  const int64_t nr = 32, mr = 8;
  const int64_t cq = (p.c + 3) / 4, quads = cq * p.kh * p.kw;
  // A column stride s > 1 splits each row into s phases (columns
  // s*i + r at r*pw + i): a window's columns are then consecutive again.
  // A row stride rs > 1 splits the rows the same way (row rs*i + r at
  // r*ph + i): output rows then read consecutive rows, and tiles can run
  // over flattened rows even for strided convolutions.
  const int64_t s = p.sw, pw = (p.w + s - 1) / s, wp = s * pw;
  const int64_t rs = p.sh, ph = (p.h + rs - 1) / rs;
  const int64_t plane = rs * ph * wp; // of the interleaved image, in pixels
  // Filter words and compensation: per call, or once for a constant
  // filter (cached by its address and layout).
  std::shared_ptr<const S8Filter> filt =
      p.filterConstant ? cachedS8Filter(p) : makeS8Filter(p);
  const std::vector<int32_t> &wq = filt->wq, &comp = filt->comp;
  thread_local std::vector<int64_t> offCache;
  std::vector<int64_t> &off = offCache;
  off.resize(size_t(quads));
  for (int64_t q = 0, g = 0; q < cq; ++q)
    for (int64_t y = 0; y < p.kh; ++y)
      for (int64_t x = 0; x < p.kw; ++x)
        off[size_t(g++)] =
            (q * plane + ((y * p.dh) % rs * ph + (y * p.dh) / rs) * wp +
             (x * p.dw) % s * pw + (x * p.dw) / s) *
            4;
  thread_local std::vector<uint8_t> in4Cache;
  std::vector<uint8_t> &in4 = in4Cache;
  in4.resize(size_t(cq * plane * 4));
  const int64_t tilesPerRow = (p.ow + nr - 1) / nr;
  const bool flat = wp < tilesPerRow * nr;
  const int64_t span = (p.oh - 1) * wp + p.ow;
  const int64_t tiles = flat ? (span + nr - 1) / nr : p.oh * tilesPerRow;
  const int64_t panels = (p.f + mr - 1) / mr;
  const int64_t groupPanels =
      std::max<int64_t>(1, (64 << 10) / (mr * quads * 4));
  const int64_t groups = (panels + groupPanels - 1) / groupPanels;
  const int64_t chunk = std::clamp<int64_t>(
      tiles * groups / (32 * qopt::rt::numThreads()), 1, 64);
  const int64_t chunks = (tiles + chunk - 1) / chunk;
  const bool parallel = p.f * quads * 4 * p.oh * p.ow >= 4 * kParallelWork;
  for (int64_t b = 0; b < p.n; ++b) {
    const int8_t *img = p.in + b * p.inN;
    // Interleave four channels per pixel (+128), rows in parallel.
    auto pack = [&](int64_t t) {
      int64_t q = t / p.h, row = t % p.h;
      const int8_t *src[4];
      for (int u = 0; u < 4; ++u)
        src[u] =
            q * 4 + u < p.c ? img + (q * 4 + u) * p.inC + row * p.inH : nullptr;
      uint8_t *dst =
          in4.data() + (q * plane + (row % rs * ph + row / rs) * wp) * 4;
      int64_t col = 0;
      if (s > 1) {
        for (; col < p.w; ++col) {
          uint8_t *to = dst + (col % s * pw + col / s) * 4;
          for (int u = 0; u < 4; ++u)
            to[u] =
                src[u] ? uint8_t(uint8_t(src[u][col]) ^ 0x80) : uint8_t(0x80);
        }
        return;
      }
      if (src[3]) { // four real channels: a 4 x 16 byte transpose
        const __m128i flip = _mm_set1_epi8(char(0x80));
        for (; col + 16 <= p.w; col += 16) {
          __m128i a = _mm_loadu_si128((const __m128i *)(src[0] + col));
          __m128i bb = _mm_loadu_si128((const __m128i *)(src[1] + col));
          __m128i c = _mm_loadu_si128((const __m128i *)(src[2] + col));
          __m128i dd = _mm_loadu_si128((const __m128i *)(src[3] + col));
          __m128i abLo = _mm_unpacklo_epi8(a, bb),
                  abHi = _mm_unpackhi_epi8(a, bb);
          __m128i cdLo = _mm_unpacklo_epi8(c, dd),
                  cdHi = _mm_unpackhi_epi8(c, dd);
          __m128i *o = (__m128i *)(dst + col * 4);
          _mm_storeu_si128(o,
                           _mm_xor_si128(_mm_unpacklo_epi16(abLo, cdLo), flip));
          _mm_storeu_si128(o + 1,
                           _mm_xor_si128(_mm_unpackhi_epi16(abLo, cdLo), flip));
          _mm_storeu_si128(o + 2,
                           _mm_xor_si128(_mm_unpacklo_epi16(abHi, cdHi), flip));
          _mm_storeu_si128(o + 3,
                           _mm_xor_si128(_mm_unpackhi_epi16(abHi, cdHi), flip));
        }
      }
      for (; col < p.w; ++col)
        for (int u = 0; u < 4; ++u)
          dst[col * 4 + u] =
              src[u] ? uint8_t(uint8_t(src[u][col]) ^ 0x80) : uint8_t(0x80);
    };
    if (parallel)
      qopt::rt::parallelFor(cq * p.h, pack);
    else
      for (int64_t t = 0; t < cq * p.h; ++t)
        pack(t);
    DirectS8 d{in4.data(),
               off.data(),
               quads,
               wq.data(),
               comp.data(),
               p.out ? p.out + b * p.outN : nullptr,
               p.outF,
               p.outH,
               p.outW,
               p.dequant,
               !p.dequant ? nullptr
               : p.dequant->toInt8
                   ? static_cast<void *>(static_cast<int8_t *>(p.dequant->out) +
                                         b * p.dequant->outN)
                   : static_cast<void *>(static_cast<float *>(p.dequant->out) +
                                         b * p.dequant->outN)};
    auto task = [&](int64_t t) {
      int64_t group = t % groups, ch = t / groups;
      int64_t pBegin = group * groupPanels,
              pEnd = std::min(panels, pBegin + groupPanels);
      int64_t tEnd = std::min(tiles, (ch + 1) * chunk);
      Seg segs[kMaxNr + 1];
      for (int64_t tile = ch * chunk; tile < tEnd; ++tile) {
        int64_t inOff;
        int valid, numSegs = 0;
        if (flat) {
          int64_t v0 = tile * nr;
          valid = int(std::min(nr, span - v0));
          inOff = v0;
          for (int l = 0; l < valid;) {
            int64_t v = v0 + l, oy = v / wp, ox = v % wp;
            if (ox >= p.ow) {
              l += int(std::min<int64_t>(wp - ox, valid - l));
              continue;
            }
            int len = int(std::min<int64_t>(p.ow - ox, valid - l));
            segs[numSegs++] = {l, len, oy, ox};
            l += len;
          }
        } else {
          int64_t oy = tile / tilesPerRow, ox = (tile % tilesPerRow) * nr;
          valid = int(std::min(nr, p.ow - ox));
          inOff = oy * wp + ox;
          segs[numSegs++] = {0, valid, oy, ox};
        }
        for (int64_t q = pBegin; q < pEnd; ++q) {
          int64_t f0 = q * mr;
          int rows = int(std::min(mr, p.f - f0));
          rowsFns[rows](d, f0, inOff, valid, segs, numSegs);
        }
      }
    };
    if (parallel)
      qopt::rt::parallelFor(chunks * groups, task);
    else
      for (int64_t t = 0; t < chunks * groups; ++t)
        task(t);
  }
  return true;
#else
  (void)p;
  return false;
#endif
}

// qopt_kernel_conv2d_nchw_f32 followed by the epilogue (Conv.h): bias
// [F] (stride), activation code and its two parameters (f32 bit patterns
// in the low 32 bits), residual [N, F, OH, OW] (strides) or 0, and whether
// the kernel adds to what the output holds (else it overwrites it).
extern "C" void qopt_kernel_conv2d_nchw_f32_fused(
    QOPT_CONV2D_NCHW_PARAMS, int64_t biasPtr, int64_t biasStride, int64_t act,
    int64_t alphaBits, int64_t betaBits, int64_t resPtr, int64_t resN,
    int64_t resF, int64_t resH, int64_t resW, int64_t accumulate) {
  ConvF32 conv{n,
               c,
               f,
               kh,
               kw,
               oh,
               ow,
               sh,
               sw,
               dh,
               dw,
               reinterpret_cast<const float *>(inPtr),
               inN,
               inC,
               inH,
               inW,
               reinterpret_cast<const float *>(fPtr),
               fF,
               fC,
               fH,
               fW,
               reinterpret_cast<float *>(outPtr),
               outN,
               outF,
               outH,
               outW};
  ConvEpilogue epi = qopt::rt::convEpilogueFromArgs(
      biasPtr, biasStride, act, alphaBits, betaBits, resPtr, resN, resF, resH,
      resW, accumulate);
  qopt::rt::convF32(conv, epi);
}

// A grouped convolution (depthwise included): x [N, G, C, H, W] (already
// padded), filter [G, F, C, KH, KW], out [N, G, F, OH, OW] (out += sum),
// each group through convF32 (the direct kernel; depthwise groups are
// tiles of one channel).
extern "C" void qopt_kernel_conv2d_grouped_f32(
    int64_t n, int64_t g, int64_t c, int64_t f, int64_t kh, int64_t kw,
    int64_t oh, int64_t ow, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
    int64_t inPtr, int64_t inN, int64_t inG, int64_t inC, int64_t inH,
    int64_t inW, int64_t fPtr, int64_t fG, int64_t fF, int64_t fC, int64_t fH,
    int64_t fW, int64_t outPtr, int64_t outN, int64_t outG, int64_t outF,
    int64_t outH, int64_t outW) {
  const auto *in = reinterpret_cast<const float *>(inPtr);
  const auto *filter = reinterpret_cast<const float *>(fPtr);
  auto *out = reinterpret_cast<float *>(outPtr);
  const char *force = std::getenv("QOPT_CONV");
  // Many groups (depthwise) are the thread pool's tasks, each one's
  // direct kernel on its own thread; a few groups spread their tiles.
  const bool groupTasks = !(force && std::string(force) == "gemm") &&
                          n * g >= 4 * qopt::rt::numThreads();
  auto group = [&](int64_t t) {
    int64_t b = t / g, gi = t % g;
    {
      ConvF32 conv{1,
                   c,
                   f,
                   kh,
                   kw,
                   oh,
                   ow,
                   sh,
                   sw,
                   dh,
                   dw,
                   in + b * inN + gi * inG,
                   0,
                   inC,
                   inH,
                   inW,
                   filter + gi * fG,
                   fF,
                   fC,
                   fH,
                   fW,
                   out + b * outN + gi * outG,
                   0,
                   outF,
                   outH,
                   outW};
      qopt::rt::convF32(conv, ConvEpilogue{});
    }
  };
  if (!groupTasks) {
    for (int64_t t = 0; t < n * g; ++t)
      group(t);
    return;
  }
  qopt::rt::parallelFor(n * g, [&](int64_t t) {
    serialConvs = true;
    group(t);
    serialConvs = false;
  });
}

void qopt::rt::clearConvS8Cache() {
  std::lock_guard<std::mutex> lock(s8FilterMu);
  s8FilterCache.clear();
}
