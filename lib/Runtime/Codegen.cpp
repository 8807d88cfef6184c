//===- Codegen.cpp - runtime functions that compiled code calls -----------===//
//
// Besides the async ABI (Threads.cpp), compiled code calls `memrefCopy`
// (the lowering of memref.copy between non-contiguous layouts) and our
// kernels. They are exported from the runtime so that artifacts resolve
// them when loaded; Symbols.cpp lists them for JITs.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <cstring>
#include <vector>

namespace {
/// MLIR's unranked memref: rank and a pointer to the ranked descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};
struct Strided {
  char *base;
  const int64_t *sizes;
  const int64_t *strides;
};
Strided view(const UnrankedMemRef *m, int64_t elemSize) {
  auto *d = static_cast<const int64_t *>(m->descriptor);
  char *aligned;
  std::memcpy(&aligned, &d[1], sizeof(aligned));
  return {aligned + d[2] * elemSize, d + 3, d + 3 + m->rank};
}
} // namespace

extern "C" {

// Same contract as MLIR's CRunnerUtils: copies src to dst (same shape).
// Rows that are contiguous in both are copied with memcpy.
void memrefCopy(int64_t elemSize, UnrankedMemRef *src, UnrankedMemRef *dst) {
  int64_t rank = src->rank;
  Strided s = view(src, elemSize), d = view(dst, elemSize);
  if (rank == 0) {
    std::memcpy(d.base, s.base, size_t(elemSize));
    return;
  }
  int64_t n = 1;
  for (int64_t k = 0; k < rank; ++k)
    n *= s.sizes[k];
  if (n == 0)
    return;
  int64_t inner = s.sizes[rank - 1];
  bool rows = s.strides[rank - 1] == 1 && d.strides[rank - 1] == 1;
  std::vector<int64_t> idx(size_t(rank), 0);
  int64_t so = 0, dof = 0;
  for (int64_t e = 0; e < n; e += inner) {
    if (rows) {
      std::memcpy(d.base + dof * elemSize, s.base + so * elemSize,
                  size_t(inner * elemSize));
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(d.base + (dof + j * d.strides[rank - 1]) * elemSize,
                    s.base + (so + j * s.strides[rank - 1]) * elemSize,
                    size_t(elemSize));
    }
    // Advance the outer indices (all but the last dim).
    for (int64_t k = rank - 2; k >= 0; --k) {
      so += s.strides[k];
      dof += d.strides[k];
      if (++idx[k] < s.sizes[k])
        break;
      so -= s.strides[k] * s.sizes[k];
      dof -= d.strides[k] * s.sizes[k];
      idx[k] = 0;
    }
  }
}

} // extern "C"
