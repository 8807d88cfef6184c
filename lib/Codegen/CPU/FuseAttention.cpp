//===- FuseAttention.cpp - QK^T, softmax, V as one runtime kernel call ----===//
//
// Matches the linalg chain of scaled dot-product attention on tensors
// (Passes.td describes it) and replaces it by a call of the runtime's
// fused attention kernel on views of Q, K, V, the mask and the output
// (KernelViews.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "FuseAttentionMasks.h"
#include "KernelViews.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace mlir::qopt {
#define GEN_PASS_DEF_FUSEATTENTIONPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

bool isF32Tensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getElementType().isF32();
}

/// The body is exactly `acc + a * b` of the two inputs.
bool isPlainMulAdd(linalg::GenericOp op) {
  Block *body = op.getBlock();
  if (body->getOperations().size() != 3)
    return false;
  auto add = yielded(op).getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  BlockArgument acc = body->getArguments().back();
  Value other = add.getLhs() == acc   ? add.getRhs()
                : add.getRhs() == acc ? add.getLhs()
                                      : Value();
  auto mul = other ? other.getDefiningOp<arith::MulFOp>() : nullptr;
  if (!mul)
    return false;
  Value a = body->getArgument(0), b = body->getArgument(1);
  return (mul.getLhs() == a && mul.getRhs() == b) ||
         (mul.getLhs() == b && mul.getRhs() == a);
}

/// Position of loop dim `d` among `map`'s results (-1: absent).
int64_t posOf(AffineMap map, unsigned d) {
  for (auto [i, e] : llvm::enumerate(map.getResults()))
    if (auto de = dyn_cast<AffineDimExpr>(e); de && de.getPosition() == d)
      return int64_t(i);
  return -1;
}

/// C = A·B, zero-initialized, over (batch..., m, n, k) with one or two
/// batch dims; C's map lists (batch..., m, n) in order.
struct Contraction {
  linalg::GenericOp op;
  SmallVector<unsigned> batch;
  unsigned m, n, k;
};

std::optional<Contraction> matchContraction(Operation *def) {
  auto op = dyn_cast_or_null<linalg::GenericOp>(def);
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics() ||
      !llvm::all_of(op->getOperands(), isF32Tensor) ||
      !linalg::isaContractionOpInterface(op) || !isPlainMulAdd(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->m.size() != 1 ||
      dims->n.size() != 1 || dims->batch.empty() || dims->batch.size() > 2)
    return std::nullopt;
  if (!llvm::all_of(op.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isProjectedPermutation(); }))
    return std::nullopt;
  std::optional<float> init = filledWith(op.getDpsInits()[0]);
  if (!init || *init != 0.0f)
    return std::nullopt;
  AffineMap out = op.getIndexingMapsArray()[2];
  size_t nb = dims->batch.size();
  if (out.getNumResults() != nb + 2)
    return std::nullopt;
  Contraction c{op, {}, dims->m[0], dims->n[0], dims->k[0]};
  for (size_t i = 0; i < nb; ++i) {
    auto de = dyn_cast<AffineDimExpr>(out.getResult(i));
    if (!de || !llvm::is_contained(dims->batch, de.getPosition()))
      return std::nullopt;
    c.batch.push_back(de.getPosition());
  }
  if (posOf(out, c.m) != int64_t(nb) || posOf(out, c.n) != int64_t(nb + 1))
    return std::nullopt;
  return c;
}

/// Where kernel dims (batch..., rows, cols) sit in operand `o` of `c`
/// (padded in front with -1 to two batch dims).
SmallVector<int64_t> kernelDims(const Contraction &c, unsigned o, unsigned rows,
                                unsigned cols) {
  AffineMap map = linalg::GenericOp(c.op).getIndexingMapsArray()[o];
  SmallVector<int64_t> dims;
  if (c.batch.size() == 1)
    dims.push_back(-1);
  for (unsigned b : c.batch)
    dims.push_back(posOf(map, b));
  dims.push_back(posOf(map, rows));
  dims.push_back(posOf(map, cols));
  return dims;
}

Operation *singleUser(Value v) {
  if (!v.hasOneUse())
    return nullptr;
  return *v.getUsers().begin();
}

/// The input operand index of `op` that is `v` with an identity map.
std::optional<unsigned> identityInput(linalg::GenericOp op, Value v) {
  for (OpOperand *in : op.getDpsInputOperands())
    if (in->get() == v && op.getMatchingIndexingMap(in).isIdentity())
      return in->getOperandNumber();
  return std::nullopt;
}

