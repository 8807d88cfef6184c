//===- QDQTable.cpp - element-wise chains of one 8-bit input --------------===//
//
// onnxruntime's quantize_static puts a Q -> DQ pair after nearly every op,
// so a GELU exported as Div, Erf, Add, Mul, Mul becomes five requantizing
// fake quants per element, each a dependent division and rounding: the
// QDQ transformer's GELU cost four times the float one. But everything
// after the pair in front of it is a function of that pair's 8-bit value.
// Here the chain is evaluated at compile time on the (at most 256) grid
// points of that pair, op by op as the generated code computes it (IEEE
// single precision, the CPU pipeline's polynomial approximations of
// erf/tanh/exp/log), into a constant table, and each element rounds its
// input once and reads its entry: bit for bit the chain's value, one
// division and a vector gather instead of a division per requantization.
// A chain with an op the evaluator does not know stays as it is.
//
//===----------------------------------------------------------------------===//

#include "QDQTable.h"
#include "WeightValues.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/APSInt.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The largest grid (8 bits) and the largest table (a grid per channel, 64
/// KB: larger ones, e.g. a 256-channel bias in front of a GELU, measured no
/// faster than the table after the bias and cost cache).
constexpr int64_t kMaxEntries = 256;
constexpr int64_t kMaxTable = 16384;

std::string nameOf(Location loc) {
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (std::string s = nameOf(l); !s.empty())
        return s;
  return "";
}

/// A per-tensor fake quant of at most kMaxEntries points on a ranked f32
/// tensor: a chain may start here.
bool isChainStart(FakeQuantOp fq) {
  auto ty = dyn_cast<RankedTensorType>(fq.getType());
  return !fq.getAxis() && fq.getScale().size() == 1 &&
         fq.getZeroPoint().size() == 1 && ty && ty.getRank() > 0 &&
         ty.getElementType().isF32() &&
         int64_t(fq.getQuantMax()) >= int64_t(fq.getQuantMin()) &&
         int64_t(fq.getQuantMax()) - int64_t(fq.getQuantMin()) + 1 <=
             kMaxEntries &&
         std::isfinite(fq.getScale()[0]) && fq.getScale()[0] > 0;
}

/// An operand the chain may read besides its own values: a dense f32
/// constant whose indexing map names no loop (a scalar, the same for every
/// element; returns -1) or one loop (a value per channel, BatchNorm's
/// parameters; returns that loop), every other result 0.
std::optional<int64_t> constantOperandDim(linalg::GenericOp g,
                                          OpOperand &operand) {
  auto c = operand.get().getDefiningOp<arith::ConstantOp>();
  auto cTy = c ? dyn_cast<RankedTensorType>(c.getType()) : RankedTensorType();
  if (!cTy || !cTy.getElementType().isF32() || !cTy.hasStaticShape())
    return std::nullopt;
  AffineMap m = g.getMatchingIndexingMap(&operand);
  int64_t dim = -1;
  for (AffineExpr e : m.getResults()) {
    if (auto c = dyn_cast<AffineConstantExpr>(e)) {
      if (c.getValue() != 0)
        return std::nullopt;
    } else if (auto d = dyn_cast<AffineDimExpr>(e); d && dim < 0) {
      dim = d.getPosition();
    } else {
      return std::nullopt;
    }
  }
  return dim;
}

/// The element of constant `v` (read through `map`, see
/// constantOperandDim) for index `c` of the loop the map names.
std::optional<APFloat> constantElement(Value v, AffineMap map, int64_t c) {
  std::optional<std::vector<float>> values = constantF32Values(v);
  if (!values)
    return std::nullopt;
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  int64_t flat = 0;
  for (auto [i, e] : llvm::enumerate(map.getResults())) {
    int64_t idx = isa<AffineDimExpr>(e) ? c : 0;
    if (idx >= shape[i])
      return std::nullopt;
    flat = flat * shape[i] + idx;
  }
  if (values->size() == 1)
    flat = 0;
  if (flat >= int64_t(values->size()))
    return std::nullopt;
  return APFloat((*values)[size_t(flat)]);
}

