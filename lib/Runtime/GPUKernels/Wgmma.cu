//===- Wgmma.cu - Hopper (sm_90a) GEMMs: TMA, mbarriers and wgmma ---------===//
//
// C (+)= A·B on Hopper's warpgroup tensor-core instructions, for float16 and
// bfloat16 operands (wgmma m64nNk16, float32 sums) and for float32 ones as
// one TF32 product (m64nNk8): what qopt_cuda_matmul_f32's `tf32` precision
// and qopt_cuda_matmul_h16 (16-bit operands) run on sm_90 devices
// (lib/Runtime/CUDA/Wgmma.cpp chooses; docs/Runtime/CUDA.md).
//
// A block of three warpgroups computes a 128 x BN tile of C (BN = 128 or
// 256). Warpgroup 0 is the producer: one thread issues, per 128-byte k-step
// (64 16-bit or 32 float32 k), TMA copies (cp.async.bulk.tensor) of the A
// tile (128 rows) and the B tile into a ring of STAGES shared-memory stages,
// each completing a "full" mbarrier by its byte count. Warpgroups 1 and 2
// each own 64 rows of the tile: they wait for a stage, issue four
// wgmma.mma_async reading both operands straight from shared memory
// (descriptors: 128-byte swizzle, the layout TMA writes with
// CU_TENSOR_MAP_SWIZZLE_128B), keep one batch in flight and release the
// previous stage on its "empty" mbarrier. The producer gives its registers
// to the consumers (setmaxnreg). TMA zero-fills outside the matrix, so M, N
// and K need not be multiples of the tile; the epilogue stores rows and
// columns inside C only.
//
// A is K-contiguous. B is K-contiguous ("nt": x·Wᵀ, Q·Kᵀ; every type) or,
// for 16-bit types, N-contiguous ("nn": x·W; the MN-major operand layout,
// wgmma's transposed B).
//
// C is float32 (C += acc, or atomicAdd when K is split over blocks) or the
// operands' 16-bit type (C = acc, or C = C + acc, rounded once; with K
// split, each split stores into a float32 workspace slice that
// qopt_h16_add_ws_* adds to C). The grid may be persistent: a block walks
// tiles blockIdx.x, + gridDim.x, ..., its producer running ahead into the
// next tile while the consumers store the last one.
//
// The wgmma kernels exist only in the sm_90a PTX (__CUDA_ARCH_FEAT_SM90_ALL);
// the PTX of other architectures holds qopt_h16_simt, the any-stride
// fallback for 16-bit operands (also used on Hopper when TMA cannot take
// the operands: misaligned rows or strides).
//
//===----------------------------------------------------------------------===//

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace {

/// CUtensorMap: 128 opaque bytes, 64-byte aligned.
struct alignas(64) TensorMap {
  unsigned long long q[16];
};

struct alignas(64) WParams {
  TensorMap a, b; ///< A: dims {K, M, B1, B0}; B: {K, N, ..} or {N, K, ..}
  void *c;
  long long cB0, cB1, cM, cN; ///< element strides of C
  int b1;                     ///< inner batch count: z = z0 * b1 + z1
  int m, n, k;
  int splits, kTilesPer;      ///< blockIdx.z = batch * splits + split
  int aBatch, bBatch;         ///< bit 0: z1 indexes the map, bit 1: z0 does
  int accumulate;             ///< 16-bit C: C = C + acc (else C = acc)
  int tilesX, tilesY, tilesZ; ///< tiles along N, M, batch * splits
  long long
      wsSplit; ///< > 0: split s stores its partial sums at c + s * wsSplit
};
static_assert(sizeof(WParams) == 384, "WParams layout (Wgmma.cpp mirrors it)");

constexpr int kBM = 128;       ///< rows of a block's tile
constexpr int kRowBytes = 128; ///< bytes along K a stage holds per row
[[maybe_unused]] constexpr int kThreads =
    384; ///< producer + 2 consumer warpgroups
constexpr int kStageA = kBM * kRowBytes;

/// Stages of the ring: 4 x 48 KiB (BN = 256) or 6 x 32 KiB (BN = 128), plus
/// 1 KiB to align the base to the 128-byte swizzle's 1 KiB period and the
/// mbarriers: Wgmma.cpp's smemBytes.
template <int BN> struct Cfg {
  static constexpr int stageB = BN * kRowBytes;
  static constexpr int stageBytes = kStageA + stageB;
  static constexpr int stages = BN == 256 ? 4 : 6;
};
static_assert(Cfg<256>::stages * Cfg<256>::stageBytes + 1024 + 64 <= 227 * 1024,
              "shared memory of a 256-column block");

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ uint32_t smemAddr(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbarInit(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar),
               "r"(count));
}

