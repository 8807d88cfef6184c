//===- Recurrent.cpp - LSTM, GRU and RNN ----------------------------------===//
//
// A recurrent node becomes, per direction:
//  * one qopt.linear X · Wᵀ + Wb over every time step at once (a single
//    matmul of T·B rows; the weight is a named constant that quantization
//    sees like any linear layer's);
//  * an scf.for over time whose body is a small qopt.linear h · Rᵀ + Rb
//    (the recurrent weight, equally visible to quantization) and one
//    element-wise linalg.generic for the gates, reading each gate's columns
//    of the two products through offset maps.
// sequence_lens masks the steps at or past a sequence's end as onnxruntime
// does: the state is kept (so Y_h and Y_c are the last valid step's, zero
// for an empty sequence) and Y is zero there. A reverse direction walks t
// from T-1 down to 0, so that a shorter sequence starts at its own last
// step. Activation alpha/beta lists are consumed in order by the activations
// that take them, with onnxruntime's defaults for the missing ones.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

namespace {

enum class Cell { RNN, GRU, LSTM };

/// One activation function with its alpha and beta.
struct Activation {
  std::string name; // lower case
  double alpha = 0.0, beta = 0.0;
};

/// The activations the ONNX recurrent operators name, whether each takes
/// alpha / beta, and the value onnxruntime uses when the lists run out.
struct ActivationInfo {
  StringLiteral name;
  bool hasAlpha, hasBeta;
  double alpha, beta;
};
constexpr ActivationInfo kActivations[] = {
    {"relu", false, false, 0.0, 0.0},
    {"tanh", false, false, 0.0, 0.0},
    {"sigmoid", false, false, 0.0, 0.0},
    {"affine", true, true, 0.0, 0.0},
    {"leakyrelu", true, false, 0.01, 0.0},
    {"thresholdedrelu", true, false, 0.0, 0.0},
    {"scaledtanh", true, true, 0.0, 0.0},
    {"hardsigmoid", true, true, 0.2, 0.5},
    {"elu", true, false, 1.0, 0.0},
    {"softsign", false, false, 0.0, 0.0},
    {"softplus", false, false, 0.0, 0.0},
};

/// What a node asks for, read and checked.
struct RecurrentSpec {
  Cell cell;
  int64_t gates = 1;  // 1 (RNN), 3 (GRU: z r h), 4 (LSTM: i o f c)
  int64_t hidden = 0; // H
  int64_t dirs = 1;
  bool reverse = false; // the only direction is reverse
  bool batchFirst = false;
  std::optional<double> clip;
  bool inputForget = false;
  bool linearBeforeReset = false;
  /// Per direction, numActivations() entries.
  SmallVector<Activation> acts;

