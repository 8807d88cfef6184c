//===- FuseElementwise.cpp - element-wise fusion without constant folding -===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// The most operations one fused loop body may hold.
constexpr size_t kMaxFusedBodyOps = 256;

/// The most operations (yield included) of a producer fused into a pool.
constexpr size_t kMaxPoolFusedOps = 8;

struct FuseElementwisePass
    : qopt::impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    // Fuse only into the single consumer: duplicating a producer into
    // several consumers recomputes it. Contractions stay pure (out + a*b):
    // the CPU pipeline hands those to its matmul kernel, which a fused
    // element-wise prologue would defeat; so do generics that name a
    // library_call (qopt.qlinear's kernels), whose operands are fixed.
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
      if (consumer && linalg::isaContractionOpInterface(consumer))
        return false;
      if (auto generic = dyn_cast<linalg::GenericOp>(fused->getOwner());
          generic && generic.getLibraryCall())
        return false;
      if (!producer || !producer->hasOneUse())
        return false;
      // A lookup in a small constant table (qopt-fold-qdq's tables of a
      // quantized chain) stays a loop of its own: LLVM vectorizes its gather
      // in a short loop, while a producer's chain fused in tips its cost
      // model to scalar code for the whole chain (the QDQ transformer's
      // GELU: 2.5x slower fused).
      if (auto generic = dyn_cast<linalg::GenericOp>(fused->getOwner());
          generic &&
          llvm::any_of(generic.getBody()->getOperations(), [](Operation &op) {
            auto e = dyn_cast<tensor::ExtractOp>(op);
            if (!e)
              return false;
            auto c = e.getTensor().getDefiningOp<arith::ConstantOp>();
            return c && e.getTensor().getType().getRank() == 1 &&
                   e.getTensor().getType().getNumElements() <= 65536;
          }))
        return false;
      // A producer the consumer reads broadcast (not a permutation of its
      // loops: dims dropped or pinned to 0; a per-row
      // sqrt(mean + eps) of RMSNorm dividing every element of its row) is
      // computed once per element of its own domain; fused, it would be
      // recomputed for every consumer element (and LLVM does not hoist it
      // out of the planned arena's loops). Keep it apart when its body holds
      // an expensive op (division, sqrt, transcendental).
      if (auto producerGeneric = dyn_cast<linalg::GenericOp>(producer);
          producerGeneric && consumer &&
          !consumer.getMatchingIndexingMap(fused).isPermutation() &&
          llvm::any_of(producerGeneric.getBody()->getOperations(),
                       [](Operation &op) {
                         return isa<arith::DivFOp, math::SqrtOp, math::RsqrtOp,
                                    math::ExpOp, math::LogOp, math::TanhOp,
                                    math::ErfOp, math::PowFOp>(op);
                       }))
        return false;
      // A pooling window (an input map that is not a projection: h*s + kh)
      // runs a fused producer's chain inside the window loops, unvectorized:
      // a short chain (a bias, a ReLU) is still cheaper there than a pass of
      // its own, a long one (a QDQ model's requantizations around a
      // BatchNorm) is not and stays its own loop nest.
      // The same holds for a reduction over a projection (a global average
      // pool, a softmax or LayerNorm row): its loop sums in order, in scalar
      // code, and a QDQ model's requantizing chain fused in runs there
      // unvectorized (the QDQ CNN's global pool took 7x the float one).
      if (consumer && consumer.getNumReductionLoops() > 0) {
        auto g = dyn_cast<linalg::GenericOp>(producer);
        if (g && g.getBody()->getOperations().size() > kMaxPoolFusedOps)
          return false;
      }
      // Each fusion clones both bodies: unbounded, a chain of n element-wise
      // ops costs O(n^2) to fuse (10k Adds took minutes). Past this size a
      // loop's body is compute-bound anyway; a new loop starts.
      auto producerGeneric = dyn_cast<linalg::GenericOp>(producer);
      auto consumerGeneric = dyn_cast<linalg::GenericOp>(fused->getOwner());
      if (producerGeneric && consumerGeneric &&
          producerGeneric.getBody()->getOperations().size() +
                  consumerGeneric.getBody()->getOperations().size() >
              kMaxFusedBodyOps)
        return false;
      return true;
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::EmptyOp::getCanonicalizationPatterns(patterns, ctx);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