__device__ __forceinline__ void mbarWait(uint32_t bar, int parity) {
  asm volatile("{\n.reg .pred done;\n"
               "WAIT_%=:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
               "@!done bra WAIT_%=;\n}\n" ::"r"(bar),
               "r"(parity)
               : "memory");
}

__device__ __forceinline__ void mbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar)
               : "memory");
}

__device__ __forceinline__ void mbarExpectTx(uint32_t bar, int bytes) {
  asm volatile(
      "mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
      "r"(bytes)
      : "memory");
}

/// TMA: the box at coordinates {c0, c1, c2, c3} of `map` into shared memory
/// at `dst`, completing `bar` by its bytes.
__device__ __forceinline__ void tmaLoad(uint32_t dst, const TensorMap *map,
                                        uint32_t bar, int c0, int c1, int c2,
                                        int c3) {
  asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile"
               ".mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
               "[%2];\n" ::"r"(dst),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1),
               "r"(c2), "r"(c3)
               : "memory");
}

/// Shared-memory matrix descriptor: 128-byte swizzle; `lbo` and `sbo` in
/// bytes (K-major: sbo = 1024, the 8-row swizzle atom; lbo unused).
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo,
                                         uint32_t sbo) {
  return uint64_t((addr & 0x3FFFF) >> 4) | uint64_t(lbo >> 4) << 16 |
         uint64_t(sbo >> 4) << 32 | 1ull << 62;
}

__device__ __forceinline__ void wgFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void wgWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// wgmma_n<N>_<type>(d, descA, descB): D += A·B for a 64 x N tile of D
// (float32, the m64nN accumulator layout), scale-d 1; 16-bit types with
// imm-trans-b given by the caller's variant below. Generated (the operand
// lists are long); regenerate rather than edit by hand.
template <int TB>
__device__ __forceinline__ void wgmma_n128_f16(float (&d)[64], uint64_t da,
                                               uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63"
      "}, %64, %65, p, 1, 1, 0, %67;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
        "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),
        "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
        "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
        "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(1), "n"(TB));
}

template <int TB>
__device__ __forceinline__ void wgmma_n128_bf16(float (&d)[64], uint64_t da,
                                                uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63"
      "}, %64, %65, p, 1, 1, 0, %67;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
        "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),
        "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
        "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
        "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(1), "n"(TB));
}

__device__ __forceinline__ void wgmma_n128_tf32(float (&d)[64], uint64_t da,
                                                uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63"
      "}, %64, %65, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
        "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),
        "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
        "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
        "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(1));
}

template <int TB>
__device__ __forceinline__ void wgmma_n256_f16(float (&d)[128], uint64_t da,
                                               uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "
      "%78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, "
      "%94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, "
      "%108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, "
      "%124, %125, %126, %127"
      "}, %128, %129, p, 1, 1, 0, %131;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
        "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),
        "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
        "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
        "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]),
        "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]),
        "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]),
        "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]),
        "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]),
        "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]),
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
        "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]),
        "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]),
        "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]),
        "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]),
        "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]),
        "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]),
        "+f"(d[126]), "+f"(d[127])
      : "l"(da), "l"(db), "r"(1), "n"(TB));
}

template <int TB>
__device__ __forceinline__ void wgmma_n256_bf16(float (&d)[128], uint64_t da,
                                                uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "
      "%78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, "
      "%94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, "
      "%108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, "
      "%124, %125, %126, %127"
      "}, %128, %129, p, 1, 1, 0, %131;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
        "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),
        "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
        "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
        "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]),
        "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]),
        "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]),
        "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]),
        "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]),
        "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]),
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
        "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]),
        "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]),
        "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]),
        "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]),
        "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]),
        "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]),
        "+f"(d[126]), "+f"(d[127])
      : "l"(da), "l"(db), "r"(1), "n"(TB));
}

