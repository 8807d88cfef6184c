//===- Npy.cpp - numpy .npy tensor files ----------------------------------===//
//
// Reads and writes tensors as numpy .npy files with nothing but the C++
// standard library: the npy header dict is parsed here by hand. Like every
// tensor file, an .npy file is untrusted input (IO/FileUtil.cpp).
//
//===----------------------------------------------------------------------===//

#include "IO/FileUtil.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace qopt::rt;
using namespace qopt::rt::io;

namespace qopt::rt::io {
const unsigned char kNpyMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
} // namespace qopt::rt::io

namespace {

/// The largest .npy header we accept. numpy writes a few hundred bytes; a
/// larger length field means a corrupt or hostile file.
constexpr uint64_t kMaxNpyHeaderBytes = 1 << 20;

/// numpy's kind character and item size of each dtype .npy can hold.
struct NpyType {
  char kind;
  size_t size;
  qopt_dtype dtype;
};
constexpr NpyType kNpyTypes[] = {
    {'f', 4, QOPT_DTYPE_F32}, {'f', 8, QOPT_DTYPE_F64},
    {'f', 2, QOPT_DTYPE_F16}, {'i', 1, QOPT_DTYPE_I8},
    {'u', 1, QOPT_DTYPE_U8},  {'b', 1, QOPT_DTYPE_BOOL},
    {'i', 2, QOPT_DTYPE_I16}, {'u', 2, QOPT_DTYPE_U16},
    {'i', 4, QOPT_DTYPE_I32}, {'u', 4, QOPT_DTYPE_U32},
    {'i', 8, QOPT_DTYPE_I64}, {'u', 8, QOPT_DTYPE_U64}};

struct NpyHeader {
  qopt_dtype dtype = QOPT_DTYPE_INVALID;
  /// Whether the data's byte order differs from the host's.
  bool swap = false;
  bool fortranOrder = false;
  std::vector<int64_t> dims;
};

/// Parses the header dict, a Python literal such as
/// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }": the three
/// keys in any order, either quote, any whitespace, trailing commas.
class NpyHeaderParser {
public:
  explicit NpyHeaderParser(std::string_view text) : text(text) {}

  /// False with `error` set when the header is malformed or unsupported.
  bool parse(NpyHeader &header);

  std::string error;

private:
  std::string_view text;
  size_t pos = 0;

  bool failHere(const std::string &what) {
    error = what + " at offset " + std::to_string(pos) + " of the header";
    return false;
  }
  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }
  bool peek(char c) const { return pos < text.size() && text[pos] == c; }
  bool consume(char c) {
    if (!peek(c))
      return false;
    ++pos;
    return true;
  }
  bool parseString(std::string &out);
  bool parseBool(bool &out);
  bool parseDim(int64_t &out);
  bool parseShape(std::vector<int64_t> &dims);
  bool parseDescr(NpyHeader &header);
};

bool NpyHeaderParser::parseString(std::string &out) {
  if (!peek('\'') && !peek('"'))
    return failHere("expected a quoted string");
  char quote = text[pos++];
  size_t start = pos;
  while (pos < text.size() && text[pos] != quote) {
    if (text[pos] == '\\')
      return failHere("escape sequences are not supported");
    ++pos;
  }
  if (pos == text.size())
    return failHere("unterminated string");
  out.assign(text.substr(start, pos - start));
  ++pos;
  return true;
}

bool NpyHeaderParser::parseBool(bool &out) {
  for (auto [word, value] : {std::pair{"True", true}, {"False", false}}) {
    std::string_view w(word);
    if (text.substr(pos, w.size()) == w) {
      pos += w.size();
      out = value;
      return true;
    }
  }
  return failHere("expected True or False");
}

bool NpyHeaderParser::parseDim(int64_t &out) {
  bool negative = consume('-');
  if (pos == text.size() ||
      !std::isdigit(static_cast<unsigned char>(text[pos])))
    return failHere("expected an integer in 'shape'");
  uint64_t value = 0;
  const uint64_t limit = uint64_t(std::numeric_limits<int64_t>::max());
  while (pos < text.size() &&
         std::isdigit(static_cast<unsigned char>(text[pos]))) {
    value = value * 10 + uint64_t(text[pos++] - '0');
    if (value > limit)
      return failHere("dimension in 'shape' overflows int64");
  }
  // Python 2 wrote long integers as "3L".
  if (peek('L') || peek('l'))
    ++pos;
  if (negative && value != 0)
    return failHere("negative dimension -" + std::to_string(value) +
                    " in 'shape'");
  out = int64_t(value);
  return true;
}

bool NpyHeaderParser::parseShape(std::vector<int64_t> &dims) {
  if (!consume('('))
    return failHere("'shape' must be a tuple");
  dims.clear();
  skipSpace();
  while (!consume(')')) {
    int64_t dim;
    if (!parseDim(dim))
      return false;
    if (dims.size() == QOPT_MAX_RANK)
      return failHere("'shape' has more than " + std::to_string(QOPT_MAX_RANK) +
                      " dimensions");
    dims.push_back(dim);
    skipSpace();
    if (consume(')'))
      break;
    if (!consume(','))
      return failHere("expected ',' or ')' in 'shape'");
    skipSpace();
  }
  return true;
}

