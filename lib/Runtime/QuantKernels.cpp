//===- QuantKernels.cpp - integer and weight-only quantized matmuls -------===//
//
// What qopt.qlinear lowers to on the CPU (the linalg.generic ops its
// lowering tags with `library_call`):
//
// * `qopt_kernel_matmul_{s8s8,u8s8}`: C(i32) += A(i8 or u8) · Bᵀ(i8), exact
//   integer products. B (the weight, [N, K]) is packed into panels of 32
//   columns by groups of 4 k — the operand layout of x86's `vpdpbusd`
//   (u8×s8 → i32, no intermediate saturation) — once per model when it is
//   a constant. A signed A is shifted to u8 (+128) while packing and
//   corrected with -128·Σk B[n, k]; wrapping i32 arithmetic makes that exact
//   whenever the true result fits in i32. Microkernels: AVX-512 VNNI 8x32,
//   AVX2 8x32 (pmaddwd on sign/zero-extended halves: never the saturating
//   pmaddubsw), portable C++.
// * `qopt_kernel_matmul_w8` / `_w4` (int4, uint4, NF4): weight-only.
//   C(f32) += A(f32) · dequant(B)ᵀ. Up to kGemvRows rows run as dot products
//   that dequantize the weight in registers (decoding: memory-bound, the weight
//   read once at its quantized size); more rows go to the f32 GEMM, whose
//   B panels are dequantized block by block (never the whole weight) from a
//   copy of the weight repacked in the panels' column order (once per model
//   for a constant weight): a block's dequantization is a few vector
//   instructions per k and panel, and stays in cache for the microkernel.
//
//===----------------------------------------------------------------------===//

#include "Conv.h"
#include "Gemm.h"
#include "Threads.h"
#include "W4Int8.h"

#include "qopt/Support/NF4.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kNr = 32;  // B panel width (columns)
constexpr int64_t kMr = 8;   // A panel height (rows)
constexpr int64_t kKq = 128; // k-quads per block (512 k)
constexpr int64_t kMc = 96;
constexpr int64_t kNc = 256;
constexpr int64_t kParallelWork = 1 << 16;
/// The int8 GEMM runs on the calling thread below 2M multiply-adds (a few
/// microseconds of vpdpbusd): a hidden-256 decoder step's projections
/// (65-176K) took 3x longer on 2 threads than on 1 on a loaded 2-core
/// machine, the hand-off to the pool costing more than the work.
constexpr int64_t kParallelWorkI8 = 1 << 21;
/// The same for the weight-only dot products of 1-16 rows (f32
/// multiply-adds, memory-bound on the weight): w4 at one token of a
/// hidden-256 block was 0.097 ms on 1 thread, 0.22 on 2.
constexpr int64_t kParallelWorkGemv = 1 << 19;

/// C[kMr x kNr] (row stride ldc) += sum over kq quads of
/// ap[r * lda + 4q + 0..3] (u8, row-major A) · bp[q][c][0..3] (s8).
using MicroI8 = void (*)(int64_t kq, const uint8_t *ap, int64_t lda,
                         const int8_t *bp, int32_t *c, int64_t ldc);

void microI8Generic(int64_t kq, const uint8_t *ap, int64_t lda,
                    const int8_t *bp, int32_t *c, int64_t ldc) {
  int32_t t[kMr][kNr] = {};
  for (int64_t q = 0; q < kq; ++q) {
    for (int64_t r = 0; r < kMr; ++r)
      for (int64_t j = 0; j < kNr; ++j) {
        int32_t s = 0;
        for (int u = 0; u < 4; ++u)
          s += int32_t(ap[r * lda + u]) * int32_t(bp[j * 4 + u]);
        t[r][j] += s;
      }
    ap += 4;
    bp += kNr * 4;
  }
  for (int64_t r = 0; r < kMr; ++r)
    for (int64_t j = 0; j < kNr; ++j)
      c[r * ldc + j] = int32_t(uint32_t(c[r * ldc + j]) + uint32_t(t[r][j]));
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
microI8VNNI(int64_t kq, const uint8_t *ap, int64_t lda, const int8_t *bp,
            int32_t *c, int64_t ldc) {
  __m512i acc[kMr][2];
  for (auto &row : acc)
    row[0] = row[1] = _mm512_setzero_si512();
  for (int64_t q = 0; q < kq; ++q) {
    __m512i b0 = _mm512_loadu_si512(bp), b1 = _mm512_loadu_si512(bp + 64);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      int32_t quad;
      std::memcpy(&quad, ap + r * lda, 4);
      __m512i a = _mm512_set1_epi32(quad);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
    }
    ap += 4;
    bp += kNr * 4;
  }
  for (int r = 0; r < kMr; ++r) {
    int32_t *row = c + r * ldc;
    _mm512_storeu_si512(row,
                        _mm512_add_epi32(_mm512_loadu_si512(row), acc[r][0]));
    _mm512_storeu_si512(
        row + 16, _mm512_add_epi32(_mm512_loadu_si512(row + 16), acc[r][1]));
  }
}

/// dpbusd on 8 lanes without VNNI: even and odd bytes widened to i16
/// (u8 zero-extended, s8 sign-extended), multiplied and pair-summed by
/// pmaddwd — exact, unlike pmaddubsw's saturating i16 sums.
__attribute__((target("avx2"))) inline __m256i
dpbusdAVX2(__m256i acc, __m256i a, __m256i b) {
  const __m256i lowBytes = _mm256_set1_epi16(0x00FF);
  __m256i aEven = _mm256_and_si256(a, lowBytes);
  __m256i aOdd = _mm256_srli_epi16(a, 8);
  __m256i bEven = _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8);
  __m256i bOdd = _mm256_srai_epi16(b, 8);
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(aEven, bEven));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(aOdd, bOdd));
}

__attribute__((target("avx2"))) void microI8AVX2(int64_t kq, const uint8_t *ap,
                                                 int64_t lda, const int8_t *bp,
                                                 int32_t *c, int64_t ldc) {
  // Two rows at a time keep 8 accumulators and 4 B vectors in registers.
  for (int r0 = 0; r0 < kMr; r0 += 2) {
    __m256i acc[2][4];
    for (auto &row : acc)
      for (auto &v : row)
        v = _mm256_setzero_si256();
    const uint8_t *a = ap;
    const int8_t *b = bp;
    for (int64_t q = 0; q < kq; ++q) {
      __m256i bv[4];
      for (int j = 0; j < 4; ++j)
        bv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b) + j);
      for (int r = 0; r < 2; ++r) {
        int32_t quad;
        std::memcpy(&quad, a + (r0 + r) * lda, 4);
        __m256i av = _mm256_set1_epi32(quad);
        for (int j = 0; j < 4; ++j)
          acc[r][j] = dpbusdAVX2(acc[r][j], av, bv[j]);
      }
      a += 4;
      b += kNr * 4;
    }
    for (int r = 0; r < 2; ++r) {
      int32_t *row = c + (r0 + r) * ldc;
      for (int j = 0; j < 4; ++j) {
        auto *p = reinterpret_cast<__m256i *>(row + j * 8);
        _mm256_storeu_si256(p,
                            _mm256_add_epi32(_mm256_loadu_si256(p), acc[r][j]));
      }
    }
  }
}
#endif

