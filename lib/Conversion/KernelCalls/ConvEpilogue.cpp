//===- ConvEpilogue.cpp - what a conv kernel call can absorb --------------===//
//
// Bufferization leaves an f32 Conv (+ bias) + element-wise tail as
//
//   %out = memref.alloc()
//   linalg.broadcast ins(%bias : memref<F>) outs(%out) dimensions = [0, 2, 3]
//   linalg.conv_2d_nchw_fchw ins(%padded, %w) outs(%out)
//   %dst = memref.alloc()
//   linalg.generic ins(%out[, %residual]) outs(%dst) { relu(x [+ r]) ... }
//   memref.dealloc %out
//
// The conv kernel computes all of it in one pass over %dst (bias, residual
// and activation applied to each output tile in registers) and %out is not
// needed. The activations are matched in the forms the ONNX importer builds
// them (lib/Import/ONNX/Ops/Elementwise.cpp); a tail that is anything else
// stays a loop nest and only the bias is taken over.
//
//===----------------------------------------------------------------------===//

#include "ConvEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The buffer a memref is a view of.
Value baseBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view)
      break;
    v = view.getViewSource();
  }
  return v;
}

/// Whether two base buffers are known to be different memory: distinct
/// allocations, distinct globals, an allocation and anything else.
bool distinctBuffers(Value a, Value b) {
  if (a == b)
    return false;
  auto isAlloc = [](Value v) {
    return v.getDefiningOp<memref::AllocOp>() ||
           v.getDefiningOp<memref::AllocaOp>();
  };
  if (isAlloc(a) || isAlloc(b))
    return true;
  auto ga = a.getDefiningOp<memref::GetGlobalOp>();
  auto gb = b.getDefiningOp<memref::GetGlobalOp>();
  if (ga && gb)
    return ga.getName() != gb.getName();
  return false;
}

bool isConstant(Value v, double want) {
  APFloat f(0.0);
  if (!matchPattern(v, m_ConstantFloat(&f)))
    return false;
  return f.convertToDouble() == want;
}

std::optional<double> constantValue(Value v) {
  APFloat f(0.0);
  if (!matchPattern(v, m_ConstantFloat(&f)))
    return std::nullopt;
  return f.convertToDouble();
}

/// `op`'s operands (a, b) as (x, constant) in either order.
template <typename OpTy>
std::optional<std::pair<Value, double>> withConstant(Value v) {
  auto op = v.getDefiningOp<OpTy>();
  if (!op)
    return std::nullopt;
  if (auto c = constantValue(op.getRhs()))
    return std::make_pair(op.getLhs(), *c);
  if (auto c = constantValue(op.getLhs()))
    return std::make_pair(op.getRhs(), *c);
  return std::nullopt;
}

/// 1 / (1 + exp(-x)): the x, or null.
Value matchSigmoid(Value v) {
  auto div = v.getDefiningOp<arith::DivFOp>();
  if (!div || !isConstant(div.getLhs(), 1.0))
    return {};
  auto add = withConstant<arith::AddFOp>(div.getRhs());
  if (!add || add->second != 1.0)
    return {};
  auto exp = add->first.getDefiningOp<math::ExpOp>();
  if (!exp)
    return {};
  auto neg = exp.getOperand().getDefiningOp<arith::NegFOp>();
  return neg ? neg.getOperand() : Value();
}

/// `v` as a product: the constant factor and the other factors (MulF trees
/// and divisions by constants flattened).
void productFactors(Value v, double &c, SmallVectorImpl<Value> &factors) {
  if (auto mul = v.getDefiningOp<arith::MulFOp>()) {
    productFactors(mul.getLhs(), c, factors);
    productFactors(mul.getRhs(), c, factors);
    return;
  }
  if (auto div = v.getDefiningOp<arith::DivFOp>())
    if (std::optional<double> d = constantValue(div.getRhs()); d && *d != 0) {
      productFactors(div.getLhs(), c, factors);
      c /= *d;
      return;
    }
  if (std::optional<double> k = constantValue(v)) {
    c *= *k;
    return;
  }
  factors.push_back(v);
}

bool near(double a, double b) { return std::abs(a - b) <= 1e-5 * std::abs(b); }

