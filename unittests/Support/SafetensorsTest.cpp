//===- SafetensorsTest.cpp - validated reader of safetensors files --------===//
//
// Files are built byte by byte here (header length, JSON, data), so every
// expected value comes from the format and from IEEE bit patterns, not from
// another implementation. Each validation rule has a test that checks the
// text of its message.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/Safetensors.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

using namespace qopt;

namespace {

constexpr const char *kName = "adapter.safetensors";

/// The 8-byte little-endian length, the header, then the data section.
std::string makeFile(const std::string &header, const std::string &data = "") {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out += char(n >> (8 * i) & 0xFF);
  return out + header + data;
}

/// Little-endian bytes of `values`, each `width` bytes wide.
std::string littleEndian(std::initializer_list<uint64_t> values, int width) {
  std::string out;
  for (uint64_t v : values)
    for (int i = 0; i < width; ++i)
      out += char(v >> (8 * i) & 0xFF);
  return out;
}

uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

uint64_t bitsOf(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

/// One tensor entry of the header.
std::string entry(const std::string &name, const std::string &dtype,
                  const std::string &shape, uint64_t begin, uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(end) + "]}";
}

std::unique_ptr<SafetensorsFile> parseOk(const std::string &bytes) {
  std::string error;
  auto file = SafetensorsFile::parse(bytes, error, kName);
  EXPECT_TRUE(file) << error;
  return file;
}

/// Parsing `bytes` fails with a message that starts with the file name and
/// contains `text`.
::testing::AssertionResult failsWith(const std::string &bytes,
                                     const std::string &text) {
  std::string error;
  if (SafetensorsFile::parse(bytes, error, kName))
    return ::testing::AssertionFailure() << "parsed";
  if (error.rfind(std::string(kName) + ": ", 0) != 0 ||
      error.find(text) == std::string::npos)
    return ::testing::AssertionFailure()
           << "message \"" << error << "\" lacks \"" << text << "\"";
  return ::testing::AssertionSuccess();
}

/// A header with one F32 tensor "w" whose entry body is `fields`, and 4
/// bytes of data.
std::string oneTensor(const std::string &fields,
                      const std::string &data = std::string(4, '\0')) {
  return makeFile("{\"w\":{" + fields + "}}", data);
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

TEST(Safetensors, F32RoundTrip) {
  const float values[] = {1.0f,
                          -2.5f,
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN()};
  std::string data;
  for (float v : values)
    data += littleEndian({bitsOf(v)}, 4);
  auto file =
      parseOk(makeFile("{" + entry("w", "F32", "[2,3]", 0, 24) + "}", data));
  ASSERT_TRUE(file);
  const SafetensorsTensor *w = file->find("w");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->dtype, SafetensorsDType::F32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->numElements(), 6u);
  EXPECT_EQ(w->byteSize(), 24u);
  EXPECT_EQ(file->rawData(*w), data);
  std::vector<float> f;
  std::string error;
  ASSERT_TRUE(file->toFloat(*w, f, error)) << error;
  ASSERT_EQ(f.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(bitsOf(f[i]), bitsOf(values[i])) << i;
  std::vector<double> d;
  ASSERT_TRUE(file->toDouble(*w, d, error)) << error;
  ASSERT_EQ(d.size(), 6u);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(d[i], double(values[i])) << i;
  EXPECT_TRUE(std::isnan(d[5]));
}

TEST(Safetensors, F16ConvertsExactly) {
  // binary16 bit patterns and their exact values.
  const uint64_t bits[] = {0x3C00, 0xC100, 0x7BFF, 0x3555, 0x0001, 0x03FF,
                           0x0400, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE01};
  std::string data;
  for (uint64_t b : bits)
    data += littleEndian({b}, 2);
  auto file =
      parseOk(makeFile("{" + entry("h", "F16", "[12]", 0, 24) + "}", data));
  ASSERT_TRUE(file);
  std::vector<float> f;
  std::string error;
  ASSERT_TRUE(file->toFloat(*file->find("h"), f, error)) << error;
  ASSERT_EQ(f.size(), 12u);
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_EQ(f[1], -2.5f);
  EXPECT_EQ(f[2], 65504.0f);
  EXPECT_EQ(f[3], 0.333251953125f);
  EXPECT_EQ(f[4], std::ldexp(1.0f, -24));    // smallest subnormal
  EXPECT_EQ(f[5], std::ldexp(1023.0f, -24)); // largest subnormal
  EXPECT_EQ(f[6], std::ldexp(1.0f, -14));    // smallest normal
  EXPECT_EQ(bitsOf(f[7]), 0x80000000u);      // -0.0
  EXPECT_EQ(f[8], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f[9], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(bitsOf(f[10]), 0x7FC00000u); // quiet NaN stays the same NaN
  EXPECT_TRUE(std::isnan(f[11]));
  EXPECT_TRUE(std::signbit(f[11]));
  std::vector<double> d;
  ASSERT_TRUE(file->toDouble(*file->find("h"), d, error)) << error;
  EXPECT_EQ(d[2], 65504.0);
  EXPECT_EQ(d[4], std::ldexp(1.0, -24));
}

TEST(Safetensors, BF16ConvertsExactly) {
  const uint64_t bits[] = {0x4049, 0x3F80, 0xC020, 0x7F7F,
                           0x0001, 0x7F80, 0x7FC0};
  std::string data;
  for (uint64_t b : bits)
    data += littleEndian({b}, 2);
  auto file =
      parseOk(makeFile("{" + entry("b", "BF16", "[7]", 0, 14) + "}", data));
  ASSERT_TRUE(file);
  std::vector<float> f;
  std::string error;
  ASSERT_TRUE(file->toFloat(*file->find("b"), f, error)) << error;
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(f[0], 3.140625f);
  EXPECT_EQ(f[1], 1.0f);
  EXPECT_EQ(f[2], -2.5f);
  EXPECT_EQ(f[3], 3.38953139e38f);         // largest finite bf16
  EXPECT_EQ(f[4], std::ldexp(1.0f, -133)); // smallest subnormal
  EXPECT_EQ(f[5], std::numeric_limits<float>::infinity());
  EXPECT_EQ(bitsOf(f[6]), 0x7FC00000u);
}

TEST(Safetensors, Float8ConvertsExactly) {
  // E4M3 (fn): 1.0, -2.0, 448 (max), 2^-9 (min subnormal), NaN, -NaN.
  // E5M2: 1.0, 57344 (max), 2^-16 (min subnormal), inf, NaN.
  std::string data = littleEndian({0x38, 0xC0, 0x7E, 0x01, 0x7F, 0xFF}, 1) +
                     littleEndian({0x3C, 0x7B, 0x01, 0x7C, 0x7E}, 1);
  auto file = parseOk(makeFile("{" + entry("a", "F8_E4M3", "[6]", 0, 6) + "," +
                                   entry("b", "F8_E5M2", "[5]", 6, 11) + "}",
                               data));
  ASSERT_TRUE(file);
  std::vector<float> a, b;
  std::string error;
  ASSERT_TRUE(file->toFloat(*file->find("a"), a, error)) << error;
  ASSERT_TRUE(file->toFloat(*file->find("b"), b, error)) << error;
  EXPECT_EQ(a[0], 1.0f);
  EXPECT_EQ(a[1], -2.0f);
  EXPECT_EQ(a[2], 448.0f);
  EXPECT_EQ(a[3], std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(a[4]));
  EXPECT_TRUE(std::isnan(a[5]));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], 57344.0f);
  EXPECT_EQ(b[2], std::ldexp(1.0f, -16));
  EXPECT_EQ(b[3], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(b[4]));
}

TEST(Safetensors, F64ReadsAsDoubleOnly) {
  std::string data = littleEndian({bitsOf(0.1), bitsOf(-1e300)}, 8);
  auto file =
      parseOk(makeFile("{" + entry("d", "F64", "[2]", 0, 16) + "}", data));
  ASSERT_TRUE(file);
  const SafetensorsTensor &d = *file->find("d");
  std::vector<double> out;
  std::string error;
  ASSERT_TRUE(file->toDouble(d, out, error)) << error;
  EXPECT_EQ(out, (std::vector<double>{0.1, -1e300}));
  std::vector<float> f;
  EXPECT_FALSE(file->toFloat(d, f, error));
  EXPECT_EQ(error, std::string(kName) +
                       ": tensor 'd': dtype F64 would round to float (use "
                       "toDouble or rawData)");
}

TEST(Safetensors, IntegersAreRawOnly) {
  std::string data = littleEndian({uint64_t(-7) & 0xFFFFFFFF, 42}, 4) +
                     littleEndian({1, 0, 1}, 1);
  auto file = parseOk(makeFile("{" + entry("i", "I32", "[2]", 0, 8) + "," +
                                   entry("m", "BOOL", "[3]", 8, 11) + "}",
                               data));
  ASSERT_TRUE(file);
  const SafetensorsTensor &i = *file->find("i");
  EXPECT_EQ(i.dtype, SafetensorsDType::I32);
  std::string_view raw = file->rawData(i);
  ASSERT_EQ(raw.size(), 8u);
  int32_t first;
  std::memcpy(&first, raw.data(), 4); // the test host is little-endian
  EXPECT_EQ(first, -7);
  EXPECT_EQ(file->rawData(*file->find("m")), std::string("\1\0\1", 3));
  std::vector<float> f;
  std::string error;
  EXPECT_FALSE(file->toFloat(i, f, error));
  EXPECT_EQ(error, std::string(kName) +
                       ": tensor 'i': dtype I32 is not a floating-point type "
                       "(read it with rawData)");
  std::vector<double> d;
  EXPECT_FALSE(file->toDouble(*file->find("m"), d, error));
  EXPECT_NE(error.find("dtype BOOL is not a floating-point type"),
            std::string::npos)
      << error;
}

TEST(Safetensors, EveryDTypeString) {
  const char *names[] = {"F32", "F16", "BF16", "F64",     "I8",
                         "U8",  "I16", "I32",  "I64",     "BOOL",
                         "U16", "U32", "U64",  "F8_E5M2", "F8_E4M3"};
  for (const char *name : names) {
    std::optional<SafetensorsDType> type = parseSafetensorsDType(name);
    ASSERT_TRUE(type) << name;
    EXPECT_STREQ(toString(*type), name);
  }
  EXPECT_EQ(getDTypeSize(SafetensorsDType::BF16), 2u);
  EXPECT_EQ(getDTypeSize(SafetensorsDType::U64), 8u);
  EXPECT_FALSE(parseSafetensorsDType("f32"));
  EXPECT_FALSE(parseSafetensorsDType("F4"));
}

TEST(Safetensors, MetadataFindAndOrder) {
  // Header order z, a, m; tensors() is sorted by name.
  std::string header = "{\"__metadata__\":{\"format\":\"pt\",\"r\":\"8\"}," +
                       entry("z", "F32", "[1]", 0, 4) + "," +
                       entry("a", "F16", "[2]", 4, 8) + "," +
                       entry("m", "U8", "[]", 8, 9) + "}";
  auto file = parseOk(makeFile(header, std::string(9, '\1')));
  ASSERT_TRUE(file);
  EXPECT_EQ(file->name(), kName);
  EXPECT_EQ(file->metadata(),
            (std::map<std::string, std::string>{{"format", "pt"}, {"r", "8"}}));
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].name, "a");
  EXPECT_EQ(file->tensors()[1].name, "m");
  EXPECT_EQ(file->tensors()[2].name, "z");
  EXPECT_EQ(file->find("a"), &file->tensors()[0]);
  EXPECT_EQ(file->find("z"), &file->tensors()[2]);
  EXPECT_EQ(file->find("b"), nullptr);
  EXPECT_EQ(file->find(""), nullptr);
  const SafetensorsTensor &m = *file->find("m");
  EXPECT_TRUE(m.shape.empty()); // a scalar
  EXPECT_EQ(m.numElements(), 1u);
  EXPECT_EQ(m.begin, 8u);
  EXPECT_EQ(m.end, 9u);
  EXPECT_EQ(file->dataSize(), 9u);
}

