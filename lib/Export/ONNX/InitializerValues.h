//===- InitializerValues.h - Values of ONNX initializers -------*- C++ -*-===//
//
// Shared by the ONNX exporters (QDQ and pruned): reading a float32
// initializer of the source model back, whichever field holds it.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_EXPORT_ONNX_INITIALIZERVALUES_H
#define QOPT_LIB_EXPORT_ONNX_INITIALIZERVALUES_H

#include <onnx/onnx_pb.h>

#include <cstring>
#include <optional>
#include <vector>

namespace qopt::onnx_export {

/// The float values of a float32 initializer (raw_data or float_data);
/// nullopt for other types, external data or a size that does not match.
inline std::optional<std::vector<float>>
initializerFloats(const onnx::TensorProto &t) {
  if (t.data_type() != onnx::TensorProto::FLOAT ||
      t.data_location() == onnx::TensorProto::EXTERNAL)
    return std::nullopt;
  int64_t n = 1;
  for (int64_t d : t.dims())
    n *= d;
  std::vector<float> out(static_cast<size_t>(n));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != size_t(n) * 4)
      return std::nullopt;
    std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
    return out;
  }
  if (t.float_data_size() != n)
    return std::nullopt;
  for (int64_t i = 0; i < n; ++i)
    out[size_t(i)] = t.float_data(int(i));
  return out;
}

} // namespace qopt::onnx_export

#endif // QOPT_LIB_EXPORT_ONNX_INITIALIZERVALUES_H
