//===- OneStream.cpp - a call's GPU work on one stream, one sync ----------===//
//
// gpu-to-llvm lowers every synchronous GPU operation to its own stream:
// created, used once, synchronized and destroyed (for gpu.launch_func the
// LLVM translation does the same when the launch has no async object).
// A model call then waits for every kernel. This pass gives each host
// function one stream for all of them and synchronizes only where the host
// needs the results.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_GPUONESTREAMPASS
#include "qopt/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr StringLiteral kCreate = "mgpuStreamCreate";
constexpr StringLiteral kSync = "mgpuStreamSynchronize";
constexpr StringLiteral kDestroy = "mgpuStreamDestroy";

std::optional<StringRef> calleeOf(Operation *op) {
  if (auto call = dyn_cast<LLVM::CallOp>(op))
    return call.getCallee();
  return std::nullopt;
}

bool isCallTo(Operation *op, StringRef name) {
  std::optional<StringRef> callee = calleeOf(op);
  return callee && *callee == name;
}

/// Queues work on the stream (the host does not wait for it).
bool isAsyncWork(Operation *op) {
  if (isa<gpu::LaunchFuncOp>(op))
    return true;
  std::optional<StringRef> callee = calleeOf(op);
  return callee && (*callee == "mgpuMemcpy" || *callee == "mgpuMemset32" ||
                    *callee == "mgpuMemset16" ||
                    callee->starts_with("qopt_cuda_matmul_"));
}

/// Host functions that touch no memory the queued work uses.
bool isSafeCall(StringRef callee) {
  return callee == "mgpuMemAlloc" || callee == "mgpuMemFree" ||
         callee == "qopt_cuda_constant" || callee == "qopt_cuda_result" ||
         callee == "malloc" || callee == "qopt_rt_malloc" ||
         callee == "mgpuModuleLoad" || callee == "mgpuModuleLoadJIT" ||
         callee == "mgpuModuleGetFunction" || callee == kCreate;
}

/// Whether `ptr` points into the host stack (an llvm.alloca, through GEPs).
bool isStackAddress(Value ptr) {
  while (Operation *def = ptr.getDefiningOp()) {
    if (isa<LLVM::AllocaOp>(def))
      return true;
    auto gep = dyn_cast<LLVM::GEPOp>(def);
    if (!gep)
      return false;
    ptr = gep.getBase();
  }
  return false;
}

/// Whether the host must wait for the queued work before `op`.
bool needsSync(Operation *op) {
  if (isa<LLVM::ReturnOp>(op))
    return true;
  if (op->hasTrait<OpTrait::IsTerminator>() || isa<LLVM::AllocaOp>(op))
    return false;
  if (auto load = dyn_cast<LLVM::LoadOp>(op))
    return !isStackAddress(load.getAddr());
  if (auto store = dyn_cast<LLVM::StoreOp>(op))
    return !isStackAddress(store.getAddr());
  if (std::optional<StringRef> callee = calleeOf(op))
    return !isSafeCall(*callee);
  return !isMemoryEffectFree(op);
}

LLVM::LLVMFuncOp declare(ModuleOp module, StringRef name, Type result,
                         ArrayRef<Type> args) {
  if (auto f = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return f;
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToStart(module.getBody());
  return LLVM::LLVMFuncOp::create(b, module.getLoc(), name,
                                  LLVM::LLVMFunctionType::get(result, args));
}

struct GPUOneStreamPass : qopt::impl::GPUOneStreamPassBase<GPUOneStreamPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LLVM::LLVMFuncOp> funcs;
    for (auto f : module.getOps<LLVM::LLVMFuncOp>())
      if (!f.isExternal())
        funcs.push_back(f);
    for (LLVM::LLVMFuncOp f : funcs)
      rewrite(module, f);
  }

  void rewrite(ModuleOp module, LLVM::LLVMFuncOp func) {
    bool usesGpu = false;
    func.walk([&](Operation *op) {
      if (isAsyncWork(op) || isCallTo(op, kCreate))
        usesGpu = true;
    });
    if (!usesGpu)
      return;
    MLIRContext *ctx = &getContext();
    Type ptr = LLVM::LLVMPointerType::get(ctx);
    Type voidTy = LLVM::LLVMVoidType::get(ctx);
    auto create = declare(module, kCreate, ptr, {});
    auto sync = declare(module, kSync, voidTy, {ptr});
    auto destroy = declare(module, kDestroy, voidTy, {ptr});

    OpBuilder b(ctx);
    b.setInsertionPointToStart(&func.getBody().front());
    Value stream = LLVM::CallOp::create(b, func.getLoc(), create, ValueRange{})
                       .getResult();

    // The per-operation streams: their uses take the call's stream, their
    // synchronize / destroy calls go.
    SmallVector<LLVM::CallOp> creates;
    func.walk([&](LLVM::CallOp call) {
      if (call.getCallee() == kCreate && call.getResult() != stream)
        creates.push_back(call);
    });
    for (LLVM::CallOp c : creates) {
      Value old = c.getResult();
      for (Operation *user : llvm::make_early_inc_range(old.getUsers()))
        if (isCallTo(user, kSync) || isCallTo(user, kDestroy))
          user->erase();
      old.replaceAllUsesWith(stream);
      c.erase();
    }

    func.walk([&](Operation *op) {
      if (auto launch = dyn_cast<gpu::LaunchFuncOp>(op)) {
        if (!launch.getAsyncObject() && launch.getAsyncDependencies().empty())
          launch.getAsyncObjectMutable().assign(stream);
        return;
      }
      auto call = dyn_cast<LLVM::CallOp>(op);
      if (!call || !call.getCallee())
        return;
      StringRef callee = *call.getCallee();
      if ((callee == "mgpuMemAlloc" || callee == "mgpuMemFree") &&
          call.getNumOperands() >= 2)
        call->setOperand(1, stream);
      if (callee.starts_with("qopt_cuda_matmul_") && call.getNumOperands()) {
        b.setInsertionPoint(call);
        Value asInt =
            LLVM::PtrToIntOp::create(b, call.getLoc(), b.getI64Type(), stream);
        call->setOperand(call.getNumOperands() - 1, asInt);
      }
    });

    // Synchronize where the host needs the results.
    for (Block &block : func.getBody()) {
      bool queued = !block.isEntryBlock();
      for (Operation &op : llvm::make_early_inc_range(block)) {
        if (isAsyncWork(&op)) {
          queued = true;
          continue;
        }
        bool isReturn = isa<LLVM::ReturnOp>(op);
        if ((queued && needsSync(&op)) || isReturn) {
          b.setInsertionPoint(&op);
          if (queued || isReturn)
            LLVM::CallOp::create(b, op.getLoc(), sync, ValueRange{stream});
          queued = false;
        }
        if (isReturn)
          LLVM::CallOp::create(b, op.getLoc(), destroy, ValueRange{stream});
      }
    }
  }
};

} // namespace