TEST(Safetensors, EmptyAndPaddedHeaders) {
  auto empty = parseOk(makeFile("{}"));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->tensors().empty());
  EXPECT_TRUE(empty->metadata().empty());
  // Writers pad the header with spaces to 8-byte alignment; JSON whitespace
  // inside is fine.
  auto padded =
      parseOk(makeFile("{ \"__metadata__\" : { } ,\n\t" +
                           entry("w", "F32", "[ 1 ]", 0, 4) + "\r\n}     ",
                       std::string(4, '\0')));
  ASSERT_TRUE(padded);
  EXPECT_EQ(padded->tensors().size(), 1u);
}

TEST(Safetensors, ZeroSizedTensors) {
  auto file = parseOk(makeFile("{" + entry("e", "F32", "[0,3]", 0, 0) + "," +
                                   entry("w", "BF16", "[2]", 0, 4) + "," +
                                   entry("f", "F16", "[4,0]", 4, 4) + "}",
                               std::string(4, '\0')));
  ASSERT_TRUE(file);
  std::vector<float> out{1.0f};
  std::string error;
  ASSERT_TRUE(file->toFloat(*file->find("e"), out, error)) << error;
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(file->find("f")->numElements(), 0u);
}

TEST(Safetensors, StringEscapes) {
  // \u00e9 (2 bytes), a surrogate pair (U+1F600, 4 bytes), raw UTF-8 and the
  // short escapes.
  std::string header = "{\"caf\\u00e9.\\ud83d\\ude00\":{\"dtype\":\"U8\","
                       "\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"__metadata__\":{\"k\\n\\t\\\"\\\\\\/\":\"\xE2\x82\xAC"
                       "\\b\\f\\r\"}}";
  auto file = parseOk(makeFile(header, "x"));
  ASSERT_TRUE(file);
  EXPECT_TRUE(file->find("caf\xC3\xA9.\xF0\x9F\x98\x80"));
  EXPECT_EQ(file->metadata().at("k\n\t\"\\/"), "\xE2\x82\xAC\b\f\r");
}