  int64_t numActivations() const {
    return cell == Cell::LSTM ? 3 : cell == Cell::GRU ? 2 : 1;
  }
  const Activation &act(int64_t dir, int64_t i) const {
    return acts[dir * numActivations() + i];
  }
  bool isReverse(int64_t dir) const { return dir == 1 || reverse; }
};

/// Reads the attributes into `spec` (gates and cell already set).
LogicalResult readAttributes(ONNXNode &n, RecurrentSpec &spec) {
  FailureOr<std::string> direction = n.getString("direction", "forward");
  FailureOr<int64_t> hidden = n.getInt("hidden_size", 0);
  FailureOr<int64_t> layout = n.getInt("layout", 0);
  FailureOr<SmallVector<std::string>> names = n.getStrings("activations");
  FailureOr<SmallVector<double>> alphas = n.getFloats("activation_alpha", {});
  FailureOr<SmallVector<double>> betas = n.getFloats("activation_beta", {});
  if (failed(direction) || failed(hidden) || failed(layout) || failed(names) ||
      failed(alphas) || failed(betas))
    return failure();
  if (n.hasAttr("clip")) {
    FailureOr<double> clip = n.getFloat("clip", 0.0);
    if (failed(clip))
      return failure();
    if (!(*clip > 0.0))
      return n.emitError() << "clip must be positive, got " << *clip;
    spec.clip = *clip;
  }
  // Opset 1's output_sequence only says whether Y is wanted, which the
  // node's outputs say as well.
  if (n.opset < 7 && failed(n.getInt("output_sequence", 0)))
    return failure();
  if (spec.cell == Cell::LSTM) {
    FailureOr<int64_t> inputForget = n.getInt("input_forget", 0);
    if (failed(inputForget))
      return failure();
    if (*inputForget != 0 && *inputForget != 1)
      return n.emitError() << "input_forget must be 0 or 1, got "
                           << *inputForget;
    spec.inputForget = *inputForget;
  }
  if (spec.cell == Cell::GRU) {
    FailureOr<int64_t> lbr = n.getInt("linear_before_reset", 0);
    if (failed(lbr))
      return failure();
    if (*lbr != 0 && *lbr != 1)
      return n.emitError() << "linear_before_reset must be 0 or 1, got "
                           << *lbr;
    spec.linearBeforeReset = *lbr;
  }

  if (*direction == "forward" || *direction == "reverse") {
    spec.dirs = 1;
    spec.reverse = *direction == "reverse";
  } else if (*direction == "bidirectional") {
    spec.dirs = 2;
  } else {
    return n.emitError() << "direction '" << *direction
                         << "' is not one of forward, reverse, bidirectional";
  }
  if (*layout != 0 && *layout != 1)
    return n.emitError() << "layout must be 0 or 1, got " << *layout;
  spec.batchFirst = *layout == 1;
  if (*hidden < 0)
    return n.emitError() << "hidden_size must be positive, got " << *hidden;
  spec.hidden = *hidden; // 0: taken from R

  // Activations: numActivations() per direction; one set for both
  // directions is repeated (as onnxruntime does).
  int64_t per = spec.numActivations();
  SmallVector<std::string> list(names->begin(), names->end());
  if (list.empty()) {
    if (spec.cell == Cell::LSTM)
      list = {"Sigmoid", "Tanh", "Tanh"};
    else if (spec.cell == Cell::GRU)
      list = {"Sigmoid", "Tanh"};
    else
      list = {"Tanh"};
  }
  if (static_cast<int64_t>(list.size()) == per && spec.dirs == 2)
    list.append(SmallVector<std::string>(list));
  if (static_cast<int64_t>(list.size()) != per * spec.dirs)
    return n.emitError() << "activations has " << list.size()
                         << " entries; expected " << per << " per direction ("
                         << per * spec.dirs << ")";
  const double *alpha = alphas->begin(), *alphaEnd = alphas->end();
  const double *beta = betas->begin(), *betaEnd = betas->end();
  for (const std::string &name : list) {
    std::string lower = StringRef(name).lower();
    const ActivationInfo *info = llvm::find_if(
        kActivations, [&](const ActivationInfo &a) { return a.name == lower; });
    if (info == std::end(kActivations))
      return n.emitError() << "activation '" << name << "' is not supported";
    Activation a{lower, info->alpha, info->beta};
    if (info->hasAlpha && alpha != alphaEnd)
      a.alpha = *alpha++;
    if (info->hasBeta && beta != betaEnd)
      a.beta = *beta++;
    spec.acts.push_back(std::move(a));
  }
  return success();
}

/// f(x) for activation `a`.
Value applyActivation(OpBuilder &b, Location loc, const Activation &a,
                      Value x) {
  Type t = x.getType();
  auto c = [&](double v) { return scalarConstant(b, loc, t, v); };
  auto mul = [&](Value l, Value r) -> Value {
    return arith::MulFOp::create(b, loc, l, r);
  };
  auto add = [&](Value l, Value r) -> Value {
    return arith::AddFOp::create(b, loc, l, r);
  };
  auto cmp = [&](arith::CmpFPredicate p, Value l, Value r) -> Value {
    return arith::CmpFOp::create(b, loc, p, l, r);
  };
  auto sel = [&](Value cond, Value l, Value r) -> Value {
    return arith::SelectOp::create(b, loc, cond, l, r);
  };
  StringRef name = a.name;
  if (name == "relu")
    return arith::MaximumFOp::create(b, loc, x, c(0.0));
  if (name == "tanh")
    return math::TanhOp::create(b, loc, x);
  if (name == "sigmoid") {
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
    return arith::DivFOp::create(b, loc, c(1.0), add(c(1.0), e));
  }
  if (name == "affine")
    return add(mul(x, c(a.alpha)), c(a.beta));
  if (name == "leakyrelu")
    return sel(cmp(arith::CmpFPredicate::OGE, x, c(0.0)), x,
               mul(x, c(a.alpha)));
  if (name == "thresholdedrelu")
    return sel(cmp(arith::CmpFPredicate::OGT, x, c(a.alpha)), x, c(0.0));
  if (name == "scaledtanh")
    return mul(c(a.alpha), math::TanhOp::create(b, loc, mul(x, c(a.beta))));
  if (name == "hardsigmoid")
    return arith::MinimumFOp::create(
        b, loc,
        arith::MaximumFOp::create(b, loc, add(mul(x, c(a.alpha)), c(a.beta)),
                                  c(0.0)),
        c(1.0));
  if (name == "elu")
    return sel(cmp(arith::CmpFPredicate::OGE, x, c(0.0)), x,
               mul(c(a.alpha),
                   arith::SubFOp::create(b, loc, math::ExpOp::create(b, loc, x),
                                         c(1.0))));
  if (name == "softsign")
    return arith::DivFOp::create(b, loc, x,
                                 add(c(1.0), math::AbsFOp::create(b, loc, x)));
  assert(name == "softplus" && "activation checked when read");
  // log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow.
  Value e = math::ExpOp::create(
      b, loc, arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
  return add(arith::MaximumFOp::create(b, loc, x, c(0.0)),
             math::Log1pOp::create(b, loc, e));
}

/// The raw bytes of constant `v` (a dense or dense_resource arith.constant
/// that is not a splat), or std::nullopt.
std::optional<ArrayRef<char>> constantBytes(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue()))
    if (!dense.isSplat())
      return dense.getRawData();
  if (auto res = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
    if (AsmResourceBlob *blob = res.getRawHandle().getBlob())
      return blob->getData();
  return std::nullopt;
}

/// `v[d, first : first + count, ...]` of a [D, N, rest...] tensor with a
/// static shape, as a [count, rest...] tensor. A constant `v` gives a new
/// constant (a dense_resource named `name` when `v` is one, sharing its blob
/// when the slice is all of it), so that quantization sees a constant
/// weight; anything else a tensor.extract_slice.
Value sliceDirection(ONNXNode &n, Value v, int64_t d, int64_t first,
                     int64_t count, StringRef name) {
  OpBuilder &b = n.b;
  auto ty = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> outShape{count};
  llvm::append_range(outShape, ty.getShape().drop_front(2));
  auto outTy = RankedTensorType::get(outShape, ty.getElementType());
  if (auto c = v.getDefiningOp<arith::ConstantOp>()) {
    if (auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
        dense && dense.isSplat())
      return arith::ConstantOp::create(
          b, n.loc,
          DenseElementsAttr::get(outTy, dense.getSplatValue<Attribute>()));
    unsigned bits = ty.getElementTypeBitWidth();
    std::optional<ArrayRef<char>> bytes = constantBytes(v);
    int64_t inner = 1;
    for (int64_t s : ty.getShape().drop_front(2))
      inner *= s;
    int64_t elem = bits / 8;
    if (bytes && bits % 8 == 0 &&
        static_cast<int64_t>(bytes->size()) == ty.getNumElements() * elem) {
      int64_t offset = (d * ty.getDimSize(1) + first) * inner * elem;
      int64_t size = count * inner * elem;
      ArrayRef<char> part = bytes->slice(offset, size);
      if (isa<DenseElementsAttr>(c.getValue()))
        return arith::ConstantOp::create(
            b, n.loc, DenseElementsAttr::getFromRawBuffer(outTy, part));
      auto res = cast<DenseResourceElementsAttr>(c.getValue());
      if (size == static_cast<int64_t>(bytes->size()))
        return arith::ConstantOp::create(
            b, n.loc,
            DenseResourceElementsAttr::get(outTy, res.getRawHandle()));
      AsmResourceBlob blob =
          HeapAsmResourceBlob::allocateAndCopyWithAlign(part, elem);
      return arith::ConstantOp::create(
          b, n.loc,
          DenseResourceElementsAttr::get(outTy, name, std::move(blob)));
    }
  }
  SmallVector<OpFoldResult> offsets{b.getIndexAttr(d), b.getIndexAttr(first)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(count)};
  for (int64_t s : ty.getShape().drop_front(2)) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(b.getIndexAttr(s));
  }
  SmallVector<OpFoldResult> strides(ty.getRank(), b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, n.loc, outTy, v, offsets, sizes,
                                        strides);
}

