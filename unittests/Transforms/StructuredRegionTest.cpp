//===- StructuredRegionTest.cpp - slicing units out of constants ----------===//
//
// sliceUnits removes whole units (groups of consecutive indices along one
// dimension) from a row-major tensor, as qopt-shrink-structured does to
// weights (rows, columns), biases and per-channel constants. Checked
// against an element-by-element reference on random shapes.
//
//===----------------------------------------------------------------------===//

#include "../../lib/Dialect/QOpt/Transforms/StructuredRegion.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir::qopt;

TEST(StructuredRegionTest, SlicesRowsAndColumnsByUnit) {
  // [2, 6], dim 1 in 3 units of 2: unit 1 (columns 2, 3) goes.
  std::vector<float> w = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15};
  EXPECT_EQ(sliceUnits(w, {2, 6}, 1, 2, {false, true, false}),
            (std::vector<float>{0, 1, 4, 5, 10, 11, 14, 15}));
  // Rows of [3, 2] one by one: row 0 goes.
  std::vector<float> r = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(sliceUnits(r, {3, 2}, 0, 1, {true, false, false}),
            (std::vector<float>{3, 4, 5, 6}));
  // Nothing removed: unchanged.
  EXPECT_EQ(sliceUnits(r, {3, 2}, 0, 1, {false, false, false}), r);
}

TEST(StructuredRegionTest, MatchesElementwiseReference) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    int64_t rank = 1 + rng() % 4;
    std::vector<int64_t> shape;
    for (int64_t d = 0; d < rank; ++d)
      shape.push_back(1 + rng() % 4);
    int64_t dim = rng() % rank;
    int64_t units = 1 + rng() % 3, group = 1 + rng() % 3;
    shape[size_t(dim)] = units * group;
    int64_t n = 1;
    for (int64_t s : shape)
      n *= s;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      v[size_t(i)] = float(i);
    std::vector<bool> removed(static_cast<size_t>(units), false);
    for (int64_t u = 0; u < units; ++u)
      removed[size_t(u)] = rng() % 2;
    std::vector<float> want;
    for (int64_t i = 0; i < n; ++i) {
      int64_t rest = i, index = 0;
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (d == dim)
          index = rest % shape[size_t(d)];
        rest /= shape[size_t(d)];
      }
      if (!removed[size_t(index / group)])
        want.push_back(v[size_t(i)]);
    }
    EXPECT_EQ(sliceUnits(v, shape, dim, group, removed), want)
        << "trial " << trial;
  }
}
