//===- TensorProto.cpp - ONNX TensorProto (.pb) tensor files --------------===//
//
// Reads and writes tensors as serialized ONNX TensorProto (.pb) files with
// nothing but the C++ standard library: the protobuf wire format is parsed
// here by hand. Like every tensor file, a .pb file is untrusted input
// (IO/FileUtil.cpp).
//
//===----------------------------------------------------------------------===//

#include "IO/FileUtil.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using namespace qopt::rt;
using namespace qopt::rt::io;

namespace {

/// Protobuf cannot parse messages of 2 GiB or more.
constexpr uint64_t kMaxProtoBytes = 0x7fffffff;

/// Stores the low `width` bytes of `bits` as element `index`, in host order.
void storeElement(void *data, size_t index, size_t width, uint64_t bits) {
  auto *p = static_cast<unsigned char *>(data) + index * width;
  switch (width) {
  case 1: {
    uint8_t v = uint8_t(bits);
    std::memcpy(p, &v, 1);
    break;
  }
  case 2: {
    uint16_t v = uint16_t(bits);
    std::memcpy(p, &v, 2);
    break;
  }
  case 4: {
    uint32_t v = uint32_t(bits);
    std::memcpy(p, &v, 4);
    break;
  }
  default:
    std::memcpy(p, &bits, 8);
    break;
  }
}

enum WireType : unsigned {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5
};

const char *wireTypeName(unsigned wt) {
  static const char *const kNames[] = {"varint",           "64-bit",
                                       "length-delimited", "start-group",
                                       "end-group",        "32-bit"};
  return wt < 6 ? kNames[wt] : "invalid";
}

struct Span {
  const unsigned char *data = nullptr;
  size_t size = 0;
};

/// Reads protobuf wire primitives from [from, to); offsets in messages
/// count from `file`, the first byte of the file.
class WireReader {
public:
  WireReader(const unsigned char *file, const unsigned char *from,
             const unsigned char *to)
      : file(file), p(from), end(to) {}

  bool atEnd() const { return p == end; }
  size_t offset() const { return size_t(p - file); }
  const unsigned char *position() const { return p; }

  bool varint(uint64_t &value) {
    size_t start = offset();
    uint64_t result = 0;
    for (unsigned i = 0; i < 10; ++i) {
      if (p == end)
        return failWith("truncated varint at byte " + std::to_string(start));
      unsigned char b = *p++;
      if (i == 9 && b > 1)
        break;
      result |= uint64_t(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) {
        value = result;
        return true;
      }
    }
    return failWith("varint at byte " + std::to_string(start) +
                    " is longer than 64 bits");
  }

  bool take(size_t size, Span &span, const char *what) {
    if (size_t(end - p) < size)
      return failWith(std::string(what) + " at byte " +
                      std::to_string(offset()) + " needs " +
                      std::to_string(size) + " bytes, only " +
                      std::to_string(end - p) + " remain");
    span = {p, size};
    p += size;
    return true;
  }

  bool lengthDelimited(Span &span) {
    size_t start = offset();
    uint64_t length;
    if (!varint(length))
      return false;
    if (length > uint64_t(end - p))
      return failWith("length " + std::to_string(length) + " at byte " +
                      std::to_string(start) + " runs past the end (" +
                      std::to_string(end - p) + " bytes remain)");
    return take(size_t(length), span, "field");
  }

  bool failWith(std::string what) {
    error = std::move(what);
    return false;
  }