/// The [B, H] slice of a [dirs, B, H] (or [B, dirs, H] when batch-first)
/// state at direction `d`, B sized (and typed) as X's batch `batch`: a
/// static state with a symbolic X batch reads as dynamic (their agreement
/// is checked at run time).
Value stateOfDirection(OpBuilder &b, Location loc, Value v, int64_t d,
                       bool batchFirst, OpFoldResult batch, int64_t hidden) {
  auto ty = cast<RankedTensorType>(v.getType());
  std::optional<int64_t> staticBatch = getConstantIntValue(batch);
  auto outTy = RankedTensorType::get(
      {staticBatch ? *staticBatch : ShapedType::kDynamic, hidden},
      ty.getElementType());
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets, sizes;
  if (batchFirst) {
    offsets = {zero, b.getIndexAttr(d), zero};
    sizes = {batch, one, b.getIndexAttr(hidden)};
  } else {
    offsets = {b.getIndexAttr(d), zero, zero};
    sizes = {one, batch, b.getIndexAttr(hidden)};
  }
  return tensor::ExtractSliceOp::create(b, loc, outTy, v, offsets, sizes,
                                        {one, one, one});
}

/// tensor.empty of `shape` (dynamic entries given as values in `sizes`).
Value emptyOf(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
              Type elemTy) {
  return tensor::EmptyOp::create(b, loc, sizes, elemTy);
}

Value zerosOf(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
              Type elemTy) {
  Value zero = scalarConstant(b, loc, elemTy, 0.0);
  return linalg::FillOp::create(b, loc, zero, emptyOf(b, loc, sizes, elemTy))
      .getResult(0);
}

/// Everything one direction's loop reads.
struct DirectionInputs {
  Value xProj;      // [T, B, G·H] (or [B, T, G·H]): X · Wᵀ + Wb
  Value r, rBias;   // [G·H, H], [G·H] (GRU without linear_before_reset:
                    // the z and r rows only)
  Value rh, rhBias; // GRU without linear_before_reset: R's h rows
  Value peephole;   // LSTM: [3H] or null
  Value h0, c0;     // [B, H]
  std::string rName, rhName;
};

/// Results of one direction's loop.
struct DirectionResults {
  Value y; // the Y carried through (null when not requested)
  Value h, c;
};

/// The body of a gate generic: the element arguments in order.
using GateBodyFn =
    function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange args)>;

