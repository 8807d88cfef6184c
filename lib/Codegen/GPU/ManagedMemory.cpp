//===- ManagedMemory.cpp - buffers the GPU kernels can reach --------------===//
//
// The NVPTX pipeline's first memory model: every buffer the host code
// allocates becomes CUDA managed memory (gpu.alloc host_shared →
// cuMemAllocManaged), so kernels and the host code between them (copies,
// sequential loops) share it without explicit transfers. Inputs and
// constants are copied into managed buffers at entry; results are copied
// back into ordinary host buffers before returning, so that the runtime owns
// plain malloc'd memory as with CPU artifacts.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_GPUMANAGEDMEMORYPASS
#include "qopt/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// Dynamic sizes of `v` (a ranked memref) for an allocation of its type.
SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc, Value v) {
  auto ty = cast<MemRefType>(v.getType());
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < ty.getRank(); ++d)
    if (ty.isDynamicDim(d))
      sizes.push_back(memref::DimOp::create(b, loc, v, d));
  return sizes;
}

/// Copies `src` into `dst` (same shape). Contiguous buffers go through
/// gpu.memcpy (cuMemcpy: a DMA straight to where the managed pages live,
/// usually the GPU, instead of host stores that would fault them back to
/// the host); strided views through memref.copy on the host.
void copyBuffer(OpBuilder &b, Location loc, Value src, Value dst) {
  auto st = cast<MemRefType>(src.getType());
  auto dt = cast<MemRefType>(dst.getType());
  if (llvm::is_contained(st.getShape(), 0))
    return; // statically empty: nothing to copy
  if (!st.getLayout().isIdentity() || !dt.getLayout().isIdentity() ||
      st.getElementType() != dt.getElementType()) {
    memref::CopyOp::create(b, loc, src, dst);
    return;
  }
  if (st != dt) // static vs dynamic sizes of the same shape
    src = memref::CastOp::create(b, loc, dt, src);
  Type token = gpu::AsyncTokenType::get(b.getContext());
  Value t = gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
  auto copy = gpu::MemcpyOp::create(b, loc, token, ValueRange{t}, dst, src);
  gpu::WaitOp::create(b, loc, Type(), ValueRange{copy.getAsyncToken()});
}

/// A managed buffer with `v`'s contents (identity layout).
Value managedCopy(OpBuilder &b, Location loc, Value v) {
  auto ty = cast<MemRefType>(v.getType());
  auto dense = MemRefType::get(ty.getShape(), ty.getElementType());
  Value m = gpu::AllocOp::create(b, loc, dense, Type(), ValueRange{},
                                 dynamicSizes(b, loc, v), ValueRange{},
                                 /*hostShared=*/true)
                .getMemref();
  copyBuffer(b, loc, v, m);
  return m;
}

/// Frees a managed buffer. gpu-to-llvm lowers gpu.dealloc only in its
/// async form (one dependency): a wait for a fresh token, the dealloc, a
/// wait for it.
void freeManaged(OpBuilder &b, Location loc, Value memref) {
  Type token = gpu::AsyncTokenType::get(b.getContext());
  Value t = gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
  auto d = gpu::DeallocOp::create(b, loc, token, ValueRange{t}, memref);
  gpu::WaitOp::create(b, loc, Type(), ValueRange{d.getAsyncToken()});
}

/// The allocation a (view of a) buffer comes from, if any.
Operation *baseAllocation(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<gpu::AllocOp>(def))
      return def;
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      return nullptr;
    v = view.getViewSource();
  }
  return nullptr;
}

/// Declares `name` as a private function of i64 arguments and one i64
/// result (the runtime's address-returning hooks) once per module.
void declareAddressHook(ModuleOp module, Location loc, StringRef name,
                        unsigned numArgs) {
  if (module.lookupSymbol<func::FuncOp>(name))
    return;
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  Type i64 = mb.getI64Type();
  SmallVector<Type> args(numArgs, i64);
  func::FuncOp::create(mb, loc, name, mb.getFunctionType(args, {i64}))
      .setPrivate();
}

