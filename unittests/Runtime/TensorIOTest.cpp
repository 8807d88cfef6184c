//===- TensorIOTest.cpp - .npy and TensorProto files of the runtime -------===//
//
// Input files are built byte by byte here from the two formats'
// specifications (numpy's NEP 1 .npy layout and protobuf's wire format with
// onnx.proto's field numbers), not with the code under test, so a reader
// and a writer that agree on a mistake still fail.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct TensorDeleter {
  void operator()(qopt_tensor *t) const { qopt_tensor_free(t); }
};
using TensorPtr = std::unique_ptr<qopt_tensor, TensorDeleter>;

constexpr qopt_dtype kNpyDTypes[] = {
    QOPT_DTYPE_F32, QOPT_DTYPE_U8,  QOPT_DTYPE_I8,  QOPT_DTYPE_U16,
    QOPT_DTYPE_I16, QOPT_DTYPE_I32, QOPT_DTYPE_I64, QOPT_DTYPE_BOOL,
    QOPT_DTYPE_F16, QOPT_DTYPE_F64, QOPT_DTYPE_U32, QOPT_DTYPE_U64};

/// numpy's descr for each dtype, as np.save writes it.
std::string npyDescr(qopt_dtype dtype) {
  switch (dtype) {
  case QOPT_DTYPE_F32:
    return "<f4";
  case QOPT_DTYPE_U8:
    return "|u1";
  case QOPT_DTYPE_I8:
    return "|i1";
  case QOPT_DTYPE_U16:
    return "<u2";
  case QOPT_DTYPE_I16:
    return "<i2";
  case QOPT_DTYPE_I32:
    return "<i4";
  case QOPT_DTYPE_I64:
    return "<i8";
  case QOPT_DTYPE_BOOL:
    return "|b1";
  case QOPT_DTYPE_F16:
    return "<f2";
  case QOPT_DTYPE_F64:
    return "<f8";
  case QOPT_DTYPE_U32:
    return "<u4";
  case QOPT_DTYPE_U64:
    return "<u8";
  default:
    return "?";
  }
}

/// `width` bytes of `bits`, least significant first (or most, if `big`).
std::string bytesOf(uint64_t bits, size_t width, bool big = false) {
  std::string out(width, '\0');
  for (size_t i = 0; i < width; ++i)
    out[big ? width - 1 - i : i] = char((bits >> (8 * i)) & 0xff);
  return out;
}

template <typename T> uint64_t bitsOf(T value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}

/// The values as a file would store them (little- or big-endian).
template <typename T>
std::string fileBytes(std::initializer_list<T> values, bool big = false) {
  std::string out;
  for (T v : values)
    out += bytesOf(bitsOf(v), sizeof(T), big);
  return out;
}

/// The values as they lie in memory on this host.
template <typename T> std::string hostBytes(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

std::string dataOf(const qopt_tensor *t) {
  return std::string(static_cast<const char *>(qopt_tensor_const_data(t)),
                     qopt_tensor_byte_size(t));
}

std::vector<int64_t> dimsOf(const qopt_tensor *t) {
  const int64_t *dims = qopt_tensor_dims(t);
  return std::vector<int64_t>(dims, dims + qopt_tensor_rank(t));
}

/// A tensor with a deterministic byte pattern (0/1 for bool).
TensorPtr patterned(qopt_dtype dtype, std::vector<int64_t> dims) {
  qopt_tensor *t = nullptr;
  EXPECT_EQ(qopt_tensor_create(dtype, int(dims.size()), dims.data(), &t),
            QOPT_OK)
      << qopt_last_error();
  auto *p = static_cast<unsigned char *>(qopt_tensor_data(t));
  for (size_t i = 0; i < qopt_tensor_byte_size(t); ++i)
    p[i] = dtype == QOPT_DTYPE_BOOL ? (i * 7 % 3 == 0) : (i * 37 + 11) & 0xff;
  return TensorPtr(t);
}

/// A .npy file: preamble of version `major`.0, the dict, a newline, data.
std::string npyFile(const std::string &dict, const std::string &data,
                    int major = 1) {
  std::string header = dict + "\n";
  std::string out("\x93NUMPY", 6);
  out += char(major);
  out += '\0';
  out += bytesOf(header.size(), major == 1 ? 2 : 4);
  return out + header + data;
}

std::string npyDict(const std::string &descr, const std::string &shape,
                    const std::string &fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran +
         ", 'shape': " + shape + ", }";
}

// Protobuf wire format.
std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += char((v & 0x7f) | 0x80);
    v >>= 7;
  }
  return out + char(v);
}
std::string tag(unsigned field, unsigned wireType) {
  return varint(field << 3 | wireType);
}
std::string varintField(unsigned field, uint64_t v) {
  return tag(field, 0) + varint(v);
}
std::string bytesField(unsigned field, const std::string &payload) {
  return tag(field, 2) + varint(payload.size()) + payload;
}
std::string dimsField(std::initializer_list<int64_t> dims) {
  std::string out;
  for (int64_t d : dims)
    out += varintField(1, uint64_t(d));
  return out;
}

