//===- SafetensorsFuzzer.cpp - libFuzzer target for the safetensors reader ===//
//
// Feeds arbitrary bytes to SafetensorsFile::parse and converts every tensor
// of what it accepts. Any input must end in a file or an error message, and
// an accepted file must keep the reader's promises (checked below): crashes,
// sanitizer reports, leaks, hangs and broken promises are bugs.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace qopt;

static void check(bool ok, const char *what) {
  if (ok)
    return;
  std::fprintf(stderr, "broken invariant: %s\n", what);
  std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  std::unique_ptr<SafetensorsFile> file = SafetensorsFile::parse(
      std::string(reinterpret_cast<const char *>(data), size), error,
      "fuzz.safetensors");
  if (!file) {
    check(error.rfind("fuzz.safetensors: ", 0) == 0, "error names the file");
    return 0;
  }
  uint64_t covered = 0;
  const SafetensorsTensor *previous = nullptr;
  for (const SafetensorsTensor &t : file->tensors()) {
    check(!previous || previous->name < t.name, "tensors sorted, unique");
    check(file->find(t.name) == &t, "find returns the tensor");
    check(t.begin <= t.end && t.end <= file->dataSize(), "range in data");
    check(file->rawData(t).size() == t.byteSize(), "rawData size");
    check(t.numElements() * getDTypeSize(t.dtype) == t.byteSize(),
          "byte size matches the shape");
    covered += t.byteSize();
    previous = &t;

    std::vector<float> f;
    bool converts =
        isFloatingPoint(t.dtype) && t.dtype != SafetensorsDType::F64;
    check(file->toFloat(t, f, error) == converts, "toFloat accepts floats");
    check(!converts || f.size() == t.numElements(), "toFloat size");
    std::vector<double> d;
    check(file->toDouble(t, d, error) == isFloatingPoint(t.dtype),
          "toDouble accepts floats");
    check(!isFloatingPoint(t.dtype) || d.size() == t.numElements(),
          "toDouble size");
  }
  check(covered == file->dataSize(), "tensors cover the data section");
  return 0;
}