__device__ __forceinline__ void wgmma_n256_tf32(float (&d)[128], uint64_t da,
                                                uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "
      "%46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, "
      "%62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, "
      "%78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, "
      "%94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, "
      "%108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, "
      "%124, %125, %126, %127"
      "}, %128, %129, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
        "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]),
        "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
        "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),
        "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]),
        "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]),
        "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]),
        "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]),
        "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]),
        "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]),
        "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]),
        "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]),
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
        "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]),
        "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]),
        "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]),
        "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]),
        "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]),
        "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]),
        "+f"(d[126]), "+f"(d[127])
      : "l"(da), "l"(db), "r"(1));
}

template <int EL> struct Elem; // 0 f16, 1 bf16, 2 tf32 (float32 storage)
template <> struct Elem<0> { static constexpr int bytes = 2; };
template <> struct Elem<1> { static constexpr int bytes = 2; };
template <> struct Elem<2> { static constexpr int bytes = 4; };

/// One 64 x BN x (128 bytes of k) step of a consumer warpgroup: four wgmmas.
template <int EL, int BN, int TB>
__device__ __forceinline__ void mmaStage(float (&acc)[BN / 2], uint32_t aAddr,
                                         uint32_t bAddr) {
#pragma unroll
  for (int ks = 0; ks < 4; ++ks) {
    // A (and B when K-major): 32 bytes of k further inside the swizzled
    // 128-byte rows. B N-major ("nn"): 16 k rows of 128 bytes further;
    // 64-column blocks 8 KiB apart (lbo), 8-row groups 1 KiB apart (sbo).
    const uint64_t da = desc(aAddr + 32 * ks, 16, 1024);
    const uint64_t db = TB ? desc(bAddr + 2048 * ks, 8192, 1024)
                           : desc(bAddr + 32 * ks, 16, 1024);
    if constexpr (EL == 0) {
      if constexpr (BN == 256)
        wgmma_n256_f16<TB>(acc, da, db);
      else
        wgmma_n128_f16<TB>(acc, da, db);
    } else if constexpr (EL == 1) {
      if constexpr (BN == 256)
        wgmma_n256_bf16<TB>(acc, da, db);
      else
        wgmma_n128_bf16<TB>(acc, da, db);
    } else {
      if constexpr (BN == 256)
        wgmma_n256_tf32(acc, da, db);
      else
        wgmma_n128_tf32(acc, da, db);
    }
  }
}

template <int EL>
__device__ __forceinline__ void store16(void *c, long long off, float v,
                                        bool accumulate) {
  if constexpr (EL == 1) {
    __nv_bfloat16 *p = static_cast<__nv_bfloat16 *>(c) + off;
    if (accumulate)
      v += __bfloat162float(*p);
    *p = __float2bfloat16_rn(v);
  } else {
    __half *p = static_cast<__half *>(c) + off;
    if (accumulate)
      v += __half2float(*p);
    *p = __float2half_rn(v);
  }
}

template <int EL>
__device__ __forceinline__ void store16x2(void *c, long long off, float v0,
                                          float v1, bool accumulate) {
  if constexpr (EL == 1) {
    __nv_bfloat162 *p = reinterpret_cast<__nv_bfloat162 *>(
        static_cast<__nv_bfloat16 *>(c) + off);
    if (accumulate) {
      const float2 o = __bfloat1622float2(*p);
      v0 += o.x, v1 += o.y;
    }
    *p = __floats2bfloat162_rn(v0, v1);
  } else {
    __half2 *p = reinterpret_cast<__half2 *>(static_cast<__half *>(c) + off);
    if (accumulate) {
      const float2 o = __half22float2(*p);
      v0 += o.x, v1 += o.y;
    }
    *p = __floats2half2_rn(v0, v1);
  }
}

