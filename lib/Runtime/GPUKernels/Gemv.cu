//===- Gemv.cu - GEMV kernels for LLM decoding (batch 1-16) ---------------===//
//
// y[b, n] = sum_k x[b, k] * W'[n, k] for x, y float16 and W float16, int8
// (per-row scale) or int4 (signed or with zero points, block-wise scales).
// Compiled to PTX at build time (sm_80, sm_89, sm_90) and embedded in the
// runtime, which loads it through the driver: see docs/Runtime/CUDA.md.
//
// The weights are what costs: each is read once, in 16-byte loads that skip
// L1, and nothing else may slow the stream. So the arithmetic runs on the
// tensor cores (mma.sync m16n8k16, f16 inputs, f32 accumulation) with W as
// the 16-row A operand and x as the 8-column B operand (one column per batch
// row; a second n-tile for batch 9-16): a warp's lane (g = lane/4, t =
// lane%4) loads 16 bytes of rows g and g+8 at the same k and 16 bytes of
// x[g] at those k. The mma sums over its 16 k "slots" whatever physical k
// the fragments hold, as long as A and B agree, so each lane maps its own
// consecutive k onto its slots and no shuffle or shared-memory staging is
// needed. int8 is widened to exact float16 integers (the 0x6400 = 1024.0
// exponent trick: or the bits into the mantissa, subtract 1024 + offset);
// int4 nibbles are masked straight into the mantissa of a float16 with a
// zero exponent, i.e. the exact subnormal u * 2^-24 (one lop3 per pair of
// weights, nothing else), and the zero point (8 for signed nibbles, which
// the lop3 flips to u = q + 8) comes off once per group in f32 from the sum
// of x over the group, which the tensor cores also compute. So the tensor
// cores multiply x by the integer weight and the scale (and the zero
// point) apply once per group or row in f32:
//   sum_g s_g * (sum_{k in g} x_k u_k - z_g sum_{k in g} x_k).
//
// A warp step covers 16 rows x (32 f16 | 64 int8 | 128 int4) k, i.e. 64
// bytes of each row; a block's warps take steps round-robin (split K) and
// add their partial sums in shared memory at the end. The int4 kernels also
// stage x once per block in shared memory, already in the order of the mma
// B fragments, when the launch gives them the room (batch 1, x small).
//
//===----------------------------------------------------------------------===//

#include <cuda_fp16.h>
#include <stdint.h>

// Tuning switches (benchmarks/gpu/run_on_device.sh compares variants).
// Kernels of at least this many row tiles stream the weights through a
// cp.async ring in shared memory; the others double-buffer them in registers
// (measured on an H200: registers win at one tile, the ring at two).
#ifndef QOPT_GEMV_RING_MIN_TILES
#define QOPT_GEMV_RING_MIN_TILES 2
#endif
// int4 widening: 1 (default) the nibble as a float16 subnormal, zero point
// applied per group through the sum of x; 2 the same with 1024 + nibble
// (0x6400) values; 0 exact q - z per weight (one more f16x2 op a pair, the
// kernels of commit 0557378), for comparison.
#ifndef QOPT_GEMV_I4_SCHEME
#define QOPT_GEMV_I4_SCHEME 1
#endif
// int4: stage x in shared memory (when the launch gives the room; 0: never).
#ifndef QOPT_GEMV_I4_XSTAGE
#define QOPT_GEMV_I4_XSTAGE 1
#endif
// cp.async kernels: issue every warp's first slot before the block's set-up
// and the other slots after it (0: all slots first).
#ifndef QOPT_GEMV_RING_STAGGER
#define QOPT_GEMV_RING_STAGGER 1
#endif
// The most bytes of staged x the runtime gives an int4 launch (2 * batch *
// k; read from the module's qopt_gemv_xstage_bytes).
#ifndef QOPT_GEMV_XSTAGE_MAX
#define QOPT_GEMV_XSTAGE_MAX 32768
#endif