/// A parallel linalg.generic over [B, H] writing into `outs` (each [B, H];
/// null entries become tensor.empty like `like`) and reading columns
/// [offset, offset + H) of each of `ins`: a [B, N] tensor through (b, j), a
/// 1-D [N] one (peepholes) through (j), and the [B] sequence lengths (marked
/// by an integer element type) through (b). `body` gets the input elements
/// and then the outputs' current elements. The loop's state is an `outs`
/// operand (read through its element) so that the step updates it in place:
/// one-shot bufferization wants each scf.for result equivalent to its
/// iteration argument. (linalg infers loop bounds from operand shapes, so
/// gate columns are sliced, not read through offset maps.)
SmallVector<Value> gateGeneric(OpBuilder &b, Location loc,
                               ArrayRef<std::pair<Value, int64_t>> ins,
                               ArrayRef<Value> outs, Value like,
                               GateBodyFn body) {
  MLIRContext *ctx = b.getContext();
  AffineExpr bd = getAffineDimExpr(0, ctx), jd = getAffineDimExpr(1, ctx);
  auto likeTy = cast<RankedTensorType>(like.getType());
  int64_t H = likeTy.getDimSize(1);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<Value> operands;
  SmallVector<AffineMap> maps;
  for (auto [v, offset] : ins) {
    auto ty = cast<RankedTensorType>(v.getType());
    if (isa<IntegerType>(ty.getElementType())) {
      operands.push_back(v);
      maps.push_back(AffineMap::get(2, 0, {bd}, ctx));
      continue;
    }
    int64_t rank = ty.getRank();
    if (ty.getDimSize(rank - 1) != H) {
      auto sliceTy = rank == 2
                         ? RankedTensorType::get({ty.getDimSize(0), H},
                                                 ty.getElementType())
                         : RankedTensorType::get({H}, ty.getElementType());
      SmallVector<OpFoldResult> offsets, sizes, strides;
      if (rank == 2) {
        offsets.push_back(zero);
        sizes.push_back(dimOFR(b, loc, v, 0));
        strides.push_back(one);
      }
      offsets.push_back(b.getIndexAttr(offset));
      sizes.push_back(b.getIndexAttr(H));
      strides.push_back(one);
      v = tensor::ExtractSliceOp::create(b, loc, sliceTy, v, offsets, sizes,
                                         strides);
    }
    operands.push_back(v);
    maps.push_back(rank == 2 ? AffineMap::getMultiDimIdentityMap(2, ctx)
                             : AffineMap::get(2, 0, {jd}, ctx));
  }
  SmallVector<Value> inits;
  SmallVector<Type> types;
  for (Value out : outs) {
    inits.push_back(out ? out : emptyTensorLike(b, loc, likeTy, like));
    types.push_back(likeTy);
    maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
  }
  auto generic = linalg::GenericOp::create(
      b, loc, types, operands, inits, maps,
      SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args));
      });
  return SmallVector<Value>(generic.getResults());
}

/// Builds the recurrent node once its inputs are checked.
class RecurrentBuilder {
public:
  RecurrentBuilder(ONNXNode &n, const RecurrentSpec &spec)
      : n(n), b(n.b), loc(n.loc), spec(spec) {}

  LogicalResult build();

private:
  ONNXNode &n;
  OpBuilder &b;
  Location loc;
  const RecurrentSpec &spec;
  Type elemTy;
  OpFoldResult seqLen, batch;
  Value seqLens; // [B] i32 or null
  Value seqLenI32;

  /// The name of a slice of input `input` (W, R, B, P): its initializer's
  /// (else `<node>.<input>`), `.forward` / `.backward` for two directions,
  /// then `suffix`.
  std::string weightName(int64_t input, StringRef suffix, int64_t dir) const;
  Value clip(OpBuilder &nb, Location l, Value x) const;
  DirectionResults runDirection(int64_t dir, const DirectionInputs &in,
                                Value y);
  SmallVector<Value> stepGates(int64_t dir, const DirectionInputs &in, Value xg,
                               Value h, Value c, Value t32);
  Value stackStates(ArrayRef<Value> perDirection);
};

std::string RecurrentBuilder::weightName(int64_t input, StringRef suffix,
                                         int64_t dir) const {
  static constexpr StringLiteral inputNames[] = {
      "X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"};
  std::string base = n.importer.initializerOf(n.input(input))
                         .value_or((n.name() + "." + inputNames[input]).str());
  if (spec.dirs == 2)
    base += dir == 0 ? ".forward" : ".backward";
  return base + suffix.str();
}

Value RecurrentBuilder::clip(OpBuilder &nb, Location l, Value x) const {
  if (!spec.clip)
    return x;
  Value hi = scalarConstant(nb, l, x.getType(), *spec.clip);
  Value lo = scalarConstant(nb, l, x.getType(), -*spec.clip);
  return arith::MaximumFOp::create(nb, l,
                                   arith::MinimumFOp::create(nb, l, x, hi), lo);
}

