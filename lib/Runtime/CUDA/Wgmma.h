//===- Wgmma.h - Hopper GEMMs for the float matmul entry points -*- C++ -*-===//
//
// CUDA/Wgmma.cpp: GPUKernels/Wgmma.cu's TMA + wgmma kernels, for
// qopt_cuda_matmul_f32's tf32 precision (CUDA/FloatMatmul.cpp asks here
// first) and qopt_cuda_matmul_h16.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_CUDA_WGMMA_H
#define QOPT_LIB_RUNTIME_CUDA_WGMMA_H

#include "CUDA/Driver.h"

#include <string>

namespace qopt::rt::cuda {

/// C += A·B (float32 operands, one TF32 product) on the wgmma kernels when
/// the device (compute capability 9.0, sm_90a PTX embedded) and the
/// operands allow (CUDA/WgmmaPlan.h); false when it launched nothing (the
/// caller's kernels take the product). A launch failure: true, `error` set.
/// Strides in elements; `QOPT_CUDA_WGMMA=0` turns the kernels off.
bool wgmmaTf32(int64_t b0, int64_t b1, int64_t m, int64_t n, int64_t k,
               const void *a, int64_t aB0, int64_t aB1, int64_t aM, int64_t aK,
               const void *b, int64_t bB0, int64_t bB1, int64_t bK, int64_t bN,
               void *c, int64_t cB0, int64_t cB1, int64_t cM, int64_t cN,
               CUstream stream, std::string &error);

} // namespace qopt::rt::cuda

#endif // QOPT_LIB_RUNTIME_CUDA_WGMMA_H