struct KernelI8 {
  const char *isa;
  MicroI8 fn;
};

/// The widest int8 kernel the CPU runs; QOPT_KERNEL=avx2|generic picks a
/// narrower one, as for the f32 kernels.
const KernelI8 &kernelI8() {
  static const KernelI8 chosen = [] {
    const char *force = std::getenv("QOPT_KERNEL");
    std::string want = force ? force : "";
#if defined(__x86_64__)
    if ((want.empty() || want == "avx512") &&
        __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512bw"))
      return KernelI8{"avx512vnni", microI8VNNI};
    if ((want.empty() || want == "avx512" || want == "avx2") &&
        __builtin_cpu_supports("avx2"))
      return KernelI8{"avx2", microI8AVX2};
#endif
    return KernelI8{"generic", microI8Generic};
  }();
  return chosen;
}

/// B [N, K] (strides in elements) packed into panels of kNr columns: panel
/// p holds, for each quad q of k, B[p*kNr + c][4q + u] at
/// p * kPadded * kNr + q * 4 * kNr + c * 4 + u (zero padded), and the row
/// sums Σk B[n, k].
struct PackedI8 {
  std::vector<int8_t> data;
  std::vector<int32_t> rowSums;
  int64_t kPadded = 0;
};

std::shared_ptr<PackedI8> packI8(const int8_t *b, int64_t n, int64_t k,
                                 int64_t sN, int64_t sK) {
  auto p = std::make_shared<PackedI8>();
  p->kPadded = (k + 3) / 4 * 4;
  int64_t panels = (n + kNr - 1) / kNr;
  p->data.assign(size_t(panels * p->kPadded * kNr), 0);
  p->rowSums.assign(size_t(panels * kNr), 0);
  for (int64_t j = 0; j < n; ++j) {
    int8_t *panel = p->data.data() + (j / kNr) * p->kPadded * kNr;
    int64_t c = j % kNr;
    int32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      int8_t v = b[j * sN + kk * sK];
      panel[(kk / 4) * 4 * kNr + c * 4 + kk % 4] = v;
      sum += v;
    }
    p->rowSums[size_t(j)] = sum;
  }
  return p;
}

std::mutex packedMu;
std::map<std::array<int64_t, 5>, std::shared_ptr<const PackedI8>> packedCache;

std::shared_ptr<const PackedI8> packedI8(const int8_t *b, int64_t n, int64_t k,
                                         int64_t sN, int64_t sK,
                                         bool constant) {
  if (!constant)
    return packI8(b, n, k, sN, sK);
  std::array<int64_t, 5> key{reinterpret_cast<int64_t>(b), n, k, sN, sK};
  std::lock_guard<std::mutex> lock(packedMu);
  std::shared_ptr<const PackedI8> &entry = packedCache[key];
  if (!entry)
    entry = packI8(b, n, k, sN, sK);
  return entry;
}

/// C += A·Bᵀ with B already packed.
void matmulI8Packed(int64_t m, int64_t n, int64_t k, const uint8_t *a,
                    int64_t aM, int64_t aK, bool aSigned,
                    const PackedI8 *packed, int32_t *c, int64_t cM,
                    int64_t cN) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  const KernelI8 &kernel = kernelI8();
  const int64_t kp = packed->kPadded;
  const int64_t mBlocks = (m + kMc - 1) / kMc;
  // (Narrower column blocks for few rows, so that both threads get work,
  // made 32-token blocks 20% slower on the loaded 2-core machine: the
  // hand-offs cost more than the idle thread.)
  const int64_t nc0 = kNc;
  const int64_t nBlocks = (n + nc0 - 1) / nc0;
  // A once per call, row-major u8 (a signed A shifted by +128), rows
  // padded to kMr and k to whole quads with zeros: the microkernels
  // broadcast its quads straight from the rows (it was re-packed into
  // kMr-row panels for every column block: a quarter of a 32-token
  // product's time).
  const uint8_t flip = aSigned ? 0x80 : 0; // s8 → u8: +128
  const int64_t mPad = (m + kMr - 1) / kMr * kMr;
  thread_local std::vector<uint8_t> aRowsBuf;
  aRowsBuf.resize(size_t(mPad * kp));
  uint8_t *aRows = aRowsBuf.data();
  for (int64_t i = 0; i < mPad; ++i) {
    uint8_t *dst = aRows + i * kp;
    if (i >= m) {
      std::memset(dst, 0, size_t(kp));
      continue;
    }
    const uint8_t *src = a + i * aM;
    if (aK == 1)
      for (int64_t kk = 0; kk < k; ++kk)
        dst[kk] = src[kk] ^ flip;
    else
      for (int64_t kk = 0; kk < k; ++kk)
        dst[kk] = src[kk * aK] ^ flip;
    std::memset(dst + k, 0, size_t(kp - k));
  }
  auto task = [&](int64_t t) {
    int64_t nb = t % nBlocks, mb = t / nBlocks;
    int64_t i0 = mb * kMc, mc = std::min(kMc, m - i0);
    int64_t j0 = nb * nc0, nc = std::min(nc0, n - j0);
    alignas(64) int32_t tile[kMr * kNr];
    for (int64_t q0 = 0; q0 < kp / 4; q0 += kKq) {
      int64_t kq = std::min(kKq, kp / 4 - q0);
      for (int64_t jq = 0; jq < nc; jq += kNr) {
        const int8_t *bp =
            packed->data.data() + ((j0 + jq) / kNr) * kp * kNr + q0 * 4 * kNr;
        for (int64_t p = 0; p < mc; p += kMr) {
          int64_t rows = std::min(kMr, mc - p), cols = std::min(kNr, nc - jq);
          const uint8_t *ap = aRows + (i0 + p) * kp + q0 * 4;
          int32_t *out = c + (i0 + p) * cM + (j0 + jq) * cN;
          if (rows == kMr && cols == kNr && cN == 1) {
            kernel.fn(kq, ap, kp, bp, out, cM);
            continue;
          }
          std::memset(tile, 0, sizeof(tile));
          kernel.fn(kq, ap, kp, bp, tile, kNr);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {
              int32_t &o = out[r * cM + j * cN];
              o = int32_t(uint32_t(o) + uint32_t(tile[r * kNr + j]));
            }
        }
      }
    }
    if (aSigned) // undo the +128 shift: -128 · Σk B[n, k]
      for (int64_t i = 0; i < mc; ++i)
        for (int64_t j = 0; j < nc; ++j) {
          int32_t &o = c[(i0 + i) * cM + (j0 + j) * cN];
          o = int32_t(uint32_t(o) -
                      uint32_t(128) *
                          uint32_t(packed->rowSums[size_t(j0 + j)]));
        }
  };
  int64_t tasks = mBlocks * nBlocks;
  if (m * n * k < kParallelWorkI8)
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
  else
    qopt::rt::parallelFor(tasks, task);
}

void matmulI8(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t aM,
              int64_t aK, bool aSigned, const int8_t *b, int64_t bN, int64_t bK,
              int32_t *c, int64_t cM, int64_t cN, bool bConstant) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  std::shared_ptr<const PackedI8> packed = packedI8(b, n, k, bN, bK, bConstant);
  matmulI8Packed(m, n, k, a, aM, aK, aSigned, packed.get(), c, cM, cN);
}