/// `op` can join the chain `inChain` (values of type `ty`): an element-wise
/// op of that type whose every input is a chain value (read element by
/// element) or a constant (a scalar, or a value per index of loop
/// `channelDim`: -1 until the chain has one), with at least one chain value.
bool canJoin(Operation *op, RankedTensorType ty,
             const llvm::SmallPtrSetImpl<Value> &inChain, int64_t &channelDim) {
  if (auto fq = dyn_cast<FakeQuantOp>(op))
    return fq.getType() == ty && inChain.contains(fq.getInput()) &&
           !fq.getAxis() && fq.getScale().size() == 1 &&
           fq.getZeroPoint().size() == 1;
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || !g.hasPureTensorSemantics() || g.getNumResults() != 1 ||
      g.getNumDpsInits() != 1 || g.getResult(0).getType() != ty ||
      g.getNumLoops() != unsigned(ty.getRank()) ||
      g.getNumParallelLoops() != g.getNumLoops() ||
      g.payloadUsesValueFromOperand(g.getDpsInitOperand(0)))
    return false;
  bool readsChain = false;
  int64_t dim = channelDim;
  for (OpOperand *in : g.getDpsInputOperands()) {
    if (inChain.contains(in->get())) {
      if (!g.getMatchingIndexingMap(in).isIdentity())
        return false;
      readsChain = true;
      continue;
    }
    std::optional<int64_t> d = constantOperandDim(g, *in);
    if (!d)
      return false;
    if (*d < 0)
      continue;
    // One channel loop per chain, of static size, table within bounds.
    if ((dim >= 0 && *d != dim) || ty.isDynamicDim(*d) ||
        ty.getDimSize(*d) * kMaxEntries > kMaxTable)
      return false;
    dim = *d;
  }
  if (!readsChain)
    return false;
  bool pure = true;
  g.getBody()->walk([&](Operation *inner) {
    if (isa<linalg::IndexOp>(inner) || !isMemoryEffectFree(inner))
      pure = false;
  });
  if (pure)
    channelDim = dim;
  return pure;
}

struct Chain {
  FakeQuantOp start;
  llvm::SetVector<Operation *> ops; // in block order
  Value exit;
  int64_t fakeQuants = 0;
  bool transcendental = false;
  /// The loop per-channel constants are read along (-1: none) and its size.
  int64_t channelDim = -1, channels = 1;
};

/// The chain that starts at `fq`, or nothing when there is none worth a
/// table (a single exit value, and requantizations or transcendental
/// functions to save).
std::optional<Chain> chainFrom(FakeQuantOp fq) {
  auto ty = cast<RankedTensorType>(fq.getType());
  Chain c;
  c.start = fq;
  llvm::SmallPtrSet<Value, 16> inChain;
  inChain.insert(fq.getResult());
  for (Operation *op = fq->getNextNode(); op; op = op->getNextNode()) {
    if (!canJoin(op, ty, inChain, c.channelDim))
      continue;
    c.ops.insert(op);
    inChain.insert(op->getResult(0));
    if (isa<FakeQuantOp>(op))
      ++c.fakeQuants;
    else
      op->walk([&](Operation *inner) {
        if (isa<math::MathDialect>(inner->getDialect()))
          c.transcendental = true;
      });
  }
  // The one value the rest of the program reads (sizes aside).
  auto usedOutside = [&](Value v) {
    return llvm::any_of(v.getUsers(), [&](Operation *u) {
      return !c.ops.contains(u) && !isa<tensor::DimOp>(u);
    });
  };
  for (Operation *op : c.ops)
    if (usedOutside(op->getResult(0))) {
      if (c.exit)
        return std::nullopt;
      c.exit = op->getResult(0);
    }
  // Worth a table: requantizations or a transcendental function (erf,
  // BatchNorm's sqrt) per element to save, and more than one op (a lone
  // BatchNorm between its pairs measured slower as a lookup: 0.14 -> 0.19
  // ms on the QDQ CNN).
  if (!c.exit || c.ops.size() < 2 ||
      (c.fakeQuants < 2 && !(c.fakeQuants >= 1 && c.transcendental)))
    return std::nullopt;
  if (c.channelDim >= 0)
    c.channels = ty.getDimSize(c.channelDim);
  // A table pays off on tensors of more elements than it has per channel
  // (it is a constant: no work per run).
  if (ty.hasStaticShape() && ty.getNumElements() < kMaxEntries)
    return std::nullopt;
  // The lookup goes after the chain's last op: every reader of the exit
  // must come later in the same block.
  Operation *last = c.ops.back();
  for (Operation *u : c.exit.getUsers())
    if (!c.ops.contains(u) &&
        (u->getBlock() != last->getBlock() || !last->isBeforeInBlock(u)))
      return std::nullopt;
  return c;
}

