//===- Gemm.h - the runtime's packed f32 GEMM, shared by its kernels -*- C++
//-*-===//
//
// Kernels.cpp implements it; QuantKernels.cpp reuses it for weight-only
// quantized matmuls, which dequantize B block by block into its panels.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_GEMM_H
#define QOPT_LIB_RUNTIME_GEMM_H

#include <cstdint>
#include <vector>

namespace qopt::rt {

/// B packed whole: block (k0, j0) laid out as packB writes it, at
/// k0 * nPadded + j0 * kc.
struct PackedB {
  std::vector<float> data;
  int64_t nPadded = 0;
};

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
};

/// Runs `g` on the thread pool (results independent of the thread count).
void runGemm(const Gemm &g);

/// The panel width (nr) runGemm packs B with.
int64_t gemmPanelWidth();

/// Drops QuantKernels.cpp's packed int8 weights.
void clearQuantKernelCaches();

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_GEMM_H
