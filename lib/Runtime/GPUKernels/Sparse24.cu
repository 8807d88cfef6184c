//===- Sparse24.cu - 2:4 sparse matmuls on the sparse tensor cores --------===//
//
// C[m, n] += Σ_k x[m, k] · W[n, k] for a 2:4 weight W [N, K] (at most two
// nonzeros in every 4 consecutive k; qopt/Support/Sparse24.h's `values`
// [N, K/2] f32 and `meta` [N, K/8]) with mma.sp (m16n8k32, f16 or bf16
// operands, f32 accumulation): W is the sparse operand A (16 rows of N by
// 32 k), x the dense operand B (32 k by 8 tokens), so C's tile is Dᵀ.
//
// The weight is repacked once (qopt_sp24_pack, cached by the host) into
// the registers' order, so that a warp's loads are whole 512-byte lines:
//
//   values: [N/16 tiles][K/32 chunks][32 lanes] x 16 bytes. Lane l
//     (g = l / 4, t = l % 4) holds A's four registers of its chunk: the
//     two kept values of group t of rows g and g + 8, then of group t + 4
//     of rows g and g + 8 (f16x2 / bf16x2, first value in the low half).
//   meta:   [N/16 tiles][K/64 steps][32 lanes] x u32. mma.sp takes the
//     metadata of 16 rows x 32 k from two lanes of every quad: with
//     sparsity selector 0 from lanes t = 0, 1, with selector 1 from
//     lanes t = 2, 3. So one u32 a lane covers two chunks: lanes t = 0, 1
//     the step's first chunk (selector 0), t = 2, 3 its second (selector
//     1). Lane t % 2 == h holds groups 4h..4h+3 of the chunk: row g in
//     bits 0-15 and row g + 8 in bits 16-31, a nibble a group (group 4h in
//     the lowest), each nibble the group's two positions (first in bits
//     0-1) exactly as Sparse24.h stores them, so a nibble pair is a
//     little-endian u16 of `meta`.
//
// Rows past N and k past K are zeros with positions (0, 1). x is staged
// in shared memory (BT tokens x 64 k a step, cp.async, two stages) and
// read with ldmatrix.x4, whose four 8x8 matrices are exactly B's four
// registers. Precision: f16 operands (one product), or bf16 hi + lo
// halves of both operands and three products (hi·hi + hi·lo + lo·hi,
// about 16 significant bits, the f32 range), f32 accumulation either way.
// K is split over grid.z when the tiles alone do not fill the GPU; the
// splits add into C with atomics.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace {

struct SParams {
  const void *x;   // [M, kp] f16 (or bf16 hi), row stride kp
  const void *xlo; // [M, kp] bf16 lo (split), else null
  const uint4 *w;  // tiled values (or bf16 hi)
  const uint4 *wlo;
  const uint32_t *meta; // tiled metadata
  float *c;
  long long cM, cN;
  int m, n, kp, tiles, kPer, splits;
};

constexpr int kWarps = 4;
constexpr int kStep = 64;       // k a pipeline step (two mma.sp chunks)
constexpr int kLds = kStep + 8; // halves a staged x row (16-byte pad)

#if defined(__CUDACC_VER_MAJOR__) &&                                           \
    (__CUDACC_VER_MAJOR__ > 12 ||                                              \
     (__CUDACC_VER_MAJOR__ == 12 && __CUDACC_VER_MINOR__ >= 5))
#define QOPT_MMA_SP "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col"
#else
#define QOPT_MMA_SP "mma.sp.sync.aligned.m16n8k32.row.col"
#endif

template <bool BF16, int SEL>
__device__ __forceinline__ void mmaSp(float (&d)[4], const uint4 &a,
                                      const uint32_t (&b)[4], uint32_t e) {
  if (BF16)
    asm volatile(QOPT_MMA_SP ".f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                             "{%4,%5,%6,%7}, {%8,%9,%10,%11}, "
                             "{%0,%1,%2,%3}, %12, %13;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]),
                   "r"(b[2]), "r"(b[3]), "r"(e), "n"(SEL));
  else
    asm volatile(QOPT_MMA_SP ".f32.f16.f16.f32 {%0,%1,%2,%3}, "
                             "{%4,%5,%6,%7}, {%8,%9,%10,%11}, "
                             "{%0,%1,%2,%3}, %12, %13;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]),
                   "r"(b[2]), "r"(b[3]), "r"(e), "n"(SEL));
}

