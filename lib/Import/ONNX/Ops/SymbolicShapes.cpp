//===- SymbolicShapes.cpp - shape computations on dynamic dims ------------===//
//
// Exporters compute the shapes of Reshape, Expand, Range, Slice,
// ConstantOfShape and Tile from the input sizes: Shape -> Gather/Slice ->
// Unsqueeze -> Concat -> Reshape, with Add/Mul/Equal/Where/Cast on the way.
// On static shapes these chains fold to constants at import. On dynamic
// dims the importer follows them symbolically: a small integer tensor whose
// elements are index constants or index values computed from tensor.dim
// (GraphImporter::symbolicInts). The nodes of such a chain are evaluated on
// those elements instead of running their builder, so the consumer gets
// index values it can size its result with (`?` dims), and the static
// entries of a mixed shape ([?, ?, 12, 64]) stay static. A shape the
// importer cannot follow is read at run time (tensor.extract).
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "ShapeHelpers.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// Integer tensors of up to this many elements are followed symbolically.
constexpr int64_t kMaxSymbolicElements = 64;

/// The elements of a known integer tensor of rank <= 1.
struct KnownInts {
  SmallVector<OpFoldResult> elems;
  bool scalar = false;
};

bool isIntDType(int32_t dt) {
  switch (dt) {
  case kInt8:
  case kInt16:
  case kInt32:
  case kInt64:
  case kUInt8:
  case kUInt16:
  case kUInt32:
  case kUInt64:
  case kBool:
    return true;
  default:
    return false;
  }
}

/// Input `i`'s elements when they are known: a symbolic shape tensor or a
/// small integer constant of rank <= 1 (bools as 0/1).
std::optional<KnownInts> knownInts(ONNXNode &n, int64_t i) {
  if (!n.hasInput(i) || !isIntDType(n.inputDType(i)))
    return std::nullopt;
  RankedTensorType ty = n.inputType(i);
  if (ty.getRank() > 1)
    return std::nullopt;
  auto it = n.importer.symbolicInts.find(n.input(i));
  if (it != n.importer.symbolicInts.end())
    return KnownInts{it->second, ty.getRank() == 0};
  if (!ty.hasStaticShape() || ty.getNumElements() > kMaxSymbolicElements)
    return std::nullopt;
  std::optional<SmallVector<int64_t>> c = n.constantInts(i);
  if (!c)
    return std::nullopt;
  KnownInts k;
  k.scalar = ty.getRank() == 0;
  for (int64_t v : *c)
    k.elems.push_back(
        n.b.getIndexAttr(n.inputDType(i) == kBool ? (v != 0) : v));
  return k;
}

bool isSymbolic(ONNXNode &n, int64_t i) {
  return n.hasInput(i) && n.importer.symbolicInts.count(n.input(i));
}

/// Whether `v` is known to be >= 0: a constant >= 0, a tensor.dim, or
/// sums, products and maxima of those.
bool isNonNegative(OpFoldResult v) {
  if (std::optional<int64_t> c = getConstantIntValue(v))
    return *c >= 0;
  Operation *def = cast<Value>(v).getDefiningOp();
  if (!def)
    return false;
  if (isa<tensor::DimOp>(def))
    return true;
  if (isa<arith::AddIOp, arith::MulIOp, arith::MaxSIOp, arith::MinSIOp,
          arith::DivSIOp>(def))
    return llvm::all_of(def->getOperands(),
                        [](Value o) { return isNonNegative(OpFoldResult(o)); });
  if (auto sel = dyn_cast<arith::SelectOp>(def))
    return isNonNegative(OpFoldResult(sel.getTrueValue())) &&
           isNonNegative(OpFoldResult(sel.getFalseValue()));
  return false;
}

/// A 0/1 index from an i1.
Value boolIndex(OpBuilder &b, Location loc, Value c) {
  return arith::SelectOp::create(b, loc, c, cIndex(b, loc, 1),
                                 cIndex(b, loc, 0));
}