namespace {

// kU4: int4 with zero points (unsigned nibbles).
enum Format { kF16 = 0, kI8 = 1, kI4 = 2, kU4 = 3 };

constexpr int kMaxWarps = 8;

/// The kernels' one argument (passed by value).
struct Params {
  const __half *x;        // [batch, k]
  const uint8_t *w;       // [n, k] f16 | [n, k] i8 | [n, k/2] packed int4
  const void *scales;     // i8: [n]; i4: [n, k/group]
  const uint8_t *zeros;   // i4 with zero points: [n, k/group]; else null
  const __half *bias;     // [n] or null
  __half *y;              // [batch, n]
  int batch, n, k, group; // group: i4 only (a multiple of 128)
  int scaleF32;           // scales are f32 (else f16)
  int asym;               // i4: unsigned nibbles with zero points (the
                          // kernels know it from their format)
};

// Weights: read once, so they skip L1 (QOPT_GEMV_L2_PREFETCH=1 adds a
// 256-byte L2 prefetch hint, for tuning).
#if QOPT_GEMV_L2_PREFETCH
#define QOPT_LD_STREAM "ld.global.nc.L1::no_allocate.L2::256B.v4.u32"
#else
#define QOPT_LD_STREAM "ld.global.nc.L1::no_allocate.v4.u32"
#endif
__device__ __forceinline__ uint4 loadStream(const uint8_t *p) {
  uint4 v;
  asm(QOPT_LD_STREAM " {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

/// 16 bytes global -> shared without registers; `bytes` 0 writes zeros
/// and reads nothing. With `kL2Prefetch`, L2 fetches QOPT_GEMV_RING_L2PF
/// (128 or 256) bytes around each copy from memory: the neighbouring warps'
/// steps (int4 kernels with one batch tile only).
#ifndef QOPT_GEMV_RING_L2PF
#define QOPT_GEMV_RING_L2PF 256 // measured: 256 beats none (0)
#endif
template <bool kL2Prefetch>
__device__ __forceinline__ void cpAsync16(uint32_t dst, const void *src,
                                          int bytes) {
  if (kL2Prefetch && QOPT_GEMV_RING_L2PF == 256)
    asm volatile(
        "cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;" ::"r"(dst),
        "l"(src), "r"(bytes)
        : "memory");
  else if (kL2Prefetch && QOPT_GEMV_RING_L2PF == 128)
    asm volatile(
        "cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;" ::"r"(dst),
        "l"(src), "r"(bytes)
        : "memory");
  else
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst),
                 "l"(src), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int N> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
__device__ __forceinline__ uint4 loadShared(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(addr)
               : "memory");
  return v;
}

__device__ __forceinline__ void storeShared(uint32_t addr, uint4 v) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(v.x),
               "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

__device__ __forceinline__ void prefetchL2(const void *p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

__device__ __forceinline__ uint4 loadCached(const __half *p) {
  return __ldg(reinterpret_cast<const uint4 *>(p));
}

__device__ __forceinline__ void mma(float (&c)[4], uint32_t a0, uint32_t a1,
                                    uint32_t a2, uint32_t a3, uint32_t b0,
                                    uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t hsub2(uint32_t a, uint32_t b) {
  uint32_t d;
  asm("sub.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}

#if QOPT_GEMV_I4_SCHEME == 0
__device__ __forceinline__ uint32_t hfma2(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}
#endif

__device__ __forceinline__ uint32_t lop3AndXor(uint32_t a, uint32_t mask,
                                               uint32_t bits) {
  uint32_t d;
  // (a & mask) ^ bits
  asm("lop3.b32 %0, %1, %2, %3, 0x6A;"
      : "=r"(d)
      : "r"(a), "r"(mask), "r"(bits));
  return d;
}

__device__ __forceinline__ const uint32_t *words(const uint4 &v) {
  return reinterpret_cast<const uint32_t *>(&v);
}

__device__ __forceinline__ float decodeScale(const Params &p, uint32_t bits) {
  return p.scaleF32 ? __uint_as_float(bits)
                    : __half2float(__ushort_as_half((unsigned short)bits));
}

__device__ __forceinline__ float loadScale(const Params &p, int64_t i) {
  return p.scaleF32
             ? __ldg(static_cast<const float *>(p.scales) + i)
             : __half2float(__ldg(static_cast<const __half *>(p.scales) + i));
}

// Steps whose loads a warp issues before it uses the first (bytes in
// flight per warp: unroll x row tiles x 1 KiB). Overridable for tuning.
#ifndef QOPT_GEMV_UNROLL_F16
#define QOPT_GEMV_UNROLL_F16 4
#endif
#ifndef QOPT_GEMV_UNROLL_I8
#define QOPT_GEMV_UNROLL_I8 4
#endif
#ifndef QOPT_GEMV_UNROLL_I4
#define QOPT_GEMV_UNROLL_I4 2
#endif

template <int FMT> struct Traits;
// Per lane and row, one step reads 16 bytes: 8 (f16), 16 (i8), 32 (i4) k;
// x takes 16 bytes per 8 k.
template <> struct Traits<kF16> {
  static constexpr int kPerLane = 8, xLoads = 1;
};
template <> struct Traits<kI8> {
  static constexpr int kPerLane = 16, xLoads = 2;
};
template <> struct Traits<kI4> {
  static constexpr int kPerLane = 32, xLoads = 4;
};
template <> struct Traits<kU4> : Traits<kI4> {};

#ifndef QOPT_GEMV_RING
#define QOPT_GEMV_RING 8 // steps in flight per warp (f16, int8)
#endif
#ifndef QOPT_GEMV_RING_I4
#define QOPT_GEMV_RING_I4 4 // one batch tile (measured: 4 beats 6 and 8)
#endif
#ifndef QOPT_GEMV_RING_I4_N2
#define QOPT_GEMV_RING_I4_N2 6 // two batch tiles
#endif

/// The shared-memory ring of the cp.async path, per warp: `slots` steps of
/// MT x 2 rows x 32 lanes x 16 bytes.
template <int FMT, int NT, int MT> struct Ring {
  static constexpr int slots = (FMT < kI4 ? QOPT_GEMV_RING
                                : NT == 1 ? QOPT_GEMV_RING_I4
                                          : QOPT_GEMV_RING_I4_N2) /
                               MT;
  static constexpr int slotBytes = MT * 2 * 32 * 16;
  static constexpr int warpBytes =
      MT >= QOPT_GEMV_RING_MIN_TILES ? slots * slotBytes : 0;
};

/// int8 word (k0..k3) -> two f16x2 (k0, k1), (k2, k3) holding exact q.
__device__ __forceinline__ void widenI8(uint32_t w, uint32_t &lo,
                                        uint32_t &hi) {
  const uint32_t u = w ^ 0x80808080u; // q + 128, unsigned
  const uint32_t magic = 0x64646464u;
  const uint32_t bias = 0x64806480u; // f16x2 (1152, 1152) = 1024 + 128
  lo = hsub2(__byte_perm(u, magic, 0x4140), bias);
  hi = hsub2(__byte_perm(u, magic, 0x4342), bias);
}

// --- int4 ---------------------------------------------------------------
//
// Lane (g, t) holds 16 bytes (32 k) of rows g and g + 8 per row tile; word i
// of them holds k = 8i..8i+7, nibble j = k 8i+j. One lop3 masks a pair of
// nibbles into the two halves of an f16x2: nibbles (0, 4) and, after >> 8,
// (2, 6) in place ("lo" pairs: value u), nibbles (1, 5) and (3, 7) 16 times
// higher ("hi" pairs: 16u). The lo pairs of word i are the A fragment of one
// mma and its hi pairs of another, so the two kinds never share a sum: the
// lo mmas accumulate in `lo`, the hi ones in `hi`, and 16 lo + hi is the
// step's sum of x u. x's B fragments follow the same order: per word i,
// (x0, x4), (x2, x6), (x1, x5), (x3, x7), made by four byte permutes of x
// or read ready from the staged copy.
//
// Scheme 1: the exponent field stays 0, so a lo half is the float16
// subnormal u * 2^-24 (exact; the tensor cores take subnormal inputs), a hi
// half 16u * 2^-24; 16 lo + hi = 2^-20 sum x u. The zero point z (8 for
// signed nibbles, which the lop3 flips to u = q + 8) comes off per group as
// z * sum x, computed by the same mmas with A all 2^-20:
//   2^20 * (16 lo + hi - z X),  X = 2^-20 sum_k x_k.
// Scheme 2: the values are 1024 + u and 1024 + 16u (0x6400 in the
// exponent), so 16 lo + hi - (1024 + z) Xlo - (64 + z) Xhi with X* = 16 sum
// of x over the lo / hi k, times 1/16.
// Scheme 0: the weights widened to exact q - z before the mma (the kernels
// of commit 0557378).

#if QOPT_GEMV_I4_SCHEME == 0
/// The constants of widenI4 for one row and group: zero point `z` (8 for
/// signed weights, whose nibbles the lop3 flips to q + 8 on the way).
struct I4Consts {
  uint32_t bitsLo, bitsHi; // 0x6400 exponent | flip bits, f16x2
  uint32_t offLo, offHi;   // f16x2 (1024 + z) and -(64 + z)
};

__device__ __forceinline__ I4Consts i4Consts(uint32_t z, bool asym) {
  I4Consts c;
  const uint32_t magic = 0x64006400u;
  c.bitsLo = asym ? magic : magic | 0x00080008u;
  c.bitsHi = asym ? magic : magic | 0x00800080u;
  const uint32_t lo = 0x6400u + z; // 1024 + z, exact for z < 1024
  c.offLo = lo | (lo << 16);
  const uint32_t hi = __half_as_ushort(__float2half_rn(-64.f - float(z)));
  c.offHi = hi | (hi << 16);
  return c;
}

/// int4 word -> four f16x2 holding exact q - z: out[s] = (k s, k s+4).
__device__ __forceinline__ void widenI4(uint32_t w, const I4Consts &c,
                                        uint32_t (&out)[4]) {
  const uint32_t sixteenth = 0x2C002C00u; // f16x2 (1/16, 1/16)
  const uint32_t w8 = w >> 8;
  out[0] = hsub2(lop3AndXor(w, 0x000F000Fu, c.bitsLo), c.offLo);
  out[1] = hfma2(lop3AndXor(w, 0x00F000F0u, c.bitsHi), sixteenth, c.offHi);
  out[2] = hsub2(lop3AndXor(w8, 0x000F000Fu, c.bitsLo), c.offLo);
  out[3] = hfma2(lop3AndXor(w8, 0x00F000F0u, c.bitsHi), sixteenth, c.offHi);
}
#endif

/// What y of an int4 kernel is multiplied by at the end.
constexpr float kI4OutScale = QOPT_GEMV_I4_SCHEME == 1   ? 1048576.f // 2^20
                              : QOPT_GEMV_I4_SCHEME == 2 ? 0.0625f
                                                         : 1.f;

/// The B fragments of int4 word i of x (x0..x7 in v): (x0, x4), (x2, x6),
/// (x1, x5), (x3, x7).
__device__ __forceinline__ uint4 i4XFragments(const uint4 &v) {
  return make_uint4(
      __byte_perm(v.x, v.z, 0x5410), __byte_perm(v.y, v.w, 0x5410),
      __byte_perm(v.x, v.z, 0x7632), __byte_perm(v.y, v.w, 0x7632));
}

/// One int4 step of a warp: weights `w` (rows g, g + 8 of each row tile),
/// the x fragments `b` ([batch tile][word], as i4XFragments), the rows'
/// scales and zero points (unsigned; ignored for signed nibbles).
template <bool ASYM, int NT, int MT>
__device__ __forceinline__ void
i4Step(const uint4 (&w)[MT][2], const uint4 (&b)[NT][4],
       const float (&scale)[MT][2], const uint32_t (&zero)[MT][2],
       float (&acc)[MT][NT][4]) {
#if QOPT_GEMV_I4_SCHEME == 0
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    uint32_t a[2][16];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const I4Consts consts = i4Consts(ASYM ? zero[m][h] : 8u, ASYM);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        uint32_t q[4];
        widenI4(words(w[m][h])[i], consts, q);
#pragma unroll
        for (int s = 0; s < 4; ++s)
          a[h][4 * i + s] = q[s];
      }
    }
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      float c[2][4] = {};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t *x = words(b[nt][i]);
        mma(c[0], a[0][4 * i], a[1][4 * i], a[0][4 * i + 1], a[1][4 * i + 1],
            x[0], x[2]);
        mma(c[1], a[0][4 * i + 2], a[1][4 * i + 2], a[0][4 * i + 3],
            a[1][4 * i + 3], x[1], x[3]);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e)
        acc[m][nt][e] += scale[m][e >> 1] * (c[0][e] + c[1][e]);
    }
  }
#else
  constexpr uint32_t magic = QOPT_GEMV_I4_SCHEME == 2 ? 0x64006400u : 0u;
  constexpr uint32_t bitsLo = magic | (ASYM ? 0u : 0x00080008u);
  constexpr uint32_t bitsHi = magic | (ASYM ? 0u : 0x00800080u);
  // A of the sums of x: 2^-20 (subnormal) or 16.
  constexpr uint32_t one = QOPT_GEMV_I4_SCHEME == 2 ? 0x4C004C00u : 0x00100010u;
  // Sums of x over the lo and hi k of the step, per batch column (the same
  // in every row: elements 0, 1 = 2, 3).
  float xlo[NT][4], xhi[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int e = 0; e < 4; ++e)
      xlo[nt][e] = xhi[nt][e] = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t *x = words(b[nt][i]);
      mma(xlo[nt], one, one, one, one, x[0], x[1]);
      mma(xhi[nt], one, one, one, one, x[2], x[3]);
    }
  }
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    // [h][word][pair]: lo (nibbles 0,4 | 2,6), hi (1,5 | 3,7).
    uint32_t lo[2][4][2], hi[2][4][2];
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t v = words(w[m][h])[i], v8 = v >> 8;
        lo[h][i][0] = lop3AndXor(v, 0x000F000Fu, bitsLo);
        lo[h][i][1] = lop3AndXor(v8, 0x000F000Fu, bitsLo);
        hi[h][i][0] = lop3AndXor(v, 0x00F000F0u, bitsHi);
        hi[h][i][1] = lop3AndXor(v8, 0x00F000F0u, bitsHi);
      }
    float z[2];