LogicalResult RecurrentBuilder::build() {
  RankedTensorType xTy = n.inputType(0);
  elemTy = xTy.getElementType();
  int64_t H = spec.hidden, G = spec.gates;
  seqLen = dimOFR(b, loc, n.input(0), spec.batchFirst ? 1 : 0);
  batch = dimOFR(b, loc, n.input(0), spec.batchFirst ? 0 : 1);
  Value xLenIdx = dimValue(b, loc, n.input(0), spec.batchFirst ? 1 : 0);
  if (n.hasInput(4)) {
    seqLens = n.input(4);
    seqLenI32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), xLenIdx);
    assertSameSize(n, seqLens, 0, n.input(0), spec.batchFirst ? 0 : 1,
                   "sequence_lens' size differs from the batch size at run "
                   "time");
    Value limit = seqLenI32;
    assertNoElement(
        n, seqLens,
        [&](OpBuilder &nb, Location l, Value len) -> Value {
          Value zero = arith::ConstantIntOp::create(nb, l, nb.getI32Type(), 0);
          Value neg = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt,
                                            len, zero);
          Value over = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sgt,
                                             len, limit);
          return arith::OrIOp::create(nb, l, neg, over);
        },
        "sequence_lens has a value outside [0, seq_length]");
  }
  for (int64_t i : {5, 6})
    if (i < n.numInputs() && n.hasInput(i))
      assertSameSize(n, n.input(i), spec.batchFirst ? 0 : 1, n.input(0),
                     spec.batchFirst ? 0 : 1,
                     "the initial state's batch size differs from X's at run "
                     "time");

  bool wantY = n.numOutputs() > 0 && n.hasOutput(0);
  Value y;
  if (wantY) {
    SmallVector<OpFoldResult> ySizes =
        spec.batchFirst
            ? SmallVector<OpFoldResult>{batch, seqLen,
                                        b.getIndexAttr(spec.dirs),
                                        b.getIndexAttr(H)}
            : SmallVector<OpFoldResult>{seqLen, b.getIndexAttr(spec.dirs),
                                        batch, b.getIndexAttr(H)};
    y = emptyOf(b, loc, ySizes, elemTy);
  }
  bool gruSplit = spec.cell == Cell::GRU && !spec.linearBeforeReset;
  SmallVector<Value> hs, cs;
  for (int64_t d = 0; d < spec.dirs; ++d) {
    DirectionInputs in;
    Value w = sliceDirection(n, n.input(1), d, 0, G * H, weightName(1, "", d));
    Value wBias;
    if (n.hasInput(3))
      wBias = sliceDirection(n, n.input(3), d, 0, G * H,
                             weightName(3, ".input", d));
    SmallVector<int64_t> projShape(xTy.getShape().drop_back());
    projShape.push_back(G * H);
    in.xProj = LinearOp::create(
        b, loc, RankedTensorType::get(projShape, elemTy), n.input(0), w, wBias,
        b.getStringAttr(weightName(1, "", d)));
    int64_t rRows = gruSplit ? 2 * H : G * H;
    std::string rName = weightName(2, gruSplit ? ".zr" : "", d);
    in.r = sliceDirection(n, n.input(2), d, 0, rRows, rName);
    if (n.hasInput(3))
      in.rBias = sliceDirection(n, n.input(3), d, G * H, rRows,
                                weightName(3, ".recurrent", d));
    if (gruSplit) {
      std::string rhName = weightName(2, ".h", d);
      in.rh = sliceDirection(n, n.input(2), d, 2 * H, H, rhName);
      if (n.hasInput(3))
        in.rhBias = sliceDirection(n, n.input(3), d, G * H + 2 * H, H,
                                   weightName(3, ".recurrent_h", d));
    }
    if (spec.cell == Cell::LSTM && n.numInputs() > 7 && n.hasInput(7))
      in.peephole =
          sliceDirection(n, n.input(7), d, 0, 3 * H, weightName(7, "", d));
    SmallVector<OpFoldResult> stateSizes{batch, b.getIndexAttr(H)};
    in.h0 =
        n.numInputs() > 5 && n.hasInput(5)
            ? stateOfDirection(b, loc, n.input(5), d, spec.batchFirst, batch, H)
            : zerosOf(b, loc, stateSizes, elemTy);
    if (spec.cell == Cell::LSTM)
      in.c0 = n.numInputs() > 6 && n.hasInput(6)
                  ? stateOfDirection(b, loc, n.input(6), d, spec.batchFirst,
                                     batch, H)
                  : zerosOf(b, loc, stateSizes, elemTy);
    in.rName = rName;
    in.rhName = weightName(2, ".h", d);
    DirectionResults r = runDirection(d, in, y);
    y = r.y;
    hs.push_back(r.h);
    cs.push_back(r.c);
  }

  // An empty sequence has zero final states (onnxruntime).
  auto zeroEmpty = [&](Value state) -> Value {
    if (!seqLens)
      return state;
    return gateGeneric(
        b, loc, {{state, 0}, {seqLens, 0}}, {Value()}, state,
        [&](OpBuilder &nb, Location l, ValueRange a) {
          Value zero = arith::ConstantIntOp::create(nb, l, nb.getI32Type(), 0);
          Value empty = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                              a[1], zero);
          Value z = scalarConstant(nb, l, elemTy, 0.0);
          return SmallVector<Value>{
              arith::SelectOp::create(nb, l, empty, z, a[0])};
        })[0];
  };
  if (wantY)
    n.setOutput(0, y, n.inputDType(0));
  if (n.numOutputs() > 1 && n.hasOutput(1)) {
    for (Value &h : hs)
      h = zeroEmpty(h);
    n.setOutput(1, stackStates(hs), n.inputDType(0));
  }
  if (spec.cell == Cell::LSTM && n.numOutputs() > 2 && n.hasOutput(2)) {
    for (Value &c : cs)
      c = zeroEmpty(c);
    n.setOutput(2, stackStates(cs), n.inputDType(0));
  }
  return success();
}

Value RecurrentBuilder::stackStates(ArrayRef<Value> perDirection) {
  int64_t H = spec.hidden;
  OpFoldResult dirs = b.getIndexAttr(spec.dirs), hid = b.getIndexAttr(H);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> sizes =
      spec.batchFirst ? SmallVector<OpFoldResult>{batch, dirs, hid}
                      : SmallVector<OpFoldResult>{dirs, batch, hid};
  Value out = emptyOf(b, loc, sizes, elemTy);
  for (auto [d, v] : llvm::enumerate(perDirection)) {
    OpFoldResult dIdx = b.getIndexAttr(d);
    SmallVector<OpFoldResult> offsets =
        spec.batchFirst ? SmallVector<OpFoldResult>{zero, dIdx, zero}
                        : SmallVector<OpFoldResult>{dIdx, zero, zero};
    SmallVector<OpFoldResult> slice =
        spec.batchFirst ? SmallVector<OpFoldResult>{batch, one, hid}
                        : SmallVector<OpFoldResult>{one, batch, hid};
    out = tensor::InsertSliceOp::create(b, loc, v, out, offsets, slice,
                                        {one, one, one});
  }
  return out;
}

