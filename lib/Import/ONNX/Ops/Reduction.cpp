//===- Reduction.cpp - reductions, ArgMax/ArgMin, CumSum/CumProd, TopK ----===//
//
// A reduction becomes one linalg.generic with reduction iterators whose
// result drops the reduced dims; keepdims puts them back as unit dims with
// tensor.expand_shape. 16-bit floats accumulate in f32, other types in their
// own type. CumSum, CumProd and TopK are linalg.generic ops with an extra
// reduction loop (quadratic in the scanned/sorted dim): simple, exact and
// lowered by every pipeline, meant for correctness rather than speed.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

//===----------------------------------------------------------------------===//
// Shared pieces
//===----------------------------------------------------------------------===//

/// The identity map over `numLoops` loops restricted to the first `rank`,
/// with loop `extra` read at position `pos` instead (pos < 0: none).
AffineMap loopMap(int64_t numLoops, int64_t rank, int64_t pos, int64_t extra,
                  MLIRContext *ctx) {
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < rank; ++i)
    exprs.push_back(getAffineDimExpr(i == pos ? extra : i, ctx));
  return AffineMap::get(numLoops, 0, exprs, ctx);
}

/// The reduced dims for `axes` (normalized; duplicates are an error).
FailureOr<SmallVector<bool>> reducedDims(ONNXNode &n, ArrayRef<int64_t> axes,
                                         int64_t rank) {
  SmallVector<bool> reduced(rank, false);
  for (int64_t a : axes) {
    FailureOr<int64_t> axis = n.normalizeAxis(a, rank, "axis");
    if (failed(axis))
      return failure();
    if (reduced[*axis])
      return n.emitError() << "axis " << a << " is given twice";
    reduced[*axis] = true;
  }
  return reduced;
}

/// Loop `dim` of the enclosing linalg op as an i64.
Value loopIndexI64(OpBuilder &b, Location l, int64_t dim) {
  Value i = linalg::IndexOp::create(b, l, dim);
  return arith::IndexCastOp::create(b, l, b.getI64Type(), i);
}

/// Checks that input `i` is a float or integer tensor (bool when allowed).
LogicalResult requireNumeric(ONNXNode &n, int64_t i, bool allowBool,
                             bool allowInt = true) {
  int32_t dt = n.inputDType(i);
  bool ok = isFloatDType(dt) || (dt == kBool && allowBool);
  if (allowInt)
    ok |= dt == kInt8 || dt == kUInt8 || dt == kInt16 || dt == kUInt16 ||
          dt == kInt32 || dt == kUInt32 || dt == kInt64 || dt == kUInt64;
  if (!ok)
    return n.emitError() << "dtype " << dtypeName(dt) << " is not supported";
  return success();
}

/// A scalar integer input that must be a constant (CumSum's axis, TopK's K).
FailureOr<int64_t> constantScalarInput(ONNXNode &n, int64_t i, StringRef what) {
  std::optional<SmallVector<int64_t>> v = n.constantInts(i);
  if (!v)
    return n.emitError() << what << " (input #" << i
                         << ") must be a constant integer tensor";
  if (v->size() != 1 || n.inputType(i).getRank() > 1)
    return n.emitError() << what << " (input #" << i
                         << ") must hold exactly one value";
  return v->front();
}

//===----------------------------------------------------------------------===//
// ReduceXxx
//===----------------------------------------------------------------------===//

enum class ReduceKind {
  Sum,
  Mean,
  Max,
  Min,
  Prod,
  L1,
  L2,
  SumSquare,
  LogSumExp,
  LogSum
};

/// The per-element part of a reduction (|x|, x^2) in the accumulator type.
Value preReduce(OpBuilder &b, Location l, ReduceKind kind, Value x, Type accTy,
                bool isUnsigned) {
  x = convertScalar(b, l, x, accTy, isUnsigned, isUnsigned);
  bool isFloat = isa<FloatType>(accTy);
  switch (kind) {
  case ReduceKind::L1:
    if (isUnsigned)
      return x;
    return isFloat ? math::AbsFOp::create(b, l, x).getResult()
                   : math::AbsIOp::create(b, l, x).getResult();
  case ReduceKind::L2:
  case ReduceKind::SumSquare:
    return isFloat ? arith::MulFOp::create(b, l, x, x).getResult()
                   : arith::MulIOp::create(b, l, x, x).getResult();
  default:
    return x;
  }
}

