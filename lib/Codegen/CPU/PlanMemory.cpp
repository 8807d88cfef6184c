//===- PlanMemory.cpp - intermediates in one arena, by liveness -----------===//
//
// Ownership-based deallocation frees every buffer at the end of its
// function: each call then allocates the sum of all intermediates, fresh
// pages the kernel must map and zero. Here fixed-size buffers get offsets
// in one arena by their live ranges (qopt/Support/MemoryPlan.h), and the
// frees of the others move to their last use.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"
#include "qopt/Support/MemoryPlan.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_PLANMEMORYPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr StringLiteral kArenaFn = "qopt_rt_arena";

/// An alloc, the last op of its block that uses it (or anything derived
/// from it), and its deallocs.
struct Lifetime {
  memref::AllocOp alloc;
  Operation *last = nullptr;
  SmallVector<memref::DeallocOp> deallocs;
  bool escapes = false;
};

/// Follows every value derived from `alloc` (results of the ops that use
/// it, transitively): a view, an extracted pointer and the integers
/// computed from it all keep the buffer alive. Conservative: any result of
/// any user counts.
Lifetime lifetimeOf(memref::AllocOp alloc, Block &block) {
  Lifetime life;
  life.alloc = alloc;
  life.last = alloc;
  llvm::SetVector<Value> values;
  values.insert(alloc.getResult());
  for (size_t i = 0; i < values.size(); ++i) {
    for (OpOperand &use : values[i].getUses()) {
      Operation *user = use.getOwner();
      if (auto dealloc = dyn_cast<memref::DeallocOp>(user)) {
        // Only a dealloc of the alloc itself, in the same block, is ours
        // to move or erase.
        if (dealloc->getBlock() == &block && values[i] == alloc.getResult())
          life.deallocs.push_back(dealloc);
        else
          life.escapes = true;
        continue;
      }
      if (user->hasTrait<OpTrait::ReturnLike>() &&
          user->getParentOp() == block.getParentOp()) {
        life.escapes = true; // returned: the caller owns it
        continue;
      }
      Operation *top = block.findAncestorOpInBlock(*user);
      if (!top) {
        life.escapes = true;
        continue;
      }
      // A terminator of a nested region hands the value to its parent op,
      // whose results are followed below.
      if (life.last->isBeforeInBlock(top))
        life.last = top;
      for (Value r : user->getResults())
        values.insert(r);
      if (user != top)
        for (Value r : top->getResults())
          values.insert(r);
    }
  }
  return life;
}

/// Bytes of a static, identity-layout memref of numbers; 0 if not one.
uint64_t staticBytes(MemRefType type) {
  if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
      type.getMemorySpace())
    return 0;
  Type elem = type.getElementType();
  unsigned bits = 0;
  if (elem.isIntOrFloat())
    bits = elem.getIntOrFloatBitWidth();
  else if (elem.isIndex())
    bits = 64;
  if (bits == 0 || bits > 64)
    return 0;
  uint64_t n = uint64_t(type.getNumElements());
  return n * ((bits + 7) / 8);
}

