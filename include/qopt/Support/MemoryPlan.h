//===- MemoryPlan.h - offsets of buffers in one arena -----------*- C++ -*-===//
//
/// \file
/// The arithmetic of qopt-plan-memory: buffers with known sizes and live
/// ranges (positions in a function's body) get offsets in one arena such
/// that two buffers live at the same time never share a byte. Plain C++,
/// no LLVM/MLIR (unit-tested alone).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_MEMORYPLAN_H
#define QOPT_SUPPORT_MEMORYPLAN_H

#include <cstdint>
#include <vector>

namespace qopt {

/// A buffer live from op `first` to op `last` (inclusive) of `bytes` bytes.
struct BufferLife {
  int64_t first = 0, last = 0;
  uint64_t bytes = 0;
};

/// Where each buffer goes and how big the arena is.
struct MemoryPlan {
  std::vector<uint64_t> offsets; ///< one per buffer, multiples of `alignment`
  uint64_t arenaBytes = 0;       ///< end of the highest buffer, aligned
  uint64_t totalBytes = 0;       ///< sum of the sizes (no reuse), aligned
};

/// Greedy by size (as TensorFlow Lite's arena planner): the largest buffers
/// are placed first, each at the lowest aligned offset where it overlaps no
/// buffer placed already whose live range intersects its own. `alignment`
/// must be a power of two. Deterministic for the same input.
MemoryPlan planMemory(const std::vector<BufferLife> &buffers,
                      uint64_t alignment);

/// Whether `plan` is valid for `buffers`: offsets aligned, every buffer
/// inside the arena, no two buffers live at once overlapping in bytes.
bool isValidPlan(const std::vector<BufferLife> &buffers, const MemoryPlan &plan,
                 uint64_t alignment);

} // namespace qopt

#endif // QOPT_SUPPORT_MEMORYPLAN_H