/// ReduceXxx; `axesInput`: axes come as input #1 (ReduceSum from opset 13,
/// the others from 18) rather than as the `axes` attribute.
OpBuilderFn reduceOp(ReduceKind kind, bool axesInput) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, axesInput ? 2 : 1, 1, 1)))
      return failure();
    FailureOr<int64_t> keepDims = n.getInt("keepdims", 1);
    if (failed(keepDims))
      return failure();
    int64_t noop = 0;
    SmallVector<int64_t> axes;
    if (axesInput) {
      FailureOr<int64_t> v = n.getInt("noop_with_empty_axes", 0);
      if (failed(v))
        return failure();
      noop = *v;
      if (n.hasInput(1)) {
        std::optional<SmallVector<int64_t>> c = n.constantInts(1);
        if (!c)
          return n.emitError()
                 << "axes (input #1) must be a constant integer tensor";
        axes = *c;
      }
    } else {
      FailureOr<SmallVector<int64_t>> v = n.getInts("axes", {});
      if (failed(v))
        return failure();
      axes = *v;
    }
    bool floatOnly = kind == ReduceKind::L2 || kind == ReduceKind::LogSumExp ||
                     kind == ReduceKind::LogSum;
    bool boolOk = kind == ReduceKind::Max || kind == ReduceKind::Min;
    if (floatOnly && !isFloatDType(n.inputDType(0)))
      return n.emitError() << "dtype " << dtypeName(n.inputDType(0))
                           << " is not supported (float types only)";
    if (failed(requireNumeric(n, 0, boolOk)))
      return failure();

    OpBuilder &b = n.b;
    Location loc = n.loc;
    Value x = n.input(0);
    RankedTensorType xTy = n.inputType(0);
    Type elemTy = xTy.getElementType();
    Type accTy = accumulatorType(elemTy);
    bool isFloat = isa<FloatType>(elemTy);
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    int64_t rank = xTy.getRank();
    MLIRContext *ctx = b.getContext();

    // noop_with_empty_axes: a reduction over no axes, i.e. the per-element
    // part alone (|x| for L1/L2, x^2 for SumSquare, x otherwise).
    if (axes.empty() && noop) {
      if (kind != ReduceKind::L1 && kind != ReduceKind::L2 &&
          kind != ReduceKind::SumSquare) {
        n.setOutput(0, x, n.inputDType(0));
        return success();
      }
      ReduceKind pre = kind == ReduceKind::SumSquare ? kind : ReduceKind::L1;
      FailureOr<Value> y = buildElementwise(
          n, {x}, elemTy, [&](OpBuilder &nb, Location l, ValueRange a) {
            return preReduce(nb, l, pre, a[0], elemTy, isUnsigned);
          });
      if (failed(y))
        return failure();
      n.setOutput(0, *y, n.inputDType(0));
      return success();
    }

    SmallVector<bool> reduced(rank, true);
    if (!axes.empty()) {
      FailureOr<SmallVector<bool>> r = reducedDims(n, axes, rank);
      if (failed(r))
        return failure();
      reduced = *r;
    }
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap kept = keptDimsMap(reduced, ctx);

    auto addFn = [&](OpBuilder &nb, Location l, Value a, Value c) -> Value {
      return isa<FloatType>(accTy)
                 ? arith::AddFOp::create(nb, l, a, c).getResult()
                 : arith::AddIOp::create(nb, l, a, c).getResult();
    };
    Value result, shift;
    switch (kind) {
    case ReduceKind::Max:
    case ReduceKind::Min:
    case ReduceKind::LogSumExp: {
      bool isMax = kind != ReduceKind::Min;
      Value init = extremeConstant(b, loc, accTy, /*lowest=*/isMax, isUnsigned);
      result = reduceLoops(
          b, loc, x, reduced, {x}, {id}, accTy, init,
          [&](OpBuilder &nb, Location l, ValueRange in, Value acc) -> Value {
            Value v =
                convertScalar(nb, l, in[0], accTy, isUnsigned, isUnsigned);
            if (isFloat)
              return isMax
                         ? arith::MaximumFOp::create(nb, l, v, acc).getResult()
                         : arith::MinimumFOp::create(nb, l, v, acc).getResult();
            if (isUnsigned)
              return isMax ? arith::MaxUIOp::create(nb, l, v, acc).getResult()
                           : arith::MinUIOp::create(nb, l, v, acc).getResult();
            return isMax ? arith::MaxSIOp::create(nb, l, v, acc).getResult()
                         : arith::MinSIOp::create(nb, l, v, acc).getResult();
          });
      if (kind != ReduceKind::LogSumExp)
        break;
      // log(sum(exp(x - m))) + m with m the max (0 where m is -inf, so that
      // all -inf inputs and empty reductions give -inf, not NaN).
      FailureOr<Value> m = buildElementwise(
          n, {result}, accTy, [&](OpBuilder &nb, Location l, ValueRange a) {
            Value ninf = extremeConstant(nb, l, accTy, true, false);
            Value isInf = arith::CmpFOp::create(
                nb, l, arith::CmpFPredicate::OEQ, a[0], ninf);
            return arith::SelectOp::create(
                       nb, l, isInf, scalarConstant(nb, l, accTy, 0), a[0])
                .getResult();
          });
      if (failed(m))
        return failure();
      shift = *m;
      result = reduceLoops(
          b, loc, x, reduced, {x, shift}, {id, kept}, accTy,
          scalarConstant(b, loc, accTy, 0),
          [&](OpBuilder &nb, Location l, ValueRange in, Value acc) -> Value {
            Value v = convertScalar(nb, l, in[0], accTy, false, false);
            Value e = math::ExpOp::create(
                nb, l, arith::SubFOp::create(nb, l, v, in[1]));
            return arith::AddFOp::create(nb, l, acc, e);
          });
      break;
    }
    case ReduceKind::Prod:
      result = reduceLoops(
          b, loc, x, reduced, {x}, {id}, accTy,
          scalarConstant(b, loc, accTy, 1),
          [&](OpBuilder &nb, Location l, ValueRange in, Value acc) -> Value {
            Value v =
                convertScalar(nb, l, in[0], accTy, isUnsigned, isUnsigned);
            return isFloat ? arith::MulFOp::create(nb, l, acc, v).getResult()
                           : arith::MulIOp::create(nb, l, acc, v).getResult();
          });
      break;
    default:
      result = reduceLoops(
          b, loc, x, reduced, {x}, {id}, accTy,
          scalarConstant(b, loc, accTy, 0),
          [&](OpBuilder &nb, Location l, ValueRange in, Value acc) -> Value {
            return addFn(nb, l, acc,
                         preReduce(nb, l, kind, in[0], accTy, isUnsigned));
          });
      break;
    }

    // Finishing touches (mean, sqrt, log) and the cast back to the input's
    // element type.
    bool finish = kind == ReduceKind::Mean || kind == ReduceKind::L2 ||
                  kind == ReduceKind::LogSumExp || kind == ReduceKind::LogSum;
    if (finish || accTy != elemTy) {
      Value count;
      if (kind == ReduceKind::Mean)
        count = reducedCount(b, loc, x, reduced, accTy);
      SmallVector<Value> ins{result};
      if (shift)
        ins.push_back(shift);
      FailureOr<Value> y = buildElementwise(
          n, ins, elemTy, [&](OpBuilder &nb, Location l, ValueRange a) {
            Value v = a[0];
            if (kind == ReduceKind::Mean)
              v = isFloat ? arith::DivFOp::create(nb, l, v, count).getResult()
                  : isUnsigned
                      ? arith::DivUIOp::create(nb, l, v, count).getResult()
                      : arith::DivSIOp::create(nb, l, v, count).getResult();
            else if (kind == ReduceKind::L2)
              v = math::SqrtOp::create(nb, l, v);
            else if (kind == ReduceKind::LogSum)
              v = math::LogOp::create(nb, l, v);
            else if (kind == ReduceKind::LogSumExp)
              v = arith::AddFOp::create(nb, l, math::LogOp::create(nb, l, v),
                                        a[1]);
            return convertScalar(nb, l, v, elemTy, isUnsigned, isUnsigned);
          });
      if (failed(y))
        return failure();
      result = *y;
    }
    if (*keepDims)
      result = expandReduced(b, loc, result, reduced);
    n.setOutput(0, result, n.inputDType(0));
    return success();
  };
}