/// `x op y` on index elements, folded when both are constants; std::nullopt
/// when the op does not apply (a constant division by zero).
std::optional<OpFoldResult> binaryOp(OpBuilder &b, Location loc, StringRef op,
                                     OpFoldResult x, OpFoldResult y) {
  std::optional<int64_t> cx = getConstantIntValue(x),
                         cy = getConstantIntValue(y);
  if (cx && cy) {
    int64_t u = *cx, v = *cy, r;
    // On overflow the builder computes it as tensor code.
    if (op == "Add") {
      if (llvm::AddOverflow(u, v, r))
        return std::nullopt;
    } else if (op == "Sub") {
      if (llvm::SubOverflow(u, v, r))
        return std::nullopt;
    } else if (op == "Mul") {
      if (llvm::MulOverflow(u, v, r))
        return std::nullopt;
    } else if (op == "Div") {
      if (v == 0 || (v == -1 && u == std::numeric_limits<int64_t>::min()))
        return std::nullopt;
      r = u / v; // C truncation, as onnxruntime's integer Div
    } else if (op == "Max")
      r = std::max(u, v);
    else if (op == "Min")
      r = std::min(u, v);
    else if (op == "Equal")
      r = u == v;
    else if (op == "Less")
      r = u < v;
    else if (op == "LessOrEqual")
      r = u <= v;
    else if (op == "Greater")
      r = u > v;
    else if (op == "GreaterOrEqual")
      r = u >= v;
    else if (op == "And")
      r = (u != 0) && (v != 0);
    else if (op == "Or")
      r = (u != 0) || (v != 0);
    else
      return std::nullopt;
    return OpFoldResult(b.getIndexAttr(r));
  }
  // Identities that keep a dim a dim (x + 0, x * 1, x / 1).
  if ((op == "Add" || op == "Sub") && cy == 0)
    return x;
  if (op == "Add" && cx == 0)
    return y;
  if ((op == "Mul" || op == "Div") && cy == 1)
    return x;
  if (op == "Mul" && cx == 1)
    return y;
  // A size is never negative: comparisons with a negative constant fold.
  if (op == "Equal" && ((cy && *cy < 0 && isNonNegative(x)) ||
                        (cx && *cx < 0 && isNonNegative(y))))
    return OpFoldResult(b.getIndexAttr(0));
  if (op == "Div" && (!cy || *cy == 0))
    return std::nullopt; // a run-time divisor: the builder checks it
  Value vx = toValue(b, loc, x), vy = toValue(b, loc, y);
  auto cmp = [&](arith::CmpIPredicate p) -> Value {
    return boolIndex(b, loc, arith::CmpIOp::create(b, loc, p, vx, vy));
  };
  Value zero = cIndex(b, loc, 0);
  auto nz = [&](Value v) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  };
  Value r;
  if (op == "Add")
    r = arith::AddIOp::create(b, loc, vx, vy);
  else if (op == "Sub")
    r = arith::SubIOp::create(b, loc, vx, vy);
  else if (op == "Mul")
    r = arith::MulIOp::create(b, loc, vx, vy);
  else if (op == "Div")
    r = arith::DivSIOp::create(b, loc, vx, vy);
  else if (op == "Max")
    r = arith::MaxSIOp::create(b, loc, vx, vy);
  else if (op == "Min")
    r = arith::MinSIOp::create(b, loc, vx, vy);
  else if (op == "Equal")
    r = cmp(arith::CmpIPredicate::eq);
  else if (op == "Less")
    r = cmp(arith::CmpIPredicate::slt);
  else if (op == "LessOrEqual")
    r = cmp(arith::CmpIPredicate::sle);
  else if (op == "Greater")
    r = cmp(arith::CmpIPredicate::sgt);
  else if (op == "GreaterOrEqual")
    r = cmp(arith::CmpIPredicate::sge);
  else if (op == "And")
    r = boolIndex(b, loc, arith::AndIOp::create(b, loc, nz(vx), nz(vy)));
  else if (op == "Or")
    r = boolIndex(b, loc, arith::OrIOp::create(b, loc, nz(vx), nz(vy)));
  else
    return std::nullopt;
  return OpFoldResult(r);
}

/// numpy broadcasting of known vectors: the common length, or nullopt.
std::optional<KnownInts> broadcastLength(ArrayRef<KnownInts> ins,
                                         int64_t &len) {
  len = 1;
  bool allScalar = true;
  for (const KnownInts &k : ins) {
    allScalar &= k.scalar;
    int64_t l = k.elems.size();
    if (l == len || l == 1)
      continue;
    if (len != 1)
      return std::nullopt;
    len = l;
  }
  KnownInts shape;
  shape.scalar = allScalar;
  return shape;
}

