//===- Safetensors.h - validated reader of safetensors files ----*- C++ -*-===//
//
/// \file
/// A reader for the safetensors format (Hugging Face; PEFT writes LoRA
/// adapters as adapter_model.safetensors) that trusts nothing in the file:
/// the header is parsed by a strict JSON parser and every tensor entry is
/// checked against the data section before any byte of it is read. Plain
/// C++17 with no LLVM/MLIR dependency: the compiler and the runtime share it.
/// What is validated and why: docs/Support/Safetensors.md.
///
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// `{"<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [b, e]},
/// ..., "__metadata__": {"k": "v"}}` (optionally padded with spaces), then
/// the data section; offsets are relative to its start, data is
/// little-endian and row-major.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_SUPPORT_SAFETENSORS_H
#define QOPT_SUPPORT_SAFETENSORS_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qopt {

/// Element types of the safetensors spec that the reader accepts. All are
/// whole bytes wide and readable as raw bytes (`rawData`); the floating-point
/// ones (F64, F32, F16, BF16, F8_E5M2, F8_E4M3) also convert to float and
/// double. The spec's sub-byte and exotic types (F4, F6_E2M3, F6_E3M2,
/// F8_E8M0, C64) are refused when the file is parsed.
enum class SafetensorsDType {
  F32,
  F16,
  BF16,
  F64,
  I8,
  U8,
  I16,
  I32,
  I64,
  BOOL,
  U16,
  U32,
  U64,
  /// OCP FP8 E5M2 (torch.float8_e5m2): has infinities and NaNs.
  F8_E5M2,
  /// OCP FP8 E4M3 "fn" (torch.float8_e4m3fn): no infinities; S.1111.111 is
  /// NaN; largest finite value 448.
  F8_E4M3,
};

/// The spec's spelling of `type` ("F32", "BF16", "BOOL", ...).
const char *toString(SafetensorsDType type);

/// Parses a dtype string of the spec; std::nullopt if it is unknown or one
/// the reader does not support.
std::optional<SafetensorsDType> parseSafetensorsDType(std::string_view s);

/// Bytes per element of `type`.
size_t getDTypeSize(SafetensorsDType type);

/// Whether `toFloat` and `toDouble` accept `type`.
bool isFloatingPoint(SafetensorsDType type);

/// One tensor of a file, as its header entry describes it (validated).
struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  /// Row-major dimensions, outermost first; empty for a scalar.
  std::vector<int64_t> shape;
  /// Byte range [begin, end) in the data section (not the file).
  uint64_t begin = 0, end = 0;

  /// Product of `shape` (1 for a scalar). Does not overflow for a tensor of
  /// a parsed file.
  uint64_t numElements() const;
  uint64_t byteSize() const { return end - begin; }
};

/// A parsed, fully validated safetensors file held in memory.
class SafetensorsFile {
public:
  /// Files larger than this are refused by `open` unless the caller passes
  /// another limit.
  static constexpr uint64_t kDefaultMaxFileSize = uint64_t(16) << 30;
  /// The spec's (and the reference implementation's) header size limit.
  static constexpr uint64_t kMaxHeaderSize = 100'000'000;
  /// Nesting limit of the header JSON (the schema needs 3 levels).
  static constexpr int kMaxJsonDepth = 64;
  /// Most dimensions a tensor may have.
  static constexpr size_t kMaxRank = 64;

  /// Parses and validates the file contents `bytes`. On failure returns null
  /// and sets `error` to one line that starts with `name` (and names the
  /// tensor when there is one): "<name>: tensor 'w': ...".
  static std::unique_ptr<SafetensorsFile>
  parse(std::string bytes, std::string &error,
        std::string_view name = "<memory>");

  /// Reads the regular file `path` and parses it as `parse` does. Files
  /// larger than `maxFileSize` bytes are refused before anything is read.
  static std::unique_ptr<SafetensorsFile>
  open(const std::string &path, std::string &error,
       uint64_t maxFileSize = kDefaultMaxFileSize);

  /// The file name used in error messages.
  const std::string &name() const { return fileName; }

  /// All tensors, sorted by name (byte-wise), whatever their order in the
  /// header: the result does not depend on the writer.
  const std::vector<SafetensorsTensor> &tensors() const { return entries; }

  /// The tensor called `name`, or null.
  const SafetensorsTensor *find(std::string_view name) const;

  /// The header's "__metadata__" (empty when absent).
  const std::map<std::string, std::string> &metadata() const { return meta; }

  /// Size of the data section in bytes (the tensors cover it exactly).
  uint64_t dataSize() const { return bytes.size() - dataStart; }

  /// The raw little-endian bytes of `tensor`, which must belong to this
  /// file; empty if its range is not inside the data section.
  std::string_view rawData(const SafetensorsTensor &tensor) const;

  /// Converts `tensor` (F32, F16, BF16, F8_E5M2, F8_E4M3; F64 is refused as
  /// it would round) to float, exactly: subnormals, infinities, signed zeros
  /// and NaNs are kept. Fills `out` with numElements() values, row-major.
  /// False with `error` set for other dtypes or a tensor not of this file.
  bool toFloat(const SafetensorsTensor &tensor, std::vector<float> &out,
               std::string &error) const;

  /// As `toFloat`, to double; also accepts F64.
  bool toDouble(const SafetensorsTensor &tensor, std::vector<double> &out,
                std::string &error) const;

private:
  SafetensorsFile() = default;
  /// Checks that `tensor` has a dtype that converts to float (F64 only when
  /// `allowF64`) and a byte range inside the data section matching its
  /// element count; the file and tensor name go into `error` otherwise.
  bool checkConvertible(const SafetensorsTensor &tensor, bool allowF64,
                        std::string &error) const;

  std::string fileName;
  std::string bytes;
  uint64_t dataStart = 0;
  std::vector<SafetensorsTensor> entries;
  std::map<std::string, std::string> meta;
};

} // namespace qopt

#endif // QOPT_SUPPORT_SAFETENSORS_H