//===----------------------------------------------------------------------===//
// ArgMax / ArgMin
//===----------------------------------------------------------------------===//

/// ArgMax/ArgMin; `selectLastAttr`: the select_last_index attribute exists
/// (opset 12).
OpBuilderFn argOp(bool isMax, bool selectLastAttr) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(1, 1, 1, 1)))
      return failure();
    FailureOr<int64_t> axisAttr = n.getInt("axis", 0);
    FailureOr<int64_t> keepDims = n.getInt("keepdims", 1);
    FailureOr<int64_t> selectLast = selectLastAttr
                                        ? n.getInt("select_last_index", 0)
                                        : FailureOr<int64_t>(0);
    if (failed(axisAttr) || failed(keepDims) || failed(selectLast) ||
        failed(requireNumeric(n, 0, /*allowBool=*/false)))
      return failure();
    RankedTensorType xTy = n.inputType(0);
    int64_t rank = xTy.getRank();
    FailureOr<int64_t> axis = inputAxis(n, *axisAttr);
    if (failed(axis))
      return failure();
    if (xTy.getDimSize(*axis) == 0)
      return n.emitError() << "cannot take the arg" << (isMax ? "max" : "min")
                           << " of an empty axis";

    OpBuilder &b = n.b;
    Location loc = n.loc;
    MLIRContext *ctx = b.getContext();
    Value x = n.input(0);
    Type elemTy = xTy.getElementType();
    bool isFloat = isa<FloatType>(elemTy);
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    SmallVector<bool> reduced(rank, false);
    reduced[*axis] = true;

    Value best = linalg::FillOp::create(
                     b, loc, extremeConstant(b, loc, elemTy, isMax, isUnsigned),
                     emptyReduced(b, loc, x, reduced, elemTy))
                     .getResult(0);
    Value index = linalg::FillOp::create(
                      b, loc, scalarConstant(b, loc, b.getI64Type(), 0),
                      emptyReduced(b, loc, x, reduced, b.getI64Type()))
                      .getResult(0);
    AffineMap kept = keptDimsMap(reduced, ctx);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    iters[*axis] = utils::IteratorType::reduction;
    // Strict comparison keeps the first extreme, non-strict the last.
    bool last = *selectLast != 0;
    arith::CmpFPredicate fp =
        isMax ? (last ? arith::CmpFPredicate::OGE : arith::CmpFPredicate::OGT)
              : (last ? arith::CmpFPredicate::OLE : arith::CmpFPredicate::OLT);
    arith::CmpIPredicate ip =
        isUnsigned ? (isMax ? (last ? arith::CmpIPredicate::uge
                                    : arith::CmpIPredicate::ugt)
                            : (last ? arith::CmpIPredicate::ule
                                    : arith::CmpIPredicate::ult))
                   : (isMax ? (last ? arith::CmpIPredicate::sge
                                    : arith::CmpIPredicate::sgt)
                            : (last ? arith::CmpIPredicate::sle
                                    : arith::CmpIPredicate::slt));
    int64_t ax = *axis;
    auto g = linalg::GenericOp::create(
        b, loc, TypeRange{best.getType(), index.getType()}, ValueRange{x},
        ValueRange{best, index},
        ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx), kept,
                            kept},
        iters, [&](OpBuilder &nb, Location l, ValueRange args) {
          Value i = loopIndexI64(nb, l, ax);
          Value better =
              isFloat ? arith::CmpFOp::create(nb, l, fp, args[0], args[1])
                            .getResult()
                      : arith::CmpIOp::create(nb, l, ip, args[0], args[1])
                            .getResult();
          // The first element along the axis always starts the search, as
          // in onnxruntime: a leading NaN is the answer (compared with the
          // fill value it would be skipped), later NaNs never win.
          Value first = arith::CmpIOp::create(
              nb, l, arith::CmpIPredicate::eq, i,
              arith::ConstantIntOp::create(nb, l, nb.getI64Type(), 0));
          better = arith::OrIOp::create(nb, l, better, first);
          Value v = arith::SelectOp::create(nb, l, better, args[0], args[1]);
          Value j = arith::SelectOp::create(nb, l, better, i, args[2]);
          linalg::YieldOp::create(nb, l, ValueRange{v, j});
        });
    Value result = g.getResult(1);
    if (*keepDims)
      result = expandReduced(b, loc, result, reduced);
    n.setOutput(0, result, kInt64);
    return success();
  };
}

