//===- Safetensors.cpp - validated reader of safetensors files ------------===//
//
// The header is read twice by one strict JSON reader: first as plain JSON
// (syntax, UTF-8, nesting, duplicate keys) without building anything, then
// against the safetensors schema, storing only what the schema asks for. A
// hostile 100 MB header thus costs no more memory than its tensor list, and
// every JSON error is reported as such before any schema error.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

using namespace qopt;

//===----------------------------------------------------------------------===//
// Dtypes
//===----------------------------------------------------------------------===//

namespace {
struct DTypeInfo {
  SafetensorsDType type;
  const char *name;
  size_t size;
  bool floating;
};
} // namespace

static const DTypeInfo kDTypes[] = {
    {SafetensorsDType::F32, "F32", 4, true},
    {SafetensorsDType::F16, "F16", 2, true},
    {SafetensorsDType::BF16, "BF16", 2, true},
    {SafetensorsDType::F64, "F64", 8, true},
    {SafetensorsDType::I8, "I8", 1, false},
    {SafetensorsDType::U8, "U8", 1, false},
    {SafetensorsDType::I16, "I16", 2, false},
    {SafetensorsDType::I32, "I32", 4, false},
    {SafetensorsDType::I64, "I64", 8, false},
    {SafetensorsDType::BOOL, "BOOL", 1, false},
    {SafetensorsDType::U16, "U16", 2, false},
    {SafetensorsDType::U32, "U32", 4, false},
    {SafetensorsDType::U64, "U64", 8, false},
    {SafetensorsDType::F8_E5M2, "F8_E5M2", 1, true},
    {SafetensorsDType::F8_E4M3, "F8_E4M3", 1, true},
};

// Dtypes of the spec that are refused with their own message: sub-byte types
// break "bytes = elements * size", and no caller needs the others yet.
static const char *const kUnsupportedDTypes[] = {"F4", "F6_E2M3", "F6_E3M2",
                                                 "F8_E8M0", "C64"};

static const DTypeInfo &info(SafetensorsDType type) {
  for (const DTypeInfo &i : kDTypes)
    if (i.type == type)
      return i;
  return kDTypes[0]; // unreachable for a valid enumerator
}

const char *qopt::toString(SafetensorsDType type) { return info(type).name; }

std::optional<SafetensorsDType>
qopt::parseSafetensorsDType(std::string_view s) {
  for (const DTypeInfo &i : kDTypes)
    if (s == i.name)
      return i.type;
  return std::nullopt;
}

size_t qopt::getDTypeSize(SafetensorsDType type) { return info(type).size; }

bool qopt::isFloatingPoint(SafetensorsDType type) {
  return info(type).floating;
}

// Product of `shape` into `count`; false on a negative dimension or when the
// product does not fit in 64 bits.
static bool checkedElementCount(const std::vector<int64_t> &shape,
                                uint64_t &count) {
  count = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d < 0)
      return false;
    uint64_t u = uint64_t(d);
    if (u == 0)
      return count = 0, true; // zero elements whatever the other dims are
    if (count > std::numeric_limits<uint64_t>::max() / u)
      overflow = true;
    else
      count *= u;
  }
  return !overflow;
}

uint64_t SafetensorsTensor::numElements() const {
  uint64_t count;
  return checkedElementCount(shape, count) ? count : 0;
}

//===----------------------------------------------------------------------===//
// Messages
//===----------------------------------------------------------------------===//

