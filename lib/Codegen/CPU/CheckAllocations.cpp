//===- CheckAllocations.cpp - heap allocations that fail cleanly ----------===//
//
// memref lowering calls malloc/aligned_alloc and writes through whatever
// they return: a huge intermediate (an Expand or Tile to 2^40 elements)
// crashed the process. The runtime's qopt_rt_malloc/qopt_rt_aligned_alloc
// raise a run-time error instead of returning null.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CHECKALLOCATIONSPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

struct CheckAllocationsPass
    : qopt::impl::CheckAllocationsPassBase<CheckAllocationsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto [from, to] :
         {std::pair<StringRef, StringRef>{"malloc", "qopt_rt_malloc"},
          {"aligned_alloc", "qopt_rt_aligned_alloc"}}) {
      auto decl = module.lookupSymbol<LLVM::LLVMFuncOp>(from);
      if (!decl)
        continue;
      if (module.lookupSymbol(to)) {
        module.emitError("qopt-check-allocations: @")
            << to << " is defined already";
        return signalPassFailure();
      }
      // Same prototype, other name: calls follow the renamed symbol.
      if (failed(SymbolTable::replaceAllSymbolUses(
              decl, StringAttr::get(&getContext(), to), module)))
        return signalPassFailure();
      decl.setSymName(to);
    }
  }
};

} // namespace