OpFoldResult elemAt(const KnownInts &k, int64_t i) {
  return k.elems.size() == 1 ? k.elems[0] : k.elems[i];
}

/// Whether every attribute of the node is one of `allowed`.
bool onlyAttributes(ONNXNode &n, ArrayRef<StringRef> allowed) {
  for (const auto &a : n.proto.attribute())
    if (!llvm::is_contained(allowed, StringRef(a.name())))
      return false;
  return true;
}

/// Evaluates node `n` on known elements; std::nullopt when it does not
/// apply (the builder then runs).
std::optional<KnownInts> evaluate(ONNXNode &n, int32_t &dtype) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  StringRef op = n.opType();
  dtype = n.inputDType(0);
  int64_t nIn = n.numInputs();
  if (n.numOutputs() != 1)
    return std::nullopt;

  if (op == "Identity") {
    if (!onlyAttributes(n, {}))
      return std::nullopt;
    return knownInts(n, 0);
  }
  if (op == "Gather") {
    if (!onlyAttributes(n, {"axis"}) || nIn != 2)
      return std::nullopt;
    std::optional<KnownInts> data = knownInts(n, 0), idx = knownInts(n, 1);
    FailureOr<int64_t> axis = n.getInt("axis", 0);
    if (!data || !idx || data->scalar || failed(axis) ||
        (*axis != 0 && *axis != -1))
      return std::nullopt;
    KnownInts out;
    out.scalar = idx->scalar;
    int64_t len = data->elems.size();
    for (OpFoldResult i : idx->elems) {
      std::optional<int64_t> c = getConstantIntValue(i);
      if (!c)
        return std::nullopt;
      int64_t k = *c < 0 ? *c + len : *c;
      if (k < 0 || k >= len)
        return std::nullopt;
      out.elems.push_back(data->elems[k]);
    }
    return out;
  }
  if (op == "Slice") {
    std::optional<KnownInts> data = knownInts(n, 0);
    if (!data || data->scalar)
      return std::nullopt;
    int64_t start, end, step = 1;
    if (n.opset < 10) {
      if (!onlyAttributes(n, {"starts", "ends", "axes"}))
        return std::nullopt;
      auto s = n.getInts("starts", {}), e = n.getInts("ends", {}),
           a = n.getInts("axes", {0});
      if (failed(s) || failed(e) || failed(a) || s->size() != 1 ||
          e->size() != 1 || a->size() != 1 || ((*a)[0] != 0 && (*a)[0] != -1))
        return std::nullopt;
      start = (*s)[0];
      end = (*e)[0];
    } else {
      if (!onlyAttributes(n, {}))
        return std::nullopt;
      auto one = [&](int64_t i) -> std::optional<int64_t> {
        std::optional<KnownInts> k = knownInts(n, i);
        if (!k || k->elems.size() != 1)
          return std::nullopt;
        return getConstantIntValue(k->elems[0]);
      };
      std::optional<int64_t> s = one(1), e = one(2);
      if (!s || !e)
        return std::nullopt;
      if (n.hasInput(3)) {
        std::optional<int64_t> a = one(3);
        if (!a || (*a != 0 && *a != -1))
          return std::nullopt;
      }
      if (n.hasInput(4)) {
        std::optional<int64_t> st = one(4);
        if (!st || *st == 0)
          return std::nullopt;
        step = *st;
      }
      start = *s;
      end = *e;
    }
    // The spec's clamping (as Slice's static path); a step longer than
    // the data takes one element, so clamping it changes nothing.
    int64_t dim = data->elems.size();
    step = std::clamp<int64_t>(step, -(dim + 1), dim + 1);
    if (start < 0)
      start += dim;
    if (end < 0)
      end += dim;
    KnownInts out;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      for (int64_t i = start; i < end; i += step)
        out.elems.push_back(data->elems[i]);
    } else {
      start = std::clamp<int64_t>(start, 0, std::max<int64_t>(dim - 1, 0));
      end = std::clamp<int64_t>(end, -1, dim - 1);
      for (int64_t i = start; i > end && dim > 0; i += step)
        out.elems.push_back(data->elems[i]);
    }
    return out;
  }
  if (op == "Concat") {
    FailureOr<int64_t> axis = n.getInt("axis", 0);
    if (!onlyAttributes(n, {"axis"}) || failed(axis) ||
        (*axis != 0 && *axis != -1))
      return std::nullopt;
    KnownInts out;
    for (int64_t i = 0; i < nIn; ++i) {
      std::optional<KnownInts> k = knownInts(n, i);
      if (!k || k->scalar || n.inputDType(i) != dtype)
        return std::nullopt;
      llvm::append_range(out.elems, k->elems);
    }
    return out;
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    std::optional<KnownInts> data = knownInts(n, 0);
    if (!data)
      return std::nullopt;
    std::optional<SmallVector<int64_t>> axes;
    if (n.opset < 13) {
      if (!onlyAttributes(n, {"axes"}))
        return std::nullopt;
      if (n.hasAttr("axes")) {
        FailureOr<SmallVector<int64_t>> a = n.getInts("axes", {});
        if (failed(a))
          return std::nullopt;
        axes = *a;
      }
    } else {
      if (!onlyAttributes(n, {}))
        return std::nullopt;
      if (n.hasInput(1)) {
        axes = n.constantInts(1);
        if (!axes)
          return std::nullopt;
      }
    }
    bool axisZero =
        axes && axes->size() == 1 && ((*axes)[0] == 0 || (*axes)[0] == -1);
    if (op == "Unsqueeze") {
      if (!data->scalar || !axisZero)
        return std::nullopt;
    } else if (data->scalar || data->elems.size() != 1 || (axes && !axisZero)) {
      return std::nullopt;
    }
    data->scalar = op == "Squeeze";
    return data;
  }
  if (op == "Reshape") {
    std::optional<KnownInts> data = knownInts(n, 0);
    std::optional<SmallVector<int64_t>> shape =
        nIn == 2 ? n.constantInts(1) : std::nullopt;
    if (!data || !shape || !onlyAttributes(n, {"allowzero"}) ||
        shape->size() > 1)
      return std::nullopt;
    (void)n.getInt("allowzero", 0);
    int64_t len = data->elems.size();
    if (shape->empty()) {
      if (len != 1)
        return std::nullopt;
      data->scalar = true;
      return data;
    }
    if ((*shape)[0] != -1 && (*shape)[0] != len)
      return std::nullopt;
    data->scalar = false;
    return data;
  }
  if (op == "Cast") {
    std::optional<KnownInts> data = knownInts(n, 0);
    FailureOr<int64_t> to = n.getRequiredInt("to");
    if (!data || !onlyAttributes(n, {"to", "saturate"}) || failed(to) ||
        !isIntDType(*to))
      return std::nullopt;
    if (n.hasAttr("saturate"))
      (void)n.getInt("saturate", 1);
    dtype = *to;
    if (dtype == kBool && n.inputDType(0) != kBool)
      for (OpFoldResult &e : data->elems)
        e = *binaryOp(b, loc, "Or", e, b.getIndexAttr(0));
    return data;
  }
  if (op == "Neg" || op == "Abs" || op == "Not") {
    std::optional<KnownInts> data = knownInts(n, 0);
    if (!data || !onlyAttributes(n, {}) || (op == "Not") != (dtype == kBool))
      return std::nullopt;
    for (OpFoldResult &e : data->elems) {
      std::optional<OpFoldResult> r = e;
      if (op == "Not")
        r = binaryOp(b, loc, "Equal", e, b.getIndexAttr(0));
      else if (op == "Neg" || !isNonNegative(e))
        r = binaryOp(b, loc, "Sub", b.getIndexAttr(0), e);
      if (r && op == "Abs" && !isNonNegative(e))
        r = binaryOp(b, loc, "Max", e, *r);
      if (!r)
        return std::nullopt;
      e = *r;
    }
    return data;
  }
  bool arith = op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
               op == "Max" || op == "Min";
  bool compare = op == "Equal" || op == "Less" || op == "LessOrEqual" ||
                 op == "Greater" || op == "GreaterOrEqual";
  bool logic = op == "And" || op == "Or";
  if (arith || compare || logic) {
    if (!onlyAttributes(n, {}) || nIn < 1 ||
        (!(op == "Max" || op == "Min") && nIn != 2))
      return std::nullopt;
    SmallVector<KnownInts> ins;
    for (int64_t i = 0; i < nIn; ++i) {
      std::optional<KnownInts> k = knownInts(n, i);
      if (!k || n.inputDType(i) != dtype || (logic != (dtype == kBool)))
        return std::nullopt;
      ins.push_back(*k);
    }
    int64_t len;
    std::optional<KnownInts> out = broadcastLength(ins, len);
    if (!out)
      return std::nullopt;
    for (int64_t j = 0; j < len; ++j) {
      OpFoldResult acc = elemAt(ins[0], j);
      for (size_t i = 1; i < ins.size(); ++i) {
        std::optional<OpFoldResult> r =
            binaryOp(b, loc, op, acc, elemAt(ins[i], j));
        if (!r)
          return std::nullopt;
        acc = *r;
      }
      out->elems.push_back(acc);
    }
    if (compare)
      dtype = kBool;
    return out;
  }
  if (op == "Where") {
    if (!onlyAttributes(n, {}) || nIn != 3 || n.inputDType(0) != kBool)
      return std::nullopt;
    SmallVector<KnownInts> ins;
    for (int64_t i = 0; i < 3; ++i) {
      std::optional<KnownInts> k = knownInts(n, i);
      if (!k)
        return std::nullopt;
      ins.push_back(*k);
    }
    dtype = n.inputDType(1);
    if (n.inputDType(2) != dtype)
      return std::nullopt;
    int64_t len;
    std::optional<KnownInts> out = broadcastLength(ins, len);
    if (!out)
      return std::nullopt;
    for (int64_t j = 0; j < len; ++j) {
      OpFoldResult c = elemAt(ins[0], j), x = elemAt(ins[1], j),
                   y = elemAt(ins[2], j);
      if (std::optional<int64_t> cc = getConstantIntValue(c)) {
        out->elems.push_back(*cc ? x : y);
        continue;
      }
      Value cond = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                         toValue(b, loc, c), cIndex(b, loc, 0));
      out->elems.push_back(arith::SelectOp::create(b, loc, cond,
                                                   toValue(b, loc, x),
                                                   toValue(b, loc, y))
                               .getResult());
    }
    return out;
  }
  return std::nullopt;
}

} // namespace