#pragma unroll
    for (int h = 0; h < 2; ++h)
      z[h] = ASYM ? float(zero[m][h]) : 8.f;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      float cl[4] = {}, ch[4] = {};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t *x = words(b[nt][i]);
        mma(cl, lo[0][i][0], lo[1][i][0], lo[0][i][1], lo[1][i][1], x[0], x[1]);
        mma(ch, hi[0][i][0], hi[1][i][0], hi[0][i][1], hi[1][i][1], x[2], x[3]);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float s = fmaf(cl[e], 16.f, ch[e]);
#if QOPT_GEMV_I4_SCHEME == 2
        s = fmaf(-(1024.f + z[e >> 1]), xlo[nt][e & 1], s);
        s = fmaf(-(64.f + z[e >> 1]), xhi[nt][e & 1], s);
#else
        s = fmaf(-z[e >> 1], xlo[nt][e & 1] + xhi[nt][e & 1], s);
#endif
        acc[m][nt][e] = fmaf(scale[m][e >> 1], s, acc[m][nt][e]);
      }
    }
  }
#endif
}

/// Bytes of staged x an int4 launch needs: 64 per (step, t, batch row).
__device__ __forceinline__ uint32_t xStageBytes(int batch, int k) {
  return uint32_t(2 * batch) * uint32_t(k);
}

