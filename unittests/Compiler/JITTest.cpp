//===- JITTest.cpp - in-process compilation with the ExecutionEngine -----===//
//
// The JIT path calibration uses: the same pipeline, signature and packed
// entry as a shared-library artifact, run through the lean runtime.
//
//===----------------------------------------------------------------------===//

#include "qopt/Compiler/Compiler.h"
#include "qopt/InitAll.h"
#include "qopt/Runtime/qopt_runtime.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Target/TargetMachine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace mlir;

namespace {

// A linear layer (kernel call), a softmax (reduction loops, exp
// approximation) and a dynamic batch dim.
const char *kModule = R"mlir(
func.func @main(%x: tensor<?x4xf32> {onnx.name = "x", onnx.dim_params = ["batch", ""]})
    -> (tensor<?x3xf32> {onnx.name = "probs"}) {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]> : tensor<3x4xf32>
  %b = arith.constant dense<[0.0, 0.5, -0.5]> : tensor<3xf32>
  %y = qopt.linear %x, %w, %b : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4xf32>
  %e = tensor.empty(%n) : tensor<?x3xf32>
  %s = linalg.softmax dimension(1) ins(%y : tensor<?x3xf32>) outs(%e : tensor<?x3xf32>) -> tensor<?x3xf32>
  return %s : tensor<?x3xf32>
}
)mlir";

TEST(JIT, CompilesAndRunsThroughTheRuntime) {
  DialectRegistry registry;
  qopt::registerAllDialects(registry);
  MLIRContext ctx(registry);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(kModule, &ctx);
  ASSERT_TRUE(module);
  qopt::CPUCompileOptions options;
  ASSERT_TRUE(succeeded(qopt::lowerToLLVMDialect(*module, options)));
  std::string error;
  std::unique_ptr<qopt::JITArtifact> jit =
      qopt::JITArtifact::create(*module, options, error);
  ASSERT_TRUE(jit) << error;

  qopt_model *model = nullptr;
  ASSERT_EQ(qopt_model_create(jit->signature(), jit->entry(), &model), QOPT_OK)
      << qopt_last_error();
  EXPECT_STREQ(qopt_model_input(model, 0)->name, "x");
  EXPECT_STREQ(qopt_model_input(model, 0)->dim_names[0], "batch");
  EXPECT_STREQ(qopt_model_output(model, 0)->name, "probs");

  const int64_t dims[2] = {2, 4};
  const float xs[8] = {1, 2, 3, 4, 0, 0, 0, 0};
  qopt_tensor *x = nullptr, *out = nullptr;
  ASSERT_EQ(qopt_tensor_create_copy(QOPT_DTYPE_F32, 2, dims, xs, &x), QOPT_OK);
  const qopt_tensor *inputs[1] = {x};
  ASSERT_EQ(qopt_model_run(model, inputs, 1, &out, 1), QOPT_OK)
      << qopt_last_error();
  ASSERT_EQ(qopt_tensor_dims(out)[0], 2);
  ASSERT_EQ(qopt_tensor_dims(out)[1], 3);
  // Reference: softmax(x·Wᵀ + b) row by row.
  const float logits[2][3] = {{1, 2.5f, 6.5f}, {0, 0.5f, -0.5f}};
  const float *got = static_cast<const float *>(qopt_tensor_const_data(out));
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (float l : logits[r])
      sum += std::exp(double(l));
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(got[r * 3 + c], std::exp(double(logits[r][c])) / sum, 1e-6)
          << r << "," << c;
  }
  qopt_tensor_free(out);
  qopt_tensor_free(x);
  qopt_model_free(model);
}

TEST(JIT, RejectsModulesWithoutAnEntryPoint) {
  DialectRegistry registry;
  qopt::registerAllDialects(registry);
  MLIRContext ctx(registry);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>("llvm.func @f() { llvm.return }", &ctx);
  ASSERT_TRUE(module);
  std::string error;
  EXPECT_FALSE(qopt::JITArtifact::create(*module, {}, error));
  EXPECT_NE(error.find("no qopt_artifact_signature"), std::string::npos)
      << error;
}

TEST(CPUTarget, RejectsUnknownCPUs) {
  qopt::CPUCompileOptions options;
  options.cpu = "not-a-cpu";
  std::string error;
  EXPECT_FALSE(qopt::createCPUTargetMachine(options, error));
  EXPECT_NE(error.find("unknown CPU 'not-a-cpu'"), std::string::npos);
  options.cpu = "x86-64-v3";
  EXPECT_TRUE(qopt::createCPUTargetMachine(options, error)) << error;
}

} // namespace
