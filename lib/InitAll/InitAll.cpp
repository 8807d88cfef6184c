//===- InitAll.cpp - register qopt and the upstream dialects --------------===//

#include "qopt/InitAll.h"

#include "qopt/Codegen/CPU/Passes.h"
#include "qopt/Codegen/GPU/Passes.h"
#include "qopt/Conversion/Passes.h"
#include "qopt/Dialect/QOpt/IR/QOptDialect.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Pipelines/PTQPipeline.h"
#include "qopt/Pipelines/Pipelines.h"
#include "qopt/Pipelines/PrunePipeline.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::qopt::registerQOptDialect(DialectRegistry &registry) {
  registry.insert<QOptDialect>();
}

void mlir::qopt::registerAllDialects(DialectRegistry &registry) {
  registerQOptDialect(registry);
  registerQuantizableLayerExternalModels(registry);
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary (the NVPTX pipeline) translates kernels to LLVM IR
  // and serializes them through the NVVM target.
  mlir::registerAllToLLVMIRTranslations(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}

void mlir::qopt::registerAllPasses() {
  mlir::registerAllPasses();
  registerQOptTransformsPasses();
  registerQOptConversionPasses();
  registerQOptCodegenCPUPasses();
  registerQOptCodegenGPUPasses();
  registerPipelines();
  registerPTQPipeline();
  registerPrunePipeline();
}
