// Parses qopt IR with the installed dialect and lowers it with the installed
// conversion pass: what an embedding compiler does.
#include "qopt/Conversion/Passes.h"
#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

static const char *kIR = R"mlir(
func.func @f(%x: tensor<2x4xf32>, %w: tensor<3x4xf32>) -> tensor<2x3xf32> {
  %y = qopt.linear %x, %w {weight_name = "fc.weight"} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  %z = qopt.fake_quant %y scale [0.1] zero_point [0] range [-128, 127] : tensor<2x3xf32>
  return %z : tensor<2x3xf32>
}
)mlir";

int main() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::qopt::QOptDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect, mlir::tensor::TensorDialect>();
  mlir::MLIRContext ctx(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kIR, &ctx);
  if (!module)
    return 1;
  llvm::outs() << "parsed:";
  module->walk([](mlir::Operation *op) {
    if (op->getDialect()->getNamespace() == "qopt")
      llvm::outs() << " " << op->getName();
  });
  llvm::outs() << "\n";

  mlir::PassManager pm(&ctx);
  pm.addPass(mlir::qopt::createConvertQOptToLinalgPass());
  if (mlir::failed(pm.run(*module)))
    return 1;
  llvm::outs() << "lowered:\n";
  module->print(llvm::outs());
  llvm::outs() << "\nok\n";
  return 0;
}