/// The gates of one step: {h_next, c_next (LSTM), y_t (with sequence_lens)},
/// h_next and c_next written into `h` and `c` (see gateGeneric).
SmallVector<Value> RecurrentBuilder::stepGates(int64_t dir,
                                               const DirectionInputs &in,
                                               Value xg, Value h, Value c,
                                               Value t32) {
  int64_t H = spec.hidden;
  auto stateTy = cast<RankedTensorType>(h.getType());
  auto linear = [&](Value x, Value w, Value bias, StringRef name,
                    int64_t rows) -> Value {
    auto ty = RankedTensorType::get({stateTy.getDimSize(0), rows}, elemTy);
    return LinearOp::create(b, loc, ty, x, w, bias, b.getStringAttr(name));
  };
  auto add = [](OpBuilder &nb, Location l, Value x, Value y) -> Value {
    return arith::AddFOp::create(nb, l, x, y);
  };
  auto mul = [](OpBuilder &nb, Location l, Value x, Value y) -> Value {
    return arith::MulFOp::create(nb, l, x, y);
  };
  auto oneMinus = [&](OpBuilder &nb, Location l, Value x) -> Value {
    return arith::SubFOp::create(nb, l, scalarConstant(nb, l, elemTy, 1.0), x);
  };
  // Activation `i` of this direction applied to clip(x).
  auto act = [&](OpBuilder &nb, Location l, int64_t i, Value x) -> Value {
    return applyActivation(nb, l, spec.act(dir, i), clip(nb, l, x));
  };
  // Outputs: h (in place), c (LSTM, in place), y_t (with sequence_lens).
  SmallVector<Value> outs{h};
  if (c)
    outs.push_back(c);
  if (seqLens)
    outs.push_back(Value());
  int64_t numIns = 0; // set by `generic` before a body runs
  // The yielded values: with sequence lengths the state is kept and y_t is
  // 0 at or past a sequence's end.
  auto finish = [&](OpBuilder &nb, Location l, ValueRange a, Value hNew,
                    Value cNew) {
    SmallVector<Value> out;
    if (!seqLens) {
      out.push_back(hNew);
      if (cNew)
        out.push_back(cNew);
      return out;
    }
    Value valid = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, t32,
                                        a[numIns - 1]);
    out.push_back(arith::SelectOp::create(nb, l, valid, hNew, a[numIns]));
    if (cNew)
      out.push_back(arith::SelectOp::create(nb, l, valid, cNew, a[numIns + 1]));
    out.push_back(arith::SelectOp::create(nb, l, valid, hNew,
                                          scalarConstant(nb, l, elemTy, 0.0)));
    return out;
  };
  auto generic = [&](SmallVector<std::pair<Value, int64_t>> ins,
                     GateBodyFn body) {
    if (seqLens)
      ins.push_back({seqLens, 0});
    numIns = ins.size();
    return gateGeneric(b, loc, ins, outs, h, body);
  };

  if (spec.cell == Cell::RNN) {
    Value hr = linear(h, in.r, in.rBias, in.rName, H);
    return generic({{xg, 0}, {hr, 0}},
                   [&](OpBuilder &nb, Location l, ValueRange a) {
                     Value hNew = act(nb, l, 0, add(nb, l, a[0], a[1]));
                     return finish(nb, l, a, hNew, nullptr);
                   });
  }

  if (spec.cell == Cell::GRU) {
    // Gates z, r, h at columns 0, H, 2H.
    if (spec.linearBeforeReset) {
      Value hr = linear(h, in.r, in.rBias, in.rName, 3 * H);
      return generic(
          {{xg, 0}, {xg, H}, {xg, 2 * H}, {hr, 0}, {hr, H}, {hr, 2 * H}},
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value hPrev = a[numIns];
            Value z = act(nb, l, 0, add(nb, l, a[0], a[3]));
            Value r = act(nb, l, 0, add(nb, l, a[1], a[4]));
            Value hh = act(nb, l, 1, add(nb, l, a[2], mul(nb, l, r, a[5])));
            Value hNew = add(nb, l, mul(nb, l, oneMinus(nb, l, z), hh),
                             mul(nb, l, z, hPrev));
            return finish(nb, l, a, hNew, nullptr);
          });
    }
    // (r ⊙ h) · R_hᵀ + Rb_h needs r first: one generic for r ⊙ h.
    Value hzr = linear(h, in.r, in.rBias, in.rName, 2 * H);
    Value rh = gateGeneric(b, loc, {{xg, H}, {hzr, H}, {h, 0}}, {Value()}, h,
                           [&](OpBuilder &nb, Location l, ValueRange a) {
                             Value r = act(nb, l, 0, add(nb, l, a[0], a[1]));
                             return SmallVector<Value>{mul(nb, l, r, a[2])};
                           })[0];
    Value hh = linear(rh, in.rh, in.rhBias, in.rhName, H);
    return generic({{xg, 0}, {xg, 2 * H}, {hzr, 0}, {hh, 0}},
                   [&](OpBuilder &nb, Location l, ValueRange a) {
                     Value hPrev = a[numIns];
                     Value z = act(nb, l, 0, add(nb, l, a[0], a[2]));
                     Value ht = act(nb, l, 1, add(nb, l, a[1], a[3]));
                     Value hNew = add(nb, l, mul(nb, l, oneMinus(nb, l, z), ht),
                                      mul(nb, l, z, hPrev));
                     return finish(nb, l, a, hNew, nullptr);
                   });
  }

  // LSTM: gates i, o, f, c at columns 0, H, 2H, 3H; peepholes i, o, f.
  Value hr = linear(h, in.r, in.rBias, in.rName, 4 * H);
  SmallVector<std::pair<Value, int64_t>> ins{
      {xg, 0}, {xg, H}, {xg, 2 * H}, {xg, 3 * H},
      {hr, 0}, {hr, H}, {hr, 2 * H}, {hr, 3 * H}};
  bool peep = bool(in.peephole);
  if (peep)
    ins.append({{in.peephole, 0}, {in.peephole, H}, {in.peephole, 2 * H}});
  return generic(ins, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value cPrev = a[numIns + 1];
    auto pre = [&](int64_t g) { return add(nb, l, a[g], a[4 + g]); };
    Value iPre = pre(0);
    if (peep)
      iPre = add(nb, l, iPre, mul(nb, l, a[8], cPrev));
    Value i = act(nb, l, 0, iPre);
    Value f;
    if (spec.inputForget) {
      f = oneMinus(nb, l, i);
    } else {
      Value fPre = pre(2);
      if (peep)
        fPre = add(nb, l, fPre, mul(nb, l, a[10], cPrev));
      f = act(nb, l, 0, fPre);
    }
    Value cc = act(nb, l, 1, pre(3));
    Value cNew = add(nb, l, mul(nb, l, f, cPrev), mul(nb, l, i, cc));
    Value oPre = pre(1);
    if (peep)
      oPre = add(nb, l, oPre, mul(nb, l, a[9], cNew));
    Value o = act(nb, l, 0, oPre);
    // h() gets Ct unclipped (clip bounds the gates' inputs).
    Value hNew = mul(nb, l, o, applyActivation(nb, l, spec.act(dir, 2), cNew));
    return finish(nb, l, a, hNew, cNew);
  });
}