  std::string error;

private:
  const unsigned char *file;
  const unsigned char *p;
  const unsigned char *end;
};

/// Skips one field of wire type `wt` (groups included, nested at most 32
/// deep).
bool skipField(WireReader &r, uint64_t field, unsigned wt, unsigned depth) {
  Span ignored;
  uint64_t ignoredValue;
  switch (wt) {
  case kVarint:
    return r.varint(ignoredValue);
  case kFixed64:
    return r.take(8, ignored, "64-bit field");
  case kLengthDelimited:
    return r.lengthDelimited(ignored);
  case kFixed32:
    return r.take(4, ignored, "32-bit field");
  case kStartGroup:
    if (depth >= 32)
      return r.failWith("groups nested too deeply at byte " +
                        std::to_string(r.offset()));
    while (true) {
      if (r.atEnd())
        return r.failWith("group of field " + std::to_string(field) +
                          " is not terminated");
      uint64_t tag;
      if (!r.varint(tag))
        return false;
      if (tag >> 3 == 0)
        return r.failWith("field number 0 before byte " +
                          std::to_string(r.offset()));
      if ((tag & 7) == kEndGroup) {
        if (tag >> 3 != field)
          return r.failWith("end-group tag of field " +
                            std::to_string(tag >> 3) + " closes field " +
                            std::to_string(field));
        return true;
      }
      if (!skipField(r, tag >> 3, unsigned(tag & 7), depth + 1))
        return false;
    }
  case kEndGroup:
    return r.failWith("unexpected end-group tag of field " +
                      std::to_string(field) + " before byte " +
                      std::to_string(r.offset()));
  default:
    return r.failWith("invalid wire type " + std::to_string(wt) + " of field " +
                      std::to_string(field) + " before byte " +
                      std::to_string(r.offset()));
  }
}

/// One of TensorProto's repeated numeric fields: the spans of the file that
/// hold its values, packed or not, and how many values they hold.
struct RepeatedField {
  const char *name;
  unsigned number;
  /// kVarint, kFixed32 or kFixed64: the wire type of one unpacked value.
  unsigned valueWireType;
  std::vector<Span> spans;
  uint64_t count = 0;

  size_t fixedWidth() const { return valueWireType == kFixed32 ? 4 : 8; }

  /// Records one occurrence: a single value or a packed run.
  bool add(WireReader &r, const unsigned char *file, unsigned wt) {
    Span span;
    if (wt == valueWireType) {
      const unsigned char *start = r.position();
      if (valueWireType == kVarint) {
        uint64_t ignored;
        if (!r.varint(ignored))
          return false;
        span = {start, size_t(r.position() - start)};
      } else if (!r.take(fixedWidth(), span, name)) {
        return false;
      }
      spans.push_back(span);
      ++count;
      return true;
    }
    if (wt != kLengthDelimited)
      return r.failWith("field " + std::to_string(number) + " (" + name +
                        ") has wire type " + std::to_string(wt) + " (" +
                        wireTypeName(wt) + "); expected " +
                        std::to_string(valueWireType) + " (" +
                        wireTypeName(valueWireType) + ") or 2 (packed)");
    size_t at = r.offset();
    if (!r.lengthDelimited(span))
      return false;
    if (valueWireType == kVarint) {
      WireReader values(file, span.data, span.data + span.size);
      uint64_t ignored;
      while (!values.atEnd()) {
        if (!values.varint(ignored))
          return r.failWith("packed " + std::string(name) + ": " +
                            values.error);
        ++count;
      }
    } else {
      if (span.size % fixedWidth())
        return r.failWith(
            "packed " + std::string(name) + " at byte " + std::to_string(at) +
            " has " + std::to_string(span.size) + " bytes, not a multiple of " +
            std::to_string(fixedWidth()));
      count += span.size / fixedWidth();
    }
    spans.push_back(span);
    return true;
  }