__device__ __forceinline__ void ldmatrix4(uint32_t (&r)[4], const void *p) {
  const unsigned s = unsigned(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, "
               "[%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

/// 16 bytes from global to shared memory; zeros when !valid.
__device__ __forceinline__ void cpAsync16(void *dst, const void *src,
                                          bool valid) {
  const unsigned s = unsigned(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s),
               "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int N> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/// A warp's weight registers of one step: per 16-row tile two chunks of
/// values (hi and lo when split) and one metadata word.
template <int WR, bool SPLIT> struct AFrag {
  uint4 v[WR][2];
  uint4 lo[SPLIT ? WR : 1][2];
  uint32_t e[WR];
};

/// Block: 4 warps, each WR 16-row tiles of W; BT tokens of x; weights
/// loaded PF steps ahead (registers), x in XS shared-memory stages. With
/// AR the weights go through a ring of XS steps in shared memory instead
/// (cp.async, each lane its own chunks, in the same commit groups as x):
/// more bytes in flight than registers allow. grid (row blocks, token
/// blocks, K splits).
template <int WR, int BT, int PF, int XS, bool SPLIT, bool AR>
__device__ __forceinline__ void sparse24Matmul(const SParams &p) {
  constexpr int kArrays = SPLIT ? 2 : 1;
  extern __shared__ uint4 smem4[];
  __half *xs = reinterpret_cast<__half *>(smem4); // [XS][kArrays][BT][kLds]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int tile0 = (blockIdx.x * kWarps + warp) * WR;
  const int m0 = blockIdx.y * BT;
  const int kBegin = blockIdx.z * p.kPer;
  const int kEnd = min(p.kp, kBegin + p.kPer);
  const int chunks = p.kp / 32;
  if (kBegin >= kEnd)
    return;
  const int steps = (kEnd - kBegin) / kStep;

  auto stage = [&](int s, int a) {
    return xs + (size_t(s) * kArrays + a) * BT * kLds;
  };
  // x rows m0.. of step i into its stage: BT x 8 chunks of 16 bytes.
  auto loadX = [&](int i) {
    if (i >= steps)
      return;
    const int k = kBegin + i * kStep;
#pragma unroll
    for (int a = 0; a < kArrays; ++a) {
      const __half *src = static_cast<const __half *>(a ? p.xlo : p.x);
      __half *dst = stage(i % XS, a);
      for (int e = threadIdx.x; e < BT * 8; e += kWarps * 32) {
        const int r = e >> 3, c = (e & 7) * 8;
        const bool valid = m0 + r < p.m;
        cpAsync16(dst + r * kLds + c,
                  src + (valid ? (long long)(m0 + r) * p.kp + k + c : 0),
                  valid);
      }
    }
  };
  auto loadA = [&](int i, AFrag<WR, SPLIT> &f) {
    if (i >= steps)
      return;
    const int c0 = (kBegin + i * kStep) / 32;
#pragma unroll
    for (int r = 0; r < WR; ++r) {
      const int t = tile0 + r;
      const bool ok = t < p.tiles;
      const long long base = ((long long)t * chunks + c0) * 32 + lane;
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        f.v[r][c] = ok ? __ldg(p.w + base + c * 32) : make_uint4(0, 0, 0, 0);
        if (SPLIT)
          f.lo[r][c] =
              ok ? __ldg(p.wlo + base + c * 32) : make_uint4(0, 0, 0, 0);
      }
      f.e[r] = ok ? __ldg(p.meta + ((long long)t * (chunks / 2) + c0 / 2) * 32 +
                          lane)
                  : 0x44444444u;
    }
  };

  // AR: the ring after x's stages; component q (a value chunk, then the
  // metadata words) of slot s of this warp, 16 bytes a lane.
  constexpr int kComp = WR * 2 * (SPLIT ? 2 : 1) + WR;
  uint4 *ringBase =
      reinterpret_cast<uint4 *>(xs + size_t(XS) * kArrays * BT * kLds);
  auto comp = [&](int s, int q) {
    return ringBase + ((size_t(warp) * XS + s) * kComp + q) * 32 + lane;
  };
  auto issueA = [&](int i) {
    if (i >= steps)
      return;
    const int c0 = (kBegin + i * kStep) / 32, s = i % XS;
#pragma unroll
    for (int r = 0; r < WR; ++r) {
      const int t = tile0 + r;
      const bool ok = t < p.tiles;
      const long long base = ((long long)t * chunks + c0) * 32 + lane;
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        cpAsync16(comp(s, r * 2 + c), p.w + (ok ? base + c * 32 : 0), ok);
        if (SPLIT)
          cpAsync16(comp(s, WR * 2 + r * 2 + c),
                    p.wlo + (ok ? base + c * 32 : 0), ok);
      }
      uint32_t *e =
          reinterpret_cast<uint32_t *>(comp(s, WR * 2 * (SPLIT ? 2 : 1) + r));
      if (ok) {
        const unsigned d = unsigned(__cvta_generic_to_shared(e));
        asm volatile(
            "cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(d),
            "l"(p.meta + ((long long)t * (chunks / 2) + c0 / 2) * 32 + lane));
      } else {
        *e = 0x44444444u;
      }
    }
  };
  auto readA = [&](int i, AFrag<WR, SPLIT> &f) {
    const int s = i % XS;
#pragma unroll
    for (int r = 0; r < WR; ++r) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        f.v[r][c] = *comp(s, r * 2 + c);
        if (SPLIT)
          f.lo[r][c] = *comp(s, WR * 2 + r * 2 + c);
      }
      f.e[r] = *reinterpret_cast<const uint32_t *>(
          comp(s, WR * 2 * (SPLIT ? 2 : 1) + r));
    }
  };

  float acc[WR][BT / 8][4] = {};
  AFrag<WR, SPLIT> ring[AR ? 1 : PF];
  if (!AR) {
#pragma unroll
    for (int u = 0; u < (AR ? 1 : PF); ++u)
      loadA(u, ring[u]);
  }
