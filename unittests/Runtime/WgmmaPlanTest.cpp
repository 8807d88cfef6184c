//===- WgmmaPlanTest.cpp - which Hopper GEMM kernel takes a product -------===//
//
// CUDA/WgmmaPlan.h's choices, without a GPU: which operands the TMA + wgmma
// kernels take (device, layout, alignment, strides) and their launch shape
// (tile width, split K, grid).
//
//===----------------------------------------------------------------------===//

#include "CUDA/WgmmaPlan.h"

#include <gtest/gtest.h>

using namespace qopt::rt::cuda;

namespace {

constexpr int64_t kSms = 132; // an H200

/// A dense [m, k] x [n, k] ("nt") or [k, n] ("nn") product at aligned
/// addresses.
WgmmaProblem dense(int64_t m, int64_t n, int64_t k, bool nn = false,
                   WgmmaType type = WgmmaType::F16, bool cF32 = false) {
  WgmmaProblem p;
  p.type = type;
  p.m = m, p.n = n, p.k = k;
  p.a = 0x10000, p.b = 0x20000;
  p.aM = k, p.aK = 1;
  if (nn)
    p.bK = n, p.bN = 1;
  else
    p.bK = 1, p.bN = k;
  p.cF32 = cF32;
  return p;
}

TEST(WgmmaPlanTest, NeedsComputeCapability90) {
  EXPECT_TRUE(planWgmma(dense(4096, 4096, 4096), 9, 0, kSms).ok);
  EXPECT_FALSE(planWgmma(dense(4096, 4096, 4096), 8, 0, kSms).ok);
  EXPECT_FALSE(planWgmma(dense(4096, 4096, 4096), 10, 0, kSms).ok);
  EXPECT_FALSE(planWgmma(dense(4096, 4096, 4096), 8, 9, kSms).ok);
}

TEST(WgmmaPlanTest, LayoutsAndAlignment) {
  WgmmaPlan nt = planWgmma(dense(256, 256, 256), 9, 0, kSms);
  ASSERT_TRUE(nt.ok);
  EXPECT_FALSE(nt.nn);
  WgmmaPlan nn = planWgmma(dense(256, 256, 256, true), 9, 0, kSms);
  ASSERT_TRUE(nn.ok);
  EXPECT_TRUE(nn.nn);
  // tf32 wgmma has no transposed B.
  EXPECT_FALSE(
      planWgmma(dense(256, 256, 256, true, WgmmaType::TF32, true), 9, 0, kSms)
          .ok);
  EXPECT_TRUE(
      planWgmma(dense(256, 256, 256, false, WgmmaType::TF32, true), 9, 0, kSms)
          .ok);
  // A transposed.
  WgmmaProblem at = dense(256, 256, 256);
  at.aM = 1, at.aK = 256;
  EXPECT_FALSE(planWgmma(at, 9, 0, kSms).ok);
  // An operand 8 bytes off 16-byte alignment.
  WgmmaProblem mis = dense(256, 256, 256);
  mis.b += 8;
  EXPECT_FALSE(planWgmma(mis, 9, 0, kSms).ok);
  // Rows of 36 halves (72 bytes): not a multiple of 16 bytes; 40 are.
  EXPECT_FALSE(planWgmma(dense(64, 64, 36), 9, 0, kSms).ok);
  EXPECT_TRUE(planWgmma(dense(64, 64, 40), 9, 0, kSms).ok);
  // float32 rows of 36 are (144 bytes).
  EXPECT_TRUE(
      planWgmma(dense(64, 64, 36, false, WgmmaType::TF32, true), 9, 0, kSms)
          .ok);
  // One row: its stride does not matter.
  WgmmaProblem row = dense(1, 64, 40);
  row.aM = 3;
  EXPECT_TRUE(planWgmma(row, 9, 0, kSms).ok);
}

TEST(WgmmaPlanTest, Batches) {
  WgmmaProblem p = dense(128, 128, 64);
  p.b0 = 2, p.b1 = 3;
  p.aB1 = 128 * 64, p.aB0 = 3 * 128 * 64;
  p.bB1 = 128 * 64, p.bB0 = 3 * 128 * 64;
  WgmmaPlan plan = planWgmma(p, 9, 0, kSms);
  ASSERT_TRUE(plan.ok);
  EXPECT_EQ(plan.gridZ, 6 * plan.splits);
  // B shared by the batches (stride 0).
  p.bB0 = p.bB1 = 0;
  EXPECT_TRUE(planWgmma(p, 9, 0, kSms).ok);
  // A batch stride of 4 halves: not a multiple of 16 bytes.
  p.aB1 = 4;
  EXPECT_FALSE(planWgmma(p, 9, 0, kSms).ok);
}

TEST(WgmmaPlanTest, TileWidthAndSplitK) {
  // 4096^3: 512 tiles of 128x256 (4 waves) against 1024 of 128x128 (8).
  WgmmaPlan big = planWgmma(dense(4096, 4096, 4096), 9, 0, kSms);
  ASSERT_TRUE(big.ok);
  EXPECT_EQ(big.bn, 256);
  EXPECT_EQ(big.splits, 1);
  EXPECT_EQ(big.gridX, 16);
  EXPECT_EQ(big.gridY, 32);
  EXPECT_EQ(big.kTilesPer, 64);
  // 2048x3072: 192 wide tiles are 2 waves, 384 narrow ones 3 (of half the
  // work): narrow.
  EXPECT_EQ(planWgmma(dense(2048, 3072, 1024), 9, 0, kSms).bn, 128);
  // M = 128, N = 1024, K = 4096: 8 tiles; K split 16 ways (4 k steps of 64
  // each), through a workspace for a 16-bit C, atomically into a float32 C.
  WgmmaPlan small = planWgmma(dense(128, 1024, 4096), 9, 0, kSms);
  ASSERT_TRUE(small.ok);
  EXPECT_EQ(small.bn, 128);
  EXPECT_EQ(small.splits, 16);
  EXPECT_EQ(small.kTilesPer, 4);
  EXPECT_TRUE(small.workspace);
  EXPECT_EQ(small.gridZ, 16);
  WgmmaPlan small32 = planWgmma(
      dense(128, 1024, 4096, false, WgmmaType::F16, true), 9, 0, kSms);
  EXPECT_EQ(small32.splits, 16);
  EXPECT_FALSE(small32.workspace);
  // Short K is not split below 4 steps: K = 256 is one split.
  WgmmaPlan shortK = planWgmma(dense(128, 128, 256), 9, 0, kSms);
  EXPECT_EQ(shortK.splits, 1);
  EXPECT_FALSE(shortK.workspace);
  // A float32 C splits from half the SMs idle (32 tiles: 5 ways), a
  // 16-bit C only with 8x fewer tiles than SMs and at least 32 k steps
  // (the workspace costs a second kernel), never with split16 off; neither
  // with 128 tiles (4096x1024 outputs, just under one a SM).
  EXPECT_EQ(
      planWgmma(dense(128, 4096, 4096, false, WgmmaType::F16, true), 9, 0, kSms)
          .splits,
      5);
  EXPECT_EQ(planWgmma(dense(128, 4096, 4096), 9, 0, kSms).splits, 1);
  EXPECT_EQ(planWgmma(dense(128, 1024, 1024), 9, 0, kSms).splits, 1);
  EXPECT_EQ(planWgmma(dense(128, 1024, 4096), 9, 0, kSms, false).splits, 1);
  EXPECT_EQ(planWgmma(dense(128, 1024, 4096, false, WgmmaType::F16, true), 9, 0,
                      kSms, false)
                .splits,
            16);
  EXPECT_EQ(planWgmma(dense(4096, 1024, 4096), 9, 0, kSms).splits, 1);
  EXPECT_EQ(planWgmma(dense(4096, 1024, 4096, false, WgmmaType::F16, true), 9,
                      0, kSms)
                .splits,
            1);
  // K = 1000 halves: 16 steps (the last one partial): a float32 C splits
  // them 4 ways (6 tiles).
  WgmmaPlan odd =
      planWgmma(dense(200, 328, 1000, false, WgmmaType::F16, true), 9, 0, kSms);
  EXPECT_EQ(odd.splits, 4);
  EXPECT_EQ(odd.kTilesPer, 4);
  // tf32 steps are 32 k: K = 4096 is 128 steps.
  WgmmaPlan tf32 = planWgmma(
      dense(128, 1024, 4096, false, WgmmaType::TF32, true), 9, 0, kSms);
  EXPECT_EQ(tf32.splits, 16); // 17 wanted, 8 steps each cover 128 in 16
  EXPECT_EQ(tf32.kTilesPer, 8);
}

} // namespace