struct PlanMemoryPass : mlir::qopt::impl::PlanMemoryPassBase<PlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (alignment <= 0 || (alignment & (alignment - 1))) {
      module.emitError("qopt-plan-memory: alignment ")
          << int64_t(alignment) << " is not a power of two";
      return signalPassFailure();
    }
    if (auto existing = module.lookupSymbol(kArenaFn)) {
      auto fn = dyn_cast<LLVM::LLVMFuncOp>(existing);
      if (!fn || !fn.isExternal()) {
        existing->emitError("qopt-plan-memory: @")
            << kArenaFn << " is defined already";
        return signalPassFailure();
      }
    }
    // Functions called from another one are not planned: their arena would
    // be their caller's.
    SymbolTableCollection symbols;
    SymbolUserMap users(symbols, module);
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (!func.isDeclaration() && func.getBody().hasOneBlock())
        planFunction(func, users.getUsers(func).empty());
  }

  void planFunction(func::FuncOp func, bool useArena) {
    Block &block = func.getBody().front();
    SmallVector<Lifetime> planned;
    std::vector<::qopt::BufferLife> lives;
    DenseMap<Operation *, int64_t> position;
    int64_t pos = 0;
    for (Operation &op : block)
      position[&op] = pos++;

    for (auto alloc : llvm::to_vector(block.getOps<memref::AllocOp>())) {
      Lifetime life = lifetimeOf(alloc, block);
      if (life.escapes || life.deallocs.empty())
        continue;
      uint64_t bytes = staticBytes(alloc.getType());
      std::optional<uint64_t> align = alloc.getAlignment();
      bool fits = useArena && bytes > 0 && alloc.getDynamicSizes().empty() &&
                  alloc.getSymbolOperands().empty() &&
                  (!align || int64_t(*align) <= alignment);
      if (fits) {
        lives.push_back({position[alloc], position[life.last], bytes});
        planned.push_back(life);
        continue;
      }
      // Malloc'ed: free it right after its last use instead of at the end.
      if (life.deallocs.size() == 1 && life.last != life.deallocs[0] &&
          life.last->isBeforeInBlock(life.deallocs[0]) &&
          !life.last->hasTrait<OpTrait::IsTerminator>())
        life.deallocs[0]->moveAfter(life.last);
    }
    if (planned.empty())
      return;

    ::qopt::MemoryPlan plan = ::qopt::planMemory(lives, uint64_t(alignment));
    OpBuilder b(func.getContext());
    Location loc = func.getLoc();
    b.setInsertionPointToStart(&block);
    Value arenaPtr;
    createArena(b, loc, func->getParentOfType<ModuleOp>(), plan.arenaBytes,
                &arenaPtr);
    for (auto [life, offset] : llvm::zip(planned, plan.offsets)) {
      b.setInsertionPoint(life.alloc);
      // Each buffer's own pointer, arena + offset through an integer: LLVM
      // then sees distinct underlying objects (as separate mallocs would
      // be) instead of constant offsets into one, and its dependence
      // analysis does not pair accesses of different buffers by distance.
      // The size the plan placed (index and i1 elements included).
      uint64_t bytes = staticBytes(life.alloc.getType());
      Value slice = sliceOf(b, life.alloc.getLoc(), arenaPtr, offset, bytes);
      Value shift = arith::ConstantIndexOp::create(b, life.alloc.getLoc(), 0);
      Value view =
          memref::ViewOp::create(b, life.alloc.getLoc(), life.alloc.getType(),
                                 slice, shift, ValueRange{});
      life.alloc.getResult().replaceAllUsesWith(view);
      for (memref::DeallocOp d : life.deallocs)
        d.erase();
      life.alloc.erase();
    }
    func->setAttr("qopt.arena_bytes", b.getI64IntegerAttr(plan.arenaBytes));
    func->setAttr("qopt.planned_bytes", b.getI64IntegerAttr(plan.totalBytes));
  }

  /// `memref<bytes x i8>` over the block qopt_rt_arena(bytes) returns: a
  /// descriptor built in the LLVM dialect, cast to the memref type (the
  /// memref-to-LLVM conversion folds the cast away).
  /// `memref<bytes x i8>` at `arena + offset`, the pointer made through
  /// ptrtoint / add / inttoptr.
  Value sliceOf(OpBuilder &b, Location loc, Value arena, uint64_t offset,
                uint64_t bytes) {
    MLIRContext *ctx = b.getContext();
    auto ptrTy = LLVM::LLVMPointerType::get(ctx);
    auto i64 = b.getI64Type();
    Value base = LLVM::PtrToIntOp::create(b, loc, i64, arena);
    Value addr = LLVM::AddOp::create(
        b, loc, base, LLVM::ConstantOp::create(b, loc, i64, int64_t(offset)));
    Value ptr = LLVM::IntToPtrOp::create(b, loc, ptrTy, addr);
    auto arrTy = LLVM::LLVMArrayType::get(i64, 1);
    auto descTy = LLVM::LLVMStructType::getLiteral(
        ctx, {ptrTy, ptrTy, i64, arrTy, arrTy});
    Value desc = LLVM::PoisonOp::create(b, loc, descTy);
    Value zero = LLVM::ConstantOp::create(b, loc, i64, int64_t(0));
    Value one = LLVM::ConstantOp::create(b, loc, i64, int64_t(1));
    Value size = LLVM::ConstantOp::create(b, loc, i64, int64_t(bytes));
    desc = LLVM::InsertValueOp::create(b, loc, desc, ptr, ArrayRef<int64_t>{0});
    desc = LLVM::InsertValueOp::create(b, loc, desc, ptr, ArrayRef<int64_t>{1});
    desc =
        LLVM::InsertValueOp::create(b, loc, desc, zero, ArrayRef<int64_t>{2});
    desc = LLVM::InsertValueOp::create(b, loc, desc, size,
                                       ArrayRef<int64_t>{3, 0});
    desc =
        LLVM::InsertValueOp::create(b, loc, desc, one, ArrayRef<int64_t>{4, 0});
    auto type = MemRefType::get({int64_t(bytes)}, b.getI8Type());
    return UnrealizedConversionCastOp::create(b, loc, type, desc).getResult(0);
  }

  Value createArena(OpBuilder &b, Location loc, ModuleOp module, uint64_t bytes,
                    Value *rawPtr = nullptr) {
    MLIRContext *ctx = b.getContext();
    auto ptrTy = LLVM::LLVMPointerType::get(ctx);
    auto i64 = b.getI64Type();
    auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(kArenaFn);
    if (!fn) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      fn = LLVM::LLVMFuncOp::create(b, loc, kArenaFn,
                                    LLVM::LLVMFunctionType::get(ptrTy, {i64}));
    }
    Value size = LLVM::ConstantOp::create(b, loc, i64, int64_t(bytes));
    Value ptr = LLVM::CallOp::create(b, loc, fn, ValueRange{size}).getResult();
    if (rawPtr)
      *rawPtr = ptr;
    auto arrTy = LLVM::LLVMArrayType::get(i64, 1);
    auto descTy = LLVM::LLVMStructType::getLiteral(
        ctx, {ptrTy, ptrTy, i64, arrTy, arrTy});
    Value desc = LLVM::PoisonOp::create(b, loc, descTy);
    Value zero = LLVM::ConstantOp::create(b, loc, i64, int64_t(0));
    Value one = LLVM::ConstantOp::create(b, loc, i64, int64_t(1));
    desc = LLVM::InsertValueOp::create(b, loc, desc, ptr, ArrayRef<int64_t>{0});
    desc = LLVM::InsertValueOp::create(b, loc, desc, ptr, ArrayRef<int64_t>{1});
    desc =
        LLVM::InsertValueOp::create(b, loc, desc, zero, ArrayRef<int64_t>{2});
    desc = LLVM::InsertValueOp::create(b, loc, desc, size,
                                       ArrayRef<int64_t>{3, 0});
    desc =
        LLVM::InsertValueOp::create(b, loc, desc, one, ArrayRef<int64_t>{4, 0});
    auto type = MemRefType::get({int64_t(bytes)}, b.getI8Type());
    return UnrealizedConversionCastOp::create(b, loc, type, desc).getResult(0);
  }
};

} // namespace