//===----------------------------------------------------------------------===//
// Weight-only
//===----------------------------------------------------------------------===//

/// A quantized [N, K] weight: int8 per channel, or 4-bit packed two per
/// byte (even k in the low nibble) with per-group scales (and zero points
/// for uint4).
struct QuantWeight {
  int bits;      // 8 or 4
  bool isSigned; // int4 (sign in bit 3) vs uint4 (zero points)
  int64_t group; // 4-bit: k per scale
  /// NF4: the 16 levels a nibble indexes (QLoRA); null for int4/uint4.
  const float *levels;
  const int8_t *w;
  int64_t wN, wK; // element (8-bit) or byte (4-bit) strides
  const float *scale;
  int64_t sN, sG;
  const int8_t *zp;
  int64_t zN, zG;
  /// int4/uint4: the activations are quantized to int8 per row and group
  /// (qlinear activation dynamic_block; W4Int8Kernels.cpp).
  bool int8Activations = false;

  /// Dequantized w[j][k0 .. k0+len) into out.
  void row(int64_t j, int64_t k0, int64_t len, float *out) const {
    const int8_t *r = w + j * wN;
    if (bits == 8) {
      float s = scale[j * sN];
      for (int64_t i = 0; i < len; ++i)
        out[i] = float(r[(k0 + i) * wK]) * s;
      return;
    }
    // 4-bit: a group at a time (one scale and zero point), bytes split
    // into their two nibbles; (v ^ 8) - 8 sign-extends an int4.
    const auto *bytes = reinterpret_cast<const uint8_t *>(r);
    const int sign = isSigned ? 8 : 0;
    int64_t kk = k0;
    const int64_t end = k0 + len;
    float *o = out;
    auto value = [&](int v, int z) {
      return levels ? levels[v] : float(((v ^ sign) - sign) - z);
    };
    auto one = [&](int64_t at, float sc, int z) {
      int v = (bytes[(at / 2) * wK] >> ((at & 1) * 4)) & 15;
      *o++ = value(v, z) * sc;
    };
    while (kk < end) {
      int64_t g = kk / group, gEnd = std::min(end, (g + 1) * group);
      float sc = scale[j * sN + g * sG];
      int z = isSigned ? 0 : zp[j * zN + g * zG];
      if (kk & 1)
        one(kk++, sc, z);
      if (wK == 1) {
        const uint8_t *b = bytes + kk / 2;
        int64_t pairs = (gEnd - kk) / 2;
        for (int64_t p = 0; p < pairs; ++p) {
          int lo = b[p] & 15, hi = b[p] >> 4;
          o[2 * p] = value(lo, z) * sc;
          o[2 * p + 1] = value(hi, z) * sc;
        }
        o += 2 * pairs;
        kk += 2 * pairs;
      }
      while (kk < gEnd)
        one(kk++, sc, z);
    }
  }
};

/// A weight-only weight repacked for runGemm's B panels of nr columns
/// (B = Wᵀ: [K, N]), so that a block dequantizes with a few vector
/// instructions per k and panel, as MLAS's MatMulNBits prepacks its
/// weights. Panel p holds columns [p*nr, p*nr + nr) (zero padded):
/// * 8-bit: codes[p][k][c] (int8), scales[p][c].
/// * 4-bit: codes[p][k][b] bytes of nr/2: the low nibble is column b, the
///   high nibble column b + nr/2; an int4 is stored biased (v ^ 8, i.e.
///   v + 8) with a zero point of 8, so that every format dequantizes as
///   (u - z) * s (NF4: levels[u] * s). scales and zeros [p][group][c].
/// A constant weight is packed once per model (cached like the int8
/// panels); another is packed on every call.
struct PackedWeightOnly {
  int bits = 8;
  bool nf4 = false;
  int64_t nr = 0, k = 0, group = 0, groups = 1;
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
};

std::shared_ptr<PackedWeightOnly>
packWeightOnly(const QuantWeight &qw, int64_t n, int64_t k, int64_t nr) {
  auto p = std::make_shared<PackedWeightOnly>();
  p->bits = qw.bits;
  p->nf4 = qw.levels != nullptr;
  p->nr = nr;
  p->k = k;
  p->group = qw.bits == 8 ? k : qw.group;
  p->groups = qw.bits == 8 ? 1 : (k + qw.group - 1) / qw.group;
  const int64_t panels = (n + nr - 1) / nr;
  const int64_t rowBytes = qw.bits == 8 ? nr : nr / 2;
  p->codes.assign(size_t(panels * k * rowBytes), 0);
  p->scales.assign(size_t(panels * p->groups * nr), 0.0f);
  p->zeros.assign(size_t(panels * p->groups * nr), 0.0f);
  const int bias = qw.isSigned && !p->nf4 ? 8 : 0;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t panel = j / nr, c = j % nr;
    uint8_t *dst = p->codes.data() + panel * k * rowBytes;
    const auto *bytes = reinterpret_cast<const uint8_t *>(qw.w + j * qw.wN);
    for (int64_t kk = 0; kk < k; ++kk) {
      if (qw.bits == 8) {
        dst[kk * nr + c] = bytes[kk * qw.wK];
        continue;
      }
      int u = ((bytes[(kk / 2) * qw.wK] >> ((kk & 1) * 4)) & 15) ^ bias;
      dst[kk * rowBytes + c % rowBytes] |= uint8_t(u << (c / rowBytes * 4));
    }
    for (int64_t g = 0; g < p->groups; ++g) {
      size_t at = size_t((panel * p->groups + g) * nr + c);
      p->scales[at] = qw.scale[j * qw.sN + g * qw.sG];
      p->zeros[at] = qw.bits == 8 || p->nf4 ? 0.0f
                     : qw.isSigned          ? 8.0f
                                   : float(qw.zp[j * qw.zN + g * qw.zG]);
    }
  }
  return p;
}

std::mutex packedWOMu;
std::map<std::array<int64_t, 12>, std::shared_ptr<const PackedWeightOnly>>
    packedWOCache;

std::shared_ptr<const PackedWeightOnly> packedWeightOnly(const QuantWeight &qw,
                                                         int64_t n, int64_t k,
                                                         int64_t nr,
                                                         bool constant) {
  if (!constant)
    return packWeightOnly(qw, n, k, nr);
  std::array<int64_t, 12> key{reinterpret_cast<int64_t>(qw.w),
                              n,
                              k,
                              qw.wN,
                              qw.wK,
                              qw.bits * 4 + (qw.isSigned ? 1 : 0) +
                                  (qw.levels ? 2 : 0),
                              qw.group,
                              reinterpret_cast<int64_t>(qw.scale),
                              qw.sN * 65536 + qw.sG,
                              reinterpret_cast<int64_t>(qw.zp),
                              qw.zN * 65536 + qw.zG,
                              nr};
  std::lock_guard<std::mutex> lock(packedWOMu);
  std::shared_ptr<const PackedWeightOnly> &entry = packedWOCache[key];
  if (!entry)
    entry = packWeightOnly(qw, n, k, nr);
  return entry;
}