template <int FMT, int NT, int MT>
__device__ __forceinline__ void gemv(const Params &p) {
  using T = Traits<FMT>;
  constexpr bool kInt4 = FMT >= kI4, kAsym = FMT == kU4;
  constexpr int kPerStep = 4 * T::kPerLane;
  constexpr int rowBytesPerK2 = FMT == kF16 ? 4 : FMT == kI8 ? 2 : 1; // x2
  using R = Ring<FMT, NT, MT>;
  __shared__ float4 partial[kMaxWarps][MT][NT][32];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int K = p.k, N = p.n;
  const int64_t rowBytes = int64_t(K) * rowBytesPerK2 / 2;
  const int nsteps = (K + kPerStep - 1) / kPerStep;
  const int rowBase = blockIdx.x * 16 * MT;

  // Dynamic shared memory: the warps' cp.async rings, then (int4) staged x.
  extern __shared__ __align__(16) unsigned char dynamicSmem[];
  const uint32_t smemBase =
      static_cast<uint32_t>(__cvta_generic_to_shared(dynamicSmem));
  uint32_t dynamicBytes;
  asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dynamicBytes));
  const uint32_t ringTotal = uint32_t(warps * R::warpBytes);
  if (dynamicBytes < ringTotal)
    __trap(); // launched without its ring (see qopt_gemv_ring_bytes)
  const uint32_t xStage = smemBase + ringTotal;
  const bool xStaged = kInt4 && NT == 1 && QOPT_GEMV_I4_XSTAGE &&
                       dynamicBytes >= ringTotal + xStageBytes(p.batch, K);

  // The rows this lane reads (clamped to row 0 when past N: loaded but
  // never stored, so the loads need no predicate). Their addresses are
  // formed at each load (one 32 x 32 -> 64-bit multiply-add) rather than
  // held: 64-bit pointers would cost registers the int4 kernels lack.
  int rowIdx[MT][2];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = rowBase + m * 16 + g + 8 * h;
      rowIdx[m][h] = row < N ? row : 0;
    }
  // Row (m, h) of this lane's weights, `off` bytes in (K < 2^31, so a row
  // has fewer than 2^32 bytes).
  auto wAt = [&](int m, int h, int64_t off) {
    return p.w + off + uint64_t(uint32_t(rowIdx[m][h])) * uint32_t(rowBytes);
  };
  const __half *xRow[NT];
  bool batchOk[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int b = nt * 8 + g;
    batchOk[nt] = b < p.batch;
    xRow[nt] = p.x + int64_t(batchOk[nt] ? b : 0) * K;
  }

  // int4: each row's scales (and zero points), and the group of a step.
  const int groups = kInt4 ? K / p.group : 1;
  // (The runtime checks that n * k / group is below 2^31.)
  const uint32_t scaleBytes = p.scaleF32 ? 4 : 2;
  uint32_t sIdx[MT][2]; // index of the row's first scale and zero point
  const int stepsPerGroup = kInt4 ? p.group / kPerStep : 1;
  const bool groupPow2 = (stepsPerGroup & (stepsPerGroup - 1)) == 0;
  const int groupShift = __ffs(stepsPerGroup) - 1;
  if constexpr (kInt4) {
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        sIdx[m][h] = uint32_t(rowIdx[m][h]) * uint32_t(groups);
      }
  }
  // The cp.async kernels read each row's scales (zero points) a few bytes
  // at a time, one step ahead: into L2 with them now.
  auto prefetchScales = [&]() {
    if constexpr (kInt4) {
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const unsigned char *s =
              static_cast<const unsigned char *>(p.scales) +
              uint64_t(sIdx[m][h]) * scaleBytes;
          for (uint32_t off = 32 * t; off < groups * scaleBytes; off += 128)
            prefetchL2(s + off);
          if (kAsym)
            for (uint32_t off = 32 * t; off < uint32_t(groups); off += 128)
              prefetchL2(p.zeros + sIdx[m][h] + off);
        }
    }
  };
  auto groupOf = [&](int step) {
    return groupPow2 ? step >> groupShift : step / stepsPerGroup;
  };

  // Two sets of accumulators, alternating with the step, so that the
  // dependent chains of mma (about 30 cycles each) are half as long.
  float accs[2][MT][NT][4];
