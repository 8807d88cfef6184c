//===- FuseNorms.cpp - LayerNorm / RMS norms as one runtime kernel call ---===//
//
// Matches the statistics and normalization generics of LayerNormalization,
// RMSNormalization and torch's decomposed RMS norm over the last dim
// (Passes.td describes them) and replaces them by one qopt_kernel_norm_f32
// call on views of the input and the parameters (KernelViews.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "KernelViews.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <cstring>

namespace mlir::qopt {
#define GEN_PASS_DEF_FUSENORMSPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// What replaces a matched norm.
struct NormMatch {
  Value x;
  Value gamma, beta;                   // beta may be null
  int64_t gammaDim = -1, betaDim = -1; // their dims along the row
  float eps = 0;
  int64_t mode = 0; // the kernel's: 0 LayerNorm, 1 x / rms, 2 x * 1/rms,
                    // 3 LayerNorm dividing by the std
  linalg::GenericOp out;
  SmallVector<Operation *> chain; // ops that go (consumers first)
};

bool isF32Ranked(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getElementType().isF32();
}

/// A parallel generic of `rank` loops with an identity output map.
bool elementwise(linalg::GenericOp op, int64_t rank) {
  return op && op.hasPureTensorSemantics() && allParallel(op) &&
         op.getNumLoops() == unsigned(rank) && op.getNumDpsInits() == 1 &&
         op->getNumResults() == 1 &&
         op.getIndexingMapsArray().back().isIdentity() &&
         llvm::all_of(op->getOperands(), isF32Ranked);
}

Value arg(linalg::GenericOp op, unsigned i) {
  return op.getBlock()->getArgument(i);
}

/// `v` is `binop(a, b)` in either order: the other operand.
template <typename OpT> Value otherOperand(Value v, Value a) {
  auto op = v.getDefiningOp<OpT>();
  if (!op)
    return Value();
  if (op.getLhs() == a)
    return op.getRhs();
  if (op.getRhs() == a)
    return op.getLhs();
  return Value();
}

/// The map of a row statistic: the loops but the last.
bool isRowMap(AffineMap m, int64_t rank) {
  return m == AffineMap::getMultiDimIdentityMap(rank, m.getContext())
                  .dropResult(rank - 1);
}

/// Parameter input `i` of `op` read only along the last loop dim: the
/// tensor's dim doing so.
std::optional<int64_t> paramDim(linalg::GenericOp op, unsigned i,
                                int64_t rank) {
  AffineMap m = op.getIndexingMapsArray()[i];
  std::optional<int64_t> dim;
  for (auto [p, e] : llvm::enumerate(m.getResults())) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) {
      if (d.getPosition() != unsigned(rank - 1) || dim)
        return std::nullopt;
      dim = int64_t(p);
      continue;
    }
    auto c = dyn_cast<AffineConstantExpr>(e);
    if (!c || c.getValue() != 0)
      return std::nullopt;
  }
  return dim;
}

/// `op` = in / c over a row statistic, c == n: the input.
Value matchMeanOf(linalg::GenericOp op, int64_t n) {
  if (!op || !elementwise(op, op.getNumLoops()) || op.getNumDpsInputs() != 1 ||
      op.getBlock()->getOperations().size() != 2)
    return Value();
  auto div = yielded(op).getDefiningOp<arith::DivFOp>();
  if (!div || div.getLhs() != arg(op, 0))
    return Value();
  std::optional<float> c = scalarConstantIn(op, div.getRhs());
  if (!c || *c != float(n))
    return Value();
  return op.getDpsInputs()[0];
}