/// `v` = k * x (k near `want`): x, or null.
Value scaled(Value v, double want) {
  double c = 1;
  SmallVector<Value> f;
  productFactors(v, c, f);
  return f.size() == 1 && near(c, want) ? f.front() : Value();
}

/// The argument of `op`(a) + 1 (either order), or null.
template <typename OpTy> Value onePlus(Value v) {
  auto add = withConstant<arith::AddFOp>(v);
  if (!add || add->second != 1.0)
    return {};
  auto op = add->first.getDefiningOp<OpTy>();
  return op ? op.getOperand() : Value();
}

/// x^3 as x * x * x or a power op with exponent 3.
bool isCube(Value v, Value x) {
  double c = 1;
  SmallVector<Value> f;
  productFactors(v, c, f);
  if (c == 1 && f.size() == 3 && llvm::all_equal(f) && f.front() == x)
    return true;
  if (auto p = v.getDefiningOp<math::PowFOp>())
    return p.getLhs() == x && isConstant(p.getRhs(), 3.0);
  if (auto p = v.getDefiningOp<math::FPowIOp>()) {
    APInt e;
    return p.getLhs() == x && matchPattern(p.getRhs(), m_ConstantInt(&e)) &&
           e == 3;
  }
  return false;
}

/// GELU in its erf form 0.5 x (1 + erf(x / sqrt 2)) or its tanh form 0.5 x
/// (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), the factors in any order
/// and grouping.
std::optional<std::pair<ConvEpilogueAct, Value>> matchGelu(Value y) {
  double c = 1;
  SmallVector<Value> f;
  productFactors(y, c, f);
  if (f.size() != 2 || !near(c, 0.5))
    return std::nullopt;
  for (auto [x, g] : {std::pair(f[0], f[1]), std::pair(f[1], f[0])}) {
    if (Value e = onePlus<math::ErfOp>(g); e && scaled(e, M_SQRT1_2) == x)
      return std::make_pair(ConvEpilogueAct::GeluErf, x);
    if (Value t = onePlus<math::TanhOp>(g)) {
      Value s = scaled(t, std::sqrt(2.0 / M_PI));
      auto add = s ? s.getDefiningOp<arith::AddFOp>() : nullptr;
      if (!add)
        continue;
      for (auto [a, b] : {std::pair(add.getLhs(), add.getRhs()),
                          std::pair(add.getRhs(), add.getLhs())}) {
        if (a != x)
          continue;
        double k = 1;
        SmallVector<Value> cube;
        productFactors(b, k, cube);
        if (near(k, 0.044715) &&
            ((cube.size() == 3 && llvm::all_equal(cube) && cube[0] == x) ||
             (cube.size() == 1 && isCube(cube[0], x))))
          return std::make_pair(ConvEpilogueAct::GeluTanh, x);
      }
    }
  }
  return std::nullopt;
}

/// The activation `y` applies to its pre-activation value `x`.
struct Act {
  ConvEpilogueAct act = ConvEpilogueAct::None;
  float alpha = 0, beta = 0;
  Value x;
};

