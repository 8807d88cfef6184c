//===- QMatmul.cu - compiled models' quantized matmuls on the GPU ---------===//
//
// The GPU versions of the runtime's quantized CPU kernels
// (QuantKernels.cpp, TernaryKernels.cpp), with the same operands and the
// same sums, for compiled NVPTX artifacts (qopt-gpu-kernel-calls): x is
// float32 (or int8 for W8A8), W row-major [N, K] in the layer's storage,
// C [M, N] accumulated into (it holds the bias or zeros):
//
//   w8    C[m, n] += s[n] · Σ_k x[m, k] · w[n, k]
//   w4    C[m, n] += Σ_g s[n, g] · Σ_{k in g} x[m, k] · (q[n, k] - z[n, g])
//         (format 0: uint4 with zero points; 1: int4, z = 0; 2: NF4 levels)
//   s8s8  C[m, n] += Σ_k a[m, k] · w[n, k]       (int32; u8s8: a unsigned)
//   s8t2  C[m, n] += Σ_k q[m, k] · t[n, k], q = clamp(rne(x · s[m]))  (int32)
//   f32t2 C[m, n] += Σ_k x[m, k] · t[n, k]
//
// Ternary weights t are 2-bit codes t + 1 at bits 2(k % 4) of byte k / 4
// (docs/Quantization/Ternary.md).
//
// Shape of a launch: a block of 4 warps; each warp owns ROWS = 4 rows of W
// and MT (1, 2 or 4) rows of x (grid.y walks the
// rest of M). Every lane reads 16 bytes of each of its weight rows per step
// (coalesced 512-byte rows per warp), decodes them once per x row and
// accumulates; the warp's lanes are summed with shuffles at the end. Float
// formats decode exactly with the 2^23 trick (bits | 0x4B000000 is 2^23 + v as
// a float); int8 products use dp4a. The integer sums are exact, so s8s8 and
// s8t2 match the CPU bit for bit; float sums differ from it only in order.
//
// When a row is not 16-byte aligned or K does not fill whole 16-byte
// chunks, a scalar variant (VEC = false) reads element by element.
//
//===----------------------------------------------------------------------===//

#include <cstdint>

namespace {

struct QParams {
  const void *x;
  long long xM, xK; // element strides
  const void *w;
  long long wN, wK; // element strides (bytes for packed weights)
  const void *s;
  long long sN, sG;
  const void *z;
  long long zN, zG;
  void *c;
  long long cM, cN;
  int m, n, k, group, format;
};

constexpr int kWarps = 4;
constexpr int kRows = 4;

__constant__ float kNF4[16] = {-1.0f,
                               -0.6961928009986877f,
                               -0.5250730514526367f,
                               -0.39491748809814453f,
                               -0.28444138169288635f,
                               -0.18477343022823334f,
                               -0.09105003625154495f,
                               0.0f,
                               0.07958029955625534f,
                               0.16093020141124725f,
                               0.24611230194568634f,
                               0.33791524171829224f,
                               0.44070982251167297f,
                               0.5626170039176941f,
                               0.7229568362236023f,
                               1.0f};

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ int warpSum(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/// 2^23 + v for a small non-negative integer v, as a float (exact).
__device__ __forceinline__ float magic(uint32_t v) {
  return __int_as_float(0x4B000000u | v);
}

__device__ __forceinline__ int dp4aU8S8(uint32_t a, uint32_t b, int c) {
  int d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

__device__ __forceinline__ float4 ldx4(const float *p) {
  return __ldg(reinterpret_cast<const float4 *>(p));
}

//===----------------------------------------------------------------------===//
// w8: 16 int8 weights a lane-step
//===----------------------------------------------------------------------===//

template <int MT, bool VEC>
__device__ __forceinline__ void qmatmulW8(QParams p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.x * kWarps + warp) * kRows;
  const int m0 = blockIdx.y * MT;
  if (n0 >= p.n)
    return;
  const float *x = static_cast<const float *>(p.x);
  const int8_t *w = static_cast<const int8_t *>(p.w);
  float acc[MT][kRows] = {};
  if (VEC) {
    for (int k0 = lane * 16; k0 < p.k; k0 += 32 * 16) {
      uint4 wv[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        wv[r] = n0 + r < p.n ? __ldg(reinterpret_cast<const uint4 *>(
                                   w + (long long)(n0 + r) * p.wN + k0))
                             : make_uint4(0x80808080u, 0x80808080u, 0x80808080u,
                                          0x80808080u);
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
        if (m0 + mi >= p.m)
          break;
        const float *xr = x + (long long)(m0 + mi) * p.xM + k0;
        float xv[16];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          float4 t = ldx4(xr + 4 * q);
          xv[4 * q] = t.x;
          xv[4 * q + 1] = t.y;
          xv[4 * q + 2] = t.z;
          xv[4 * q + 3] = t.w;
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const uint32_t words[4] = {wv[r].x, wv[r].y, wv[r].z, wv[r].w};
          float a = 0.0f;
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            // Signed bytes flipped to v + 128, then 2^23 + v + 128.
            const uint32_t u = words[q] ^ 0x80808080u;
#pragma unroll
            for (int b = 0; b < 4; ++b) {
              float wf = magic((u >> (8 * b)) & 0xFFu) - 8388736.0f;
              a = fmaf(xv[4 * q + b], wf, a);
            }
          }
          acc[mi][r] += a;
        }
      }
    }
  } else {
    for (int kk = lane; kk < p.k; kk += 32)
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (n0 + r >= p.n)
          break;
        float wf = float(w[(long long)(n0 + r) * p.wN + kk * p.wK]);
#pragma unroll
        for (int mi = 0; mi < MT; ++mi)
          if (m0 + mi < p.m)
            acc[mi][r] = fmaf(x[(long long)(m0 + mi) * p.xM + kk * p.xK], wf,
                              acc[mi][r]);
      }
  }
  const float *s = static_cast<const float *>(p.s);
  float *c = static_cast<float *>(p.c);
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v = warpSum(acc[mi][r]);
      if (lane == 0 && m0 + mi < p.m && n0 + r < p.n) {
        float *out =
            c + (long long)(m0 + mi) * p.cM + (long long)(n0 + r) * p.cN;
        *out += v * s[(long long)(n0 + r) * p.sN];
      }
    }
}

