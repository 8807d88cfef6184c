//===- FuseAttention.cpp - QK^T, softmax, V as one runtime kernel call ----===//
//
// Matches the linalg chain of scaled dot-product attention on tensors
// (Passes.td describes it) and replaces it by a call of the runtime's
// fused attention kernel on views of Q, K, V, the mask and the output
// (KernelViews.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "KernelViews.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

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

struct FuseAttentionPass
    : qopt::impl::FuseAttentionPassBase<FuseAttentionPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> candidates;
    getOperation().walk([&](linalg::GenericOp op) {
      if (matchContraction(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp pv : candidates)
      if (pv->getBlock()) // not erased by an earlier match
        (void)fuse(rewriter, pv);
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

    Location loc = pvOp.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(pvOp);
    Value q = qk->op.getDpsInputs()[0], k = qk->op.getDpsInputs()[1];
    Value v = pvOp.getDpsInputs()[1];
    SmallVector<int64_t> qDims = kernelDims(*qk, 0, qk->m, qk->k);
    SmallVector<int64_t> kDims = kernelDims(*qk, 1, qk->n, qk->k);
    SmallVector<int64_t> vDims = kernelDims(*pv, 1, pv->k, pv->n);
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
          nSz = sizeOf(k, kDims[2]), eSz = sizeOf(v, vDims[3]);
    Value qT = throughTransposes(q, qDims);
    Value kT = throughTransposes(k, kDims);
    Value vT = throughTransposes(v, vDims);
    SmallVector<Value> args;
    for (Value sz : {bSz, hSz, mSz, nSz, dSz, eSz})
      args.push_back(asI64(rewriter, loc, sz));
    args.push_back(i64Constant(rewriter, loc, 1)); // GQA group
    args.push_back(kernelView(rewriter, loc, qT, qDims, {bSz, hSz, mSz, dSz}));
    args.push_back(kernelView(rewriter, loc, kT, kDims, {bSz, hSz, nSz, dSz}));
    args.push_back(kernelView(rewriter, loc, vT, vDims, {bSz, hSz, nSz, eSz}));
    if (mask) {
      // Kernel dims (b, h, i, j) are the mask add's loop dims of S's.
      auto addOp = cast<linalg::GenericOp>(mask->getOwner());
      AffineMap mm = addOp.getMatchingIndexingMap(mask);
      SmallVector<int64_t> mDims;
      int64_t rank = addOp.getNumLoops();
      if (rank == 3)
        mDims.push_back(-1);
      for (int64_t l = 0; l < rank; ++l) {
        int64_t pos = posOf(mm, unsigned(l));
        // A mask dim of size 1 under a loop dim broadcasts too.
        if (pos >= 0 &&
            cast<RankedTensorType>(mask->get().getType()).getDimSize(pos) == 1)
          pos = -1;
        mDims.push_back(pos);
      }
      args.push_back(
          kernelView(rewriter, loc, mask->get(), mDims, {bSz, hSz, mSz, nSz}));
    } else {
      for (int i = 0; i < 5; ++i)
        args.push_back(i64Constant(rewriter, loc, 0));
    }
    // The output: O itself, or the [b, i, h, e] transpose merging heads.
    Value replaced = pvOp->getResult(0);
    SmallVector<int64_t> oDims = pv->batch.size() == 1
                                     ? SmallVector<int64_t>{-1, 0, 1, 2}
                                     : SmallVector<int64_t>{0, 1, 2, 3};
    SmallVector<Value> oSizes = pv->batch.size() == 1
                                    ? SmallVector<Value>{hSz, mSz, eSz}
                                    : SmallVector<Value>{bSz, hSz, mSz, eSz};
    linalg::TransposeOp merge;
    if (Operation *u = singleUser(replaced))
      if (auto t = dyn_cast<linalg::TransposeOp>(u);
          t && pv->batch.size() == 2 &&
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
    std::memcpy(&bits, &scale, sizeof bits);
    args.push_back(i64Constant(rewriter, loc, int64_t(bits)));
    args.push_back(i64Constant(rewriter, loc, divide ? 1 : 0));
    createViewsCall(rewriter, loc, pvOp, "qopt_kernel_attention_f32", args);
    Value result = bufferAsTensor(rewriter, loc, out);
    rewriter.replaceAllUsesWith(replaced, result);
    if (merge)
      rewriter.eraseOp(merge);
    rewriter.eraseOp(pvOp);
    // Consumers before producers: repeat until nothing more goes.
    for (bool erased = true; erased;) {
      erased = false;
      for (Operation *&op : chain)
        if (op && op->use_empty()) {
          rewriter.eraseOp(op);
          op = nullptr;
          erased = true;
        }
    }
    return success();
  }
};

} // namespace