  /// Calls fn(index, value) for every value in order (the raw bits for
  /// fixed-width values); stops when fn returns false.
  template <typename Fn> bool forEach(Fn fn) const {
    uint64_t index = 0;
    for (const Span &span : spans) {
      if (valueWireType == kVarint) {
        WireReader values(span.data, span.data, span.data + span.size);
        uint64_t value;
        while (!values.atEnd() && values.varint(value))
          if (!fn(index++, value))
            return false;
      } else {
        size_t width = fixedWidth();
        for (size_t i = 0; i + width <= span.size; i += width)
          if (!fn(index++, loadLittleEndian(span.data + i, width)))
            return false;
      }
    }
    return true;
  }
};

/// What a TensorProto holds, before any of it is copied.
struct TensorProtoFields {
  std::vector<int64_t> dims;
  bool hasDataType = false;
  int32_t dataType = 0;
  std::string name;
  bool hasRawData = false;
  Span rawData;
  RepeatedField floatData{"float_data", 4, kFixed32, {}};
  RepeatedField int32Data{"int32_data", 5, kVarint, {}};
  RepeatedField int64Data{"int64_data", 7, kVarint, {}};
  RepeatedField doubleData{"double_data", 10, kFixed64, {}};
  RepeatedField uint64Data{"uint64_data", 11, kVarint, {}};

  std::vector<const RepeatedField *> typedFields() const {
    return {&floatData, &int32Data, &int64Data, &doubleData, &uint64Data};
  }