//===----------------------------------------------------------------------===//
// w4: 32 weights (16 bytes) a lane-step, inside one group (group % 32 == 0)
//===----------------------------------------------------------------------===//

template <int MT, bool VEC>
__device__ __forceinline__ void qmatmulW4(QParams p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.x * kWarps + warp) * kRows;
  const int m0 = blockIdx.y * MT;
  if (n0 >= p.n)
    return;
  const float *x = static_cast<const float *>(p.x);
  const uint8_t *w = static_cast<const uint8_t *>(p.w);
  const float *s = static_cast<const float *>(p.s);
  const uint8_t *z = static_cast<const uint8_t *>(p.z);
  const int format = p.format;
  float acc[MT][kRows] = {};
  // The value of nibble v of row r in group g: (v - zero) or NF4 level.
  auto offsetOf = [&](int r, int g) -> float {
    if (format == 0)
      return 8388608.0f + float(z[(long long)(n0 + r) * p.zN + g * p.zG]);
    return 8388608.0f + 8.0f; // int4: nibble v is q + 8 after the flip
  };
  if (VEC) {
    for (int k0 = lane * 32; k0 < p.k; k0 += 32 * 32) {
      const int g = k0 / p.group;
      uint4 wv[kRows];
      float sc[kRows], off[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const bool live = n0 + r < p.n;
        wv[r] = live ? __ldg(reinterpret_cast<const uint4 *>(
                           w + (long long)(n0 + r) * p.wN + k0 / 2))
                     : make_uint4(0, 0, 0, 0);
        sc[r] = live ? s[(long long)(n0 + r) * p.sN + g * p.sG] : 0.0f;
        off[r] = live ? offsetOf(r, g) : 0.0f;
      }
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
        if (m0 + mi >= p.m)
          break;
        const float *xr = x + (long long)(m0 + mi) * p.xM + k0;
        float xv[32];
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          float4 t = ldx4(xr + 4 * q);
          xv[4 * q] = t.x;
          xv[4 * q + 1] = t.y;
          xv[4 * q + 2] = t.z;
          xv[4 * q + 3] = t.w;
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const uint32_t words[4] = {wv[r].x, wv[r].y, wv[r].z, wv[r].w};
          float a = 0.0f;
          if (format == 2) {
#pragma unroll
            for (int q = 0; q < 4; ++q)
#pragma unroll
              for (int e = 0; e < 8; ++e)
                a = fmaf(xv[8 * q + e], kNF4[(words[q] >> (4 * e)) & 15u], a);
          } else {
            const uint32_t flip = format == 1 ? 0x88888888u : 0u;
#pragma unroll
            for (int q = 0; q < 4; ++q) {
              const uint32_t u = words[q] ^ flip;
#pragma unroll
              for (int e = 0; e < 8; ++e)
                a = fmaf(xv[8 * q + e], magic((u >> (4 * e)) & 15u) - off[r],
                         a);
            }
          }
          acc[mi][r] = fmaf(a, sc[r], acc[mi][r]);
        }
      }
    }
  } else {
    for (int kk = lane; kk < p.k; kk += 32) {
      const int g = kk / p.group;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (n0 + r >= p.n)
          break;
        uint32_t byte = w[(long long)(n0 + r) * p.wN + (kk / 2) * p.wK];
        uint32_t v = (byte >> (4 * (kk & 1))) & 15u;
        float wf;
        if (format == 2)
          wf = kNF4[v];
        else if (format == 1)
          wf = float(int(v) - int((v & 8u) << 1));
        else
          wf = float(int(v) - int(z[(long long)(n0 + r) * p.zN + g * p.zG]));
        wf *= s[(long long)(n0 + r) * p.sN + g * p.sG];
#pragma unroll
        for (int mi = 0; mi < MT; ++mi)
          if (m0 + mi < p.m)
            acc[mi][r] = fmaf(x[(long long)(m0 + mi) * p.xM + kk * p.xK], wf,
                              acc[mi][r]);
      }
    }
  }
  float *c = static_cast<float *>(p.c);
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v = warpSum(acc[mi][r]);
      if (lane == 0 && m0 + mi < p.m && n0 + r < p.n)
        c[(long long)(m0 + mi) * p.cM + (long long)(n0 + r) * p.cN] += v;
    }
}

