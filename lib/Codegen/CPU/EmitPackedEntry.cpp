//===- EmitPackedEntry.cpp - one entry point type for every artifact ------===//
//
// `qopt_artifact_main(void **args)` lets the runtime call an artifact of
// any arity without generating a call per signature: args[0] points at the
// result descriptors, args[1 + i] at the descriptor of input i.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_EMITPACKEDENTRYPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

struct EmitPackedEntryPass
    : qopt::impl::EmitPackedEntryPassBase<EmitPackedEntryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string ciface = "_mlir_ciface_" + entry;
    auto callee = module.lookupSymbol<LLVM::LLVMFuncOp>(ciface);
    if (!callee) {
      module.emitError("qopt-emit-packed-entry: no LLVM function @")
          << ciface
          << " (run qopt-export-signature before lowering, then lower func "
             "to LLVM)";
      return signalPassFailure();
    }
    LLVM::LLVMFunctionType calleeTy = callee.getFunctionType();
    auto ptrTy = LLVM::LLVMPointerType::get(&getContext());
    for (auto [i, t] : llvm::enumerate(calleeTy.getParams()))
      if (t != ptrTy) {
        callee.emitError("qopt-emit-packed-entry: parameter #")
            << i << " of @" << ciface << " is " << t
            << ", not a pointer to a memref descriptor";
        return signalPassFailure();
      }
    if (!isa<LLVM::LLVMVoidType>(calleeTy.getReturnType())) {
      callee.emitError("qopt-emit-packed-entry: @")
          << ciface << " returns a value; results must be memrefs";
      return signalPassFailure();
    }
    if (Operation *old = module.lookupSymbol("qopt_artifact_main"))
      old->erase();

    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    Location loc = callee.getLoc();
    auto voidTy = LLVM::LLVMVoidType::get(&getContext());
    auto fn =
        LLVM::LLVMFuncOp::create(b, loc, "qopt_artifact_main",
                                 LLVM::LLVMFunctionType::get(voidTy, {ptrTy}));
    Block *body = fn.addEntryBlock(b);
    b.setInsertionPointToStart(body);
    SmallVector<Value> args;
    for (unsigned i = 0, e = calleeTy.getNumParams(); i < e; ++i) {
      Value slot =
          LLVM::GEPOp::create(b, loc, ptrTy, ptrTy, body->getArgument(0),
                              ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
      args.push_back(LLVM::LoadOp::create(b, loc, ptrTy, slot));
    }
    LLVM::CallOp::create(b, loc, callee, args);
    LLVM::ReturnOp::create(b, loc, ValueRange());
  }
};

} // namespace