Act matchActivation(Value y) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  // HardSwish: x * min(max(x / 6 + 0.5, 0), 1).
  if (auto mul = y.getDefiningOp<arith::MulFOp>()) {
    for (auto [x, g] : {std::pair(mul.getLhs(), mul.getRhs()),
                        std::pair(mul.getRhs(), mul.getLhs())}) {
      auto mn = withConstant<arith::MinimumFOp>(g);
      if (mn && mn->second == 1.0)
        if (auto mx = withConstant<arith::MaximumFOp>(mn->first);
            mx && mx->second == 0.0)
          if (auto add = withConstant<arith::AddFOp>(mx->first))
            if (auto div = add->first.getDefiningOp<arith::DivFOp>();
                div && div.getLhs() == x) {
              std::optional<double> d = constantValue(div.getRhs());
              if (d && *d != 0)
                return {ConvEpilogueAct::HardSwish, float(1.0 / *d),
                        float(add->second), x};
            }
      // SiLU: x * sigmoid(x).
      if (matchSigmoid(g) == x && x)
        return {ConvEpilogueAct::SiLU, 0, 0, x};
    }
  }
  if (auto gelu = matchGelu(y))
    return {gelu->first, 0, 0, gelu->second};
  if (Value x = matchSigmoid(y))
    return {ConvEpilogueAct::Sigmoid, 0, 0, x};
  // LeakyRelu: select(x < 0, x * alpha, x).
  if (auto sel = y.getDefiningOp<arith::SelectOp>()) {
    auto cmp = sel.getCondition().getDefiningOp<arith::CmpFOp>();
    Value x = sel.getFalseValue();
    auto mul = withConstant<arith::MulFOp>(sel.getTrueValue());
    if (cmp && cmp.getPredicate() == arith::CmpFPredicate::OLT &&
        cmp.getLhs() == x && isConstant(cmp.getRhs(), 0.0) && mul &&
        mul->first == x)
      return {ConvEpilogueAct::LeakyRelu, float(mul->second), 0, x};
  }
  // Relu and Clip: max(x, lo), min(x, hi) or min(max(x, lo), hi).
  if (auto mn = withConstant<arith::MinimumFOp>(y)) {
    if (auto mx = withConstant<arith::MaximumFOp>(mn->first))
      return {ConvEpilogueAct::Clip, float(mx->second), float(mn->second),
              mx->first};
    return {ConvEpilogueAct::Clip, float(-inf), float(mn->second), mn->first};
  }
  if (auto mx = withConstant<arith::MaximumFOp>(y)) {
    if (mx->second == 0.0)
      return {ConvEpilogueAct::Relu, 0, 0, mx->first};
    return {ConvEpilogueAct::Clip, float(mx->second), float(inf), mx->first};
  }
  return {ConvEpilogueAct::None, 0, 0, y};
}

bool isIdentityGeneric(linalg::GenericOp g, int64_t rank) {
  if (g.getNumLoops() != unsigned(rank) ||
      g.getNumParallelLoops() != g.getNumLoops() || g.getNumDpsInits() != 1 ||
      !g.hasPureBufferSemantics())
    return false;
  return llvm::all_of(g.getIndexingMapsArray(),
                      [](AffineMap m) { return m.isIdentity(); });
}

/// Fills the consumer part of `m` from generic `g` reading the conv's
/// output `out`; false if `g` is not an epilogue the kernel applies.
bool matchConsumer(linalg::GenericOp g, Value out, ConvEpilogueMatch &m) {
  auto outTy = cast<MemRefType>(out.getType());
  if (!isIdentityGeneric(g, outTy.getRank()) || g.getNumDpsInputs() > 2)
    return false;
  Block &body = g.getRegion().front();
  int convArg = -1, resArg = -1;
  for (OpOperand *in : g.getDpsInputOperands()) {
    auto ty = dyn_cast<MemRefType>(in->get().getType());
    if (!ty || !ty.getElementType().isF32() ||
        ty.getShape() != outTy.getShape())
      return false;
    if (in->get() == out && convArg < 0)
      convArg = int(in->getOperandNumber());
    else if (in->get() != out)
      resArg = int(in->getOperandNumber());
    else
      return false; // the conv's output read twice
  }
  Value dst = g.getDpsInitOperand(0)->get();
  auto dstTy = cast<MemRefType>(dst.getType());
  if (convArg < 0 || !dstTy.getElementType().isF32() ||
      dstTy.getShape() != outTy.getShape() ||
      !body.getArgument(g.getNumDpsInputs()).use_empty())
    return false;
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  Value convValue = body.getArgument(convArg);
  // Gated: act(x) * gate (SwiGLU's silu(g) * u), the gate the other input.
  if (auto mul = yield.getOperand(0).getDefiningOp<arith::MulFOp>();
      mul && resArg >= 0) {
    Value gate = body.getArgument(resArg);
    Value other = mul.getLhs() == gate   ? mul.getRhs()
                  : mul.getRhs() == gate ? mul.getLhs()
                                         : Value();
    if (other && other != gate) {
      Act act = matchActivation(other);
      if (act.x == convValue && act.act != ConvEpilogueAct::None) {
        m.consumer = g;
        m.residual = g.getDpsInputOperand(resArg)->get();
        m.gated = true;
        m.dst = dst;
        m.act = act.act;
        m.alpha = act.alpha;
        m.beta = act.beta;
        return true;
      }
    }
  }
  Act act = matchActivation(yield.getOperand(0));
  Value x = act.x;
  Value residual;
  if (x != convValue) {
    auto add = x.getDefiningOp<arith::AddFOp>();
    if (!add || resArg < 0)
      return false;
    Value resValue = body.getArgument(resArg);
    if (!((add.getLhs() == convValue && add.getRhs() == resValue) ||
          (add.getRhs() == convValue && add.getLhs() == resValue)))
      return false;
    residual = g.getDpsInputOperand(resArg)->get();
  } else if (resArg >= 0) {
    return false;
  }
  if (act.act == ConvEpilogueAct::None && !residual)
    return false; // a copy: nothing worth taking over
  m.consumer = g;
  m.residual = residual;
  m.gated = false;
  m.dst = dst;
  m.act = act.act;
  m.alpha = act.alpha;
  m.beta = act.beta;
  return true;
}