/// EL: operand type; BN: tile columns; F32OUT: C is float32 (else EL's
/// 16-bit type); TB: B is N-contiguous (16-bit types only).
template <int EL, int BN, bool F32OUT, int TB>
__device__ __forceinline__ void wgmmaGemm(const WParams &p) {
  using C = Cfg<BN>;
  constexpr int S = C::stages;
  constexpr int kElems = kRowBytes / Elem<EL>::bytes; // k per stage
  extern __shared__ __align__(1024) unsigned char smemRaw[];
  const uint32_t base = (smemAddr(smemRaw) + 1023u) & ~1023u;
  const uint32_t full = base + S * C::stageBytes, empty = full + 8 * S;

  const int kTiles = (p.k + kElems - 1) / kElems;
  const int tilesMN = p.tilesX * p.tilesY;
  const int tiles = tilesMN * p.tilesZ;
  const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;

  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      mbarInit(full + 8 * s, 1);
      mbarInit(empty + 8 * s, 256);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  // The block's tiles: blockIdx.x, + gridDim.x, ... (one each when the grid
  // has a block per tile; persistent otherwise: the producer then fills the
  // ring for the next tile while the consumers store this one). `it`
  // counts k steps over all of them: stage it % S, phase (it / S) & 1.
  struct Tile {
    int m0, n0, z0, z1, kt0, nk, split;
  };
  auto tileOf = [&](int t) {
    Tile r;
    const int zAll = t / tilesMN, id = t % tilesMN, gx = p.tilesX;
    // Groups of 8 tile rows, column by column (L2 reuse).
    const int first = id / (8 * gx) * 8, rows = min(p.tilesY - first, 8);
    r.m0 = (first + id % (8 * gx) % rows) * kBM;
    r.n0 = id % (8 * gx) / rows * BN;
    const int batch = zAll / p.splits, split = zAll % p.splits;
    r.z0 = batch / p.b1;
    r.z1 = batch % p.b1;
    r.kt0 = split * p.kTilesPer;
    r.split = split;
    r.nk = min(kTiles - r.kt0, p.kTilesPer);
    return r;
  };

  if (wg == 0) {
    // Producer: one thread issues the copies.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (tid == 0) {
      int it = 0;
      for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        const Tile tl = tileOf(t);
        const int az1 = p.aBatch & 1 ? tl.z1 : 0,
                  az0 = p.aBatch & 2 ? tl.z0 : 0;
        const int bz1 = p.bBatch & 1 ? tl.z1 : 0,
                  bz0 = p.bBatch & 2 ? tl.z0 : 0;
        for (int i = 0; i < tl.nk; ++i, ++it) {
          const int s = it % S;
          mbarWait(empty + 8 * s, ((it / S) & 1) ^ 1);
          mbarExpectTx(full + 8 * s, C::stageBytes);
          const uint32_t sa = base + s * C::stageBytes, sb = sa + kStageA;
          const int kc = (tl.kt0 + i) * kElems;
          tmaLoad(sa, &p.a, full + 8 * s, kc, tl.m0, az1, az0);
          if constexpr (TB == 0) {
            tmaLoad(sb, &p.b, full + 8 * s, kc, tl.n0, bz1, bz0);
          } else {
#pragma unroll
            for (int j = 0; j < BN / 64; ++j)
              tmaLoad(sb + 8192 * j, &p.b, full + 8 * s, tl.n0 + 64 * j, kc,
                      bz1, bz0);
          }
        }
      }
    }
    return;
  }

  // Consumers: warpgroup 1 rows 0-63 of the tile, warpgroup 2 rows 64-127.
  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
  const int cw = wg - 1;
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  int it = 0;
  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
    const Tile tl = tileOf(t);
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i)
      acc[i] = 0.f;
    for (int i = 0; i < tl.nk; ++i, ++it) {
      const int s = it % S;
      mbarWait(full + 8 * s, (it / S) & 1);
      const uint32_t sa = base + s * C::stageBytes;
      wgFence();
      mmaStage<EL, BN, TB>(acc, sa + cw * 64 * kRowBytes, sa + kStageA);
      wgCommit();
      // One batch stays in flight; the one before is done with its stage.
      wgWait<1>();
      if (i > 0)
        mbarArrive(empty + 8 * ((it - 1) % S));
    }
    wgWait<0>();
    // The tile's last stage is free too (the producer may be filling the
    // ring for the next tile already).
    mbarArrive(empty + 8 * ((it - 1) % S));

    // Epilogue. Accumulator j of the m64nN layout: n8 block j / 4, row
    // g (+ 8 for j % 4 >= 2), column 2t (+ 1 for odd j).
    const long long cOff = tl.z0 * p.cB0 + tl.z1 * p.cB1;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = tl.m0 + cw * 64 + warp * 16 + g + 8 * h;
      if (row >= p.m)
        continue;
      const long long rOff = cOff + row * p.cM;
