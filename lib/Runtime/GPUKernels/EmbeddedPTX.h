//===- EmbeddedPTX.h - GEMV kernels' PTX, embedded at build -*- C++ -*-===//
//-*-===//
//
// The build compiles GPUKernels/*.cu with nvcc to PTX for each target
// architecture and generates a source file (in the build directory) that
// defines this table; without nvcc the table is empty.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_GPUKERNELS_EMBEDDEDPTX_H
#define QOPT_LIB_RUNTIME_GPUKERNELS_EMBEDDEDPTX_H

#include <cstddef>

namespace qopt::rt {

/// PTX text (NUL-terminated) for one architecture ("sm_80").
struct EmbeddedPTX {
  const char *arch;
  const char *text;
  std::size_t size; ///< bytes, without the NUL
};

extern const EmbeddedPTX kGemvPTX[];
extern const std::size_t kGemvPTXCount;

/// GPUKernels/QMatmul.cu: compiled models' quantized matmuls.
extern const EmbeddedPTX kQMatmulPTX[];
extern const std::size_t kQMatmulPTXCount;

/// GPUKernels/FloatMatmul.cu: compiled models' float32 matmuls.
extern const EmbeddedPTX kFloatMatmulPTX[];
extern const std::size_t kFloatMatmulPTXCount;

/// GPUKernels/Sparse24.cu: 2:4 sparse matmuls (mma.sp).
extern const EmbeddedPTX kSparse24PTX[];
extern const std::size_t kSparse24PTXCount;

/// GPUKernels/Wgmma.cu: Hopper TMA + wgmma GEMMs (sm_90a) and the 16-bit
/// fallback (other architectures).
extern const EmbeddedPTX kWgmmaPTX[];
extern const std::size_t kWgmmaPTXCount;

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_GPUKERNELS_EMBEDDEDPTX_H
