//===- InstrumentProfile.cpp - per-op timers for quant-run --profile ------===//
//
// Each op that does work in a function body is bracketed by calls of the
// runtime's qopt_rt_profile_begin/end(id); the ids index a table of names
// (`<kind>\t<ONNX nodes>`) stored in the artifact as @qopt_profile_names.
// The runtime adds up the wall time per id (docs/Runtime/Profile.md).
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_INSTRUMENTPROFILEPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr StringLiteral kBeginFn = "qopt_rt_profile_begin";
constexpr StringLiteral kEndFn = "qopt_rt_profile_end";
constexpr StringLiteral kNamesGlobal = "qopt_profile_names";

/// The ONNX node names behind `loc` (the importer's NameLocs; fusion makes
/// FusedLocs of several), '+'-joined; "?" when there is none.
std::string nodeNames(Location loc) {
  llvm::SetVector<StringRef> names;
  loc->walk([&](Location l) {
    if (auto n = dyn_cast<NameLoc>(l))
      names.insert(n.getName().getValue());
    return WalkResult::advance();
  });
  if (names.empty()) {
    if (auto f = dyn_cast<FileLineColLoc>(loc))
      return (f.getFilename().getValue() + ":" + Twine(f.getLine())).str();
    return "?";
  }
  std::string out;
  for (StringRef n : names) {
    if (out.size() > 160) {
      out += "+...";
      break;
    }
    out += (out.empty() ? "" : "+") + n.str();
  }
  // Tabs and NULs separate fields and entries of the table.
  for (char &c : out)
    if (c == '\t' || c == '\0' || c == '\n')
      c = ' ';
  return out;
}

/// What kind of work `op` is, or "" when it is not timed.
std::string kindOf(Operation *op, ModuleOp module) {
  if (auto call = dyn_cast<func::CallOp>(op)) {
    auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
    if (!callee || !callee.isDeclaration())
      return "";
    StringRef name = call.getCallee();
    if (name == kBeginFn || name == kEndFn)
      return "";
    if (name.consume_front("qopt_kernel_"))
      return ("kernel " + name).str();
    return ("call " + name).str();
  }
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    std::string kind = "loops " + op->getName().stripDialect().str();
    if (isa<linalg::GenericOp>(op)) {
      bool reduction = linalgOp.getNumReductionLoops() > 0;
      kind += reduction ? " (reduction)" : " (parallel)";
    }
    return kind;
  }
  if (isa<memref::CopyOp>(op))
    return "copy";
  return "";
}

struct InstrumentProfilePass
    : qopt::impl::InstrumentProfilePassBase<InstrumentProfilePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module.lookupSymbol(kNamesGlobal)) {
      module.emitError("qopt-instrument-profile: @")
          << kNamesGlobal << " is defined already (instrumented twice?)";
      return signalPassFailure();
    }
    OpBuilder b(&getContext());
    auto declare = [&](StringRef name) {
      if (auto f = module.lookupSymbol<func::FuncOp>(name))
        return f;
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      auto f = func::FuncOp::create(b, module.getLoc(), name,
                                    b.getFunctionType({b.getI64Type()}, {}));
      f.setPrivate();
      return f;
    };

    // Collect first: the calls inserted are themselves func.calls.
    SmallVector<std::pair<Operation *, std::string>> timed;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isDeclaration())
        continue;
      for (Block &block : func.getBody())
        for (Operation &op : block) {
          std::string kind = kindOf(&op, module);
          if (!kind.empty())
            timed.emplace_back(&op, kind + "\t" + nodeNames(op.getLoc()));
        }
    }
    if (timed.empty())
      return;
    func::FuncOp begin = declare(kBeginFn), end = declare(kEndFn);
    std::string table;
    for (auto [id, entry] : llvm::enumerate(timed)) {
      auto [op, name] = entry;
      table += name;
      table.push_back('\0');
      b.setInsertionPoint(op);
      Value idValue = arith::ConstantIntOp::create(b, op->getLoc(), id, 64);
      func::CallOp::create(b, op->getLoc(), begin, idValue);
      b.setInsertionPointAfter(op);
      func::CallOp::create(b, op->getLoc(), end, idValue);
    }
    table.push_back('\0');
    b.setInsertionPointToStart(module.getBody());
    auto arrayTy = LLVM::LLVMArrayType::get(b.getIntegerType(8), table.size());
    LLVM::GlobalOp::create(b, module.getLoc(), arrayTy, /*isConstant=*/true,
                           LLVM::Linkage::External, kNamesGlobal,
                           b.getStringAttr(table));
  }
};

} // namespace
