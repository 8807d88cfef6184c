//===- ShareRowQuantization.cpp - one int8 quantization per activation ----===//
//
// Merges the per-token quantization that w8a8-dynamic lowers once per
// linear layer when several layers read one activation (Passes.td).
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OperationSupport.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/Hashing.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_SHAREROWQUANTIZATIONPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// Runtime row kernels whose results depend on their inputs alone.
bool isRowKernel(linalg::GenericOp op) {
  std::optional<StringRef> call = op.getLibraryCall();
  return call && (*call == "qopt_kernel_row_absmax_f32" ||
                  *call == "qopt_kernel_quantize_rows_s8");
}

/// `a` and `b` are interchangeable destinations: equal, or fresh tensors
/// (tensor.empty of one type and sizes, or a fill of one constant into
/// such tensors).
bool sameFreshInit(Value a, Value b) {
  if (a == b)
    return true;
  if (a.getType() != b.getType())
    return false;
  if (auto ea = a.getDefiningOp<tensor::EmptyOp>()) {
    auto eb = b.getDefiningOp<tensor::EmptyOp>();
    return eb && ea.getDynamicSizes() == eb.getDynamicSizes();
  }
  auto fa = a.getDefiningOp<linalg::FillOp>();
  auto fb = b.getDefiningOp<linalg::FillOp>();
  if (!fa || !fb || fa->getNumResults() != 1 || fb->getNumResults() != 1)
    return false;
  Attribute ca, cb;
  if (!matchPattern(fa.getInputs()[0], m_Constant(&ca)) ||
      !matchPattern(fb.getInputs()[0], m_Constant(&cb)) || ca != cb)
    return false;
  return sameFreshInit(fa.getOutputs()[0], fb.getOutputs()[0]);
}

bool equivalent(Operation *a, Operation *b) {
  if (a->getName() != b->getName() ||
      a->getAttrDictionary() != b->getAttrDictionary() ||
      a->getResultTypes() != b->getResultTypes() ||
      a->getNumOperands() != b->getNumOperands())
    return false;
  if (auto ga = dyn_cast<linalg::GenericOp>(a)) {
    auto gb = cast<linalg::GenericOp>(b);
    if (ga.getDpsInputs() != gb.getDpsInputs() ||
        ga.getNumDpsInits() != gb.getNumDpsInits())
      return false;
    for (auto [ia, ib] : llvm::zip(ga.getDpsInits(), gb.getDpsInits()))
      if (!sameFreshInit(ia, ib))
        return false;
    return OperationEquivalence::isRegionEquivalentTo(
        &ga.getRegion(), &gb.getRegion(),
        OperationEquivalence::IgnoreLocations);
  }
  return a->getOperands() == b->getOperands();
}

llvm::hash_code hashOf(Operation *op) {
  llvm::hash_code h = llvm::hash_combine(op->getName().getAsOpaquePointer(),
                                         op->getNumOperands());
  ValueRange keyed = op->getOperands();
  if (auto g = dyn_cast<linalg::GenericOp>(op))
    keyed = g.getDpsInputs();
  for (Value v : keyed)
    h = llvm::hash_combine(h, v.getAsOpaquePointer());
  for (Type t : op->getResultTypes())
    h = llvm::hash_combine(h, t.getAsOpaquePointer());
  return h;
}

struct ShareRowQuantizationPass
    : qopt::impl::ShareRowQuantizationPassBase<ShareRowQuantizationPass> {
  void runOnOperation() override {
    getOperation().walk([&](Block *block) { shareIn(*block); });
  }

  void shareIn(Block &block) {
    DenseMap<unsigned, SmallVector<Operation *>> seen;
    // Ops that another was merged into: their results now feed both
    // consumers' chains.
    DenseSet<Operation *> shared;
    for (Operation &op : llvm::make_early_inc_range(block)) {
      bool candidate = false, eligible = false;
      if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op)) {
        candidate = eligible = true;
      } else if (auto g = dyn_cast<linalg::GenericOp>(op);
                 g && g.hasPureTensorSemantics() && g->getNumResults() > 0) {
        candidate = true;
        // A row kernel, or an op on shared results only (the scales
        // between the abs-max and the quantization).
        eligible =
            isRowKernel(g) || (g.getNumDpsInputs() > 0 &&
                               llvm::all_of(g.getDpsInputs(), [&](Value v) {
                                 Operation *def = v.getDefiningOp();
                                 return def && shared.contains(def);
                               }));
      }
      if (!candidate)
        continue;
      SmallVector<Operation *> &bucket = seen[unsigned(hashOf(&op))];
      if (eligible) {
        auto it = llvm::find_if(
            bucket, [&](Operation *prev) { return equivalent(prev, &op); });
        if (it != bucket.end()) {
          op.replaceAllUsesWith((*it)->getResults());
          shared.insert(*it);
          op.erase();
          continue;
        }
      }
      bucket.push_back(&op);
    }
  }
};

} // namespace
