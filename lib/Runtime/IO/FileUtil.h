//===- FileUtil.h - what the tensor file readers share ----------*- C++ -*-===//
//
// Shared by IO/Npy.cpp and IO/TensorProto.cpp (defined in IO/FileUtil.cpp):
// messages that start with the file's path, byte order, reading files and
// writing them atomically. Plain C++17, no LLVM/MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_RUNTIME_IO_FILEUTIL_H
#define QOPT_LIB_RUNTIME_IO_FILEUTIL_H

#include "RuntimeInternal.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace qopt::rt::io {

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

/// The .npy magic string (defined in Npy.cpp); the TensorProto reader
/// recognizes a .npy file by it.
extern const unsigned char kNpyMagic[6];

qopt_status failAt(const std::string &path, const std::string &what);

std::string errnoMessage(int err);

// Inline: called per element by the TensorProto reader.
inline bool hostIsLittleEndian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

void swapBytes(void *data, size_t count, size_t width);

/// The tensor's data as little-endian bytes: its own buffer on a
/// little-endian host, else a byte-swapped copy held in `scratch`.
const void *littleEndianData(const qopt_tensor *t, size_t bytes,
                             std::vector<unsigned char> &scratch);

inline uint64_t loadLittleEndian(const unsigned char *p, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v |= uint64_t(p[i]) << (8 * i);
  return v;
}

/// A tensor of `dtype` and `dims` whose allocation errors name `path`.
qopt_status allocate(const std::string &path, qopt_dtype dtype,
                     const std::vector<int64_t> &dims,
                     std::unique_ptr<qopt_tensor> &out);

/// C API functions must not throw: the only exception the code below can
/// raise is std::bad_alloc from a std::string or std::vector.
template <typename Fn> qopt_status guarded(Fn &&fn) {
  try {
    return fn();
  } catch (const std::bad_alloc &) {
    return fail("out of memory");
  } catch (...) {
    return fail("unexpected internal error");
  }
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

struct FileCloser {
  void operator()(std::FILE *f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

qopt_status openForReading(const std::string &path, File &file);

/// Reads exactly `size` bytes; on a short read reports a read error, or
/// calls it truncation described by `truncated(bytesRead)`.
template <typename Describe>
qopt_status readExactly(const std::string &path, std::FILE *file, void *into,
                        size_t size, Describe truncated) {
  if (size == 0)
    return QOPT_OK;
  errno = 0;
  size_t got = std::fread(into, 1, size, file);
  if (got == size)
    return QOPT_OK;
  if (std::ferror(file))
    return failAt(path, "cannot read: " + errnoMessage(errno));
  return failAt(path, truncated(got));
}

qopt_status readWholeFile(const std::string &path,
                          std::vector<unsigned char> &bytes);

struct Chunk {
  const void *data;
  size_t size;
};

/// Writes `chunks` to a new temporary file beside `path`, then renames it
/// over `path`.
qopt_status writeAtomically(const std::string &path,
                            const std::vector<Chunk> &chunks);

} // namespace qopt::rt::io

#endif // QOPT_LIB_RUNTIME_IO_FILEUTIL_H