#pragma unroll
  for (int u = 0; u < XS - 1; ++u) {
    loadX(u);
    if (AR)
      issueA(u);
    cpAsyncCommit();
  }
  // ldmatrix: lane l addresses row l % 8 of matrix l / 8 (k offset 8 (l/8)).
  const int ldRow = lane & 7, ldCol = (lane >> 3) * 8;
  constexpr int kUnroll = AR ? 1 : PF;
  for (int base = 0; base < steps; base += kUnroll) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u;
      if (i >= steps)
        break;
      loadX(i + XS - 1);
      AFrag<WR, SPLIT> cur;
      if (AR) {
        issueA(i + XS - 1);
        cpAsyncCommit();
        cpAsyncWait<XS - 1>();
        readA(i, cur);
      } else {
        cpAsyncCommit();
        cur = ring[u];
        loadA(i + PF, ring[u]);
        cpAsyncWait<XS - 1>();
      }
      __syncthreads();
      const __half *xs0 = stage(i % XS, 0), *xs1 = stage(i % XS, SPLIT);
#pragma unroll
      for (int j = 0; j < BT / 8; ++j) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          uint32_t b[4], blo[4];
          ldmatrix4(b, xs0 + (j * 8 + ldRow) * kLds + c * 32 + ldCol);
          if (SPLIT)
            ldmatrix4(blo, xs1 + (j * 8 + ldRow) * kLds + c * 32 + ldCol);