TEST(Safetensors, OpenReadsFilesAndChecksTheSize) {
  namespace fs = std::filesystem;
  fs::path dir =
      fs::path(::testing::TempDir()) /
      ("qopt-safetensors-" +
       std::to_string(
           std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(dir);
  std::string path = (dir / "a.safetensors").string();
  std::string bytes = makeFile("{" + entry("w", "F32", "[1]", 0, 4) + "}",
                               littleEndian({bitsOf(0.5f)}, 4));
  {
    std::FILE *f = std::fopen(path.c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  std::string error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_TRUE(file) << error;
  EXPECT_EQ(file->name(), path);
  std::vector<float> w;
  ASSERT_TRUE(file->toFloat(*file->find("w"), w, error)) << error;
  EXPECT_EQ(w, std::vector<float>{0.5f});

  EXPECT_FALSE(SafetensorsFile::open(path, error, bytes.size() - 1));
  EXPECT_EQ(error, path + ": file is " + std::to_string(bytes.size()) +
                       " bytes, more than the limit of " +
                       std::to_string(bytes.size() - 1) + " bytes");
  EXPECT_FALSE(SafetensorsFile::open((dir / "missing").string(), error));
  EXPECT_EQ(error.rfind((dir / "missing").string() + ": cannot open: ", 0), 0u)
      << error;
  EXPECT_FALSE(SafetensorsFile::open(dir.string(), error));
  EXPECT_EQ(error, dir.string() + ": not a regular file");
  // Errors of a file read from disk name its path.
  {
    std::FILE *f = std::fopen(path.c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite("abc", 1, 3, f);
    std::fclose(f);
  }
  EXPECT_FALSE(SafetensorsFile::open(path, error));
  EXPECT_EQ(error, path + ": file is 3 bytes long, too short for the 8-byte "
                          "header length");
  fs::remove_all(dir);
}

TEST(Safetensors, ForeignTensorIsRefused) {
  auto file = parseOk(makeFile("{" + entry("w", "F32", "[1]", 0, 4) + "}",
                               std::string(4, '\0')));
  ASSERT_TRUE(file);
  SafetensorsTensor forged = *file->find("w");
  forged.name = "x";
  forged.end = 400;
  forged.shape = {100};
  std::vector<float> out;
  std::string error;
  EXPECT_FALSE(file->toFloat(forged, out, error));
  EXPECT_EQ(error, std::string(kName) +
                       ": tensor 'x': does not describe bytes of this file");
  EXPECT_TRUE(file->rawData(forged).empty());
}

//===----------------------------------------------------------------------===//
// Validation: one test per rule, checking the message.
//===----------------------------------------------------------------------===//

TEST(SafetensorsValidation, FileTooShort) {
  EXPECT_TRUE(failsWith("", "file is 0 bytes long, too short for the 8-byte "
                            "header length"));
  EXPECT_TRUE(
      failsWith(std::string("\x02\0\0\0\0\0\0", 7), "file is 7 bytes long"));
}

TEST(SafetensorsValidation, HeaderLengthZero) {
  EXPECT_TRUE(failsWith(std::string(8, '\0') + "{}", "header length is 0"));
}

TEST(SafetensorsValidation, HeaderLengthTooLarge) {
  EXPECT_TRUE(failsWith(littleEndian({100'000'001}, 8) + "{}",
                        "header length 100000001 exceeds the limit of "
                        "100000000 bytes"));
  EXPECT_TRUE(failsWith(littleEndian({~uint64_t(0)}, 8),
                        "header length 18446744073709551615 exceeds"));
}

TEST(SafetensorsValidation, HeaderBeyondFile) {
  EXPECT_TRUE(failsWith(littleEndian({10}, 8) + "{}  ",
                        "header length 10 goes beyond the end of the file (4 "
                        "bytes follow it)"));
}

TEST(SafetensorsValidation, HeaderNotAnObject) {
  for (const char *header : {"[1]", "\"a\"", " {}", "null", "1"})
    EXPECT_TRUE(failsWith(makeFile(header), "header is not a JSON object (it "
                                            "must start with '{')"))
        << header;
}

TEST(SafetensorsValidation, HeaderNotValidJson) {
  struct Case {
    const char *header;
    const char *message;
  } cases[] = {
      {"{", "expected a string key but the header ends at byte 1"},
      {"{\"a\" 1}", "expected ':' but found '1' at byte 5"},
      {"{\"a\":}", "expected a value but found '}'"},
      {"{\"a\":1,}", "expected a string key but found '}'"},
      {"{\"a\":[1,]}", "expected a value but found ']'"},
      {"{\"a\":[1 2]}", "expected ',' or ']' but found '2'"},
      {"{\"a\":1 \"b\":2}", "expected ',' or '}' but found '\"'"},
      {"{a:1}", "expected a string key but found 'a'"},
      {"{\"a\":tru}", "expected a value but found 't'"},
      {"{\"a\":01}", "expected ',' or '}' but found '1'"},
      {"{\"a\":-}", "expected a digit at byte 6"},
      {"{\"a\":1.}", "expected a digit after '.'"},
      {"{\"a\":1e}", "expected a digit in the exponent"},
      {"{\"a\":+1}", "expected a value but found '+'"},
      {"{\"a\":NaN}", "expected a value but found 'N'"},
      {"{\"a", "unterminated string"},
      {"{\"a\\q\":1}", "invalid escape"},
      {"{\"\\u12g4\":1}", "expected four hex digits after \\u"},
      {"{\"\\ud800\":1}", "unpaired high surrogate"},
      {"{\"\\ud800\\u0041\":1}", "unpaired high surrogate"},
      {"{\"\\udc00\":1}", "unpaired low surrogate"},
      {"{\"a\tb\":1}", "control character in a string"},
      {"{\"\xC0\xAF\":1}", "invalid UTF-8 in a string"},     // overlong '/'
      {"{\"\xED\xA0\x80\":1}", "invalid UTF-8 in a string"}, // surrogate
      {"{\"\xF4\x90\x80\x80\":1}", "invalid UTF-8"},         // > U+10FFFF
      {"{\"\xE2\x82\":1}", "invalid UTF-8"},                 // truncated
      {"{\"a\":1}\xFF", "trailing bytes after its JSON object at byte 7"},
  };
  for (const Case &c : cases) {
    std::string text = c.message;
    if (text.find("trailing") == std::string::npos)
      text = "header is not valid JSON: " + text;
    EXPECT_TRUE(failsWith(makeFile(c.header), text)) << c.header;
  }
}

TEST(SafetensorsValidation, NestingLimit) {
  // 64 nested containers are JSON the reader accepts (the schema then
  // refuses the array); 65 are not.
  auto nested = [](int depth) {
    return "{\"w\":" + std::string(size_t(depth - 1), '[') +
           std::string(size_t(depth - 1), ']') + "}";
  };
  EXPECT_TRUE(failsWith(makeFile(nested(64)), "tensor 'w': entry is not an "
                                              "object"));
  EXPECT_TRUE(failsWith(makeFile(nested(65)),
                        "header is not valid JSON: nesting deeper than 64 "
                        "levels at byte 68"));
}

TEST(SafetensorsValidation, OnlySpacesMayPadTheHeader) {
  EXPECT_TRUE(failsWith(makeFile("{}\n"), "header has trailing bytes after "
                                          "its JSON object at byte 2 of the "
                                          "header (only spaces may pad it)"));
  EXPECT_TRUE(failsWith(makeFile("{}  {}"), "at byte 4 of the header"));
  EXPECT_TRUE(failsWith(makeFile(std::string("{}\0", 3)), "trailing bytes"));
}

TEST(SafetensorsValidation, DuplicateKeys) {
  std::string w = entry("w", "F32", "[1]", 0, 4);
  EXPECT_TRUE(failsWith(makeFile("{" + w + "," + w + "}", std::string(4, 0)),
                        "header has a duplicate key 'w' at byte 54"));
  // Compared after decoding escapes.
  EXPECT_TRUE(failsWith(makeFile("{\"__metadata__\":{\"a\":\"1\",\"\\u0061\":"
                                 "\"2\"}}"),
                        "duplicate key 'a'"));
  EXPECT_TRUE(
      failsWith(oneTensor("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
                          "\"data_offsets\":[0,4]"),
                "duplicate key 'dtype'"));
}

TEST(SafetensorsValidation, EntryNotAnObject) {
  EXPECT_TRUE(failsWith(makeFile("{\"w\":[0,4]}"),
                        "tensor 'w': entry is not an object"));
}

TEST(SafetensorsValidation, MissingFields) {
  EXPECT_TRUE(failsWith(oneTensor("\"shape\":[1],\"data_offsets\":[0,4]"),
                        ": tensor 'w': missing 'dtype'"));
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":\"F32\",\"data_offsets\":[0,4]"),
                        "tensor 'w': missing 'shape'"));
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":\"F32\",\"shape\":[1]"),
                        "tensor 'w': missing 'data_offsets'"));
  EXPECT_TRUE(failsWith(oneTensor(""), "tensor 'w': missing 'dtype'"));
}

