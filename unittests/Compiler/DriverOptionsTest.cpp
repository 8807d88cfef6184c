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

} // namespace