// `s` between single quotes, with control bytes, quotes and backslashes as
// \xNN and at most 120 bytes of it (names come from untrusted files and end
// up in one-line diagnostics).
static std::string quoteName(std::string_view s) {
  constexpr size_t kMaxShown = 120;
  bool cut = s.size() > kMaxShown;
  if (cut) {
    size_t n = kMaxShown;
    // Do not split a UTF-8 sequence (the header's strings are valid UTF-8).
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
      --n;
    s = s.substr(0, n);
  }
  std::string out = "'";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == '\'' || c == '\\') {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += cut ? "'..." : "'";
  return out;
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

static std::string rangeString(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

namespace {

/// A JSON number as the schema needs it: integers up to 2^64 - 1 exactly,
/// anything else only as "not a non-negative integer".
struct JsonNumber {
  std::string_view text;
  bool negative = false;
  bool integral = true; // no fraction and no exponent
  bool overflow = false;
  uint64_t value = 0;
};

/// A strict JSON (RFC 8259) reader over the header. Records the first error
/// with its byte offset; every method returns false once one happened.
class JsonReader {
public:
  explicit JsonReader(std::string_view json) : text(json) {}

  size_t position() const { return pos; }
  const std::string &error() const { return message; }

  bool fail(const std::string &what) {
    if (message.empty())
      message = "header is not valid JSON: " + what + " at byte " +
                std::to_string(pos) + " of the header";
    return false;
  }

  void skipWhitespace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  /// The next byte after whitespace, or -1 at the end.
  int peek() {
    skipWhitespace();
    return pos < text.size() ? static_cast<unsigned char>(text[pos]) : -1;
  }

  /// Consumes `c` if it comes next (after whitespace).
  bool consume(char c) {
    if (peek() != static_cast<unsigned char>(c))
      return false;
    ++pos;
    return true;
  }

  bool expect(char c) {
    if (consume(c))
      return true;
    return fail(std::string("expected '") + c + "'" + found());
  }

  /// Reads a string (the next token must be one) into `out`, decoding
  /// escapes and checking UTF-8.
  bool readString(std::string &out) {
    out.clear();
    if (!expect('"'))
      return false;
    while (true) {
      if (pos >= text.size())
        return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return fail("control character in a string");
      if (c == '\\') {
        if (!readEscape(out))
          return false;
        continue;
      }
      size_t n = utf8Length(pos);
      if (n == 0)
        return fail("invalid UTF-8 in a string");
      out.append(text.substr(pos, n));
      pos += n;
    }
  }

  /// Reads a number (RFC 8259 grammar: no leading zeros, '+', '.5', 'NaN').
  bool readNumber(JsonNumber &out) {
    out = JsonNumber();
    skipWhitespace();
    size_t start = pos;
    if (pos < text.size() && text[pos] == '-') {
      out.negative = true;
      ++pos;
    }
    if (!isDigit(pos))
      return fail("expected a digit");
    if (text[pos] == '0') {
      ++pos;
    } else {
      while (isDigit(pos)) {
        unsigned d = unsigned(text[pos++] - '0');
        if (out.value > (std::numeric_limits<uint64_t>::max() - d) / 10)
          out.overflow = true;
        else
          out.value = out.value * 10 + d;
      }
    }
    if (pos < text.size() && text[pos] == '.') {
      out.integral = false;
      ++pos;
      if (!isDigit(pos))
        return fail("expected a digit after '.'");
      while (isDigit(pos))
        ++pos;
    }
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
      out.integral = false;
      ++pos;
      if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
        ++pos;
      if (!isDigit(pos))
        return fail("expected a digit in the exponent");
      while (isDigit(pos))
        ++pos;
    }
    out.text = text.substr(start, pos - start);
    return true;
  }

  /// Checks one value of any kind without storing it; `depth` counts the
  /// arrays and objects around it.
  bool skipValue(int depth) {
    int c = peek();
    if (c == '{' || c == '[') {
      if (depth >= SafetensorsFile::kMaxJsonDepth)
        return fail("nesting deeper than " +
                    std::to_string(SafetensorsFile::kMaxJsonDepth) + " levels");
      return c == '{' ? skipObject(depth) : skipArray(depth);
    }
    if (c == '"') {
      std::string ignored;
      return readString(ignored);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      JsonNumber ignored;
      return readNumber(ignored);
    }
    for (const char *literal : {"true", "false", "null"}) {
      if (text.substr(pos, std::strlen(literal)) == literal) {
        pos += std::strlen(literal);
        return true;
      }
    }
    return fail("expected a value" + found());
  }

  /// " but found ..." for the byte at the current position.
  std::string found() const {
    if (pos >= text.size())
      return " but the header ends";
    unsigned char c = static_cast<unsigned char>(text[pos]);
    if (c >= 0x20 && c < 0x7F)
      return std::string(" but found '") + char(c) + "'";
    static const char hex[] = "0123456789abcdef";
    return std::string(" but found byte 0x") + hex[c >> 4] + hex[c & 15];
  }

private:
  bool isDigit(size_t at) const {
    return at < text.size() && text[at] >= '0' && text[at] <= '9';
  }

  bool skipObject(int depth) {
    ++pos; // '{'
    // Keys are compared decoded: {"a": 1, "\u0061": 2} repeats a key.
    std::set<std::string> keys;
    if (consume('}'))
      return true;
    std::string key;
    do {
      if (peek() != '"')
        return fail("expected a string key" + found());
      size_t keyPos = pos;
      if (!readString(key))
        return false;
      if (!keys.insert(key).second) {
        pos = keyPos;
        message = "header has a duplicate key " + quoteName(key) + " at byte " +
                  std::to_string(pos) + " of the header";
        return false;
      }
      if (!expect(':') || !skipValue(depth + 1))
        return false;
    } while (consume(','));
    return consume('}') || fail("expected ',' or '}'" + found());
  }

  bool skipArray(int depth) {
    ++pos; // '['
    if (consume(']'))
      return true;
    do {
      if (!skipValue(depth + 1))
        return false;
    } while (consume(','));
    return consume(']') || fail("expected ',' or ']'" + found());
  }

  static int hexValue(char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  /// Four hex digits after "\u" at `pos` (which points at the 'u').
  bool readHex4(uint32_t &out) {
    ++pos; // 'u'
    out = 0;
    for (int i = 0; i < 4; ++i, ++pos) {
      int h = pos < text.size() ? hexValue(text[pos]) : -1;
      if (h < 0)
        return fail("expected four hex digits after \\u");
      out = out << 4 | uint32_t(h);
    }
    return true;
  }

  bool readEscape(std::string &out) {
    ++pos; // '\'
    if (pos >= text.size())
      return fail("unterminated string");
    char c = text[pos];
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    if (const char *p = c ? std::strchr(from, c) : nullptr) {
      out += to[p - from];
      ++pos;
      return true;
    }
    if (c != 'u')
      return fail("invalid escape");
    uint32_t cp;
    if (!readHex4(cp))
      return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
      return fail("unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      // A high surrogate must be followed by an escaped low surrogate.
      uint32_t low;
      if (text.substr(pos, 2) != "\\u")
        return fail("unpaired high surrogate");
      ++pos;
      if (!readHex4(low))
        return false;
      if (low < 0xDC00 || low > 0xDFFF)
        return fail("unpaired high surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    appendUtf8(out, cp);
    return true;
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | cp >> 6);
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | cp >> 12);
      out += char(0x80 | (cp >> 6 & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | cp >> 18);
      out += char(0x80 | (cp >> 12 & 0x3F));
      out += char(0x80 | (cp >> 6 & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  /// Length of the well-formed UTF-8 sequence at `at` (Unicode table 3-7:
  /// no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
  size_t utf8Length(size_t at) const {
    auto byte = [&](size_t i) -> unsigned {
      return at + i < text.size() ? static_cast<unsigned char>(text[at + i])
                                  : 0;
    };
    auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
      return byte(i) >= lo && byte(i) <= hi;
    };
    unsigned b = byte(0);
    if (b < 0x80)
      return 1;
    if (b >= 0xC2 && b <= 0xDF)
      return cont(1) ? 2 : 0;
    if (b == 0xE0)
      return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if (b == 0xED)
      return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b >= 0xE1 && b <= 0xEF)
      return cont(1) && cont(2) ? 3 : 0;
    if (b == 0xF0)
      return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b >= 0xF1 && b <= 0xF3)
      return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b == 0xF4)
      return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
  }

  std::string_view text;
  size_t pos = 0;
  std::string message;
};

} // namespace

//===----------------------------------------------------------------------===//
// Header schema
//===----------------------------------------------------------------------===//

namespace {

/// Second pass over the (valid) header JSON: the safetensors schema.
class HeaderReader {
public:
  HeaderReader(std::string_view header, uint64_t dataBytes)
      : json(header), dataSize(dataBytes) {}

  /// Fills `tensors` (header order) and `metadata`; on failure `error` is the
  /// message without the file name.
  bool read(std::vector<SafetensorsTensor> &tensors,
            std::map<std::string, std::string> &metadata, std::string &error) {
    bool ok = readTopLevel(tensors, metadata);
    if (!ok)
      error = message.empty() ? json.error() : message;
    return ok;
  }

private:
  bool fail(std::string what) {
    if (message.empty())
      message = std::move(what);
    return false;
  }

  bool readTopLevel(std::vector<SafetensorsTensor> &tensors,
                    std::map<std::string, std::string> &metadata) {
    if (!json.expect('{'))
      return false;
    if (json.consume('}'))
      return true;
    std::string key;
    do {
      if (!json.readString(key) || !json.expect(':'))
        return false;
      if (key == "__metadata__") {
        if (!readMetadata(metadata))
          return false;
        continue;
      }
      SafetensorsTensor tensor;
      tensor.name = std::move(key);
      if (!readTensor(tensor))
        return false;
      tensors.push_back(std::move(tensor));
    } while (json.consume(','));
    return json.expect('}');
  }

  bool readMetadata(std::map<std::string, std::string> &metadata) {
    if (json.peek() != '{')
      return fail("'__metadata__' is not an object mapping strings to "
                  "strings");
    json.expect('{');
    if (json.consume('}'))
      return true;
    std::string key, value;
    do {
      if (!json.readString(key) || !json.expect(':'))
        return false;
      if (json.peek() != '"')
        return fail("'__metadata__' value of key " + quoteName(key) +
                    " is not a string");
      if (!json.readString(value))
        return false;
      metadata[key] = value;
    } while (json.consume(','));
    return json.expect('}');
  }

  bool failTensor(const SafetensorsTensor &t, const std::string &what) {
    return fail("tensor " + quoteName(t.name) + ": " + what);
  }

  /// Reads a JSON array of non-negative integers for field `field`.
  bool readIntegers(SafetensorsTensor &t, const char *field,
                    std::vector<uint64_t> &values, size_t maxCount,
                    uint64_t maxValue) {
    values.clear();
    if (json.peek() != '[')
      return failTensor(t, std::string("'") + field + "' is not an array");
    json.expect('[');
    if (json.consume(']'))
      return true;
    do {
      std::string element = std::string("'") + field + "' element " +
                            std::to_string(values.size());
      if (values.size() == maxCount)
        return failTensor(t, std::string("'") + field + "' has more than " +
                                 std::to_string(maxCount) + " elements");
      int c = json.peek();
      if (c != '-' && !(c >= '0' && c <= '9'))
        return failTensor(t, element + " is not a non-negative integer");
      JsonNumber n;
      if (!json.readNumber(n))
        return false;
      std::string shown = " (" + std::string(n.text) + ")";
      if (!n.integral)
        return failTensor(t, element + " is not an integer" + shown);
      if (n.negative)
        return failTensor(t, element + " is negative" + shown);
      if (n.overflow || n.value > maxValue)
        return failTensor(t, element + " is too large" + shown);
      values.push_back(n.value);
    } while (json.consume(','));
    return json.expect(']');
  }

  bool readTensor(SafetensorsTensor &t) {
    if (json.peek() != '{')
      return failTensor(t, "entry is not an object");
    json.expect('{');
    bool haveDType = false, haveShape = false, haveOffsets = false;
    std::vector<uint64_t> offsets;
    if (!json.consume('}')) {
      std::string field;
      do {
        if (!json.readString(field) || !json.expect(':'))
          return false;
        if (field == "dtype") {
          if (!readDType(t))
            return false;
          haveDType = true;
        } else if (field == "shape") {
          std::vector<uint64_t> dims;
          if (!readIntegers(t, "shape", dims, SafetensorsFile::kMaxRank,
                            uint64_t(std::numeric_limits<int64_t>::max())))
            return false;
          t.shape.assign(dims.begin(), dims.end());
          haveShape = true;
        } else if (field == "data_offsets") {
          if (!readIntegers(t, "data_offsets", offsets, 2,
                            std::numeric_limits<uint64_t>::max()))
            return false;
          if (offsets.size() != 2)
            return failTensor(t, "'data_offsets' has " +
                                     std::to_string(offsets.size()) +
                                     " elements, not 2");
          haveOffsets = true;
        } else {
          // Refused rather than ignored: a field we do not know could change
          // what the bytes mean.
          return failTensor(t, "unknown field " + quoteName(field) +
                                   " (expected dtype, shape, data_offsets)");
        }
      } while (json.consume(','));
      if (!json.expect('}'))
        return false;
    }
    for (auto [have, what] :
         {std::pair(haveDType, "dtype"), std::pair(haveShape, "shape"),
          std::pair(haveOffsets, "data_offsets")})
      if (!have)
        return failTensor(t, std::string("missing '") + what + "'");
    t.begin = offsets[0];
    t.end = offsets[1];
    return checkExtent(t);
  }

  bool readDType(SafetensorsTensor &t) {
    if (json.peek() != '"')
      return failTensor(t, "'dtype' is not a string");
    std::string s;
    if (!json.readString(s))
      return false;
    if (std::optional<SafetensorsDType> type = parseSafetensorsDType(s)) {
      t.dtype = *type;
      return true;
    }
    for (const char *unsupported : kUnsupportedDTypes)
      if (s == unsupported)
        return failTensor(t, "dtype " + quoteName(s) + " is not supported");
    return failTensor(t, "unknown dtype " + quoteName(s));
  }

  /// Checks the tensor's byte range against its shape and the data section.
  bool checkExtent(const SafetensorsTensor &t) {
    uint64_t count;
    if (!checkedElementCount(t.shape, count))
      return failTensor(t, "element count of shape " + shapeString(t.shape) +
                               " overflows 64 bits");
    uint64_t size = getDTypeSize(t.dtype);
    if (count > std::numeric_limits<uint64_t>::max() / size)
      return failTensor(t, "byte size of shape " + shapeString(t.shape) +
                               " of " + toString(t.dtype) +
                               " overflows 64 bits");
    std::string offsets = "data_offsets " + rangeString(t.begin, t.end);
    if (t.begin > t.end)
      return failTensor(t, offsets + " are reversed (begin > end)");
    if (t.end > dataSize)
      return failTensor(t, offsets + " go beyond the data section (" +
                               std::to_string(dataSize) + " bytes)");
    if (t.end - t.begin != count * size)
      return failTensor(
          t, offsets + " hold " + std::to_string(t.end - t.begin) +
                 " bytes but shape " + shapeString(t.shape) + " of " +
                 toString(t.dtype) + " needs " + std::to_string(count * size));
    return true;
  }

  JsonReader json;
  uint64_t dataSize;
  std::string message;
};

} // namespace

// The spec wants the tensors to tile the data section: no overlap (two
// names for the same bytes) and no holes (bytes no tensor accounts for,
// where a polyglot file could hide a payload).
static bool checkCoverage(const std::vector<SafetensorsTensor> &tensors,
                          uint64_t dataSize, std::string &error) {
  std::vector<const SafetensorsTensor *> order;
  order.reserve(tensors.size());
  for (const SafetensorsTensor &t : tensors)
    order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const SafetensorsTensor *a, const SafetensorsTensor *b) {
              return std::tie(a->begin, a->end, a->name) <
                     std::tie(b->begin, b->end, b->name);
            });
  uint64_t covered = 0;
  const SafetensorsTensor *last = nullptr;
  for (const SafetensorsTensor *t : order) {
    if (t->begin < covered) {
      error = "tensors " + quoteName(last->name) + " (data_offsets " +
              rangeString(last->begin, last->end) + ") and " +
              quoteName(t->name) + " (data_offsets " +
              rangeString(t->begin, t->end) + ") overlap";
      return false;
    }
    if (t->begin > covered) {
      error = "bytes [" + std::to_string(covered) + ", " +
              std::to_string(t->begin) +
              ") of the data section belong to no tensor (the spec allows "
              "no holes)";
      return false;
    }
    covered = t->end;
    last = t;
  }
  if (covered != dataSize) {
    error = "bytes [" + std::to_string(covered) + ", " +
            std::to_string(dataSize) +
            ") at the end of the data section belong to no tensor (the spec "
            "allows no holes)";
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

std::unique_ptr<SafetensorsFile> SafetensorsFile::parse(std::string bytes,
                                                        std::string &error,
                                                        std::string_view name) {
  std::string prefix = std::string(name) + ": ";
  auto fail = [&](const std::string &what) {
    error = prefix + what;
    return nullptr;
  };
  if (bytes.size() < 8)
    return fail("file is " + std::to_string(bytes.size()) +
                " bytes long, too short for the 8-byte header length");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | static_cast<unsigned char>(bytes[size_t(i)]);
  if (headerSize == 0)
    return fail("header length is 0");
  if (headerSize > kMaxHeaderSize)
    return fail("header length " + std::to_string(headerSize) +
                " exceeds the limit of " + std::to_string(kMaxHeaderSize) +
                " bytes");
  if (headerSize > bytes.size() - 8)
    return fail("header length " + std::to_string(headerSize) +
                " goes beyond the end of the file (" +
                std::to_string(bytes.size() - 8) + " bytes follow it)");

  std::string_view header(bytes.data() + 8, size_t(headerSize));
  // The spec requires the header to start with '{', which also makes any
  // valid header a JSON object.
  if (header[0] != '{')
    return fail("header is not a JSON object (it must start with '{')");

  // Pass 1: plain JSON; only spaces (the spec's padding) may follow.
  JsonReader json(header);
  if (!json.skipValue(0))
    return fail(json.error());
  size_t end = json.position();
  while (end < header.size() && header[end] == ' ')
    ++end;
  if (end != header.size())
    return fail("header has trailing bytes after its JSON object at byte " +
                std::to_string(end) +
                " of the header (only spaces may pad it)");

  // Pass 2: the schema.
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  uint64_t dataSize = bytes.size() - 8 - headerSize;
  HeaderReader reader(header, dataSize);
  std::string what;
  if (!reader.read(file->entries, file->meta, what) ||
      !checkCoverage(file->entries, dataSize, what))
    return fail(what);

  std::sort(file->entries.begin(), file->entries.end(),
            [](const SafetensorsTensor &a, const SafetensorsTensor &b) {
              return a.name < b.name;
            });
  file->fileName = std::string(name);
  file->dataStart = 8 + headerSize;
  file->bytes = std::move(bytes);
  return file;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error,
                                                       uint64_t maxFileSize) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec) {
    error = path + ": cannot open: " + ec.message();
    return nullptr;
  }
  if (!fs::is_regular_file(status)) {
    error = path + ": not a regular file";
    return nullptr;
  }
  uint64_t size = fs::file_size(path, ec);
  if (ec) {
    error = path + ": cannot open: " + ec.message();
    return nullptr;
  }
  // Checked before reading: the size decides how much memory we take.
  if (size > maxFileSize ||
      size > uint64_t(std::numeric_limits<size_t>::max())) {
    error = path + ": file is " + std::to_string(size) +
            " bytes, more than the limit of " + std::to_string(maxFileSize) +
            " bytes";
    return nullptr;
  }
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  std::string bytes(size_t(size), '\0');
  size_t got = bytes.empty() ? 0 : std::fread(&bytes[0], 1, bytes.size(), f);
  bool readError = std::ferror(f);
  // A file that changed size after the check is refused, not half-read.
  bool grew = !readError && std::fgetc(f) != EOF;
  std::fclose(f);
  if (readError) {
    error = path + ": read error";
    return nullptr;
  }
  if (got != bytes.size() || grew) {
    error = path + ": file changed size while it was read";
    return nullptr;
  }
  return parse(std::move(bytes), error, path);
}

