//===- FuseAttentionMasks.cpp - boolean attention masks -------------------===//
//
// FuseAttentionMasks.h: the Where / masked_fill forms of an attention mask
// for qopt-fuse-attention.
//
//===----------------------------------------------------------------------===//

#include "FuseAttentionMasks.h"

#include "KernelViews.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The most negative fill the causal flag stands for: a hidden key's
/// exp(fill - max) underflows to 0 once a visible score exceeds fill + 104.
constexpr float kCausalFill = -1e4f;
/// The most negative fill that may be added instead of selected.
constexpr float kAdditiveFill = -1e30f;

int64_t posOfDim(AffineMap map, unsigned d) {
  for (auto [i, e] : llvm::enumerate(map.getResults()))
    if (auto de = dyn_cast<AffineDimExpr>(e); de && de.getPosition() == d)
      return int64_t(i);
  return -1;
}

} // namespace

std::optional<WhereMask> mlir::qopt::matchWhereMask(linalg::GenericOp op,
                                                    Value s) {
  auto sTy = dyn_cast<RankedTensorType>(s.getType());
  if (!op || !sTy || !sTy.getElementType().isF32() ||
      !op.hasPureTensorSemantics() || !allParallel(op) ||
      op.getNumDpsInits() != 1 || op->getNumResults() != 1 ||
      op->getResult(0).getType() != s.getType() ||
      !op.getIndexingMapsArray().back().isIdentity() ||
      op.getBlock()->getOperations().size() != 2 || op.getNumDpsInputs() < 2 ||
      op.getNumDpsInputs() > 3)
    return std::nullopt;
  auto sel = yielded(op).getDefiningOp<arith::SelectOp>();
  if (!sel)
    return std::nullopt;
  Block *body = op.getBlock();
  auto condArg = dyn_cast<BlockArgument>(sel.getCondition());
  if (!condArg || condArg.getOwner() != body ||
      condArg.getArgNumber() >= unsigned(op.getNumDpsInputs()))
    return std::nullopt;
  WhereMask w;
  w.op = op;
  w.scores = s;
  w.cond = op.getDpsInputOperand(condArg.getArgNumber());
  auto cTy = dyn_cast<RankedTensorType>(w.cond->get().getType());
  if (!cTy || !cTy.getElementType().isInteger(1))
    return std::nullopt;
  for (AffineExpr e : op.getMatchingIndexingMap(w.cond).getResults()) {
    auto c = dyn_cast<AffineConstantExpr>(e);
    if (!isa<AffineDimExpr>(e) && !(c && c.getValue() == 0))
      return std::nullopt;
  }
  // The scores: an identity-mapped input other than the condition.
  auto isScores = [&](Value v) {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != body ||
        arg.getArgNumber() >= unsigned(op.getNumDpsInputs()))
      return false;
    OpOperand *in = op.getDpsInputOperand(arg.getArgNumber());
    return in != w.cond && in->get() == s &&
           op.getMatchingIndexingMap(in).isIdentity();
  };
  Value fillVal;
  if (isScores(sel.getTrueValue())) {
    w.keepWhenTrue = true;
    fillVal = sel.getFalseValue();
  } else if (isScores(sel.getFalseValue())) {
    w.keepWhenTrue = false;
    fillVal = sel.getTrueValue();
  } else {
    return std::nullopt;
  }
  std::optional<float> fill = scalarConstantIn(op, fillVal);
  if (!fill || std::isnan(*fill) || *fill > kCausalFill)
    return std::nullopt;
  w.fill = *fill;
  // Every input is the scores, the condition or the fill.
  for (OpOperand *in : op.getDpsInputOperands())
    if (in != w.cond && in->get() != s &&
        op.getBlock()->getArgument(in->getOperandNumber()) != fillVal)
      return std::nullopt;
  return w;
}

bool mlir::qopt::fillIsAdditive(const WhereMask &w) {
  return w.fill == -std::numeric_limits<float>::infinity() ||
         w.fill <= kAdditiveFill;
}