TEST(SafetensorsValidation, UnknownField) {
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":\"F32\",\"shape\":[1],"
                                  "\"data_offsets\":[0,4],\"layout\":\"C\""),
                        "tensor 'w': unknown field 'layout' (expected dtype, "
                        "shape, data_offsets)"));
}

TEST(SafetensorsValidation, UnknownDType) {
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":\"F128\",\"shape\":[1],"
                                  "\"data_offsets\":[0,4]"),
                        "tensor 'w': unknown dtype 'F128'"));
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":\"f32\",\"shape\":[1],"
                                  "\"data_offsets\":[0,4]"),
                        "tensor 'w': unknown dtype 'f32'"));
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":\"F4\",\"shape\":[8],"
                                  "\"data_offsets\":[0,4]"),
                        "tensor 'w': dtype 'F4' is not supported"));
  EXPECT_TRUE(failsWith(oneTensor("\"dtype\":32,\"shape\":[1],"
                                  "\"data_offsets\":[0,4]"),
                        "tensor 'w': 'dtype' is not a string"));
}

TEST(SafetensorsValidation, BadDimensions) {
  auto withShape = [](const std::string &shape) {
    return oneTensor("\"dtype\":\"F32\",\"shape\":" + shape +
                     ",\"data_offsets\":[0,4]");
  };
  EXPECT_TRUE(failsWith(withShape("[1,-3]"),
                        "tensor 'w': 'shape' element 1 is negative (-3)"));
  EXPECT_TRUE(failsWith(withShape("[-0]"), "element 0 is negative (-0)"));
  EXPECT_TRUE(failsWith(withShape("[2.5]"),
                        "tensor 'w': 'shape' element 0 is not an integer "
                        "(2.5)"));
  EXPECT_TRUE(failsWith(withShape("[1.0]"), "is not an integer (1.0)"));
  EXPECT_TRUE(failsWith(withShape("[1e0]"), "is not an integer (1e0)"));
  EXPECT_TRUE(failsWith(withShape("[\"1\"]"),
                        "'shape' element 0 is not a non-negative integer"));
  EXPECT_TRUE(failsWith(withShape("[null]"), "is not a non-negative integer"));
  EXPECT_TRUE(failsWith(withShape("[9223372036854775808]"),
                        "element 0 is too large (9223372036854775808)"));
  EXPECT_TRUE(failsWith(withShape("[99999999999999999999]"), "too large"));
  EXPECT_TRUE(failsWith(withShape("4"), "tensor 'w': 'shape' is not an "
                                        "array"));
  std::string rank65 = "[1";
  for (int i = 1; i < 65; ++i)
    rank65 += ",1";
  EXPECT_TRUE(failsWith(withShape(rank65 + "]"),
                        "tensor 'w': 'shape' has more than 64 elements"));
}

