//===- TensorViewTest.cpp - tensors over caller-owned memory --------------===//
//
// qopt_tensor_create_view: the Python bindings hand numpy and DLPack buffers
// to the runtime through it without a copy.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

void countRelease(void *context) { ++*static_cast<int *>(context); }

int nullReleases = 0;
void countNullRelease(void *context) {
  if (!context)
    ++nullReleases;
}

TEST(TensorViewTest, SharesMemoryAndReleasesOnce) {
  alignas(4) float values[6] = {1, 2, 3, 4, 5, 6};
  int64_t dims[] = {2, 3};
  int released = 0;
  qopt_tensor *t = nullptr;
  ASSERT_EQ(qopt_tensor_create_view(QOPT_DTYPE_F32, 2, dims, values,
                                    countRelease, &released, &t),
            QOPT_OK);
  EXPECT_EQ(qopt_tensor_data(t), static_cast<void *>(values));
  EXPECT_EQ(qopt_tensor_num_elements(t), 6);
  EXPECT_EQ(qopt_tensor_byte_size(t), sizeof(values));
  static_cast<float *>(qopt_tensor_data(t))[5] = 60;
  EXPECT_EQ(values[5], 60);
  EXPECT_EQ(released, 0);
  qopt_tensor_free(t);
  EXPECT_EQ(released, 1);
}

TEST(TensorViewTest, WithoutReleaseTheMemoryIsNotOwned) {
  int64_t value = 7;
  qopt_tensor *t = nullptr;
  ASSERT_EQ(qopt_tensor_create_view(QOPT_DTYPE_I64, 0, nullptr, &value, nullptr,
                                    nullptr, &t),
            QOPT_OK);
  EXPECT_EQ(qopt_tensor_rank(t), 0);
  qopt_tensor_free(t); // must not free() the stack
  EXPECT_EQ(value, 7);
}

TEST(TensorViewTest, NullContextStillReleased) {
  float x = 0;
  int64_t dims[] = {1};
  qopt_tensor *t = nullptr;
  nullReleases = 0;
  ASSERT_EQ(qopt_tensor_create_view(QOPT_DTYPE_F32, 1, dims, &x,
                                    countNullRelease, nullptr, &t),
            QOPT_OK);
  qopt_tensor_free(t);
  EXPECT_EQ(nullReleases, 1);
}

TEST(TensorViewTest, RefusesBadArguments) {
  alignas(8) char buffer[16] = {};
  int64_t dims[] = {2};
  int64_t negative[] = {-1};
  int released = 0;
  qopt_tensor *t = nullptr;
  auto expectError = [&](qopt_status status, const char *text) {
    EXPECT_NE(status, QOPT_OK);
    EXPECT_EQ(t, nullptr);
    EXPECT_NE(std::string(qopt_last_error()).find(text), std::string::npos)
        << qopt_last_error();
  };
  expectError(qopt_tensor_create_view(QOPT_DTYPE_F32, 1, dims, nullptr,
                                      countRelease, &released, &t),
              "null data");
  expectError(qopt_tensor_create_view(QOPT_DTYPE_F32, 1, dims, buffer + 1,
                                      countRelease, &released, &t),
              "not aligned");
  expectError(qopt_tensor_create_view(QOPT_DTYPE_F32, 1, negative, buffer,
                                      countRelease, &released, &t),
              "negative dim");
  expectError(qopt_tensor_create_view(qopt_dtype(99), 1, dims, buffer,
                                      countRelease, &released, &t),
              "unknown tensor dtype");
  expectError(qopt_tensor_create_view(QOPT_DTYPE_F32, QOPT_MAX_RANK + 1, dims,
                                      buffer, countRelease, &released, &t),
              "bad rank");
  EXPECT_NE(qopt_tensor_create_view(QOPT_DTYPE_F32, 1, dims, buffer, nullptr,
                                    nullptr, nullptr),
            QOPT_OK);
  // Failure never calls release: the caller still owns its reference.
  EXPECT_EQ(released, 0);
  // An empty tensor needs no data.
  int64_t empty[] = {0};
  ASSERT_EQ(qopt_tensor_create_view(QOPT_DTYPE_F32, 1, empty, nullptr, nullptr,
                                    nullptr, &t),
            QOPT_OK);
  qopt_tensor_free(t);
}

} // namespace