#pragma unroll
  for (int j = 0; j < 2; ++j)
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i)
          accs[j][m][nt][i] = 0.f;

  // int4, staged x: 64 bytes per (step s, lane t, batch row b), chunk c =
  // (4 s + t) * batch + b, holding the B fragments of x[b][128 s + 32 t ..
  // +31] (i4XFragments of each 8). Filled by the whole block once, after
  // the first weight loads are in flight.
  auto stageX = [&]() {
    if (!xStaged)
      return;
    const int chunks = nsteps * 4 * p.batch;
    for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
      const int b = c % p.batch, st = c / p.batch;
      const __half *src = p.x + int64_t(b) * K + st * 32;
      uint4 v[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        v[i] = loadCached(src + 8 * i);
#pragma unroll
      for (int i = 0; i < 4; ++i)
        storeShared(xStage + c * 64 + i * 16, i4XFragments(v[i]));
    }
    __syncthreads();
  };
  // int4: the x fragments of step `step` for this lane. Lanes past the
  // batch read row 0: their columns of the mma are never stored, and the
  // columns never mix.
  auto loadXI4 = [&](int step, uint4(&b)[NT][4]) {
    const int k0 = step * kPerStep + t * T::kPerLane;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int bRow = batchOk[nt] ? nt * 8 + g : 0;
      if (xStaged) {
        const uint32_t chunk = xStage + ((4 * step + t) * p.batch + bRow) * 64;
#pragma unroll
        for (int i = 0; i < 4; ++i)
          b[nt][i] = loadShared(chunk + i * 16);
      } else {
#pragma unroll
        for (int i = 0; i < 4; ++i)
          b[nt][i] = i4XFragments(loadCached(xRow[nt] + k0 + 8 * i));
      }
    }
  };

  // One step of this warp: weights `w` (rows g and g + 8 of each row tile,
  // 16 bytes each), int4 scale bits and zero points per row. x is read
  // here: it is small and every warp of the SM reads the same, so it comes
  // from L1 (int4: from the staged copy, when there is one).
  auto computeStep = [&](const uint4(&w)[MT][2], const uint32_t(&sBits)[MT][2],
                         const uint32_t(&zero)[MT][2], int step, int parity) {
    // int4 adds each step's sums with one f32 fma: one set will do.
    auto &acc = accs[kInt4 ? 0 : parity];
    if constexpr (kInt4) {
      uint4 b[NT][4];
      loadXI4(step, b);
      float scale[MT][2];
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          scale[m][h] = decodeScale(p, sBits[m][h]);
      i4Step<kAsym, NT, MT>(w, b, scale, zero, acc);
      return;
    }
    const int k0 = step * kPerStep + t * T::kPerLane;
    const bool kOk = k0 < K;
    uint4 xv[NT][T::xLoads];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < T::xLoads; ++i)
        xv[nt][i] = kOk && batchOk[nt] ? loadCached(xRow[nt] + k0 + 8 * i)
                                       : make_uint4(0, 0, 0, 0);
    if constexpr (FMT == kF16) {
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        const uint32_t *a = words(w[m][0]), *a8 = words(w[m][1]);
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint32_t *b = words(xv[nt][0]);
          mma(acc[m][nt], a[0], a8[0], a[1], a8[1], b[0], b[1]);
          mma(acc[m][nt], a[2], a8[2], a[3], a8[3], b[2], b[3]);
        }
      }
    } else if constexpr (FMT == kI8) {
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        uint32_t a[8], a8[8];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          widenI8(words(w[m][0])[i], a[2 * i], a[2 * i + 1]);
          widenI8(words(w[m][1])[i], a8[2 * i], a8[2 * i + 1]);
        }
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint32_t *b0 = words(xv[nt][0]);
          const uint32_t *b1 = words(xv[nt][1]);
          mma(acc[m][nt], a[0], a8[0], a[1], a8[1], b0[0], b0[1]);
          mma(acc[m][nt], a[2], a8[2], a[3], a8[3], b0[2], b0[3]);
          mma(acc[m][nt], a[4], a8[4], a[5], a8[5], b1[0], b1[1]);
          mma(acc[m][nt], a[6], a8[6], a[7], a8[7], b1[2], b1[3]);
        }
      }
    }
  };
  // The scale bits and zero point of each row of int4 step `step`.
  auto loadGroup = [&](int step, uint32_t(&sBits)[MT][2],
                       uint32_t(&zero)[MT][2]) {
    const uint32_t grp = groupOf(step);
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint32_t i = sIdx[m][h] + grp;
        const void *s = static_cast<const unsigned char *>(p.scales) +
                        uint64_t(i) * scaleBytes;
        sBits[m][h] =
            p.scaleF32
                ? __ldg(static_cast<const uint32_t *>(s))
                : uint32_t(__ldg(static_cast<const unsigned short *>(s)));
        zero[m][h] = kAsym ? uint32_t(__ldg(p.zeros + i)) : 8u;
      }
  };

  if constexpr (MT >= QOPT_GEMV_RING_MIN_TILES) {
    // The weights stream through a ring of R::slots steps in shared memory,
    // filled by cp.async (no registers held while in flight). Each lane reads
    // back only what it copied itself, so no barrier is needed.
    const uint32_t myRing = smemBase + warp * R::warpBytes + lane * 16;
    const int mySteps = warp < nsteps ? (nsteps - warp + warps - 1) / warps : 0;
    // int8 / int4: steps are issued in order, so each row's source advances
    // by a warp stride a step (past the end of the row nothing is read: 0
    // bytes); float16 forms each address anew (measured faster there).
    constexpr bool kAdvance = FMT != kF16;
    const uint8_t *src[MT][2];
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        src[m][h] =
            wAt(m, h,
                int64_t(warp * kPerStep + t * T::kPerLane) * rowBytesPerK2 / 2);
    const int srcStride = warps * kPerStep * rowBytesPerK2 / 2;
    auto issue = [&](int i, uint32_t slot) {
      const int k0 = (warp + i * warps) * kPerStep + t * T::kPerLane;
      const bool kOk = i < mySteps && (kInt4 || k0 < K);
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          // (Past a row's end, a valid address all the same: the copy reads
          // nothing, but its L2 prefetch would.)
          const uint8_t *from =
              kAdvance ? (kOk ? src[m][h] : p.w)
                       : wAt(m, h, int64_t(kOk ? k0 : 0) * rowBytesPerK2 / 2);
          cpAsync16<kInt4 && NT == 1>(slot + (m * 2 + h) * 512, from,
                                      kOk ? 16 : 0);
          if (kAdvance)
            src[m][h] += srcStride;
        }
      cpAsyncCommit();
    };
    // Slot 0 of every warp first, so that the first step's weights lead the
    // queue; then the block's set-up (x, scales), then the other slots.
    issue(0, myRing);
    prefetchScales();
    if (QOPT_GEMV_RING_STAGGER)
      stageX();