/// An element-wise op on `s` with a result of s's type.
bool elementwiseOn(linalg::GenericOp op, Value s) {
  return op && op.hasPureTensorSemantics() && allParallel(op) &&
         op.getNumDpsInits() == 1 && op->getNumResults() == 1 &&
         op->getResult(0).getType() == s.getType() &&
         op.getIndexingMapsArray().back().isIdentity();
}

/// One arithmetic op and the yield.
bool singleOpBody(linalg::GenericOp op) {
  return op.getBlock()->getOperations().size() == 2;
}

/// S * c, c * S or S / c with c a constant: c, and whether it divides.
std::optional<std::pair<float, bool>> matchScale(linalg::GenericOp op,
                                                 Value s) {
  if (!elementwiseOn(op, s) || !singleOpBody(op))
    return std::nullopt;
  std::optional<unsigned> si = identityInput(op, s);
  if (!si)
    return std::nullopt;
  Value arg = op.getBlock()->getArgument(*si);
  Value y = yielded(op);
  if (auto mul = y.getDefiningOp<arith::MulFOp>()) {
    Value other = mul.getLhs() == arg   ? mul.getRhs()
                  : mul.getRhs() == arg ? mul.getLhs()
                                        : Value();
    if (std::optional<float> c =
            other ? scalarConstantIn(op, other) : std::nullopt)
      return std::make_pair(*c, false);
  }
  if (auto div = y.getDefiningOp<arith::DivFOp>(); div && div.getLhs() == arg)
    if (std::optional<float> c = scalarConstantIn(op, div.getRhs()))
      return std::make_pair(*c, true);
  return std::nullopt;
}

/// S + M or M + S with M an f32 tensor read through a map of loop dims and
/// zeros (a broadcast): M's operand.
OpOperand *matchMaskAdd(linalg::GenericOp op, Value s) {
  if (!elementwiseOn(op, s) || !singleOpBody(op) || op.getNumDpsInputs() != 2)
    return nullptr;
  std::optional<unsigned> si = identityInput(op, s);
  if (!si)
    return nullptr;
  OpOperand *mask = op.getDpsInputOperand(1 - *si);
  if (mask->get() == s || !isF32Tensor(mask->get()))
    return nullptr;
  for (AffineExpr e : op.getMatchingIndexingMap(mask).getResults()) {
    auto c = dyn_cast<AffineConstantExpr>(e);
    if (!isa<AffineDimExpr>(e) && !(c && c.getValue() == 0))
      return nullptr;
  }
  auto add = yielded(op).getDefiningOp<arith::AddFOp>();
  Value a = op.getBlock()->getArgument(0), b = op.getBlock()->getArgument(1);
  if (!add || !((add.getLhs() == a && add.getRhs() == b) ||
                (add.getLhs() == b && add.getRhs() == a)))
    return nullptr;
  return mask;
}

/// `exp(x - m)` of block arguments x and m.
bool isExpOfDiff(Value v, Value x, Value m) {
  auto exp = v.getDefiningOp<math::ExpOp>();
  auto sub = exp ? exp.getOperand().getDefiningOp<arith::SubFOp>() : nullptr;
  return sub && sub.getLhs() == x && sub.getRhs() == m;
}