/// Panel q of a block: rows [k0, k0 + kc) of packed panel `panel`
/// dequantized into out[k * nr + c].
void dequantizePanelGeneric(const PackedWeightOnly &pw, int64_t panel,
                            int64_t k0, int64_t kc, float *out) {
  const int64_t nr = pw.nr, half = nr / 2;
  const int64_t rowBytes = pw.bits == 8 ? nr : half;
  const uint8_t *codes = pw.codes.data() + (panel * pw.k + k0) * rowBytes;
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t g = (k0 + k) / pw.group;
    const float *s = pw.scales.data() + (panel * pw.groups + g) * nr;
    const float *z = pw.zeros.data() + (panel * pw.groups + g) * nr;
    const uint8_t *row = codes + k * rowBytes;
    float *o = out + k * nr;
    if (pw.bits == 8) {
      for (int64_t c = 0; c < nr; ++c)
        o[c] = float(int8_t(row[c])) * s[c];
      continue;
    }
    for (int64_t c = 0; c < nr; ++c) {
      int u = (row[c % half] >> (c / half * 4)) & 15;
      o[c] = (pw.nf4 ? qopt::kNF4Levels[u] : float(u) - z[c]) * s[c];
    }
  }
}

#if defined(__x86_64__)
/// dequantizePanelGeneric for nr = 32 on AVX-512: per k, one 16-byte
/// (4-bit) or 32-byte (8-bit) load, nibble split, widen, convert, scale.
__attribute__((target("avx512f,avx512bw"))) void
dequantizePanelAVX512(const PackedWeightOnly &pw, int64_t panel, int64_t k0,
                      int64_t kc, float *out) {
  constexpr int64_t nr = 32;
  const int64_t rowBytes = pw.bits == 8 ? nr : nr / 2;
  const uint8_t *codes = pw.codes.data() + (panel * pw.k + k0) * rowBytes;
  const __m128i low = _mm_set1_epi8(0x0F);
  const __m512 levels =
      pw.nf4 ? _mm512_loadu_ps(qopt::kNF4Levels) : _mm512_setzero_ps();
  for (int64_t k = 0; k < kc;) {
    const int64_t g = (k0 + k) / pw.group;
    const int64_t end = std::min(kc, (g + 1) * pw.group - k0);
    const float *sp = pw.scales.data() + (panel * pw.groups + g) * nr;
    const float *zp = pw.zeros.data() + (panel * pw.groups + g) * nr;
    const __m512 s0 = _mm512_loadu_ps(sp), s1 = _mm512_loadu_ps(sp + 16);
    const __m512 z0 = _mm512_loadu_ps(zp), z1 = _mm512_loadu_ps(zp + 16);
    if (pw.bits == 8) {
      for (; k < end; ++k) {
        const auto *row =
            reinterpret_cast<const __m128i *>(codes + k * rowBytes);
        __m512 w0 =
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(row)));
        __m512 w1 =
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(row + 1)));
        _mm512_storeu_ps(out + k * nr, _mm512_mul_ps(w0, s0));
        _mm512_storeu_ps(out + k * nr + 16, _mm512_mul_ps(w1, s1));
      }
      continue;
    }
    for (; k < end; ++k) {
      __m128i v = _mm_loadu_si128(
          reinterpret_cast<const __m128i *>(codes + k * rowBytes));
      __m512i u0 = _mm512_cvtepu8_epi32(_mm_and_si128(v, low));
      __m512i u1 =
          _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), low));
      __m512 w0, w1;
      if (pw.nf4) {
        w0 = _mm512_permutexvar_ps(u0, levels);
        w1 = _mm512_permutexvar_ps(u1, levels);
      } else {
        w0 = _mm512_sub_ps(_mm512_cvtepi32_ps(u0), z0);
        w1 = _mm512_sub_ps(_mm512_cvtepi32_ps(u1), z1);
      }
      _mm512_storeu_ps(out + k * nr, _mm512_mul_ps(w0, s0));
      _mm512_storeu_ps(out + k * nr + 16, _mm512_mul_ps(w1, s1));
    }
  }
}
#endif

/// runGemm's B block (B = Wᵀ: [K, N]) dequantized into its panels from the
/// repacked weight.
void packDequantized(const void *context, int64_t k0, int64_t kc, int64_t j0,
                     int64_t nc, int64_t nr, float *out) {
  const auto &pw = *static_cast<const PackedWeightOnly *>(context);
#if defined(__x86_64__)
  static const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  const bool vector = avx512 && nr == 32;
#endif
  for (int64_t q = 0; q < nc; q += nr) {
    const int64_t panel = (j0 + q) / nr;
#if defined(__x86_64__)
    if (vector) {
      dequantizePanelAVX512(pw, panel, k0, kc, out + q * kc);
      continue;
    }
#endif
    dequantizePanelGeneric(pw, panel, k0, kc, out + q * kc);
  }
}

constexpr int64_t kGemvRows = 4;
/// Up to this many rows run as groups of kGemvRows dot-product rows.
constexpr int64_t kGemvSplitRows = 16;

/// Σk x[k] · w[k] over one dequantized row chunk.
float dot(const float *x, int64_t xK, const float *w, int64_t len) {
  float s = 0;
  if (xK == 1) {
    // Eight partial sums: vectorizes without reassociating floats.
    float part[8] = {};
    int64_t i = 0;
    for (; i + 8 <= len; i += 8)
      for (int u = 0; u < 8; ++u)
        part[u] += x[i + u] * w[i + u];
    for (; i < len; ++i)
      part[0] += x[i] * w[i];
    for (float p : part)
      s += p;
    return s;
  }
  for (int64_t i = 0; i < len; ++i)
    s += x[i * xK] * w[i];
  return s;
}

#if defined(__x86_64__)
/// Horizontal sum of 16 floats.
__attribute__((target("avx512f"))) inline float sum16(__m512 v) {
  return _mm512_reduce_add_ps(v);
}