#pragma unroll
    for (int i = 1; i < R::slots; ++i)
      issue(i, myRing + i * R::slotBytes);
    if (!QOPT_GEMV_RING_STAGGER)
      stageX();
    // int4 scales and zero points: one step ahead.
    uint32_t sBits[2][MT][2] = {}, zero[2][MT][2] = {};
    if constexpr (kInt4)
      loadGroup(warp < nsteps ? warp : 0, sBits[0], zero[0]);
    uint32_t slot = myRing;
    auto stepAt = [&](int i, int parity) {
      const int step = warp + i * warps;
      if constexpr (kInt4) {
        const int next = step + warps;
        loadGroup(next < nsteps ? next : 0, sBits[parity ^ 1],
                  zero[parity ^ 1]);
      }
      cpAsyncWait<R::slots - 1>();
      uint4 w[MT][2];
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          w[m][h] = loadShared(slot + (m * 2 + h) * 512);
      computeStep(w, sBits[parity], zero[parity], step, parity);
      // The slot just read is refilled: after its registers are used, so
      // the copy cannot overtake the read.
      issue(i + R::slots, slot);
      slot += R::slotBytes;
      if (slot == myRing + R::slots * R::slotBytes)
        slot = myRing;
    };
    // Two steps an iteration: the accumulator set is a constant index.
    for (int i = 0; i < mySteps; i += 2) {
      stepAt(i, 0);
      if (i + 1 < mySteps)
        stepAt(i + 1, 1);
    }
    cpAsyncWait<0>();
  } else {
    // Double-buffered in registers: the weights (and int4 scales and zero
    // points) of the next U steps are in flight while the current ones are
    // used.
    constexpr int U = FMT == kF16  ? QOPT_GEMV_UNROLL_F16
                      : FMT == kI8 ? QOPT_GEMV_UNROLL_I8
                                   : QOPT_GEMV_UNROLL_I4;
    struct Stage {
      uint4 w[U][MT][2];
      uint32_t s[U][MT][2];
      uint32_t z[U][MT][2];
    };
    auto load = [&](Stage &st, int s0) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int step = s0 + u * warps;
        const int k0 = step * kPerStep + t * T::kPerLane;
        const bool kOk = step < nsteps && k0 < K;
        const int64_t wOff = int64_t(kOk ? k0 : 0) * rowBytesPerK2 / 2;
#pragma unroll
        for (int m = 0; m < MT; ++m)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            st.w[u][m][h] =
                kOk ? loadStream(wAt(m, h, wOff)) : make_uint4(0, 0, 0, 0);
        if constexpr (kInt4)
          loadGroup(step < nsteps ? step : 0, st.s[u], st.z[u]);
      }
    };
    auto compute = [&](const Stage &st, int s0) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int step = s0 + u * warps;
        if (step >= nsteps)
          break;
        computeStep(st.w[u], st.s[u], st.z[u], step, u & 1);
      }
    };
    const int stride = warps * U;
    Stage bufA, bufB;
    int s0 = warp;
    load(bufA, s0);
    stageX();
    while (s0 < nsteps) {
      load(bufB, s0 + stride);
      compute(bufA, s0);
      s0 += stride;
      if (s0 >= nsteps)
        break;
      load(bufA, s0 + stride);
      compute(bufB, s0);
      s0 += stride;
    }
  }

  // Sum the warps' partial results; the C fragment of lane (g, t) holds
  // rows g (c0, c1) and g + 8 (c2, c3), batch columns 2t and 2t + 1.
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
      partial[warp][m][nt][lane] =
          make_float4(accs[0][m][nt][0] + accs[1][m][nt][0],
                      accs[0][m][nt][1] + accs[1][m][nt][1],
                      accs[0][m][nt][2] + accs[1][m][nt][2],
                      accs[0][m][nt][3] + accs[1][m][nt][3]);
  __syncthreads();
  constexpr int kOutputs = MT * NT * 32 * 4;
  const float *flat = reinterpret_cast<const float *>(partial);
  for (int e = threadIdx.x; e < kOutputs; e += blockDim.x) {
    const int i = e & 3, l = (e >> 2) & 31, nt = (e >> 7) % NT,
              m = (e >> 7) / NT;
    const int row = rowBase + m * 16 + (l >> 2) + 8 * (i >> 1);
    const int b = nt * 8 + 2 * (l & 3) + (i & 1);
    if (row >= N || b >= p.batch)
      continue;
    float sum = 0.f;
    for (int wp = 0; wp < warps; ++wp)
      sum += flat[wp * kOutputs + e];
    if (FMT == kI8)
      sum *= loadScale(p, row);
    if (kInt4)
      sum *= kI4OutScale;
    if (p.bias)
      sum += __half2float(p.bias[row]);
    p.y[int64_t(b) * N + row] = __float2half_rn(sum);
  }
}