/// A memref of type `ty` over the i64 address `addr` with the given i64
/// sizes and element strides: its descriptor built in the LLVM dialect and
/// cast to the memref type, the form memref-to-LLVM lowering reconciles.
Value memrefDescriptorAt(OpBuilder &b, Location loc, Value addr, MemRefType ty,
                         ArrayRef<Value> sizes, ArrayRef<Value> strides) {
  MLIRContext *ctx = b.getContext();
  Type i64 = b.getI64Type();
  auto ptrTy = LLVM::LLVMPointerType::get(ctx);
  Value ptr = LLVM::IntToPtrOp::create(b, loc, ptrTy, addr);
  int64_t rank = ty.getRank();
  SmallVector<Type> fields = {ptrTy, ptrTy, i64};
  if (rank > 0) {
    fields.push_back(LLVM::LLVMArrayType::get(i64, rank));
    fields.push_back(LLVM::LLVMArrayType::get(i64, rank));
  }
  auto descTy = LLVM::LLVMStructType::getLiteral(ctx, fields);
  Value desc = LLVM::PoisonOp::create(b, loc, descTy);
  Value zero = LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(0));
  desc = LLVM::InsertValueOp::create(b, loc, desc, ptr, ArrayRef<int64_t>{0});
  desc = LLVM::InsertValueOp::create(b, loc, desc, ptr, ArrayRef<int64_t>{1});
  desc = LLVM::InsertValueOp::create(b, loc, desc, zero, ArrayRef<int64_t>{2});
  for (int64_t d = 0; d < rank; ++d) {
    desc = LLVM::InsertValueOp::create(b, loc, desc, sizes[d],
                                       ArrayRef<int64_t>{3, d});
    desc = LLVM::InsertValueOp::create(b, loc, desc, strides[d],
                                       ArrayRef<int64_t>{4, d});
  }
  return UnrealizedConversionCastOp::create(b, loc, TypeRange{ty},
                                            ValueRange{desc})
      .getResult(0);
}

/// A memref of type `ty` (identity layout) over the i64 address `addr`
/// (memrefDescriptorAt), its row-major strides computed from `sizes` (one
/// i64 per dim).
Value memrefAt(OpBuilder &b, Location loc, Value addr, MemRefType ty,
               ArrayRef<Value> sizes) {
  int64_t rank = ty.getRank();
  SmallVector<Value> strides(rank);
  Value stride =
      LLVM::ConstantOp::create(b, loc, b.getI64Type(), b.getI64IntegerAttr(1));
  for (int64_t d = rank; d-- > 0;) {
    strides[d] = stride;
    if (d > 0)
      stride = LLVM::MulOp::create(b, loc, stride, sizes[d]);
  }
  return memrefDescriptorAt(b, loc, addr, ty, sizes, strides);
}