/// y[i][j] += Σk a[i][k] · w'[j][k] for rows [j0, j1) and m ≤ kGemvRows rows
/// of A, dequantizing 16 weights at a time in registers (A and the weight
/// rows contiguous along K; 4-bit groups a multiple of 16).
/// M rows of A, known at compile time so that the accumulators stay in
/// registers.
template <int M>
__attribute__((target("avx512f,avx512bw"))) void
gemvRows(int64_t k, const float *a, int64_t aM, const QuantWeight &qw,
         int64_t j0, int64_t j1, float *c, int64_t cM, int64_t cN) {
  constexpr int64_t m = M;
  for (int64_t j = j0; j < j1; ++j) {
    const int8_t *r = qw.w + j * qw.wN;
    float total[M] = {};
    if (qw.bits == 8) {
      __m512 acc[M];
      for (int i = 0; i < M; ++i)
        acc[i] = _mm512_setzero_ps();
      int64_t kk = 0;
      for (; kk + 16 <= k; kk += 16) {
        __m512 wv = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i *>(r + kk))));
        for (int64_t i = 0; i < m; ++i)
          acc[i] =
              _mm512_fmadd_ps(wv, _mm512_loadu_ps(a + i * aM + kk), acc[i]);
      }
      for (int64_t i = 0; i < m; ++i) {
        float t = sum16(acc[i]);
        for (int64_t q = kk; q < k; ++q)
          t += a[i * aM + q] * float(r[q]);
        total[i] = t * qw.scale[j * qw.sN];
      }
    } else {
      const auto *bytes = reinterpret_cast<const uint8_t *>(r);
      const __m512i sign = _mm512_set1_epi32(qw.isSigned ? 8 : 0);
      const __m128i low = _mm_set1_epi16(0x000F);
      // NF4: one permute looks the 16 nibbles up in the 16 levels.
      const bool nf4 = qw.levels != nullptr;
      const __m512 levels =
          nf4 ? _mm512_loadu_ps(qw.levels) : _mm512_setzero_ps();
      __m512 sums[M];
      for (int i = 0; i < M; ++i)
        sums[i] = _mm512_setzero_ps();
      // A last group shorter than the others (K not a multiple of the
      // group) ends in scalar code.
      for (int64_t g = 0; g * qw.group < k; ++g) {
        const int64_t kEnd = std::min(k, (g + 1) * qw.group);
        const int zpG = qw.isSigned ? 0 : qw.zp[j * qw.zN + g * qw.zG];
        __m512i zp = _mm512_set1_epi32(zpG);
        __m512 acc[M];
        for (int i = 0; i < M; ++i)
          acc[i] = _mm512_setzero_ps();
        int64_t kk = g * qw.group;
        for (; kk + 16 <= kEnd; kk += 16) {
          // 8 bytes → 16 nibbles in k order: each byte's low then high.
          __m128i v = _mm_cvtepu8_epi16(_mm_loadl_epi64(
              reinterpret_cast<const __m128i *>(bytes + kk / 2)));
          __m128i pairs = _mm_or_si128(_mm_and_si128(v, low),
                                       _mm_slli_epi16(_mm_srli_epi16(v, 4), 8));
          __m512i q = _mm512_cvtepu8_epi32(pairs);
          __m512 wv;
          if (nf4) {
            wv = _mm512_permutexvar_ps(q, levels);
          } else {
            q = _mm512_sub_epi32(
                _mm512_sub_epi32(_mm512_xor_si512(q, sign), sign), zp);
            wv = _mm512_cvtepi32_ps(q);
          }
          for (int64_t i = 0; i < m; ++i)
            acc[i] =
                _mm512_fmadd_ps(wv, _mm512_loadu_ps(a + i * aM + kk), acc[i]);
        }
        const float scG = qw.scale[j * qw.sN + g * qw.sG];
        for (; kk < kEnd; ++kk) {
          int v = (bytes[kk / 2] >> ((kk & 1) * 4)) & 15;
          float wk = nf4 ? qw.levels[v]
                         : float(((v ^ (qw.isSigned ? 8 : 0)) -
                                  (qw.isSigned ? 8 : 0)) -
                                 zpG);
          for (int64_t i = 0; i < m; ++i)
            total[i] += a[i * aM + kk] * wk * scG;
        }
        __m512 sc = _mm512_set1_ps(scG);
        for (int64_t i = 0; i < m; ++i)
          sums[i] = _mm512_fmadd_ps(acc[i], sc, sums[i]);
      }
      for (int64_t i = 0; i < m; ++i)
        total[i] += sum16(sums[i]);
    }
    for (int64_t i = 0; i < m; ++i)
      c[i * cM + j * cN] += total[i];
  }
}

void gemvAVX512(int64_t m, int64_t k, const float *a, int64_t aM,
                const QuantWeight &qw, int64_t j0, int64_t j1, float *c,
                int64_t cM, int64_t cN) {
  switch (m) {
  case 1:
    return gemvRows<1>(k, a, aM, qw, j0, j1, c, cM, cN);
  case 2:
    return gemvRows<2>(k, a, aM, qw, j0, j1, c, cM, cN);
  case 3:
    return gemvRows<3>(k, a, aM, qw, j0, j1, c, cM, cN);
  default:
    return gemvRows<4>(k, a, aM, qw, j0, j1, c, cM, cN);
  }
}

/// The 32 weights of one k of a repacked panel (codes at `row`), without
/// the scale: (u - z), levels[u] (NF4) or the int8 value.
__attribute__((target("avx512f,avx512bw"), always_inline)) inline void
panelWeights(const PackedWeightOnly &pw, const uint8_t *row, __m512 z0,
             __m512 z1, __m512 levels, __m512 &w0, __m512 &w1) {
  if (pw.bits == 8) {
    const auto *r = reinterpret_cast<const __m128i *>(row);
    w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(r)));
    w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(r + 1)));
    return;
  }
  const __m128i low = _mm_set1_epi8(0x0F);
  __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row));
  __m512i u0 = _mm512_cvtepu8_epi32(_mm_and_si128(v, low));
  __m512i u1 = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), low));
  if (pw.nf4) {
    w0 = _mm512_permutexvar_ps(u0, levels);
    w1 = _mm512_permutexvar_ps(u1, levels);
  } else {
    w0 = _mm512_sub_ps(_mm512_cvtepi32_ps(u0), z0);
    w1 = _mm512_sub_ps(_mm512_cvtepi32_ps(u1), z1);
  }
}

/// y[i][p*32 + c] += Σk a[i][k] · w'[p*32 + c][k] for the 32 columns of
/// repacked panel `panel` and M ≤ kGemvRows rows of A (contiguous along K):
/// per k, the panel's 32 weights are dequantized in two vectors (as
/// dequantizePanelAVX512, the scale applied once per group) and multiply a
/// broadcast of a[i][k]; with one or two rows, even and odd k accumulate
/// separately so that FMA latency does not bound the loop. Half the
/// instructions per weight of gemvRows on the row-major weight.
template <int M>
__attribute__((target("avx512f,avx512bw"))) void
gemvPanelAVX512(const float *a, int64_t aM, const PackedWeightOnly &pw,
                int64_t panel, float *c, int64_t cM, int64_t cN, int64_t cols) {
  constexpr int64_t nr = 32;
  constexpr int S = M <= 2 ? 2 : 1;
  const int64_t rowBytes = pw.bits == 8 ? nr : nr / 2;
  const uint8_t *codes = pw.codes.data() + panel * pw.k * rowBytes;
  const __m512 levels =
      pw.nf4 ? _mm512_loadu_ps(qopt::kNF4Levels) : _mm512_setzero_ps();
  __m512 sum[M][2];
  for (auto &r : sum)
    r[0] = r[1] = _mm512_setzero_ps();
  for (int64_t g = 0; g < pw.groups; ++g) {
    const int64_t k0 = g * pw.group, k1 = std::min(pw.k, k0 + pw.group);
    const float *sp = pw.scales.data() + (panel * pw.groups + g) * nr;
    const float *zp = pw.zeros.data() + (panel * pw.groups + g) * nr;
    const __m512 z0 = _mm512_loadu_ps(zp), z1 = _mm512_loadu_ps(zp + 16);
    __m512 acc[S][M][2];
    for (auto &set : acc)
      for (auto &r : set)
        r[0] = r[1] = _mm512_setzero_ps();
    int64_t k = k0;
    for (; k + S <= k1; k += S)
      for (int s = 0; s < S; ++s) {
        __m512 w0, w1;
        panelWeights(pw, codes + (k + s) * rowBytes, z0, z1, levels, w0, w1);
        for (int i = 0; i < M; ++i) {
          __m512 x = _mm512_set1_ps(a[i * aM + k + s]);
          acc[s][i][0] = _mm512_fmadd_ps(x, w0, acc[s][i][0]);
          acc[s][i][1] = _mm512_fmadd_ps(x, w1, acc[s][i][1]);
        }
      }
    for (; k < k1; ++k) {
      __m512 w0, w1;
      panelWeights(pw, codes + k * rowBytes, z0, z1, levels, w0, w1);
      for (int i = 0; i < M; ++i) {
        __m512 x = _mm512_set1_ps(a[i * aM + k]);
        acc[0][i][0] = _mm512_fmadd_ps(x, w0, acc[0][i][0]);
        acc[0][i][1] = _mm512_fmadd_ps(x, w1, acc[0][i][1]);
      }
    }
    const __m512 s0 = _mm512_loadu_ps(sp), s1 = _mm512_loadu_ps(sp + 16);
    for (int i = 0; i < M; ++i) {
      __m512 t0 = acc[0][i][0], t1 = acc[0][i][1];
      for (int s = 1; s < S; ++s) {
        t0 = _mm512_add_ps(t0, acc[s][i][0]);
        t1 = _mm512_add_ps(t1, acc[s][i][1]);
      }
      sum[i][0] = _mm512_fmadd_ps(t0, s0, sum[i][0]);
      sum[i][1] = _mm512_fmadd_ps(t1, s1, sum[i][1]);
    }
  }
  for (int i = 0; i < M; ++i) {
    alignas(64) float t[nr];
    _mm512_store_ps(t, sum[i][0]);
    _mm512_store_ps(t + 16, sum[i][1]);
    for (int64_t col = 0; col < cols; ++col)
      c[i * cM + col * cN] += t[col];
  }
}