/// The softmax of `s` over its last dim as the importer lowers Softmax:
/// max, sum of exp(s - max), exp(s - max) / sum. Returns the normalizing
/// op; `ops` gets the three.
linalg::GenericOp matchSoftmax(Value s, SmallVectorImpl<Operation *> &ops) {
  linalg::GenericOp maxOp, sumOp, normOp;
  for (Operation *u : s.getUsers()) {
    auto g = dyn_cast<linalg::GenericOp>(u);
    if (!g)
      return nullptr;
    if (g.getNumDpsInputs() == 1 && !maxOp)
      maxOp = g;
    else if (g.getNumDpsInputs() == 2 && !sumOp)
      sumOp = g;
    else if (g.getNumDpsInputs() == 3 && !normOp)
      normOp = g;
    else
      return nullptr;
  }
  if (!maxOp || !sumOp || !normOp)
    return nullptr;
  // max: maximumf(x, acc) from -inf (or the lowest float).
  std::optional<float> lowest = lastDimReduction(maxOp, s);
  if (!lowest || *lowest > -std::numeric_limits<float>::max() ||
      maxOp.getBlock()->getOperations().size() != 2)
    return nullptr;
  Block *mb = maxOp.getBlock();
  auto mx = yielded(maxOp).getDefiningOp<arith::MaximumFOp>();
  if (!mx || !((mx.getLhs() == mb->getArgument(0) &&
                mx.getRhs() == mb->getArgument(1)) ||
               (mx.getLhs() == mb->getArgument(1) &&
                mx.getRhs() == mb->getArgument(0))))
    return nullptr;
  Value max = maxOp->getResult(0);
  AffineMap row = maxOp.getIndexingMapsArray().back();
  // sum: acc + exp(x - max) from 0.
  std::optional<float> zero = lastDimReduction(sumOp, s);
  if (!zero || *zero != 0.0f || sumOp.getDpsInputs()[1] != max ||
      sumOp.getIndexingMapsArray()[1] != row ||
      sumOp.getBlock()->getOperations().size() != 4)
    return nullptr;
  Block *sb = sumOp.getBlock();
  auto add = yielded(sumOp).getDefiningOp<arith::AddFOp>();
  if (!add)
    return nullptr;
  Value term = add.getLhs() == sb->getArgument(2)   ? add.getRhs()
               : add.getRhs() == sb->getArgument(2) ? add.getLhs()
                                                    : Value();
  if (!term || !isExpOfDiff(term, sb->getArgument(0), sb->getArgument(1)))
    return nullptr;
  Value sum = sumOp->getResult(0);
  // norm: exp(x - max) / sum.
  SmallVector<AffineMap> nm = normOp.getIndexingMapsArray();
  if (!elementwiseOn(normOp, s) ||
      normOp.getBlock()->getOperations().size() != 4 ||
      normOp.getDpsInputs()[0] != s || normOp.getDpsInputs()[1] != max ||
      normOp.getDpsInputs()[2] != sum || !nm[0].isIdentity() || nm[1] != row ||
      nm[2] != row)
    return nullptr;
  Block *nb = normOp.getBlock();
  auto div = yielded(normOp).getDefiningOp<arith::DivFOp>();
  if (!div || div.getRhs() != nb->getArgument(2) ||
      !isExpOfDiff(div.getLhs(), nb->getArgument(0), nb->getArgument(1)))
    return nullptr;
  if (!onlyUsedBy(max, {sumOp, normOp}) || !onlyUsedBy(sum, {normOp}))
    return nullptr;
  ops.append({maxOp, sumOp, normOp});
  return normOp;
}

/// Reads through transposes in front of `v`: the tensor to view and the
/// dims of it that `dims` (dims of `v`) are.
Value throughTransposes(Value v, SmallVectorImpl<int64_t> &dims) {
  while (auto t = v.getDefiningOp<linalg::TransposeOp>()) {
    ArrayRef<int64_t> perm = t.getPermutation();
    for (int64_t &d : dims)
      if (d >= 0)
        d = perm[d];
    v = t.getInput();
  }
  return v;
}

//===----------------------------------------------------------------------===//
// The ONNX Attention operator's lowering (lib/Import/ONNX/Ops/Attention.cpp)
//===----------------------------------------------------------------------===//

/// A zero-initialized f32 contraction over loops (b, h, i, x, k) with maps
/// A (b, h, i, k), B (b, H, x, k) for QK^T or (b, H, k, x) for P·V, and
/// C (b, h, i, x), where H is h or h floordiv r (GQA): r.
std::optional<int64_t> matchHeadContraction(linalg::GenericOp op, bool pv) {
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics() || op.getNumLoops() != 5 ||
      !llvm::all_of(op->getOperands(), isF32Tensor) || !isPlainMulAdd(op))
    return std::nullopt;
  auto iters = op.getIteratorTypesArray();
  for (int i = 0; i < 5; ++i)
    if ((iters[i] == utils::IteratorType::reduction) != (i == 4))
      return std::nullopt;
  std::optional<float> init = filledWith(op.getDpsInits()[0]);
  if (!init || *init != 0.0f)
    return std::nullopt;
  MLIRContext *ctx = op.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0] != AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx) ||
      maps[2] != AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx) ||
      maps[1].getNumResults() != 4)
    return std::nullopt;
  AffineExpr head = maps[1].getResult(1);
  int64_t r = 1;
  if (auto bin = dyn_cast<AffineBinaryOpExpr>(head);
      bin && bin.getKind() == AffineExprKind::FloorDiv &&
      bin.getLHS() == d(1)) {
    auto c = dyn_cast<AffineConstantExpr>(bin.getRHS());
    if (!c || c.getValue() < 1)
      return std::nullopt;
    r = c.getValue();
  } else if (head != d(1)) {
    return std::nullopt;
  }
  AffineExpr x = pv ? d(4) : d(3), k = pv ? d(3) : d(4);
  if (maps[1].getResult(0) != d(0) || maps[1].getResult(2) != x ||
      maps[1].getResult(3) != k)
    return std::nullopt;
  return r;
}

/// `v` is `addf(a, b)` in either order: the other operand.
Value otherOperand(Value v, Value a) {
  auto add = v.getDefiningOp<arith::AddFOp>();
  if (!add)
    return Value();
  return add.getLhs() == a   ? add.getRhs()
         : add.getRhs() == a ? add.getLhs()
                             : Value();
}

