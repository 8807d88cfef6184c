//===- Arena.cpp - the memory plan's arena --------------------------------===//
//
// Code compiled with qopt-plan-memory asks qopt_rt_arena(bytes) once per
// call for one block that holds all its fixed-size intermediates, at the
// offsets the compiler planned. qopt_model_run lends each run an arena from
// the model's pool (one per concurrent run), so the block is allocated
// once, keeps its pages mapped across calls (no page faults or kernel
// zeroing per call) and is never shared by two runs at the same time.
// Code run outside qopt_model_run gets a per-thread arena.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <cstdlib>
#include <string>
#include <sys/mman.h>

namespace {
thread_local qopt::rt::Arena *activeArena = nullptr;

constexpr uint64_t kHugePage = uint64_t(2) << 20;
} // namespace

qopt::rt::Arena::~Arena() { std::free(data); }

void *qopt::rt::Arena::reserve(uint64_t size) {
  if (size <= bytes && data)
    return data;
  std::free(data);
  data = nullptr;
  bytes = 0;
  // Large arenas on 2 MiB boundaries, offered to transparent huge pages:
  // fewer TLB misses over tens of MB of activations.
  const bool huge = size >= kHugePage;
  const uint64_t align = huge ? kHugePage : 64;
  const uint64_t rounded = (size + align - 1) / align * align;
  if (rounded < size)
    return nullptr;
  data = std::aligned_alloc(align, rounded ? rounded : align);
  if (!data)
    return nullptr;
#ifdef MADV_HUGEPAGE
  if (huge)
    madvise(data, rounded, MADV_HUGEPAGE);
#endif
  bytes = rounded;
  return data;
}

qopt::rt::Arena *qopt::rt::setActiveArena(Arena *arena) {
  Arena *previous = activeArena;
  activeArena = arena;
  return previous;
}

extern "C" {

[[noreturn]] void qopt_rt_fail(const char *message);

void *qopt_rt_arena(uint64_t bytes) {
  thread_local qopt::rt::Arena fallback;
  qopt::rt::Arena *arena = activeArena ? activeArena : &fallback;
  void *p = arena->reserve(bytes);
  if (!p) {
    // Not a local: the failure jumps over this frame.
    thread_local std::string message;
    message = "cannot allocate " + std::to_string(bytes) +
              " bytes for the intermediate tensors (the memory plan's arena)";
    qopt_rt_fail(message.c_str());
  }
  return p;
}

} // extern "C"