TEST(SafetensorsValidation, ElementCountOverflow) {
  EXPECT_TRUE(failsWith(
      oneTensor("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                "\"data_offsets\":[0,4]"),
      "tensor 'w': element count of shape [4294967296, 4294967296] overflows "
      "64 bits"));
  // The count fits but the byte size does not.
  EXPECT_TRUE(failsWith(
      oneTensor("\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                "\"data_offsets\":[0,4]"),
      "tensor 'w': byte size of shape [4611686018427387904] of F32 overflows "
      "64 bits"));
  // A zero dimension makes any product empty.
  EXPECT_TRUE(parseOk(makeFile(
      "{" + entry("w", "F32", "[0,9223372036854775807,4]", 0, 0) + "}")));
}

TEST(SafetensorsValidation, BadDataOffsets) {
  auto withOffsets = [](const std::string &offsets) {
    return oneTensor("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" +
                     offsets);
  };
  EXPECT_TRUE(failsWith(withOffsets("{}"),
                        "tensor 'w': 'data_offsets' is not an array"));
  EXPECT_TRUE(failsWith(withOffsets("[4]"),
                        "tensor 'w': 'data_offsets' has 1 elements, not 2"));
  EXPECT_TRUE(failsWith(withOffsets("[]"), "'data_offsets' has 0 elements"));
  EXPECT_TRUE(failsWith(withOffsets("[0,4,8]"),
                        "tensor 'w': 'data_offsets' has more than 2 "
                        "elements"));
  EXPECT_TRUE(failsWith(withOffsets("[-4,0]"),
                        "'data_offsets' element 0 is negative (-4)"));
  EXPECT_TRUE(failsWith(withOffsets("[0,4.0]"),
                        "'data_offsets' element 1 is not an integer (4.0)"));
  EXPECT_TRUE(failsWith(withOffsets("[0,18446744073709551616]"),
                        "element 1 is too large"));
  EXPECT_TRUE(failsWith(withOffsets("[8,4]"),
                        "tensor 'w': data_offsets [8, 4] are reversed (begin "
                        "> end)"));
}