Value mlir::qopt::onnx_import::materializeInts(OpBuilder &b, Location loc,
                                               ArrayRef<OpFoldResult> elems,
                                               bool scalar, Type elemTy) {
  SmallVector<int64_t> shape;
  if (!scalar)
    shape.push_back(elems.size());
  auto ty = RankedTensorType::get(shape, elemTy);
  unsigned width = elemTy.getIntOrFloatBitWidth();
  if (llvm::all_of(elems, [](OpFoldResult e) {
        return getConstantIntValue(e).has_value();
      })) {
    SmallVector<APInt> vals;
    for (OpFoldResult e : elems) {
      int64_t c = *getConstantIntValue(e);
      vals.push_back(width == 1 ? APInt(1, c != 0)
                                : APInt(width, static_cast<uint64_t>(c),
                                        /*isSigned=*/true,
                                        /*implicitTrunc=*/true));
    }
    return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, vals));
  }
  SmallVector<Value> vals;
  for (OpFoldResult e : elems) {
    Value v = toValue(b, loc, e);
    if (width == 1)
      v = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v,
                                cIndex(b, loc, 0));
    else
      v = arith::IndexCastOp::create(b, loc, elemTy, v);
    vals.push_back(v);
  }
  return tensor::FromElementsOp::create(b, loc, ty, vals);
}