//===----------------------------------------------------------------------===//
// s8s8 / u8s8: 16 int8 weights a lane-step, dp4a
//===----------------------------------------------------------------------===//

template <int MT, bool VEC, bool UNSIGNED>
__device__ __forceinline__ void qmatmulI8(QParams p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.x * kWarps + warp) * kRows;
  const int m0 = blockIdx.y * MT;
  if (n0 >= p.n)
    return;
  const uint8_t *x = static_cast<const uint8_t *>(p.x);
  const int8_t *w = static_cast<const int8_t *>(p.w);
  int acc[MT][kRows] = {};
  if (VEC) {
    for (int k0 = lane * 16; k0 < p.k; k0 += 32 * 16) {
      uint4 wv[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        wv[r] = n0 + r < p.n ? __ldg(reinterpret_cast<const uint4 *>(
                                   w + (long long)(n0 + r) * p.wN + k0))
                             : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
        if (m0 + mi >= p.m)
          break;
        const uint4 xv = __ldg(reinterpret_cast<const uint4 *>(
            x + (long long)(m0 + mi) * p.xM + k0));
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          int a = acc[mi][r];
          if (UNSIGNED) {
            a = dp4aU8S8(xv.x, wv[r].x, a);
            a = dp4aU8S8(xv.y, wv[r].y, a);
            a = dp4aU8S8(xv.z, wv[r].z, a);
            a = dp4aU8S8(xv.w, wv[r].w, a);
          } else {
            a = __dp4a(int(xv.x), int(wv[r].x), a);
            a = __dp4a(int(xv.y), int(wv[r].y), a);
            a = __dp4a(int(xv.z), int(wv[r].z), a);
            a = __dp4a(int(xv.w), int(wv[r].w), a);
          }
          acc[mi][r] = a;
        }
      }
    }
  } else {
    for (int kk = lane; kk < p.k; kk += 32)
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (n0 + r >= p.n)
          break;
        int wi = w[(long long)(n0 + r) * p.wN + kk * p.wK];
#pragma unroll
        for (int mi = 0; mi < MT; ++mi)
          if (m0 + mi < p.m) {
            uint8_t xb = x[(long long)(m0 + mi) * p.xM + kk * p.xK];
            int xi = UNSIGNED ? int(xb) : int(int8_t(xb));
            acc[mi][r] += xi * wi;
          }
      }
  }
  int *c = static_cast<int *>(p.c);
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      int v = warpSum(acc[mi][r]);
      if (lane == 0 && m0 + mi < p.m && n0 + r < p.n)
        c[(long long)(m0 + mi) * p.cM + (long long)(n0 + r) * p.cN] += v;
    }
}

//===----------------------------------------------------------------------===//
// Ternary
//===----------------------------------------------------------------------===//

/// s8t2's activations: q = clamp(round_half_even(x · s[m]), -128, 127)
/// (NaN: 0) into `qx` [M, K] bytes, reordered per 16 k so that word i of
/// a chunk holds k = i, 4 + i, 8 + i, 12 + i (the bytes a 2-bit code word
/// shifted by 2i and masked with 0x03030303 lines up with); K % 16 == 0.
/// Grid (K chunks, M).
__device__ __forceinline__ void ternaryQuantize(QParams p, int8_t *qx) {
  const int m = blockIdx.y;
  const float *x = static_cast<const float *>(p.x) + (long long)m * p.xM;
  const float sm = static_cast<const float *>(p.s)[(long long)m * p.sN];
  for (int kk = blockIdx.x * blockDim.x + threadIdx.x; kk < p.k;
       kk += gridDim.x * blockDim.x) {
    const float v = x[(long long)kk * p.xK];
    float r = rintf(v * sm);
    r = fmaxf(r, -128.0f);
    r = fminf(r, 127.0f);
    const int q = v != v ? 0 : int(r);
    const int chunk = kk & ~15, within = kk & 15;
    // k = 4j + i goes to byte 4i + j of the chunk.
    qx[(long long)m * p.k + chunk + 4 * (within & 3) + (within >> 2)] =
        int8_t(q);
  }
}