#pragma unroll
          for (int r = 0; r < WR; ++r) {
            if (c == 0) {
              mmaSp<SPLIT, 0>(acc[r][j], cur.v[r][0], b, cur.e[r]);
              if (SPLIT) {
                mmaSp<true, 0>(acc[r][j], cur.v[r][0], blo, cur.e[r]);
                mmaSp<true, 0>(acc[r][j], cur.lo[r][0], b, cur.e[r]);
              }
            } else {
              mmaSp<SPLIT, 1>(acc[r][j], cur.v[r][1], b, cur.e[r]);
              if (SPLIT) {
                mmaSp<true, 1>(acc[r][j], cur.v[r][1], blo, cur.e[r]);
                mmaSp<true, 1>(acc[r][j], cur.lo[r][1], b, cur.e[r]);
              }
            }
          }
        }
      }
      __syncthreads();
    }
  }
  // D (16 rows of N x 8 tokens): lane (g, t) holds rows g, g + 8 and
  // tokens 2t, 2t + 1.
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int r = 0; r < WR; ++r)
#pragma unroll
    for (int j = 0; j < BT / 8; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int row = (tile0 + r) * 16 + g + 8 * (q >> 1);
        const int tok = m0 + j * 8 + 2 * t + (q & 1);
        if (row < p.n && tok < p.m) {
          float *dst = p.c + (long long)tok * p.cM + (long long)row * p.cN;
          if (p.splits > 1)
            atomicAdd(dst, acc[r][j][q]);
          else
            *dst += acc[r][j][q];
        }
      }
}

} // namespace

// Measured on the H200 (f16, M = 1): 4096² 6.9 against 7.7 us with the
// register ring, 8192² 21.3 against 25.0, 11008x4096 14.7 against 18.1;
// 12 steps were slower (7.7 / 23.6 / 24.1), and so were the bf16 hi + lo
// kernels with a ring (100-118 KiB a block: M = 16 at 4096² 22.5 against
// 15.8 us), which keep theirs in registers.
#ifndef QOPT_SP24_RING
#define QOPT_SP24_RING 1
#endif
#ifndef QOPT_SP24_RING_STEPS
#define QOPT_SP24_RING_STEPS 8
#endif
// QOPT_SP24_RING: the one-tile-a-warp (decode) f16 kernels stream their
// weights through a shared-memory ring of QOPT_SP24_RING_STEPS steps.
#define QOPT_SP24_AR(wr, split) (QOPT_SP24_RING && (wr) == 1 && !(split))
#define QOPT_SP24_XS(wr, xs, split)                                            \
  (QOPT_SP24_AR(wr, split) ? QOPT_SP24_RING_STEPS : (xs))
#define QOPT_SP24(name, wr, bt, pf, xs, split)                                 \
  extern "C" __global__ void __launch_bounds__(kWarps * 32) name(SParams p) {  \
    sparse24Matmul<wr, bt, pf, QOPT_SP24_XS(wr, xs, split), split,             \
                   QOPT_SP24_AR(wr, split)>(p);                                \
  }
/// Dynamic shared memory of a kernel: x's stages, then the weight ring.
#define QOPT_SP24_SMEM(wr, bt, xs, split)                                      \
  (QOPT_SP24_XS(wr, xs, split) * ((split) ? 2 : 1) * (bt)*kLds * 2 +           \
   (QOPT_SP24_AR(wr, split) ? kWarps * QOPT_SP24_XS(wr, xs, split) *           \
                                  ((wr)*2 * ((split) ? 2 : 1) + (wr)) * 512    \
                            : 0))
#define QOPT_SP24_ALL(X)                                                       \
  X(qopt_sp24_f16_r1_t8, 1, 8, 4, 4, false)                                    \
  X(qopt_sp24_f16_r1_t16, 1, 16, 4, 4, false)                                  \
  X(qopt_sp24_f16_r2_t32, 2, 32, 2, 3, false)                                  \
  X(qopt_sp24_f16_r2_t64, 2, 64, 1, 2, false)                                  \
  X(qopt_sp24_bf16x3_r1_t8, 1, 8, 3, 3, true)                                  \
  X(qopt_sp24_bf16x3_r1_t16, 1, 16, 3, 3, true)                                \
  X(qopt_sp24_bf16x3_r2_t32, 2, 32, 1, 2, true)                                \
  X(qopt_sp24_bf16x3_r2_t64, 2, 64, 1, 2, true)
