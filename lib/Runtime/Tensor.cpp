//===- Tensor.cpp - tensors, dtypes and errors of the lean runtime --------===//

#include "RuntimeInternal.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>

using namespace qopt::rt;

namespace {
thread_local std::string lastError;

struct DTypeInfo {
  qopt_dtype dtype;
  const char *name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {{QOPT_DTYPE_F32, "float32", 4},
                                 {QOPT_DTYPE_U8, "uint8", 1},
                                 {QOPT_DTYPE_I8, "int8", 1},
                                 {QOPT_DTYPE_U16, "uint16", 2},
                                 {QOPT_DTYPE_I16, "int16", 2},
                                 {QOPT_DTYPE_I32, "int32", 4},
                                 {QOPT_DTYPE_I64, "int64", 8},
                                 {QOPT_DTYPE_BOOL, "bool", 1},
                                 {QOPT_DTYPE_F16, "float16", 2},
                                 {QOPT_DTYPE_F64, "float64", 8},
                                 {QOPT_DTYPE_U32, "uint32", 4},
                                 {QOPT_DTYPE_U64, "uint64", 8},
                                 {QOPT_DTYPE_BF16, "bfloat16", 2},
                                 {QOPT_DTYPE_U4, "uint4", 1},
                                 {QOPT_DTYPE_I4, "int4", 1},
                                 {QOPT_DTYPE_U2, "uint2", 1},
                                 {QOPT_DTYPE_I2, "int2", 1},
                                 {QOPT_DTYPE_F8E4M3FN, "float8_e4m3fn", 1},
                                 {QOPT_DTYPE_F8E4M3FNUZ, "float8_e4m3fnuz", 1},
                                 {QOPT_DTYPE_F8E5M2, "float8_e5m2", 1},
                                 {QOPT_DTYPE_F8E5M2FNUZ, "float8_e5m2fnuz", 1},
                                 {QOPT_DTYPE_F4E2M1, "float4_e2m1fn", 1}};

/// A small float code as a double: `exp` and `mant` bits, `bias`; FNUZ
/// formats have code signBit as their only NaN; `ieee` formats (E5M2) have
/// infinities and NaNs at the top exponent; E4M3FN has NaN at all ones.
double smallFloat(unsigned code, int exp, int mant, int bias, bool fnuz,
                  bool ieee) {
  int bits = 1 + exp + mant;
  unsigned signBit = 1u << (bits - 1);
  if (fnuz && code == signBit)
    return std::numeric_limits<double>::quiet_NaN();
  bool negative = code & signBit;
  unsigned e = (code >> mant) & ((1u << exp) - 1),
           m = code & ((1u << mant) - 1);
  if (ieee && e == (1u << exp) - 1)
    return m ? std::numeric_limits<double>::quiet_NaN()
             : (negative ? -1.0 : 1.0) *
                   std::numeric_limits<double>::infinity();
  if (!ieee && !fnuz && exp == 4 && e == 15 && m == 7)
    return std::numeric_limits<double>::quiet_NaN(); // E4M3FN
  double v = e ? std::ldexp(1.0 + m / double(1u << mant), int(e) - bias)
               : std::ldexp(m / double(1u << mant), 1 - bias);
  return negative ? -v : v;
}

const DTypeInfo *findDType(qopt_dtype dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return &info;
  return nullptr;
}

// IEEE half to float, for statistics.
double halfToDouble(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0)
    v = std::ldexp(mant, -24);
  else if (exp == 31)
    v = mant ? std::numeric_limits<double>::quiet_NaN()
             : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(mant + 1024, exp - 25);
  return sign ? -v : v;
}

double elementAsDouble(qopt_dtype dtype, const void *data, int64_t i) {
  switch (dtype) {
  case QOPT_DTYPE_F32:
    return static_cast<const float *>(data)[i];
  case QOPT_DTYPE_F64:
    return static_cast<const double *>(data)[i];
  case QOPT_DTYPE_F16:
    return halfToDouble(static_cast<const uint16_t *>(data)[i]);
  case QOPT_DTYPE_BF16: {
    uint32_t bits = uint32_t(static_cast<const uint16_t *>(data)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case QOPT_DTYPE_F8E4M3FN:
    return smallFloat(static_cast<const uint8_t *>(data)[i], 4, 3, 7, false,
                      false);
  case QOPT_DTYPE_F8E4M3FNUZ:
    return smallFloat(static_cast<const uint8_t *>(data)[i], 4, 3, 8, true,
                      false);
  case QOPT_DTYPE_F8E5M2:
    return smallFloat(static_cast<const uint8_t *>(data)[i], 5, 2, 15, false,
                      true);
  case QOPT_DTYPE_F8E5M2FNUZ:
    return smallFloat(static_cast<const uint8_t *>(data)[i], 5, 2, 16, true,
                      false);
  case QOPT_DTYPE_F4E2M1:
    return smallFloat(static_cast<const uint8_t *>(data)[i] & 15, 2, 1, 1,
                      false, false);
  case QOPT_DTYPE_U8:
  case QOPT_DTYPE_BOOL:
  case QOPT_DTYPE_U4:
  case QOPT_DTYPE_U2:
    return static_cast<const uint8_t *>(data)[i];
  case QOPT_DTYPE_I8:
  case QOPT_DTYPE_I4:
  case QOPT_DTYPE_I2:
    return static_cast<const int8_t *>(data)[i];
  case QOPT_DTYPE_U16:
    return static_cast<const uint16_t *>(data)[i];
  case QOPT_DTYPE_I16:
    return static_cast<const int16_t *>(data)[i];
  case QOPT_DTYPE_I32:
    return static_cast<const int32_t *>(data)[i];
  case QOPT_DTYPE_U32:
    return static_cast<const uint32_t *>(data)[i];
  case QOPT_DTYPE_I64:
    return double(static_cast<const int64_t *>(data)[i]);
  case QOPT_DTYPE_U64:
    return double(static_cast<const uint64_t *>(data)[i]);
  default:
    return 0;
  }
}
} // namespace

qopt_tensor::~qopt_tensor() {
  // A view's release function runs even for a null context.
  if (release)
    release(base);
  else if (base)
    std::free(base);
}

qopt_status qopt::rt::fail(std::string message) {
  lastError = std::move(message);
  return QOPT_ERROR;
}

int64_t qopt::rt::checkedNumElements(const std::vector<int64_t> &dims,
                                     size_t elemSize) {
  int64_t n = 1;
  const int64_t limit =
      std::numeric_limits<int64_t>::max() / int64_t(elemSize ? elemSize : 1);
  for (int64_t d : dims) {
    if (d < 0)
      return -1;
    if (d != 0 && n > limit / d)
      return -1;
    n *= d;
  }
  return n;
}

std::string qopt::rt::describe(qopt_dtype dtype,
                               const std::vector<int64_t> &dims) {
  std::ostringstream os;
  os << qopt_dtype_name(dtype) << "[";
  for (size_t i = 0; i < dims.size(); ++i)
    os << (i ? "," : "") << dims[i];
  os << "]";
  return os.str();
}

qopt_tensor *qopt::rt::newTensor(qopt_dtype dtype, std::vector<int64_t> dims) {
  const DTypeInfo *info = findDType(dtype);
  if (!info) {
    fail("unknown tensor dtype " + std::to_string(int(dtype)));
    return nullptr;
  }
  if (dims.size() > QOPT_MAX_RANK) {
    fail("tensor rank " + std::to_string(dims.size()) + " exceeds " +
         std::to_string(QOPT_MAX_RANK));
    return nullptr;
  }
  int64_t n = checkedNumElements(dims, info->size);
  if (n < 0) {
    fail("tensor shape " + describe(dtype, dims) +
         " has a negative dim or is too large");
    return nullptr;
  }
  size_t bytes = size_t(n) * info->size;
  // 64-byte alignment suits every vector width the compiler targets.
  size_t rounded = (bytes + 63) / 64 * 64;
  void *buf = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!buf) {
    fail("out of memory allocating " + std::to_string(bytes) + " bytes");
    return nullptr;
  }
  std::memset(buf, 0, rounded ? rounded : 64);
  auto *t = new (std::nothrow) qopt_tensor;
  if (!t) {
    std::free(buf);
    fail("out of memory");
    return nullptr;
  }
  t->dtype = dtype;
  t->dims = std::move(dims);
  t->data = t->base = buf;
  return t;
}

extern "C" {

const char *qopt_last_error(void) { return lastError.c_str(); }

const char *qopt_dtype_name(qopt_dtype dtype) {
  const DTypeInfo *info = findDType(dtype);
  return info ? info->name : "invalid";
}

size_t qopt_dtype_size(qopt_dtype dtype) {
  const DTypeInfo *info = findDType(dtype);
  return info ? info->size : 0;
}

qopt_dtype qopt_dtype_from_name(const char *name) {
  if (!name)
    return QOPT_DTYPE_INVALID;
  for (const DTypeInfo &info : kDTypes)
    if (std::strcmp(info.name, name) == 0)
      return info.dtype;
  return QOPT_DTYPE_INVALID;
}

qopt_status qopt_tensor_create(qopt_dtype dtype, int rank, const int64_t *dims,
                               qopt_tensor **out) {
  if (!out)
    return fail("qopt_tensor_create: null output pointer");
  *out = nullptr;
  if (rank < 0 || (rank > 0 && !dims))
    return fail("qopt_tensor_create: bad rank or null dims");
  qopt_tensor *t = newTensor(dtype, std::vector<int64_t>(dims, dims + rank));
  if (!t)
    return QOPT_ERROR;
  *out = t;
  return QOPT_OK;
}

qopt_status qopt_tensor_create_copy(qopt_dtype dtype, int rank,
                                    const int64_t *dims, const void *data,
                                    qopt_tensor **out) {
  if (qopt_tensor_create(dtype, rank, dims, out) != QOPT_OK)
    return QOPT_ERROR;
  size_t bytes = qopt_tensor_byte_size(*out);
  if (bytes && !data) {
    qopt_tensor_free(*out);
    *out = nullptr;
    return fail("qopt_tensor_create_copy: null data");
  }
  if (bytes)
    std::memcpy((*out)->data, data, bytes);
  return QOPT_OK;
}

qopt_status qopt_tensor_create_view(qopt_dtype dtype, int rank,
                                    const int64_t *dims, void *data,
                                    void (*release)(void *), void *context,
                                    qopt_tensor **out) {
  if (!out)
    return fail("qopt_tensor_create_view: null output pointer");
  *out = nullptr;
  if (rank < 0 || rank > QOPT_MAX_RANK || (rank > 0 && !dims))
    return fail("qopt_tensor_create_view: bad rank or null dims");
  const DTypeInfo *info = findDType(dtype);
  if (!info)
    return fail("qopt_tensor_create_view: unknown tensor dtype " +
                std::to_string(int(dtype)));
  std::vector<int64_t> shape(dims, dims + rank);
  int64_t n = checkedNumElements(shape, info->size);
  if (n < 0)
    return fail("qopt_tensor_create_view: tensor shape " +
                describe(dtype, shape) + " has a negative dim or is too large");
  if (n > 0 && !data)
    return fail("qopt_tensor_create_view: null data");
  if (reinterpret_cast<uintptr_t>(data) % info->size != 0)
    return fail("qopt_tensor_create_view: data is not aligned to its " +
                std::to_string(info->size) + "-byte elements");
  auto *t = new (std::nothrow) qopt_tensor;
  if (!t)
    return fail("out of memory");
  t->dtype = dtype;
  t->dims = std::move(shape);
  t->data = data;
  // Without a release function the memory is simply not owned.
  t->base = context;
  t->release = release;
  *out = t;
  return QOPT_OK;
}

void qopt_tensor_free(qopt_tensor *tensor) { delete tensor; }

// The getters answer a null tensor with an empty value (and an error
// message) rather than a crash.
qopt_dtype qopt_tensor_dtype(const qopt_tensor *t) {
  if (!t)
    fail("qopt_tensor_dtype: null tensor");
  return t ? t->dtype : QOPT_DTYPE_INVALID;
}
int qopt_tensor_rank(const qopt_tensor *t) {
  if (!t)
    fail("qopt_tensor_rank: null tensor");
  return t ? int(t->dims.size()) : -1;
}
const int64_t *qopt_tensor_dims(const qopt_tensor *t) {
  if (!t)
    fail("qopt_tensor_dims: null tensor");
  return t ? t->dims.data() : nullptr;
}
int64_t qopt_tensor_num_elements(const qopt_tensor *t) {
  if (!t)
    fail("qopt_tensor_num_elements: null tensor");
  return t ? checkedNumElements(t->dims, 1) : -1;
}
size_t qopt_tensor_byte_size(const qopt_tensor *t) {
  int64_t n = qopt_tensor_num_elements(t);
  return t && n > 0 ? size_t(n) * qopt_dtype_size(t->dtype) : 0;
}
void *qopt_tensor_data(qopt_tensor *t) { return t ? t->data : nullptr; }
const void *qopt_tensor_const_data(const qopt_tensor *t) {
  return t ? t->data : nullptr;
}

qopt_status qopt_tensor_stats(const qopt_tensor *t, double *min, double *max,
                              double *mean) {
  if (!t || !min || !max || !mean)
    return fail("qopt_tensor_stats: null argument");
  int64_t n = qopt_tensor_num_elements(t);
  double lo = 0, hi = 0, sum = 0;
  bool any = false;
  for (int64_t i = 0; i < n; ++i) {
    double v = elementAsDouble(t->dtype, t->data, i);
    sum += v;
    if (std::isnan(v))
      continue;
    if (!any || v < lo)
      lo = v;
    if (!any || v > hi)
      hi = v;
    any = true;
  }
  *min = lo;
  *max = hi;
  *mean = n ? sum / double(n) : 0;
  return QOPT_OK;
}

double qopt_now_seconds(void) {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

} // extern "C"