#pragma unroll
      for (int j = 0; j < BN / 8; ++j) {
        const int col = tl.n0 + 8 * j + 2 * t4;
        const float v0 = acc[4 * j + 2 * h], v1 = acc[4 * j + 2 * h + 1];
        const long long off = rOff + col * p.cN;
        if constexpr (F32OUT) {
          float *c = static_cast<float *>(p.c);
          if (p.wsSplit > 0) {
            // A workspace slice of its own: plain stores, summed later.
            float *w = c + tl.split * p.wsSplit;
            if (col < p.n)
              w[off] = v0;
            if (col + 1 < p.n)
              w[off + p.cN] = v1;
          } else if (p.splits > 1) {
            if (col < p.n)
              atomicAdd(c + off, v0);
            if (col + 1 < p.n)
              atomicAdd(c + off + p.cN, v1);
          } else if (p.cN == 1 && col + 1 < p.n &&
                     (reinterpret_cast<uintptr_t>(c + off) & 7) == 0) {
            float2 *c2 = reinterpret_cast<float2 *>(c + off);
            float2 o = *c2;
            o.x += v0, o.y += v1;
            *c2 = o;
          } else {
            if (col < p.n)
              c[off] += v0;
            if (col + 1 < p.n)
              c[off + p.cN] += v1;
          }
        } else {
          if (p.cN == 1 && col + 1 < p.n &&
              ((reinterpret_cast<uintptr_t>(p.c) + 2 * off) & 3) == 0) {
            store16x2<EL>(p.c, off, v0, v1, p.accumulate);
          } else {
            if (col < p.n)
              store16<EL>(p.c, off, v0, p.accumulate);
            if (col + 1 < p.n)
              store16<EL>(p.c, off + p.cN, v1, p.accumulate);
          }
        }
      }
    }
  }
}

} // namespace

#define QOPT_WG(name, EL, BN, F32OUT, TB)                                      \
  extern "C" __global__ void __launch_bounds__(kThreads, 1)                    \
      name(const __grid_constant__ WParams p) {                                \
    wgmmaGemm<EL, BN, F32OUT, TB>(p);                                          \
  }
QOPT_WG(qopt_wg_f16_nt_256_f32, 0, 256, true, 0)
QOPT_WG(qopt_wg_f16_nt_128_f32, 0, 128, true, 0)
QOPT_WG(qopt_wg_f16_nn_256_f32, 0, 256, true, 1)
QOPT_WG(qopt_wg_f16_nn_128_f32, 0, 128, true, 1)
QOPT_WG(qopt_wg_f16_nt_256_h, 0, 256, false, 0)
QOPT_WG(qopt_wg_f16_nt_128_h, 0, 128, false, 0)
QOPT_WG(qopt_wg_f16_nn_256_h, 0, 256, false, 1)
QOPT_WG(qopt_wg_f16_nn_128_h, 0, 128, false, 1)
QOPT_WG(qopt_wg_bf16_nt_256_f32, 1, 256, true, 0)
QOPT_WG(qopt_wg_bf16_nt_128_f32, 1, 128, true, 0)
QOPT_WG(qopt_wg_bf16_nn_256_f32, 1, 256, true, 1)
QOPT_WG(qopt_wg_bf16_nn_128_f32, 1, 128, true, 1)
QOPT_WG(qopt_wg_bf16_nt_256_h, 1, 256, false, 0)
QOPT_WG(qopt_wg_bf16_nt_128_h, 1, 128, false, 0)
QOPT_WG(qopt_wg_bf16_nn_256_h, 1, 256, false, 1)
QOPT_WG(qopt_wg_bf16_nn_128_h, 1, 128, false, 1)
QOPT_WG(qopt_wg_tf32_nt_256_f32, 2, 256, true, 0)
QOPT_WG(qopt_wg_tf32_nt_128_f32, 2, 128, true, 0)

#else
} // namespace
#endif // __CUDA_ARCH_FEAT_SM90_ALL

