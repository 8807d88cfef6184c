//===- QuantKernelCalls.cpp - quantized matmuls as runtime GPU kernels ----===//
//
// The qopt lowering tags its quantized contractions with the runtime
// kernel that takes them over on the CPU (library_call). On the GPU the
// same operands go to qopt_cuda_matmul_<kind> (lib/Runtime/CUDA/
// QMatmul.cpp), with one more argument: the stream, 0 until
// qopt-gpu-one-stream fills it in. float32 contractions (float-matmuls) go
// to qopt_cuda_matmul_f32 (CUDA/FloatMatmul.cpp) the same way, with the
// precision before the stream, and so do 2:4 sparse products
// (qopt_cuda_matmul_sparse24_f32, CUDA/Sparse24.cpp: mma.sp); W8A8 layers
// with a 2:4 weight call qopt_cuda_matmul_sparse24_{s8s8,u8s8} (int8
// mma.sp, exact int32 sums).
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/GPU/Passes.h"
#include "qopt/Conversion/KernelCalls/LinalgToKernelCalls.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_GPUQUANTKERNELCALLSPASS
#include "qopt/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr StringLiteral kCpuPrefix = "qopt_kernel_matmul_";
constexpr StringLiteral kGpuPrefix = "qopt_cuda_matmul_";
constexpr StringLiteral kFloatKernel = "qopt_kernel_matmul_f32";
constexpr StringLiteral kSparse24Kernel = "qopt_kernel_matmul_sparse24_f32";

bool isQuantKernel(StringRef suffix) {
  return llvm::is_contained(
      ArrayRef<StringRef>{"w8", "w4", "s8s8", "u8s8", "s8t2", "f32t2",
                          "sparse24_s8s8", "sparse24_u8s8"},
      suffix);
}

