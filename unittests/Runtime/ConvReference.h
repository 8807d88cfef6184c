//===- ConvReference.h - naive conv2d for the kernel tests ------*- C++ -*-===//
//
// What the f32 and int8 convolution kernel tests (RuntimeTest.cpp,
// QuantKernelsTest.cpp) compare with: plain loops over dense NCHW data, so
// that both kernels are held to the same definition.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_UNITTESTS_RUNTIME_CONVREFERENCE_H
#define QOPT_UNITTESTS_RUNTIME_CONVREFERENCE_H

#include <cstdint>
#include <vector>

namespace qopt::test {

/// ref[b, o, i, j] += sum over (ci, y, x) of
///     in[b, ci, i*sh + y*dh, j*sw + x*dw] * filter[o, ci, y, x],
/// summed in `Acc`, for a dense [N, C, H, W] input (already padded) and a
/// dense [F, C, KH, KW] filter.
template <typename Acc, typename In, typename Filter, typename Out>
void naiveConv2d(const std::vector<In> &in, const std::vector<Filter> &filter,
                 std::vector<Out> &ref, int64_t n, int64_t c, int64_t h,
                 int64_t w, int64_t f, int64_t kh, int64_t kw, int64_t sh,
                 int64_t sw, int64_t dh, int64_t dw, int64_t oh, int64_t ow) {
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < f; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          Acc s = 0;
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t y = 0; y < kh; ++y)
              for (int64_t x = 0; x < kw; ++x)
                s += Acc(in[((b * c + ci) * h + i * sh + y * dh) * w + j * sw +
                            x * dw]) *
                     filter[((o * c + ci) * kh + y) * kw + x];
          ref[((b * f + o) * oh + i) * ow + j] += Out(s);
        }
}

} // namespace qopt::test

#endif // QOPT_UNITTESTS_RUNTIME_CONVREFERENCE_H