DirectionResults RecurrentBuilder::runDirection(int64_t dir,
                                                const DirectionInputs &in,
                                                Value y) {
  int64_t H = spec.hidden;
  int64_t GH = spec.gates * H;
  Value lb = cIndex(b, loc, 0), stepOne = cIndex(b, loc, 1);
  Value ub = getValueOrCreateConstantIndexOp(b, loc, seqLen);
  SmallVector<Value> inits{in.h0};
  if (in.c0)
    inits.push_back(in.c0);
  if (y)
    inits.push_back(y);
  bool reverse = spec.isReverse(dir);
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, stepOne, inits,
      [&](OpBuilder &nb, Location l, Value s, ValueRange iter) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        Value t = s;
        if (reverse)
          t = arith::SubIOp::create(b, l, arith::SubIOp::create(b, l, ub, s),
                                    stepOne);
        Value t32;
        if (seqLens)
          t32 = arith::IndexCastOp::create(b, l, b.getI32Type(), t);
        // This step's [B, G·H] rows of X · Wᵀ + Wb.
        OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
        auto stepTy = RankedTensorType::get(
            {cast<RankedTensorType>(in.h0.getType()).getDimSize(0), GH},
            elemTy);
        SmallVector<OpFoldResult> offsets =
            spec.batchFirst ? SmallVector<OpFoldResult>{zero, t, zero}
                            : SmallVector<OpFoldResult>{t, zero, zero};
        SmallVector<OpFoldResult> sizes =
            spec.batchFirst
                ? SmallVector<OpFoldResult>{batch, one, b.getIndexAttr(GH)}
                : SmallVector<OpFoldResult>{one, batch, b.getIndexAttr(GH)};
        Value xg = tensor::ExtractSliceOp::create(
            b, l, stepTy, in.xProj, offsets, sizes, {one, one, one});
        Value h = iter[0];
        Value c = in.c0 ? iter[1] : Value();
        SmallVector<Value> res = stepGates(dir, in, xg, h, c, t32);
        SmallVector<Value> next{res[0]};
        if (c)
          next.push_back(res[1]);
        if (y) {
          Value yt = seqLens ? res.back() : res[0];
          Value yAcc = iter.back();
          OpFoldResult dIdx = b.getIndexAttr(dir);
          SmallVector<OpFoldResult> yOff =
              spec.batchFirst ? SmallVector<OpFoldResult>{zero, t, dIdx, zero}
                              : SmallVector<OpFoldResult>{t, dIdx, zero, zero};
          SmallVector<OpFoldResult> ySizes =
              spec.batchFirst ? SmallVector<OpFoldResult>{batch, one, one,
                                                          b.getIndexAttr(H)}
                              : SmallVector<OpFoldResult>{one, one, batch,
                                                          b.getIndexAttr(H)};
          next.push_back(tensor::InsertSliceOp::create(
              b, l, yt, yAcc, yOff, ySizes, {one, one, one, one}));
        }
        scf::YieldOp::create(b, l, next);
      });
  DirectionResults out;
  out.h = loop.getResult(0);
  if (in.c0)
    out.c = loop.getResult(1);
  if (y)
    out.y = loop.getResults().back();
  return out;
}