/// `op` = 1 / sqrt(in / n + eps): the input and eps.
std::optional<std::pair<Value, float>> matchInvStd(linalg::GenericOp op,
                                                   int64_t n) {
  if (!op || !elementwise(op, op.getNumLoops()) || op.getNumDpsInputs() != 1)
    return std::nullopt;
  auto div = yielded(op).getDefiningOp<arith::DivFOp>();
  std::optional<float> one =
      div ? scalarConstantIn(op, div.getLhs()) : std::nullopt;
  auto sqrt = div ? div.getRhs().getDefiningOp<math::SqrtOp>() : nullptr;
  if (!one || *one != 1.0f || !sqrt)
    return std::nullopt;
  auto add = sqrt.getOperand().getDefiningOp<arith::AddFOp>();
  auto var = add ? add.getLhs().getDefiningOp<arith::DivFOp>() : nullptr;
  std::optional<float> eps =
      add ? scalarConstantIn(op, add.getRhs()) : std::nullopt;
  std::optional<float> count =
      var ? scalarConstantIn(op, var.getRhs()) : std::nullopt;
  if (!var || !eps || !count || *count != float(n) ||
      var.getLhs() != arg(op, 0))
    return std::nullopt;
  return std::make_pair(op.getDpsInputs()[0], *eps);
}

/// A last-dim sum over `x` from 0 whose body adds term(in...) to the
/// accumulator: the term.
Value sumTerm(linalg::GenericOp op, Value x) {
  std::optional<float> init = op ? lastDimReduction(op, x) : std::nullopt;
  if (!init || *init != 0.0f)
    return Value();
  Block *b = op.getBlock();
  return otherOperand<arith::AddFOp>(yielded(op), b->getArguments().back());
}

/// LayerNormalization / RMSNormalization as the importer lowers them.
std::optional<NormMatch> matchImportedNorm(linalg::GenericOp out) {
  if (!out || !out.hasPureTensorSemantics())
    return std::nullopt;
  int64_t rank = out.getNumLoops();
  if (rank < 2 || !elementwise(out, rank))
    return std::nullopt;
  unsigned nIn = out.getNumDpsInputs();
  if (nIn < 3 || nIn > 5)
    return std::nullopt;
  Value x = out.getDpsInputs()[0];
  auto xTy = cast<RankedTensorType>(x.getType());
  if (!out.getIndexingMapsArray()[0].isIdentity() || xTy.isDynamicDim(rank - 1))
    return std::nullopt;
  int64_t n = xTy.getDimSize(rank - 1);
  SmallVector<AffineMap> maps = out.getIndexingMapsArray();
  NormMatch m;
  m.x = x;
  m.out = out;
  // Walk the body from the yield: (+ beta) (* gamma) (* inv) (- mean).
  Value y = yielded(out);
  auto isArg = [&](Value v, unsigned i) { return v == arg(out, i); };
  // RMS (x, inv, gamma) or LN (x, mean, inv, gamma, beta?).
  bool rms = nIn == 3;
  unsigned gi = rms ? 2 : 3;
  if (!rms && nIn == 5) {
    Value rest = otherOperand<arith::AddFOp>(y, arg(out, 4));
    if (!rest)
      return std::nullopt;
    std::optional<int64_t> bd = paramDim(out, 4, rank);
    if (!bd)
      return std::nullopt;
    m.beta = out.getDpsInputs()[4];
    m.betaDim = *bd;
    y = rest;
  } else if (!rms && nIn != 4) {
    return std::nullopt;
  }
  Value scaled = otherOperand<arith::MulFOp>(y, arg(out, gi));
  std::optional<int64_t> gd = paramDim(out, gi, rank);
  if (!scaled || !gd)
    return std::nullopt;
  m.gamma = out.getDpsInputs()[gi];
  m.gammaDim = *gd;
  unsigned invI = rms ? 1 : 2;
  Value centred = otherOperand<arith::MulFOp>(scaled, arg(out, invI));
  if (!centred || !isRowMap(maps[invI], rank))
    return std::nullopt;
  if (rms) {
    if (!isArg(centred, 0) || out.getBlock()->getOperations().size() != 3)
      return std::nullopt;
  } else {
    auto sub = centred.getDefiningOp<arith::SubFOp>();
    if (!sub || !isArg(sub.getLhs(), 0) || !isArg(sub.getRhs(), 1) ||
        !isRowMap(maps[1], rank) ||
        out.getBlock()->getOperations().size() != size_t(nIn == 5 ? 5 : 4))
      return std::nullopt;
  }
  // The statistics.
  Value inv = out.getDpsInputs()[invI];
  auto invOp = inv.getDefiningOp<linalg::GenericOp>();
  std::optional<std::pair<Value, float>> is = matchInvStd(invOp, n);
  if (!is || !inv.hasOneUse())
    return std::nullopt;
  m.eps = is->second;
  Value sq = is->first;
  auto sqOp = sq.getDefiningOp<linalg::GenericOp>();
  Value term = sumTerm(sqOp, x);
  if (!term || !sq.hasOneUse())
    return std::nullopt;
  auto mul = term.getDefiningOp<arith::MulFOp>();
  if (!mul || mul.getLhs() != mul.getRhs())
    return std::nullopt;
  m.chain = {out, invOp, sqOp};
  if (rms) {
    if (sqOp.getNumDpsInputs() != 1 || mul.getLhs() != arg(sqOp, 0))
      return std::nullopt;
    m.mode = 2;
    return m;
  }
  // LN: the centred square, and the mean.
  auto d = mul.getLhs().getDefiningOp<arith::SubFOp>();
  Value mean = out.getDpsInputs()[1];
  if (!d || sqOp.getNumDpsInputs() != 2 || sqOp.getDpsInputs()[1] != mean ||
      d.getLhs() != arg(sqOp, 0) || d.getRhs() != arg(sqOp, 1) ||
      !isRowMap(sqOp.getIndexingMapsArray()[1], rank) ||
      !onlyUsedBy(mean, {out, sqOp}))
    return std::nullopt;
  auto meanOp = mean.getDefiningOp<linalg::GenericOp>();
  Value sum = matchMeanOf(meanOp, n);
  auto sumOp = sum ? sum.getDefiningOp<linalg::GenericOp>() : nullptr;
  Value st = sumTerm(sumOp, x);
  if (!sum || !sum.hasOneUse() || st != arg(sumOp, 0) ||
      sumOp.getNumDpsInputs() != 1)
    return std::nullopt;
  m.chain.append({meanOp, sumOp});
  m.mode = 0;
  return m;
}

