//===- Conv.h - f32 convolutions without im2col, fused epilogues -*- C++
//-*-===//
//
// ConvKernels.cpp implements them; Kernels.cpp's qopt_kernel_conv2d_nchw_f32
// and the epilogue variant compiled code calls both go through convF32.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_CONV_H
#define QOPT_LIB_RUNTIME_CONV_H

#include <cstdint>

namespace qopt::rt {

/// An NCHW convolution on an input already padded: sizes, window strides
/// and dilations, and each buffer's address and element strides.
struct ConvF32 {
  int64_t n, c, f, kh, kw, oh, ow, sh, sw, dh, dw;
  const float *in;
  int64_t inN, inC, inH, inW;
  const float *filter;
  int64_t fF, fC, fH, fW;
  float *out;
  int64_t outN, outF, outH, outW;
};

/// What is applied to each output element v = sum over the window while it
/// is still in registers: out = act((accumulate ? out : 0) + v + bias[f] +
/// residual[n, f, y, x]). The activation codes are the compiler's
/// (LinalgToKernelCalls.cpp passes them).
enum class ConvAct : int64_t {
  None = 0,
  Relu = 1,
  Clip = 2,      // min(max(v, alpha), beta)
  LeakyRelu = 3, // v < 0 ? alpha * v : v
  Sigmoid = 4,
  HardSwish = 5, // v * clamp(alpha * v + beta, 0, 1)
  SiLU = 6,      // v * sigmoid(v)
};

struct ConvEpilogue {
  bool accumulate = true;
  const float *bias = nullptr;
  int64_t biasStride = 0;
  const float *res = nullptr;
  int64_t resN = 0, resF = 0, resH = 0, resW = 0;
  ConvAct act = ConvAct::None;
  float alpha = 0, beta = 0;
};

/// The scalar activation (the reference the vector forms follow).
float convActivation(ConvAct act, float v, float alpha, float beta);

/// Runs a convolution: a direct kernel that reads the input in place (unit
/// W strides), else a GEMM that packs input windows block by block into
/// its panels. $QOPT_CONV=gemm|direct forces one (read on each call: tests
/// and comparisons).
void convF32(const ConvF32 &conv, const ConvEpilogue &epi);

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_CONV_H
