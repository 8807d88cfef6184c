//===- Tensors.cpp - ONNX TensorProto to MLIR attributes ------------------===//

#include "Tensors.h"
#include "ONNXNode.h"

#include "mlir/IR/AsmState.h"
#include "llvm/ADT/APInt.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

FailureOr<Type>
mlir::qopt::onnx_import::elementTypeFor(int32_t dtype, MLIRContext *ctx,
                                        const EmitErrorFn &emitError,
                                        StringRef what) {
  Builder b(ctx);
  switch (dtype) {
  case kFloat:
    return b.getF32Type();
  case kDouble:
    return b.getF64Type();
  case kFloat16:
    return b.getF16Type();
  case kBFloat16:
    return b.getBF16Type();
  case kBool:
    return b.getI1Type();
  case kInt4:
  case kUInt4:
    return b.getIntegerType(4);
  case kInt2:
  case kUInt2:
    return b.getIntegerType(2);
  case kFloat8E4M3FN:
    return b.getType<Float8E4M3FNType>();
  case kFloat8E4M3FNUZ:
    return b.getType<Float8E4M3FNUZType>();
  case kFloat8E5M2:
    return b.getType<Float8E5M2Type>();
  case kFloat8E5M2FNUZ:
    return b.getType<Float8E5M2FNUZType>();
  case kFloat4E2M1:
    return b.getType<Float4E2M1FNType>();
  case kInt8:
  case kUInt8:
    return b.getIntegerType(8);
  case kInt16:
  case kUInt16:
    return b.getIntegerType(16);
  case kInt32:
  case kUInt32:
    return b.getIntegerType(32);
  case kInt64:
  case kUInt64:
    return b.getIntegerType(64);
  default:
    break;
  }
  emitError() << what << " has unsupported dtype " << dtypeName(dtype);
  return failure();
}

FailureOr<SmallVector<int64_t>> mlir::qopt::onnx_import::checkedDims(
    ArrayRef<int64_t> dims, const EmitErrorFn &emitError, StringRef what) {
  int64_t total = 1;
  for (int64_t d : dims) {
    if (d < 0) {
      emitError() << what << " has a negative dimension (" << d << ")";
      return failure();
    }
    if (__builtin_mul_overflow(total, d, &total)) {
      emitError() << what << " has dimensions whose product overflows";
      return failure();
    }
  }
  return SmallVector<int64_t>(dims.begin(), dims.end());
}