// Decode shapes keep 3-4 weight steps in flight (HBM-bound); the wider ones
// 1-2 (registers: PF + 1 copies of a warp's weight registers).
QOPT_SP24_ALL(QOPT_SP24)

/// Dynamic shared memory of each kernel, in the order above (the host
/// launches with it).
#define QOPT_SP24_SMEM_ENTRY(name, wr, bt, pf, xs, split)                      \
  QOPT_SP24_SMEM(wr, bt, xs, split),
extern "C" __device__ const int qopt_sp24_smem[8] = {
    QOPT_SP24_ALL(QOPT_SP24_SMEM_ENTRY)};

namespace {

__device__ __forceinline__ uint32_t packPair(float a, float b, int mode,
                                             bool lo) {
  if (mode == 0) {
    const __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<const uint32_t *>(&h);
  }
  __nv_bfloat16 ha = __float2bfloat16_rn(a), hb = __float2bfloat16_rn(b);
  if (lo) {
    ha = __float2bfloat16_rn(a - __bfloat162float(ha));
    hb = __float2bfloat16_rn(b - __bfloat162float(hb));
  }
  return uint32_t(__bfloat16_as_ushort(ha)) |
         (uint32_t(__bfloat16_as_ushort(hb)) << 16);
}

} // namespace

/// Repacks values [n, k/2] f32 and meta [n, k/8] (Sparse24.h, row strides
/// k/2 and k/8) into the tiled layout above: `w` (f16 when mode 0, bf16 hi
/// when mode 1) and `wlo` (bf16 lo, mode 1), `meta`; kp = k rounded up to
/// 64. One thread per (tile, step, lane).
extern "C" __global__ void __launch_bounds__(256)
    qopt_sp24_pack(const float *values, const uint8_t *meta, int n, int k,
                   int kp, int mode, uint4 *w, uint4 *wlo, uint32_t *tmeta) {
  const int steps = kp / kStep, tiles = (n + 15) / 16;
  const long long total = (long long)tiles * steps * 32;
  for (long long id = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       id < total; id += (long long)gridDim.x * blockDim.x) {
    const int lane = int(id & 31);
    const long long ts = id >> 5;
    const int step = int(ts % steps), tile = int(ts / steps);
    const int g = lane >> 2, t = lane & 3;
    const int row0 = tile * 16 + g, row8 = row0 + 8;
    // The 16 positions (nibbles) of group `grp` of `row`, 0x4 past the end.
    auto nibble = [&](int row, int grp) -> uint32_t {
      if (row >= n || grp * 4 >= k)
        return 0x4u;
      const uint8_t b = meta[(long long)row * (k / 8) + grp / 2];
      return (grp & 1) ? (b >> 4) : (b & 15u);
    };
    auto value = [&](int row, int col) -> float { // col in [0, k/2)
      return row < n && col < k / 2 ? values[(long long)row * (k / 2) + col]
                                    : 0.0f;
    };
    // Values of both chunks of the step.
    for (int c = 0; c < 2; ++c) {
      const int chunk = step * 2 + c;
      const int col = chunk * 16; // compressed column of the chunk
      uint32_t hi[4], lo[4];
      for (int r = 0; r < 4; ++r) {
        const int row = (r & 1) ? row8 : row0;
        const int cc = col + 2 * t + (r >> 1) * 8;
        const float a = value(row, cc), b = value(row, cc + 1);
        hi[r] = packPair(a, b, mode, false);
        lo[r] = packPair(a, b, mode, true);
      }
      const long long o = ((long long)tile * (kp / 32) + chunk) * 32 + lane;
      w[o] = make_uint4(hi[0], hi[1], hi[2], hi[3]);
      if (mode == 1)
        wlo[o] = make_uint4(lo[0], lo[1], lo[2], lo[3]);
    }
    // Metadata: lanes t = 0, 1 the first chunk, t = 2, 3 the second.
    const int chunk = step * 2 + (t >> 1), h = t & 1;
    uint32_t e = 0;
    for (int q = 0; q < 4; ++q) {
      e |= nibble(row0, chunk * 8 + 4 * h + q) << (4 * q);
      e |= nibble(row8, chunk * 8 + 4 * h + q) << (16 + 4 * q);
    }
    tmeta[id] = e;
  }
}

