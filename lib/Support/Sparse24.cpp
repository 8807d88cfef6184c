//===- Sparse24.cpp - 2:4 semi-structured storage -------------------------===//

#include "qopt/Support/Sparse24.h"

#include <cstddef>
#include <utility>

using std::size_t;

namespace {

template <typename T>
bool pack(const T *w, int64_t n, int64_t k, std::vector<T> &values,
          std::vector<uint8_t> &meta) {
  if (k % 8 != 0 || n < 0)
    return false;
  std::vector<T> v(size_t(n * k / 2), T(0));
  std::vector<uint8_t> m(size_t(n * k / 8), 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < k / 4; ++g) {
      const T *grp = w + r * k + g * 4;
      int pos[2] = {-1, -1}, found = 0;
      for (int j = 0; j < 4; ++j)
        if (grp[j] != T(0)) {
          if (found == 2)
            return false;
          pos[found++] = j;
        }
      // Unused slots point at zeros, in increasing position order.
      for (int j = 0; found < 2 && j < 4; ++j)
        if (j != pos[0] && grp[j] == T(0))
          pos[found++] = j;
      if (pos[0] > pos[1])
        std::swap(pos[0], pos[1]);
      T *out = v.data() + r * k / 2 + g * 2;
      out[0] = grp[pos[0]];
      out[1] = grp[pos[1]];
      uint8_t nibble = uint8_t(pos[0] | (pos[1] << 2));
      m[size_t(r * k / 8 + g / 2)] |= uint8_t(nibble << (4 * (g % 2)));
    }
  values = std::move(v);
  meta = std::move(m);
  return true;
}

} // namespace

bool qopt::pack24(const float *w, int64_t n, int64_t k,
                  std::vector<float> &values, std::vector<uint8_t> &meta) {
  return pack(w, n, k, values, meta);
}

bool qopt::pack24(const int8_t *w, int64_t n, int64_t k,
                  std::vector<int8_t> &values, std::vector<uint8_t> &meta) {
  return pack(w, n, k, values, meta);
}

std::vector<float> qopt::unpack24(const std::vector<float> &values,
                                  const std::vector<uint8_t> &meta, int64_t n,
                                  int64_t k) {
  std::vector<float> w(size_t(n * k), 0.0f);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < k / 4; ++g) {
      uint8_t nibble =
          uint8_t(meta[size_t(r * k / 8 + g / 2)] >> (4 * (g % 2)));
      const float *in = values.data() + r * k / 2 + g * 2;
      w[size_t(r * k + g * 4 + (nibble & 3))] = in[0];
      w[size_t(r * k + g * 4 + ((nibble >> 2) & 3))] = in[1];
    }
  return w;
}