  /// The typed field numbered `number`, or null.
  RepeatedField *typedField(uint64_t number) {
    for (RepeatedField *f :
         {&floatData, &int32Data, &int64Data, &doubleData, &uint64Data})
      if (f->number == number)
        return f;
    return nullptr;
  }
};

bool expectWireType(WireReader &r, uint64_t field, const char *name,
                    unsigned wt, unsigned expected) {
  if (wt == expected)
    return true;
  return r.failWith(
      "field " + std::to_string(field) + " (" + name + ") has wire type " +
      std::to_string(wt) + " (" + wireTypeName(wt) + "); expected " +
      std::to_string(expected) + " (" + wireTypeName(expected) + ")");
}

bool addDim(WireReader &r, TensorProtoFields &fields, uint64_t value) {
  int64_t dim = int64_t(value);
  if (dim < 0)
    return r.failWith("negative dim " + std::to_string(dim) + " before byte " +
                      std::to_string(r.offset()));
  if (fields.dims.size() == QOPT_MAX_RANK)
    return r.failWith("more than " + std::to_string(QOPT_MAX_RANK) + " dims");
  fields.dims.push_back(dim);
  return true;
}

/// Parses the fields of a TensorProto; false with `r.error` set.
bool parseTensorProto(WireReader &r, const unsigned char *file,
                      TensorProtoFields &fields) {
  while (!r.atEnd()) {
    size_t at = r.offset();
    uint64_t tag;
    if (!r.varint(tag))
      return false;
    uint64_t field = tag >> 3;
    unsigned wt = unsigned(tag & 7);
    if (field == 0 || tag > 0xffffffffu)
      return r.failWith("bad field tag " + std::to_string(tag) + " at byte " +
                        std::to_string(at));
    Span span;
    uint64_t value;
    switch (field) {
    case 1: // dims
      if (wt == kVarint) {
        if (!r.varint(value) || !addDim(r, fields, value))
          return false;
      } else if (wt == kLengthDelimited) {
        if (!r.lengthDelimited(span))
          return false;
        WireReader packed(file, span.data, span.data + span.size);
        while (!packed.atEnd())
          if (!packed.varint(value) || !addDim(packed, fields, value))
            return r.failWith("packed dims: " + packed.error);
      } else if (!expectWireType(r, field, "dims", wt, kVarint)) {
        return false;
      }
      break;
    case 2: // data_type
      if (!expectWireType(r, field, "data_type", wt, kVarint) ||
          !r.varint(value))
        return false;
      fields.hasDataType = true;
      fields.dataType = int32_t(uint32_t(value));
      break;
    case 3:
      return r.failWith("segmented tensors (field 3, segment) are not "
                        "supported");
    case 4:  // float_data
    case 5:  // int32_data
    case 7:  // int64_data
    case 10: // double_data
    case 11: // uint64_data
      if (!fields.typedField(field)->add(r, file, wt))
        return false;
      break;
    case 6:
      return r.failWith("string tensors (string_data) are not supported");
    case 8: // name
      if (!expectWireType(r, field, "name", wt, kLengthDelimited) ||
          !r.lengthDelimited(span))
        return false;
      fields.name.assign(reinterpret_cast<const char *>(span.data), span.size);
      break;
    case 9: // raw_data
      if (!expectWireType(r, field, "raw_data", wt, kLengthDelimited) ||
          !r.lengthDelimited(fields.rawData))
        return false;
      fields.hasRawData = true;
      break;
    case 13:
      return r.failWith("external data (external_data) is not supported");
    case 14: // data_location
      if (!expectWireType(r, field, "data_location", wt, kVarint) ||
          !r.varint(value))
        return false;
      if (value == 1)
        return r.failWith("external data (data_location = EXTERNAL) is not "
                          "supported");
      if (value != 0)
        return r.failWith("unknown data_location " + std::to_string(value));
      break;
    default:
      if (!skipField(r, field, wt, 0))
        return false;
      break;
    }
  }
  return true;
}

/// Bits of a sub-byte integer dtype (4 or 2), else 0.
int subByteBits(qopt_dtype dtype) {
  switch (dtype) {
  case QOPT_DTYPE_I4:
  case QOPT_DTYPE_U4:
  case QOPT_DTYPE_F4E2M1:
    return 4;
  case QOPT_DTYPE_I2:
  case QOPT_DTYPE_U2:
    return 2;
  default:
    return 0;
  }
}

/// Bytes that `count` packed elements of `bits` take.
uint64_t packedBytes(int64_t count, int bits) {
  return (uint64_t(count) * uint64_t(bits) + 7) / 8;
}

/// Unpacks `count` elements (low bits first) into one byte each,
/// sign-extending signed types.
void unpackSubByte(const unsigned char *packed, int64_t count, qopt_dtype dtype,
                   void *out) {
  int bits = subByteBits(dtype);
  int perByte = 8 / bits;
  unsigned mask = (1u << bits) - 1;
  bool isSigned = dtype == QOPT_DTYPE_I4 || dtype == QOPT_DTYPE_I2;
  auto *dst = static_cast<uint8_t *>(out);
  for (int64_t i = 0; i < count; ++i) {
    unsigned v = (packed[i / perByte] >> ((i % perByte) * bits)) & mask;
    if (isSigned && (v >> (bits - 1)))
      v |= ~mask;
    dst[i] = uint8_t(v);
  }
}

/// Packs one-byte-per-element values (low bits first).
std::vector<unsigned char> packSubByte(const void *in, int64_t count,
                                       qopt_dtype dtype) {
  int bits = subByteBits(dtype);
  int perByte = 8 / bits;
  unsigned mask = (1u << bits) - 1;
  std::vector<unsigned char> out(size_t(packedBytes(count, bits)), 0);
  const auto *src = static_cast<const uint8_t *>(in);
  for (int64_t i = 0; i < count; ++i)
    out[size_t(i / perByte)] |= (unsigned(src[i]) & mask)
                                << ((i % perByte) * bits);
  return out;
}

/// The name of an ONNX data_type code this runtime does not handle.
const char *onnxTypeName(int32_t code) {
  static const std::pair<int32_t, const char *> kNames[] = {
      {0, "UNDEFINED"},   {8, "STRING"},          {14, "COMPLEX64"},
      {15, "COMPLEX128"}, {17, "FLOAT8E4M3FN"},   {18, "FLOAT8E4M3FNUZ"},
      {19, "FLOAT8E5M2"}, {20, "FLOAT8E5M2FNUZ"}, {21, "UINT4"},
      {22, "INT4"},       {23, "FLOAT4E2M1"},     {24, "FLOAT8E8M0"},
      {25, "UINT2"},      {26, "INT2"},           {27, "FLOAT6E2M3"},
      {28, "FLOAT6E3M2"}};
  for (auto [known, name] : kNames)
    if (known == code)
      return name;
  return nullptr;
}

/// Copies the typed field's values into `tensor`, checking that each fits.
qopt_status copyTypedField(const std::string &path, const RepeatedField &f,
                           qopt_tensor *tensor) {
  qopt_dtype dtype = tensor->dtype;
  size_t width = qopt_dtype_size(dtype);
  void *data = tensor->data;
  std::string error;
  auto outOfRange = [&](uint64_t index, const std::string &value) {
    error = std::string(f.name) + "[" + std::to_string(index) + "] = " + value +
            " is out of range for " + qopt_dtype_name(dtype);
    return false;
  };
  bool ok;
  if (f.number == 5) {
    // int32_data: sign-extended varints of int32 values; 16-bit floats
    // store their bits.
    int64_t lo = std::numeric_limits<int32_t>::min();
    int64_t hi = std::numeric_limits<int32_t>::max();
    switch (dtype) {
    case QOPT_DTYPE_I8:
      lo = -128, hi = 127;
      break;
    case QOPT_DTYPE_U8:
      lo = 0, hi = 255;
      break;
    case QOPT_DTYPE_I16:
      lo = -32768, hi = 32767;
      break;
    case QOPT_DTYPE_U16:
    case QOPT_DTYPE_F16:
    case QOPT_DTYPE_BF16:
      lo = 0, hi = 65535;
      break;
    default:
      break;
    }
    ok = f.forEach([&](uint64_t i, uint64_t v) {
      int64_t x = int32_t(uint32_t(v));
      if (dtype == QOPT_DTYPE_BOOL)
        x = x != 0;
      else if (x < lo || x > hi)
        return outOfRange(i, std::to_string(x));
      storeElement(data, size_t(i), width, uint64_t(x));
      return true;
    });
  } else if (f.number == 11 && dtype == QOPT_DTYPE_U32) {
    ok = f.forEach([&](uint64_t i, uint64_t v) {
      if (v > std::numeric_limits<uint32_t>::max())
        return outOfRange(i, std::to_string(v));
      storeElement(data, size_t(i), width, v);
      return true;
    });
  } else {
    // float_data and double_data hold IEEE bits; int64_data and
    // uint64_data the values themselves.
    ok = f.forEach([&](uint64_t i, uint64_t v) {
      storeElement(data, size_t(i), width, v);
      return true;
    });
  }
  if (!ok)
    return failAt(path, error);
  return QOPT_OK;
}

/// The typed field that holds `dtype`'s values in a TensorProto.
const RepeatedField &fieldFor(const TensorProtoFields &fields,
                              qopt_dtype dtype) {
  switch (dtype) {
  case QOPT_DTYPE_F32:
    return fields.floatData;
  case QOPT_DTYPE_F64:
    return fields.doubleData;
  case QOPT_DTYPE_I64:
    return fields.int64Data;
  case QOPT_DTYPE_U32:
  case QOPT_DTYPE_U64:
    return fields.uint64Data;
  default:
    return fields.int32Data;
  }
}

qopt_status loadPb(const std::string &path, qopt_tensor **out,
                   std::string &name) {
  std::vector<unsigned char> bytes;
  if (readWholeFile(path, bytes))
    return QOPT_ERROR;
  if (bytes.empty())
    return failAt(path, "empty file, not a TensorProto");
  if (bytes.size() >= 6 && std::memcmp(bytes.data(), kNpyMagic, 6) == 0)
    return failAt(path, "this is a .npy file, not a TensorProto");

  const unsigned char *file = bytes.data();
  WireReader reader(file, file, file + bytes.size());
  TensorProtoFields fields;
  if (!parseTensorProto(reader, file, fields))
    return failAt(path, "bad TensorProto: " + reader.error);

  int32_t code = fields.dataType;
  if (!fields.hasDataType || code == 0)
    return failAt(path, "data_type is missing or UNDEFINED (0)");
  if (code == 8)
    return failAt(path, "string tensors (data_type 8, STRING) are not "
                        "supported");
  // Codes 1-16 are qopt_dtype values; qopt_dtype_size says which exist.
  qopt_dtype dtype = QOPT_DTYPE_INVALID;
  if (code >= 1 && code <= 26 && qopt_dtype_size(qopt_dtype(code)) != 0)
    dtype = qopt_dtype(code);
  if (dtype == QOPT_DTYPE_INVALID) {
    const char *known = onnxTypeName(code);
    return failAt(path, "unsupported data_type " + std::to_string(code) +
                            (known ? std::string(" (") + known + ")"
                                   : std::string(" (unknown)")));
  }

  size_t width = qopt_dtype_size(dtype);
  int64_t count = checkedNumElements(fields.dims, width);
  std::string shape = describe(dtype, fields.dims);
  if (count < 0)
    return failAt(path, "shape " + shape + " is too large");

  const RepeatedField *typed = nullptr;
  for (const RepeatedField *f : fields.typedFields()) {
    if (f->count == 0)
      continue;
    if (fields.hasRawData)
      return failAt(path,
                    std::string("both raw_data and ") + f->name + " are set");
    if (typed)
      return failAt(path, std::string("both ") + typed->name + " and " +
                              f->name + " are set");
    typed = f;
  }
  if (typed && typed != &fieldFor(fields, dtype))
    return failAt(path, std::string(typed->name) + " cannot hold " +
                            qopt_dtype_name(dtype) + " values (" +
                            qopt_dtype_name(dtype) + " uses " +
                            fieldFor(fields, dtype).name + ")");

  // Sub-byte integers are packed in the file (raw_data, and int32_data
  // holding one packed byte per value).
  int bits = subByteBits(dtype);
  if (bits) {
    uint64_t need = packedBytes(count, bits);
    if (fields.hasRawData && fields.rawData.size != need)
      return failAt(path, "raw_data has " +
                              std::to_string(fields.rawData.size) +
                              " bytes but " + shape + " needs " +
                              std::to_string(need) + " (packed)");
    if (typed && typed->count != need)
      return failAt(path, std::string(typed->name) + " has " +
                              std::to_string(typed->count) + " values but " +
                              shape + " needs " + std::to_string(need) +
                              " (packed bytes)");
    if (!typed && !fields.hasRawData && count != 0)
      return failAt(path,
                    "no data: " + shape + " needs raw_data or int32_data");
    std::unique_ptr<qopt_tensor> tensor;
    if (allocate(path, dtype, fields.dims, tensor))
      return QOPT_ERROR;
    std::vector<unsigned char> packed;
    if (fields.hasRawData) {
      packed.assign(fields.rawData.data, fields.rawData.data + need);
    } else if (typed) {
      std::string error;
      bool ok = typed->forEach([&](uint64_t i, uint64_t v) {
        if (v > 255) {
          error = std::string(typed->name) + "[" + std::to_string(i) +
                  "] = " + std::to_string(v) + " is not a packed byte";
          return false;
        }
        packed.push_back((unsigned char)v);
        return true;
      });
      if (!ok)
        return failAt(path, error);
    }
    if (count)
      unpackSubByte(packed.data(), count, dtype, tensor->data);
    name = std::move(fields.name);
    *out = tensor.release();
    return QOPT_OK;
  }

  uint64_t dataBytes = uint64_t(count) * width;
  if (fields.hasRawData && fields.rawData.size != dataBytes)
    return failAt(path, "raw_data has " + std::to_string(fields.rawData.size) +
                            " bytes but " + shape + " needs " +
                            std::to_string(dataBytes));
  if (typed && typed->count != uint64_t(count))
    return failAt(path, std::string(typed->name) + " has " +
                            std::to_string(typed->count) + " values but " +
                            shape + " needs " + std::to_string(count));
  if (!typed && !fields.hasRawData && count != 0)
    return failAt(path, "no data: " + shape + " needs " +
                            std::to_string(count) +
                            " values and neither raw_data nor " +
                            fieldFor(fields, dtype).name + " is set");

  std::unique_ptr<qopt_tensor> tensor;
  if (allocate(path, dtype, fields.dims, tensor))
    return QOPT_ERROR;
  if (fields.hasRawData && dataBytes) {
    std::memcpy(tensor->data, fields.rawData.data, size_t(dataBytes));
    if (!hostIsLittleEndian())
      swapBytes(tensor->data, size_t(count), width);
  } else if (typed && copyTypedField(path, *typed, tensor.get())) {
    return QOPT_ERROR;
  }
  name = std::move(fields.name);
  *out = tensor.release();
  return QOPT_OK;
}

void putVarint(std::string &out, uint64_t value) {
  while (value >= 0x80) {
    out += char((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += char(value);
}

qopt_status savePb(const qopt_tensor *tensor, const char *name,
                   const std::string &path) {
  if (qopt_dtype_size(tensor->dtype) == 0)
    return failAt(path, "cannot save a tensor of unknown dtype " +
                            std::to_string(int(tensor->dtype)));
  size_t bytes = qopt_tensor_byte_size(tensor);
  if (bytes > kMaxProtoBytes - 1024)
    return failAt(path, describe(tensor->dtype, tensor->dims) + " is " +
                            std::to_string(bytes) +
                            " bytes; a TensorProto must stay under 2 GiB "
                            "(save as .npy instead)");
  // Fields in number order, as protobuf serializers write them: dims
  // (unpacked, as onnx.proto declares them), data_type, name, raw_data.
  std::string head;
  for (int64_t dim : tensor->dims) {
    head += char(1 << 3 | kVarint);
    putVarint(head, uint64_t(dim));
  }
  head += char(2 << 3 | kVarint);
  putVarint(head, uint64_t(tensor->dtype));
  if (name && *name) {
    head += char(8 << 3 | kLengthDelimited);
    putVarint(head, std::strlen(name));
    head += name;
  }
  head += char(9 << 3 | kLengthDelimited);
  if (subByteBits(tensor->dtype)) {
    std::vector<unsigned char> packed = packSubByte(
        tensor->data, int64_t(qopt_tensor_num_elements(tensor)), tensor->dtype);
    putVarint(head, packed.size());
    return writeAtomically(
        path, {{head.data(), head.size()}, {packed.data(), packed.size()}});
  }
  putVarint(head, bytes);
  std::vector<unsigned char> scratch;
  return writeAtomically(path,
                         {{head.data(), head.size()},
                          {littleEndianData(tensor, bytes, scratch), bytes}});
}

} // namespace

extern "C" {

qopt_status qopt_tensor_load_pb(const char *path, qopt_tensor **out,
                                char **name_out) {
  if (out)
    *out = nullptr;
  if (name_out)
    *name_out = nullptr;
  if (!path || !out)
    return fail("qopt_tensor_load_pb: null path or output pointer");
  return guarded([&] {
    std::string name;
    if (loadPb(path, out, name))
      return QOPT_ERROR;
    if (!name_out)
      return QOPT_OK;
    auto *copy = static_cast<char *>(std::malloc(name.size() + 1));
    if (!copy) {
      qopt_tensor_free(*out);
      *out = nullptr;
      return fail("out of memory");
    }
    std::memcpy(copy, name.c_str(), name.size() + 1);
    *name_out = copy;
    return QOPT_OK;
  });
}

qopt_status qopt_tensor_save_pb(const qopt_tensor *tensor, const char *name,
                                const char *path) {
  if (!tensor || !path)
    return fail("qopt_tensor_save_pb: null tensor or path");
  return guarded([&] { return savePb(tensor, name, path); });
}

} // extern "C"
