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