//===----------------------------------------------------------------------===//
// Compile-time evaluation of the chain, as the CPU code computes it
//===----------------------------------------------------------------------===//

/// A scalar value of the evaluation: an f32 or an integer.
struct Scalar {
  std::optional<APFloat> f;
  APInt i;
};

/// One element-wise op's body as a scalar function, with the math
/// functions the CPU pipeline approximates (qopt-approximate-math) already
/// expanded into the same arithmetic, evaluated op by op in IEEE single
/// precision with round to nearest even (what the generated code does: no
/// contraction, no fast-math).
class BodyEvaluator {
public:
  static std::optional<BodyEvaluator> make(linalg::GenericOp g) {
    MLIRContext *ctx = g.getContext();
    Type f32 = Float32Type::get(ctx);
    Block *body = g.getBody();
    for (BlockArgument a : body->getArguments())
      if (a.getType() != f32)
        return std::nullopt;
    BodyEvaluator e;
    OpBuilder b(ctx);
    e.module = ModuleOp::create(b.getUnknownLoc());
    b.setInsertionPointToEnd(e.module->getBody());
    SmallVector<Type> args(body->getNumArguments(), f32);
    auto fn = func::FuncOp::create(b, g.getLoc(), "chain_op",
                                   b.getFunctionType(args, {f32}));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToEnd(entry);
    IRMapping map;
    for (auto [from, to] :
         llvm::zip(body->getArguments(), entry->getArguments()))
      map.map(from, to);
    for (Operation &op : body->without_terminator())
      b.clone(op, map);
    auto yield = cast<linalg::YieldOp>(body->getTerminator());
    func::ReturnOp::create(b, g.getLoc(), map.lookup(yield.getOperand(0)));
    // As qopt-approximate-math (its default function list).
    llvm::StringSet<> names;
    for (StringRef op : {"erf", "tanh", "exp", "expm1", "log", "log1p", "log2"})
      names.insert(("math." + op).str());
    RewritePatternSet patterns(ctx);
    populateMathPolynomialApproximationPatterns(
        patterns, [&](StringRef name) { return names.contains(name); });
    if (failed(applyPatternsGreedily(fn, std::move(patterns))))
      return std::nullopt;
    e.fn = fn;
    return e;
  }

  /// The body's value for `args`, or nothing for an op this evaluator does
  /// not know.
  std::optional<APFloat> operator()(ArrayRef<APFloat> args) const {
    DenseMap<Value, Scalar> env;
    Block &entry = fn.getBody().front();
    for (auto [a, v] : llvm::zip(entry.getArguments(), args))
      env[a] = Scalar{v, APInt()};
    for (Operation &op : entry) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        auto it = env.find(ret.getOperand(0));
        if (it == env.end() || !it->second.f)
          return std::nullopt;
        return *it->second.f;
      }
      std::optional<Scalar> r = eval(op, env);
      if (!r || op.getNumResults() != 1)
        return std::nullopt;
      env[op.getResult(0)] = *r;
    }
    return std::nullopt;
  }