TEST(SafetensorsValidation, EndBeyondDataSection) {
  EXPECT_TRUE(failsWith(
      makeFile("{" + entry("w", "F32", "[2]", 0, 8) + "}", std::string(4, 0)),
      "tensor 'w': data_offsets [0, 8] go beyond the data section (4 "
      "bytes)"));
  EXPECT_TRUE(failsWith(makeFile("{" +
                                 entry("w", "F32", "[0]", 18446744073709551615u,
                                       18446744073709551615u) +
                                 "}"),
                        "go beyond the data section (0 bytes)"));
}

TEST(SafetensorsValidation, ByteSizeMismatch) {
  EXPECT_TRUE(failsWith(
      makeFile("{" + entry("w", "F32", "[2,2]", 0, 12) + "}",
               std::string(12, 0)),
      "tensor 'w': data_offsets [0, 12] hold 12 bytes but shape [2, 2] of "
      "F32 needs 16"));
  EXPECT_TRUE(failsWith(
      makeFile("{" + entry("w", "BF16", "[]", 0, 4) + "}", std::string(4, 0)),
      "hold 4 bytes but shape [] of BF16 needs 2"));
}

TEST(SafetensorsValidation, OverlappingTensors) {
  EXPECT_TRUE(failsWith(makeFile("{" + entry("a", "F32", "[4]", 0, 16) + "," +
                                     entry("b", "F32", "[2]", 8, 16) + "}",
                                 std::string(16, 0)),
                        "tensors 'a' (data_offsets [0, 16]) and 'b' "
                        "(data_offsets [8, 16]) overlap"));
  // Two names for the same bytes.
  EXPECT_TRUE(failsWith(makeFile("{" + entry("a", "F32", "[1]", 0, 4) + "," +
                                     entry("b", "F32", "[1]", 0, 4) + "}",
                                 std::string(4, 0)),
                        "overlap"));
  // An empty tensor inside another one.
  EXPECT_TRUE(failsWith(makeFile("{" + entry("a", "F32", "[2]", 0, 8) + "," +
                                     entry("e", "F32", "[0]", 4, 4) + "}",
                                 std::string(8, 0)),
                        "tensors 'a' (data_offsets [0, 8]) and 'e' "
                        "(data_offsets [4, 4]) overlap"));
}