/// Whether an op strictly between `from` and `to` (same block) uses a view
/// of one of `buffers`.
bool touchedBetween(Operation *from, Operation *to, ArrayRef<Value> buffers) {
  for (Operation *op = from->getNextNode(); op && op != to;
       op = op->getNextNode()) {
    WalkResult r = op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        if (isa<MemRefType>(v.getType()) &&
            llvm::is_contained(buffers, baseBuffer(v)))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return true;
  }
  return false;
}

} // namespace

std::optional<ConvEpilogueMatch>
mlir::qopt::matchConvEpilogue(linalg::Conv2DNchwFchwOp conv) {
  if (!conv.hasPureBufferSemantics())
    return std::nullopt;
  Value out = conv.getDpsInitOperand(0)->get();
  auto outTy = dyn_cast<MemRefType>(out.getType());
  if (!outTy || !outTy.getElementType().isF32() ||
      !out.getDefiningOp<memref::AllocOp>())
    return std::nullopt;
  Block *block = conv->getBlock();
  ConvEpilogueMatch m;
  SmallVector<linalg::GenericOp> readers;
  int otherUsers = 0;
  for (Operation *user : out.getUsers()) {
    if (user == conv.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    if (user->getBlock() != block)
      return std::nullopt;
    if (user->isBeforeInBlock(conv)) {
      if (m.init)
        return std::nullopt;
      m.init = user;
      continue;
    }
    // Later users read the conv's results (or write after them).
    auto g = dyn_cast<linalg::GenericOp>(user);
    if (g && g.getDpsInitOperand(0)->get() != out)
      readers.push_back(g);
    else
      ++otherUsers;
  }
  // The init: a broadcast of a [F] bias over (N, H, W), or zeros.
  if (!m.init)
    return std::nullopt;
  if (auto b = dyn_cast<linalg::BroadcastOp>(m.init)) {
    auto biasTy = dyn_cast<MemRefType>(b.getInput().getType());
    if (!biasTy || biasTy.getRank() != 1 || !biasTy.getElementType().isF32() ||
        b.getInit() != out || b.getDimensions() != ArrayRef<int64_t>{0, 2, 3})
      return std::nullopt;
    m.bias = b.getInput();
  } else if (!convZeroInitOf(m.init, out)) {
    return std::nullopt;
  }
  m.dst = out;
  if (readers.size() != 1 || otherUsers ||
      !matchConsumer(readers.front(), out, m) || m.gated) {
    m.consumer = {};
    m.residual = {};
    m.gated = false;
    m.dst = out;
    m.act = ConvEpilogueAct::None;
    m.alpha = m.beta = 0;
    return m; // the bias (or zeros) alone
  }
  // The consumer's results are now written where the conv ran: its
  // destination must not alias what the conv reads, and nothing in between
  // may touch the buffers involved.
  ConvEpilogueMatch withConsumer = m;
  Value in = baseBuffer(conv.getDpsInputOperand(0)->get());
  Value filter = baseBuffer(conv.getDpsInputOperand(1)->get());
  Value dst = baseBuffer(m.dst);
  SmallVector<Value> involved{in, filter, dst};
  if (m.bias)
    involved.push_back(baseBuffer(m.bias));
  bool ok = distinctBuffers(dst, in) && distinctBuffers(dst, filter) &&
            (!m.bias || distinctBuffers(dst, baseBuffer(m.bias)));
  if (m.residual) {
    Value res = baseBuffer(m.residual);
    ok = ok && (m.residual == m.dst || distinctBuffers(res, dst));
    involved.push_back(res);
  }
  if (!ok || touchedBetween(conv, m.consumer, involved)) {
    m.consumer = {};
    m.residual = {};
    m.dst = out;
    m.act = ConvEpilogueAct::None;
    m.alpha = m.beta = 0;
    return m;
  }
  return withConsumer;
}

bool mlir::qopt::matchConvConsumer(linalg::GenericOp g, Value out,
                                   ConvEpilogueMatch &m) {
  return matchConsumer(g, out, m);
}

mlir::qopt::ConvActivationMatch mlir::qopt::convMatchActivation(Value y) {
  Act a = matchActivation(y);
  return {a.act, a.alpha, a.beta, a.x};
}

Value mlir::qopt::convBaseBuffer(Value v) { return baseBuffer(v); }

bool mlir::qopt::convDistinctBuffers(Value a, Value b) {
  return distinctBuffers(a, b);
}

bool mlir::qopt::convTouchedBetween(Operation *from, Operation *to,
                                    ArrayRef<Value> buffers) {
  return touchedBetween(from, to, buffers);
}

bool mlir::qopt::convZeroInitOf(Operation *op, Value buf) {
  if (auto f = dyn_cast<linalg::FillOp>(op))
    return f.getOutputs().front() == buf &&
           isConstant(f.getInputs().front(), 0);
  if (auto map = dyn_cast<linalg::MapOp>(op)) {
    if (!map.getInputs().empty() || map.getInit() != buf)
      return false;
    auto yield = cast<linalg::YieldOp>(map.getMapper().front().getTerminator());
    return isConstant(yield.getOperand(0), 0);
  }
  return false;
}

std::optional<std::pair<int64_t, int64_t>>
mlir::qopt::convWindowIndex(AffineExpr e, unsigned numDims, unsigned o,
                            unsigned k) {
  MLIRContext *ctx = e.getContext();
  auto at = [&](int64_t vo, int64_t vk) -> std::optional<int64_t> {
    SmallVector<AffineExpr> dims;
    for (unsigned i = 0; i < numDims; ++i)
      dims.push_back(getAffineConstantExpr(i == o ? vo : i == k ? vk : 0, ctx));
    auto c = dyn_cast<AffineConstantExpr>(
        simplifyAffineExpr(e.replaceDims(dims), 0, 0));
    if (!c)
      return std::nullopt;
    return c.getValue();
  };
  for (unsigned i = 0; i < numDims; ++i)
    if (i != o && i != k && e.isFunctionOfDim(i))
      return std::nullopt;
  std::optional<int64_t> zero = at(0, 0), a = at(1, 0), b = at(0, 1),
                         ab = at(3, 5);
  if (!zero || !a || !b || !ab || *zero != 0 || *a < 1 || *b < 1 ||
      *ab != 3 * *a + 5 * *b || !e.isPureAffine())
    return std::nullopt;
  return std::make_pair(*a, *b);
}

std::optional<GroupedConvWindow>
mlir::qopt::matchGroupedConvGeneric(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getLibraryCall() ||
      op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != 8)
    return std::nullopt;
  auto iters = op.getIteratorTypesArray();
  for (unsigned i = 0; i < 8; ++i)
    if (iters[i] != (i < 5 ? utils::IteratorType::parallel
                           : utils::IteratorType::reduction))
      return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  auto dimsAre = [](AffineMap m, ArrayRef<unsigned> want) {
    if (m.getNumResults() != want.size())
      return false;
    for (auto [e, d] : llvm::zip(m.getResults(), want)) {
      auto de = dyn_cast<AffineDimExpr>(e);
      if (!de || de.getPosition() != d)
        return false;
    }
    return true;
  };
  if (!dimsAre(maps[2], {0, 1, 2, 3, 4}) ||
      !dimsAre(maps[1], {1, 2, 5, 6, 7}) || maps[0].getNumResults() != 5 ||
      !dimsAre(maps[0].getSliceMap(0, 3), {0, 1, 5}))
    return std::nullopt;
  auto rows = convWindowIndex(maps[0].getResult(3), 8, 3, 6);
  auto cols = convWindowIndex(maps[0].getResult(4), 8, 4, 7);
  if (!rows || !cols)
    return std::nullopt;
  return GroupedConvWindow{*rows, *cols};
}