private:
  OwningOpRef<ModuleOp> module;
  mutable func::FuncOp fn;

  static std::optional<Scalar> eval(Operation &op,
                                    const DenseMap<Value, Scalar> &env) {
    SmallVector<const Scalar *> in;
    for (Value v : op.getOperands()) {
      auto it = env.find(v);
      if (it == env.end())
        return std::nullopt;
      in.push_back(&it->second);
    }
    auto F = [&](size_t k) -> const APFloat & { return *in[k]->f; };
    auto I = [&](size_t k) -> const APInt & { return in[k]->i; };
    auto allFloat = [&] {
      return llvm::all_of(in, [](const Scalar *s) { return s->f.has_value(); });
    };
    auto allInt = [&] {
      return llvm::all_of(in, [](const Scalar *s) { return !s->f; });
    };
    auto fl = [](APFloat v) { return Scalar{v, APInt()}; };
    auto in_ = [](APInt v) { return Scalar{std::nullopt, v}; };
    constexpr auto rm = APFloat::rmNearestTiesToEven;
    Type resTy = op.getNumResults() == 1 ? op.getResult(0).getType() : Type();
    if (resTy && !resTy.isF32() && !resTy.isSignlessInteger())
      return std::nullopt;

    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      if (auto f = dyn_cast<FloatAttr>(c.getValue()))
        return f.getType().isF32() ? std::optional(fl(f.getValue()))
                                   : std::nullopt;
      if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
        return in_(i.getValue());
      return std::nullopt;
    }
    if (isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp>(op) &&
        allFloat()) {
      APFloat r = F(0);
      if (isa<arith::AddFOp>(op))
        r.add(F(1), rm);
      else if (isa<arith::SubFOp>(op))
        r.subtract(F(1), rm);
      else if (isa<arith::MulFOp>(op))
        r.multiply(F(1), rm);
      else
        r.divide(F(1), rm);
      return fl(r);
    }
    if (isa<math::FmaOp>(op) && allFloat()) {
      APFloat r = F(0);
      r.fusedMultiplyAdd(F(1), F(2), rm);
      return fl(r);
    }
    if (isa<arith::NegFOp>(op) && allFloat())
      return fl(neg(F(0)));
    if (isa<math::SqrtOp>(op) && allFloat()) // correctly rounded, as vsqrtps
      return fl(APFloat(std::sqrt(F(0).convertToFloat())));
    if (isa<math::AbsFOp>(op) && allFloat())
      return fl(abs(F(0)));
    if (isa<math::CopySignOp>(op) && allFloat()) {
      APFloat r = F(0);
      r.copySign(F(1));
      return fl(r);
    }
    if (isa<math::FloorOp, math::CeilOp, math::TruncOp, math::RoundEvenOp,
            math::RoundOp>(op) &&
        allFloat()) {
      APFloat r = F(0);
      r.roundToIntegral(isa<math::FloorOp>(op)   ? APFloat::rmTowardNegative
                        : isa<math::CeilOp>(op)  ? APFloat::rmTowardPositive
                        : isa<math::TruncOp>(op) ? APFloat::rmTowardZero
                        : isa<math::RoundOp>(op) ? APFloat::rmNearestTiesToAway
                                                 : rm);
      return fl(r);
    }
    if (isa<arith::MaximumFOp>(op) && allFloat())
      return fl(maximum(F(0), F(1)));
    if (isa<arith::MinimumFOp>(op) && allFloat())
      return fl(minimum(F(0), F(1)));
    if (isa<arith::MaxNumFOp>(op) && allFloat())
      return fl(maxnum(F(0), F(1)));
    if (isa<arith::MinNumFOp>(op) && allFloat())
      return fl(minnum(F(0), F(1)));
    if (auto cmp = dyn_cast<arith::CmpFOp>(op); cmp && allFloat()) {
      APFloat::cmpResult r = F(0).compare(F(1));
      using P = arith::CmpFPredicate;
      bool lt = r == APFloat::cmpLessThan, gt = r == APFloat::cmpGreaterThan,
           eq = r == APFloat::cmpEqual, un = r == APFloat::cmpUnordered;
      bool v;
      switch (cmp.getPredicate()) {
      case P::AlwaysFalse:
        v = false;
        break;
      case P::OEQ:
        v = eq;
        break;
      case P::OGT:
        v = gt;
        break;
      case P::OGE:
        v = gt || eq;
        break;
      case P::OLT:
        v = lt;
        break;
      case P::OLE:
        v = lt || eq;
        break;
      case P::ONE:
        v = lt || gt;
        break;
      case P::ORD:
        v = !un;
        break;
      case P::UEQ:
        v = un || eq;
        break;
      case P::UGT:
        v = un || gt;
        break;
      case P::UGE:
        v = un || gt || eq;
        break;
      case P::ULT:
        v = un || lt;
        break;
      case P::ULE:
        v = un || lt || eq;
        break;
      case P::UNE:
        v = !eq;
        break;
      case P::UNO:
        v = un;
        break;
      case P::AlwaysTrue:
        v = true;
        break;
      }
      return in_(APInt(1, v));
    }
    if (isa<arith::SelectOp>(op) && !in[0]->f)
      return *in[I(0).getBoolValue() ? 1 : 2];
    if (isa<arith::BitcastOp>(op) && in.size() == 1) {
      if (in[0]->f && resTy.isInteger(32))
        return in_(F(0).bitcastToAPInt());
      if (!in[0]->f && resTy.isF32() && I(0).getBitWidth() == 32)
        return fl(APFloat(APFloat::IEEEsingle(), I(0)));
      return std::nullopt;
    }
    if (isa<arith::SIToFPOp, arith::UIToFPOp>(op) && allInt() &&
        resTy.isF32()) {
      APFloat r(APFloat::IEEEsingle());
      r.convertFromAPInt(I(0), isa<arith::SIToFPOp>(op), rm);
      return fl(r);
    }
    if (isa<arith::FPToSIOp, arith::FPToUIOp>(op) && allFloat() &&
        resTy.isSignlessInteger()) {
      APSInt r(resTy.getIntOrFloatBitWidth(), isa<arith::FPToUIOp>(op));
      bool exact;
      if (F(0).convertToInteger(r, APFloat::rmTowardZero, &exact) &
          APFloat::opInvalidOp)
        return std::nullopt; // poison in the generated code
      return in_(r);
    }
    if (allInt() && in.size() == 2 && resTy && resTy.isSignlessInteger() &&
        I(0).getBitWidth() == I(1).getBitWidth()) {
      const APInt &a = I(0), &c = I(1);
      unsigned w = a.getBitWidth();
      if (isa<arith::AddIOp>(op))
        return in_(a + c);
      if (isa<arith::SubIOp>(op))
        return in_(a - c);
      if (isa<arith::MulIOp>(op))
        return in_(a * c);
      if (isa<arith::AndIOp>(op))
        return in_(a & c);
      if (isa<arith::OrIOp>(op))
        return in_(a | c);
      if (isa<arith::XOrIOp>(op))
        return in_(a ^ c);
      if (isa<arith::ShLIOp, arith::ShRSIOp, arith::ShRUIOp>(op)) {
        if (c.uge(w))
          return std::nullopt; // poison
        unsigned sh = unsigned(c.getZExtValue());
        return in_(isa<arith::ShLIOp>(op)    ? a.shl(sh)
                   : isa<arith::ShRSIOp>(op) ? a.ashr(sh)
                                             : a.lshr(sh));
      }
    }
    if (auto cmp = dyn_cast<arith::CmpIOp>(op); cmp && allInt()) {
      const APInt &a = I(0), &c = I(1);
      using P = arith::CmpIPredicate;
      bool v;
      switch (cmp.getPredicate()) {
      case P::eq:
        v = a == c;
        break;
      case P::ne:
        v = a != c;
        break;
      case P::slt:
        v = a.slt(c);
        break;
      case P::sle:
        v = a.sle(c);
        break;
      case P::sgt:
        v = a.sgt(c);
        break;
      case P::sge:
        v = a.sge(c);
        break;
      case P::ult:
        v = a.ult(c);
        break;
      case P::ule:
        v = a.ule(c);
        break;
      case P::ugt:
        v = a.ugt(c);
        break;
      case P::uge:
        v = a.uge(c);
        break;
      }
      return in_(APInt(1, v));
    }
    return std::nullopt;
  }
};

