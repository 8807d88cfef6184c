//===- TensorFileFuzzer.cpp - libFuzzer target for the .npy/.pb readers ---===//
//
// The first byte picks the format (even: .npy, odd: ONNX TensorProto .pb),
// the rest is the file, written to a private temporary file and loaded with
// qopt_tensor_load. Any input must end in a tensor or an error message; an
// accepted tensor must keep the reader's promises (checked below).
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

static void check(bool ok, const char *what) {
  if (ok)
    return;
  std::fprintf(stderr, "broken invariant: %s\n", what);
  std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  static const std::string dir = [] {
    char tmpl[] = "/tmp/qopt-fuzz-tensor-XXXXXX";
    const char *d = mkdtemp(tmpl);
    check(d != nullptr, "mkdtemp");
    return std::string(d);
  }();
  std::string path = dir + ((data[0] & 1) ? "/t.pb" : "/t.npy");
  FILE *f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, "fopen");
  if (size > 1)
    check(std::fwrite(data + 1, 1, size - 1, f) == size - 1, "fwrite");
  std::fclose(f);

  qopt_tensor *t = nullptr;
  if (qopt_tensor_load(path.c_str(), &t) != QOPT_OK) {
    check(t == nullptr, "a failed load hands out no tensor");
    check(*qopt_last_error() != '\0', "a failed load says why");
  } else {
    check(t != nullptr, "a load that succeeds hands out a tensor");
    int64_t n = qopt_tensor_num_elements(t);
    check(n >= 0, "element count");
    int64_t count = 1;
    const int64_t *dims = qopt_tensor_dims(t);
    for (int i = 0, r = qopt_tensor_rank(t); i < r; ++i)
      count *= dims[i];
    check(count == n, "dims multiply to the element count");
    // Touch every byte: the buffer really holds n elements.
    size_t bytes = size_t(n) * qopt_dtype_size(qopt_tensor_dtype(t));
    const auto *p =
        static_cast<const unsigned char *>(qopt_tensor_const_data(t));
    unsigned sum = 0;
    for (size_t i = 0; i < bytes; ++i)
      sum += p[i];
    (void)sum;
    qopt_tensor_free(t);
  }
  unlink(path.c_str());
  return 0;
}