const SafetensorsTensor *SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), name,
                             [](const SafetensorsTensor &t,
                                std::string_view n) { return t.name < n; });
  return it != entries.end() && it->name == name ? &*it : nullptr;
}

std::string_view
SafetensorsFile::rawData(const SafetensorsTensor &tensor) const {
  if (tensor.begin > tensor.end || tensor.end > dataSize())
    return {};
  return std::string_view(bytes).substr(size_t(dataStart + tensor.begin),
                                        size_t(tensor.byteSize()));
}

//===----------------------------------------------------------------------===//
// Conversion
//===----------------------------------------------------------------------===//

// Little-endian loads that do not depend on the host's byte order.
static uint64_t loadLE(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;)
    v = v << 8 | p[i];
  return v;
}

static float floatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

static double doubleFromBits(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

// IEEE binary16 to binary32 on the bits, so that every value (subnormals,
// infinities, NaN payloads) maps exactly.
static float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0x1F)
    return floatFromBits(sign | 0x7F800000 | mant << 13);
  if (exp == 0) {
    if (mant == 0)
      return floatFromBits(sign);
    // Subnormal: normalize (every binary16 subnormal is a binary32 normal).
    int e = 1;
    while (!(mant & 0x400)) {
      mant <<= 1;
      --e;
    }
    return floatFromBits(sign | uint32_t(e + 112) << 23 | (mant & 0x3FF) << 13);
  }
  return floatFromBits(sign | (exp + 112) << 23 | mant << 13);
}

