//===- DepthwiseKernels.cpp - depthwise convolutions ----------------------===//
//
// qopt_kernel_conv2d_depthwise_f32: the depthwise convolutions of
// MobileNet-style models (one input channel per group), which the GEMM-shaped
// direct kernel of ConvKernels.cpp handles badly (one filter row per tile).
// The padding is implicit (the kernel reads the unpadded input and the
// compiled code drops its padded copy), and the epilogue (bias, residual,
// activation) is applied to each output row while it is in cache. Written
// once over Simd.h's vector interface (DepthwiseKernelBody.h), compiled for
// AVX-512, AVX2 + FMA and portable C++; qopt_kernel_isa picks one.
//
// Tasks: bands of output rows of one channel (the local copy of a band's
// input rows stays under 12 KiB), spread over the thread pool; every sum
// runs in one fixed order, so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//

#include "Conv.h"
#include "Simd.h"
#include "Threads.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

extern "C" const char *qopt_kernel_isa(void);

using qopt::rt::ConvAct;
using qopt::rt::ConvEpilogue;
using qopt::rt::DepthwiseF32;

namespace {
/// One output channel's dequantizing epilogue (the int8 kernel's): scale,
/// bias, activation, and the requantization to int8 when toInt8.
struct DwS8Row {
  float scale, bias;
  ConvAct act;
  float alpha, beta;
  bool toInt8;
  float qScale, qLo, qHi, qZp;
};
} // namespace

namespace qopt::rt::simdgen {
namespace {
#include "DepthwiseKernelBody.h"
} // namespace
} // namespace qopt::rt::simdgen

#if defined(__x86_64__)
QOPT_SIMD512_BEGIN
namespace qopt::rt::simd512 {
namespace {
#include "DepthwiseKernelBody.h"
} // namespace
} // namespace qopt::rt::simd512
QOPT_SIMD_END

QOPT_SIMD256_BEGIN
namespace qopt::rt::simd256 {
namespace {
#include "DepthwiseKernelBody.h"
} // namespace
} // namespace qopt::rt::simd256
QOPT_SIMD_END
#endif

namespace {

using BandFn = void (*)(const DepthwiseF32 &, const ConvEpilogue &, int64_t,
                        int64_t, int64_t, int64_t, std::vector<float> &,
                        std::vector<float> &);

BandFn bandFn() {
  static const BandFn fn = [] {
    std::string isa = qopt_kernel_isa();
#if defined(__x86_64__)
    if (isa == "avx512")
      return BandFn(qopt::rt::simd512::dwBand);
    if (isa == "avx2")
      return BandFn(qopt::rt::simd256::dwBand);
#endif
    return BandFn(qopt::rt::simdgen::dwBand);
  }();
  return fn;
}

using RowDequantFn = void (*)(const DwS8Row &, const float *, int64_t, void *,
                              int64_t);

RowDequantFn rowDequantFn() {
  static const RowDequantFn fn = [] {
    std::string isa = qopt_kernel_isa();
#if defined(__x86_64__)
    if (isa == "avx512")
      return RowDequantFn(qopt::rt::simd512::dwS8RowDequant);
    if (isa == "avx2")
      return RowDequantFn(qopt::rt::simd256::dwS8RowDequant);
#endif
    return RowDequantFn(qopt::rt::simdgen::dwS8RowDequant);
  }();
  return fn;
}

/// Below this many multiply-adds a convolution runs on the calling thread.
constexpr int64_t kParallelWork = 1 << 15;

} // namespace

