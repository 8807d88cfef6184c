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
// needed. int8 and int4 are widened to exact float16 integers (the
// 0x6400 = 1024.0 exponent trick: or the bits into the mantissa, subtract
// 1024 + offset), so the tensor cores multiply x by the integer weight and
// the scale (and the zero point, for int4) apply once per group or row in
// f32:   sum_g s_g * sum_{k in g} x_k (q_k - z_g).
//
// A warp step covers 16 rows x (32 f16 | 64 int8 | 128 int4) k, i.e. 64
// bytes of each row; a block's warps take steps round-robin (split K) and
// add their partial sums in shared memory at the end.
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
#ifndef QOPT_GEMV_FAST_I4
#define QOPT_GEMV_FAST_I4 1 // 0: the plain int4 widening, for comparison
#endif

namespace {

enum Format { kF16 = 0, kI8 = 1, kI4 = 2 };

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
  int asym;               // i4: unsigned nibbles with zero points
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
/// and reads nothing.
__device__ __forceinline__ void cpAsync16(uint32_t dst, const void *src,
                                          int bytes) {
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

#if !QOPT_GEMV_FAST_I4
__device__ __forceinline__ uint32_t lop3AndOr(uint32_t a, uint32_t mask,
                                              uint32_t bits) {
  uint32_t d;
  // (a & mask) | bits
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;"
      : "=r"(d)
      : "r"(a), "r"(mask), "r"(bits));
  return d;
}
#endif

__device__ __forceinline__ uint32_t hfma2(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

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

/// The bits of scale `i` (float32, or float16 in the low half).
__device__ __forceinline__ uint32_t loadScaleBits(const Params &p, int64_t i) {
  return p.scaleF32 ? __ldg(static_cast<const uint32_t *>(p.scales) + i)
                    : uint32_t(__ldg(
                          static_cast<const unsigned short *>(p.scales) + i));
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

#ifndef QOPT_GEMV_RING
#define QOPT_GEMV_RING 8 // steps in flight per warp (f16, int8)
#endif
#ifndef QOPT_GEMV_RING_I4
#define QOPT_GEMV_RING_I4 6
#endif

/// The shared-memory ring of the cp.async path, per warp: `slots` steps of
/// MT x 2 rows x 32 lanes x 16 bytes.
template <int FMT, int MT> struct Ring {
  static constexpr int slots =
      (FMT == kI4 ? QOPT_GEMV_RING_I4 : QOPT_GEMV_RING) / MT;
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

/// int4 word (k0..k7, nibble j = k j) -> four f16x2 holding exact q - z:
/// out[s] = (k s, k s+4). Nibbles 0 and 4 (and, after >> 8, 2 and 6) are
/// masked into the mantissa of 1024.0: 1024 + u, minus 1024 + z. Nibbles 1
/// and 5 (3 and 7) are masked in place, 16 times higher: 1024 + 16u, times
/// 1/16 minus 64 + z in one fma. Each pair costs one lop3 and one f16x2
/// op, exact throughout.
__device__ __forceinline__ void widenI4(uint32_t w, const I4Consts &c,
                                        uint32_t (&out)[4]) {
#if QOPT_GEMV_FAST_I4
  const uint32_t sixteenth = 0x2C002C00u; // f16x2 (1/16, 1/16)
  const uint32_t w8 = w >> 8;
  out[0] = hsub2(lop3AndXor(w, 0x000F000Fu, c.bitsLo), c.offLo);
  out[1] = hfma2(lop3AndXor(w, 0x00F000F0u, c.bitsHi), sixteenth, c.offHi);
  out[2] = hsub2(lop3AndXor(w8, 0x000F000Fu, c.bitsLo), c.offLo);
  out[3] = hfma2(lop3AndXor(w8, 0x00F000F0u, c.bitsHi), sixteenth, c.offHi);
#else
  // The plain form (kept for comparison): one shift, lop3 and sub a pair.
  const uint32_t u = w ^ ((c.bitsLo & 0x00080008u) * 0x1111u);
  const uint32_t mask = 0x000F000Fu, magic = 0x64006400u;
  out[0] = hsub2(lop3AndOr(u, mask, magic), c.offLo);
  out[1] = hsub2(lop3AndOr(u >> 4, mask, magic), c.offLo);
  out[2] = hsub2(lop3AndOr(u >> 8, mask, magic), c.offLo);
  out[3] = hsub2(lop3AndOr(u >> 12, mask, magic), c.offLo);
#endif
}

template <int FMT, int NT, int MT>
__device__ __forceinline__ void gemv(const Params &p) {
  using T = Traits<FMT>;
  constexpr int kPerStep = 4 * T::kPerLane;
  constexpr int rowBytesPerK2 = FMT == kF16 ? 4 : FMT == kI8 ? 2 : 1; // x2
  __shared__ float4 partial[kMaxWarps][MT][NT][32];

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int K = p.k, N = p.n;
  const int64_t rowBytes = int64_t(K) * rowBytesPerK2 / 2;
  const int nsteps = (K + kPerStep - 1) / kPerStep;
  const int rowBase = blockIdx.x * 16 * MT;

  // The rows this lane reads (clamped to row 0 when past N: loaded but
  // never stored, so the loads need no predicate).
  const uint8_t *wRow[MT][2];
  int rowIdx[MT][2];
#pragma unroll
  for (int m = 0; m < MT; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = rowBase + m * 16 + g + 8 * h;
      rowIdx[m][h] = row < N ? row : 0;
      wRow[m][h] = p.w + rowIdx[m][h] * rowBytes;
    }
  const __half *xRow[NT];
  bool batchOk[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int b = nt * 8 + g;
    batchOk[nt] = b < p.batch;
    xRow[nt] = p.x + int64_t(batchOk[nt] ? b : 0) * K;
  }
  const int groups = FMT == kI4 ? K / p.group : 1;

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

  // One step of this warp: weights `w` (rows g and g + 8 of each row tile,
  // 16 bytes each), int4 scale bits and zero points per row. x is read
  // here: it is small and every warp of the SM reads the same, so it comes
  // from L1.
  auto computeStep = [&](const uint4(&w)[MT][2], const uint32_t(&sBits)[MT][2],
                         const uint32_t(&zero)[MT][2], int step, int parity) {
    auto &acc = accs[parity];
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
    } else {
      // x pairs matching the int4 widening's (k s, k s+4) order.
      uint32_t xp[NT][16];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const uint32_t *v = words(xv[nt][i]);
          xp[nt][4 * i + 0] = __byte_perm(v[0], v[2], 0x5410);
          xp[nt][4 * i + 1] = __byte_perm(v[0], v[2], 0x7632);
          xp[nt][4 * i + 2] = __byte_perm(v[1], v[3], 0x5410);
          xp[nt][4 * i + 3] = __byte_perm(v[1], v[3], 0x7632);
        }
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        float scale[2];
        uint32_t a[2][16];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          scale[h] = decodeScale(p, sBits[m][h]);
          const I4Consts consts = i4Consts(zero[m][h], p.asym);
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
          for (int j = 0; j < 8; ++j)
            mma(c[j & 1], a[0][2 * j], a[1][2 * j], a[0][2 * j + 1],
                a[1][2 * j + 1], xp[nt][2 * j], xp[nt][2 * j + 1]);
          acc[m][nt][0] += scale[0] * (c[0][0] + c[1][0]);
          acc[m][nt][1] += scale[0] * (c[0][1] + c[1][1]);
          acc[m][nt][2] += scale[1] * (c[0][2] + c[1][2]);
          acc[m][nt][3] += scale[1] * (c[0][3] + c[1][3]);
        }
      }
    }
  };
  // The scale bits and zero point of each row of int4 step `step`.
  auto loadGroup = [&](int step, uint32_t(&sBits)[MT][2],
                       uint32_t(&zero)[MT][2]) {
    const int grp = step * kPerStep / p.group;
#pragma unroll
    for (int m = 0; m < MT; ++m)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t si = int64_t(rowIdx[m][h]) * groups + grp;
        sBits[m][h] = loadScaleBits(p, si);
        zero[m][h] = p.asym ? __ldg(p.zeros + si) : 8u;
      }
  };

  if constexpr (MT >= QOPT_GEMV_RING_MIN_TILES) {
    // The weights stream through a ring of R::slots steps in shared memory,
    // filled by cp.async (no registers held while in flight). Each lane reads
    // back only what it copied itself, so no barrier is needed.
    using R = Ring<FMT, MT>;
    extern __shared__ __align__(16) unsigned char ring[];
    const uint32_t myRing =
        static_cast<uint32_t>(__cvta_generic_to_shared(ring)) +
        warp * R::warpBytes + lane * 16;
    uint32_t dynamicBytes;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dynamicBytes));
    if (dynamicBytes < uint32_t(warps * R::warpBytes))
      __trap(); // launched without its ring (see qopt_gemv_ring_bytes)
    const int mySteps = warp < nsteps ? (nsteps - warp + warps - 1) / warps : 0;
    auto issue = [&](int i) {
      const int step = warp + i * warps;
      const int k0 = step * kPerStep + t * T::kPerLane;
      const bool kOk = i < mySteps && k0 < K;
      const int64_t wOff = int64_t(kOk ? k0 : 0) * rowBytesPerK2 / 2;
      const uint32_t slot = myRing + (i % R::slots) * R::slotBytes;
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          cpAsync16(slot + (m * 2 + h) * 512, wRow[m][h] + wOff, kOk ? 16 : 0);
      cpAsyncCommit();
    };