/// `v` is a constant equal to `x`.
bool isConst(linalg::GenericOp op, Value v, float x) {
  std::optional<float> c = scalarConstantIn(op, v);
  return c && (*c == x || (std::isnan(x) && std::isnan(*c)));
}

/// `select(m == -inf, 0, m)`: the max taken as 0 on a row of -inf.
bool isSafeMax(linalg::GenericOp op, Value v, Value m) {
  auto sel = v.getDefiningOp<arith::SelectOp>();
  auto cmp = sel ? sel.getCondition().getDefiningOp<arith::CmpFOp>() : nullptr;
  float ninf = -std::numeric_limits<float>::infinity();
  return cmp && cmp.getPredicate() == arith::CmpFPredicate::OEQ &&
         cmp.getLhs() == m && isConst(op, cmp.getRhs(), ninf) &&
         isConst(op, sel.getTrueValue(), 0.0f) && sel.getFalseValue() == m;
}

/// `exp(x - safe(m))`.
bool isExpShifted(linalg::GenericOp op, Value v, Value x, Value m) {
  auto exp = v.getDefiningOp<math::ExpOp>();
  auto sub = exp ? exp.getOperand().getDefiningOp<arith::SubFOp>() : nullptr;
  return sub && sub.getLhs() == x && isSafeMax(op, sub.getRhs(), m);
}

/// `(int64) linalg.index(d)`.
bool isIndex(Value v, unsigned d) {
  auto cast = v.getDefiningOp<arith::IndexCastOp>();
  auto idx = cast ? cast.getIn().getDefiningOp<linalg::IndexOp>() : nullptr;
  return idx && idx.getDim() == d;
}

/// The bias/keep generic of the lowering: (L, keep) = (S + bias, bias !=
/// -inf) with bias = select(causal, mask | 0, -inf). Sets the mask operand
/// (or null) and whether it is causal; only the forms without past, window
/// or nonpad lengths.
bool matchBias(linalg::GenericOp op, Value s, OpOperand *&mask, bool &causal) {
  if (!op || !op.hasPureTensorSemantics() || !allParallel(op) ||
      op->getNumResults() != 2 || op.getNumLoops() != 4 ||
      op.getDpsInputs().empty() || op.getDpsInputs()[0] != s ||
      op.getNumDpsInputs() > 2 ||
      !llvm::all_of(op.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isProjectedPermutation(true); }))
    return false;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!maps[0].isIdentity() || !maps[maps.size() - 1].isIdentity() ||
      !maps[maps.size() - 2].isIdentity())
    return false;
  mask = op.getNumDpsInputs() == 2 ? op.getDpsInputOperand(1) : nullptr;
  if (mask && !isF32Tensor(mask->get()))
    return false;
  auto yield = cast<linalg::YieldOp>(op.getBlock()->getTerminator());
  Value sArg = op.getBlock()->getArgument(0);
  Value mArg = mask ? op.getBlock()->getArgument(1) : Value();
  float ninf = -std::numeric_limits<float>::infinity();
  Value bias = otherOperand(yield.getOperand(0), sArg);
  if (!bias)
    return false;
  // Non-causal: bias is the mask (or 0) itself, keep its comparison (or
  // true).
  causal = false;
  Value base = bias;
  if (auto sel = bias.getDefiningOp<arith::SelectOp>()) {
    auto cmp = sel.getCondition().getDefiningOp<arith::CmpIOp>();
    auto diff = cmp ? cmp.getLhs().getDefiningOp<arith::SubIOp>() : nullptr;
    IntegerAttr zero;
    if (!cmp || cmp.getPredicate() != arith::CmpIPredicate::sge || !diff ||
        !matchPattern(cmp.getRhs(), m_Constant(&zero)) || zero.getInt() != 0 ||
        !isIndex(diff.getLhs(), 2) || !isIndex(diff.getRhs(), 3) ||
        !isConst(op, sel.getFalseValue(), ninf))
      return false;
    causal = true;
    base = sel.getTrueValue();
  }
  if (mask ? base != mArg : !isConst(op, base, 0.0f))
    return false;
  Value keep = yield.getOperand(1);
  if (!causal && !mask) {
    BoolAttr t;
    return matchPattern(keep, m_Constant(&t)) && t.getValue();
  }
  auto kc = keep.getDefiningOp<arith::CmpFOp>();
  return kc && kc.getPredicate() == arith::CmpFPredicate::UNE &&
         kc.getLhs() == bias && isConst(op, kc.getRhs(), ninf);
}