//===----------------------------------------------------------------------===//
// CumSum, CumProd
//===----------------------------------------------------------------------===//

/// CumSum (`product` false) or CumProd (opset 26, `product` true).
OpBuilderFn cumulative(bool product) {
  return [product](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(2, 2, 1, 1)))
      return failure();
    FailureOr<int64_t> exclusive = n.getInt("exclusive", 0);
    FailureOr<int64_t> reverse = n.getInt("reverse", 0);
    if (failed(exclusive) || failed(reverse) ||
        failed(requireNumeric(n, 0, /*allowBool=*/false)))
      return failure();
    RankedTensorType xTy = n.inputType(0);
    int64_t rank = xTy.getRank();
    if (rank == 0)
      return n.emitError() << "input must have rank >= 1";
    FailureOr<int64_t> axisValue = constantScalarInput(n, 1, "axis");
    if (failed(axisValue))
      return failure();
    FailureOr<int64_t> axis = n.normalizeAxis(*axisValue, rank);
    if (failed(axis))
      return failure();

    OpBuilder &b = n.b;
    Location loc = n.loc;
    MLIRContext *ctx = b.getContext();
    Value x = n.input(0);
    Type elemTy = xTy.getElementType();
    Type accTy = accumulatorType(elemTy);
    bool isFloat = isa<FloatType>(elemTy);
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    // y[.., j, ..] = sum (product) over k of x[.., k, ..] where k is before j
    // (or after it for reverse; not j itself for exclusive): loop k is the
    // last loop.
    int64_t ax = *axis;
    arith::CmpIPredicate pred = *reverse
                                    ? (*exclusive ? arith::CmpIPredicate::sgt
                                                  : arith::CmpIPredicate::sge)
                                    : (*exclusive ? arith::CmpIPredicate::slt
                                                  : arith::CmpIPredicate::sle);
    Value init = linalg::FillOp::create(
                     b, loc, scalarConstant(b, loc, accTy, product ? 1 : 0),
                     emptyTensorLike(b, loc, xTy.clone(accTy), x))
                     .getResult(0);
    SmallVector<utils::IteratorType> iters(rank + 1,
                                           utils::IteratorType::parallel);
    iters.back() = utils::IteratorType::reduction;
    auto g = linalg::GenericOp::create(
        b, loc, init.getType(), ValueRange{x}, ValueRange{init},
        ArrayRef<AffineMap>{loopMap(rank + 1, rank, ax, rank, ctx),
                            loopMap(rank + 1, rank, -1, -1, ctx)},
        iters, [&](OpBuilder &nb, Location l, ValueRange args) {
          Value j = linalg::IndexOp::create(nb, l, ax);
          Value k = linalg::IndexOp::create(nb, l, rank);
          Value take = arith::CmpIOp::create(nb, l, pred, k, j);
          Value v =
              convertScalar(nb, l, args[0], accTy, isUnsigned, isUnsigned);
          Value s =
              product
                  ? (isFloat
                         ? arith::MulFOp::create(nb, l, args[1], v).getResult()
                         : arith::MulIOp::create(nb, l, args[1], v).getResult())
                  : (isFloat
                         ? arith::AddFOp::create(nb, l, args[1], v).getResult()
                         : arith::AddIOp::create(nb, l, args[1], v)
                               .getResult());
          linalg::YieldOp::create(
              nb, l,
              arith::SelectOp::create(nb, l, take, s, args[1]).getResult());
        });
    Value result = g.getResult(0);
    if (accTy != elemTy) {
      FailureOr<Value> y = buildElementwise(
          n, {result}, elemTy, [&](OpBuilder &nb, Location l, ValueRange a) {
            return convertScalar(nb, l, a[0], elemTy, false, false);
          });
      if (failed(y))
        return failure();
      result = *y;
    }
    n.setOutput(0, result, n.inputDType(0));
    return success();
  };
}