static float bf16ToFloat(uint16_t h) {
  return floatFromBits(uint32_t(h) << 16);
}

// E5M2 is binary16 with the low mantissa byte dropped.
static float e5m2ToFloat(uint8_t b) { return halfToFloat(uint16_t(b << 8)); }

// E4M3 "fn": bias 7, no infinities, only S.1111.111 is NaN.
static float e4m3ToFloat(uint8_t b) {
  uint32_t sign = uint32_t(b & 0x80) << 24;
  uint32_t exp = (b >> 3) & 0xF, mant = b & 0x7;
  if (exp == 0xF && mant == 0x7)
    return floatFromBits(sign | 0x7FC00000);
  if (exp == 0) {
    if (mant == 0)
      return floatFromBits(sign);
    int e = 1;
    while (!(mant & 0x8)) {
      mant <<= 1;
      --e;
    }
    return floatFromBits(sign | uint32_t(e + 120) << 23 | (mant & 0x7) << 20);
  }
  return floatFromBits(sign | (exp + 120) << 23 | mant << 20);
}

bool SafetensorsFile::checkConvertible(const SafetensorsTensor &tensor,
                                       bool allowF64,
                                       std::string &error) const {
  std::string prefix = fileName + ": tensor " + quoteName(tensor.name) + ": ";
  if (!isFloatingPoint(tensor.dtype)) {
    error = prefix + "dtype " + toString(tensor.dtype) +
            " is not a floating-point type (read it with rawData)";
    return false;
  }
  if (tensor.dtype == SafetensorsDType::F64 && !allowF64) {
    error = prefix + "dtype F64 would round to float (use toDouble or "
                     "rawData)";
    return false;
  }
  uint64_t count;
  if (tensor.begin > tensor.end || tensor.end > dataSize() ||
      !checkedElementCount(tensor.shape, count) || count > tensor.byteSize() ||
      count * getDTypeSize(tensor.dtype) != tensor.byteSize()) {
    error = prefix + "does not describe bytes of this file";
    return false;
  }
  return true;
}