namespace {

/// Size in bytes of one element as stored in raw_data (4-bit: see numBytes).
int64_t elementBytes(int32_t dtype) {
  switch (dtype) {
  case kBool:
  case kInt8:
  case kUInt8:
  case kFloat8E4M3FN:
  case kFloat8E4M3FNUZ:
  case kFloat8E5M2:
  case kFloat8E5M2FNUZ:
    return 1;
  case kInt16:
  case kUInt16:
  case kFloat16:
  case kBFloat16:
    return 2;
  case kFloat:
  case kInt32:
  case kUInt32:
    return 4;
  case kDouble:
  case kInt64:
  case kUInt64:
    return 8;
  default:
    return 0;
  }
}

/// Bits of a packed sub-byte integer type (4 or 2), else 0.
int subByteBits(int32_t dtype) {
  if (dtype == kInt4 || dtype == kUInt4)
    return 4;
  if (dtype == kInt2 || dtype == kUInt2)
    return 2;
  return 0;
}

/// Bytes of `numel` elements in raw_data: 4- and 2-bit types are packed.
int64_t rawBytes(int32_t dtype, int64_t numel) {
  if (int bits = subByteBits(dtype))
    return (numel * bits + 7) / 8;
  return numel * elementBytes(dtype);
}

/// Opens the external data of `tensor`, confined to `dir`. Returns the bytes
/// (owned by `holder`).
FailureOr<ArrayRef<char>>
readExternal(const onnx::TensorProto &tensor, StringRef dir,
             int64_t expectedBytes, std::unique_ptr<llvm::MemoryBuffer> &holder,
             const EmitErrorFn &emitError, StringRef what) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &kv : tensor.external_data()) {
    auto parseInt = [&](int64_t &out) -> bool {
      StringRef v(kv.value());
      return !v.getAsInteger(10, out) && out >= 0;
    };
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      if (!parseInt(offset)) {
        emitError() << what << ": external data offset '" << kv.value()
                    << "' is not a non-negative integer";
        return failure();
      }
    } else if (kv.key() == "length") {
      if (!parseInt(length)) {
        emitError() << what << ": external data length '" << kv.value()
                    << "' is not a non-negative integer";
        return failure();
      }
    }
  }
  if (dir.empty()) {
    emitError() << what
                << " uses external data, but the model was not loaded from a "
                   "file (no directory to read it from)";
    return failure();
  }
  if (location.empty()) {
    emitError() << what << " uses external data without a location";
    return failure();
  }
  // Confinement: relative, no '..', and after resolving links still inside.
  if (llvm::sys::path::is_absolute(location) ||
      llvm::sys::path::is_absolute(location, llvm::sys::path::Style::windows)) {
    emitError() << what << ": external data location '" << location
                << "' must be relative to the model's directory";
    return failure();
  }
  for (StringRef part : llvm::make_range(llvm::sys::path::begin(location),
                                         llvm::sys::path::end(location)))
    if (part == "..") {
      emitError() << what << ": external data location '" << location
                  << "' leaves the model's directory";
      return failure();
    }
  SmallString<256> realDir, realFile, joined(dir);
  llvm::sys::path::append(joined, location);
  if (llvm::sys::fs::real_path(dir, realDir) ||
      llvm::sys::fs::real_path(joined, realFile)) {
    emitError() << what << ": cannot open external data file '" << location
                << "'";
    return failure();
  }
  SmallString<256> prefix(realDir);
  llvm::sys::path::append(prefix, "");
  if (!StringRef(realFile).starts_with(prefix)) {
    emitError() << what << ": external data location '" << location
                << "' resolves outside the model's directory";
    return failure();
  }
  uint64_t fileSize = 0;
  if (llvm::sys::fs::file_size(realFile, fileSize) ||
      !llvm::sys::fs::is_regular_file(realFile)) {
    emitError() << what << ": external data '" << location
                << "' is not a regular file";
    return failure();
  }
  if (length < 0)
    length = static_cast<int64_t>(fileSize) - offset;
  if (offset > static_cast<int64_t>(fileSize) || length < 0 ||
      static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) >
          fileSize) {
    // Unsigned sum: a hostile offset near INT64_MAX must not overflow.
    emitError() << what << ": external data range [" << offset << ", "
                << static_cast<uint64_t>(offset) +
                       static_cast<uint64_t>(std::max<int64_t>(length, 0))
                << ") exceeds the " << fileSize << "-byte file '" << location
                << "'";
    return failure();
  }
  if (length != expectedBytes) {
    emitError() << what << ": external data holds " << length
                << " bytes, its dims and dtype need " << expectedBytes;
    return failure();
  }
  auto buf = llvm::MemoryBuffer::getFileSlice(realFile, length, offset,
                                              /*IsVolatile=*/false);
  if (!buf) {
    emitError() << what << ": cannot read external data '" << location << "'";
    return failure();
  }
  holder = std::move(*buf);
  return ArrayRef<char>(holder->getBufferStart(), holder->getBufferSize());
}

template <typename T, typename Field>
void appendAs(std::vector<char> &out, const Field &field) {
  out.resize(field.size() * sizeof(T));
  char *p = out.data();
  for (auto v : field) {
    T t = static_cast<T>(v);
    std::memcpy(p, &t, sizeof(T));
    p += sizeof(T);
  }
}

/// Bytes of the typed repeated fields, in raw_data layout; checks the count.
FailureOr<std::vector<char>> typedFieldBytes(const onnx::TensorProto &t,
                                             int64_t numel,
                                             const EmitErrorFn &emitError,
                                             StringRef what) {
  std::vector<char> out;
  int64_t count = -1;
  // Integers, and the bit patterns that int32_data holds for the 16-bit
  // floats, are truncated to the element's raw_data width: the same bytes
  // whether the narrow type is signed or not.
  auto takeInts = [&](const auto &field) {
    count = field.size();
    switch (elementBytes(t.data_type())) {
    case 1:
      appendAs<uint8_t>(out, field);
      break;
    case 2:
      appendAs<uint16_t>(out, field);
      break;
    case 4:
      appendAs<uint32_t>(out, field);
      break;
    default:
      appendAs<uint64_t>(out, field);
      break;
    }
  };
  switch (t.data_type()) {
  case kFloat:
    count = t.float_data_size();
    appendAs<float>(out, t.float_data());
    break;
  case kDouble:
    count = t.double_data_size();
    appendAs<double>(out, t.double_data());
    break;
  case kInt64:
    takeInts(t.int64_data());
    break;
  case kInt32:
  case kInt16:
  case kUInt16:
  case kFloat16:
  case kBFloat16:
  case kInt8:
  case kUInt8:
  case kBool:
    takeInts(t.int32_data());
    break;
  case kUInt32:
  case kUInt64:
    takeInts(t.uint64_data());
    break;
  case kInt4:
  case kUInt4:
  case kInt2:
  case kUInt2:
    // One packed byte (two 4-bit or four 2-bit values, low bits first) per
    // int32_data entry, as onnx.helper.make_tensor writes them.
    appendAs<uint8_t>(out, t.int32_data());
    if (t.int32_data_size() != rawBytes(t.data_type(), numel)) {
      emitError() << what << " holds " << t.int32_data_size()
                  << " packed bytes in int32_data, its dims need "
                  << rawBytes(t.data_type(), numel);
      return failure();
    }
    return out;
  default:
    emitError() << what << ": typed data fields of dtype "
                << dtypeName(t.data_type())
                << " are not supported (use raw_data)";
    return failure();
  }
  if (count != numel) {
    emitError() << what << " holds " << count
                << " values in its typed data field, its dims need " << numel;
    return failure();
  }
  return out;
}

} // namespace