/// Blocks of 8 warps per SM the kernel's registers must allow, as many as
/// cost no spills (ptxas -v), for latency hiding.
#ifndef QOPT_GEMV_I4_RING_BLOCKS
#define QOPT_GEMV_I4_RING_BLOCKS 2 // int4, one batch tile, two row tiles
#endif
constexpr int minBlocks(int fmt, int nt, int mt) {
  if (mt >= QOPT_GEMV_RING_MIN_TILES)
    return mt == 1                 ? (fmt >= kI4 ? 2 : 3)
           : fmt >= kI4 && nt == 2 ? 1
           : fmt >= kI4            ? QOPT_GEMV_I4_RING_BLOCKS
                                   : 2;
  return mt == 1 && !(fmt >= kI4 && nt == 2) ? 2 : 1;
}

} // namespace

// One entry point per (format, n-tiles, row tiles):
// qopt_gemv_<fmt>_n<NT>_m<MT>.
#define QOPT_GEMV_KERNEL(NAME, FMT, NT, MT)                                    \
  extern "C" __global__ void __launch_bounds__(kMaxWarps * 32,                 \
                                               minBlocks(FMT, NT, MT))         \
      qopt_gemv_##NAME##_n##NT##_m##MT(Params p) {                             \
    gemv<FMT, NT, MT>(p);                                                      \
  }
