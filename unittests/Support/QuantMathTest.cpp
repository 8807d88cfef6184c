//===- QuantMathTest.cpp - uniform affine quantization arithmetic ---------===//
//
// Expected values come from shared/REFERENCE.md (ONNX QuantizeLinear and the
// worked examples of the project's source notes), not from our own code.
//
//===----------------------------------------------------------------------===//

#include "qopt/Support/QuantMath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace qopt;

namespace {

TEST(StorageRange, MatchesOnnxSaturationRanges) {
  EXPECT_EQ(storageRange(StorageType::Int8).min, -128);
  EXPECT_EQ(storageRange(StorageType::Int8).max, 127);
  EXPECT_EQ(storageRange(StorageType::UInt8).min, 0);
  EXPECT_EQ(storageRange(StorageType::UInt8).max, 255);
  EXPECT_EQ(storageRange(StorageType::Int4).min, -8);
  EXPECT_EQ(storageRange(StorageType::Int4).max, 7);
  EXPECT_EQ(storageRange(StorageType::UInt4).min, 0);
  EXPECT_EQ(storageRange(StorageType::UInt4).max, 15);
  EXPECT_EQ(symmetricStorageRange(StorageType::Int8).min, -127);
  EXPECT_EQ(symmetricStorageRange(StorageType::UInt8).min, 0);
}

TEST(StorageRange, WideTypes) {
  EXPECT_EQ(storageRange(StorageType::Int16).min, -32768);
  EXPECT_EQ(storageRange(StorageType::Int16).max, 32767);
  EXPECT_EQ(storageRange(StorageType::UInt16).max, 65535);
  EXPECT_EQ(storageRange(StorageType::Int32).min, -2147483648LL);
  EXPECT_EQ(storageRange(StorageType::Int32).max, 2147483647LL);
  EXPECT_EQ(symmetricStorageRange(StorageType::Int4).min, -7);
  EXPECT_EQ(symmetricStorageRange(StorageType::Int16).min, -32767);
}

TEST(StorageRange, ParsesNames) {
  EXPECT_EQ(parseStorageType("int8"), StorageType::Int8);
  EXPECT_EQ(parseStorageType("uint8"), StorageType::UInt8);
  EXPECT_EQ(parseStorageType("int4"), StorageType::Int4);
  EXPECT_EQ(parseStorageType("uint4"), StorageType::UInt4);
  EXPECT_EQ(parseStorageType("int16"), StorageType::Int16);
  EXPECT_EQ(parseStorageType("uint16"), StorageType::UInt16);
  EXPECT_EQ(parseStorageType("int32"), StorageType::Int32);
  EXPECT_FALSE(parseStorageType("float8").has_value());
  EXPECT_FALSE(parseStorageType("").has_value());
}

TEST(RoundHalfToEven, TiesGoToEven) {
  EXPECT_EQ(roundHalfToEven(0.5), 0.0);
  EXPECT_EQ(roundHalfToEven(1.5), 2.0);
  EXPECT_EQ(roundHalfToEven(2.5), 2.0);
  EXPECT_EQ(roundHalfToEven(3.5), 4.0);
  EXPECT_EQ(roundHalfToEven(-0.5), 0.0);
  EXPECT_EQ(roundHalfToEven(-1.5), -2.0);
  EXPECT_EQ(roundHalfToEven(-2.5), -2.0);
}

TEST(RoundHalfToEven, NonTiesRoundToNearest) {
  EXPECT_EQ(roundHalfToEven(2.4999), 2.0);
  EXPECT_EQ(roundHalfToEven(2.5001), 3.0);
  EXPECT_EQ(roundHalfToEven(-2.6), -3.0);
  EXPECT_EQ(roundHalfToEven(63.75), 64.0);
}

TEST(Quantize, SaturatesToStorageRange) {
  QuantParams p{0.1f, 0};
  StorageRange i8 = storageRange(StorageType::Int8);
  EXPECT_EQ(quantizeValue(1000.0f, p, i8), 127);
  EXPECT_EQ(quantizeValue(-1000.0f, p, i8), -128);
  EXPECT_EQ(quantizeValue(std::numeric_limits<float>::infinity(), p, i8), 127);
  EXPECT_EQ(quantizeValue(-std::numeric_limits<float>::infinity(), p, i8),
            -128);
  StorageRange u4 = storageRange(StorageType::UInt4);
  EXPECT_EQ(quantizeValue(-3.0f, QuantParams{1.0f, 2}, u4), 0);
  EXPECT_EQ(quantizeValue(30.0f, QuantParams{1.0f, 2}, u4), 15);
}

TEST(Quantize, RoundsHalfToEvenAfterDivision) {
  StorageRange u8 = storageRange(StorageType::UInt8);
  // x / scale = 2.5 -> 2, 3.5 -> 4 (then + zero point).
  EXPECT_EQ(quantizeValue(5.0f, QuantParams{2.0f, 10}, u8), 12);
  EXPECT_EQ(quantizeValue(7.0f, QuantParams{2.0f, 10}, u8), 14);
  EXPECT_EQ(quantizeValue(-5.0f, QuantParams{2.0f, 10}, u8), 8);
}

TEST(Quantize, NanMapsToZeroPoint) {
  EXPECT_EQ(quantizeValue(std::nanf(""), QuantParams{0.5f, 3},
                          storageRange(StorageType::Int8)),
            3);
}

TEST(Dequantize, IsAffine) {
  EXPECT_FLOAT_EQ(dequantizeValue(12, QuantParams{2.0f, 10}), 4.0f);
  EXPECT_FLOAT_EQ(dequantizeValue(-128, QuantParams{0.5f, 0}), -64.0f);
}

TEST(ChooseParams, WorkedExampleZeroTo1000Uint8) {
  auto p = chooseQuantParams(0.0f, 1000.0f, StorageType::UInt8, false);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->scale, 1000.0 / 255.0, 1e-5);
  EXPECT_NEAR(p->scale, 3.92, 0.005);
  EXPECT_EQ(p->zeroPoint, 0);
  EXPECT_EQ(quantizeValue(250.0f, *p, storageRange(StorageType::UInt8)), 64);
}