// Decodes the validated tensor `t` of `data` into `out` as T (one loop per
// dtype: the loops run over whole weight tensors).
template <typename T>
static void convert(const SafetensorsTensor &t, std::string_view data,
                    std::vector<T> &out) {
  size_t size = getDTypeSize(t.dtype), n = data.size() / size;
  out.resize(n);
  auto *p = reinterpret_cast<const unsigned char *>(data.data());
  auto each = [&](auto decode) {
    for (size_t i = 0; i < n; ++i)
      out[i] = T(decode(p + i * size));
  };
  switch (t.dtype) {
  case SafetensorsDType::F32:
    each([](const unsigned char *q) {
      return floatFromBits(uint32_t(loadLE(q, 4)));
    });
    break;
  case SafetensorsDType::F16:
    each([](const unsigned char *q) {
      return halfToFloat(uint16_t(loadLE(q, 2)));
    });
    break;
  case SafetensorsDType::BF16:
    each([](const unsigned char *q) {
      return bf16ToFloat(uint16_t(loadLE(q, 2)));
    });
    break;
  case SafetensorsDType::F8_E5M2:
    each([](const unsigned char *q) { return e5m2ToFloat(*q); });
    break;
  case SafetensorsDType::F8_E4M3:
    each([](const unsigned char *q) { return e4m3ToFloat(*q); });
    break;
  case SafetensorsDType::F64:
    each([](const unsigned char *q) { return doubleFromBits(loadLE(q, 8)); });
    break;
  default: // refused by checkConvertible
    std::fill(out.begin(), out.end(), T(0));
    break;
  }
}

bool SafetensorsFile::toFloat(const SafetensorsTensor &tensor,
                              std::vector<float> &out,
                              std::string &error) const {
  if (!checkConvertible(tensor, /*allowF64=*/false, error))
    return false;
  convert(tensor, rawData(tensor), out);
  return true;
}

bool SafetensorsFile::toDouble(const SafetensorsTensor &tensor,
                               std::vector<double> &out,
                               std::string &error) const {
  if (!checkConvertible(tensor, /*allowF64=*/true, error))
    return false;
  convert(tensor, rawData(tensor), out);
  return true;
}