/// s8t2 on the reordered q: 64 codes (16 bytes) a lane-step, the next
/// step's weights loaded while this one's are used; Σ q · (t + 1) by dp4a,
/// minus Σ q (dp4a against 0x01010101, once per x row) at the end.
template <int MT>
__device__ __forceinline__ void qmatmulS8T2(QParams p, const int8_t *qx) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.x * kWarps + warp) * kRows;
  const int m0 = blockIdx.y * MT;
  if (n0 >= p.n)
    return;
  const uint8_t *w = static_cast<const uint8_t *>(p.w);
  const int kb = p.k / 4; // bytes of a weight row
  int acc[MT][kRows] = {};
  int sumq[MT] = {};
  auto load = [&](int b0, uint4 *wv) {
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      wv[r] =
          n0 + r < p.n && b0 < kb
              ? __ldg(reinterpret_cast<const uint4 *>(
                    w + (long long)(n0 + r) * p.wN + b0))
              : make_uint4(0x55555555u, 0x55555555u, 0x55555555u, 0x55555555u);
  };
  uint4 wv[kRows];
  load(lane * 16, wv);
  for (int b0 = lane * 16; b0 < kb; b0 += 32 * 16) {
    uint4 next[kRows];
    load(b0 + 32 * 16, next);
#pragma unroll
    for (int mi = 0; mi < MT; ++mi) {
      if (m0 + mi >= p.m)
        break;
      // 64 reordered activations: 4 chunks of 16 k, one per weight word.
      const uint4 *xr = reinterpret_cast<const uint4 *>(
          qx + (long long)(m0 + mi) * p.k + 4 * b0);
      uint4 xv[4];
#pragma unroll
      for (int q = 0; q < 4; ++q)
        xv[q] = __ldg(xr + q);
      int sq = sumq[mi];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        sq = __dp4a(int(xv[q].x), 0x01010101, sq);
        sq = __dp4a(int(xv[q].y), 0x01010101, sq);
        sq = __dp4a(int(xv[q].z), 0x01010101, sq);
        sq = __dp4a(int(xv[q].w), 0x01010101, sq);
      }
      sumq[mi] = sq;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const uint32_t words[4] = {wv[r].x, wv[r].y, wv[r].z, wv[r].w};
        int a = acc[mi][r];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const uint32_t wq = words[q];
          a = __dp4a(int(xv[q].x), int(wq & 0x03030303u), a);
          a = __dp4a(int(xv[q].y), int((wq >> 2) & 0x03030303u), a);
          a = __dp4a(int(xv[q].z), int((wq >> 4) & 0x03030303u), a);
          a = __dp4a(int(xv[q].w), int((wq >> 6) & 0x03030303u), a);
        }
        acc[mi][r] = a;
      }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      wv[r] = next[r];
  }
  int *c = static_cast<int *>(p.c);
#pragma unroll
  for (int mi = 0; mi < MT; ++mi) {
    const int sq = warpSum(sumq[mi]);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      int v = warpSum(acc[mi][r]);
      if (lane == 0 && m0 + mi < p.m && n0 + r < p.n)
        c[(long long)(m0 + mi) * p.cM + (long long)(n0 + r) * p.cN] += v - sq;
    }
  }
}

/// f32t2: C += Σ x · t, 16 codes (4 bytes) a lane-step (any alignment of
/// x rows that are 16-byte aligned when VEC).
template <int MT, bool VEC>
__device__ __forceinline__ void qmatmulF32T2(QParams p) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.x * kWarps + warp) * kRows;
  const int m0 = blockIdx.y * MT;
  if (n0 >= p.n)
    return;
  const float *x = static_cast<const float *>(p.x);
  const uint8_t *w = static_cast<const uint8_t *>(p.w);
  float acc[MT][kRows] = {};
  const int kb = p.k / 4;
  for (int b = lane; b < kb; b += 32) {
    uint32_t wb[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      wb[r] = n0 + r < p.n ? w[(long long)(n0 + r) * p.wN + b * p.wK] : 0x55u;
#pragma unroll
    for (int mi = 0; mi < MT; ++mi) {
      if (m0 + mi >= p.m)
        break;
      const float *xr = x + (long long)(m0 + mi) * p.xM;
      float xv[4];
      if (VEC) {
        float4 t = ldx4(xr + 4 * b);
        xv[0] = t.x;
        xv[1] = t.y;
        xv[2] = t.z;
        xv[3] = t.w;
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          xv[j] = xr[(long long)(4 * b + j) * p.xK];
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint32_t code = (wb[r] >> (2 * j)) & 3u;
          // Codes 0, 1, 2 are -1, 0, +1 (3 reads as 0, as on the CPU).
          const float t = code == 0 ? -1.0f : code == 2 ? 1.0f : 0.0f;
          acc[mi][r] = fmaf(xv[j], t, acc[mi][r]);
        }
    }
  }
  float *c = static_cast<float *>(p.c);
#pragma unroll
  for (int mi = 0; mi < MT; ++mi)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v = warpSum(acc[mi][r]);
      if (lane == 0 && m0 + mi < p.m && n0 + r < p.n)
        c[(long long)(m0 + mi) * p.cM + (long long)(n0 + r) * p.cN] += v;
    }
}

} // namespace