/// `op` = a (op) p or p (op) a, a of identity map and p a parameter read
/// along the last dim (OpT: mulf or addf): a's operand index, p's dim.
template <typename OpT>
std::optional<std::pair<unsigned, int64_t>> withParam(linalg::GenericOp op,
                                                      int64_t rank) {
  if (!op || !elementwise(op, rank) || op.getNumDpsInputs() != 2 ||
      op.getBlock()->getOperations().size() != 2)
    return std::nullopt;
  for (unsigned ai = 0; ai < 2; ++ai) {
    if (!op.getIndexingMapsArray()[ai].isIdentity() ||
        otherOperand<OpT>(yielded(op), arg(op, ai)) != arg(op, 1 - ai))
      continue;
    if (std::optional<int64_t> d = paramDim(op, 1 - ai, rank))
      return std::make_pair(ai, *d);
  }
  return std::nullopt;
}

/// `v` = expand_shape(mean over the last dim of `of`) read as [..., 1]:
/// the mean op and the sum op.
std::optional<std::pair<linalg::GenericOp, linalg::GenericOp>>
matchExpandedMean(Value v, Value of, int64_t n) {
  auto expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand || !v.hasOneUse())
    return std::nullopt;
  Value mean = expand.getSrc();
  auto meanOp = mean.getDefiningOp<linalg::GenericOp>();
  Value sum = matchMeanOf(meanOp, n);
  if (!sum || !mean.hasOneUse() || !sum.hasOneUse())
    return std::nullopt;
  auto sumOp = sum.getDefiningOp<linalg::GenericOp>();
  if (!sumOp || sumOp.getNumDpsInputs() != 1 || sumOp.getDpsInputs()[0] != of ||
      sumTerm(sumOp, of) != arg(sumOp, 0))
    return std::nullopt;
  return std::make_pair(meanOp, sumOp);
}

