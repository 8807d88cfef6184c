//===- ReassociateReductions.cpp - vector order for order-free reductions -===//
//
// Marks the combining op of max/min reductions (exact in any order) and of
// sums of exponentials (positive terms: softmax's denominator)
// `fastmath<reassoc>`, so that LLVM's loop vectorizer may reduce them in
// vector order. Passes.td gives the conditions.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_REASSOCIATEREDUCTIONSPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// The op combining the accumulator with the next term when `op` is a
/// float reduction of one init whose accumulator is used by that op only.
Operation *combiner(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() == 0)
    return nullptr;
  Block *body = op.getBlock();
  BlockArgument acc = body->getArguments().back();
  if (!isa<FloatType>(acc.getType()) || !acc.hasOneUse())
    return nullptr;
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Operation *comb = yield.getValues().front().getDefiningOp();
  if (!comb || comb->getNumOperands() != 2 || *acc.getUsers().begin() != comb)
    return nullptr;
  return comb;
}

/// The term `comb` adds to the accumulator.
Value term(Operation *comb, BlockArgument acc) {
  return comb->getOperand(0) == acc ? comb->getOperand(1) : comb->getOperand(0);
}

bool orderFree(linalg::GenericOp op, Operation *comb) {
  if (isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp,
          arith::MinNumFOp>(comb))
    return true;
  if (!isa<arith::AddFOp>(comb))
    return false;
  Value t = term(comb, op.getBlock()->getArguments().back());
  return t.getDefiningOp<math::ExpOp>() != nullptr;
}

struct ReassociateReductionsPass
    : qopt::impl::ReassociateReductionsPassBase<ReassociateReductionsPass> {
  void runOnOperation() override {
    getOperation().walk([](linalg::GenericOp op) {
      Operation *comb = combiner(op);
      if (!comb || !orderFree(op, comb))
        return;
      auto fm = dyn_cast<arith::ArithFastMathInterface>(comb);
      if (!fm)
        return;
      arith::FastMathFlags flags = fm.getFastMathFlagsAttr()
                                       ? fm.getFastMathFlagsAttr().getValue()
                                       : arith::FastMathFlags::none;
      comb->setAttr(
          fm.getFastMathAttrName(),
          arith::FastMathFlagsAttr::get(op.getContext(),
                                        flags | arith::FastMathFlags::reassoc));
    });
  }
};

} // namespace