#define QOPT_GEMV_KERNELS(NAME, FMT)                                           \
  QOPT_GEMV_KERNEL(NAME, FMT, 1, 1)                                            \
  QOPT_GEMV_KERNEL(NAME, FMT, 1, 2)                                            \
  QOPT_GEMV_KERNEL(NAME, FMT, 2, 1)                                            \
  QOPT_GEMV_KERNEL(NAME, FMT, 2, 2)

// int4 with two batch tiles and two row tiles: at most 168 registers, so
// that three blocks of 4 warps fit an SM (with more, 11008x4096 at batch 16
// took two waves).
#define QOPT_GEMV_KERNEL_168(NAME, FMT, NT, MT)                                \
  extern "C" __global__ void __maxnreg__(168)                                  \
      qopt_gemv_##NAME##_n##NT##_m##MT(Params p) {                             \
    gemv<FMT, NT, MT>(p);                                                      \
  }
#define QOPT_GEMV_KERNELS_I4(NAME, FMT)                                        \
  QOPT_GEMV_KERNEL(NAME, FMT, 1, 1)                                            \
  QOPT_GEMV_KERNEL(NAME, FMT, 1, 2)                                            \
  QOPT_GEMV_KERNEL(NAME, FMT, 2, 1)                                            \
  QOPT_GEMV_KERNEL_168(NAME, FMT, 2, 2)

QOPT_GEMV_KERNELS(f16, kF16)
QOPT_GEMV_KERNELS(i8, kI8)
QOPT_GEMV_KERNELS_I4(i4, kI4)
QOPT_GEMV_KERNELS_I4(u4, kU4)

/// Dynamic shared memory each warp of a block needs, [format][batch tiles -
/// 1][row tiles - 1] (the runtime reads it with cuModuleGetGlobal; 0 without
/// cp.async).
#define QOPT_RING_BYTES(FMT)                                                   \
  {                                                                            \
    {Ring<FMT, 1, 1>::warpBytes, Ring<FMT, 1, 2>::warpBytes}, {                \
      Ring<FMT, 2, 1>::warpBytes, Ring<FMT, 2, 2>::warpBytes                   \
    }                                                                          \
  }
extern "C" __constant__ int qopt_gemv_ring_bytes[4][2][2] = {
    QOPT_RING_BYTES(kF16), QOPT_RING_BYTES(kI8), QOPT_RING_BYTES(kI4),
    QOPT_RING_BYTES(kU4)};

/// The most bytes of staged x (2 * batch * k) the runtime adds to an int4
/// launch's dynamic shared memory; the kernels stage x when they get them.
extern "C" __constant__ int qopt_gemv_xstage_bytes =
    QOPT_GEMV_I4_XSTAGE ? QOPT_GEMV_XSTAGE_MAX : 0;