void mlir::qopt::onnx_import::setSymbolicOutput(ONNXNode &n,
                                                ArrayRef<OpFoldResult> elems,
                                                bool scalar, Type elemTy,
                                                int32_t dtype) {
  Value v = materializeInts(n.b, n.loc, elems, scalar, elemTy);
  if (!v.getDefiningOp<arith::ConstantOp>())
    n.importer.symbolicInts[v] = SmallVector<OpFoldResult>(elems);
  n.setOutput(0, v, dtype);
}

bool mlir::qopt::onnx_import::evaluateSymbolically(ONNXNode &n) {
  bool anySymbolic = false;
  for (int64_t i = 0; i < n.numInputs(); ++i)
    anySymbolic |= isSymbolic(n, i);
  if (!anySymbolic)
    return false;
  int32_t dtype;
  std::optional<KnownInts> out = evaluate(n, dtype);
  if (!out)
    return false;
  Type et =
      dtype == kBool
          ? n.b.getI1Type()
          : n.b.getIntegerType(dtype == kInt8 || dtype == kUInt8     ? 8
                               : dtype == kInt16 || dtype == kUInt16 ? 16
                               : dtype == kInt32 || dtype == kUInt32 ? 32
                                                                     : 64);
  setSymbolicOutput(n, out->elems, out->scalar, et, dtype);
  return true;
}

