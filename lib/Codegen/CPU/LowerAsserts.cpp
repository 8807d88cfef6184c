//===- LowerAsserts.cpp - cf.assert to run-time errors --------------------===//
//
// A failed cf.assert lowers upstream to abort(): the process that runs the
// model dies. Artifacts instead call the runtime's qopt_rt_fail(message),
// which abandons the run so that qopt_model_run returns an error.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_LOWERASSERTSPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

struct LowerAssertsPass : qopt::impl::LowerAssertsPassBase<LowerAssertsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<cf::AssertOp> asserts;
    module.walk([&](cf::AssertOp op) { asserts.push_back(op); });
    if (asserts.empty())
      return;
    if (drop) {
      for (cf::AssertOp op : asserts)
        op.erase();
      return;
    }
    OpBuilder b(module.getBodyRegion());
    auto ptrTy = LLVM::LLVMPointerType::get(&getContext());
    b.setInsertionPointToStart(module.getBody());
    auto failTy = LLVM::LLVMFunctionType::get(
        LLVM::LLVMVoidType::get(&getContext()), {ptrTy});
    auto existing = module.lookupSymbol<LLVM::LLVMFuncOp>("qopt_rt_fail");
    if (existing && existing.getFunctionType() != failTy) {
      module.emitError("qopt-lower-asserts: @qopt_rt_fail is declared with "
                       "another type than void(ptr)");
      return signalPassFailure();
    }
    LLVM::LLVMFuncOp fail =
        existing ? existing
                 : LLVM::LLVMFuncOp::create(b, module.getLoc(), "qopt_rt_fail",
                                            failTy);
    // One global per distinct message.
    llvm::StringMap<std::string> globalOf;
    for (cf::AssertOp op : asserts) {
      b.setInsertionPoint(op);
      Location loc = op.getLoc();
      Value failed = arith::XOrIOp::create(
          b, loc, op.getArg(),
          arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1));
      auto ifOp = scf::IfOp::create(b, loc, failed, /*withElse=*/false);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      std::string text = op.getMsg().str();
      text.push_back('\0');
      auto [it, inserted] = globalOf.try_emplace(
          op.getMsg(), "qopt_assert_msg_" + std::to_string(globalOf.size()));
      Value msg;
      if (inserted) {
        msg = LLVM::createGlobalString(loc, b, it->second, text,
                                       LLVM::Linkage::Internal);
      } else {
        msg = LLVM::AddressOfOp::create(b, loc, ptrTy, it->second);
      }
      LLVM::CallOp::create(b, loc, fail, ValueRange{msg});
      op.erase();
    }
  }
};

} // namespace