TEST(ChooseParams, WorkedExampleMinus20To1000Uint8) {
  auto p = chooseQuantParams(-20.0f, 1000.0f, StorageType::UInt8, false);
  ASSERT_TRUE(p.has_value());
  EXPECT_FLOAT_EQ(p->scale, 4.0f);
  EXPECT_EQ(p->zeroPoint, 5);
  // -20 and 1000 land exactly on the range ends.
  EXPECT_EQ(quantizeValue(-20.0f, *p, storageRange(StorageType::UInt8)), 0);
  EXPECT_EQ(quantizeValue(1000.0f, *p, storageRange(StorageType::UInt8)), 255);
}

TEST(ChooseParams, RangeIsWidenedToIncludeZero) {
  // [2, 10] is treated as [0, 10]: 0 must be exactly representable.
  auto p = chooseQuantParams(2.0f, 10.0f, StorageType::Int8, false);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->scale, 10.0 / 255.0, 1e-7);
  EXPECT_EQ(p->zeroPoint, -128);
  EXPECT_EQ(dequantizeValue(
                quantizeValue(0.0f, *p, storageRange(StorageType::Int8)), *p),
            0.0f);
}

TEST(ChooseParams, AsymmetricInt8) {
  auto p = chooseQuantParams(-1.0f, 3.0f, StorageType::Int8, false);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->scale, 4.0 / 255.0, 1e-7);
  // qmin - rmin / scale = -128 + 63.75 = -64.25 -> -64.
  EXPECT_EQ(p->zeroPoint, -64);
}

TEST(ChooseParams, SymmetricInt8) {
  auto p = chooseQuantParams(-2.0f, 5.0f, StorageType::Int8, true);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->scale, 5.0 / 127.0, 1e-7);
  EXPECT_EQ(p->zeroPoint, 0);
  EXPECT_EQ(quantizeValue(5.0f, *p, storageRange(StorageType::Int8)), 127);
  EXPECT_EQ(quantizeValue(-5.0f, *p, storageRange(StorageType::Int8)), -127);
}

TEST(ChooseParams, SymmetricUint8CentersAt128) {
  auto p = chooseQuantParams(-1.0f, 0.5f, StorageType::UInt8, true);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->zeroPoint, 128);
  EXPECT_NEAR(p->scale, 2.0 / 255.0, 1e-7);
}

TEST(ChooseParams, AllZeroGetsValidScale) {
  for (StorageType t : {StorageType::Int8, StorageType::UInt8,
                        StorageType::Int4, StorageType::UInt4}) {
    for (bool symmetric : {false, true}) {
      auto p = chooseQuantParams(0.0f, 0.0f, t, symmetric);
      ASSERT_TRUE(p.has_value());
      EXPECT_EQ(p->scale, 1.0f);
      StorageRange r = storageRange(t);
      EXPECT_GE(p->zeroPoint, r.min);
      EXPECT_LE(p->zeroPoint, r.max);
      EXPECT_EQ(dequantizeValue(quantizeValue(0.0f, *p, r), *p), 0.0f);
    }
  }
}