// The entry points the host looks up (unmangled): qopt_qmm_<format>_m<MT>
// and _v (16-byte chunks) or _s (scalar).
#define QOPT_QMM(name, body)                                                   \
  extern "C" __global__ void __launch_bounds__(kWarps * 32) name(QParams p) {  \
    body;                                                                      \
  }
#define QOPT_QMM_MT(prefix, kernel)                                            \
  QOPT_QMM(prefix##_m1_v, (kernel<1, true>(p)))                                \
  QOPT_QMM(prefix##_m2_v, (kernel<2, true>(p)))                                \
  QOPT_QMM(prefix##_m4_v, (kernel<4, true>(p)))                                \
  QOPT_QMM(prefix##_m1_s, (kernel<1, false>(p)))                               \
  QOPT_QMM(prefix##_m2_s, (kernel<2, false>(p)))                               \
  QOPT_QMM(prefix##_m4_s, (kernel<4, false>(p)))

QOPT_QMM_MT(qopt_qmm_w8, qmatmulW8)
QOPT_QMM_MT(qopt_qmm_w4, qmatmulW4)
QOPT_QMM_MT(qopt_qmm_f32t2, qmatmulF32T2)

template <int MT, bool VEC> __device__ __forceinline__ void s8s8(QParams p) {
  qmatmulI8<MT, VEC, false>(p);
}
template <int MT, bool VEC> __device__ __forceinline__ void u8s8(QParams p) {
  qmatmulI8<MT, VEC, true>(p);
}
QOPT_QMM_MT(qopt_qmm_s8s8, s8s8)
QOPT_QMM_MT(qopt_qmm_u8s8, u8s8)

extern "C" __global__ void __launch_bounds__(256)
    qopt_qmm_tquant(QParams p, int8_t *qx) {
  ternaryQuantize(p, qx);
}

#define QOPT_QMM_T2(mt)                                                        \
  extern "C" __global__ void __launch_bounds__(kWarps * 32)                    \
      qopt_qmm_s8t2_m##mt(QParams p, const int8_t *qx) {                       \
    qmatmulS8T2<mt>(p, qx);                                                    \
  }
QOPT_QMM_T2(1)
QOPT_QMM_T2(2)
QOPT_QMM_T2(4)

//===----------------------------------------------------------------------===//
// s8t2 at batch 1, quantization fused: one launch, q in shared memory
//===----------------------------------------------------------------------===//

// Measured on the H200 (batch 1, 8192x8192 / 28672x8192): 16 warps x 4
// rows 9.9 / 29.9 us, 8 x 4 10.1 / 31.4, 8 x 8 13.8 / 34.4, 4 x 8 15.8 /
// 39.8; the unfused pair of launches 11.9 / 30.4.
#ifndef QOPT_T2F_WARPS
#define QOPT_T2F_WARPS 16
#endif
#ifndef QOPT_T2F_ROWS
#define QOPT_T2F_ROWS 4
#endif
// Weight steps in flight a warp beyond the one in use (1 or 2).
#ifndef QOPT_T2F_DEPTH
#define QOPT_T2F_DEPTH 1
#endif

/// A block of T2F_WARPS warps, T2F_ROWS weight rows a warp. The first
/// weight step is loaded, then the block quantizes x (one row, f32,
/// K-contiguous and 16-byte aligned) into shared memory in the reordered
/// layout of ternaryQuantize (dynamic shared memory, K bytes), then streams
/// its weights as qmatmulS8T2 does, reading q from shared memory: x is read
/// once per block from L2 instead of once per warp, and the quantizing
/// launch is gone.
__device__ __forceinline__ void qmatmulS8T2Fused(QParams p) {
  constexpr int W = QOPT_T2F_WARPS, R = QOPT_T2F_ROWS;
  extern __shared__ uint4 qsmem[];
  int8_t *qs = reinterpret_cast<int8_t *>(qsmem);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.x * W + warp) * R;
  const uint8_t *w = static_cast<const uint8_t *>(p.w);
  const int kb = p.k / 4;
  auto load = [&](int b0, uint4 *wv) {
#pragma unroll
    for (int r = 0; r < R; ++r)
      wv[r] =
          n0 + r < p.n && b0 < kb
              ? __ldg(reinterpret_cast<const uint4 *>(
                    w + (long long)(n0 + r) * p.wN + b0))
              : make_uint4(0x55555555u, 0x55555555u, 0x55555555u, 0x55555555u);
  };
  uint4 wv[R], ahead[R];
  load(lane * 16, wv);
  if (QOPT_T2F_DEPTH > 1)
    load(lane * 16 + 32 * 16, ahead);
  {
    const float *x = static_cast<const float *>(p.x);
    const float sm = static_cast<const float *>(p.s)[0];
    for (int kk = threadIdx.x * 4; kk < p.k; kk += W * 32 * 4) {
      const float4 v4 = __ldg(reinterpret_cast<const float4 *>(x + kk));
      const float vs[4] = {v4.x, v4.y, v4.z, v4.w};
      const int chunk = kk & ~15, j = (kk & 15) >> 2;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float v = vs[i];
        float r = rintf(v * sm);
        r = fminf(fmaxf(r, -128.0f), 127.0f);
        qs[chunk + 4 * i + j] = int8_t(v != v ? 0 : int(r));
      }
    }
  }
  __syncthreads();
  if (n0 >= p.n)
    return;
  int acc[R] = {};
  int sumq = 0;
  for (int b0 = lane * 16; b0 < kb; b0 += 32 * 16) {
    uint4 next[R];
    load(b0 + QOPT_T2F_DEPTH * 32 * 16, next);
    const uint4 *xr = reinterpret_cast<const uint4 *>(qs + 4 * b0);
    uint4 xv[4];
#pragma unroll
    for (int q = 0; q < 4; ++q)
      xv[q] = xr[q];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      sumq = __dp4a(int(xv[q].x), 0x01010101, sumq);
      sumq = __dp4a(int(xv[q].y), 0x01010101, sumq);
      sumq = __dp4a(int(xv[q].z), 0x01010101, sumq);
      sumq = __dp4a(int(xv[q].w), 0x01010101, sumq);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint32_t words[4] = {wv[r].x, wv[r].y, wv[r].z, wv[r].w};
      int a = acc[r];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const uint32_t wq = words[q];
        a = __dp4a(int(xv[q].x), int(wq & 0x03030303u), a);
        a = __dp4a(int(xv[q].y), int((wq >> 2) & 0x03030303u), a);
        a = __dp4a(int(xv[q].z), int((wq >> 4) & 0x03030303u), a);
        a = __dp4a(int(xv[q].w), int((wq >> 6) & 0x03030303u), a);
      }
      acc[r] = a;
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (QOPT_T2F_DEPTH > 1) {
        wv[r] = ahead[r];
        ahead[r] = next[r];
      } else {
        wv[r] = next[r];
      }
    }
  }
  int *c = static_cast<int *>(p.c);
  const int sq = warpSum(sumq);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int v = warpSum(acc[r]);
    if (lane == 0 && n0 + r < p.n)
      c[(long long)(n0 + r) * p.cN] += v - sq;
  }
}