FailureOr<SmallVector<OpFoldResult>>
mlir::qopt::onnx_import::dynamicInts(ONNXNode &n, int64_t i, StringRef what) {
  RankedTensorType ty = n.inputType(i);
  if (!isa<IntegerType>(ty.getElementType()) || n.inputDType(i) == kBool)
    return n.emitError() << what << " (input #" << i
                         << ") must be an integer tensor, got "
                         << dtypeName(n.inputDType(i));
  if (ty.getRank() > 1)
    return n.emitError() << what << " (input #" << i
                         << ") must be 1-D, got rank " << ty.getRank();
  if (std::optional<KnownInts> k = knownInts(n, i))
    return k->elems;
  OpBuilder &b = n.b;
  if (std::optional<SmallVector<int64_t>> c = n.constantInts(i)) {
    SmallVector<OpFoldResult> out;
    for (int64_t v : *c)
      out.push_back(b.getIndexAttr(v));
    return out;
  }
  if (!ty.hasStaticShape())
    return n.emitError() << what << " (input #" << i
                         << ") has a dynamic length, so the rank of the "
                            "result is unknown at import; pin the input shapes "
                            "(--pin-dim, --pin-shape)";
  if (ty.getNumElements() > kMaxSymbolicElements)
    return n.emitError() << what << " (input #" << i << ") has "
                         << ty.getNumElements() << " elements, at most "
                         << kMaxSymbolicElements << " are supported";
  // Data-dependent: read the elements when the model runs.
  SmallVector<OpFoldResult> out;
  bool isUnsigned = isUnsignedDType(n.inputDType(i));
  for (int64_t k = 0; k < ty.getNumElements(); ++k) {
    SmallVector<Value> idx;
    if (ty.getRank() == 1)
      idx.push_back(cIndex(b, n.loc, k));
    Value e = tensor::ExtractOp::create(b, n.loc, n.input(i), idx);
    out.push_back(toIndex(b, n.loc, e, isUnsigned));
  }
  return out;
}

void mlir::qopt::onnx_import::assertSizesFit(ONNXNode &n,
                                             ArrayRef<OpFoldResult> sizes) {
  if (llvm::all_of(sizes, [](OpFoldResult s) {
        return getConstantIntValue(s).has_value();
      }))
    return;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Type i64 = b.getI64Type();
  // Unsigned: a negative size is a huge one and fails too.
  Value prod = arith::ConstantIntOp::create(b, loc, i64, 1);
  Value zero = arith::ConstantIntOp::create(b, loc, i64, 0);
  Value overflow = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
  for (OpFoldResult s : sizes) {
    Value v = arith::IndexCastOp::create(b, loc, i64, toValue(b, loc, s));
    auto m = arith::MulUIExtendedOp::create(b, loc, prod, v);
    overflow = arith::OrIOp::create(
        b, loc, overflow,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, m.getHigh(),
                              zero));
    prod = m.getLow();
  }
  Value small = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ult, prod,
      arith::ConstantIntOp::create(b, loc, i64, kMaxRunTimeElements));
  Value ok = arith::AndIOp::create(
      b, loc, small,
      arith::XOrIOp::create(
          b, loc, overflow,
          arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1)));
  assertAtRunTime(n, ok,
                  "the result's size is negative or over 2^48 elements at "
                  "run time");
}

//===----------------------------------------------------------------------===//
// Equal sizes
//===----------------------------------------------------------------------===//