/// Result `index` of a public function, `v`, in the buffer the runtime's
/// `qopt_cuda_result(index, bytes)` returns: ordinary host memory in a
/// normal run, the caller's device buffer (or a new device allocation) in
/// qopt_cuda_model_run. The copy is a gpu.memcpy from a contiguous managed
/// buffer (a strided view is first gathered into one on the host: the
/// destination may be device memory the host cannot write).
Value resultThroughHook(OpBuilder &b, Location loc, Value v, int64_t index,
                        SmallVectorImpl<Value> &gathered) {
  auto ty = cast<MemRefType>(v.getType());
  auto dense = MemRefType::get(ty.getShape(), ty.getElementType());
  Type elem = ty.getElementType();
  int64_t elemBytes =
      elem.isIndex() ? 8 : (elem.getIntOrFloatBitWidth() + 7) / 8;
  Type i64 = b.getI64Type();
  SmallVector<Value> sizes;
  Value count = arith::ConstantIntOp::create(b, loc, i64, 1);
  for (int64_t d = 0; d < ty.getRank(); ++d) {
    Value size =
        ty.isDynamicDim(d)
            ? arith::IndexCastOp::create(b, loc, i64,
                                         memref::DimOp::create(b, loc, v, d))
                  .getResult()
            : arith::ConstantIntOp::create(b, loc, i64, ty.getDimSize(d))
                  .getResult();
    sizes.push_back(size);
    count = arith::MulIOp::create(b, loc, count, size);
  }
  Value bytes = arith::MulIOp::create(
      b, loc, count, arith::ConstantIntOp::create(b, loc, i64, elemBytes));
  auto module = v.getParentRegion()->getParentOfType<ModuleOp>();
  declareAddressHook(module, loc, "qopt_cuda_result", 2);
  Value addr =
      func::CallOp::create(
          b, loc, "qopt_cuda_result", TypeRange{i64},
          ValueRange{arith::ConstantIntOp::create(b, loc, i64, index), bytes})
          .getResult(0);
  Value h = memrefAt(b, loc, addr, dense, sizes);
  Value src = v;
  if (!ty.getLayout().isIdentity()) {
    src = managedCopy(b, loc, v); // memref.copy on the host, into managed
    gathered.push_back(src);
  }
  if (!llvm::is_contained(ty.getShape(), 0)) {
    if (src.getType() != dense)
      src = memref::CastOp::create(b, loc, dense, src);
    Type token = gpu::AsyncTokenType::get(b.getContext());
    Value t = gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
    auto copy = gpu::MemcpyOp::create(b, loc, token, ValueRange{t}, h, src);
    gpu::WaitOp::create(b, loc, Type(), ValueRange{copy.getAsyncToken()});
  }
  return h;
}

/// The buffer `qopt_cuda_constant(host address, bytes)` returns for the
/// constant `g` (static shape, identity layout, integer or float elements),
/// as a memref: its descriptor is built in the LLVM dialect and cast to the
/// memref type, the form memref-to-LLVM lowering reconciles. Null for other
/// constants.
Value cachedConstant(OpBuilder &b, memref::GetGlobalOp g) {
  auto ty = cast<MemRefType>(g.getType());
  Type elem = ty.getElementType();
  if (!ty.hasStaticShape() || !ty.getLayout().isIdentity() ||
      !elem.isIntOrIndexOrFloat() || ty.getMemorySpace())
    return Value();
  int64_t elemBytes =
      elem.isIndex() ? 8 : (elem.getIntOrFloatBitWidth() + 7) / 8;
  int64_t bytes = ty.getNumElements() * elemBytes;
  if (bytes == 0)
    return Value();
  Location loc = g.getLoc();
  auto module = g->getParentOfType<ModuleOp>();
  Type i64 = b.getI64Type();
  auto fnType = b.getFunctionType({i64, i64}, {i64});
  if (!module.lookupSymbol<func::FuncOp>("qopt_cuda_constant")) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    func::FuncOp::create(mb, loc, "qopt_cuda_constant", fnType).setPrivate();
  }
  Value host = arith::IndexCastOp::create(
      b, loc, i64,
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, g.getResult()));
  Value size = arith::ConstantIntOp::create(b, loc, i64, bytes);
  Value devAddr = func::CallOp::create(b, loc, "qopt_cuda_constant",
                                       TypeRange{i64}, ValueRange{host, size})
                      .getResult(0);
  auto c64 = [&](int64_t v) -> Value {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  };
  SmallVector<Value> sizes, strides;
  for (int64_t st : computeSuffixProduct(ty.getShape()))
    strides.push_back(c64(st));
  for (int64_t d = 0; d < ty.getRank(); ++d)
    sizes.push_back(c64(ty.getDimSize(d)));
  return memrefDescriptorAt(b, loc, devAddr, ty, sizes, strides);
}