/// x [m, k] f32 (strides xM, xK) to [m, kp] f16 (mode 0) or bf16 hi + lo
/// (mode 1), zeros past k.
extern "C" __global__ void __launch_bounds__(256)
    qopt_sp24_convert_x(const float *x, long long xM, long long xK, int m,
                        int k, int kp, int mode, uint16_t *hi, uint16_t *lo) {
  const long long total = (long long)m * kp;
  for (long long id = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       id < total; id += (long long)gridDim.x * blockDim.x) {
    const int r = int(id / kp), c = int(id % kp);
    const float v = c < k ? x[r * xM + c * xK] : 0.0f;
    if (mode == 0) {
      hi[id] = __half_as_ushort(__float2half_rn(v));
    } else {
      const __nv_bfloat16 h = __float2bfloat16_rn(v);
      hi[id] = __bfloat16_as_ushort(h);
      lo[id] =
          __bfloat16_as_ushort(__float2bfloat16_rn(v - __bfloat162float(h)));
    }
  }
}

/// float32 on the CUDA cores (precision fma), from the untiled storage: a
/// warp per (row of W, token), C[m, n] += Σ over the kept values.
extern "C" __global__ void __launch_bounds__(256)
    qopt_sp24_fma(const float *x, long long xM, long long xK,
                  const float *values, const uint8_t *meta, float *c,
                  long long cM, long long cN, int m, int n, int k) {
  const int lane = threadIdx.x & 31;
  const long long wid = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5;
  if (wid >= (long long)m * n)
    return;
  const int row = int(wid % n), tok = int(wid / n);
  const float *xr = x + tok * xM;
  float sum = 0.0f;
  for (int grp = lane; grp < k / 4; grp += 32) {
    const uint8_t b = meta[(long long)row * (k / 8) + grp / 2];
    const unsigned nib = (grp & 1) ? (b >> 4) : (b & 15u);
    const float *v = values + (long long)row * (k / 2) + 2 * grp;
    sum = fmaf(v[0], xr[(long long)(4 * grp + (nib & 3)) * xK], sum);
    sum = fmaf(v[1], xr[(long long)(4 * grp + (nib >> 2)) * xK], sum);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0)
    c[tok * cM + row * cN] += sum;
}

//===----------------------------------------------------------------------===//
// int8 (W8A8 qopt.qlinear with a 2:4 weight): mma.sp m16n8k32 s8, exact
//===----------------------------------------------------------------------===//