extern "C" __global__ void __launch_bounds__(QOPT_T2F_WARPS * 32)
    qopt_qmm_s8t2_fused(QParams p) {
  qmatmulS8T2Fused(p);
}

/// Rows and threads of a qopt_qmm_s8t2_fused block.
extern "C" __device__ const int qopt_qmm_s8t2_fused_shape[2] = {
    QOPT_T2F_WARPS * QOPT_T2F_ROWS, QOPT_T2F_WARPS * 32};

//===----------------------------------------------------------------------===//
// s8t2 at batch 1, streaming: a fixed grid that fills the GPU once
//===----------------------------------------------------------------------===//

// The fused kernel's grid has a block per 64 rows (448 blocks at 28672
// rows, 1.7 waves of 2 blocks an SM), each quantizing all of x into its
// shared memory and then making only K / 2048 weight steps a warp (4 at
// K = 8192): the quantization and the partly filled last wave cost as much
// as the weights. This one launches blocks to fill every SM once
// (T2S_BLOCKS_PER_SM), quantizes x once per block, and gives each warp an
// even, contiguous share of the work items (4 rows x one 2048-k step:
// 16 bytes of 4 rows a lane), streamed with T2S_DEPTH items in flight
// across row boundaries. A row split between two warps is summed with
// integer atomics (exact, so the result does not depend on the order).
// Measured on the H200 (28672x8192 / 8192x8192, batch 1): 32 warps x 1
// block an SM 21.7 / 10.7 us, 16 x 2 23.5 / 11.5, 16 x 1 with 2 items
// ahead 24.5 / 11.4, 8 x 4 25.9 / 12.8, step-major items 23.2 / 10.2; the
// block-per-64-rows kernel 29.7 / 9.8 (the host picks by size).
#ifndef QOPT_T2S_WARPS
#define QOPT_T2S_WARPS 32
#endif
#ifndef QOPT_T2S_BLOCKS_PER_SM
#define QOPT_T2S_BLOCKS_PER_SM 1
#endif
#ifndef QOPT_T2S_DEPTH
#define QOPT_T2S_DEPTH 1
#endif
// Items in step-major order (all row groups of k step 0, then of step 1,
// ...): a block then quantizes only the steps of x its items cover, and
// every item's sums go out by atomics.
#ifndef QOPT_T2S_STEP_MAJOR
#define QOPT_T2S_STEP_MAJOR 0
#endif
constexpr int kT2SRows = 4;

