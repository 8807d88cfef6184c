//===- FileUtil.cpp - tensor files: shared helpers and file access --------===//
//
// The runtime reads and writes tensors as numpy .npy files (IO/Npy.cpp) and
// as serialized ONNX TensorProto (.pb) files (IO/TensorProto.cpp) with
// nothing but the C++ standard library. This file holds what both share
// (IO/FileUtil.h) and qopt_tensor_load, which picks one by extension.
//
// Every file is untrusted input: each length, count and shape is checked
// against the file before anything is allocated, and every message starts
// with the file's path. Files are written to a temporary name in the same
// directory and renamed, so a reader never sees half a file.
//
//===----------------------------------------------------------------------===//

#include "IO/FileUtil.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>

using namespace qopt::rt;
using namespace qopt::rt::io;

namespace qopt::rt::io {

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

qopt_status failAt(const std::string &path, const std::string &what) {
  return fail(path + ": " + what);
}

std::string errnoMessage(int err) {
  return std::generic_category().message(err);
}

void swapBytes(void *data, size_t count, size_t width) {
  if (width < 2)
    return;
  auto *p = static_cast<unsigned char *>(data);
  for (size_t i = 0; i < count; ++i, p += width)
    std::reverse(p, p + width);
}

/// The tensor's data as little-endian bytes: its own buffer on a
/// little-endian host, else a byte-swapped copy held in `scratch`.
const void *littleEndianData(const qopt_tensor *t, size_t bytes,
                             std::vector<unsigned char> &scratch) {
  if (bytes == 0 || hostIsLittleEndian())
    return t->data;
  const auto *p = static_cast<const unsigned char *>(t->data);
  scratch.assign(p, p + bytes);
  size_t width = qopt_dtype_size(t->dtype);
  swapBytes(scratch.data(), bytes / width, width);
  return scratch.data();
}

/// A tensor of `dtype` and `dims` whose allocation errors name `path`.
qopt_status allocate(const std::string &path, qopt_dtype dtype,
                     const std::vector<int64_t> &dims,
                     std::unique_ptr<qopt_tensor> &out) {
  out.reset(newTensor(dtype, dims));
  if (!out)
    return failAt(path, qopt_last_error());
  return QOPT_OK;
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

qopt_status openForReading(const std::string &path, File &file) {
  // Only regular files: a FIFO or a device would block or never end.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return failAt(path, S_ISDIR(st.st_mode)
                            ? "is a directory, not a tensor file"
                            : "is not a regular file (a FIFO, socket or "
                              "device); tensors are read from files only");
  errno = 0;
  file.reset(std::fopen(path.c_str(), "rb"));
  if (!file)
    return failAt(path, "cannot open: " + errnoMessage(errno));
  return QOPT_OK;
}

qopt_status readWholeFile(const std::string &path,
                          std::vector<unsigned char> &bytes) {
  File file;
  if (openForReading(path, file))
    return QOPT_ERROR;
  bytes.clear();
  size_t chunk = 1 << 16;
  while (true) {
    size_t old = bytes.size();
    bytes.resize(old + chunk);
    errno = 0;
    size_t got = std::fread(bytes.data() + old, 1, chunk, file.get());
    bytes.resize(old + got);
    if (got < chunk)
      break;
    chunk = std::min<size_t>(chunk * 2, size_t(1) << 26);
  }
  if (std::ferror(file.get()))
    return failAt(path, "cannot read: " + errnoMessage(errno));
  return QOPT_OK;
}

namespace {

std::string temporaryNameFor(const std::string &path) {
  static std::atomic<uint64_t> counter{0};
  uint64_t stamp =
      uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t mix = stamp ^ (counter.fetch_add(1) * 0x9e3779b97f4a7c15ull) ^
                 (uint64_t(reinterpret_cast<uintptr_t>(&stamp)) << 20);
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, ".tmp%016llx",
                static_cast<unsigned long long>(mix));
  return path + suffix;
}

/// Removes the temporary file unless the rename succeeded.
struct TemporaryFile {
  std::string name;
  bool committed = false;
  ~TemporaryFile() {
    if (!committed && !name.empty())
      std::remove(name.c_str());
  }
};

} // namespace

/// Writes `chunks` to a new temporary file beside `path`, then renames it
/// over `path`.
qopt_status writeAtomically(const std::string &path,
                            const std::vector<Chunk> &chunks) {
  // The rename would replace a device node or FIFO by a regular file.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return failAt(path, "exists and is not a regular file; outputs are "
                        "written to regular files only");
  TemporaryFile tmp;
  File file;
  int err = 0;
  // "x" (C11) creates exclusively, so a name another writer holds is never
  // shared; on a collision try another name.
  for (int attempt = 0; attempt < 16 && !file; ++attempt) {
    std::string name = temporaryNameFor(path);
    errno = 0;
    file.reset(std::fopen(name.c_str(), "wbx"));
    err = errno;
    if (file)
      tmp.name = std::move(name);
    else if (err != EEXIST)
      return failAt(path, "cannot create temporary file " + name + ": " +
                              errnoMessage(err));
  }
  if (!file)
    return failAt(path, "cannot create a temporary file beside it: " +
                            errnoMessage(err));

  bool ok = true;
  for (const Chunk &c : chunks) {
    errno = 0;
    if (c.size && std::fwrite(c.data, 1, c.size, file.get()) != c.size) {
      ok = false;
      err = errno;
      break;
    }
  }
  errno = 0;
  if (ok && std::fflush(file.get()) != 0) {
    ok = false;
    err = errno;
  }
  errno = 0;
  if (std::fclose(file.release()) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok)
    return failAt(path, "cannot write " + tmp.name + ": " + errnoMessage(err));
  errno = 0;
  if (std::rename(tmp.name.c_str(), path.c_str()) != 0)
    return failAt(path, "cannot rename " + tmp.name +
                            " to it: " + errnoMessage(errno));
  tmp.committed = true;
  return QOPT_OK;
}

} // namespace qopt::rt::io

namespace {

/// The extension of the path's last component, lower-cased ("" if none).
std::string extensionOf(const std::string &path) {
  size_t slash = path.find_last_of("/\\");
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return "";
  std::string ext = path.substr(dot);
  for (char &c : ext)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

} // namespace

extern "C" {

qopt_status qopt_tensor_load(const char *path, qopt_tensor **out) {
  if (out)
    *out = nullptr;
  if (!path || !out)
    return fail("qopt_tensor_load: null path or output pointer");
  return guarded([&] {
    std::string ext = extensionOf(path);
    if (ext == ".npy")
      return qopt_tensor_load_npy(path, out);
    if (ext == ".pb")
      return qopt_tensor_load_pb(path, out, nullptr);
    if (ext.empty())
      return failAt(path, "no file extension; expected .npy or .pb");
    return failAt(path, "unknown tensor file extension '" + ext +
                            "'; expected .npy or .pb");
  });
}

} // extern "C"