namespace {

/// GPUKernels/Sparse24.cu's int8 launch: x [M, kp] int8 (or uint8) row
/// stride kp, the tiled weight (one uint4 a lane a step: the four values
/// of groups 2t, 2t + 1 of rows g and g + 8, first chunk then second), the
/// tiled metadata (as the f16 kernels'), C int32.
struct IParams {
  const int8_t *x;
  const uint4 *w;
  const uint32_t *meta;
  int *c;
  long long cM, cN;
  int m, n, kp, tiles, kPer, splits;
};

template <bool U8, int SEL>
__device__ __forceinline__ void mmaSpI8(int (&d)[4], uint32_t a0, uint32_t a1,
                                        uint32_t b0, uint32_t b1, uint32_t e) {
  if (U8)
    asm volatile(QOPT_MMA_SP ".s32.s8.u8.s32 {%0,%1,%2,%3}, {%4,%5}, "
                             "{%6,%7}, {%0,%1,%2,%3}, %8, %9;\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(b0), "r"(b1), "r"(e), "n"(SEL));
  else
    asm volatile(QOPT_MMA_SP ".s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, "
                             "{%6,%7}, {%0,%1,%2,%3}, %8, %9;\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(b0), "r"(b1), "r"(e), "n"(SEL));
}

constexpr int kI8Lds = kStep + 16; // bytes a staged x row

/// Block: 4 warps, one 16-row tile each; BT tokens; weights PF steps ahead
/// in registers, x in XS stages.
template <int BT, int PF, int XS, bool U8>
__device__ __forceinline__ void sparse24MatmulI8(const IParams &p) {
  extern __shared__ uint4 smem4[];
  int8_t *xs = reinterpret_cast<int8_t *>(smem4); // [XS][BT][kI8Lds]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int tile = blockIdx.x * kWarps + warp;
  const int m0 = blockIdx.y * BT;
  const int kBegin = blockIdx.z * p.kPer;
  const int kEnd = min(p.kp, kBegin + p.kPer);
  if (kBegin >= kEnd)
    return;
  const int steps = (kEnd - kBegin) / kStep;
  const int allSteps = p.kp / kStep;
  const bool ok = tile < p.tiles;
  auto loadX = [&](int i) {
    if (i >= steps)
      return;
    const int k = kBegin + i * kStep;
    int8_t *dst = xs + (i % XS) * BT * kI8Lds;
    for (int e = threadIdx.x; e < BT * 4; e += kWarps * 32) {
      const int r = e >> 2, c = (e & 3) * 16;
      const bool valid = m0 + r < p.m;
      cpAsync16(dst + r * kI8Lds + c,
                p.x + (valid ? (long long)(m0 + r) * p.kp + k + c : 0), valid);
    }
  };
  auto loadA = [&](int i, uint4 &v, uint32_t &e) {
    if (i >= steps)
      return;
    const long long s = (long long)tile * allSteps + (kBegin / kStep + i);
    v = ok ? __ldg(p.w + s * 32 + lane) : make_uint4(0, 0, 0, 0);
    e = ok ? __ldg(p.meta + s * 32 + lane) : 0x44444444u;
  };
  int acc[BT / 8][4] = {};
  uint4 ring[PF];
  uint32_t ringE[PF];
#pragma unroll
  for (int u = 0; u < PF; ++u)
    loadA(u, ring[u], ringE[u]);
#pragma unroll
  for (int u = 0; u < XS - 1; ++u) {
    loadX(u);
    cpAsyncCommit();
  }
  const int g = lane >> 2, t = lane & 3;
  for (int base = 0; base < steps; base += PF) {
#pragma unroll
    for (int u = 0; u < PF; ++u) {
      const int i = base + u;
      if (i >= steps)
        break;
      loadX(i + XS - 1);
      cpAsyncCommit();
      const uint4 v = ring[u];
      const uint32_t e = ringE[u];
      loadA(i + PF, ring[u], ringE[u]);
      cpAsyncWait<XS - 1>();
      __syncthreads();
      const int8_t *x0 = xs + (i % XS) * BT * kI8Lds;
#pragma unroll
      for (int j = 0; j < BT / 8; ++j) {
        const int8_t *row = x0 + (j * 8 + g) * kI8Lds + 4 * t;
        const uint32_t b00 = *reinterpret_cast<const uint32_t *>(row);
        const uint32_t b01 = *reinterpret_cast<const uint32_t *>(row + 16);
        const uint32_t b10 = *reinterpret_cast<const uint32_t *>(row + 32);
        const uint32_t b11 = *reinterpret_cast<const uint32_t *>(row + 48);
        mmaSpI8<U8, 0>(acc[j], v.x, v.y, b00, b01, e);
        mmaSpI8<U8, 1>(acc[j], v.z, v.w, b10, b11, e);
      }
      __syncthreads();
    }
  }
#pragma unroll
  for (int j = 0; j < BT / 8; ++j)
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int row = tile * 16 + g + 8 * (q >> 1);
      const int tok = m0 + j * 8 + 2 * t + (q & 1);
      if (row < p.n && tok < p.m) {
        int *dst = p.c + (long long)tok * p.cM + (long long)row * p.cN;
        if (p.splits > 1)
          atomicAdd(dst, acc[j][q]);
        else
          *dst += acc[j][q];
      }
    }
}

} // namespace

#define QOPT_SP24_I8(name, bt, pf, xs, u8)                                     \
  extern "C" __global__ void __launch_bounds__(kWarps * 32) name(IParams p) {  \
    sparse24MatmulI8<bt, pf, xs, u8>(p);                                       \
  }
QOPT_SP24_I8(qopt_sp24_s8_t8, 8, 4, 4, false)
QOPT_SP24_I8(qopt_sp24_s8_t32, 32, 2, 3, false)
QOPT_SP24_I8(qopt_sp24_u8_t8, 8, 4, 4, true)
QOPT_SP24_I8(qopt_sp24_u8_t32, 32, 2, 3, true)

/// Dynamic shared memory of the int8 kernels (t8, t32).
extern "C" __device__ const int qopt_sp24_i8_smem[2] = {4 * 8 * kI8Lds,
                                                        3 * 32 * kI8Lds};

/// Repacks int8 values [n, k/2] and meta [n, k/8] into the int8 kernels'
/// layout (above); kp = k rounded up to 64; one thread per (tile, step,
/// lane).
extern "C" __global__ void __launch_bounds__(256)
    qopt_sp24_pack_i8(const int8_t *values, const uint8_t *meta, int n, int k,
                      int kp, uint4 *w, uint32_t *tmeta, int metaRows) {
  const int steps = kp / kStep, tiles = (n + 15) / 16;
  const long long total = (long long)tiles * steps * 32;
  for (long long id = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       id < total; id += (long long)gridDim.x * blockDim.x) {
    const int lane = int(id & 31);
    const long long ts = id >> 5;
    const int step = int(ts % steps), tile = int(ts / steps);
    const int g = lane >> 2, t = lane & 3;
    const int row0 = tile * 16 + g, row8 = row0 + 8;
    auto word = [&](int row, int col) -> uint32_t { // 4 values from col
      uint32_t v = 0;
      for (int b = 0; b < 4; ++b)
        if (row < n && col + b < k / 2)
          v |= uint32_t(uint8_t(values[(long long)row * (k / 2) + col + b]))
               << (8 * b);
      return v;
    };
    auto nibble = [&](int row, int grp) -> uint32_t {
      if (row >= n || grp * 4 >= k)
        return 0x4u;
      const uint8_t b = meta[(long long)row * (k / 8) + grp / 2];
      return (grp & 1) ? (b >> 4) : (b & 15u);
    };
    const int c0 = step * 2 * 16 + 4 * t, c1 = c0 + 16;
    w[id] = make_uint4(word(row0, c0), word(row8, c0), word(row0, c1),
                       word(row8, c1));
    const int chunk = step * 2 + (t >> 1), h = t & 1;
    uint32_t e = 0;
    if (metaRows) { // the other order: row g (h = 0) or g + 8, 8 groups
      for (int q = 0; q < 8; ++q)
        e |= nibble(h ? row8 : row0, chunk * 8 + q) << (4 * q);
    } else {
      for (int q = 0; q < 4; ++q) {
        e |= nibble(row0, chunk * 8 + 4 * h + q) << (4 * q);
        e |= nibble(row8, chunk * 8 + 4 * h + q) << (16 + 4 * q);
      }
    }
    tmeta[id] = e;
  }
}

/// x [m, k] int8 (strides xM, xK) to [m, kp], zeros past k.
extern "C" __global__ void __launch_bounds__(256)
    qopt_sp24_convert_x_i8(const int8_t *x, long long xM, long long xK, int m,
                           int k, int kp, int8_t *out) {
  const long long total = (long long)m * kp;
  for (long long id = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       id < total; id += (long long)gridDim.x * blockDim.x) {
    const int r = int(id / kp), c = int(id % kp);
    out[id] = c < k ? x[r * xM + c * xK] : int8_t(0);
  }
}