#pragma unroll
    for (int i = 0; i < R::slots; ++i)
      issue(i);
    auto stepAt = [&](int i, int parity) {
      cpAsyncWait<R::slots - 1>();
      const uint32_t slot = myRing + (i % R::slots) * R::slotBytes;
      uint4 w[MT][2];
#pragma unroll
      for (int m = 0; m < MT; ++m)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          w[m][h] = loadShared(slot + (m * 2 + h) * 512);
      const int step = warp + i * warps;
      uint32_t sBits[MT][2] = {}, zero[MT][2] = {};
      if constexpr (FMT == kI4)
        loadGroup(step, sBits, zero);
      computeStep(w, sBits, zero, step, parity);
      // The slot just read is refilled: after its registers are used, so
      // the copy cannot overtake the read.
      issue(i + R::slots);
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
                kOk ? loadStream(wRow[m][h] + wOff) : make_uint4(0, 0, 0, 0);
        if constexpr (FMT == kI4)
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
    if (p.bias)
      sum += __half2float(p.bias[row]);
    p.y[int64_t(b) * N + row] = __float2half_rn(sum);
  }
}

/// Blocks of 8 warps per SM the kernel's registers must allow, as many as
/// cost no spills (ptxas -v), for latency hiding.
constexpr int minBlocks(int fmt, int nt, int mt) {
  if (mt >= QOPT_GEMV_RING_MIN_TILES)
    return mt == 1 ? (fmt == kI4 ? 2 : 3) : fmt == kI4 && nt == 2 ? 1 : 2;
  return mt == 1 && !(fmt == kI4 && nt == 2) ? 2 : 1;
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

QOPT_GEMV_KERNELS(f16, kF16)
QOPT_GEMV_KERNELS(i8, kI8)
QOPT_GEMV_KERNELS(i4, kI4)

/// Dynamic shared memory each warp of a block needs, [format][row tiles - 1]
/// (the runtime reads it with cuModuleGetGlobal; 0 without cp.async).
extern "C" __constant__ int qopt_gemv_ring_bytes[3][2] = {
    {Ring<kF16, 1>::warpBytes, Ring<kF16, 2>::warpBytes},
    {Ring<kI8, 1>::warpBytes, Ring<kI8, 2>::warpBytes},
    {Ring<kI4, 1>::warpBytes, Ring<kI4, 2>::warpBytes}};
