//===- PruningTest.cpp - qopt-prune's selection math ----------------------===//

#include "qopt/Support/Pruning.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace qopt;

namespace {

std::vector<bool> bits(std::initializer_list<int> v) {
  std::vector<bool> out;
  for (int b : v)
    out.push_back(b != 0);
  return out;
}

int64_t count(const std::vector<bool> &m) {
  return std::count(m.begin(), m.end(), true);
}

} // namespace

TEST(PruningTest, CountIsFloorOfFraction) {
  EXPECT_EQ(pruneCount(0.5, 10), 5);
  EXPECT_EQ(pruneCount(0.5, 11), 5);
  EXPECT_EQ(pruneCount(0.3, 10), 3); // 0.3 · 10 is 2.9999... in doubles
  EXPECT_EQ(pruneCount(0.7, 10), 7);
  EXPECT_EQ(pruneCount(0.0, 10), 0);
  EXPECT_EQ(pruneCount(0.99, 10), 9);
  EXPECT_EQ(pruneCount(0.5, 0), 0);
}

TEST(PruningTest, SmallestWithTiesByIndex) {
  // Scores with ties: the three smallest are 1 (index 1), then the 2s in
  // index order (2, 4); the 2 at index 5 stays.
  std::vector<double> s{3, 1, 2, 9, 2, 2};
  std::vector<bool> mask(s.size(), false);
  markSmallest(s, 0, 6, 3, mask);
  EXPECT_EQ(mask, bits({0, 1, 1, 0, 1, 0}));
}

TEST(PruningTest, SmallestWithinARange) {
  std::vector<double> s{0, 0, 5, 4, 3, 0};
  std::vector<bool> mask(s.size(), false);
  markSmallest(s, 2, 3, 2, mask); // among 5, 4, 3
  EXPECT_EQ(mask, bits({0, 0, 0, 1, 1, 0}));
}

TEST(PruningTest, UnstructuredPerLayerAndPerRow) {
  // Row 0 small, row 1 large: per layer, row 0 goes whole; per row, half of
  // each.
  std::vector<double> s{1, 2, 3, 4, 10, 20, 30, 40};
  EXPECT_EQ(unstructuredMask(s, 2, 4, 0.5, false),
            bits({1, 1, 1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(unstructuredMask(s, 2, 4, 0.5, true),
            bits({1, 1, 0, 0, 1, 1, 0, 0}));
}

TEST(PruningTest, NMAlongTheReductionAxis) {
  // [1 row, 8] as 2:4: two groups.
  std::vector<double> s{4, 1, 3, 2, 5, 5, 5, 5};
  EXPECT_EQ(nmMask(s, 1, 8, 1, 2, 4), bits({0, 1, 0, 1, 1, 1, 0, 0}));
  // 4:8 keeps the 4 largest of 8.
  std::vector<double> t{8, 1, 7, 2, 6, 3, 5, 4};
  EXPECT_EQ(nmMask(t, 1, 8, 1, 4, 8), bits({0, 1, 0, 1, 0, 1, 0, 1}));
}

TEST(PruningTest, NMWithInnerStride) {
  // [outer 1, axis 4, inner 2] (a convolution's [C, KH·KW]): groups run
  // along the axis for each inner position.
  std::vector<double> s{1, 8, 2, 7, 3, 6, 4, 5};
  // inner 0: 1, 2, 3, 4 -> 1 and 2 go; inner 1: 8, 7, 6, 5 -> 6 and 5 go.
  EXPECT_EQ(nmMask(s, 1, 4, 2, 2, 4), bits({1, 0, 1, 0, 0, 1, 0, 1}));
}

TEST(PruningTest, NMEveryGroupKeepsN) {
  std::mt19937 rng(7);
  std::normal_distribution<double> d;
  std::vector<double> s(16 * 64);
  for (double &v : s)
    v = std::fabs(d(rng));
  std::vector<bool> m = nmMask(s, 16, 64, 1, 2, 4);
  for (size_t g = 0; g < s.size(); g += 4) {
    int pruned = m[g] + m[g + 1] + m[g + 2] + m[g + 3];
    EXPECT_EQ(pruned, 2);
    // Every kept score is >= every pruned one of its group.
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 4; ++b)
        if (m[g + a] && !m[g + b])
          EXPECT_LE(s[g + a], s[g + b]);
  }
}

TEST(PruningTest, ChannelsByRowNorm) {
  // Row norms: sqrt(9 + 16) = 5, sqrt(1 + 1), sqrt(36 + 64) = 10, 5 again:
  // half of 4 rows: row 1, then the first of the tied 5s (row 0).
  std::vector<double> s{3, 4, 1, 1, 6, 8, 4, 3};
  std::vector<double> norms = rowNorms(s, 4, 2);
  EXPECT_DOUBLE_EQ(norms[0], 5.0);
  EXPECT_DOUBLE_EQ(norms[2], 10.0);
  EXPECT_EQ(channelMask(s, 4, 2, 0.5), bits({1, 1, 0, 0}));
}

TEST(PruningTest, UnstructuredHitsTheTargetExactly) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> d(0, 1);
  std::vector<double> s(1000);
  for (double &v : s)
    v = d(rng);
  for (double f : {0.1, 0.25, 0.5, 0.7, 0.9})
    EXPECT_EQ(count(unstructuredMask(s, 10, 100, f, false)),
              pruneCount(f, 1000));
}
