//===- FloatMatmul.cu - compiled models' float32 matmuls on the GPU -------===//
//
// C += A·B for float32 operands with (up to two) batch dims and arbitrary
// element strides: the GPU version of the CPU's qopt_kernel_matmul_f32
// (lib/Runtime/Kernels.cpp), called by compiled NVPTX artifacts for their
// float matmuls and linear layers (qopt-gpu-kernel-calls).
//
// Tensor-core kernels (qopt_fmm_tc_<b layout>_<precision>): a block of 8
// warps computes a 128x128 tile of C; K is walked 32 at a time through a
// 3-stage cp.async pipeline in shared memory (96 KiB). Each warp owns a
// 64x32 quarter-column (4 x 4 mma.sync.m16n8k8 TF32 tiles). A must be
// K-contiguous; B either K-contiguous ("nt": x·Wᵀ linear layers, Q·Kᵀ) or
// N-contiguous ("nn": x·W, P·V). Shared-memory tiles are XOR-swizzled so
// that the cp.async writes and the fragment reads are free of bank
// conflicts. An mma sums its 8 k slots whatever physical k its fragments
// hold as long as A and B agree, so lane t takes the 4 consecutive k
// 4t..4t+3 of each 16-k half: one 16-byte shared load per row instead of
// four scalar ones (two mma steps).
//
// Precision (an explicit choice, --gpu-precision):
//   f32   (default) 3xTF32: a = a_hi + a_lo with a_hi the top 19 bits of a
//         (exact split), Σ a_hi·b_hi + a_hi·b_lo + a_lo·b_hi on the tensor
//         cores, f32 accumulation: about 2^-21 relative per product, the
//         accuracy of a float32 SGEMM.
//   tf32  one TF32 product (10-bit mantissas): about 2^-11 relative per
//         product; 3x faster.
//
// Anything else (A not K-contiguous, misaligned rows, K or N not a
// multiple of 4) takes qopt_fmm_simt: 64x64 tiles, 4x4 outputs a thread,
// float32 FMAs (exact float32 products).
//
//===----------------------------------------------------------------------===//

#include <cstdint>