// With T2S_SLOTS > 0 the weights a warp has in flight go through a ring
// of T2S_SLOTS items in shared memory (cp.async, each lane its own 16-byte
// chunks) instead of registers: many more bytes in flight an SM than 64
// registers a thread allow.
#ifndef QOPT_T2S_SLOTS
#define QOPT_T2S_SLOTS 0
#endif

/// Shared memory of a streaming block: q for ceil(K / 2048) steps (zeros
/// past K), then Σq of each step, then (T2S_SLOTS) the warps' rings.
__device__ __forceinline__ void qmatmulS8T2Stream(QParams p) {
  constexpr int W = QOPT_T2S_WARPS, R = kT2SRows, D = QOPT_T2S_DEPTH;
  constexpr int S = QOPT_T2S_SLOTS;
  extern __shared__ uint4 qsmem[];
  int8_t *qs = reinterpret_cast<int8_t *>(qsmem);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint8_t *w = static_cast<const uint8_t *>(p.w);
  const int kb = p.k / 4;
  const int steps = (kb + 511) / 512;
  int *stepSum = reinterpret_cast<int *>(qs + steps * 2048);
  const long long groups = (p.n + R - 1) / R;
  const long long items = groups * steps;
  const long long warps = (long long)gridDim.x * W;
  const long long gw = (long long)blockIdx.x * W + warp;
  const long long first = gw * items / warps, last = (gw + 1) * items / warps;
  // Row group and k step of an item.
  auto where = [&](long long item, long long &g, int &step) {
    if (QOPT_T2S_STEP_MAJOR) {
      step = int(item / groups);
      g = item - step * groups;
    } else {
      g = item / steps;
      step = int(item - g * steps);
    }
  };
  auto load = [&](long long item, uint4 *wv) {
    long long g;
    int step;
    where(item, g, step);
    const int b0 = step * 512 + lane * 16;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const long long row = g * R + r;
      wv[r] =
          item < last && row < p.n && b0 < kb
              ? __ldg(reinterpret_cast<const uint4 *>(w + row * p.wN + b0))
              : make_uint4(0x55555555u, 0x55555555u, 0x55555555u, 0x55555555u);
    }
  };
  // The ring: this lane's chunk of row r of slot s.
  uint4 *ringBase =
      reinterpret_cast<uint4 *>(qs + ((steps * 2048 + steps * 4 + 15) & ~15));
  auto slotChunk = [&](int s, int r) {
    return ringBase + (((warp * (S > 0 ? S : 1) + s) * R + r) * 32 + lane);
  };
  // Starts the copy of an item's weights into slot s (one commit group;
  // chunks past the weight get the zero code directly).
  auto issue = [&](long long item, int s) {
    long long g;
    int step;
    where(item, g, step);
    const int b0 = step * 512 + lane * 16;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const long long row = g * R + r;
      uint4 *dst = slotChunk(s, r);
      if (item < last && row < p.n && b0 < kb) {
        const unsigned d = unsigned(__cvta_generic_to_shared(dst));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d),
                     "l"(w + row * p.wN + b0));
      } else {
        *dst = make_uint4(0x55555555u, 0x55555555u, 0x55555555u, 0x55555555u);
      }
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  uint4 ring[S > 0 ? 1 : D][R];
  if (S > 0) {
#pragma unroll
    for (int j = 0; j < (S > 0 ? S : 1); ++j)
      issue(first + j, j);
  } else {
#pragma unroll
    for (int j = 0; j < D; ++j)
      load(first + j, ring[j]);
  }
  // Quantize x (one row) into the reordered layout, with Σq per step:
  // the steps this block's items cover.
  int kLo = 0, kHi = steps * 2048;
  if (QOPT_T2S_STEP_MAJOR) {
    const long long bf = (long long)blockIdx.x * W * items / warps;
    const long long bl = ((long long)blockIdx.x * W + W) * items / warps;
    if (bl > bf) {
      kLo = int(bf / groups) * 2048;
      kHi = int((bl - 1) / groups + 1) * 2048;
    }
  }
  if (threadIdx.x < steps)
    stepSum[threadIdx.x] = 0;
  for (int kk = kLo + threadIdx.x * 4; kk < kHi; kk += W * 32 * 4)
    *reinterpret_cast<uint32_t *>(qs + kk) = 0;
  __syncthreads();
  {
    const float *x = static_cast<const float *>(p.x);
    const float sm = static_cast<const float *>(p.s)[0];
    for (int kk0 = kLo; kk0 < min(p.k, kHi); kk0 += W * 32 * 4) {
      const int kk = kk0 + threadIdx.x * 4;
      int sum = 0;
      if (kk < p.k) {
        const float4 v4 = __ldg(reinterpret_cast<const float4 *>(x + kk));
        const float vs[4] = {v4.x, v4.y, v4.z, v4.w};
        const int chunk = kk & ~15, j = (kk & 15) >> 2;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float v = vs[i];
          float r = rintf(v * sm);
          r = fminf(fmaxf(r, -128.0f), 127.0f);
          const int q = v != v ? 0 : int(r);
          qs[chunk + 4 * i + j] = int8_t(q);
          sum += q;
        }
      }
      // A warp's 128 activations lie in one step (2048 k).
      sum = warpSum(sum);
      if (lane == 0 && kk0 + warp * 128 < p.k)
        atomicAdd(&stepSum[(kk0 + warp * 128) / 2048], sum);
    }
  }
  __syncthreads();
  int acc[R] = {};
  int sq = 0; // Σq over the steps of the current row group taken here
  // One item: its weights `wv`, then the sums when its row group (or this
  // warp's share) ends.
  auto consume = [&](long long item, const uint4 *wv) {
    long long g;
    int step;
    where(item, g, step);
    const uint4 *xr =
        reinterpret_cast<const uint4 *>(qs + 4 * (step * 512 + lane * 16));
    uint4 xv[4];
#pragma unroll
    for (int q = 0; q < 4; ++q)
      xv[q] = xr[q];
    sq += stepSum[step];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint32_t words[4] = {wv[r].x, wv[r].y, wv[r].z, wv[r].w};
      int a = acc[r];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const uint32_t wq = words[q];
        a = __dp4a(int(xv[q].x), int(wq & 0x03030303u), a);
        a = __dp4a(int(xv[q].y), int((wq >> 2) & 0x03030303u), a);
        a = __dp4a(int(xv[q].z), int((wq >> 4) & 0x03030303u), a);
        a = __dp4a(int(xv[q].w), int((wq >> 6) & 0x03030303u), a);
      }
      acc[r] = a;
    }
    // End of the row group or of this warp's share (step-major: of every
    // item): add the sums.
    if (QOPT_T2S_STEP_MAJOR || step == steps - 1 || item == last - 1) {
      int *c = static_cast<int *>(p.c);
      const bool whole = QOPT_T2S_STEP_MAJOR
                             ? steps == 1
                             : step == steps - 1 && item - step >= first;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int v = warpSum(acc[r]) - sq;
        const long long row = g * R + r;
        if (lane == 0 && row < p.n) {
          if (whole)
            c[row * p.cN] += v;
          else
            atomicAdd(&c[row * p.cN], v);
        }
        acc[r] = 0;
      }
      sq = 0;
    }
  };
  if (S > 0) {
    int s = 0;
    for (long long item = first; item < last; ++item) {
      // This lane's copies of `item` (the oldest of S groups) are done.
      asm volatile("cp.async.wait_group %0;\n" ::"n"(S > 0 ? S - 1 : 0));
      uint4 wv[R];
#pragma unroll
      for (int r = 0; r < R; ++r)
        wv[r] = *slotChunk(s, r);
      consume(item, wv);
      issue(item + S, s);
      s = s + 1 == S ? 0 : s + 1;
    }
    asm volatile("cp.async.wait_group 0;\n" ::);
  } else {
    for (long long i = first; i < last; i += D) {
#pragma unroll
      for (int j = 0; j < D; ++j) {
        const long long item = i + j;
        if (item < last) {
          uint4 wv[R];
#pragma unroll
          for (int r = 0; r < R; ++r)
            wv[r] = ring[j][r];
          load(item + D, ring[j]);
          consume(item, wv);
        }
      }
    }
  }
}

extern "C" __global__ void __launch_bounds__(QOPT_T2S_WARPS * 32,
                                             QOPT_T2S_BLOCKS_PER_SM)
    qopt_qmm_s8t2_stream(QParams p) {
  qmatmulS8T2Stream(p);
}

/// Threads and blocks an SM of a qopt_qmm_s8t2_stream launch, and the
/// bytes of its warps' rings (shared memory after x's).
extern "C" __device__ const int qopt_qmm_s8t2_stream_shape[3] = {
    QOPT_T2S_WARPS * 32, QOPT_T2S_BLOCKS_PER_SM,
    QOPT_T2S_WARPS *QOPT_T2S_SLOTS *kT2SRows * 512};