/// Checks `v`'s static shape against `expected` (dynamic entries: any).
LogicalResult checkShape(ONNXNode &n, StringRef what, RankedTensorType ty,
                         ArrayRef<int64_t> expected) {
  bool ok = ty.getRank() == static_cast<int64_t>(expected.size());
  for (int64_t i = 0; ok && i < ty.getRank(); ++i)
    ok = ty.isDynamicDim(i) || ShapedType::isDynamic(expected[i]) ||
         ty.getDimSize(i) == expected[i];
  if (ok)
    return success();
  auto fmt = [](ArrayRef<int64_t> s) {
    std::string out = "[";
    for (auto [i, d] : llvm::enumerate(s))
      out += (i ? ", " : "") +
             (ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d));
    return out + "]";
  };
  return n.emitError() << what << " has shape " << fmt(ty.getShape())
                       << "; expected " << fmt(expected);
}

OpBuilderFn recurrentBuilder(Cell cell) {
  return [cell](ONNXNode &n) -> LogicalResult {
    int64_t maxIn = cell == Cell::LSTM ? 8 : 6;
    int64_t maxOut = cell == Cell::LSTM ? 3 : 2;
    if (failed(n.checkArity(3, maxIn, 0, maxOut)))
      return failure();
    RecurrentSpec spec;
    spec.cell = cell;
    spec.gates = cell == Cell::LSTM ? 4 : cell == Cell::GRU ? 3 : 1;
    if (failed(readAttributes(n, spec)))
      return failure();

    // Element types: X, W, R, B, the states and P share one float type;
    // sequence_lens is int32.
    int32_t dtype = n.inputDType(0);
    if (!isFloatDType(dtype))
      return n.emitError() << "X has dtype " << dtypeName(dtype)
                           << "; expected a float type";
    static constexpr StringLiteral names[] = {
        "X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"};
    for (int64_t i = 1; i < n.numInputs(); ++i) {
      if (!n.hasInput(i))
        continue;
      int32_t want = i == 4 ? static_cast<int32_t>(kInt32) : dtype;
      if (n.inputDType(i) != want)
        return n.emitError()
               << names[i] << " has dtype " << dtypeName(n.inputDType(i))
               << "; expected " << dtypeName(want);
    }

    RankedTensorType xTy = n.inputType(0), wTy = n.inputType(1),
                     rTy = n.inputType(2);
    if (xTy.getRank() != 3)
      return n.emitError() << "X must be 3-D, got rank " << xTy.getRank();
    if (wTy.getRank() != 3 || rTy.getRank() != 3 || !wTy.hasStaticShape() ||
        !rTy.hasStaticShape())
      return n.emitError() << "W and R must be 3-D with static shapes";
    int64_t H = rTy.getDimSize(2);
    if (spec.hidden != 0 && spec.hidden != H)
      return n.emitError() << "hidden_size " << spec.hidden
                           << " differs from R's last dim " << H;
    if (H == 0)
      return n.emitError() << "hidden_size must be positive";
    spec.hidden = H;
    int64_t D = spec.dirs, GH = spec.gates * H;
    int64_t inputSize = xTy.getDimSize(2);
    if (failed(checkShape(n, "W", wTy, {D, GH, inputSize})) ||
        failed(checkShape(n, "R", rTy, {D, GH, H})))
      return failure();
    int64_t bIdx = spec.batchFirst ? 0 : 1;
    int64_t batchSize = xTy.getDimSize(bIdx);
    if (n.hasInput(3)) {
      if (!n.inputType(3).hasStaticShape())
        return n.emitError() << "B must have a static shape";
      if (failed(checkShape(n, "B", n.inputType(3), {D, 2 * GH})))
        return failure();
    }
    if (n.numInputs() > 4 && n.hasInput(4) &&
        failed(checkShape(n, "sequence_lens", n.inputType(4), {batchSize})))
      return failure();
    SmallVector<int64_t> stateShape =
        spec.batchFirst ? SmallVector<int64_t>{batchSize, D, H}
                        : SmallVector<int64_t>{D, batchSize, H};
    if (n.numInputs() > 5 && n.hasInput(5) &&
        failed(checkShape(n, "initial_h", n.inputType(5), stateShape)))
      return failure();
    if (n.numInputs() > 6 && n.hasInput(6) &&
        failed(checkShape(n, "initial_c", n.inputType(6), stateShape)))
      return failure();
    if (n.numInputs() > 7 && n.hasInput(7)) {
      if (!n.inputType(7).hasStaticShape())
        return n.emitError() << "P must have a static shape";
      if (failed(checkShape(n, "P", n.inputType(7), {D, 3 * H})))
        return failure();
    }
    // A dynamic input size is checked against W's when the model runs.
    assertSameSize(n, n.input(0), 2, n.input(1), 2,
                   "X's input size differs from W's at run time");
    return RecurrentBuilder(n, spec).build();
  };
}

} // namespace

void mlir::qopt::onnx_import::registerRecurrentOps(OpRegistry &r) {
  r.add("", "RNN", 1, recurrentBuilder(Cell::RNN));
  r.add("", "GRU", 1, recurrentBuilder(Cell::GRU));
  r.add("", "LSTM", 1, recurrentBuilder(Cell::LSTM));
}