/// The RMS norm and LayerNorm torch exports decomposed:
///   RMS: x / sqrt(mean(x * x) + eps) * gamma (+ beta)
///   LN:  d = x - mean(x); d / sqrt(mean(d * d) + eps) * gamma (+ beta)
/// (x * x as Mul(x, x) or Pow(x, 2), mean as ReduceMean with keepdims).
std::optional<NormMatch> matchDecomposedNorm(linalg::GenericOp out) {
  if (!out || !out.hasPureTensorSemantics())
    return std::nullopt;
  int64_t rank = out.getNumLoops();
  if (rank < 2)
    return std::nullopt;
  NormMatch m;
  m.out = out;
  linalg::GenericOp mulOp = out;
  // + beta: the add is the root; a Mul(gamma) feeding one leaves it to it.
  if (auto add = withParam<arith::AddFOp>(out, rank)) {
    m.beta = out.getDpsInputs()[1 - add->first];
    m.betaDim = add->second;
    Value in = out.getDpsInputs()[add->first];
    mulOp = in.getDefiningOp<linalg::GenericOp>();
    if (!in.hasOneUse())
      return std::nullopt;
  } else if (out->getResult(0).hasOneUse()) {
    auto user =
        dyn_cast<linalg::GenericOp>(*out->getResult(0).getUsers().begin());
    if (withParam<arith::AddFOp>(user, rank))
      return std::nullopt;
  }
  auto mul = withParam<arith::MulFOp>(mulOp, rank);
  if (!mul)
    return std::nullopt;
  m.gamma = mulOp.getDpsInputs()[1 - mul->first];
  m.gammaDim = mul->second;
  Value q = mulOp.getDpsInputs()[mul->first];
  auto divOp = q.getDefiningOp<linalg::GenericOp>();
  if (!q.hasOneUse() || !elementwise(divOp, rank) ||
      divOp.getNumDpsInputs() != 2 ||
      divOp.getBlock()->getOperations().size() != 2)
    return std::nullopt;
  auto div = yielded(divOp).getDefiningOp<arith::DivFOp>();
  SmallVector<AffineMap> dm = divOp.getIndexingMapsArray();
  if (!div || div.getLhs() != arg(divOp, 0) || div.getRhs() != arg(divOp, 1) ||
      !dm[0].isIdentity())
    return std::nullopt;
  // Row statistics [..., 1] read as (d0, ..., 0).
  SmallVector<AffineExpr> rowZero;
  for (int64_t i = 0; i + 1 < rank; ++i)
    rowZero.push_back(getAffineDimExpr(i, out.getContext()));
  rowZero.push_back(getAffineConstantExpr(0, out.getContext()));
  AffineMap rowZeroMap = AffineMap::get(rank, 0, rowZero, out.getContext());
  if (dm[1] != rowZeroMap)
    return std::nullopt;
  Value num = divOp.getDpsInputs()[0];
  auto numTy = cast<RankedTensorType>(num.getType());
  if (numTy.isDynamicDim(rank - 1))
    return std::nullopt;
  int64_t n = numTy.getDimSize(rank - 1);
  // LN: num = x - expand(mean(x)).
  Value x = num;
  linalg::GenericOp subOp;
  std::optional<std::pair<linalg::GenericOp, linalg::GenericOp>> centre;
  if (auto g = num.getDefiningOp<linalg::GenericOp>();
      g && elementwise(g, rank) && g.getNumDpsInputs() == 2 &&
      g.getBlock()->getOperations().size() == 2 &&
      g.getIndexingMapsArray()[0].isIdentity() &&
      g.getIndexingMapsArray()[1] == rowZeroMap) {
    auto sub = yielded(g).getDefiningOp<arith::SubFOp>();
    if (!sub || sub.getLhs() != arg(g, 0) || sub.getRhs() != arg(g, 1))
      return std::nullopt;
    x = g.getDpsInputs()[0];
    centre = matchExpandedMean(g.getDpsInputs()[1], x, n);
    if (!centre)
      return std::nullopt;
    subOp = g;
  }
  m.x = x;
  // r = sqrt(a), a = e + eps, e = expand(mean(num * num)).
  Value r = divOp.getDpsInputs()[1];
  auto sqrtOp = r.getDefiningOp<linalg::GenericOp>();
  if (!r.hasOneUse() || !elementwise(sqrtOp, rank) ||
      sqrtOp.getNumDpsInputs() != 1 ||
      !sqrtOp.getIndexingMapsArray()[0].isIdentity())
    return std::nullopt;
  auto sqrt = yielded(sqrtOp).getDefiningOp<math::SqrtOp>();
  if (!sqrt || sqrt.getOperand() != arg(sqrtOp, 0) ||
      sqrtOp.getBlock()->getOperations().size() != 2)
    return std::nullopt;
  Value a = sqrtOp.getDpsInputs()[0];
  auto addOp = a.getDefiningOp<linalg::GenericOp>();
  if (!a.hasOneUse() || !elementwise(addOp, rank) ||
      addOp.getBlock()->getOperations().size() != 2)
    return std::nullopt;
  std::optional<float> eps;
  Value e;
  for (unsigned i = 0; i < addOp.getNumDpsInputs() && !eps; ++i) {
    Value other = otherOperand<arith::AddFOp>(yielded(addOp), arg(addOp, i));
    if (other && addOp.getIndexingMapsArray()[i].isIdentity() &&
        (eps = scalarConstantIn(addOp, other)))
      e = addOp.getDpsInputs()[i];
  }
  if (!eps)
    return std::nullopt;
  m.eps = *eps;
  auto expand = e.getDefiningOp<tensor::ExpandShapeOp>();
  auto sumOfSq =
      expand
          ? matchMeanOf(expand.getSrc().getDefiningOp<linalg::GenericOp>(), n)
          : Value();
  auto sqOp = sumOfSq ? sumOfSq.getDefiningOp<linalg::GenericOp>() : nullptr;
  Value sq =
      sqOp && sqOp.getNumDpsInputs() == 1 ? sqOp.getDpsInputs()[0] : Value();
  auto stats = sq ? matchExpandedMean(e, sq, n) : std::nullopt;
  if (!stats || !sq.hasOneUse())
    return std::nullopt;
  // num * num: Mul(num, num) or Pow(num, 2).
  auto sqGen = sq.getDefiningOp<linalg::GenericOp>();
  if (!elementwise(sqGen, rank) ||
      sqGen.getBlock()->getOperations().size() != 2 ||
      !llvm::all_of(sqGen.getDpsInputs(), [&](Value v) { return v == num; }) ||
      !llvm::all_of(sqGen.getIndexingMapsArray(),
                    [](AffineMap mp) { return mp.isIdentity(); }))
    return std::nullopt;
  auto sqMul = yielded(sqGen).getDefiningOp<arith::MulFOp>();
  Value last = arg(sqGen, sqGen.getNumDpsInputs() - 1);
  if (!sqMul ||
      otherOperand<arith::MulFOp>(yielded(sqGen), arg(sqGen, 0)) != last)
    return std::nullopt;
  m.chain = {out};
  if (mulOp != out)
    m.chain.push_back(mulOp);
  m.chain.append(
      {divOp, sqrtOp, addOp, expand, stats->first, stats->second, sqGen});
  if (subOp) {
    if (!onlyUsedBy(num, {divOp, sqGen}))
      return std::nullopt;
    m.chain.append(
        {subOp, centre->first.getOperation(), centre->second.getOperation()});
    // The mean's expand_shape.
    m.chain.push_back(subOp.getDpsInputs()[1].getDefiningOp());
    m.mode = 3;
  } else {
    m.mode = 1;
  }
  return m;
}