FailureOr<ElementsAttr> mlir::qopt::onnx_import::tensorToAttr(
    const onnx::TensorProto &tensor, StringRef resourceName,
    const TensorSource &source, MLIRContext *ctx,
    const EmitErrorFn &emitError) {
  std::string what = "tensor '" + tensor.name() + "'";
  int32_t dtype = tensor.data_type();
  FailureOr<Type> elemTy = elementTypeFor(dtype, ctx, emitError, what);
  if (failed(elemTy))
    return failure();
  SmallVector<int64_t> dimsIn(tensor.dims().begin(), tensor.dims().end());
  FailureOr<SmallVector<int64_t>> dims = checkedDims(dimsIn, emitError, what);
  if (failed(dims))
    return failure();
  int64_t numel = 1;
  for (int64_t d : *dims)
    numel *= d;
  // Bytes needed; guards the multiplication as well.
  int64_t perElem = subByteBits(dtype) ? 1 : elementBytes(dtype);
  int64_t needed;
  if (__builtin_mul_overflow(numel, perElem, &needed)) {
    emitError() << what << " is too large";
    return failure();
  }
  needed = rawBytes(dtype, numel);

  std::unique_ptr<llvm::MemoryBuffer> external;
  std::vector<char> owned;
  ArrayRef<char> bytes;
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    auto ext = readExternal(tensor, source.externalDataDir, needed, external,
                            emitError, what);
    if (failed(ext))
      return failure();
    bytes = *ext;
  } else if (tensor.has_raw_data()) {
    if (static_cast<int64_t>(tensor.raw_data().size()) != needed) {
      emitError() << what << " holds " << tensor.raw_data().size()
                  << " bytes of raw_data, its dims and dtype need " << needed;
      return failure();
    }
    bytes = ArrayRef<char>(tensor.raw_data().data(), tensor.raw_data().size());
  } else {
    auto typed = typedFieldBytes(tensor, numel, emitError, what);
    if (failed(typed))
      return failure();
    owned = std::move(*typed);
    bytes = owned;
  }

  auto type = RankedTensorType::get(*dims, *elemTy);
  if (dtype == kBool) {
    SmallVector<bool> values;
    values.reserve(numel);
    for (char c : bytes)
      values.push_back(c != 0);
    return cast<ElementsAttr>(DenseElementsAttr::get(type, values));
  }
  if (int bits = subByteBits(dtype)) {
    // Packed, low bits first: two 4-bit or four 2-bit values a byte.
    int perByte = 8 / bits;
    SmallVector<APInt> values;
    values.reserve(numel);
    for (int64_t i = 0; i < numel; ++i) {
      uint8_t byte = static_cast<uint8_t>(bytes[i / perByte]);
      uint8_t v = (byte >> ((i % perByte) * bits)) & ((1u << bits) - 1);
      values.push_back(APInt(bits, v));
    }
    return cast<ElementsAttr>(DenseElementsAttr::get(type, values));
  }
  if (resourceName.empty()) {
    bool detectedSplat = false;
    if (!DenseElementsAttr::isValidRawBuffer(type, bytes, detectedSplat)) {
      emitError() << what << " has a raw buffer that does not match its type";
      return failure();
    }
    return cast<ElementsAttr>(DenseElementsAttr::getFromRawBuffer(type, bytes));
  }
  // Weights live in dense_resource blobs. An mmapped external slice is
  // handed over without a copy when it is aligned for its element type.
  size_t align = std::max<int64_t>(elementBytes(dtype), 1);
  AsmResourceBlob blob;
  if (external && reinterpret_cast<uintptr_t>(bytes.data()) % align == 0) {
    auto *raw = external.release();
    blob = AsmResourceBlob(
        bytes, align, [raw](void *, size_t, size_t) { delete raw; },
        /*dataIsMutable=*/false);
  } else {
    blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align);
  }
  return cast<ElementsAttr>(
      DenseResourceElementsAttr::get(type, resourceName, std::move(blob)));
}
