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
#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

/// Below this many multiply-adds a convolution runs on the calling thread.
constexpr int64_t kParallelWork = 1 << 16;

/// The direct kernel over all images.
void convDirect(const ConvF32 &p, const ConvEpilogue &epi) {
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
        off[size_t(k++)] = ci * p.inC + y * p.dh * p.inH + x * p.dw;
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
  const bool parallel = p.f * kdim * p.oh * p.ow >= kParallelWork;
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
  bool direct = p.sw == 1 && p.inW == 1 && p.inH >= p.ow + (p.kw - 1) * p.dw;
  if (want == "gemm")
    direct = false;
  if (direct)
    convDirect(p, epi);
  else
    convGemm(p, epi);
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
  auto bitsToFloat = [](int64_t bits) {
    uint32_t u = uint32_t(bits);
    float v;
    std::memcpy(&v, &u, sizeof v);
    return v;
  };
  ConvEpilogue epi;
  epi.accumulate = accumulate != 0;
  epi.bias = reinterpret_cast<const float *>(biasPtr);
  epi.biasStride = biasStride;
  epi.res = reinterpret_cast<const float *>(resPtr);
  epi.resN = resN;
  epi.resF = resF;
  epi.resH = resH;
  epi.resW = resW;
  epi.act =
      act >= 0 && act <= int64_t(ConvAct::SiLU) ? ConvAct(act) : ConvAct::None;
  epi.alpha = bitsToFloat(alphaBits);
  epi.beta = bitsToFloat(betaBits);
  qopt::rt::convF32(conv, epi);
}