TEST(SafetensorsValidation, HolesInDataSection) {
  EXPECT_TRUE(failsWith(makeFile("{" + entry("a", "F32", "[1]", 0, 4) + "," +
                                     entry("b", "F32", "[1]", 8, 12) + "}",
                                 std::string(12, 0)),
                        "bytes [4, 8) of the data section belong to no tensor "
                        "(the spec allows no holes)"));
  EXPECT_TRUE(failsWith(
      makeFile("{" + entry("a", "F32", "[1]", 0, 4) + "}", std::string(6, 0)),
      "bytes [4, 6) at the end of the data section belong "
      "to no tensor"));
  EXPECT_TRUE(failsWith(makeFile("{}", "xx"),
                        "bytes [0, 2) at the end of the data section"));
}

TEST(SafetensorsValidation, MetadataMustMapStringsToStrings) {
  EXPECT_TRUE(failsWith(makeFile("{\"__metadata__\":[]}"),
                        "'__metadata__' is not an object mapping strings to "
                        "strings"));
  EXPECT_TRUE(failsWith(makeFile("{\"__metadata__\":null}"),
                        "'__metadata__' is not an object"));
  EXPECT_TRUE(failsWith(makeFile("{\"__metadata__\":{\"r\":8}}"),
                        "'__metadata__' value of key 'r' is not a string"));
  EXPECT_TRUE(failsWith(makeFile("{\"__metadata__\":{\"a\":\"b\",\"c\":{}}}"),
                        "value of key 'c' is not a string"));
}

TEST(SafetensorsValidation, NamesInMessagesAreEscapedAndShortened) {
  std::string longName(300, 'n');
  EXPECT_TRUE(failsWith(makeFile("{\"" + longName + "\":1}"),
                        "tensor '" + std::string(120, 'n') +
                            "'...: entry is not an object"));
  EXPECT_TRUE(failsWith(makeFile("{\"a\\u0001'\":1}"),
                        "tensor 'a\\x01\\x27': entry is not an object"));
}

} // namespace