namespace {

/// The fallback's operands: any element strides.
struct HParams {
  const void *a;
  long long aB0, aB1, aM, aK;
  const void *b;
  long long bB0, bB1, bK, bN;
  void *c;
  long long cB0, cB1, cM, cN;
  int b0, b1, m, n, k;
  int accumulate; ///< 16-bit C: C = C + A·B (else C = A·B); f32 C: always +=
};

template <int EL>
__device__ __forceinline__ float load16(const void *p, long long i) {
  if constexpr (EL == 1)
    return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
  else
    return __half2float(static_cast<const __half *>(p)[i]);
}

/// 64x64 tiles, 16 k a step, 4x4 outputs a thread, float32 sums.
template <int EL, bool F32OUT>
__device__ __forceinline__ void simt16(const HParams &p) {
  __shared__ float sA[16][64 + 1], sB[16][64 + 1];
  const long long z0 = blockIdx.z / p.b1, z1 = blockIdx.z % p.b1;
  const long long aOff = z0 * p.aB0 + z1 * p.aB1,
                  bOff = z0 * p.bB0 + z1 * p.bB1,
                  cOff = z0 * p.cB0 + z1 * p.cB1;
  const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < p.k; k0 += 16) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int idx = threadIdx.x + i * 256;
      int mm, kk;
      if (p.aK == 1)
        mm = idx >> 4, kk = idx & 15;
      else
        mm = idx & 63, kk = idx >> 6;
      const int gm = m0 + mm, gk = k0 + kk;
      sA[kk][mm] = gm < p.m && gk < p.k
                       ? load16<EL>(p.a, aOff + gm * p.aM + gk * p.aK)
                       : 0.f;
      int nn;
      if (p.bN == 1)
        nn = idx & 63, kk = idx >> 6;
      else
        nn = idx >> 4, kk = idx & 15;
      const int gn = n0 + nn, gk2 = k0 + kk;
      sB[kk][nn] = gn < p.n && gk2 < p.k
                       ? load16<EL>(p.b, bOff + gk2 * p.bK + gn * p.bN)
                       : 0.f;
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
      if (col >= p.n)
        continue;
      const long long off = cOff + row * p.cM + col * p.cN;
      if constexpr (F32OUT) {
        static_cast<float *>(p.c)[off] += acc[i][j];
      } else if constexpr (EL == 1) {
        __nv_bfloat16 *c = static_cast<__nv_bfloat16 *>(p.c) + off;
        *c = __float2bfloat16_rn(acc[i][j] +
                                 (p.accumulate ? __bfloat162float(*c) : 0.f));
      } else {
        __half *c = static_cast<__half *>(p.c) + off;
        *c = __float2half_rn(acc[i][j] +
                             (p.accumulate ? __half2float(*c) : 0.f));
      }
    }
  }
}

} // namespace

#define QOPT_H16_SIMT(name, EL, F32OUT)                                        \
  extern "C" __global__ void __launch_bounds__(256) name(HParams p) {          \
    simt16<EL, F32OUT>(p);                                                     \
  }
QOPT_H16_SIMT(qopt_h16_simt_f16_f32, 0, true)
QOPT_H16_SIMT(qopt_h16_simt_f16_h, 0, false)
QOPT_H16_SIMT(qopt_h16_simt_bf16_f32, 1, true)
QOPT_H16_SIMT(qopt_h16_simt_bf16_h, 1, false)

namespace {

/// Split K with a 16-bit C: each split of the wgmma kernels stores its
/// partial sums into its own dense float32 slice [batch][m][n] of a
/// workspace; this adds the slices (in split order) to C (or stores them,
/// without accumulate), rounding once.
struct WsParams {
  const float *ws;
  void *c;
  long long cB0, cB1, cM, cN;
  long long total; ///< batch * m * n (a slice)
  int b1, m, n;
  int accumulate;
  int splits;
};

template <int EL>
__device__ __forceinline__ void addWorkspace(const WsParams &p) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < p.total; i += (long long)gridDim.x * blockDim.x) {
    const long long col = i % p.n, r = i / p.n, row = r % p.m, z = r / p.m;
    const long long off =
        z / p.b1 * p.cB0 + z % p.b1 * p.cB1 + row * p.cM + col * p.cN;
    float v = 0.f;
    for (int s = 0; s < p.splits; ++s)
      v += p.ws[s * p.total + i];
    if constexpr (EL == 1) {
      __nv_bfloat16 *c = static_cast<__nv_bfloat16 *>(p.c) + off;
      *c = __float2bfloat16_rn(v + (p.accumulate ? __bfloat162float(*c) : 0.f));
    } else {
      __half *c = static_cast<__half *>(p.c) + off;
      *c = __float2half_rn(v + (p.accumulate ? __half2float(*c) : 0.f));
    }
  }
}

} // namespace

extern "C" __global__ void __launch_bounds__(256)
    qopt_h16_add_ws_f16(WsParams p) {
  addWorkspace<0>(p);
}
extern "C" __global__ void __launch_bounds__(256)
    qopt_h16_add_ws_bf16(WsParams p) {
  addWorkspace<1>(p);
}