//===----------------------------------------------------------------------===//
// TopK
//===----------------------------------------------------------------------===//

/// TopK by ranking: rank(i) counts the elements that come before element i
/// in the requested order (ties: the lower index first), then output r takes
/// the element whose rank is r. `kInput`: K is input #1 (opset 10) rather
/// than the `k` attribute; `orderAttrs`: largest/sorted exist (opset 11).
OpBuilderFn topKOp(bool kInput, bool orderAttrs) {
  return [=](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(kInput ? 2 : 1, kInput ? 2 : 1, 2, 2)))
      return failure();
    FailureOr<int64_t> axisAttr = n.getInt("axis", -1);
    FailureOr<int64_t> largest =
        orderAttrs ? n.getInt("largest", 1) : FailureOr<int64_t>(1);
    FailureOr<int64_t> sorted =
        orderAttrs ? n.getInt("sorted", 1) : FailureOr<int64_t>(1);
    FailureOr<int64_t> k =
        kInput ? constantScalarInput(n, 1, "K") : n.getRequiredInt("k");
    if (failed(axisAttr) || failed(largest) || failed(sorted) || failed(k) ||
        failed(requireNumeric(n, 0, /*allowBool=*/false)))
      return failure();
    // sorted = 0 leaves the order free; sorted output is one valid order.
    (void)sorted;
    RankedTensorType xTy = n.inputType(0);
    int64_t rank = xTy.getRank();
    FailureOr<int64_t> axis = inputAxis(n, *axisAttr);
    if (failed(axis))
      return failure();
    int64_t ax = *axis;
    if (*k < 0)
      return n.emitError() << "K must not be negative, got " << *k;
    if (!xTy.isDynamicDim(ax) && *k > xTy.getDimSize(ax))
      return n.emitError() << "K = " << *k << " is larger than axis " << ax
                           << " (size " << xTy.getDimSize(ax) << ")";

    OpBuilder &b = n.b;
    Location loc = n.loc;
    MLIRContext *ctx = b.getContext();
    Value x = n.input(0);
    Type elemTy = xTy.getElementType();
    Type i64 = b.getI64Type();
    bool isFloat = isa<FloatType>(elemTy);
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    bool big = *largest != 0;
    arith::CmpFPredicate fp =
        big ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT;
    arith::CmpIPredicate ip = big ? (isUnsigned ? arith::CmpIPredicate::ugt
                                                : arith::CmpIPredicate::sgt)
                                  : (isUnsigned ? arith::CmpIPredicate::ult
                                                : arith::CmpIPredicate::slt);
    SmallVector<utils::IteratorType> iters(rank + 1,
                                           utils::IteratorType::parallel);
    iters.back() = utils::IteratorType::reduction;
    AffineMap self = loopMap(rank + 1, rank, -1, -1, ctx);
    AffineMap other = loopMap(rank + 1, rank, ax, rank, ctx);

    // rank(i) = #{j : x[j] beats x[i], or ties with it and j < i}.
    Value zero = scalarConstant(b, loc, i64, 0);
    Value rankInit =
        linalg::FillOp::create(b, loc, zero,
                               emptyTensorLike(b, loc, xTy.clone(i64), x))
            .getResult(0);
    auto ranks = linalg::GenericOp::create(
        b, loc, rankInit.getType(), ValueRange{x, x}, ValueRange{rankInit},
        ArrayRef<AffineMap>{self, other, self}, iters,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value xi = args[0], xj = args[1];
          Value beats, ties;
          if (isFloat) {
            beats = arith::CmpFOp::create(nb, l, fp, xj, xi);
            ties =
                arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, xj, xi);
          } else {
            beats = arith::CmpIOp::create(nb, l, ip, xj, xi);
            ties =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, xj, xi);
          }
          Value before =
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult,
                                    linalg::IndexOp::create(nb, l, rank),
                                    linalg::IndexOp::create(nb, l, ax));
          Value counts = arith::OrIOp::create(
              nb, l, beats, arith::AndIOp::create(nb, l, ties, before));
          Value one = arith::ExtUIOp::create(nb, l, i64, counts);
          linalg::YieldOp::create(
              nb, l, arith::AddIOp::create(nb, l, args[2], one).getResult());
        });

    // Output r along the axis takes the element whose rank is r.
    SmallVector<int64_t> outShape(xTy.getShape());
    outShape[ax] = *k;
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rank; ++i)
      if (i != ax && xTy.isDynamicDim(i))
        dyn.push_back(tensor::DimOp::create(b, loc, x, i));
    Value vInit =
        linalg::FillOp::create(
            b, loc, scalarConstant(b, loc, elemTy, 0),
            tensor::EmptyOp::create(b, loc, outShape, elemTy, dyn).getResult())
            .getResult(0);
    Value iInit =
        linalg::FillOp::create(
            b, loc, zero,
            tensor::EmptyOp::create(b, loc, outShape, i64, dyn).getResult())
            .getResult(0);
    auto pick = linalg::GenericOp::create(
        b, loc, TypeRange{vInit.getType(), iInit.getType()},
        ValueRange{x, ranks.getResult(0)}, ValueRange{vInit, iInit},
        ArrayRef<AffineMap>{other, other, self, self}, iters,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value r = loopIndexI64(nb, l, ax);
          Value hit = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                            args[1], r);
          Value v = arith::SelectOp::create(nb, l, hit, args[0], args[2]);
          Value i = arith::SelectOp::create(nb, l, hit,
                                            loopIndexI64(nb, l, rank), args[3]);
          linalg::YieldOp::create(nb, l, ValueRange{v, i});
        });
    n.setOutput(0, pick.getResult(0), n.inputDType(0));
    n.setOutput(1, pick.getResult(1), kInt64);
    return success();
  };
}

} // namespace