void gemvPanelsAVX512(int64_t m, const float *a, int64_t aM,
                      const PackedWeightOnly &pw, int64_t panel, float *c,
                      int64_t cM, int64_t cN, int64_t cols) {
  switch (m) {
  case 1:
    return gemvPanelAVX512<1>(a, aM, pw, panel, c, cM, cN, cols);
  case 2:
    return gemvPanelAVX512<2>(a, aM, pw, panel, c, cM, cN, cols);
  case 3:
    return gemvPanelAVX512<3>(a, aM, pw, panel, c, cM, cN, cols);
  default:
    return gemvPanelAVX512<4>(a, aM, pw, panel, c, cM, cN, cols);
  }
}
#endif

void matmulWeightOnly(int64_t m, int64_t n, int64_t k, const float *a,
                      int64_t aM, int64_t aK, const QuantWeight &qw, float *c,
                      int64_t cM, int64_t cN, bool constant) {
  if (m <= 0 || n <= 0 || k <= 0)
    return;
  // int4/uint4 with int8 activations where the artifact asks for them
  // (W4Int8Kernels.cpp).
  if (qw.bits == 4 && !qw.levels && qw.int8Activations &&
      qopt::rt::matmulW4Int8(m, n, k, a, aM, aK,
                             qopt::rt::W4Weight{qw.w, qw.wN, qw.wK, qw.group,
                                                qw.isSigned, qw.scale, qw.sN,
                                                qw.sG, qw.zp, qw.zN, qw.zG},
                             c, cM, cN, constant))
    return;
  // A few more rows (a recurrent step at batch 8, a short prompt): groups of
  // kGemvRows dot-product rows, the weight decoded once per group, beat
  // repacking and dequantizing every panel for the f32 GEMM — for a
  // constant weight with AVX-512 panels (packed once, dequantized by
  // vectors) only up to 8 rows: the row-major dot products took 0.90 ms for
  // 16 rows of 1024x1024 int4 (one thread) where the GEMM takes 0.43.
  static const bool vectorPanels =
#if defined(__x86_64__)
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
      false;
#endif
  const bool fastPanels =
      constant && vectorPanels && qopt::rt::gemmPanelWidth() == 32;
  // With fast panels, groups of 4 rows on the panels still beat the GEMM up
  // to 8 rows (1024x1024 int4, 1 thread: 4 rows 0.10 ms, 5-8 rows as GEMM
  // 0.26-0.30 ms); at 16 they tie.
  if (m > kGemvRows && m <= (fastPanels ? 2 * kGemvRows : kGemvSplitRows)) {
    for (int64_t i0 = 0; i0 < m; i0 += kGemvRows)
      matmulWeightOnly(std::min(kGemvRows, m - i0), n, k, a + i0 * aM, aM, aK,
                       qw, c + i0 * cM, cM, cN, constant);
    return;
  }
  if (m > kGemvRows) {
    qopt::rt::Gemm g{1,       1, m, n, k, false, a, 0, 0,  aM, aK,
                     nullptr, 0, 0, 0, 0, c,     0, 0, cM, cN};
    std::shared_ptr<const PackedWeightOnly> packed =
        packedWeightOnly(qw, n, k, qopt::rt::gemmPanelWidth(), constant);
    g.packBlock = packDequantized;
    g.packContext = packed.get();
    qopt::rt::runGemm(g);
    return;
  }
#if defined(__x86_64__)
  // Few rows, a constant weight with AVX-512 panels: dot products over the
  // repacked panels, 32 columns at a time.
  if (fastPanels && aK == 1) {
    std::shared_ptr<const PackedWeightOnly> packed =
        packedWeightOnly(qw, n, k, 32, true);
    int64_t panels = (n + 31) / 32;
    auto task = [&](int64_t p) {
      gemvPanelsAVX512(m, a, aM, *packed, p, c + p * 32 * cN, cM, cN,
                       std::min<int64_t>(32, n - p * 32));
    };
    if (m * n * k < kParallelWorkGemv)
      for (int64_t p = 0; p < panels; ++p)
        task(p);
    else
      qopt::rt::parallelFor(panels, task);
    return;
  }
  // Few rows on AVX-512: dequantize in registers, stream each weight once.
  bool vectorRows =
      aK == 1 && qw.wK == 1 && (qw.bits == 8 || qw.group % 16 == 0) &&
      kernelI8().fn != microI8Generic && kernelI8().fn != microI8AVX2 &&
      __builtin_cpu_supports("avx512bw");
  if (vectorRows) {
    constexpr int64_t kRows = 16;
    int64_t tasks = (n + kRows - 1) / kRows;
    auto task = [&](int64_t t) {
      gemvAVX512(m, k, a, aM, qw, t * kRows, std::min(n, (t + 1) * kRows), c,
                 cM, cN);
    };
    if (m * n * k < kParallelWorkGemv)
      for (int64_t t = 0; t < tasks; ++t)
        task(t);
    else
      qopt::rt::parallelFor(tasks, task);
    return;
  }
#endif
  // Few rows: each weight row is dequantized once, in chunks that stay in
  // L1, and dotted with every row of A.
  constexpr int64_t kChunk = 512, kRowsPerTask = 16;
  auto task = [&](int64_t t) {
    float w[kChunk];
    for (int64_t j = t * kRowsPerTask; j < std::min(n, (t + 1) * kRowsPerTask);
         ++j) {
      float acc[kGemvRows] = {};
      for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
        int64_t len = std::min(kChunk, k - k0);
        qw.row(j, k0, len, w);
        for (int64_t i = 0; i < m; ++i)
          acc[i] += dot(a + i * aM + k0 * aK, aK, w, len);
      }
      for (int64_t i = 0; i < m; ++i)
        c[i * cM + j * cN] += acc[i];
    }
  };
  int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  if (m * n * k < kParallelWorkGemv)
    for (int64_t t = 0; t < tasks; ++t)
      task(t);
  else
    qopt::rt::parallelFor(tasks, task);
}

} // namespace

