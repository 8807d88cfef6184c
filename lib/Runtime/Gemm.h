//===- Gemm.h - the runtime's packed f32 GEMM, shared by its kernels -*- C++
//-*-===//
//
// Kernels.cpp implements it; QuantKernels.cpp reuses it for weight-only
// quantized matmuls, which dequantize B block by block into its panels.
// The convolution kernels of both files (f32 and int8) share their C
// signature and filter layout helpers here.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_GEMM_H
#define QOPT_LIB_RUNTIME_GEMM_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qopt::rt {

/// B packed whole: block (k0, j0) laid out as packB writes it, at
/// k0 * nPadded + j0 * kc.
struct PackedB {
  std::vector<float> data;
  int64_t nPadded = 0;
};

/// What runGemm does to C instead of C += A·B when a Gemm has one
/// (qopt_kernel_matmul_f32_fused): each C block starts at bias[n] (or 0),
/// accumulates A·B, then gets res (same indexing as C) added and the
/// activation (Conv.h's ConvAct codes) applied while it is in cache.
struct GemmEpilogue {
  const float *bias = nullptr;
  int64_t biasStride = 0;
  const float *res = nullptr;
  int64_t resB0 = 0, resB1 = 0, resM = 0, resN = 0;
  int act = 0;
  float alpha = 0, beta = 0;
  /// res is a gate: act(C) * res (SwiGLU) instead of act(C + res).
  bool gated = false;
};

/// out[i] = act(out[i] + (res ? res[i] : 0)), or act(out[i]) * res[i] when
/// `gated`, for i < n, vectorized with the ISA qopt_kernel_isa names
/// (Epilogue.cpp).
void activateRow(float *out, const float *res, int64_t n, int act, float alpha,
                 float beta, bool gated);

/// C += A·B over two outer dims; strides in elements.
struct Gemm {
  int64_t batch0, batch1, m, n, k;
  bool bConstant; // B is a constant of the artifact: pack it once
  const float *a;
  int64_t aB0, aB1, aM, aK;
  const float *b;
  int64_t bB0, bB1, bK, bN;
  float *c;
  int64_t cB0, cB1, cM, cN;
  /// B already packed by the caller (the convolution's im2col); b and its
  /// strides are then unused.
  const PackedB *packed = nullptr;
  /// B produced block by block by the caller, in packB's panel layout:
  /// rows [k0, k0+kc) x cols [j0, j0+nc) into panels of nr columns, panel
  /// q at q*kc + k*nr + c (zero padded). Weight-only kernels dequantize
  /// here; b and its strides are then unused.
  void (*packBlock)(const void *context, int64_t k0, int64_t kc, int64_t j0,
                    int64_t nc, int64_t nr, float *out) = nullptr;
  const void *packContext = nullptr;
  /// Overwrite C with the epilogue's bias + A·B, then its residual and
  /// activation (null: C += A·B).
  const GemmEpilogue *epilogue = nullptr;
};

/// A convolution filter [F, C, KH, KW] (element strides fF, fC, fH, fW) as
/// a row-major [F, C*KH*KW] matrix: the filter itself when its inner dims
/// already collapse, else a copy in `copy`. Updates `fF` to the row stride.
template <typename T>
const T *filterAsMatrix(const T *filter, int64_t f, int64_t c, int64_t kh,
                        int64_t kw, int64_t &fF, int64_t fC, int64_t fH,
                        int64_t fW, std::vector<T> &copy) {
  if (fW == 1 && fH == kw && fC == kh * kw)
    return filter;
  const int64_t kdim = c * kh * kw;
  copy.resize(size_t(f * kdim));
  for (int64_t i = 0; i < f; ++i)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          copy[size_t(i * kdim + (ci * kh + y) * kw + x)] =
              filter[i * fF + ci * fC + y * fH + x * fW];
  fF = kdim;
  return copy.data();
}

/// The parameters of every qopt_kernel_conv2d_nchw_* kernel, in the order
/// compiled code passes them (LinalgToKernelCalls): the sizes, window
/// strides and dilations, then the input, filter and output, each as its
/// address and element strides. The input is already padded, so its h and
/// w are not needed.
#define QOPT_CONV2D_NCHW_PARAMS                                                \
  int64_t n, int64_t c, [[maybe_unused]] int64_t h,                            \
      [[maybe_unused]] int64_t w, int64_t f, int64_t kh, int64_t kw,           \
      int64_t oh, int64_t ow, int64_t sh, int64_t sw, int64_t dh, int64_t dw,  \
      int64_t inPtr, int64_t inN, int64_t inC, int64_t inH, int64_t inW,       \
      int64_t fPtr, int64_t fF, int64_t fC, int64_t fH, int64_t fW,            \
      int64_t outPtr, int64_t outN, int64_t outF, int64_t outH, int64_t outW

/// Runs `g` on the thread pool (results independent of the thread count).
void runGemm(const Gemm &g);

/// The panel width (nr) runGemm packs B with.
int64_t gemmPanelWidth();

/// Drops QuantKernels.cpp's packed int8 weights.
void clearQuantKernelCaches();

/// Drops SparseKernels.cpp's repacked sparse weights.
void clearSparseKernelCaches();

/// Drops SparseInt8Kernels.cpp's repacked int8 2:4 weights.
void clearSparseInt8KernelCaches();

/// Drops CsrKernels.cpp's dense copies of CSR weights.
void clearCsrKernelCaches();

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_GEMM_H