namespace {

/// A dynamic size in canonical form: dim `dim` of tensor `value`, or the
/// index value `value` itself (dim -1).
struct SizeKey {
  Value value;
  int64_t dim = -1;
  bool operator==(const SizeKey &o) const {
    return value == o.value && dim == o.dim;
  }
};

/// Follows dim `d` of `v` back to where its size comes from: tensor.cast,
/// destination-style ops (a result dim is its init's), the size operands of
/// tensor.empty, expand_shape and extract_slice, tensor.dim, qopt.linear's
/// leading dims; a graph-input dim with a dim_param becomes the first
/// input dim of that name (`param` is set to it).
SizeKey canonicalDim(GraphImporter &imp, Value v, int64_t d,
                     std::string &param) {
  auto fromIndex = [&](Value s) -> std::optional<std::pair<Value, int64_t>> {
    if (auto dim = s.getDefiningOp<tensor::DimOp>())
      if (std::optional<int64_t> i = dim.getConstantIndex())
        return std::make_pair(dim.getSource(), *i);
    return std::nullopt;
  };
  for (int step = 0; step < 256; ++step) {
    auto ty = dyn_cast<RankedTensorType>(v.getType());
    if (!ty || d < 0 || d >= ty.getRank() || !ty.isDynamicDim(d))
      return {v, d};
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      auto it = imp.argDimParams.find(v);
      if (it == imp.argDimParams.end() ||
          d >= static_cast<int64_t>(it->second.size()) || it->second[d].empty())
        return {v, d};
      for (BlockArgument a : arg.getOwner()->getArguments()) {
        auto pit = imp.argDimParams.find(a);
        if (pit == imp.argDimParams.end())
          continue;
        for (auto [j, name] : llvm::enumerate(pit->second))
          if (name == it->second[d] &&
              cast<RankedTensorType>(a.getType()).isDynamicDim(j)) {
            param = name;
            return {a, static_cast<int64_t>(j)};
          }
      }
      return {v, d};
    }
    Operation *op = v.getDefiningOp();
    Value size;
    if (auto c = dyn_cast<tensor::CastOp>(op)) {
      v = c.getSource();
      continue;
    }
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op)) {
      v = dps.getDpsInitOperand(cast<OpResult>(v).getResultNumber())->get();
      continue;
    }
    if (auto lin = dyn_cast<qopt::LinearOp>(op); lin && d < ty.getRank() - 1) {
      v = lin.getInput();
      continue;
    }
    if (auto e = dyn_cast<tensor::EmptyOp>(op))
      size = e.getDynamicSize(d);
    else if (auto ex = dyn_cast<tensor::ExpandShapeOp>(op))
      size = dyn_cast<Value>(ex.getMixedOutputShape()[d]);
    else if (auto sl = dyn_cast<tensor::ExtractSliceOp>(op);
             sl && sl.getSourceType().getRank() == ty.getRank())
      size = dyn_cast<Value>(sl.getMixedSizes()[d]);
    if (!size)
      return {v, d};
    std::optional<std::pair<Value, int64_t>> src = fromIndex(size);
    if (!src)
      return {size, -1};
    std::tie(v, d) = *src;
  }
  return {v, d};
}

SizeKey canonicalSize(GraphImporter &imp, Value s, std::string &param) {
  if (auto dim = s.getDefiningOp<tensor::DimOp>())
    if (std::optional<int64_t> i = dim.getConstantIndex())
      return canonicalDim(imp, dim.getSource(), *i, param);
  return {s, -1};
}

} // namespace

bool mlir::qopt::onnx_import::isSameSizeAsDim(ONNXNode &n, OpFoldResult size,
                                              Value t, int64_t d) {
  auto ty = cast<RankedTensorType>(t.getType());
  if (!ty.isDynamicDim(d))
    return getConstantIntValue(size) == ty.getDimSize(d);
  auto v = dyn_cast<Value>(size);
  if (!v)
    return false;
  std::string p1, p2;
  SizeKey a = canonicalSize(n.importer, v, p1);
  SizeKey b = canonicalDim(n.importer, t, d, p2);
  if (!(a == b))
    return false;
  // Dims of one name are equal only when the inputs agree: importModel
  // asserts it on entry for the names a proof relied on.
  for (const std::string &p : {p1, p2})
    if (!p.empty())
      n.importer.usedDimParams.insert(p);
  return true;
}