bool NpyHeaderParser::parseDescr(NpyHeader &header) {
  if (peek('['))
    return failHere("structured dtypes (a 'descr' list) are not supported");
  std::string descr;
  if (!parseString(descr))
    return false;
  std::string_view d(descr);
  char order = '=';
  if (!d.empty() && std::strchr("<>|=", d[0])) {
    order = d[0];
    d.remove_prefix(1);
  }
  for (const NpyType &type : kNpyTypes) {
    if (d.size() != 2 || d[0] != type.kind || size_t(d[1] - '0') != type.size)
      continue;
    header.dtype = type.dtype;
    // '|' (not applicable) and '=' (native) need no swap.
    bool little = order == '<' || (order != '>' && hostIsLittleEndian());
    header.swap = type.size > 1 && little != hostIsLittleEndian();
    return true;
  }
  if (!d.empty() && d[0] == 'V')
    error = "unsupported dtype '" + descr +
            "' (raw void data; bfloat16 cannot be stored in .npy)";
  else
    error = "unsupported dtype '" + descr +
            "' (supported: float16/32/64, int8-64, uint8-64, bool)";
  return false;
}

bool NpyHeaderParser::parse(NpyHeader &header) {
  bool seenDescr = false, seenFortran = false, seenShape = false;
  skipSpace();
  if (!consume('{'))
    return failHere("expected '{'");
  while (true) {
    skipSpace();
    if (consume('}'))
      break;
    std::string key;
    if (!parseString(key))
      return false;
    skipSpace();
    if (!consume(':'))
      return failHere("expected ':' after '" + key + "'");
    skipSpace();
    bool *seen = key == "descr"           ? &seenDescr
                 : key == "fortran_order" ? &seenFortran
                 : key == "shape"         ? &seenShape
                                          : nullptr;
    if (!seen)
      return failHere("unexpected key '" + key + "'");
    if (*seen)
      return failHere("duplicate key '" + key + "'");
    *seen = true;
    bool ok = key == "descr"           ? parseDescr(header)
              : key == "fortran_order" ? parseBool(header.fortranOrder)
                                       : parseShape(header.dims);
    if (!ok)
      return false;
    skipSpace();
    if (consume(','))
      continue;
    if (consume('}'))
      break;
    return failHere("expected ',' or '}'");
  }
  skipSpace();
  if (pos != text.size())
    return failHere("unexpected text after the dict");
  for (auto [seenKey, name] : {std::pair{seenDescr, "descr"},
                               {seenFortran, "fortran_order"},
                               {seenShape, "shape"}})
    if (!seenKey) {
      error = std::string("the header has no '") + name + "' key";
      return false;
    }
  return true;
}

