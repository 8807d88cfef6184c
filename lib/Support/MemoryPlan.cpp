//===- MemoryPlan.cpp - offsets of buffers in one arena -------------------===//

#include "qopt/Support/MemoryPlan.h"

#include <algorithm>
#include <numeric>

using namespace qopt;

static uint64_t alignUp(uint64_t v, uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}

static bool liveTogether(const BufferLife &a, const BufferLife &b) {
  return a.first <= b.last && b.first <= a.last;
}

MemoryPlan qopt::planMemory(const std::vector<BufferLife> &buffers,
                            uint64_t alignment) {
  MemoryPlan plan;
  const size_t n = buffers.size();
  plan.offsets.assign(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Largest first; ties by start, then index (deterministic).
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes)
      return buffers[a].bytes > buffers[b].bytes;
    if (buffers[a].first != buffers[b].first)
      return buffers[a].first < buffers[b].first;
    return a < b;
  });
  std::vector<size_t> placed;
  for (size_t i : order) {
    const uint64_t size = alignUp(buffers[i].bytes, alignment);
    plan.totalBytes += size;
    // The placed buffers live at the same time, by offset.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (size_t j : placed)
      if (liveTogether(buffers[i], buffers[j]))
        busy.emplace_back(plan.offsets[j],
                          plan.offsets[j] +
                              alignUp(buffers[j].bytes, alignment));
    std::sort(busy.begin(), busy.end());
    // The first gap from 0 that fits.
    uint64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (lo >= offset + size)
        break;
      offset = std::max(offset, hi);
    }
    plan.offsets[i] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + size);
    placed.push_back(i);
  }
  return plan;
}

bool qopt::isValidPlan(const std::vector<BufferLife> &buffers,
                       const MemoryPlan &plan, uint64_t alignment) {
  if (plan.offsets.size() != buffers.size())
    return false;
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (plan.offsets[i] % alignment ||
        plan.offsets[i] + buffers[i].bytes > plan.arenaBytes)
      return false;
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      if (!liveTogether(buffers[i], buffers[j]) || !buffers[i].bytes ||
          !buffers[j].bytes)
        continue;
      uint64_t a0 = plan.offsets[i], a1 = a0 + buffers[i].bytes;
      uint64_t b0 = plan.offsets[j], b1 = b0 + buffers[j].bytes;
      if (a0 < b1 && b0 < a1)
        return false;
    }
  }
  return true;
}