bool mlir::qopt::isCausalWhere(const WhereMask &w) {
  auto sTy = cast<RankedTensorType>(w.scores.getType());
  int64_t rank = sTy.getRank();
  if (rank < 2 || !sTy.hasStaticShape())
    return false;
  int64_t m = sTy.getDimSize(rank - 2), n = sTy.getDimSize(rank - 1);
  if (m * n > (int64_t(1) << 22))
    return false;
  Value cond = w.cond->get();
  auto cTy = cast<RankedTensorType>(cond.getType());
  AffineMap map = linalg::GenericOp(w.op).getMatchingIndexingMap(w.cond);
  int64_t pi = posOfDim(map, unsigned(rank - 2));
  int64_t pj = posOfDim(map, unsigned(rank - 1));
  if (pi < 0 || pj < 0 || !cTy.hasStaticShape() || cTy.getDimSize(pi) != m ||
      cTy.getDimSize(pj) != n)
    return false;
  for (int64_t d = 0; d < cTy.getRank(); ++d)
    if (d != pi && d != pj && cTy.getDimSize(d) != 1)
      return false;
  // The constant, possibly through a static, unit-stride slice.
  SmallVector<int64_t> offsets(cTy.getRank(), 0);
  Value src = cond;
  if (auto slice = cond.getDefiningOp<tensor::ExtractSliceOp>()) {
    if (!slice.hasUnitStride() ||
        slice.getSourceType().getRank() != cTy.getRank())
      return false;
    for (auto [i, off] : llvm::enumerate(slice.getMixedOffsets())) {
      std::optional<int64_t> c = getConstantIntValue(off);
      if (!c)
        return false;
      offsets[i] = *c;
    }
    src = slice.getSource();
  }
  DenseElementsAttr dense;
  if (!matchPattern(src, m_Constant(&dense)) || dense.isSplat() ||
      !dense.getElementType().isInteger(1))
    return false;
  ArrayRef<int64_t> shape = cast<ShapedType>(dense.getType()).getShape();
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  int64_t base = 0;
  for (auto [o, st] : llvm::zip(offsets, strides))
    base += o * st;
  auto values = dense.getValues<bool>();
  // Kept (true for Where(c, S, f), false for masked_fill) exactly where
  // j <= i + (n - m).
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      bool c = values[base + i * strides[pi] + j * strides[pj]];
      bool kept = w.keepWhenTrue ? c : !c;
      if (kept != (j <= i + (n - m)))
        return false;
    }
  return true;
}

Value mlir::qopt::additiveMaskOf(OpBuilder &b, Location loc,
                                 const WhereMask &w) {
  Value cond = w.cond->get();
  auto cTy = cast<RankedTensorType>(cond.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < cTy.getRank(); ++d)
    sizes.push_back(cTy.isDynamicDim(d)
                        ? OpFoldResult(tensor::DimOp::create(b, loc, cond, d))
                        : OpFoldResult(b.getIndexAttr(cTy.getDimSize(d))));
  Value empty = tensor::EmptyOp::create(b, loc, sizes, b.getF32Type());
  AffineMap id = b.getMultiDimIdentityMap(cTy.getRank());
  SmallVector<utils::IteratorType> iters(cTy.getRank(),
                                         utils::IteratorType::parallel);
  float fill = w.fill;
  bool keepWhenTrue = w.keepWhenTrue;
  auto gen = linalg::GenericOp::create(
      b, loc, TypeRange{empty.getType()}, ValueRange{cond}, ValueRange{empty},
      ArrayRef<AffineMap>{id, id}, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value zero = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(0));
        Value f = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(fill));
        Value r = keepWhenTrue
                      ? arith::SelectOp::create(nb, l, args[0], zero, f)
                      : arith::SelectOp::create(nb, l, args[0], f, zero);
        linalg::YieldOp::create(nb, l, r);
      });
  return gen->getResult(0);
}