void qopt::rt::depthwiseF32(const DepthwiseF32 &p, const ConvEpilogue &epi) {
  if (p.n <= 0 || p.g <= 0 || p.mult <= 0 || p.oh <= 0 || p.ow <= 0)
    return;
  const BandFn band = bandFn();
  // Bands whose input rows take at most 12 KiB (the band's copy and its
  // sums stay in L1), several bands or planes a task, at least 8 tasks a
  // thread when there is enough work.
  const int64_t wn = (p.ow - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const int64_t budget = std::max<int64_t>(1, 3072 / wn);
  int64_t rows = std::max<int64_t>(1, (budget - (p.kh - 1) * p.dh) / p.sh);
  rows = std::min(rows, p.oh);
  const int64_t bands = (p.oh + rows - 1) / rows;
  const int64_t planes = p.n * p.g;
  const int64_t units = planes * bands;
  const int64_t threads = qopt::rt::numThreads();
  const int64_t chunk = std::max<int64_t>(1, units / (8 * threads));
  const int64_t tasks = (units + chunk - 1) / chunk;
  auto task = [&](int64_t t) {
    thread_local std::vector<float> local, flat;
    for (int64_t u = t * chunk; u < std::min(units, (t + 1) * chunk); ++u) {
      const int64_t plane = u / bands, bi = u % bands;
      const int64_t oy0 = bi * rows, oy1 = std::min(p.oh, oy0 + rows);
      band(p, epi, plane / p.g, plane % p.g, oy0, oy1, local, flat);
    }
  };
  const int64_t work = planes * p.mult * p.oh * p.ow * p.kh * p.kw;
  if (work < kParallelWork || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
    return;
  }
  qopt::rt::parallelFor(tasks, task);
}

// x [N, G, h, w] (unpadded: at (padT, padL) of the zero-padded image),
// filter [G, mult, KH, KW], out [N, G, mult, OH, OW]; then the fused
// epilogue as qopt_kernel_conv2d_nchw_f32_fused takes it: bias [F]
// (stride), activation code and parameters (f32 bits), residual [N, F, OH,
// OW] (strides) or 0, whether the results add to what out holds.
extern "C" void qopt_kernel_conv2d_depthwise_f32(
    int64_t n, int64_t g, int64_t mult, int64_t h, int64_t w, int64_t padT,
    int64_t padL, int64_t kh, int64_t kw, int64_t oh, int64_t ow, int64_t sh,
    int64_t sw, int64_t dh, int64_t dw, int64_t inPtr, int64_t inN, int64_t inG,
    int64_t inH, int64_t inW, int64_t fPtr, int64_t fG, int64_t fM, int64_t fH,
    int64_t fW, int64_t outPtr, int64_t outN, int64_t outG, int64_t outM,
    int64_t outH, int64_t outW, int64_t biasPtr, int64_t biasStride,
    int64_t act, int64_t alphaBits, int64_t betaBits, int64_t resPtr,
    int64_t resN, int64_t resF, int64_t resH, int64_t resW,
    int64_t accumulate) {
  DepthwiseF32 p{n,
                 g,
                 mult,
                 h,
                 w,
                 padT,
                 padL,
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
                 inG,
                 inH,
                 inW,
                 reinterpret_cast<const float *>(fPtr),
                 fG,
                 fM,
                 fH,
                 fW,
                 reinterpret_cast<float *>(outPtr),
                 outN,
                 outG,
                 outM,
                 outH,
                 outW};
  ConvEpilogue epi = qopt::rt::convEpilogueFromArgs(
      biasPtr, biasStride, act, alphaBits, betaBits, resPtr, resN, resF, resH,
      resW, accumulate);
  qopt::rt::depthwiseF32(p, epi);
}

//===----------------------------------------------------------------------===//
// int8: qopt_kernel_conv2d_depthwise_s8, W8A8's depthwise convolutions
// (qopt-quantize, IntegerDepthwise.cpp): out (i32) += Σ x · w over int8
// input and filter, the input zero-padded with `padValue` (its zero point)
// implicitly. Each input plane is widened to f32 once as x - padValue
// (so that the padding is 0 and the float band kernel above pads it
// itself), run through that kernel (the same vector code: FMAs of 16 or 8
// lanes, each tap one broadcast weight), and padValue · Σ w is added back.
// The products are integers of at most 255 · 128 in magnitude, so every
// partial sum of up to 512 taps is an integer below 2^24, which f32 holds
// exactly: the results are the integer sums, whatever the ISA or thread
// count. Wider windows (never in practice) take an i32 scalar loop.
//===----------------------------------------------------------------------===//

namespace {

/// An int8 depthwise convolution: input [N, G, h, w] at (padT, padL) of an
/// implicit image padded with padValue.
struct DepthwiseS8 {
  int64_t n, g, mult, h, w, padT, padL, padValue, kh, kw, oh, ow, sh, sw, dh,
      dw;
  const int8_t *in;
  int64_t inN, inG, inH, inW;
  const int8_t *filter;
  int64_t fG, fM, fH, fW;
  int32_t *out;
  int64_t outN, outG, outM, outH, outW;
  /// With `dequant` (qopt_kernel_conv2d_depthwise_s8_dequant), out is not
  /// touched: each sum goes through the epilogue (corr, scale, bias,
  /// activation, requantization) into dequant->out, [N, F, OH, OW] f32 or
  /// int8 (toInt8), F = G * mult.
  const qopt::rt::ConvS8Dequant *dequant = nullptr;
  ConvAct act = ConvAct::None;
  float alpha = 0, beta = 0;
};

/// The epilogue of output row (b, channel f, oy) from `centered`: f32(sum -
/// corr[f]) for each column.
void dequantRow(const DepthwiseS8 &p, int64_t f, const float *centered,
                int64_t b, int64_t oy) {
  const qopt::rt::ConvS8Dequant &dq = *p.dequant;
  const DwS8Row row{dq.scale[f * dq.scaleStride],
                    dq.biasOf(f),
                    p.act,
                    p.alpha,
                    p.beta,
                    dq.toInt8,
                    dq.qScale,
                    dq.qLo,
                    dq.qHi,
                    dq.qZp};
  const int64_t bytes = dq.toInt8 ? 1 : 4;
  char *o = static_cast<char *>(dq.out) +
            (b * dq.outN + f * dq.outF + oy * dq.outH) * bytes;
  rowDequantFn()(row, centered, p.ow, o, dq.outW);
}

/// The exact integer reference (and the path for windows over 512 taps).
void depthwiseS8Scalar(const DepthwiseS8 &p, int64_t b, int64_t gi) {
  const int8_t *x = p.in + b * p.inN + gi * p.inG;
  thread_local std::vector<float> row;
  row.resize(size_t(p.ow));
  for (int64_t m = 0; m < p.mult; ++m) {
    const int8_t *f = p.filter + gi * p.fG + m * p.fM;
    int32_t *o = p.out + b * p.outN + gi * p.outG + m * p.outM;
    for (int64_t oy = 0; oy < p.oh; ++oy) {
      for (int64_t ox = 0; ox < p.ow; ++ox) {
        int32_t sum = 0;
        for (int64_t ky = 0; ky < p.kh; ++ky)
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t y = oy * p.sh + ky * p.dh - p.padT;
            const int64_t c = ox * p.sw + kx * p.dw - p.padL;
            const int32_t v = y >= 0 && y < p.h && c >= 0 && c < p.w
                                  ? int32_t(x[y * p.inH + c * p.inW])
                                  : int32_t(p.padValue);
            sum += v * int32_t(f[ky * p.fH + kx * p.fW]);
          }
        if (const qopt::rt::ConvS8Dequant *dq = p.dequant)
          row[size_t(ox)] = float(
              int32_t(uint32_t(sum) -
                      uint32_t(dq->corr[(gi * p.mult + m) * dq->corrStride])));
        else
          o[oy * p.outH + ox * p.outW] += sum;
      }
      if (p.dequant)
        dequantRow(p, gi * p.mult + m, row.data(), b, oy);
    }
  }
}

/// Taps up to which every f32 partial sum of (x - padValue) · w is exact.
constexpr int64_t kExactTaps = 512;

void depthwiseS8(const DepthwiseS8 &p) {
  if (p.n <= 0 || p.g <= 0 || p.mult <= 0 || p.oh <= 0 || p.ow <= 0 ||
      p.kh <= 0 || p.kw <= 0)
    return;
  const int64_t taps = p.kh * p.kw, planes = p.n * p.g;
  const int64_t work = planes * p.mult * p.oh * p.ow * taps;
  auto run = [&](auto &&plane) {
    if (work < kParallelWork || planes == 1)
      for (int64_t t = 0; t < planes; ++t)
        plane(t);
    else
      qopt::rt::parallelFor(planes, plane);
  };
  if (taps > kExactTaps) {
    run([&](int64_t t) { depthwiseS8Scalar(p, t / p.g, t % p.g); });
    return;
  }
  // The filter as f32 [G, M, KH, KW] (integers, exact) and padValue · Σ w
  // per output channel.
  std::vector<float> wf(static_cast<size_t>(p.g * p.mult * taps));
  std::vector<int32_t> padSum(static_cast<size_t>(p.g * p.mult));
  for (int64_t gi = 0, i = 0; gi < p.g; ++gi)
    for (int64_t m = 0; m < p.mult; ++m) {
      int32_t sum = 0;
      for (int64_t ky = 0; ky < p.kh; ++ky)
        for (int64_t kx = 0; kx < p.kw; ++kx) {
          const int8_t v =
              p.filter[gi * p.fG + m * p.fM + ky * p.fH + kx * p.fW];
          wf[size_t(i++)] = float(v);
          sum += v;
        }
      padSum[size_t(gi * p.mult + m)] = int32_t(p.padValue) * sum;
    }
  const BandFn band = bandFn();
  const int64_t wn = (p.ow - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const int64_t budget = std::max<int64_t>(1, 3072 / wn);
  const int64_t rows =
      std::min(p.oh, std::max<int64_t>(1, (budget - (p.kh - 1) * p.dh) / p.sh));
  const float shift = float(p.padValue);
  run([&](int64_t t) {
    const int64_t b = t / p.g, gi = t % p.g;
    thread_local std::vector<float> plane, sums, local, flat;
    // The input plane as f32 x - padValue ([h, w], contiguous).
    plane.resize(size_t(p.h * p.w));
    const int8_t *x = p.in + b * p.inN + gi * p.inG;
    for (int64_t y = 0; y < p.h; ++y) {
      const int8_t *src = x + y * p.inH;
      float *dst = plane.data() + y * p.w;
      if (p.inW == 1)
        for (int64_t c = 0; c < p.w; ++c)
          dst[c] = float(src[c]) - shift;
      else
        for (int64_t c = 0; c < p.w; ++c)
          dst[c] = float(src[c * p.inW]) - shift;
    }
    sums.resize(size_t(p.mult * p.oh * p.ow));
    DepthwiseF32 q{1,
                   1,
                   p.mult,
                   p.h,
                   p.w,
                   p.padT,
                   p.padL,
                   p.kh,
                   p.kw,
                   p.oh,
                   p.ow,
                   p.sh,
                   p.sw,
                   p.dh,
                   p.dw,
                   plane.data(),
                   0,
                   0,
                   p.w,
                   1,
                   wf.data() + gi * p.mult * taps,
                   0,
                   taps,
                   p.kw,
                   1,
                   sums.data(),
                   0,
                   0,
                   p.oh * p.ow,
                   p.ow,
                   1};
    ConvEpilogue none;
    none.accumulate = false;
    for (int64_t oy0 = 0; oy0 < p.oh; oy0 += rows)
      band(q, none, 0, 0, oy0, std::min(p.oh, oy0 + rows), local, flat);
    if (const qopt::rt::ConvS8Dequant *dq = p.dequant) {
      for (int64_t m = 0; m < p.mult; ++m) {
        const int64_t f = gi * p.mult + m;
        float *s = sums.data() + m * p.oh * p.ow;
        // sum - corr[f] = s + (padValue * Σ w - corr[f]): nothing to add
        // when the correction is the padding's (the input's zero point),
        // else in i32 as the loop computes it (wrapping), then to f32.
        const uint32_t k = uint32_t(padSum[size_t(f)]) -
                           uint32_t(dq->corr[f * dq->corrStride]);
        if (k != 0)
          for (int64_t i = 0; i < p.oh * p.ow; ++i)
            s[i] = float(int32_t(uint32_t(int32_t(s[i])) + k));
        for (int64_t oy = 0; oy < p.oh; ++oy)
          dequantRow(p, f, s + oy * p.ow, b, oy);
      }
      return;
    }
    for (int64_t m = 0; m < p.mult; ++m) {
      int32_t *o = p.out + b * p.outN + gi * p.outG + m * p.outM;
      const float *s = sums.data() + m * p.oh * p.ow;
      const int32_t add = padSum[size_t(gi * p.mult + m)];
      for (int64_t oy = 0; oy < p.oh; ++oy) {
        int32_t *orow = o + oy * p.outH;
        const float *srow = s + oy * p.ow;
        if (p.outW == 1)
          for (int64_t ox = 0; ox < p.ow; ++ox)
            orow[ox] += int32_t(srow[ox]) + add;
        else
          for (int64_t ox = 0; ox < p.ow; ++ox)
            orow[ox * p.outW] += int32_t(srow[ox]) + add;
      }
    }
  });
}

} // namespace

// x [N, G, h, w] int8 at (padT, padL) of an implicit image padded with
// padValue (the windows' extents: (OH - 1) * sh + (KH - 1) * dh + 1 rows,
// likewise columns), filter [G, mult, KH, KW] int8, out [N, G, mult, OH,
// OW] int32: out += Σ x · w (each buffer with element strides).
extern "C" void qopt_kernel_conv2d_depthwise_s8(
    int64_t n, int64_t g, int64_t mult, int64_t h, int64_t w, int64_t padT,
    int64_t padL, int64_t padValue, int64_t kh, int64_t kw, int64_t oh,
    int64_t ow, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t inPtr,
    int64_t inN, int64_t inG, int64_t inH, int64_t inW, int64_t fPtr,
    int64_t fG, int64_t fM, int64_t fH, int64_t fW, int64_t outPtr,
    int64_t outN, int64_t outG, int64_t outM, int64_t outH, int64_t outW) {
  depthwiseS8(DepthwiseS8{n,
                          g,
                          mult,
                          h,
                          w,
                          padT,
                          padL,
                          padValue,
                          kh,
                          kw,
                          oh,
                          ow,
                          sh,
                          sw,
                          dh,
                          dw,
                          reinterpret_cast<const int8_t *>(inPtr),
                          inN,
                          inG,
                          inH,
                          inW,
                          reinterpret_cast<const int8_t *>(fPtr),
                          fG,
                          fM,
                          fH,
                          fW,
                          reinterpret_cast<int32_t *>(outPtr),
                          outN,
                          outG,
                          outM,
                          outH,
                          outW});
}

// qopt_kernel_conv2d_depthwise_s8's arguments up to the filter's strides,
// then the output [N, F, OH, OW] (F = G * mult; f32, or int8 with toInt8)
// and its strides, and the dequantizing epilogue of
// qopt_kernel_conv2d_nchw_s8_dequant (lib/Conversion/KernelCalls/
// DepthwiseConvS8.cpp): corr, scale and bias [F] (address and stride each;
// bias 0 when a constant), the constant bias's f32 bits, the activation
// (ConvAct code and parameters' bits), then the requantization (flag,
// scale, clamp bounds, zero point as f32 bits). out = act(bias[f] + f32(Σ x
// · w - corr[f]) * scale[f]), or its int8 quantization.
extern "C" void qopt_kernel_conv2d_depthwise_s8_dequant(
    int64_t n, int64_t g, int64_t mult, int64_t h, int64_t w, int64_t padT,
    int64_t padL, int64_t padValue, int64_t kh, int64_t kw, int64_t oh,
    int64_t ow, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t inPtr,
    int64_t inN, int64_t inG, int64_t inH, int64_t inW, int64_t fPtr,
    int64_t fG, int64_t fM, int64_t fH, int64_t fW, int64_t outPtr,
    int64_t outN, int64_t outF, int64_t outH, int64_t outW, int64_t corrPtr,
    int64_t corrStride, int64_t scalePtr, int64_t scaleStride, int64_t biasPtr,
    int64_t biasStride, int64_t biasBits, int64_t act, int64_t alphaBits,
    int64_t betaBits, int64_t toInt8, int64_t qScaleBits, int64_t qLoBits,
    int64_t qHiBits, int64_t qZpBits) {
  qopt::rt::ConvS8Dequant dq = qopt::rt::convS8DequantFromArgs(
      corrPtr, corrStride, scalePtr, scaleStride, biasPtr, biasStride, biasBits,
      outPtr, outN, outF, outH, outW, toInt8, qScaleBits, qLoBits, qHiBits,
      qZpBits);
  DepthwiseS8 p{n,
                g,
                mult,
                h,
                w,
                padT,
                padL,
                padValue,
                kh,
                kw,
                oh,
                ow,
                sh,
                sw,
                dh,
                dw,
                reinterpret_cast<const int8_t *>(inPtr),
                inN,
                inG,
                inH,
                inW,
                reinterpret_cast<const int8_t *>(fPtr),
                fG,
                fM,
                fH,
                fW,
                nullptr,
                0,
                0,
                0,
                0,
                0};
  p.dequant = &dq;
  p.act = qopt::rt::convActFromCode(act);
  p.alpha = qopt::rt::floatFromBits(alphaBits);
  p.beta = qopt::rt::floatFromBits(betaBits);
  depthwiseS8(p);
}