struct GPUQuantKernelCallsPass
    : qopt::impl::GPUQuantKernelCallsPassBase<GPUQuantKernelCallsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // W8A8 with a dynamic M: the GEMV kernel when M <= maxInt8Rows at run
    // time, the tensor-core kernels otherwise (scf.if over two copies).
    SmallVector<linalg::GenericOp> dynamicInt8;
    module.walk([&](linalg::GenericOp op) {
      std::optional<StringRef> call = op.getLibraryCall();
      auto a = dyn_cast<MemRefType>(op->getOperand(0).getType());
      if (call &&
          (*call == "qopt_kernel_matmul_s8s8" ||
           *call == "qopt_kernel_matmul_u8s8") &&
          a && a.getRank() == 2 && a.isDynamicDim(0))
        dynamicInt8.push_back(op);
    });
    for (linalg::GenericOp op : dynamicInt8) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value m = memref::DimOp::create(b, loc, op->getOperand(0), 0);
      Value limit = arith::ConstantIndexOp::create(b, loc, maxInt8Rows);
      Value small =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, m, limit);
      auto ifOp = scf::IfOp::create(b, loc, small, /*withElseRegion=*/true);
      b.setInsertionPointToStart(ifOp.thenBlock());
      auto gemv = cast<linalg::GenericOp>(b.clone(*op));
      gemv->setAttr("qopt.gemv_rows", b.getI64IntegerAttr(maxInt8Rows));
      b.setInsertionPointToStart(ifOp.elseBlock());
      cast<linalg::GenericOp>(b.clone(*op)).removeLibraryCallAttr();
      op.erase();
    }

    // Which tagged generics the GPU kernels take: W8A8 at decode shapes
    // (M at most maxInt8Rows; the tensor-core kernels keep the rest),
    // ternary with K % 64 == 0. The others lose their tag and are lowered
    // as before.
    module.walk([&](linalg::GenericOp op) {
      std::optional<StringRef> call = op.getLibraryCall();
      if (!call)
        return;
      bool keep = true;
      if (*call == "qopt_kernel_matmul_s8s8" ||
          *call == "qopt_kernel_matmul_u8s8") {
        auto a = dyn_cast<MemRefType>(op->getOperand(0).getType());
        keep = op->hasAttr("qopt.gemv_rows") ||
               (a && !a.isDynamicDim(0) && a.getDimSize(0) <= maxInt8Rows);
      } else if (*call == "qopt_kernel_matmul_s8t2" ||
                 *call == "qopt_kernel_matmul_f32t2") {
        auto a = dyn_cast<MemRefType>(op->getOperand(0).getType());
        keep = a && a.getRank() == 3 && !a.isDynamicDim(1) &&
               (a.getDimSize(1) * 4) % 64 == 0;
      } else if (*call == "qopt_kernel_matmul_sparse24") {
        keep = floatMatmuls;
      } else if (!call->starts_with(kCpuPrefix)) {
        keep = false;
      } else {
        StringRef suffix = call->drop_front(kCpuPrefix.size());
        // int4/uint4 with int8 activations (dynamic_block): the GPU's 4-bit
        // kernels compute with float activations.
        if (suffix == "w4_a8" || suffix == "wu4_a8") {
          suffix = suffix.drop_back(3);
          op.setLibraryCallAttr(
              OpBuilder(op).getStringAttr((kCpuPrefix + suffix).str()));
        }
        keep = isQuantKernel(suffix) || suffix == "wu4" || suffix == "nf4";
      }
      if (!keep)
        op.removeLibraryCallAttr();
    });

    RewritePatternSet patterns(&getContext());
    qopt::populateQuantKernelCallsPatterns(patterns);
    // The 2:4 products: int8 always, float32 with float-matmuls (its tag
    // is gone otherwise).
    qopt::populateSparse24KernelCallsPatterns(patterns);
    if (floatMatmuls)
      qopt::populateFloatMatmulKernelCallsPatterns(patterns);
    if (halfMatmuls)
      qopt::populateHalfMatmulKernelCallsPatterns(patterns);
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();

    // qopt_kernel_matmul_<kind>(args) -> qopt_cuda_matmul_<kind>(args, 0).
    OpBuilder b(&getContext());
    SmallVector<func::CallOp> calls;
    module.walk([&](func::CallOp call) {
      StringRef callee = call.getCallee();
      if (callee.starts_with(kCpuPrefix) &&
          (isQuantKernel(callee.drop_front(kCpuPrefix.size())) ||
           (floatMatmuls &&
            (callee == kFloatKernel || callee == kSparse24Kernel))))
        calls.push_back(call);
    });
    for (func::CallOp call : calls) {
      std::string name =
          (kGpuPrefix + call.getCallee().drop_front(kCpuPrefix.size())).str();
      SmallVector<Value> args(call.getOperands());
      b.setInsertionPoint(call);
      // qopt_cuda_matmul_f32 and _sparse24_f32 also take the precision
      // (GpuPrecision's value).
      if (call.getCallee() == kFloatKernel ||
          call.getCallee() == kSparse24Kernel)
        args.push_back(arith::ConstantIntOp::create(
            b, call.getLoc(), static_cast<int64_t>(precision.getValue()), 64));
      args.push_back(arith::ConstantIntOp::create(b, call.getLoc(), 0, 64));
      auto kernel = module.lookupSymbol<func::FuncOp>(name);
      if (!kernel) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(module.getBody());
        SmallVector<Type> types(args.size(), b.getI64Type());
        kernel = func::FuncOp::create(b, module.getLoc(), name,
                                      b.getFunctionType(types, {}));
        kernel.setPrivate();
      }
      func::CallOp::create(b, call.getLoc(), kernel, args);
      StringRef old = call.getCallee();
      call.erase();
      if (auto decl = module.lookupSymbol<func::FuncOp>(old))
        if (decl.isDeclaration() && decl.symbolKnownUseEmpty(module))
          decl.erase();
    }
  }
};

} // namespace