/// A fake quant of a value as the lowering computes it (QOptToLinalg):
/// c = clamp(round_half_even(x / s), qmin - zp, qmax - zp), NaN -> 0, then
/// (c + 0) * s.
APFloat fakeQuantValue(FakeQuantOp fq, APFloat x) {
  constexpr auto rm = APFloat::rmNearestTiesToEven;
  APFloat s(float(fq.getScale()[0]));
  int64_t zp = fq.getZeroPoint()[0];
  if (x.isNaN())
    return APFloat(0.0f);
  APFloat v = x;
  v.divide(s, rm);
  v.roundToIntegral(rm);
  APFloat lo(float(int64_t(fq.getQuantMin()) - zp));
  APFloat hi(float(int64_t(fq.getQuantMax()) - zp));
  if (v.compare(lo) == APFloat::cmpLessThan)
    v = lo;
  if (v.compare(hi) == APFloat::cmpGreaterThan)
    v = hi;
  v.add(APFloat(0.0f), rm);
  v.multiply(s, rm);
  return v;
}

/// The chain's exit value at each grid point of its start, per channel
/// (channel-major), or nothing when an op cannot be evaluated here.
std::optional<SmallVector<float>> evaluateTable(const Chain &c) {
  FakeQuantOp fq = c.start;
  int64_t zp = fq.getZeroPoint()[0];
  float scale = float(fq.getScale()[0]);
  // Per op: its evaluator (generics).
  DenseMap<Operation *, std::shared_ptr<BodyEvaluator>> evals;
  for (Operation *op : c.ops)
    if (auto g = dyn_cast<linalg::GenericOp>(op)) {
      std::optional<BodyEvaluator> e = BodyEvaluator::make(g);
      if (!e)
        return std::nullopt;
      evals[op] = std::make_shared<BodyEvaluator>(std::move(*e));
    }
  SmallVector<float> table;
  for (int64_t ch = 0; ch < c.channels; ++ch)
    for (int64_t k = int64_t(fq.getQuantMin()); k <= int64_t(fq.getQuantMax());
         ++k) {
      DenseMap<Value, APFloat> env;
      env.try_emplace(fq.getResult(), APFloat((float(k - zp) + 0.0f) * scale));
      for (Operation *op : c.ops) {
        std::optional<APFloat> r;
        if (auto f = dyn_cast<FakeQuantOp>(op)) {
          r = fakeQuantValue(f, env.at(f.getInput()));
        } else {
          auto g = cast<linalg::GenericOp>(op);
          SmallVector<APFloat> args;
          for (OpOperand *in : g.getDpsInputOperands()) {
            auto it = env.find(in->get());
            if (it != env.end()) {
              args.push_back(it->second);
            } else if (std::optional<APFloat> v = constantElement(
                           in->get(), g.getMatchingIndexingMap(in), ch)) {
              args.push_back(*v);
            } else {
              return std::nullopt;
            }
          }
          args.push_back(APFloat(0.0f)); // the unused init
          r = (*evals[op])(args);
        }
        if (!r)
          return std::nullopt;
        env.try_emplace(op->getResult(0), *r);
      }
      table.push_back(env.at(c.exit).convertToFloat());
    }
  return table;
}