namespace {

struct FParams {
  const float *a;
  long long aB0, aB1, aM, aK; // element strides
  const float *b;
  long long bB0, bB1, bK, bN;
  float *c;
  long long cB0, cB1, cM, cN;
  int b0, b1, m, n, k;
};

constexpr int BM = 128, BN = 128, BK = 32, STAGES = 3, THREADS = 256;
constexpr int kStageFloats = BM * BK + BK * BN;

__device__ __forceinline__ void cpAsync16(float *smem, const float *gmem,
                                          bool valid) {
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s),
               "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void mma(float (&d)[4], uint32_t a0, uint32_t a1,
                                    uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/// Top 19 bits (sign, exponent, 10 mantissa bits): a TF32 value.
__device__ __forceinline__ uint32_t hi(float x) {
  return __float_as_uint(x) & 0xffffe000u;
}
/// x - hi(x), exact in float32; the tensor core keeps its top bits.
__device__ __forceinline__ uint32_t lo(float x) {
  return __float_as_uint(x - __uint_as_float(hi(x)));
}

/// Base of batch z's operands.
__device__ __forceinline__ void batchBase(const FParams &p, const float *&a,
                                          const float *&b, float *&c) {
  const int z = blockIdx.z;
  const long long z0 = z / p.b1, z1 = z % p.b1;
  a = p.a + z0 * p.aB0 + z1 * p.aB1;
  b = p.b + z0 * p.bB0 + z1 * p.bB1;
  c = p.c + z0 * p.cB0 + z1 * p.cB1;
}

/// K-contiguous tile of 128 rows x 32 k: chunk c (4 floats) of row r is
/// stored at chunk c ^ 4(r & 1), so that lanes 0-7 of a fragment read
/// (rows r, r+1, chunks t or 4 + t) hit 32 different banks.
__device__ __forceinline__ int swzK(int row, int chunk) {
  return row * BK + ((chunk ^ ((row & 1) << 2)) << 2);
}
/// N-contiguous tile of 32 k x 128 n: chunk c of row k at c ^ 2((k>>2)&3),
/// so that the 4 rows k = 4t + j that lanes t read fall in other banks.
__device__ __forceinline__ int swzN(int k, int chunk) {
  return k * BN + ((chunk ^ (((k >> 2) & 3) << 1)) << 2);
}

template <bool NT>
__device__ __forceinline__ void loadStage(float *sA, float *sB, const float *a,
                                          const float *b, const FParams &p,
                                          int m0, int n0, int k0) {
  const int tid = threadIdx.x;
#pragma unroll
  for (int i = 0; i < BM * BK / 4 / THREADS; ++i) {
    const int idx = tid + i * THREADS, row = idx >> 3, chunk = idx & 7;
    const int gm = m0 + row, gk = k0 + chunk * 4;
    const bool ok = gm < p.m && gk < p.k;
    cpAsync16(sA + swzK(row, chunk), ok ? a + gm * p.aM + gk : a, ok);
  }
  if (NT) {
#pragma unroll
    for (int i = 0; i < BN * BK / 4 / THREADS; ++i) {
      const int idx = tid + i * THREADS, row = idx >> 3, chunk = idx & 7;
      const int gn = n0 + row, gk = k0 + chunk * 4;
      const bool ok = gn < p.n && gk < p.k;
      cpAsync16(sB + swzK(row, chunk), ok ? b + gn * p.bN + gk : b, ok);
    }
  } else {
#pragma unroll
    for (int i = 0; i < BN * BK / 4 / THREADS; ++i) {
      const int idx = tid + i * THREADS, row = idx >> 5, chunk = idx & 31;
      const int gk = k0 + row, gn = n0 + chunk * 4;
      const bool ok = gk < p.k && gn < p.n;
      cpAsync16(sB + swzN(row, chunk), ok ? b + gk * p.bK + gn : b, ok);
    }
  }
}

template <bool NT, bool SPLIT>
__device__ __forceinline__ void tcMatmul(const FParams &p) {
  extern __shared__ float4 smem4[];
  float *smem = reinterpret_cast<float *>(smem4);
  const float *a, *b;
  float *c;
  batchBase(p, a, b, c);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
  const int kTiles = (p.k + BK - 1) / BK;

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q)
        acc[i][j][q] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < kTiles)
      loadStage<NT>(smem + s * kStageFloats, smem + s * kStageFloats + BM * BK,
                    a, b, p, m0, n0, s * BK);
    cpAsyncCommit();
  }

  for (int kt = 0; kt < kTiles; ++kt) {
    cpAsyncWait<STAGES - 2>();
    __syncthreads();
    {
      const int next = kt + STAGES - 1;
      const int st = next % STAGES;
      if (next < kTiles)
        loadStage<NT>(smem + st * kStageFloats,
                      smem + st * kStageFloats + BM * BK, a, b, p, m0, n0,
                      next * BK);
      cpAsyncCommit();
    }
    const float *sA = smem + (kt % STAGES) * kStageFloats;
    const float *sB = sA + BM * BK;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      // B fragments of this 16-k half: k = 16h + 4t + {0..3}, n = g.
      float vb[4][4];
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int n = wn + nt * 8 + g;
        if (NT) {
          float4 v = *reinterpret_cast<const float4 *>(sB + swzK(n, 4 * h + t));
          vb[nt][0] = v.x, vb[nt][1] = v.y, vb[nt][2] = v.z, vb[nt][3] = v.w;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const int k = 16 * h + 4 * t + j;
            vb[nt][j] = sB[swzN(k, n >> 2) + (n & 3)];
          }
        }
      }
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) {
        const int r = wm + mt * 16 + g;
        const float4 va0 =
            *reinterpret_cast<const float4 *>(sA + swzK(r, 4 * h + t));
        const float4 va1 =
            *reinterpret_cast<const float4 *>(sA + swzK(r + 8, 4 * h + t));
        const float fa[2][4] = {{va0.x, va1.x, va0.y, va1.y},
                                {va0.z, va1.z, va0.w, va1.w}};
#pragma unroll
        for (int s = 0; s < 2; ++s) {
          if (SPLIT) {
            uint32_t ah[4], al[4];
#pragma unroll
            for (int q = 0; q < 4; ++q)
              ah[q] = hi(fa[s][q]), al[q] = lo(fa[s][q]);
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
              const uint32_t bh0 = hi(vb[nt][2 * s]),
                             bh1 = hi(vb[nt][2 * s + 1]);
              const uint32_t bl0 = lo(vb[nt][2 * s]),
                             bl1 = lo(vb[nt][2 * s + 1]);
              mma(acc[mt][nt], al[0], al[1], al[2], al[3], bh0, bh1);
              mma(acc[mt][nt], ah[0], ah[1], ah[2], ah[3], bl0, bl1);
              mma(acc[mt][nt], ah[0], ah[1], ah[2], ah[3], bh0, bh1);
            }
          } else {
#pragma unroll
            for (int nt = 0; nt < 4; ++nt)
              mma(acc[mt][nt], __float_as_uint(fa[s][0]),
                  __float_as_uint(fa[s][1]), __float_as_uint(fa[s][2]),
                  __float_as_uint(fa[s][3]), __float_as_uint(vb[nt][2 * s]),
                  __float_as_uint(vb[nt][2 * s + 1]));
          }
        }
      }
    }
  }
  cpAsyncWait<0>();

  // C += acc: c0, c1 at (g, 2t..2t+1), c2, c3 at (g + 8, 2t..2t+1).