struct GPUManagedMemoryPass
    : qopt::impl::GPUManagedMemoryPassBase<GPUManagedMemoryPass> {
  using GPUManagedMemoryPassBase::GPUManagedMemoryPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(&getContext());
    // Allocations and deallocations inside the functions.
    WalkResult r = module.walk([&](Operation *op) {
      if (isa<memref::AllocaOp>(op)) {
        op->emitOpError("qopt-gpu-managed-memory: stack buffers are not "
                        "reachable from GPU kernels");
        return WalkResult::interrupt();
      }
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        b.setInsertionPoint(alloc);
        Value m = gpu::AllocOp::create(
                      b, alloc.getLoc(), alloc.getType(), Type(), ValueRange{},
                      alloc.getDynamicSizes(), alloc.getSymbolOperands(),
                      /*hostShared=*/true)
                      .getMemref();
        alloc.getResult().replaceAllUsesWith(m);
        alloc->erase();
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        b.setInsertionPoint(dealloc);
        freeManaged(b, dealloc.getLoc(), dealloc.getMemref());
        dealloc->erase();
      }
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return signalPassFailure();

    for (func::FuncOp f : module.getOps<func::FuncOp>()) {
      if (f.isExternal())
        continue;
      Block &entry = f.front();
      b.setInsertionPointToStart(&entry);
      SmallVector<Value> temporaries; // freed before every return
      for (BlockArgument arg : entry.getArguments()) {
        if (!isa<MemRefType>(arg.getType()) || arg.use_empty())
          continue;
        SmallVector<OpOperand *> uses;
        for (OpOperand &use : arg.getUses())
          uses.push_back(&use);
        Value m = managedCopy(b, f.getLoc(), arg);
        temporaries.push_back(m);
        Value replacement =
            m.getType() == arg.getType()
                ? m
                : memref::CastOp::create(b, f.getLoc(), arg.getType(), m)
                      .getResult();
        for (OpOperand *use : uses)
          use->set(replacement);
      }
      // Constants: the runtime's cached GPU copy (made at the first call),
      // else one managed copy per call.
      SmallVector<memref::GetGlobalOp> globals;
      f.walk([&](memref::GetGlobalOp g) { globals.push_back(g); });
      for (memref::GetGlobalOp g : globals) {
        SmallVector<OpOperand *> uses;
        for (OpOperand &use : g.getResult().getUses())
          uses.push_back(&use);
        b.setInsertionPointAfter(g);
        Value m = cacheConstants ? cachedConstant(b, g) : Value();
        if (!m) {
          m = managedCopy(b, g.getLoc(), g.getResult());
          temporaries.push_back(m);
        }
        for (OpOperand *use : uses)
          use->set(m);
      }
      // Results back to host memory; their managed buffers freed.
      f.walk([&](func::ReturnOp ret) {
        b.setInsertionPoint(ret);
        SmallVector<Value> results(ret.getOperands());
        llvm::SetVector<Operation *> owned;
        SmallVector<Value> gathered;
        const bool hook = resultHook && f.isPublic();
        for (auto [index, v] : llvm::enumerate(results)) {
          auto ty = dyn_cast<MemRefType>(v.getType());
          if (!ty)
            continue;
          if (hook) {
            Value h = resultThroughHook(b, ret.getLoc(), v, index, gathered);
            if (Operation *base = baseAllocation(v))
              if (!llvm::is_contained(temporaries, base->getResult(0)))
                owned.insert(base);
            v = h.getType() == ty
                    ? h
                    : memref::CastOp::create(b, ret.getLoc(), ty, h)
                          .getResult();
            continue;
          }
          Value h = memref::AllocOp::create(
              b, ret.getLoc(),
              MemRefType::get(ty.getShape(), ty.getElementType()),
              dynamicSizes(b, ret.getLoc(), v));
          copyBuffer(b, ret.getLoc(), v, h);
          if (Operation *base = baseAllocation(v))
            if (!llvm::is_contained(temporaries, base->getResult(0)))
              owned.insert(base);
          v = h.getType() == ty
                  ? h
                  : memref::CastOp::create(b, ret.getLoc(), ty, h).getResult();
        }
        for (Operation *base : owned)
          freeManaged(b, ret.getLoc(), base->getResult(0));
        for (Value t : temporaries)
          freeManaged(b, ret.getLoc(), t);
        for (Value g : gathered)
          freeManaged(b, ret.getLoc(), g);
        ret->setOperands(results);
      });
    }
  }
};

} // namespace