Value emptyOf(OpBuilder &b, Location loc, Value like) {
  auto ty = cast<RankedTensorType>(like.getType());
  SmallVector<Value> dyn;
  for (int64_t d = 0; d < ty.getRank(); ++d)
    if (ty.isDynamicDim(d))
      dyn.push_back(tensor::DimOp::create(b, loc, like, d));
  return tensor::EmptyOp::create(b, loc, ty.getShape(), ty.getElementType(),
                                 dyn);
}

std::optional<QDQTableChain> tabulate(Chain &c) {
  std::optional<SmallVector<float>> values = evaluateTable(c);
  if (!values)
    return std::nullopt;
  FakeQuantOp fq = c.start;
  auto ty = cast<RankedTensorType>(fq.getType());
  int64_t rank = ty.getRank();
  int64_t qmin = fq.getQuantMin(), qmax = fq.getQuantMax();
  int64_t zp = fq.getZeroPoint()[0];
  int64_t entries = qmax - qmin + 1;
  float scale = float(fq.getScale()[0]);
  MLIRContext *ctx = fq.getContext();
  Type f32 = Float32Type::get(ctx);
  Location loc = fq.getLoc();
  OpBuilder b(ctx);
  b.setInsertionPointAfter(c.ops.back());

  // The chain's value at each grid point, a constant: read-only memory the
  // lookup loop's gathers vectorize over.
  auto tableTy = RankedTensorType::get({c.channels * entries}, f32);
  Value table = arith::ConstantOp::create(
      b, loc, tableTy,
      DenseElementsAttr::get(tableTy, ArrayRef<float>(*values)));

  // Each element's grid index (as the fake quant rounds: x / scale to
  // nearest even, clamped; NaN to the zero point), as i32, in one loop
  // (vectorized; fused with x's producer), then the entry in another: the
  // lookup loop is scalar (gathers are slow here, LLVM does not emit
  // them), and with the division in it, it was bound by one scalar
  // division per element (the QDQ BERT block's GELU: 2x slower).
  Value x = fq.getInput();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);
  auto i32Ty = ty.clone(b.getI32Type());
  SmallVector<Value> dynSizes;
  for (int64_t d = 0; d < rank; ++d)
    if (ty.isDynamicDim(d))
      dynSizes.push_back(tensor::DimOp::create(b, loc, x, d));
  Value indexInit = tensor::EmptyOp::create(b, loc, i32Ty.getShape(),
                                            i32Ty.getElementType(), dynSizes);
  auto indices = linalg::GenericOp::create(
      b, loc, TypeRange{i32Ty}, ValueRange{x}, ValueRange{indexInit},
      ArrayRef<AffineMap>{id, id}, parallel,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto cst = [&](double v) {
          return arith::ConstantOp::create(nb, l, f32,
                                           nb.getF32FloatAttr(float(v)));
        };
        Value v = arith::DivFOp::create(nb, l, args[0], cst(scale));
        v = math::RoundEvenOp::create(nb, l, v);
        Value lo = cst(double(qmin - zp)), hi = cst(double(qmax - zp));
        Value below =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OLT, v, lo);
        v = arith::SelectOp::create(nb, l, below, lo, v);
        Value above =
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, v, hi);
        v = arith::SelectOp::create(nb, l, above, hi, v);
        Value isNan = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UNO,
                                            args[0], args[0]);
        v = arith::SelectOp::create(nb, l, isNan, cst(0.0), v);
        v = arith::AddFOp::create(nb, l, v, cst(double(zp - qmin)));
        Value i = arith::FPToSIOp::create(nb, l, nb.getI32Type(), v);
        linalg::YieldOp::create(nb, l, i);
      });
  Value init = emptyOf(b, loc, x);
  auto lookup = linalg::GenericOp::create(
      b, loc, TypeRange{ty}, ValueRange{indices.getResult(0)}, ValueRange{init},
      ArrayRef<AffineMap>{id, id}, parallel,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value idx =
            arith::IndexCastOp::create(nb, l, nb.getIndexType(), args[0]);
        if (c.channelDim >= 0) {
          // Channel-major: channel * entries + grid index.
          Value ch = linalg::IndexOp::create(nb, l, c.channelDim);
          Value base = arith::MulIOp::create(
              nb, l, ch, arith::ConstantIndexOp::create(nb, l, entries));
          idx = arith::AddIOp::create(nb, l, base, idx);
        }
        Value e = tensor::ExtractOp::create(nb, l, table, ValueRange{idx});
        linalg::YieldOp::create(nb, l, e);
      });

  QDQTableChain info{nameOf(c.ops.front()->getLoc()), int64_t(c.ops.size()),
                     c.fakeQuants, c.channels * entries};
  // Readers of the exit read the lookup; sizes of chain values are x's.
  c.exit.replaceUsesWithIf(lookup.getResult(0), [&](OpOperand &use) {
    return !c.ops.contains(use.getOwner());
  });
  for (Value v :
       llvm::concat<Value>(ValueRange{fq.getResult()},
                           llvm::map_range(c.ops, [](Operation *op) -> Value {
                             return op->getResult(0);
                           })))
    for (OpOperand &use : llvm::make_early_inc_range(v.getUses()))
      if (isa<tensor::DimOp>(use.getOwner()))
        use.set(x);
  for (Operation *op : llvm::reverse(c.ops))
    if (op->use_empty())
      op->erase();
  if (fq->use_empty())
    fq->erase();
  return info;
}

} // namespace

std::vector<QDQTableChain>
mlir::qopt::tabulateQuantizedChains(ModuleOp module) {
  std::vector<QDQTableChain> out;
  SmallVector<FakeQuantOp> starts;
  module.walk([&](FakeQuantOp fq) {
    if (isChainStart(fq))
      starts.push_back(fq);
  });
  llvm::SmallPtrSet<Operation *, 16> erasedOrUsed;
  for (FakeQuantOp fq : starts) {
    if (erasedOrUsed.contains(fq))
      continue;
    std::optional<Chain> c = chainFrom(fq);
    if (!c)
      continue;
    // Fake quants inside this chain are gone afterwards.
    llvm::SmallVector<Operation *> ops(c->ops.begin(), c->ops.end());
    if (std::optional<QDQTableChain> t = tabulate(*c)) {
      erasedOrUsed.insert(ops.begin(), ops.end());
      out.push_back(*t);
    }
  }
  return out;
}