void qopt::rt::clearQuantKernelCaches() {
  {
    std::lock_guard<std::mutex> lock(packedMu);
    packedCache.clear();
  }
  {
    std::lock_guard<std::mutex> lock(packedWOMu);
    packedWOCache.clear();
  }
  clearW4Int8Cache();
  clearConvS8Cache();
}

extern "C" const char *qopt_kernel_isa_int8(void) { return kernelI8().isa; }

// Addresses arrive as i64, strides in elements (bytes for packed 4-bit
// weights' K stride).
extern "C" void qopt_kernel_matmul_s8s8(int64_t m, int64_t n, int64_t k,
                                        int64_t aPtr, int64_t aM, int64_t aK,
                                        int64_t bPtr, int64_t bN, int64_t bK,
                                        int64_t cPtr, int64_t cM, int64_t cN,
                                        int64_t bConstant) {
  matmulI8(m, n, k, reinterpret_cast<const uint8_t *>(aPtr), aM, aK, true,
           reinterpret_cast<const int8_t *>(bPtr), bN, bK,
           reinterpret_cast<int32_t *>(cPtr), cM, cN, bConstant != 0);
}

extern "C" void qopt_kernel_matmul_u8s8(int64_t m, int64_t n, int64_t k,
                                        int64_t aPtr, int64_t aM, int64_t aK,
                                        int64_t bPtr, int64_t bN, int64_t bK,
                                        int64_t cPtr, int64_t cM, int64_t cN,
                                        int64_t bConstant) {
  matmulI8(m, n, k, reinterpret_cast<const uint8_t *>(aPtr), aM, aK, false,
           reinterpret_cast<const int8_t *>(bPtr), bN, bK,
           reinterpret_cast<int32_t *>(cPtr), cM, cN, bConstant != 0);
}

namespace {

/// Σ over the quads of a packed B panel, per column (lane).
void columnSumsGeneric(const int8_t *panel, int64_t quads, int32_t *sums) {
  for (int64_t q = 0; q < quads; ++q)
    for (int64_t c = 0; c < kNr; ++c)
      for (int u = 0; u < 4; ++u)
        sums[c] += panel[q * 4 * kNr + c * 4 + u];
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
columnSumsVNNI(const int8_t *panel, int64_t quads, int32_t *sums) {
  // vpdpbusd with u8 ones: each lane adds its four signed bytes.
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  for (int64_t q = 0; q < quads; ++q) {
    s0 = _mm512_dpbusd_epi32(s0, ones, _mm512_loadu_si512(panel + q * 128));
    s1 =
        _mm512_dpbusd_epi32(s1, ones, _mm512_loadu_si512(panel + q * 128 + 64));
  }
  _mm512_storeu_si512(sums, _mm512_add_epi32(_mm512_loadu_si512(sums), s0));
  _mm512_storeu_si512(sums + 16,
                      _mm512_add_epi32(_mm512_loadu_si512(sums + 16), s1));
}
#endif

void columnSums(const int8_t *panel, int64_t quads, int32_t *sums) {
#if defined(__x86_64__)
  if (kernelI8().fn == microI8VNNI)
    return columnSumsVNNI(panel, quads, sums);
#endif
  columnSumsGeneric(panel, quads, sums);
}

} // namespace

// out[n, f, oh, ow] += sum_{c, kh, kw} in[n, c, oh*sh + kh*dh, ow*sw + kw*dw]
//                                     * filter[f, c, kh, kw]
// in int8 → i32 (the input already padded with its zero point): per image,
// im2col into [pixels, C*KH*KW] bytes, then the int8 GEMM with the filter
// as A (M = F) and the columns as B, so that output rows stay contiguous.
extern "C" void qopt_kernel_conv2d_nchw_s8(QOPT_CONV2D_NCHW_PARAMS) {
  const auto *in = reinterpret_cast<const int8_t *>(inPtr);
  const auto *filter = reinterpret_cast<const int8_t *>(fPtr);
  auto *out = reinterpret_cast<int32_t *>(outPtr);
  // Unit column strides with VNNI: ConvKernels.cpp's direct kernel.
  if (qopt::rt::convS8Direct({n,   c,   h,   w,    f,      kh,   kw,
                              oh,  ow,  sh,  sw,   dh,     dw,   in,
                              inN, inC, inH, inW,  filter, fF,   fC,
                              fH,  fW,  out, outN, outF,   outH, outW}))
    return;
  const int64_t kdim = c * kh * kw, pixels = oh * ow;
  if (n <= 0 || f <= 0 || kdim <= 0 || pixels <= 0)
    return;
  std::vector<int8_t> filterCopy;
  filter = qopt::rt::filterAsMatrix(filter, f, c, kh, kw, fF, fC, fH, fW,
                                    filterCopy);
  // The columns, packed as the GEMM's B (one pixel per column) as they are
  // gathered: B[p][k] = in[ci, i*sh + y*dh, j*sw + x*dw] at panel p / 32,
  // quad k / 4, lane p % 32, byte k % 4; with each pixel's Σk.
  thread_local PackedI8 colCache;
  PackedI8 &col = colCache;
  col.kPadded = (kdim + 3) / 4 * 4;
  const int64_t panels = (pixels + kNr - 1) / kNr;
  col.data.assign(size_t(panels * col.kPadded * kNr), 0);
  col.rowSums.assign(size_t(panels * kNr), 0);
  const bool rowsContiguous = outH == ow * outW;
  std::vector<int32_t> tmp;
  for (int64_t b = 0; b < n; ++b) {
    const int8_t *img = in + b * inN;
    auto fill = [&](int64_t panel) {
      int8_t *dst = col.data.data() + panel * col.kPadded * kNr;
      int64_t p0 = panel * kNr, count = std::min(kNr, pixels - p0);
      int32_t sums[kNr] = {};
      // The panel's pixels as runs within one output row.
      struct Run {
        int64_t dst, src, len;
      } runs[kNr];
      int numRuns = 0;
      for (int64_t e = 0; e < count;) {
        int64_t i = (p0 + e) / ow, j = (p0 + e) % ow;
        int64_t len = std::min(count - e, ow - j);
        runs[numRuns++] = {e, i * sh * inH + j * sw * inW, len};
        e += len;
      }
      const int64_t step = sw * inW;
      // Four k at a time: the four bytes of a pixel's quad are gathered
      // and stored as one 32-bit word.
      int64_t x = 0, y = 0, ci = 0;
      const int8_t *bases[4];
      for (int64_t r0 = 0; r0 < kdim; r0 += 4) {
        for (int u = 0; u < 4; ++u) {
          if (r0 + u >= kdim) {
            bases[u] = nullptr;
            continue;
          }
          bases[u] = img + ci * inC + y * dh * inH + x * dw * inW;
          if (++x == kw) {
            x = 0;
            if (++y == kh) {
              y = 0;
              ++ci;
            }
          }
        }
        uint8_t *to = reinterpret_cast<uint8_t *>(dst) + r0 * kNr;
        for (int ru = 0; ru < numRuns; ++ru) {
          const Run &run = runs[ru];
          for (int64_t e = 0; e < run.len; ++e) {
            int64_t off = run.src + e * step;
            uint32_t word = 0;
            for (int u = 0; u < 4; ++u)
              if (bases[u])
                word |= uint32_t(uint8_t(bases[u][off])) << (8 * u);
            std::memcpy(to + (run.dst + e) * 4, &word, 4);
          }
        }
      }
      columnSums(dst, col.kPadded / 4, sums);
      for (int64_t e = 0; e < kNr; ++e)
        col.rowSums[size_t(p0 + e)] = e < count ? sums[e] : 0;
    };
    if (pixels * kdim < kParallelWork)
      for (int64_t q = 0; q < panels; ++q)
        fill(q);
    else
      qopt::rt::parallelFor(panels, fill);
    int32_t *o = out + b * outN;
    const auto *fa = reinterpret_cast<const uint8_t *>(filter);
    if (rowsContiguous) {
      matmulI8Packed(f, pixels, kdim, fa, fF, 1, true, &col, o, outF, outW);
      continue;
    }
    tmp.assign(size_t(f * pixels), 0);
    matmulI8Packed(f, pixels, kdim, fa, fF, 1, true, &col, tmp.data(), pixels,
                   1);
    for (int64_t i = 0; i < f; ++i)
      for (int64_t p = 0; p < pixels; ++p)
        o[i * outF + (p / ow) * outH + (p % ow) * outW] += tmp[i * pixels + p];
  }
}

// qopt_kernel_conv2d_nchw_s8 with its dequantizing epilogue (Conv.h,
// ConvS8Dequant): the output is f32, out[n, f, y, x] = bias[f] +
// f32(sum - corr[f]) * scale[f] (each operand [F] with its stride; a null
// bias address: the f32 with bit pattern `biasBits` for every channel),
// and is overwritten. With `toInt8` the output is int8 instead: each value
// requantized as qopt.quantize's lowering does (ConvS8Dequant::requantize;
// scale, clamp bounds and zero point as f32 bits). `filterConstant`: the filter
// is a model constant, rearranged once. The direct VNNI kernel applies it to
// each tile in registers; otherwise the sums go through a scratch buffer first.
extern "C" void qopt_kernel_conv2d_nchw_s8_dequant(
    QOPT_CONV2D_NCHW_PARAMS, int64_t corrPtr, int64_t corrStride,
    int64_t scalePtr, int64_t scaleStride, int64_t biasPtr, int64_t biasStride,
    int64_t biasBits, int64_t filterConstant, int64_t toInt8,
    int64_t qScaleBits, int64_t qLoBits, int64_t qHiBits, int64_t qZpBits) {
  const auto *in = reinterpret_cast<const int8_t *>(inPtr);
  const auto *filter = reinterpret_cast<const int8_t *>(fPtr);
  qopt::rt::ConvS8Dequant dq = qopt::rt::convS8DequantFromArgs(
      corrPtr, corrStride, scalePtr, scaleStride, biasPtr, biasStride, biasBits,
      outPtr, outN, outF, outH, outW, toInt8, qScaleBits, qLoBits, qHiBits,
      qZpBits);
  qopt::rt::ConvS8 conv{
      n,  c,  h,  w,       f,   kh,  kw,  oh,  ow,     sh,
      sw, dh, dw, in,      inN, inC, inH, inW, filter, fF,
      fC, fH, fW, nullptr, 0,   0,   0,   0,   &dq,    filterConstant != 0};
  if (qopt::rt::convS8Direct(conv))
    return;
  if (n <= 0 || f <= 0 || oh <= 0 || ow <= 0)
    return;
  thread_local std::vector<int32_t> sumsCache;
  std::vector<int32_t> &sums = sumsCache;
  const int64_t plane = oh * ow, image = f * plane;
  sums.assign(size_t(n * image), 0);
  qopt_kernel_conv2d_nchw_s8(n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw,
                             inPtr, inN, inC, inH, inW, fPtr, fF, fC, fH, fW,
                             int64_t(reinterpret_cast<uintptr_t>(sums.data())),
                             image, plane, ow, 1);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < f; ++o)
      for (int64_t y = 0; y < oh; ++y) {
        const int32_t *src = sums.data() + b * image + o * plane + y * ow;
        int64_t at = b * outN + o * outF + y * outH;
        if (dq.toInt8) {
          int8_t *dst = static_cast<int8_t *>(dq.out) + at;
          for (int64_t x = 0; x < ow; ++x)
            dst[x * outW] = dq.requantize(dq.apply(o, src[x]));
          continue;
        }
        float *dst = static_cast<float *>(dq.out) + at;
        for (int64_t x = 0; x < ow; ++x)
          dst[x * outW] = dq.apply(o, src[x]);
      }
}