qopt_status loadNpy(const std::string &path, qopt_tensor **out) {
  File file;
  if (openForReading(path, file))
    return QOPT_ERROR;

  // Preamble: magic, version, header length (2 bytes in 1.0, 4 after).
  unsigned char pre[12];
  errno = 0;
  size_t got = std::fread(pre, 1, 10, file.get());
  if (got < 10 && std::ferror(file.get()))
    return failAt(path, "cannot read: " + errnoMessage(errno));
  if (std::memcmp(pre, kNpyMagic, std::min<size_t>(got, 6)) != 0)
    return failAt(path, "not a .npy file (bad magic; expected \\x93NUMPY)");
  auto shortPreamble = [](size_t n) {
    return "truncated: " + std::to_string(n) +
           " bytes, shorter than the .npy preamble";
  };
  if (got < 10)
    return failAt(path, shortPreamble(got));
  unsigned major = pre[6], minor = pre[7];
  uint64_t headerLen;
  size_t prefix;
  if (major == 1 && minor == 0) {
    headerLen = loadLittleEndian(pre + 8, 2);
    prefix = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (readExactly(path, file.get(), pre + 10, 2,
                    [&](size_t n) { return shortPreamble(10 + n); }))
      return QOPT_ERROR;
    headerLen = loadLittleEndian(pre + 8, 4);
    prefix = 12;
  } else {
    return failAt(
        path, "unsupported .npy format version " + std::to_string(major) + "." +
                  std::to_string(minor) + " (1.0, 2.0 and 3.0 are supported)");
  }
  if (headerLen > kMaxNpyHeaderBytes)
    return failAt(path, "header length " + std::to_string(headerLen) +
                            " is implausible (the limit is " +
                            std::to_string(kMaxNpyHeaderBytes) + " bytes)");

  // The file size bounds everything the header claims, before allocating.
  long end = -1;
  if (std::fseek(file.get(), 0, SEEK_END) == 0)
    end = std::ftell(file.get());
  if (end < 0 || std::fseek(file.get(), long(prefix), SEEK_SET) != 0)
    return failAt(path,
                  "cannot determine the file's size: " + errnoMessage(errno));
  uint64_t fileSize = uint64_t(end);
  if (prefix + headerLen > fileSize)
    return failAt(path, "truncated: header says " + std::to_string(headerLen) +
                            " bytes of header, file has " +
                            std::to_string(fileSize - prefix));

  std::string text(size_t(headerLen), '\0');
  if (readExactly(path, file.get(), text.data(), text.size(), [&](size_t n) {
        return "truncated: header says " + std::to_string(headerLen) +
               " bytes of header, file has " + std::to_string(n);
      }))
    return QOPT_ERROR;
  NpyHeader header;
  NpyHeaderParser parser(text);
  if (!parser.parse(header))
    return failAt(path, "bad .npy header: " + parser.error);

  size_t width = qopt_dtype_size(header.dtype);
  int64_t count = checkedNumElements(header.dims, width);
  if (count < 0)
    return failAt(path, "shape " + describe(header.dtype, header.dims) +
                            " is too large");
  // Fortran and C order lay out the same bytes when at most one dim is
  // larger than 1 (numpy marks such arrays either way).
  if (header.fortranOrder &&
      std::count_if(header.dims.begin(), header.dims.end(),
                    [](int64_t d) { return d > 1; }) > 1 &&
      count > 0)
    return failAt(path, "fortran_order arrays are not supported (shape " +
                            describe(header.dtype, header.dims) +
                            "); save np.ascontiguousarray(a) instead");

  uint64_t dataBytes = uint64_t(count) * width;
  uint64_t available = fileSize - prefix - headerLen;
  auto truncated = [&](uint64_t has) {
    return "truncated: header says " + std::to_string(dataBytes) +
           " bytes of data, file has " + std::to_string(has);
  };
  if (available < dataBytes)
    return failAt(path, truncated(available));

  std::unique_ptr<qopt_tensor> tensor;
  if (allocate(path, header.dtype, header.dims, tensor))
    return QOPT_ERROR;
  if (readExactly(path, file.get(), tensor->data, size_t(dataBytes), truncated))
    return QOPT_ERROR;
  if (header.swap)
    swapBytes(tensor->data, size_t(count), width);
  *out = tensor.release();
  return QOPT_OK;
}

qopt_status saveNpy(const qopt_tensor *tensor, const std::string &path) {
  const NpyType *type = nullptr;
  for (const NpyType &t : kNpyTypes)
    if (t.dtype == tensor->dtype)
      type = &t;
  // bfloat16, float8/float4 and 4/2-bit integers have no numpy dtype.
  if (!type && qopt_dtype_size(tensor->dtype) != 0)
    return failAt(path, std::string(qopt_dtype_name(tensor->dtype)) +
                            " tensors cannot be stored in .npy (numpy has "
                            "no such dtype); save as .pb instead");
  if (!type)
    return failAt(path, "cannot save a tensor of unknown dtype " +
                            std::to_string(int(tensor->dtype)));

  std::string dict = "{'descr': '";
  dict += type->size == 1 ? '|' : '<';
  dict += type->kind;
  dict += char('0' + type->size);
  dict += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor->dims.size(); ++i)
    dict += (i ? ", " : "") + std::to_string(tensor->dims[i]);
  dict += tensor->dims.size() == 1 ? ",), }" : "), }";
  // Pad with spaces and a final newline so the data starts at a multiple of
  // 64 bytes, as numpy does.
  size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 0xffff)
    return failAt(path, "the .npy header is too long for format 1.0");

  unsigned char pre[10];
  std::memcpy(pre, kNpyMagic, 6);
  pre[6] = 1;
  pre[7] = 0;
  pre[8] = uint8_t(dict.size() & 0xff);
  pre[9] = uint8_t(dict.size() >> 8);
  size_t bytes = qopt_tensor_byte_size(tensor);
  std::vector<unsigned char> scratch;
  return writeAtomically(path,
                         {{pre, sizeof pre},
                          {dict.data(), dict.size()},
                          {littleEndianData(tensor, bytes, scratch), bytes}});
}

} // namespace

extern "C" {

qopt_status qopt_tensor_load_npy(const char *path, qopt_tensor **out) {
  if (out)
    *out = nullptr;
  if (!path || !out)
    return fail("qopt_tensor_load_npy: null path or output pointer");
  return guarded([&] { return loadNpy(path, out); });
}

int qopt_dtype_has_npy(qopt_dtype dtype) {
  for (const NpyType &t : kNpyTypes)
    if (t.dtype == dtype)
      return 1;
  return 0;
}

qopt_status qopt_tensor_save_npy(const qopt_tensor *tensor, const char *path) {
  if (!tensor || !path)
    return fail("qopt_tensor_save_npy: null tensor or path");
  return guarded([&] { return saveNpy(tensor, path); });
}

} // extern "C"