struct FuseNormsPass : qopt::impl::FuseNormsPassBase<FuseNormsPass> {
  void runOnOperation() override {
    SmallVector<NormMatch> matches;
    getOperation().walk([&](linalg::GenericOp op) {
      if (std::optional<NormMatch> m = matchImportedNorm(op))
        matches.push_back(*m);
      else if (std::optional<NormMatch> m = matchDecomposedNorm(op))
        matches.push_back(*m);
    });
    IRRewriter rewriter(&getContext());
    for (NormMatch &m : matches)
      replace(rewriter, m);
  }

  void replace(IRRewriter &rewriter, NormMatch &m) {
    Location loc = m.out.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(m.out);
    auto xTy = cast<RankedTensorType>(m.x.getType());
    int64_t rank = xTy.getRank();
    // x as [rows, n].
    Value x2 = m.x;
    if (rank > 2) {
      SmallVector<ReassociationIndices> groups(2);
      for (int64_t i = 0; i + 1 < rank; ++i)
        groups[0].push_back(i);
      groups[1].push_back(rank - 1);
      x2 = tensor::CollapseShapeOp::create(rewriter, loc, m.x, groups);
    }
    Value rows = dimOf(rewriter, loc, x2, 0), n = dimOf(rewriter, loc, x2, 1);
    SmallVector<Value> args{asI64(rewriter, loc, rows),
                            asI64(rewriter, loc, n)};
    args.push_back(kernelView(rewriter, loc, x2, {0, 1}, {rows, n}));
    args.push_back(kernelView(rewriter, loc, m.gamma, {m.gammaDim}, {n}));
    if (m.beta)
      args.push_back(kernelView(rewriter, loc, m.beta, {m.betaDim}, {n}));
    else
      args.append(
          {i64Constant(rewriter, loc, 0), i64Constant(rewriter, loc, 0)});
    // The output: a buffer of the result's shape, viewed as [rows, n].
    auto rTy = cast<RankedTensorType>(m.out->getResult(0).getType());
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < rank; ++d)
      if (rTy.isDynamicDim(d))
        dyn.push_back(dimOf(rewriter, loc, m.x, d));
    Value buf = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(rTy.getShape(), rTy.getElementType()),
        dyn, rewriter.getI64IntegerAttr(64));
    Value buf2 = buf;
    if (rank > 2) {
      SmallVector<ReassociationIndices> groups(2);
      for (int64_t i = 0; i + 1 < rank; ++i)
        groups[0].push_back(i);
      groups[1].push_back(rank - 1);
      buf2 = memref::CollapseShapeOp::create(rewriter, loc, buf, groups);
    }
    args.push_back(kernelViewOfBuffer(rewriter, loc, buf2, {0, 1}, {rows, n}));
    uint32_t bits;
    std::memcpy(&bits, &m.eps, sizeof bits);
    args.push_back(i64Constant(rewriter, loc, int64_t(bits)));
    args.push_back(i64Constant(rewriter, loc, m.mode));
    createViewsCall(rewriter, loc, m.out, "qopt_kernel_norm_f32", args);
    rewriter.replaceAllUsesWith(m.out->getResult(0),
                                bufferAsTensor(rewriter, loc, buf));
    // Consumers before producers: repeat until nothing more goes.
    for (bool erased = true; erased;) {
      erased = false;
      for (Operation *&op : m.chain)
        if (op && op->use_empty()) {
          rewriter.eraseOp(op);
          op = nullptr;
          erased = true;
        }
    }
  }
};

} // namespace
