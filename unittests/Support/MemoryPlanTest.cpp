//===- MemoryPlanTest.cpp - qopt-plan-memory's offset assignment ----------===//

#include "qopt/Support/MemoryPlan.h"

#include <gtest/gtest.h>

#include <random>

using qopt::BufferLife;
using qopt::MemoryPlan;
using qopt::planMemory;

TEST(MemoryPlanTest, DisjointLifetimesShareTheSameBytes) {
  // a chain: each buffer dies when the next but one is born.
  std::vector<BufferLife> b = {
      {0, 1, 1000}, {1, 2, 1000}, {2, 3, 1000}, {3, 4, 1000}};
  MemoryPlan p = planMemory(b, 64);
  EXPECT_TRUE(qopt::isValidPlan(b, p, 64));
  EXPECT_EQ(p.totalBytes, 4u * 1024);
  // Two live at once at most: two slots of 1024 bytes.
  EXPECT_EQ(p.arenaBytes, 2u * 1024);
  EXPECT_EQ(p.offsets[0], p.offsets[2]);
  EXPECT_EQ(p.offsets[1], p.offsets[3]);
  EXPECT_NE(p.offsets[0], p.offsets[1]);
}

TEST(MemoryPlanTest, OverlappingLifetimesGetDisjointBytes) {
  std::vector<BufferLife> b = {{0, 10, 100}, {2, 3, 64}, {5, 12, 1}};
  MemoryPlan p = planMemory(b, 64);
  EXPECT_TRUE(qopt::isValidPlan(b, p, 64));
  EXPECT_EQ(p.arenaBytes, 192u); // 128 (a) + 64 (b, then c)
  EXPECT_EQ(p.offsets[0], 0u);   // largest first, at 0
  EXPECT_EQ(p.offsets[1], 128u);
  EXPECT_EQ(p.offsets[2], 128u); // b is dead by c's birth: same slot
}

TEST(MemoryPlanTest, BuffersNeverLiveTogetherShareASlot) {
  // z [1,5] 512 B (largest) goes at 0; x [0,2] and y [4,6], 256 B each,
  // live with z but not with each other: one slot above z; w [3,3] lives
  // with z only and takes that slot too.
  std::vector<BufferLife> b = {
      {0, 2, 256}, {4, 6, 256}, {1, 5, 512}, {3, 3, 128}};
  MemoryPlan p = planMemory(b, 64);
  EXPECT_TRUE(qopt::isValidPlan(b, p, 64));
  EXPECT_EQ(p.offsets[2], 0u);
  EXPECT_EQ(p.offsets[0], 512u);
  EXPECT_EQ(p.offsets[1], 512u);
  EXPECT_EQ(p.offsets[3], 512u);
  EXPECT_EQ(p.arenaBytes, 768u);
}

TEST(MemoryPlanTest, EmptyPlanAndAlignment) {
  MemoryPlan p = planMemory({}, 64);
  EXPECT_EQ(p.arenaBytes, 0u);
  std::vector<BufferLife> b = {{0, 0, 1}, {0, 0, 65}, {0, 0, 0}};
  p = planMemory(b, 64);
  EXPECT_TRUE(qopt::isValidPlan(b, p, 64));
  for (uint64_t o : p.offsets)
    EXPECT_EQ(o % 64, 0u);
  EXPECT_EQ(p.arenaBytes, 128u + 64);
}

TEST(MemoryPlanTest, ValidatorRejectsOverlaps) {
  std::vector<BufferLife> b = {{0, 5, 128}, {3, 8, 128}};
  MemoryPlan bad;
  bad.offsets = {0, 64};
  bad.arenaBytes = 192;
  EXPECT_FALSE(qopt::isValidPlan(b, bad, 64));
  bad.offsets = {0, 128};
  bad.arenaBytes = 256;
  EXPECT_TRUE(qopt::isValidPlan(b, bad, 64));
  bad.arenaBytes = 200; // second buffer runs past the arena
  EXPECT_FALSE(qopt::isValidPlan(b, bad, 64));
}

TEST(MemoryPlanTest, RandomPlansAreValidAndNoLargerThanNoReuse) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<BufferLife> b(1 + rng() % 40);
    for (BufferLife &l : b) {
      l.first = int64_t(rng() % 100);
      l.last = l.first + int64_t(rng() % 30);
      l.bytes = rng() % 5000;
    }
    MemoryPlan p = planMemory(b, 64);
    ASSERT_TRUE(qopt::isValidPlan(b, p, 64)) << "trial " << trial;
    EXPECT_LE(p.arenaBytes, p.totalBytes);
    // Never below the peak of the bytes live at one time.
    uint64_t peak = 0;
    for (int64_t t = 0; t < 130; ++t) {
      uint64_t live = 0;
      for (const BufferLife &l : b)
        if (l.first <= t && t <= l.last)
          live += (l.bytes + 63) / 64 * 64;
      peak = std::max(peak, live);
    }
    EXPECT_GE(p.arenaBytes, peak);
  }
}
