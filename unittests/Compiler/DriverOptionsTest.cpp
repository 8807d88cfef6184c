//===- DriverOptionsTest.cpp - CompileOptions keys of issue 25 ------------===//
//
// The keys Python's compile() passes through CompileOptions::set for the
// calibration check and the accuracy target.
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/Driver.h"

#include <gtest/gtest.h>

using namespace mlir::qopt;

namespace {

TEST(DriverOptions, AccuracyTargetAndCalibrationMargin) {
  CompileOptions o;
  std::string error;
  EXPECT_FALSE(o.accuracyTarget.has_value());
  EXPECT_EQ(o.calibrationMarginDb, 3.0);
  ASSERT_TRUE(mlir::succeeded(o.set("accuracy-target", "25.5", error)));
  ASSERT_TRUE(o.accuracyTarget.has_value());
  EXPECT_EQ(*o.accuracyTarget, 25.5);
  ASSERT_TRUE(mlir::succeeded(o.set("calibration-margin-db", "-1", error)));
  EXPECT_EQ(o.calibrationMarginDb, -1.0);
  EXPECT_TRUE(mlir::failed(o.set("accuracy-target", "high", error)));
  EXPECT_EQ(error, "--accuracy-target=high: expected a number");
  std::string keys = CompileOptions::describeKeys();
  EXPECT_NE(keys.find("accuracy-target"), std::string::npos);
  EXPECT_NE(keys.find("calibration-margin-db"), std::string::npos);
}

TEST(DriverOptions, WeightRoundingAndBiasCorrection) {
  CompileOptions o;
  std::string error;
  EXPECT_EQ(o.weightRounding, WeightRounding::Nearest);
  EXPECT_FALSE(o.biasCorrection);
  ASSERT_TRUE(mlir::succeeded(o.set("weight-rounding", "gptq", error)));
  EXPECT_EQ(o.weightRounding, WeightRounding::GPTQ);
  ASSERT_TRUE(mlir::succeeded(o.set("weight-rounding", "auto", error)));
  EXPECT_EQ(o.weightRounding, WeightRounding::Auto);
  ASSERT_TRUE(mlir::succeeded(o.set("activation-type", "auto", error)));
  EXPECT_EQ(o.activationType, ActivationStorage::Auto);
  ASSERT_TRUE(mlir::succeeded(o.set("bias-correction", "true", error)));
  EXPECT_TRUE(o.biasCorrection);
  EXPECT_TRUE(mlir::failed(o.set("weight-rounding", "stochastic", error)));
  EXPECT_NE(error.find("weight-rounding"), std::string::npos);
  EXPECT_NE(error.find("nearest, gptq, auto"), std::string::npos);
  EXPECT_TRUE(mlir::failed(o.set("bias-correction", "maybe", error)));
  std::string keys = CompileOptions::describeKeys();
  EXPECT_NE(keys.find("weight-rounding"), std::string::npos);
  EXPECT_NE(keys.find("bias-correction"), std::string::npos);
}

TEST(DriverOptions, WeightGranularityAndSymmetry) {
  CompileOptions o;
  std::string error;
  EXPECT_EQ(o.weightGranularity, WeightGranularity::PerChannel);
  EXPECT_EQ(o.weightSymmetry, WeightSymmetry::Symmetric);
  ASSERT_TRUE(mlir::succeeded(o.set("weight-granularity", "auto", error)));
  EXPECT_EQ(o.weightGranularity, WeightGranularity::Auto);
  ASSERT_TRUE(
      mlir::succeeded(o.set("weight-granularity", "per-tensor", error)));
  EXPECT_EQ(o.weightGranularity, WeightGranularity::PerTensor);
  EXPECT_TRUE(mlir::failed(o.set("weight-granularity", "per_row", error)));
  EXPECT_EQ(error, "--weight-granularity='per_row' is not one of: "
                   "per-channel, per-tensor, auto");
  // weight-asymmetric: a bool as before, or auto.
  ASSERT_TRUE(mlir::succeeded(o.set("weight-asymmetric", "true", error)));
  EXPECT_EQ(o.weightSymmetry, WeightSymmetry::Asymmetric);
  ASSERT_TRUE(mlir::succeeded(o.set("weight-asymmetric", "auto", error)));
  EXPECT_EQ(o.weightSymmetry, WeightSymmetry::Auto);
  ASSERT_TRUE(mlir::succeeded(o.set("weight-asymmetric", "false", error)));
  EXPECT_EQ(o.weightSymmetry, WeightSymmetry::Symmetric);
  EXPECT_TRUE(mlir::failed(o.set("weight-asymmetric", "sometimes", error)));
  EXPECT_NE(error.find("weight-asymmetric"), std::string::npos);
  EXPECT_NE(error.find("(or auto)"), std::string::npos);
  std::string keys = CompileOptions::describeKeys();
  EXPECT_NE(keys.find("weight-granularity"), std::string::npos);
}

} // namespace