struct FuseAttentionPass
    : qopt::impl::FuseAttentionPassBase<FuseAttentionPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> candidates;
    getOperation().walk([&](linalg::GenericOp op) {
      if (matchContraction(op) || matchHeadContraction(op, /*pv=*/true))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    // Producers come first: a P·V candidate is only erased by its own
    // match; QKᵀ contractions that a later match erases are skipped.
    for (linalg::GenericOp pv : candidates) {
      if (erased.contains(pv))
        continue;
      if (failed(fuse(rewriter, pv)))
        (void)fuseOnnxAttention(rewriter, pv);
    }
  }

  DenseSet<Operation *> erased;

  void erase(IRRewriter &rewriter, Operation *op) {
    erased.insert(op);
    rewriter.eraseOp(op);
  }

  /// What the kernel call is made of: Q, K, V (dims of each in the
  /// kernel's order [b, h, seq, dim]; -1: a unit batch), the mask operand
  /// of the op adding it (or null), batch dims (1 or 2), the GQA group,
  /// scale and flags, and the ops that go.
  struct Emit {
    Value q, k, v;
    SmallVector<int64_t> qDims, kDims, vDims;
    OpOperand *mask = nullptr;
    /// A mask computed here instead (a boolean mask's additive form): the
    /// tensor and its map over the loops of `maskOp` (used when `mask` is
    /// null).
    Value maskValue;
    AffineMap maskMap;
    size_t nb = 2;
    int64_t group = 1;
    float scale = 1.0f;
    int64_t flags = 0;
    SmallVector<Operation *> chain;
  };

  LogicalResult emit(IRRewriter &rewriter, linalg::GenericOp pvOp,
                     const Emit &e) {
    Location loc = pvOp.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(pvOp);
    Value q = e.q, k = e.k, v = e.v;
    SmallVector<int64_t> qDims = e.qDims, kDims = e.kDims, vDims = e.vDims;
    OpOperand *mask = e.mask;
    Value maskValue = mask ? mask->get() : e.maskValue;
    SmallVector<Operation *> chain = e.chain;
    if (llvm::is_contained(ArrayRef(qDims).drop_front(), -1) ||
        llvm::is_contained(ArrayRef(kDims).drop_front(), -1) ||
        llvm::is_contained(ArrayRef(vDims).drop_front(), -1))
      return failure();
    auto sizeOf = [&](Value t, int64_t d) -> Value {
      return d < 0 ? arith::ConstantIndexOp::create(rewriter, loc, 1)
                   : dimOf(rewriter, loc, t, d);
    };
    Value bSz = sizeOf(q, qDims[0]), hSz = sizeOf(q, qDims[1]),
          mSz = sizeOf(q, qDims[2]), dSz = sizeOf(q, qDims[3]),
          nSz = sizeOf(k, kDims[2]), eSz = sizeOf(v, vDims[3]),
          kvhSz = sizeOf(k, kDims[1]);
    Value qT = throughTransposes(q, qDims);
    Value kT = throughTransposes(k, kDims);
    Value vT = throughTransposes(v, vDims);
    SmallVector<Value> args;
    for (Value sz : {bSz, hSz, mSz, nSz, dSz, eSz})
      args.push_back(asI64(rewriter, loc, sz));
    args.push_back(i64Constant(rewriter, loc, e.group)); // GQA
    args.push_back(kernelView(rewriter, loc, qT, qDims, {bSz, hSz, mSz, dSz}));
    args.push_back(
        kernelView(rewriter, loc, kT, kDims, {bSz, kvhSz, nSz, dSz}));
    args.push_back(
        kernelView(rewriter, loc, vT, vDims, {bSz, kvhSz, nSz, eSz}));
    if (maskValue) {
      // Kernel dims (b, h, i, j) are the mask add's loop dims of S's.
      AffineMap mm = mask ? cast<linalg::GenericOp>(mask->getOwner())
                                .getMatchingIndexingMap(mask)
                          : e.maskMap;
      SmallVector<int64_t> mDims;
      int64_t rank = mm.getNumDims();
      if (rank == 3)
        mDims.push_back(-1);
      for (int64_t l = 0; l < rank; ++l) {
        int64_t pos = posOf(mm, unsigned(l));
        // A mask dim of size 1 under a loop dim broadcasts too.
        if (pos >= 0 &&
            cast<RankedTensorType>(maskValue.getType()).getDimSize(pos) == 1)
          pos = -1;
        mDims.push_back(pos);
      }
      args.push_back(
          kernelView(rewriter, loc, maskValue, mDims, {bSz, hSz, mSz, nSz}));
    } else {
      for (int i = 0; i < 5; ++i)
        args.push_back(i64Constant(rewriter, loc, 0));
    }
    // The output: O itself, or the [b, i, h, e] transpose merging heads.
    Value replaced = pvOp->getResult(0);
    SmallVector<int64_t> oDims = e.nb == 1 ? SmallVector<int64_t>{-1, 0, 1, 2}
                                           : SmallVector<int64_t>{0, 1, 2, 3};
    SmallVector<Value> oSizes = e.nb == 1
                                    ? SmallVector<Value>{hSz, mSz, eSz}
                                    : SmallVector<Value>{bSz, hSz, mSz, eSz};
    linalg::TransposeOp merge;
    if (Operation *u = singleUser(replaced))
      if (auto t = dyn_cast<linalg::TransposeOp>(u);
          t && e.nb == 2 &&
          t.getPermutation() == ArrayRef<int64_t>{0, 2, 1, 3}) {
        merge = t;
        replaced = t->getResult(0);
        oDims = {0, 2, 1, 3};
        oSizes = {bSz, mSz, hSz, eSz};
      }
    auto oTy = cast<RankedTensorType>(replaced.getType());
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < oTy.getRank(); ++d)
      if (oTy.isDynamicDim(d))
        dyn.push_back(oSizes[d]);
    Value out = memref::AllocOp::create(
        rewriter, loc, MemRefType::get(oTy.getShape(), oTy.getElementType()),
        dyn, rewriter.getI64IntegerAttr(64));
    args.push_back(
        kernelViewOfBuffer(rewriter, loc, out, oDims, {bSz, hSz, mSz, eSz}));
    uint32_t bits;
    std::memcpy(&bits, &e.scale, sizeof bits);
    args.push_back(i64Constant(rewriter, loc, int64_t(bits)));
    args.push_back(i64Constant(rewriter, loc, e.flags));
    createViewsCall(rewriter, loc, pvOp, "qopt_kernel_attention_f32", args);
    Value result = bufferAsTensor(rewriter, loc, out);
    rewriter.replaceAllUsesWith(replaced, result);
    if (merge)
      erase(rewriter, merge);
    erase(rewriter, pvOp);
    // Consumers before producers: repeat until nothing more goes.
    for (bool erased = true; erased;) {
      erased = false;
      for (Operation *&op : chain)
        if (op && op->use_empty()) {
          erase(rewriter, op);
          op = nullptr;
          erased = true;
        }
    }
    return success();
  }

  /// The ONNX Attention operator as the importer lowers it (no past, no
  /// window, no nonpad lengths, no softcap, f32): S = Qs·Ksᵀ (Q and K
  /// pre-scaled by sqrt(scale), kept), (L, keep) = (S + bias, bias !=
  /// -inf), the masked softmax (max, any kept, sum of exp(L - safe max),
  /// the zero row where nothing is kept), O = P·V; K and V heads shared
  /// by `r` query heads (GQA).
  LogicalResult fuseOnnxAttention(IRRewriter &rewriter,
                                  linalg::GenericOp pvOp) {
    std::optional<int64_t> r = matchHeadContraction(pvOp, /*pv=*/true);
    if (!r)
      return failure();
    Value p = pvOp.getDpsInputs()[0];
    auto probs = p.getDefiningOp<linalg::GenericOp>();
    if (!p.hasOneUse() || !probs || !probs.hasPureTensorSemantics() ||
        probs.getNumDpsInputs() != 4 || probs->getNumResults() != 1 ||
        !allParallel(probs) || probs.getNumLoops() != 4)
      return failure();
    Value l = probs.getDpsInputs()[0], max = probs.getDpsInputs()[1],
          sum = probs.getDpsInputs()[2], keeps = probs.getDpsInputs()[3];
    SmallVector<AffineMap> pm = probs.getIndexingMapsArray();
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, probs.getContext());
    AffineMap row = id.dropResult(3);
    if (pm[0] != id || pm[1] != row || pm[2] != row || pm[3] != row ||
        pm[4] != id)
      return failure();
    // P = keeps ? exp(L - safe(max)) / (sum == 0 ? 1 : sum) : 0.
    Block *pb = probs.getBlock();
    auto sel = yielded(probs).getDefiningOp<arith::SelectOp>();
    if (!sel || sel.getCondition() != pb->getArgument(3) ||
        !isConst(probs, sel.getFalseValue(), 0.0f))
      return failure();
    auto div = sel.getTrueValue().getDefiningOp<arith::DivFOp>();
    if (!div || !isExpShifted(probs, div.getLhs(), pb->getArgument(0),
                              pb->getArgument(1)))
      return failure();
    auto den = div.getRhs().getDefiningOp<arith::SelectOp>();
    auto denCmp =
        den ? den.getCondition().getDefiningOp<arith::CmpFOp>() : nullptr;
    if (!denCmp || denCmp.getPredicate() != arith::CmpFPredicate::OEQ ||
        denCmp.getLhs() != pb->getArgument(2) ||
        !isConst(probs, denCmp.getRhs(), 0.0f) ||
        !isConst(probs, den.getTrueValue(), 1.0f) ||
        den.getFalseValue() != pb->getArgument(2))
      return failure();
    // The statistics.
    auto lOp = l.getDefiningOp<linalg::GenericOp>();
    auto maxOp = max.getDefiningOp<linalg::GenericOp>();
    auto sumOp = sum.getDefiningOp<linalg::GenericOp>();
    auto keepsOp = keeps.getDefiningOp<linalg::GenericOp>();
    if (!lOp || !maxOp || !sumOp || !keepsOp || lOp->getNumResults() != 2 ||
        l != lOp->getResult(0))
      return failure();
    std::optional<float> lowest = lastDimReduction(maxOp, l);
    if (!lowest || *lowest > -std::numeric_limits<float>::max() ||
        maxOp.getNumDpsInputs() != 1 ||
        maxOp.getBlock()->getOperations().size() != 2 ||
        !yielded(maxOp).getDefiningOp<arith::MaximumFOp>())
      return failure();
    std::optional<float> zero = lastDimReduction(sumOp, l);
    Block *sb = sumOp.getBlock();
    if (!zero || *zero != 0.0f || sumOp.getNumDpsInputs() != 2 ||
        sumOp.getDpsInputs()[1] != max ||
        sumOp.getIndexingMapsArray()[1] != row)
      return failure();
    Value term = otherOperand(yielded(sumOp), sb->getArguments().back());
    if (!term ||
        !isExpShifted(sumOp, term, sb->getArgument(0), sb->getArgument(1)))
      return failure();
    Value keep = lOp->getResult(1);
    auto orOp = keepsOp.getNumDpsInputs() == 1
                    ? yielded(keepsOp).getDefiningOp<arith::OrIOp>()
                    : nullptr;
    std::optional<float> none;
    BoolAttr f;
    auto fill = keepsOp.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
    if (!orOp || keepsOp.getDpsInputs()[0] != keep || !fill ||
        !matchPattern(fill.getInputs()[0], m_Constant(&f)) || f.getValue() ||
        keepsOp.getIndexingMapsArray()[0] != id ||
        keepsOp.getIndexingMapsArray()[1] != row)
      return failure();
    if (!onlyUsedBy(l, {maxOp, sumOp, probs}) ||
        !onlyUsedBy(max, {sumOp, probs}) || !onlyUsedBy(sum, {probs}) ||
        !onlyUsedBy(keep, {keepsOp}) || !onlyUsedBy(keeps, {probs}))
      return failure();
    OpOperand *mask = nullptr;
    bool causal = false;
    Value s = lOp.getDpsInputs().empty() ? Value() : lOp.getDpsInputs()[0];
    if (!s || !matchBias(lOp, s, mask, causal) || !s.hasOneUse())
      return failure();
    auto qkOp = s.getDefiningOp<linalg::GenericOp>();
    std::optional<int64_t> rq = matchHeadContraction(qkOp, /*pv=*/false);
    if (!rq || *rq != *r)
      return failure();
    // Causal: key j visible to query i iff i - j >= 0, the kernel's rule
    // with equal query and key lengths.
    if (causal && cast<RankedTensorType>(s.getType()).getDimSize(2) !=
                      cast<RankedTensorType>(s.getType()).getDimSize(3))
      return failure();
    Emit em;
    em.q = qkOp.getDpsInputs()[0];
    em.k = qkOp.getDpsInputs()[1];
    em.v = pvOp.getDpsInputs()[1];
    em.qDims = {0, 1, 2, 3};
    em.kDims = {0, 1, 2, 3};
    em.vDims = {0, 1, 2, 3};
    em.mask = mask;
    em.nb = 2;
    em.group = *r;
    em.flags = 4 | (causal ? 2 : 0);
    em.chain = {probs, keepsOp, sumOp, maxOp, lOp, qkOp};
    return emit(rewriter, pvOp, em);
  }

  LogicalResult fuse(IRRewriter &rewriter, linalg::GenericOp pvOp) {
    std::optional<Contraction> pv = matchContraction(pvOp);
    if (!pv)
      return failure();
    // P [batch..., i, j] is input 0, read as (batch..., m, k).
    Value p = pvOp.getDpsInputs()[0];
    SmallVector<int64_t> pDims = kernelDims(*pv, 0, pv->m, pv->k);
    for (auto [i, d] : llvm::enumerate(pDims))
      if (d != (pv->batch.size() == 1 ? int64_t(i) - 1 : int64_t(i)))
        return failure();
    if (!p.hasOneUse())
      return failure();
    SmallVector<Operation *> chain;
    Value s = p;
    linalg::GenericOp normOp = p.getDefiningOp<linalg::GenericOp>();
    if (!normOp)
      return failure();
    s = normOp.getDpsInputs().empty() ? Value() : normOp.getDpsInputs()[0];
    if (!s || matchSoftmax(s, chain) != normOp)
      return failure();
    // Back from the softmax's input (used by it alone): mask add, scale,
    // QK^T, each intermediate used once.
    OpOperand *mask = nullptr;
    float scale = 1.0f;
    bool divide = false;
    auto leadsToQK = [&](Value cand) {
      auto def = cand.getDefiningOp<linalg::GenericOp>();
      if (!def)
        return false;
      if (matchContraction(def))
        return true;
      // Through a boolean mask (FuseAttentionMasks.h).
      if (std::optional<WhereMask> w;
          cand.hasOneUse() && llvm::any_of(def.getDpsInputs(), [&](Value in) {
            return (w = matchWhereMask(def, in)).has_value();
          })) {
        def = w->scores.getDefiningOp<linalg::GenericOp>();
        if (!def)
          return false;
        if (matchContraction(def))
          return true;
      }
      for (Value in : def.getDpsInputs())
        if (matchScale(def, in) &&
            matchContraction(in.getDefiningOp<linalg::GenericOp>()))
          return true;
      return false;
    };
    auto g = s.getDefiningOp<linalg::GenericOp>();
    if (g && !matchContraction(g)) {
      for (Value cand : g.getDpsInputs())
        if (OpOperand *m = matchMaskAdd(g, cand); m && leadsToQK(cand)) {
          mask = m;
          s = cand;
          break;
        }
      if (mask) {
        chain.push_back(g);
        if (!s.hasOneUse())
          return failure();
        g = s.getDefiningOp<linalg::GenericOp>();
      }
    }
    // A boolean mask: Where(cond, S, fill) or masked_fill (S's only user).
    std::optional<WhereMask> where;
    if (g && !matchContraction(g)) {
      for (Value cand : g.getDpsInputs())
        if ((where = matchWhereMask(g, cand)))
          break;
      if (where) {
        if (!where->scores.hasOneUse())
          return failure();
        s = where->scores;
        chain.push_back(g);
        g = s.getDefiningOp<linalg::GenericOp>();
      }
    }
    if (g && !matchContraction(g)) {
      std::optional<std::pair<float, bool>> sc;
      for (Value cand : g.getDpsInputs())
        if ((sc = matchScale(g, cand))) {
          s = cand;
          break;
        }
      if (!sc || !s.hasOneUse())
        return failure();
      scale = sc->first;
      divide = sc->second;
      chain.push_back(g);
    }
    std::optional<Contraction> qk =
        matchContraction(s.getDefiningOp<linalg::GenericOp>());
    if (!qk || qk->batch.size() != pv->batch.size())
      return failure();
    chain.push_back(qk->op);
    if (mask) {
      // The mask must not be computed from the chain.
      if (Operation *def = mask->get().getDefiningOp())
        if (llvm::is_contained(chain, def))
          return failure();
    }

    Emit em;
    em.q = qk->op.getDpsInputs()[0];
    em.k = qk->op.getDpsInputs()[1];
    em.v = pvOp.getDpsInputs()[1];
    em.qDims = kernelDims(*qk, 0, qk->m, qk->k);
    em.kDims = kernelDims(*qk, 1, qk->n, qk->k);
    em.vDims = kernelDims(*pv, 1, pv->k, pv->n);
    em.mask = mask;
    em.nb = pv->batch.size();
    em.scale = scale;
    em.flags = divide ? 1 : 0;
    em.chain = chain;
    if (where) {
      // The mask must not be computed from the chain either.
      if (Operation *def = where->cond->get().getDefiningOp())
        if (llvm::is_contained(chain, def))
          return failure();
      if (isCausalWhere(*where)) {
        em.flags |= 2;
      } else {
        // One mask operand: an additive mask and a non-causal boolean one
        // are not merged.
        if (mask || !fillIsAdditive(*where))
          return failure();
        OpBuilder::InsertionGuard guard(rewriter);
        rewriter.setInsertionPoint(pvOp);
        em.maskValue = additiveMaskOf(rewriter, where->op.getLoc(), *where);
        em.maskMap = where->op.getMatchingIndexingMap(where->cond);
      }
    }
    return emit(rewriter, pvOp, em);
  }
};

} // namespace