void mlir::qopt::onnx_import::registerReductionOps(OpRegistry &r) {
  struct {
    const char *name;
    ReduceKind kind;
    int64_t axesInputSince;
  } reductions[] = {
      {"ReduceSum", ReduceKind::Sum, 13},
      {"ReduceMean", ReduceKind::Mean, 18},
      {"ReduceMax", ReduceKind::Max, 18},
      {"ReduceMin", ReduceKind::Min, 18},
      {"ReduceProd", ReduceKind::Prod, 18},
      {"ReduceL1", ReduceKind::L1, 18},
      {"ReduceL2", ReduceKind::L2, 18},
      {"ReduceSumSquare", ReduceKind::SumSquare, 18},
      {"ReduceLogSumExp", ReduceKind::LogSumExp, 18},
      {"ReduceLogSum", ReduceKind::LogSum, 18},
  };
  for (const auto &red : reductions) {
    r.add("", red.name, 1, reduceOp(red.kind, /*axesInput=*/false));
    r.add("", red.name, red.axesInputSince,
          reduceOp(red.kind, /*axesInput=*/true));
  }
  r.add("", "ArgMax", 1, argOp(/*isMax=*/true, /*selectLastAttr=*/false));
  r.add("", "ArgMax", 12, argOp(/*isMax=*/true, /*selectLastAttr=*/true));
  r.add("", "ArgMin", 1, argOp(/*isMax=*/false, /*selectLastAttr=*/false));
  r.add("", "ArgMin", 12, argOp(/*isMax=*/false, /*selectLastAttr=*/true));
  r.add("", "CumSum", 11, cumulative(/*product=*/false));
  r.add("", "CumProd", 26, cumulative(/*product=*/true));
  r.add("", "TopK", 1, topKOp(/*kInput=*/false, /*orderAttrs=*/false));
  r.add("", "TopK", 10, topKOp(/*kInput=*/true, /*orderAttrs=*/false));
  r.add("", "TopK", 11, topKOp(/*kInput=*/true, /*orderAttrs=*/true));
}