TEST(ChooseParams, ConstantTensorRepresentsItsValue) {
  // min == max == 3: widened to [0, 3]; 3 is the top of the grid.
  auto p = chooseQuantParams(3.0f, 3.0f, StorageType::UInt8, false);
  ASSERT_TRUE(p.has_value());
  StorageRange r = storageRange(StorageType::UInt8);
  EXPECT_FLOAT_EQ(dequantizeValue(quantizeValue(3.0f, *p, r), *p), 3.0f);
  // Negative constant: widened to [-3, 0].
  p = chooseQuantParams(-3.0f, -3.0f, StorageType::Int8, false);
  ASSERT_TRUE(p.has_value());
  EXPECT_FLOAT_EQ(
      dequantizeValue(quantizeValue(-3.0f, *p, storageRange(StorageType::Int8)),
                      *p),
      -3.0f);
}

TEST(ChooseParams, RejectsNonFiniteOrInvertedRanges) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(chooseQuantParams(0.0f, inf, StorageType::Int8, false));
  EXPECT_FALSE(chooseQuantParams(std::nanf(""), 1.0f, StorageType::Int8, true));
  EXPECT_FALSE(chooseQuantParams(2.0f, 1.0f, StorageType::Int8, false));
}

TEST(PerAxis, OneParameterSetPerChannel) {
  // Shape [2, 3], axis 0: rows [-1, 0, 1] and [0, 2, 4].
  std::vector<float> w = {-1, 0, 1, 0, 2, 4};
  auto params = choosePerAxisParams(w, {2, 3}, 0, StorageType::Int8, true);
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 2u);
  EXPECT_NEAR((*params)[0].scale, 1.0 / 127.0, 1e-7);
  EXPECT_NEAR((*params)[1].scale, 4.0 / 127.0, 1e-7);
  EXPECT_EQ((*params)[0].zeroPoint, 0);

  // Axis 1: columns [-1, 0], [0, 2], [1, 4].
  params = choosePerAxisParams(w, {2, 3}, 1, StorageType::Int8, true);
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 3u);
  EXPECT_NEAR((*params)[0].scale, 1.0 / 127.0, 1e-7);
  EXPECT_NEAR((*params)[1].scale, 2.0 / 127.0, 1e-7);
  EXPECT_NEAR((*params)[2].scale, 4.0 / 127.0, 1e-7);
}

TEST(PerAxis, AllZeroChannelGetsValidScale) {
  std::vector<float> w = {0, 0, 1, -2};
  auto params = choosePerAxisParams(w, {2, 2}, 0, StorageType::Int8, true);
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ((*params)[0].scale, 1.0f);
  EXPECT_NEAR((*params)[1].scale, 2.0 / 127.0, 1e-7);
}

TEST(PerAxis, EmptyTensorGetsAllZeroParameters) {
  // The zero dim comes before the axis: every channel saw no value.
  auto params = choosePerAxisParams({}, {0, 3}, 1, StorageType::Int8, true);
  ASSERT_TRUE(params.has_value());
  ASSERT_EQ(params->size(), 3u);
  for (const QuantParams &p : *params)
    EXPECT_EQ(p.scale, 1.0f);
  params = choosePerAxisParams({}, {2, 0}, 0, StorageType::UInt8, false);
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ(params->size(), 2u);
}

TEST(PerAxis, RejectsOverflowingAndNegativeShapes) {
  std::vector<float> w = {1, 2};
  int64_t big = int64_t(1) << 40;
  EXPECT_FALSE(
      choosePerAxisParams(w, {big, big, 2}, 0, StorageType::Int8, true));
  EXPECT_FALSE(choosePerAxisParams(w, {-1, -2}, 0, StorageType::Int8, true));
}

TEST(PerAxis, RejectsBadInput) {
  std::vector<float> w = {1, 2, 3, 4};
  EXPECT_FALSE(choosePerAxisParams(w, {2, 2}, 2, StorageType::Int8, true));
  EXPECT_FALSE(choosePerAxisParams(w, {2, 3}, 0, StorageType::Int8, true));
  EXPECT_FALSE(choosePerAxisParams(w, {2, 2}, -1, StorageType::Int8, true));
  w[1] = std::nanf("");
  EXPECT_FALSE(choosePerAxisParams(w, {2, 2}, 0, StorageType::Int8, true));
}

} // namespace
