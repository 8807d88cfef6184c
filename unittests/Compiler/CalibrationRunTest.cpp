//===- CalibrationRunTest.cpp - observers through a JIT calibration run ---===//

#include "qopt/Compiler/Compiler.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/InitAll.h"
#include "qopt/Runtime/qopt_runtime.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

using namespace mlir;
namespace fs = std::filesystem;

namespace {

// relu(x·Wᵀ) feeding a second linear layer: two observers, the input and
// the hidden activation.
const char *kModel = R"mlir(
func.func @main(%x: tensor<2x3xf32> {onnx.name = "x"}) -> tensor<2x2xf32> {
  %w1 = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]> : tensor<2x3xf32>
  %h = qopt.linear %x, %w1 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 1.0], [2.0, 0.0]]> : tensor<2x2xf32>
  %y = qopt.linear %h, %w2 : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
)mlir";

struct CalibrationRun : ::testing::Test {
  DialectRegistry registry;
  std::unique_ptr<MLIRContext> ctx;
  OwningOpRef<ModuleOp> module;
  fs::path dir;

  void SetUp() override {
    qopt::registerAllDialects(registry);
    ctx = std::make_unique<MLIRContext>(registry);
    module = parseSourceString<ModuleOp>(kModel, ctx.get());
    ASSERT_TRUE(module);
    PassManager pm(ctx.get());
    pm.addPass(qopt::createInsertObserversPass());
    ASSERT_TRUE(succeeded(pm.run(*module)));
    dir = fs::path(::testing::TempDir()) /
          ("calib-" +
           std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }

  void writeSample(const std::string &name, std::vector<float> x) {
    fs::create_directories(dir / name);
    const int64_t dims[2] = {2, 3};
    qopt_tensor *t = nullptr;
    ASSERT_EQ(qopt_tensor_create_copy(QOPT_DTYPE_F32, 2, dims, x.data(), &t),
              QOPT_OK);
    ASSERT_EQ(qopt_tensor_save_npy(t, (dir / name / "x.npy").c_str()), QOPT_OK);
    qopt_tensor_free(t);
  }

  FailureOr<int64_t> run(std::string &error) {
    qopt::CalibrationRunOptions options;
    options.dataDir = dir.string();
    options.bins = 64;
    return qopt::runCalibration(*module, options, error);
  }
};

TEST_F(CalibrationRun, ObserversSeeEverySample) {
  writeSample("s0", {1, 2, 3, -4, 5, 6});
  writeSample("s1", {0.5, -0.5, 0, 7, 0, 0});
  std::string error;
  FailureOr<int64_t> n = run(error);
  ASSERT_TRUE(succeeded(n)) << error;
  EXPECT_EQ(*n, 2);
  ASSERT_EQ(qopt_calibration_observer_ids(nullptr, 0), 2);
  int64_t ids[2];
  qopt_calibration_observer_ids(ids, 2);
  // Observer 0: the input; observer 1: the hidden layer h = [x0, -x1].
  const qopt_histogram *in = qopt_calibration_observer(ids[0]);
  const qopt_histogram *hidden = qopt_calibration_observer(ids[1]);
  ASSERT_TRUE(in && hidden);
  EXPECT_EQ(qopt_histogram_count(in), 12);
  EXPECT_EQ(qopt_histogram_count(hidden), 8);
  float lo, hi;
  ASSERT_EQ(qopt_histogram_choose_range(in, "minmax", 0, 0, &lo, &hi), QOPT_OK);
  EXPECT_EQ(lo, -4);
  EXPECT_EQ(hi, 7);
  // h over both samples: [1, -2], [-4, -5], [0.5, 0.5], [7, 0].
  ASSERT_EQ(qopt_histogram_choose_range(hidden, "minmax", 0, 0, &lo, &hi),
            QOPT_OK);
  EXPECT_EQ(lo, -5);
  EXPECT_EQ(hi, 7);

  // The statistics go onto the observers; qopt-calibrate turns them into
  // parameters: minmax int8 symmetric over [-5, 7] gives scale 7 / 127.
  qopt::attachCalibrationStatistics(*module);
  PassManager pm(ctx.get());
  pm.addPass(qopt::createCalibratePass());
  ASSERT_TRUE(succeeded(pm.run(*module)));
  int seen = 0;
  std::set<int64_t> counts;
  module->walk([&](qopt::ObserveOp op) {
    // x: 2 samples of 2x3 values; h: 2 samples of 2x2.
    ASSERT_TRUE(op.getStatisticsAttr());
    counts.insert(op.getStatisticsAttr().getCount());
    qopt::CalibrationAttr calibration = op.getCalibrationAttr();
    ASSERT_TRUE(calibration);
    EXPECT_EQ(calibration.getMethod(), qopt::CalibrationMethod::MinMax);
    EXPECT_FLOAT_EQ(float(calibration.getType().getScale()), 7.0f / 127.0f);
    EXPECT_EQ(calibration.getType().getZeroPoint(), 0);
    EXPECT_EQ(calibration.getStorage(), qopt::ActivationStorage::Int8);
    ++seen;
  });
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(counts, (std::set<int64_t>{8, 12}));
}

TEST_F(CalibrationRun, ErrorsNameTheSampleAndTensor) {
  std::string error;
  fs::create_directories(dir);
  EXPECT_TRUE(failed(run(error)));
  EXPECT_NE(error.find("holds no sample folders"), std::string::npos) << error;

  writeSample("s0", {1, 2, 3, 4, 5, 6});
  writeSample("s1", {1, NAN, 3, 4, 5, 6});
  EXPECT_TRUE(failed(run(error)));
  EXPECT_NE(error.find("calibration sample 's1': input 'x' holds a NaN or "
                       "an infinity (element 1)"),
            std::string::npos)
      << error;

  fs::remove_all(dir / "s1");
  fs::create_directories(dir / "s2");
  EXPECT_TRUE(failed(run(error)));
  EXPECT_NE(error.find("calibration sample 's2': no file for input 'x' "
                       "(x.npy or x.pb)"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("expected signature:"), std::string::npos);

  fs::remove_all(dir / "s2");
  fs::create_directories(dir / "s3");
  {
    const int64_t dims[2] = {3, 3};
    std::vector<float> v(9, 1.0f);
    qopt_tensor *t = nullptr;
    ASSERT_EQ(qopt_tensor_create_copy(QOPT_DTYPE_F32, 2, dims, v.data(), &t),
              QOPT_OK);
    ASSERT_EQ(qopt_tensor_save_npy(t, (dir / "s3" / "x.npy").c_str()), QOPT_OK);
    qopt_tensor_free(t);
  }
  EXPECT_TRUE(failed(run(error)));
  EXPECT_NE(error.find("calibration sample 's3': input 'x' has "
                       "float32[3,3], expected float32[2,3]"),
            std::string::npos)
      << error;
}

} // namespace

namespace {
struct ProgressLog {
  std::vector<std::pair<int64_t, int64_t>> calls;
  int64_t stopAfter = -1;
};
bool logProgress(int64_t done, int64_t total, void *userData) {
  auto *log = static_cast<ProgressLog *>(userData);
  log->calls.emplace_back(done, total);
  return done != log->stopAfter;
}
} // namespace

TEST_F(CalibrationRun, ProgressHookSeesEverySampleAndCanStop) {
  writeSample("s0", {1, 2, 3, -4, 5, 6});
  writeSample("s1", {0.5, -0.5, 0, 7, 0, 0});
  writeSample("s2", {0, 0, 0, 0, 0, 0});
  ProgressLog log;
  qopt::setCalibrationProgress(logProgress, &log);
  std::string error;
  FailureOr<int64_t> n = run(error);
  ASSERT_TRUE(succeeded(n)) << error;
  using Calls = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(log.calls, (Calls{{1, 3}, {2, 3}, {3, 3}}));

  // Returning false stops the run after that sample, with a message.
  log = ProgressLog{{}, 2};
  n = run(error);
  EXPECT_TRUE(failed(n));
  EXPECT_EQ(error, "calibration interrupted after 2 of 3 samples");
  EXPECT_EQ(log.calls, (Calls{{1, 3}, {2, 3}}));

  // Without a hook, nothing is called.
  qopt::setCalibrationProgress(nullptr, nullptr);
  log = ProgressLog{};
  error.clear();
  ASSERT_TRUE(succeeded(run(error))) << error;
  EXPECT_TRUE(log.calls.empty());
}