#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int row = m0 + wm + mt * 16 + g + 8 * hr;
      if (row >= p.m)
        continue;
      float *cr = c + row * p.cM;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int col = n0 + wn + nt * 8 + 2 * t;
        if (col < p.n)
          cr[col * p.cN] += acc[mt][nt][2 * hr];
        if (col + 1 < p.n)
          cr[(col + 1) * p.cN] += acc[mt][nt][2 * hr + 1];
      }
    }
}

/// Any strides: 64x64 tiles, 16 k a step, 4x4 outputs a thread.
__device__ __forceinline__ void simtMatmul(const FParams &p) {
  __shared__ float sA[16][64 + 1], sB[16][64 + 1];
  const float *a, *b;
  float *c;
  batchBase(p, a, b, c);
  const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < p.k; k0 += 16) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int idx = threadIdx.x + i * 256;
      // A: consecutive threads along k when A is K-contiguous, else m.
      int mm, kk;
      if (p.aK == 1)
        mm = idx >> 4, kk = idx & 15;
      else
        mm = idx & 63, kk = idx >> 6;
      const int gm = m0 + mm, gk = k0 + kk;
      sA[kk][mm] = gm < p.m && gk < p.k ? a[gm * p.aM + gk * p.aK] : 0.f;
      int nn;
      if (p.bN == 1)
        nn = idx & 63, kk = idx >> 6;
      else
        nn = idx >> 4, kk = idx & 15;
      const int gn = n0 + nn, gk2 = k0 + kk;
      sB[kk][nn] = gn < p.n && gk2 < p.k ? b[gk2 * p.bK + gn * p.bN] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 16; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        av[i] = sA[kk][ty + 16 * i], bv[i] = sB[kk][tx + 16 * i];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int row = m0 + ty + 16 * i;
    if (row >= p.m)
      continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int col = n0 + tx + 16 * j;
      if (col < p.n)
        c[row * p.cM + col * p.cN] += acc[i][j];
    }
  }
}

} // namespace

#define QOPT_FMM_TC(name, NT, SPLIT, MINB)                                     \
  extern "C" __global__ void __launch_bounds__(THREADS, MINB)                  \
      name(FParams p) {                                                        \
    tcMatmul<NT, SPLIT>(p);                                                    \
  }
QOPT_FMM_TC(qopt_fmm_tc_nt_f32, true, true, 1)
QOPT_FMM_TC(qopt_fmm_tc_nn_f32, false, true, 1)
QOPT_FMM_TC(qopt_fmm_tc_nt_tf32, true, false, 1)
QOPT_FMM_TC(qopt_fmm_tc_nn_tf32, false, false, 1)

extern "C" __global__ void __launch_bounds__(256) qopt_fmm_simt(FParams p) {
  simtMatmul(p);
}
