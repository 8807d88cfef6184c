//===- Conv.h - f32 convolutions without im2col, fused epilogues -*- C++
//-*-===//
//
// ConvKernels.cpp implements them; Kernels.cpp's qopt_kernel_conv2d_nchw_f32
// and the epilogue variant compiled code calls both go through convF32.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_CONV_H
#define QOPT_LIB_RUNTIME_CONV_H

#include <cmath>
#include <cstdint>
#include <cstring>

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
  GeluErf = 7,   // 0.5 v (1 + erf(v / sqrt(2)))
  GeluTanh = 8,  // 0.5 v (1 + tanh(sqrt(2 / pi) (v + 0.044715 v^3)))
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

/// A kernel call's activation code (ConvAct, anything else: None).
inline ConvAct convActFromCode(int64_t code) {
  return code >= 0 && code <= int64_t(ConvAct::GeluTanh) ? ConvAct(code)
                                                         : ConvAct::None;
}

/// The f32 an activation parameter's bits (passed as i64) stand for.
inline float floatFromBits(int64_t bits) {
  uint32_t u = uint32_t(bits);
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

/// The epilogue a fused conv kernel call describes in its trailing
/// arguments (qopt_kernel_conv2d_nchw_f32_fused, ..._depthwise_f32).
inline ConvEpilogue convEpilogueFromArgs(int64_t biasPtr, int64_t biasStride,
                                         int64_t act, int64_t alphaBits,
                                         int64_t betaBits, int64_t resPtr,
                                         int64_t resN, int64_t resF,
                                         int64_t resH, int64_t resW,
                                         int64_t accumulate) {
  ConvEpilogue epi;
  epi.accumulate = accumulate != 0;
  epi.bias = reinterpret_cast<const float *>(biasPtr);
  epi.biasStride = biasStride;
  epi.res = reinterpret_cast<const float *>(resPtr);
  epi.resN = resN;
  epi.resF = resF;
  epi.resH = resH;
  epi.resW = resW;
  epi.act = convActFromCode(act);
  epi.alpha = floatFromBits(alphaBits);
  epi.beta = floatFromBits(betaBits);
  return epi;
}

/// The scalar activation (the reference the vector forms follow).
float convActivation(ConvAct act, float v, float alpha, float beta);

/// Runs a convolution: a direct kernel that reads the input in place (unit
/// W strides), else a GEMM that packs input windows block by block into
/// its panels. $QOPT_CONV=gemm|direct forces one (read on each call: tests
/// and comparisons).
void convF32(const ConvF32 &conv, const ConvEpilogue &epi);

/// The dequantizing epilogue of an int8 convolution (qopt-fold-qdq's and
/// qopt-quantize's W8A8 convolutions, lib/Dialect/QOpt/Transforms/
/// IntegerConv.cpp): out[n, f, y, x] = bias[f] + f32(sum - corr[f]) *
/// scale[f] (or a bias constant for all channels) in f32 (a product, then a
/// sum, each rounded: what the float epilogue loop computes), written instead
/// of the i32 sums.
struct ConvS8Dequant {
  const int32_t *corr;
  int64_t corrStride;
  const float *scale;
  int64_t scaleStride;
  const float *bias; // or null: biasValue for every channel
  int64_t biasStride;
  float biasValue;
  /// f32, or (toInt8) int8 elements, with these element strides.
  void *out;
  int64_t outN, outF, outH, outW;
  /// Requantize to int8 as qopt.quantize's lowering does: NaN -> zp, else
  /// clamp(round_half_even(v / qScale), qLo, qHi) + qZp (qLo, qHi: the
  /// storage range minus the zero point).
  bool toInt8 = false;
  float qScale = 1, qLo = 0, qHi = 0, qZp = 0;

  int8_t requantize(float v) const {
    if (v != v)
      return int8_t(qZp);
    float t = v / qScale;
    float r = std::nearbyint(t);
    r = r < qLo ? qLo : r;
    r = r > qHi ? qHi : r;
    return int8_t(int(r + qZp));
  }
  float biasOf(int64_t f) const {
    return bias ? bias[f * biasStride] : biasValue;
  }
  float apply(int64_t f, int32_t sum) const {
    int32_t centered = int32_t(uint32_t(sum) - uint32_t(corr[f * corrStride]));
    float prod = float(centered) * scale[f * scaleStride];
    return biasOf(f) + prod;
  }
};

/// A dequantizing epilogue from a kernel call's arguments (addresses, f32
/// bit patterns), as the int8 conv and depthwise kernels take them; the
/// requantization fields only with `toInt8`.
inline ConvS8Dequant convS8DequantFromArgs(
    int64_t corrPtr, int64_t corrStride, int64_t scalePtr, int64_t scaleStride,
    int64_t biasPtr, int64_t biasStride, int64_t biasBits, int64_t outPtr,
    int64_t outN, int64_t outF, int64_t outH, int64_t outW, int64_t toInt8,
    int64_t qScaleBits, int64_t qLoBits, int64_t qHiBits, int64_t qZpBits) {
  ConvS8Dequant dq{};
  dq.corr = reinterpret_cast<const int32_t *>(corrPtr);
  dq.corrStride = corrStride;
  dq.scale = reinterpret_cast<const float *>(scalePtr);
  dq.scaleStride = scaleStride;
  dq.bias = reinterpret_cast<const float *>(biasPtr);
  dq.biasStride = biasStride;
  dq.biasValue = floatFromBits(biasBits);
  dq.out = reinterpret_cast<void *>(outPtr);
  dq.outN = outN;
  dq.outF = outF;
  dq.outH = outH;
  dq.outW = outW;
  dq.toInt8 = toInt8 != 0;
  if (dq.toInt8) {
    dq.qScale = floatFromBits(qScaleBits);
    dq.qLo = floatFromBits(qLoBits);
    dq.qHi = floatFromBits(qHiBits);
    dq.qZp = floatFromBits(qZpBits);
  }
  return dq;
}

/// An int8 x int8 -> i32 NCHW convolution (out += sum), input already
/// padded (to h x w) with its zero point. With `dequant`, the direct kernel
/// writes dequant->out instead (out is not touched).
struct ConvS8 {
  int64_t n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw;
  const int8_t *in;
  int64_t inN, inC, inH, inW;
  const int8_t *filter;
  int64_t fF, fC, fH, fW;
  int32_t *out;
  int64_t outN, outF, outH, outW;
  const ConvS8Dequant *dequant = nullptr;
  /// The filter is a constant of the model: the direct kernel rearranges it
  /// once (cached by address and layout until clearConvS8Cache).
  bool filterConstant = false;
};

/// The direct VNNI kernel for `conv` when the CPU has AVX-512 VNNI, the
/// window's column stride and the input's W stride are 1 (and $QOPT_CONV
/// is not gemm); a GEMV (any ISA) when the output is one pixel (unless
/// $QOPT_CONV is gemm or direct); false: not handled, the caller's GEMM
/// path runs.
bool convS8Direct(const ConvS8 &conv);

/// Drops the direct int8 kernel's rearranged constant filters (a model
/// unloaded; QuantKernels.cpp's clearQuantKernelCaches calls it).
void clearConvS8Cache();

/// A depthwise NCHW convolution (DepthwiseKernels.cpp): output channel f =
/// g * mult + m reads input channel g only. The input is [N, G, h, w],
/// unpadded: it sits at (padT, padL) of an implicit zero image the windows
/// run over (extents (oh - 1) * sh + (kh - 1) * dh + 1 by the same in w);
/// rows and columns outside it read zeros. Filter [G, mult, KH, KW], output
/// [N, G, mult, OH, OW], each with element strides.
struct DepthwiseF32 {
  int64_t n, g, mult, h, w, padT, padL, kh, kw, oh, ow, sh, sw, dh, dw;
  const float *in;
  int64_t inN, inG, inH, inW;
  const float *filter;
  int64_t fG, fM, fH, fW;
  float *out;
  int64_t outN, outG, outM, outH, outW;
};

/// Runs `conv` with the epilogue (bias[f], residual[n, f, y, x] and the
/// activation of channel f = g * mult + m), AVX-512, AVX2 or portable as
/// qopt_kernel_isa says, over the thread pool (bands of rows of a channel).
void depthwiseF32(const DepthwiseF32 &conv, const ConvEpilogue &epi);

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_CONV_H