namespace {

/// The integer constant `v` holds, if it is one.
std::optional<int64_t> intConstant(Value v) {
  IntegerAttr attr;
  if (v && matchPattern(v, m_Constant(&attr)))
    return attr.getInt();
  return std::nullopt;
}

} // namespace

std::optional<int64_t> mlir::qopt::convIntFillValueOf(Operation *op,
                                                      Value buf) {
  if (auto f = dyn_cast<linalg::FillOp>(op))
    return f.getOutputs().front() == buf ? intConstant(f.getInputs().front())
                                         : std::nullopt;
  if (auto map = dyn_cast<linalg::MapOp>(op)) {
    if (!map.getInputs().empty() || map.getInit() != buf)
      return std::nullopt;
    auto yield = cast<linalg::YieldOp>(map.getMapper().front().getTerminator());
    return intConstant(yield.getOperand(0));
  }
  return std::nullopt;
}

std::optional<ConvPadMatch>
mlir::qopt::matchConvPadding(Value view, Operation *conv, bool int8) {
  auto expand = view.getDefiningOp<memref::ExpandShapeOp>();
  if (!expand || !expand->hasOneUse())
    return std::nullopt;
  Value p = expand.getSrc();
  if (!p.getDefiningOp<memref::AllocOp>() ||
      cast<MemRefType>(p.getType()).getRank() != 4)
    return std::nullopt;
  ConvPadMatch m;
  m.padded = p;
  for (Operation *user : p.getUsers()) {
    if (user == expand.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    if (user->getBlock() != conv->getBlock())
      return std::nullopt;
    if (auto sub = dyn_cast<memref::SubViewOp>(user)) {
      if (m.interior || !sub->hasOneUse())
        return std::nullopt;
      m.interior = sub;
      continue;
    }
    if (!m.fill) {
      if (int8) {
        if (std::optional<int64_t> v = convIntFillValueOf(user, p)) {
          m.fill = user;
          m.value = *v;
          continue;
        }
      } else if (convZeroInitOf(user, p)) {
        m.fill = user;
        continue;
      }
    }
    return std::nullopt;
  }
  if (!m.fill || !m.interior)
    return std::nullopt;
  m.copy = dyn_cast<memref::CopyOp>(*m.interior->getUsers().begin());
  if (!m.copy || m.copy.getTarget() != m.interior.getResult() ||
      m.copy->getBlock() != conv->getBlock() ||
      !m.fill->isBeforeInBlock(m.copy) || !m.copy->isBeforeInBlock(conv))
    return std::nullopt;
  // The interior: offsets [0, 0, top, left], the source's sizes, unit
  // strides.
  Value src = m.copy.getSource();
  auto srcTy = cast<MemRefType>(src.getType());
  Type elem = srcTy.getElementType();
  if (srcTy.getRank() != 4 || !(int8 ? elem.isInteger(8) : elem.isF32()))
    return std::nullopt;
  ArrayRef<int64_t> offsets = m.interior.getStaticOffsets();
  ArrayRef<int64_t> strides = m.interior.getStaticStrides();
  if (offsets.size() != 4 || offsets[0] != 0 || offsets[1] != 0 ||
      ShapedType::isDynamic(offsets[2]) || ShapedType::isDynamic(offsets[3]) ||
      llvm::any_of(strides, [](int64_t s) { return s != 1; }))
    return std::nullopt;
  auto pTy = cast<MemRefType>(p.getType());
  auto subTy = m.interior.getType();
  for (int64_t d = 0; d < 4; ++d)
    if (subTy.getDimSize(d) != srcTy.getDimSize(d) ||
        (d < 2 && subTy.getDimSize(d) != pTy.getDimSize(d)))
      return std::nullopt;
  m.top = offsets[2];
  m.left = offsets[3];
  m.x = src;
  return m;
}

void mlir::qopt::convEraseIfDead(PatternRewriter &rewriter, Value buffer) {
  if (!buffer)
    return;
  for (Operation *u : buffer.getUsers()) {
    if (isa<memref::DeallocOp>(u))
      continue;
    auto e = dyn_cast<memref::ExpandShapeOp>(u);
    if (!e || !e->use_empty())
      return;
  }
  for (Operation *u : llvm::make_early_inc_range(buffer.getUsers()))
    rewriter.eraseOp(u);
  rewriter.eraseOp(buffer.getDefiningOp());
}

void mlir::qopt::eraseConvPadding(PatternRewriter &rewriter,
                                  const ConvPadMatch &pad) {
  rewriter.eraseOp(pad.copy);
  rewriter.eraseOp(pad.interior);
  rewriter.eraseOp(pad.fill);
  convEraseIfDead(rewriter, pad.padded);
}

func::FuncOp mlir::qopt::declareKernelFunc(PatternRewriter &rewriter,
                                           Operation *from, StringRef name,
                                           unsigned numArgs) {
  auto module = from->getParentOfType<ModuleOp>();
  if (auto f = module.lookupSymbol<func::FuncOp>(name))
    return f;
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(module.getBody());
  SmallVector<Type> args(numArgs, rewriter.getI64Type());
  auto f = func::FuncOp::create(rewriter, module.getLoc(), name,
                                rewriter.getFunctionType(args, {}));
  f.setPrivate();
  return f;
}

KernelBuffer mlir::qopt::describeKernelBuffer(PatternRewriter &rewriter,
                                              Location loc, Value memref) {
  auto meta = memref::ExtractStridedMetadataOp::create(rewriter, loc, memref);
  Value base =
      memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc, memref);
  unsigned bytes =
      cast<MemRefType>(memref.getType()).getElementTypeBitWidth() / 8;
  Value elem = arith::ConstantIndexOp::create(rewriter, loc, bytes);
  Value offsetBytes =
      arith::MulIOp::create(rewriter, loc, meta.getOffset(), elem);
  Value addr = arith::AddIOp::create(rewriter, loc, base, offsetBytes);
  KernelBuffer b;
  b.address =
      arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), addr);
  for (Value s : meta.getStrides())
    b.strides.push_back(s);
  return b;
}