class TensorIOTest : public testing::Test {
protected:
  void SetUp() override {
    const testing::TestInfo *info =
        testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::path(testing::TempDir()) /
          (std::string("qopt_tensor_io_") + info->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string &name) const { return (dir / name); }

  std::string write(const std::string &name, const std::string &bytes) {
    std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  static std::string read(const std::string &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(dir))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  TensorPtr loadNpy(const std::string &p) {
    qopt_tensor *t = nullptr;
    EXPECT_EQ(qopt_tensor_load_npy(p.c_str(), &t), QOPT_OK)
        << qopt_last_error();
    return TensorPtr(t);
  }

  TensorPtr loadPb(const std::string &p, std::string *name = nullptr) {
    qopt_tensor *t = nullptr;
    char *n = nullptr;
    EXPECT_EQ(qopt_tensor_load_pb(p.c_str(), &t, name ? &n : nullptr), QOPT_OK)
        << qopt_last_error();
    if (name && n)
      *name = n;
    std::free(n);
    return TensorPtr(t);
  }

  TensorPtr loadPbBytes(const std::string &bytes) {
    return loadPb(write("t.pb", bytes));
  }

  fs::path dir;
};

/// Whether `status` is a failure whose message names the file and has each
/// of `parts`.
testing::AssertionResult failsWith(qopt_status status, const std::string &p,
                                   std::initializer_list<std::string> parts) {
  if (status == QOPT_OK)
    return testing::AssertionFailure() << "succeeded";
  std::string error = qopt_last_error();
  if (error.rfind(p + ": ", 0) != 0)
    return testing::AssertionFailure()
           << "'" << error << "' does not start with the path " << p;
  for (const std::string &part : parts)
    if (error.find(part) == std::string::npos)
      return testing::AssertionFailure()
             << "'" << error << "' lacks '" << part << "'";
  return testing::AssertionSuccess();
}

testing::AssertionResult npyFails(const std::string &p,
                                  std::initializer_list<std::string> parts) {
  qopt_tensor *t = reinterpret_cast<qopt_tensor *>(&t);
  qopt_status status = qopt_tensor_load_npy(p.c_str(), &t);
  if (t)
    return testing::AssertionFailure() << "output not cleared";
  return failsWith(status, p, parts);
}

testing::AssertionResult pbFails(const std::string &p,
                                 std::initializer_list<std::string> parts) {
  qopt_tensor *t = reinterpret_cast<qopt_tensor *>(&t);
  char *name = reinterpret_cast<char *>(&name);
  qopt_status status = qopt_tensor_load_pb(p.c_str(), &t, &name);
  if (t || name)
    return testing::AssertionFailure() << "outputs not cleared";
  return failsWith(status, p, parts);
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

TEST_F(TensorIOTest, NpyRoundTripsEveryDType) {
  for (qopt_dtype dtype : kNpyDTypes) {
    SCOPED_TRACE(qopt_dtype_name(dtype));
    TensorPtr t = patterned(dtype, {2, 3});
    std::string p = path(std::string(qopt_dtype_name(dtype)) + ".npy");
    ASSERT_EQ(qopt_tensor_save_npy(t.get(), p.c_str()), QOPT_OK)
        << qopt_last_error();

    std::string file = read(p);
    ASSERT_GE(file.size(), 10u);
    EXPECT_EQ(file.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    size_t headerLen = uint8_t(file[8]) | uint8_t(file[9]) << 8;
    EXPECT_EQ((10 + headerLen) % 64, 0u);
    std::string header = file.substr(10, headerLen);
    EXPECT_EQ(header.back(), '\n');
    EXPECT_EQ(header.rfind(npyDict(npyDescr(dtype), "(2, 3)"), 0), 0u)
        << header;
    EXPECT_EQ(file.substr(10 + headerLen), dataOf(t.get()));

    TensorPtr back = loadNpy(p);
    ASSERT_TRUE(back);
    EXPECT_EQ(qopt_tensor_dtype(back.get()), dtype);
    EXPECT_EQ(dimsOf(back.get()), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(dataOf(back.get()), dataOf(t.get()));
  }
}

TEST_F(TensorIOTest, NpyRoundTripsZeroDAndEmptyTensors) {
  struct Case {
    std::vector<int64_t> dims;
    std::string shape;
  } cases[] = {
      {{}, "()"}, {{0}, "(0,)"}, {{1}, "(1,)"}, {{3, 0, 2}, "(3, 0, 2)"}};
  for (const Case &c : cases) {
    SCOPED_TRACE(c.shape);
    TensorPtr t = patterned(QOPT_DTYPE_F64, c.dims);
    std::string p = path("t.npy");
    ASSERT_EQ(qopt_tensor_save_npy(t.get(), p.c_str()), QOPT_OK)
        << qopt_last_error();
    EXPECT_NE(read(p).find("'shape': " + c.shape + ", }"), std::string::npos);
    TensorPtr back = loadNpy(p);
    ASSERT_TRUE(back);
    EXPECT_EQ(dimsOf(back.get()), c.dims);
    int64_t count = 1;
    for (int64_t d : c.dims)
      count *= d;
    EXPECT_EQ(qopt_tensor_num_elements(back.get()), count);
    EXPECT_EQ(dataOf(back.get()), dataOf(t.get()));
  }
}

TEST_F(TensorIOTest, NpyReadsHandWrittenFiles) {
  std::string data = fileBytes<int16_t>({1, -2, 3, -4, 5, -6});
  std::string expected = hostBytes<int16_t>({1, -2, 3, -4, 5, -6});
  const char *dicts[] = {
      "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }",
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<i2'}",
      "{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (2,3)}",
      "  {  'fortran_order' :False ,\t'shape':( 2 , 3 , ) ,\n'descr':'<i2',}  ",
      "{'descr': '<i2', 'fortran_order': False, 'shape': (2L, 3L)}",
      "{'descr': 'i2', 'fortran_order': False, 'shape': (2, 3)}",
  };
  for (const char *dict : dicts) {
    for (int major : {1, 2, 3}) {
      SCOPED_TRACE(std::string(dict) + " version " + std::to_string(major));
      TensorPtr t = loadNpy(write("t.npy", npyFile(dict, data, major)));
      ASSERT_TRUE(t);
      EXPECT_EQ(qopt_tensor_dtype(t.get()), QOPT_DTYPE_I16);
      EXPECT_EQ(dimsOf(t.get()), (std::vector<int64_t>{2, 3}));
      EXPECT_EQ(dataOf(t.get()), expected);
    }
  }
}

TEST_F(TensorIOTest, NpyIgnoresBytesAfterTheData) {
  // As np.load does: several arrays may be saved into one stream.
  TensorPtr t =
      loadNpy(write("t.npy", npyFile(npyDict("<i4", "(2,)"),
                                     fileBytes<int32_t>({7, 8}) + "trailing")));
  ASSERT_TRUE(t);
  EXPECT_EQ(dataOf(t.get()), hostBytes<int32_t>({7, 8}));
}

TEST_F(TensorIOTest, NpyBigEndianIsSwapped) {
  struct Case {
    std::string descr;
    qopt_dtype dtype;
    std::string file, host;
  } cases[] = {
      {">f4", QOPT_DTYPE_F32, fileBytes<float>({1.0f, -2.5f}, true),
       hostBytes<float>({1.0f, -2.5f})},
      {">f8", QOPT_DTYPE_F64, fileBytes<double>({3.25, -1e300}, true),
       hostBytes<double>({3.25, -1e300})},
      {">f2", QOPT_DTYPE_F16, fileBytes<uint16_t>({0x3c00, 0xc000}, true),
       hostBytes<uint16_t>({0x3c00, 0xc000})},
      {">i2", QOPT_DTYPE_I16, fileBytes<int16_t>({258, -300}, true),
       hostBytes<int16_t>({258, -300})},
      {">u2", QOPT_DTYPE_U16, fileBytes<uint16_t>({0xabcd, 1}, true),
       hostBytes<uint16_t>({0xabcd, 1})},
      {">i4", QOPT_DTYPE_I32, fileBytes<int32_t>({-70000, 1 << 30}, true),
       hostBytes<int32_t>({-70000, 1 << 30})},
      {">u4", QOPT_DTYPE_U32, fileBytes<uint32_t>({0xdeadbeef, 2}, true),
       hostBytes<uint32_t>({0xdeadbeef, 2})},
      {">i8", QOPT_DTYPE_I64, fileBytes<int64_t>({-5, 1ll << 40}, true),
       hostBytes<int64_t>({-5, 1ll << 40})},
      {">u8", QOPT_DTYPE_U64,
       fileBytes<uint64_t>({0x0102030405060708ull, 9}, true),
       hostBytes<uint64_t>({0x0102030405060708ull, 9})},
      {">i1", QOPT_DTYPE_I8, fileBytes<int8_t>({-1, 5}, true),
       hostBytes<int8_t>({-1, 5})},
      {">u1", QOPT_DTYPE_U8, fileBytes<uint8_t>({200, 5}, true),
       hostBytes<uint8_t>({200, 5})},
      {">b1", QOPT_DTYPE_BOOL, fileBytes<uint8_t>({1, 0}, true),
       hostBytes<uint8_t>({1, 0})},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.descr);
    TensorPtr t =
        loadNpy(write("t.npy", npyFile(npyDict(c.descr, "(2,)"), c.file)));
    ASSERT_TRUE(t);
    EXPECT_EQ(qopt_tensor_dtype(t.get()), c.dtype);
    EXPECT_EQ(dataOf(t.get()), c.host);
  }
}

TEST_F(TensorIOTest, NpyFortranOrderIsRejected) {
  std::string p = write(
      "f.npy", npyFile(npyDict("<f4", "(2, 3)", "True"), std::string(24, 0)));
  EXPECT_TRUE(npyFails(p, {"fortran_order", "not supported"}));
}

TEST_F(TensorIOTest, NpyFortranOrderOfOneDimIsTheSameLayout) {
  TensorPtr t =
      loadNpy(write("f.npy", npyFile(npyDict("<i4", "(1, 2, 1)", "True"),
                                     fileBytes<int32_t>({4, 5}))));
  ASSERT_TRUE(t);
  EXPECT_EQ(dataOf(t.get()), hostBytes<int32_t>({4, 5}));
}

TEST_F(TensorIOTest, NpyRejectsTruncatedData) {
  std::string p = write(
      "input.npy", npyFile(npyDict("<i4", "(2, 3)"), std::string(16, '\1')));
  qopt_tensor *t = nullptr;
  EXPECT_EQ(qopt_tensor_load_npy(p.c_str(), &t), QOPT_ERROR);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(std::string(qopt_last_error()),
            p + ": truncated: header says 24 bytes of data, file has 16");
}

TEST_F(TensorIOTest, NpyRejectsTruncatedHeaderAndPreamble) {
  std::string file = npyFile(npyDict("<i4", "(2, 3)"), "");
  EXPECT_TRUE(npyFails(write("h.npy", file.substr(0, 30)),
                       {"truncated", "bytes of header"}));
  EXPECT_TRUE(
      npyFails(write("p.npy", file.substr(0, 9)), {"truncated", "preamble"}));
  std::string v2 = npyFile(npyDict("<i4", "(2, 3)"), "", 2);
  EXPECT_TRUE(
      npyFails(write("p2.npy", v2.substr(0, 11)), {"truncated", "preamble"}));
  EXPECT_TRUE(npyFails(write("empty.npy", ""), {"truncated", "0 bytes"}));
}

TEST_F(TensorIOTest, NpyRejectsBadMagic) {
  std::string file = npyFile(npyDict("<i4", "(1,)"), fileBytes<int32_t>({1}));
  file[3] = 'X';
  EXPECT_TRUE(npyFails(write("m.npy", file), {"bad magic"}));
  EXPECT_TRUE(npyFails(write("pb.npy", dimsField({1}) + varintField(2, 1)),
                       {"bad magic"}));
}

TEST_F(TensorIOTest, NpyRejectsAbsurdHeaderLength) {
  std::string file("\x93NUMPY\x02\x00", 8);
  file += bytesOf(0xfffffff0u, 4);
  file += npyDict("<i4", "(1,)");
  EXPECT_TRUE(npyFails(write("big.npy", file),
                       {"header length 4294967280", "implausible"}));
}

TEST_F(TensorIOTest, NpyRejectsUnsupportedVersions) {
  std::string file = npyFile(npyDict("<i4", "(1,)"), fileBytes<int32_t>({1}));
  file[6] = 4;
  EXPECT_TRUE(npyFails(write("v4.npy", file), {"version 4.0"}));
  file[6] = 1;
  file[7] = 1;
  EXPECT_TRUE(npyFails(write("v11.npy", file), {"version 1.1"}));
}

TEST_F(TensorIOTest, NpyRejectsUnsupportedDTypes) {
  for (const char *descr :
       {"<c8", "<U4", "|O", "<M8[ns]", "|S3", "<i3", "<f16", "<V2", "<b2"}) {
    SCOPED_TRACE(descr);
    std::string p =
        write("d.npy", npyFile(npyDict(descr, "(1,)"), std::string(16, '\0')));
    EXPECT_TRUE(
        npyFails(p, {"unsupported dtype '" + std::string(descr) + "'"}));
  }
  std::string structured =
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}";
  EXPECT_TRUE(npyFails(write("s.npy", npyFile(structured, std::string(4, 0))),
                       {"structured dtypes"}));
}

TEST_F(TensorIOTest, NpyRejectsBadShapes) {
  EXPECT_TRUE(npyFails(write("neg.npy", npyFile(npyDict("<f4", "(-1, 3)"), "")),
                       {"negative dimension -1"}));
  EXPECT_TRUE(
      npyFails(write("huge.npy",
                     npyFile(npyDict("<f4", "(4294967296, 4294967296)"), "")),
               {"too large"}));
  EXPECT_TRUE(npyFails(
      write("ovf.npy", npyFile(npyDict("<f4", "(99999999999999999999,)"), "")),
      {"overflows"}));
  EXPECT_TRUE(npyFails(
      write("bytes.npy", npyFile(npyDict("<f8", "(1152921504606846976,)"), "")),
      {"too large"}));
  std::string rank17 = "(";
  for (int i = 0; i < 17; ++i)
    rank17 += "1, ";
  rank17 += ")";
  EXPECT_TRUE(npyFails(write("rank.npy", npyFile(npyDict("<f4", rank17), "")),
                       {"more than 16 dimensions"}));
  EXPECT_TRUE(npyFails(write("int.npy", npyFile(npyDict("<f4", "3"), "")),
                       {"'shape' must be a tuple"}));
  EXPECT_TRUE(npyFails(write("str.npy", npyFile(npyDict("<f4", "('a',)"), "")),
                       {"expected an integer"}));
  // A huge shape is refused because the file is short, before allocating.
  EXPECT_TRUE(npyFails(
      write("short.npy", npyFile(npyDict("<f4", "(100000000000,)"), "")),
      {"truncated: header says 400000000000 bytes of data, file has 0"}));
}

TEST_F(TensorIOTest, NpyRejectsMalformedHeaders) {
  struct Case {
    const char *dict;
    const char *message;
  } cases[] = {
      {"{'descr': '<f4', 'shape': (1,)}", "no 'fortran_order' key"},
      {"{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"},
      {"{'fortran_order': False, 'shape': (1,)}", "no 'descr' key"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
       "'shape': (1,)}",
       "duplicate key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
       "unexpected key 'x'"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",
       "expected True or False"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
       "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",
       "unexpected text after the dict"},
      {"{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}",
       "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
       "expected ',' or ')'"},
      {"['descr', '<f4']", "expected '{'"},
      {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}",
       "escape sequences"},
      {"{'descr': '<f4", "unterminated string"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.dict);
    std::string p = write("h.npy", npyFile(c.dict, std::string(4, 0)));
    EXPECT_TRUE(npyFails(p, {"bad .npy header", c.message}));
  }
}

TEST_F(TensorIOTest, NpyBFloat16CannotBeSaved) {
  TensorPtr t = patterned(QOPT_DTYPE_BF16, {2});
  std::string p = path("b.npy");
  EXPECT_TRUE(failsWith(qopt_tensor_save_npy(t.get(), p.c_str()), p,
                        {"bfloat16", "cannot be stored in .npy"}));
  EXPECT_TRUE(entries().empty());
}

TEST_F(TensorIOTest, NpySaveReplacesTheFileAndLeavesNoTemporary) {
  std::string p = write("t.npy", "old contents");
  TensorPtr t = patterned(QOPT_DTYPE_I32, {4});
  ASSERT_EQ(qopt_tensor_save_npy(t.get(), p.c_str()), QOPT_OK)
      << qopt_last_error();
  EXPECT_EQ(entries(), std::vector<std::string>{"t.npy"});
  TensorPtr back = loadNpy(p);
  ASSERT_TRUE(back);
  EXPECT_EQ(dataOf(back.get()), dataOf(t.get()));
}

TEST_F(TensorIOTest, FailedSavesLeaveNoTemporary) {
  // A directory in the way is refused before anything is written.
  fs::create_directory(path("dir.npy"));
  fs::create_directory(path("dir.pb"));
  TensorPtr t = patterned(QOPT_DTYPE_F32, {3});
  std::string npy = path("dir.npy"), pb = path("dir.pb");
  EXPECT_TRUE(failsWith(qopt_tensor_save_npy(t.get(), npy.c_str()), npy,
                        {"not a regular file"}));
  EXPECT_TRUE(failsWith(qopt_tensor_save_pb(t.get(), "x", pb.c_str()), pb,
                        {"not a regular file"}));
  EXPECT_EQ(entries(), (std::vector<std::string>{"dir.npy", "dir.pb"}));

  std::string missing = path("no/such/dir/t.npy");
  EXPECT_TRUE(failsWith(qopt_tensor_save_npy(t.get(), missing.c_str()), missing,
                        {"cannot create temporary file"}));
}

TEST_F(TensorIOTest, LoadNamesAMissingFile) {
  std::string p = path("missing.npy");
  EXPECT_TRUE(npyFails(p, {"cannot open", "No such file"}));
  std::string q = path("missing.pb");
  EXPECT_TRUE(pbFails(q, {"cannot open", "No such file"}));
}

TEST_F(TensorIOTest, LoadingADirectoryFails) {
  fs::create_directory(path("d.npy"));
  fs::create_directory(path("d.pb"));
  EXPECT_TRUE(npyFails(path("d.npy"), {"is a directory"}));
  EXPECT_TRUE(pbFails(path("d.pb"), {"is a directory"}));
}

TEST_F(TensorIOTest, FifosAreRefusedNotReadForever) {
  // A FIFO with no writer would block fopen/fread forever.
  ASSERT_EQ(mkfifo(path("f.npy").c_str(), 0600), 0);
  ASSERT_EQ(mkfifo(path("f.pb").c_str(), 0600), 0);
  EXPECT_TRUE(npyFails(path("f.npy"), {"is not a regular file"}));
  EXPECT_TRUE(pbFails(path("f.pb"), {"is not a regular file"}));
}

TEST_F(TensorIOTest, OutputsGoToRegularFilesOnly) {
  // Saving over a FIFO (or a device node) would rename a regular file over
  // it; it is an error and the FIFO stays.
  ASSERT_EQ(mkfifo(path("out.npy").c_str(), 0600), 0);
  int64_t dims[] = {2};
  float values[] = {1, 2};
  qopt_tensor *t = nullptr;
  ASSERT_EQ(qopt_tensor_create_copy(QOPT_DTYPE_F32, 1, dims, values, &t),
            QOPT_OK);
  EXPECT_NE(qopt_tensor_save_npy(t, path("out.npy").c_str()), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("is not a regular file"),
            std::string::npos);
  EXPECT_NE(qopt_tensor_save_pb(t, "x", path("out.npy").c_str()), QOPT_OK);
  struct stat st;
  ASSERT_EQ(lstat(path("out.npy").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  qopt_tensor_free(t);
}

//===----------------------------------------------------------------------===//
// TensorProto
//===----------------------------------------------------------------------===//

TEST_F(TensorIOTest, PbRoundTripsEveryDType) {
  std::vector<qopt_dtype> dtypes(std::begin(kNpyDTypes), std::end(kNpyDTypes));
  dtypes.push_back(QOPT_DTYPE_BF16);
  for (qopt_dtype dtype : dtypes) {
    SCOPED_TRACE(qopt_dtype_name(dtype));
    TensorPtr t = patterned(dtype, {3, 1, 2});
    std::string p = path("t.pb");
    ASSERT_EQ(qopt_tensor_save_pb(t.get(), "weight", p.c_str()), QOPT_OK)
        << qopt_last_error();
    std::string file = read(p);
    std::string head = dimsField({3, 1, 2}) + varintField(2, dtype) +
                       bytesField(8, "weight") + tag(9, 2) +
                       varint(qopt_tensor_byte_size(t.get()));
    EXPECT_EQ(file.substr(0, head.size()), head);
    EXPECT_EQ(file.substr(head.size()), dataOf(t.get()));

    std::string name;
    TensorPtr back = loadPb(p, &name);
    ASSERT_TRUE(back);
    EXPECT_EQ(name, "weight");
    EXPECT_EQ(qopt_tensor_dtype(back.get()), dtype);
    EXPECT_EQ(dimsOf(back.get()), (std::vector<int64_t>{3, 1, 2}));
    EXPECT_EQ(dataOf(back.get()), dataOf(t.get()));
  }
}

TEST_F(TensorIOTest, PbSaveWritesTheWireFormat) {
  float values[] = {1.0f, -2.0f};
  int64_t dims[] = {2};
  qopt_tensor *raw = nullptr;
  ASSERT_EQ(qopt_tensor_create_copy(QOPT_DTYPE_F32, 1, dims, values, &raw),
            QOPT_OK);
  TensorPtr t(raw);
  std::string p = path("x.pb");
  ASSERT_EQ(qopt_tensor_save_pb(t.get(), "x", p.c_str()), QOPT_OK);
  // dims=2, data_type=FLOAT, name="x", raw_data=8 bytes.
  EXPECT_EQ(read(p), std::string("\x08\x02\x10\x01\x42\x01x\x4a\x08"
                                 "\x00\x00\x80\x3f\x00\x00\x00\xc0",
                                 17));

  // A 0-d tensor has no dims; a null or empty name is left out.
  int64_t value = -1;
  ASSERT_EQ(qopt_tensor_create_copy(QOPT_DTYPE_I64, 0, nullptr, &value, &raw),
            QOPT_OK);
  t.reset(raw);
  ASSERT_EQ(qopt_tensor_save_pb(t.get(), nullptr, p.c_str()), QOPT_OK);
  EXPECT_EQ(read(p),
            std::string("\x10\x07\x4a\x08", 4) + std::string(8, '\xff'));
  ASSERT_EQ(qopt_tensor_save_pb(t.get(), "", p.c_str()), QOPT_OK);
  EXPECT_EQ(read(p),
            std::string("\x10\x07\x4a\x08", 4) + std::string(8, '\xff'));
  EXPECT_EQ(entries(), std::vector<std::string>{"x.pb"});
}

TEST_F(TensorIOTest, PbRoundTripsZeroDAndEmptyTensors) {
  for (std::vector<int64_t> dims :
       {std::vector<int64_t>{}, {0}, {2, 0}, {1, 1}}) {
    TensorPtr t = patterned(QOPT_DTYPE_U16, dims);
    std::string p = path("t.pb");
    ASSERT_EQ(qopt_tensor_save_pb(t.get(), "e", p.c_str()), QOPT_OK);
    TensorPtr back = loadPb(p);
    ASSERT_TRUE(back);
    EXPECT_EQ(dimsOf(back.get()), dims);
    EXPECT_EQ(dataOf(back.get()), dataOf(t.get()));
  }
  // An empty tensor may carry no data field at all.
  TensorPtr t = loadPbBytes(dimsField({0, 4}) + varintField(2, 1));
  ASSERT_TRUE(t);
  EXPECT_EQ(dimsOf(t.get()), (std::vector<int64_t>{0, 4}));
}

/// A TensorProto of `dtype` and `dims` whose values are in `field`, each
/// value encoded by `encode`, packed into one run or one field per value.
template <typename T, typename Encode>
std::string typedProto(int dtype, std::initializer_list<int64_t> dims,
                       unsigned field, std::initializer_list<T> values,
                       bool packed, Encode encode, unsigned wireType) {
  std::string out = dimsField(dims) + varintField(2, uint64_t(dtype));
  std::string run;
  for (T v : values) {
    if (packed)
      run += encode(v);
    else
      out += tag(field, wireType) + encode(v);
  }
  if (packed)
    out += bytesField(field, run);
  return out;
}

std::string asVarint(int64_t v) { return varint(uint64_t(v)); }
std::string asFixed32(float v) { return bytesOf(bitsOf(v), 4); }
std::string asFixed64(double v) { return bytesOf(bitsOf(v), 8); }

TEST_F(TensorIOTest, PbReadsTypedFieldsPackedAndUnpacked) {
  for (bool packed : {true, false}) {
    SCOPED_TRACE(packed ? "packed" : "unpacked");
    auto check = [&](const std::string &proto, qopt_dtype dtype,
                     const std::string &expected) {
      SCOPED_TRACE(qopt_dtype_name(dtype));
      TensorPtr t = loadPbBytes(proto);
      ASSERT_TRUE(t);
      EXPECT_EQ(qopt_tensor_dtype(t.get()), dtype);
      EXPECT_EQ(dataOf(t.get()), expected);
    };
    check(typedProto<float>(1, {3}, 4, {1.5f, -0.0f, 3e38f}, packed, asFixed32,
                            5),
          QOPT_DTYPE_F32, hostBytes<float>({1.5f, -0.0f, 3e38f}));
    check(typedProto<double>(11, {2}, 10, {-1e-300, 2.5}, packed, asFixed64, 1),
          QOPT_DTYPE_F64, hostBytes<double>({-1e-300, 2.5}));
    // Negative int32 values are 10-byte sign-extended varints.
    check(typedProto<int64_t>(6, {3}, 5, {-2147483648ll, 2147483647, -1},
                              packed, asVarint, 0),
          QOPT_DTYPE_I32,
          hostBytes<int32_t>({-2147483647 - 1, 2147483647, -1}));
    check(typedProto<int64_t>(3, {3}, 5, {-128, 127, -1}, packed, asVarint, 0),
          QOPT_DTYPE_I8, hostBytes<int8_t>({-128, 127, -1}));
    check(typedProto<int64_t>(2, {3}, 5, {0, 255, 17}, packed, asVarint, 0),
          QOPT_DTYPE_U8, hostBytes<uint8_t>({0, 255, 17}));
    check(typedProto<int64_t>(5, {2}, 5, {-32768, 32767}, packed, asVarint, 0),
          QOPT_DTYPE_I16, hostBytes<int16_t>({-32768, 32767}));
    check(typedProto<int64_t>(4, {2}, 5, {65535, 1}, packed, asVarint, 0),
          QOPT_DTYPE_U16, hostBytes<uint16_t>({65535, 1}));
    check(typedProto<int64_t>(9, {3}, 5, {1, 0, 1}, packed, asVarint, 0),
          QOPT_DTYPE_BOOL, hostBytes<uint8_t>({1, 0, 1}));
    check(
        typedProto<int64_t>(10, {2}, 5, {0x3c00, 0xfbff}, packed, asVarint, 0),
        QOPT_DTYPE_F16, hostBytes<uint16_t>({0x3c00, 0xfbff}));
    check(
        typedProto<int64_t>(16, {2}, 5, {0x3f80, 0xc040}, packed, asVarint, 0),
        QOPT_DTYPE_BF16, hostBytes<uint16_t>({0x3f80, 0xc040}));
    check(typedProto<int64_t>(7, {3}, 7, {-1, INT64_MIN, INT64_MAX}, packed,
                              asVarint, 0),
          QOPT_DTYPE_I64, hostBytes<int64_t>({-1, INT64_MIN, INT64_MAX}));
    check(typedProto<int64_t>(12, {2}, 11, {4294967295ll, 3}, packed, asVarint,
                              0),
          QOPT_DTYPE_U32, hostBytes<uint32_t>({4294967295u, 3}));
    check(
        typedProto<int64_t>(13, {2}, 11, {-1, 1ll << 62}, packed, asVarint, 0),
        QOPT_DTYPE_U64, hostBytes<uint64_t>({~0ull, 1ull << 62}));
  }
}

TEST_F(TensorIOTest, PbInt32DataFollowsProtobufConversions) {
  // A protobuf int32 keeps the low 32 bits of the varint; any non-zero
  // bool is true (as numpy_helper.to_array's astype(bool)).
  TensorPtr i32 = loadPbBytes(typedProto<int64_t>(
      6, {2}, 5, {(1ll << 32) + 5, -(1ll << 33) - 1}, true, asVarint, 0));
  ASSERT_TRUE(i32);
  EXPECT_EQ(dataOf(i32.get()), hostBytes<int32_t>({5, -1}));
  TensorPtr b = loadPbBytes(
      typedProto<int64_t>(9, {3}, 5, {2, 0, -7}, false, asVarint, 0));
  ASSERT_TRUE(b);
  EXPECT_EQ(dataOf(b.get()), hostBytes<uint8_t>({1, 0, 1}));
}

TEST_F(TensorIOTest, PbConcatenatesRepeatedOccurrences) {
  // Packed dims, then unpacked values in several runs, as a parser must
  // merge them.
  std::string proto = bytesField(1, varint(2) + varint(2)) + varintField(2, 6) +
                      bytesField(5, varint(10) + varint(20)) +
                      varintField(5, 30) + bytesField(5, varint(40));
  TensorPtr t = loadPbBytes(proto);
  ASSERT_TRUE(t);
  EXPECT_EQ(dimsOf(t.get()), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(dataOf(t.get()), hostBytes<int32_t>({10, 20, 30, 40}));
}

TEST_F(TensorIOTest, PbSkipsUnknownFieldsInAnyOrder) {
  std::string group =
      tag(102, 3) + varintField(1, 5) + tag(2, 3) + tag(2, 4) + tag(102, 4);
  std::string proto = bytesField(9, fileBytes<int16_t>({-7, 9})) +
                      bytesField(12, "a doc") + varintField(99, 123456789) +
                      tag(100, 5) + "abcd" + tag(101, 1) + "abcdefgh" + group +
                      bytesField(16, bytesField(1, "k") + bytesField(2, "v")) +
                      bytesField(8, "first") + varintField(2, 5) +
                      dimsField({2}) + varintField(14, 0) +
                      bytesField(8, "name");
  std::string name;
  TensorPtr t = loadPb(write("t.pb", proto), &name);
  ASSERT_TRUE(t);
  EXPECT_EQ(name, "name"); // the last occurrence of a scalar field wins
  EXPECT_EQ(qopt_tensor_dtype(t.get()), QOPT_DTYPE_I16);
  EXPECT_EQ(dataOf(t.get()), hostBytes<int16_t>({-7, 9}));
}

TEST_F(TensorIOTest, PbNameIsEmptyWhenAbsent) {
  std::string name = "unset";
  TensorPtr t = loadPb(
      write("t.pb", varintField(2, 3) + bytesField(9, std::string(1, '\x05'))),
      &name);
  ASSERT_TRUE(t);
  EXPECT_EQ(name, "");
  EXPECT_EQ(qopt_tensor_rank(t.get()), 0);
}

TEST_F(TensorIOTest, PbRejectsRawDataSizeMismatch) {
  std::string p = write("r.pb", dimsField({2, 3}) + varintField(2, 1) +
                                    bytesField(9, std::string(8, '\0')));
  EXPECT_TRUE(pbFails(p, {"raw_data has 8 bytes but float32[2,3] needs 24"}));
}

TEST_F(TensorIOTest, PbRejectsExternalData) {
  std::string base = dimsField({1}) + varintField(2, 1);
  EXPECT_TRUE(pbFails(write("loc.pb", base + varintField(14, 1)),
                      {"external data", "not supported"}));
  EXPECT_TRUE(pbFails(write("loc2.pb", base + varintField(14, 7)),
                      {"unknown data_location 7"}));
  std::string entry = bytesField(1, "location") + bytesField(2, "w.bin");
  EXPECT_TRUE(pbFails(write("ext.pb", base + bytesField(13, entry)),
                      {"external data", "not supported"}));
}

TEST_F(TensorIOTest, PbRejectsStringAndSegmentedTensors) {
  EXPECT_TRUE(pbFails(write("s.pb", dimsField({1}) + varintField(2, 8) +
                                        bytesField(6, "hello")),
                      {"string tensors"}));
  EXPECT_TRUE(pbFails(write("s2.pb", dimsField({0}) + varintField(2, 8)),
                      {"string tensors", "STRING"}));
  EXPECT_TRUE(pbFails(write("seg.pb", dimsField({1}) + varintField(2, 1) +
                                          bytesField(3, varintField(1, 0))),
                      {"segment"}));
}

TEST_F(TensorIOTest, PbRejectsUnsupportedDataTypes) {
  std::string data = bytesField(9, std::string(8, '\0'));
  EXPECT_TRUE(pbFails(write("u.pb", dimsField({1}) + varintField(2, 99) + data),
                      {"unsupported data_type 99"}));
  EXPECT_TRUE(
      pbFails(write("f8.pb", dimsField({1}) + varintField(2, 24) + data),
              {"data_type 24", "FLOAT8E8M0"}));
  EXPECT_TRUE(pbFails(write("c.pb", dimsField({1}) + varintField(2, 14) + data),
                      {"data_type 14", "COMPLEX64"}));
  EXPECT_TRUE(pbFails(
      write("neg.pb", dimsField({1}) + varintField(2, uint64_t(-3)) + data),
      {"data_type -3"}));
  EXPECT_TRUE(pbFails(write("none.pb", dimsField({1}) + data),
                      {"data_type is missing"}));
  EXPECT_TRUE(
      pbFails(write("zero.pb", dimsField({1}) + varintField(2, 0) + data),
              {"data_type is missing or UNDEFINED"}));
}

TEST_F(TensorIOTest, PbRejectsMismatchedTypedFields) {
  EXPECT_TRUE(pbFails(
      write("n.pb", typedProto<int64_t>(6, {3}, 5, {1, 2}, true, asVarint, 0)),
      {"int32_data has 2 values but int32[3] needs 3"}));
  EXPECT_TRUE(pbFails(
      write("w.pb", typedProto<float>(6, {1}, 4, {1.0f}, true, asFixed32, 5)),
      {"float_data cannot hold int32 values", "int32_data"}));
  EXPECT_TRUE(pbFails(
      write("u.pb", typedProto<int64_t>(12, {1}, 7, {1}, false, asVarint, 0)),
      {"int64_data cannot hold uint32 values", "uint64_data"}));
  EXPECT_TRUE(pbFails(write("both.pb", dimsField({1}) + varintField(2, 1) +
                                           bytesField(9, asFixed32(1.0f)) +
                                           bytesField(4, asFixed32(1.0f))),
                      {"both raw_data and float_data"}));
  EXPECT_TRUE(pbFails(write("two.pb", dimsField({1}) + varintField(2, 1) +
                                          bytesField(4, asFixed32(1.0f)) +
                                          varintField(7, 1)),
                      {"both float_data and int64_data"}));
  EXPECT_TRUE(pbFails(write("none.pb", dimsField({2}) + varintField(2, 1)),
                      {"no data", "float32[2] needs 2 values"}));
}

TEST_F(TensorIOTest, PbRejectsOutOfRangeValues) {
  EXPECT_TRUE(pbFails(write("u8.pb", typedProto<int64_t>(2, {2}, 5, {1, 300},
                                                         true, asVarint, 0)),
                      {"int32_data[1] = 300 is out of range for uint8"}));
  EXPECT_TRUE(pbFails(write("i8.pb", typedProto<int64_t>(3, {1}, 5, {-129},
                                                         false, asVarint, 0)),
                      {"int32_data[0] = -129 is out of range for int8"}));
  EXPECT_TRUE(pbFails(write("f16.pb", typedProto<int64_t>(10, {1}, 5, {65536},
                                                          false, asVarint, 0)),
                      {"out of range for float16"}));
  EXPECT_TRUE(
      pbFails(write("u32.pb", typedProto<int64_t>(12, {1}, 11, {1ll << 32},
                                                  true, asVarint, 0)),
              {"uint64_data[0] = 4294967296 is out of range for uint32"}));
}

TEST_F(TensorIOTest, PbRejectsMalformedWireData) {
  struct Case {
    const char *label;
    std::string bytes;
    const char *message;
  } cases[] = {
      {"truncated varint", varintField(2, 1) + std::string("\x08\x80", 2),
       "truncated varint at byte 3"},
      {"11-byte varint",
       varintField(2, 1) + "\x08" + std::string(10, '\x80') + "\x01",
       "longer than 64 bits"},
      {"10th byte too big", "\x08" + std::string(9, '\xff') + "\x02",
       "longer than 64 bits"},
      {"length past end", varintField(2, 1) + tag(9, 2) + varint(100) + "abc",
       "length 100 at byte 3 runs past the end (3 bytes remain)"},
      {"fixed past end", varintField(2, 1) + tag(4, 5) + "ab",
       "needs 4 bytes, only 2 remain"},
      {"dims as fixed32", tag(1, 5) + "abcd",
       "field 1 (dims) has wire type 5 (32-bit); expected 0 (varint)"},
      {"data_type as bytes", bytesField(2, "x"),
       "field 2 (data_type) has wire type 2"},
      {"float_data as varint", varintField(2, 1) + varintField(4, 1),
       "field 4 (float_data) has wire type 0 (varint); expected 5 (32-bit) "
       "or 2 (packed)"},
      {"raw_data as varint", varintField(9, 1),
       "field 9 (raw_data) has wire type 0"},
      {"packed float_data", varintField(2, 1) + bytesField(4, "abcde"),
       "packed float_data at byte 3 has 5 bytes, not a multiple of 4"},
      {"packed double_data", varintField(2, 11) + bytesField(10, "abcd"),
       "not a multiple of 8"},
      {"packed varints", varintField(2, 6) + bytesField(5, "\x01\x80"),
       "packed int32_data: truncated varint"},
      {"invalid wire type", varintField(2, 1) + tag(50, 6),
       "invalid wire type 6"},
      {"field number 0", std::string("\x00\x01", 2), "bad field tag 0"},
      {"huge tag", varint(1ull << 40), "bad field tag"},
      {"unterminated group", varintField(2, 1) + tag(60, 3) + varintField(1, 1),
       "group of field 60 is not terminated"},
      {"mismatched group", tag(60, 3) + tag(61, 4), "closes field 60"},
      {"stray end group", tag(60, 4), "unexpected end-group tag of field 60"},
      {"deep groups",
       [] {
         std::string s;
         for (int i = 0; i < 40; ++i)
           s += tag(60, 3);
         return s;
       }(),
       "nested too deeply"},
      {"negative dim", varintField(1, uint64_t(-2)) + varintField(2, 1),
       "negative dim -2"},
      {"packed negative dim", bytesField(1, varint(uint64_t(-2))),
       "packed dims: negative dim -2"},
      {"rank 17",
       [] {
         std::string s;
         for (int i = 0; i < 17; ++i)
           s += varintField(1, 1);
         return s;
       }(),
       "more than 16 dims"},
      {"huge shape", dimsField({1ll << 32, 1ll << 32}) + varintField(2, 1),
       "shape float32[4294967296,4294967296] is too large"},
      {"empty file", "", "empty file"},
      {"npy file", npyFile(npyDict("<f4", "(1,)"), std::string(4, '\0')),
       "this is a .npy file"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_TRUE(pbFails(write("bad.pb", c.bytes), {c.message}));
  }
}

//===----------------------------------------------------------------------===//
// Dispatch and arguments
//===----------------------------------------------------------------------===//

TEST_F(TensorIOTest, LoadDispatchesOnTheExtension) {
  TensorPtr t = patterned(QOPT_DTYPE_I8, {5});
  std::string npy = path("a.npy"), pb = path("a.pb"), upper = path("b.NPY");
  ASSERT_EQ(qopt_tensor_save_npy(t.get(), npy.c_str()), QOPT_OK);
  ASSERT_EQ(qopt_tensor_save_pb(t.get(), "a", pb.c_str()), QOPT_OK);
  ASSERT_EQ(qopt_tensor_save_npy(t.get(), upper.c_str()), QOPT_OK);
  for (const std::string &p : {npy, pb, upper}) {
    SCOPED_TRACE(p);
    qopt_tensor *back = nullptr;
    ASSERT_EQ(qopt_tensor_load(p.c_str(), &back), QOPT_OK) << qopt_last_error();
    TensorPtr owned(back);
    EXPECT_EQ(dataOf(back), dataOf(t.get()));
  }
  // The extension decides, not the contents.
  std::string npyAsPb = path("npy.pb");
  fs::copy_file(npy, npyAsPb);
  qopt_tensor *back = nullptr;
  EXPECT_TRUE(failsWith(qopt_tensor_load(npyAsPb.c_str(), &back), npyAsPb,
                        {"this is a .npy file"}));

  std::string bin = write("t.bin", read(npy));
  EXPECT_TRUE(failsWith(qopt_tensor_load(bin.c_str(), &back), bin,
                        {"unknown tensor file extension '.bin'"}));
  std::string none = write("noext", read(npy));
  EXPECT_TRUE(failsWith(qopt_tensor_load(none.c_str(), &back), none,
                        {"no file extension"}));
  std::string dotted = path("dir.npy/file");
  EXPECT_TRUE(failsWith(qopt_tensor_load(dotted.c_str(), &back), dotted,
                        {"no file extension"}));
  EXPECT_EQ(back, nullptr);
}

TEST_F(TensorIOTest, NullArgumentsAreErrors) {
  qopt_tensor *t = nullptr;
  EXPECT_EQ(qopt_tensor_load_npy(nullptr, &t), QOPT_ERROR);
  EXPECT_EQ(qopt_tensor_load_npy("x.npy", nullptr), QOPT_ERROR);
  EXPECT_EQ(qopt_tensor_load_pb(nullptr, &t, nullptr), QOPT_ERROR);
  EXPECT_EQ(qopt_tensor_load(nullptr, &t), QOPT_ERROR);
  EXPECT_EQ(qopt_tensor_save_npy(nullptr, "x.npy"), QOPT_ERROR);
  EXPECT_EQ(qopt_tensor_save_pb(nullptr, "x", "x.pb"), QOPT_ERROR);
  EXPECT_NE(std::string(qopt_last_error()).find("null"), std::string::npos);
  TensorPtr tensor = patterned(QOPT_DTYPE_F32, {1});
  EXPECT_EQ(qopt_tensor_save_npy(tensor.get(), nullptr), QOPT_ERROR);
  EXPECT_EQ(qopt_tensor_save_pb(tensor.get(), "x", nullptr), QOPT_ERROR);
}

} // namespace

namespace {

// 4- and 2-bit integers: one byte per element in memory, packed (low bits
// first) in TensorProto files, refused by .npy.
TEST(TensorIOSubByte, NpyHoldsNumpysDtypesOnly) {
  EXPECT_TRUE(qopt_dtype_has_npy(QOPT_DTYPE_F32));
  EXPECT_TRUE(qopt_dtype_has_npy(QOPT_DTYPE_BOOL));
  EXPECT_FALSE(qopt_dtype_has_npy(QOPT_DTYPE_BF16));
  EXPECT_FALSE(qopt_dtype_has_npy(QOPT_DTYPE_F8E5M2));
  EXPECT_FALSE(qopt_dtype_has_npy(QOPT_DTYPE_INVALID));
}

TEST(TensorIOSubByte, PackedTensorProtoRoundTrips) {
  std::string dir = ::testing::TempDir();
  struct Case {
    qopt_dtype dtype;
    std::vector<int8_t> values;
    std::vector<unsigned char> packed;
  } cases[] = {{QOPT_DTYPE_I4, {1, -2, 7, -8, 0}, {0xE1, 0x87, 0x00}},
               {QOPT_DTYPE_U4, {15, 0, 3}, {0x0F, 0x03}},
               {QOPT_DTYPE_I2, {1, -2, 1, 0, -1}, {0x19, 0x03}},
               {QOPT_DTYPE_U2, {3, 2, 1, 0, 3, 3}, {0x1B, 0x0F}}};
  for (const Case &c : cases) {
    int64_t n = int64_t(c.values.size());
    qopt_tensor *t = nullptr;
    ASSERT_EQ(qopt_tensor_create_copy(c.dtype, 1, &n, c.values.data(), &t),
              QOPT_OK);
    std::string path = dir + "/sub_" + qopt_dtype_name(c.dtype) + ".pb";
    ASSERT_EQ(qopt_tensor_save_pb(t, "x", path.c_str()), QOPT_OK)
        << qopt_last_error();
    // The file holds the packed bytes as raw_data (the last field).
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
    ASSERT_GE(bytes.size(), c.packed.size());
    EXPECT_EQ(0, std::memcmp(bytes.data() + bytes.size() - c.packed.size(),
                             c.packed.data(), c.packed.size()))
        << qopt_dtype_name(c.dtype);
    qopt_tensor *back = nullptr;
    ASSERT_EQ(qopt_tensor_load(path.c_str(), &back), QOPT_OK)
        << qopt_last_error();
    EXPECT_EQ(qopt_tensor_dtype(back), c.dtype);
    ASSERT_EQ(qopt_tensor_num_elements(back), n);
    EXPECT_EQ(0, std::memcmp(qopt_tensor_const_data(back), c.values.data(),
                             size_t(n)))
        << qopt_dtype_name(c.dtype);
    // .npy cannot hold them.
    EXPECT_FALSE(qopt_dtype_has_npy(c.dtype)) << qopt_dtype_name(c.dtype);
    std::string npy = dir + "/sub.npy";
    EXPECT_NE(qopt_tensor_save_npy(t, npy.c_str()), QOPT_OK);
    EXPECT_NE(std::string(qopt_last_error()).find("cannot be stored in .npy"),
              std::string::npos);
    qopt_tensor_free(back);
    qopt_tensor_free(t);
  }
}

} // namespace
