//===- ReassociateReductions.cpp - vector order for order-free reductions -===//
//
// Marks the combining op of max/min reductions (exact in any order) and of
// sums of non-negative terms (softmax's denominator, sums of squares)
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

/// Whether `a` and `b` are one value in a generic's body: the same SSA
/// value, or two inputs reading one tensor through one indexing map (the
/// importer's `Mul(x, x)`).
bool sameElement(Value a, Value b) {
  if (a == b)
    return true;
  auto x = dyn_cast<BlockArgument>(a), y = dyn_cast<BlockArgument>(b);
  if (!x || !y || x.getOwner() != y.getOwner())
    return false;
  auto g = dyn_cast<linalg::GenericOp>(x.getOwner()->getParentOp());
  if (!g || x.getArgNumber() >= g.getNumDpsInputs() ||
      y.getArgNumber() >= g.getNumDpsInputs())
    return false;
  OpOperand *u = g.getDpsInputOperand(x.getArgNumber());
  OpOperand *w = g.getDpsInputOperand(y.getArgNumber());
  return u->get() == w->get() &&
         g.getMatchingIndexingMap(u) == g.getMatchingIndexingMap(w);
}

/// +0 or above, or NaN, never -0 (so that any order's sum of such terms is
/// the same zero when all are zero): `v`, a value in a generic's body, by
/// the ops computing it — squares, exp, sqrt, |x|, products, quotients and
/// sums of such values, roundings and selects of them (a fake quant of a
/// square), non-negative constants — looking through the producers of the
/// generic's inputs up to `depth` generics away.
bool nonNegative(Value v, int depth) {
  auto constNonNeg = [](Attribute a) {
    auto nonNeg = [](const APFloat &f) { return f.isNaN() || !f.isNegative(); };
    if (auto f = dyn_cast<FloatAttr>(a))
      return nonNeg(f.getValue());
    if (auto d = dyn_cast<DenseFPElementsAttr>(a))
      return llvm::all_of(d.getValues<APFloat>(), nonNeg);
    return false;
  };
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto g = dyn_cast<linalg::GenericOp>(arg.getOwner()->getParentOp());
    if (!g || arg.getArgNumber() >= g.getNumDpsInputs() || depth == 0)
      return false;
    Value in = g.getDpsInputOperand(arg.getArgNumber())->get();
    if (auto c = in.getDefiningOp<arith::ConstantOp>())
      return constNonNeg(c.getValue());
    auto p = in.getDefiningOp<linalg::GenericOp>();
    if (!p || p->getNumResults() != 1 || !p.hasPureTensorSemantics())
      return false;
    auto yield = cast<linalg::YieldOp>(p.getBlock()->getTerminator());
    return nonNegative(yield.getValues().front(), depth - 1);
  }
  Operation *op = v.getDefiningOp();
  if (!op)
    return false;
  if (auto c = dyn_cast<arith::ConstantOp>(op))
    return constNonNeg(c.getValue());
  if (isa<math::ExpOp, math::SqrtOp, math::AbsFOp>(op))
    return true;
  if (auto m = dyn_cast<arith::MulFOp>(op);
      m && sameElement(m.getLhs(), m.getRhs()))
    return true;
  if (isa<arith::MulFOp, arith::DivFOp, arith::AddFOp, arith::MinimumFOp,
          arith::MinNumFOp>(op))
    return nonNegative(op->getOperand(0), depth) &&
           nonNegative(op->getOperand(1), depth);
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(op))
    return nonNegative(op->getOperand(0), depth) ||
           nonNegative(op->getOperand(1), depth);
  if (isa<math::RoundEvenOp, math::RoundOp, math::FloorOp, math::CeilOp,
          math::TruncOp>(op))
    return nonNegative(op->getOperand(0), depth);
  if (auto s = dyn_cast<arith::SelectOp>(op))
    return nonNegative(s.getTrueValue(), depth) &&
           nonNegative(s.getFalseValue(), depth);
  return false;
}

/// How many generics away nonNegative looks for the terms' producers.
constexpr int kProducerDepth = 4;

bool orderFree(linalg::GenericOp op, Operation *comb) {
  if (isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp,
          arith::MinNumFOp>(comb))
    return true;
  if (!isa<arith::AddFOp>(comb))
    return false;
  return nonNegative(term(comb, op.getBlock()->getArguments().back()),
                     kProducerDepth);
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