SmallVector<Value> mlir::qopt::kernelBufferArgs(PatternRewriter &rewriter,
                                                Location loc, Value memref) {
  KernelBuffer b = describeKernelBuffer(rewriter, loc, memref);
  SmallVector<Value> out{b.address};
  for (Value s : b.strides)
    out.push_back(
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), s));
  return out;
}

bool mlir::qopt::isConvMulAccBody(Block &body, bool int8) {
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  Value sum = yield.getOperand(0);
  Operation *add = int8 ? sum.getDefiningOp<arith::AddIOp>()
                        : sum.getDefiningOp<arith::AddFOp>();
  if (!add || body.getOperations().size() != (int8 ? 5u : 3u))
    return false;
  Value acc = body.getArgument(2);
  Value lhs = add->getOperand(0), rhs = add->getOperand(1);
  Value prod = lhs == acc ? rhs : rhs == acc ? lhs : Value();
  Operation *mul = !prod  ? nullptr
                   : int8 ? prod.getDefiningOp<arith::MulIOp>()
                          : prod.getDefiningOp<arith::MulFOp>();
  if (!mul)
    return false;
  // The argument a factor reads (through a sign extension for int8).
  auto source = [&](Value v) -> Value {
    if (!int8)
      return v;
    auto ext = v.getDefiningOp<arith::ExtSIOp>();
    return ext ? ext.getIn() : Value();
  };
  Value a = source(mul->getOperand(0)), b = source(mul->getOperand(1));
  Value x = body.getArgument(0), w = body.getArgument(1);
  return a && b && ((a == x && b == w) || (a == w && b == x));
}
