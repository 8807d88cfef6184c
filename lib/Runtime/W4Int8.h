//===- W4Int8.h - int4 weights × int8 activations ----------------*- C++
//-*-===//
//
// W4Int8Kernels.cpp: the int8-activation path of qopt_kernel_matmul_w4
// (--w4-activations=int8: format 3/4; docs/Runtime/W4Int8.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_W4INT8_H
#define QOPT_LIB_RUNTIME_W4INT8_H

#include <cstdint>

namespace qopt::rt {

/// A 4-bit [N, K] weight as qopt_kernel_matmul_w4 receives it: two codes a
/// byte (even k in the low nibble), K stride wK in bytes; int4 (signed) or
/// uint4 with zero points zp; per-group scales.
struct W4Weight {
  const int8_t *w;
  int64_t wN, wK;
  int64_t group;
  bool isSigned;
  const float *scale;
  int64_t sN, sG;
  const int8_t *zp;
  int64_t zN, zG;
};

/// The microkernel the path runs: avx512vnni, avx2 or generic.
const char *w4Int8Isa();

/// C[M, N] += quant8(A) · dequant(W)ᵀ. False (C untouched) where the path
/// does not apply: a group not a multiple of 8, or A not finite.
bool matmulW4Int8(int64_t m, int64_t n, int64_t k, const float *a, int64_t aM,
                  int64_t aK, const W4Weight &w, float *c, int64_t cM,
                  int64_t cN, bool constant);

/// Drops the repacked weights of constant 4-bit weights.
void clearW4Int8Cache();

} // namespace qopt::rt

#endif // QOPT_LIB_RUNTIME_W4INT8_H