extern "C" void qopt_kernel_matmul_w8(int64_t m, int64_t n, int64_t k,
                                      int64_t aPtr, int64_t aM, int64_t aK,
                                      int64_t bPtr, int64_t bN, int64_t bK,
                                      int64_t sPtr, int64_t sN, int64_t cPtr,
                                      int64_t cM, int64_t cN,
                                      int64_t bConstant) {
  QuantWeight qw{8,
                 true,
                 0,
                 nullptr,
                 reinterpret_cast<const int8_t *>(bPtr),
                 bN,
                 bK,
                 reinterpret_cast<const float *>(sPtr),
                 sN,
                 0,
                 nullptr,
                 0,
                 0};
  matmulWeightOnly(m, n, k, reinterpret_cast<const float *>(aPtr), aM, aK, qw,
                   reinterpret_cast<float *>(cPtr), cM, cN, bConstant != 0);
}

// `format`: 0 uint4 with zero points, 1 int4, 2 NF4 (QLoRA's levels), 3
// int4 and 4 uint4 with int8 activations per row and group (qlinear
// activation dynamic_block, docs/Runtime/W4Int8.md).
// `bConstant` (w8 and w4): the weight, scales and zero points are constants
// of the artifact: their repacked panels are kept across calls.
extern "C" void qopt_kernel_matmul_w4(
    int64_t m, int64_t n, int64_t k, int64_t group, int64_t format,
    int64_t aPtr, int64_t aM, int64_t aK, int64_t bPtr, int64_t bN, int64_t bK,
    int64_t sPtr, int64_t sN, int64_t sG, int64_t zPtr, int64_t zN, int64_t zG,
    int64_t cPtr, int64_t cM, int64_t cN, int64_t bConstant) {
  QuantWeight qw{4,
                 format != 0 && format != 4,
                 group,
                 format == 2 ? qopt::kNF4Levels : nullptr,
                 reinterpret_cast<const int8_t *>(bPtr),
                 bN,
                 bK,
                 reinterpret_cast<const float *>(sPtr),
                 sN,
                 sG,
                 reinterpret_cast<const int8_t *>(zPtr),
                 zN,
                 zG,
                 format == 3 || format == 4};
  matmulWeightOnly(m, n, k, reinterpret_cast<const float *>(aPtr), aM, aK, qw,
                   reinterpret_cast<float *>(cPtr), cM, cN, bConstant != 0);
}
