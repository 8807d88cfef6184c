//===- Spatial.cpp - GridSample, AffineGrid, CenterCropPad, Compress ------===//
//
// Spatial sampling operators, each one linalg.generic over its output:
//  - GridSample: every output position reads its sampling location from the
//    grid, denormalizes it, applies the padding mode and blends 1 (nearest),
//    2^k (linear) or 4^k (cubic) input pixels, as the ONNX reference does.
//  - AffineGrid: theta times the normalized base grid.
//  - RoiAlign: per bin, sampling_ratio^2 bilinear samples of its run-time
//    ROI, averaged or maxed; Col2Im: per image position, the sum of the
//    block columns covering it; ReverseSequence: a run-time index flip;
//    MaxUnpool: an in-order scatter (loop nest of tensor.insert).
// CenterCropPad is a slice and a pad, Compress a gather with the indices of
// a constant condition; the Hann, Hamming and Blackman windows are constants
// computed at import from a constant size.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// Float arithmetic in the body of a generic, in type `ft`.
struct FloatMath {
  OpBuilder &b;
  Location loc;
  FloatType ft;

  Value c(double v) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(ft, v));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value lt(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, y);
  }
  Value gt(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, y);
  }
  Value sel(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value floor(Value x) { return math::FloorOp::create(b, loc, x); }
  Value clamp(Value x, Value lo, Value hi) {
    return arith::MinimumFOp::create(
        b, loc, arith::MaximumFOp::create(b, loc, x, lo), hi);
  }
  /// onnx.reference's _gs_reflect: reflect by the near border until within
  /// [lo, hi].
  Value reflect(Value x, Value lo, Value hi) {
    Value rng = sub(hi, lo);
    auto side = [&](Value dx, Value nearB, Value farB) {
      Value n = arith::FPToSIOp::create(b, loc, b.getI64Type(), div(dx, rng));
      Value r = sub(dx, mul(arith::SIToFPOp::create(b, loc, ft, n), rng));
      Value odd = arith::TruncIOp::create(b, loc, b.getI1Type(), n);
      return std::pair{odd, r};
    };
    auto [oddBelow, rBelow] = side(sub(lo, x), lo, hi);
    Value below = sel(oddBelow, sub(hi, rBelow), add(lo, rBelow));
    auto [oddAbove, rAbove] = side(sub(x, hi), hi, lo);
    Value above = sel(oddAbove, add(lo, rAbove), sub(hi, rAbove));
    return sel(lt(x, lo), below, sel(gt(x, hi), above, x));
  }
  /// Keys' cubic convolution coefficients at distance t (alpha -0.75).
  SmallVector<Value> cubic(Value t) {
    double a = -0.75;
    auto poly = [&](Value x, bool inner) {
      // inner: ((a + 2) x - (a + 3)) x^2 + 1; outer:
      // ((a x - 5a) x + 8a) x - 4a.
      if (inner)
        return add(mul(sub(mul(c(a + 2), x), c(a + 3)), mul(x, x)), c(1));
      return sub(mul(add(mul(sub(mul(c(a), x), c(5 * a)), x), c(8 * a)), x),
                 c(4 * a));
    };
    Value one = c(1), two = c(2);
    return {poly(add(t, one), false), poly(t, true), poly(sub(one, t), true),
            poly(sub(two, t), false)};
  }
};

LogicalResult buildGridSample(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<std::string> mode =
      n.getString("mode", n.opset >= 20 ? "linear" : "bilinear");
  FailureOr<std::string> padding = n.getString("padding_mode", "zeros");
  FailureOr<int64_t> alignAttr = n.getInt("align_corners", 0);
  if (failed(mode) || failed(padding) || failed(alignAttr))
    return failure();
  std::string m = *mode;
  if (m == "bilinear")
    m = "linear";
  else if (m == "bicubic")
    m = "cubic";
  if (m != "linear" && m != "nearest" && m != "cubic")
    return n.emitError() << "mode '" << *mode << "' is not supported";
  if (*padding != "zeros" && *padding != "border" && *padding != "reflection")
    return n.emitError() << "padding_mode '" << *padding
                         << "' is not one of 'zeros', 'border', 'reflection'";
  bool align = *alignAttr != 0;
  RankedTensorType xTy = n.inputType(0), gTy = n.inputType(1);
  int64_t r = xTy.getRank();
  int64_t k = r - 2;
  if (r < 3 || r > 5)
    return n.emitError() << "input must have rank 3 to 5 ([N, C, spatial...]), "
                         << "got rank " << r;
  if (gTy.getRank() != r ||
      (!gTy.isDynamicDim(r - 1) && gTy.getDimSize(r - 1) != k))
    return n.emitError() << "grid must be [N, spatial..., " << k
                         << "] for a rank-" << r << " input";
  if (m == "cubic" && k != 2)
    return n.emitError() << "cubic mode is defined for 2-D inputs only";
  auto elemTy = dyn_cast<FloatType>(xTy.getElementType());
  auto gridTy = dyn_cast<FloatType>(gTy.getElementType());
  if (!elemTy || !gridTy)
    return n.emitError() << "input and grid must be float tensors";
  for (int64_t d = 2; d < r; ++d)
    if (xTy.isDynamicDim(d))
      return n.emitError() << "spatial dim " << d << " must be static";

  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0), grid = n.input(1);
  FloatType ft = elemTy.isF64() ? cast<FloatType>(b.getF64Type())
                                : cast<FloatType>(b.getF32Type());
  SmallVector<OpFoldResult> sizes{dimOFR(b, loc, x, 0), dimOFR(b, loc, x, 1)};
  for (int64_t d = 1; d <= k; ++d)
    sizes.push_back(dimOFR(b, loc, grid, d));
  Value init = tensor::EmptyOp::create(b, loc, sizes, elemTy);
  SmallVector<int64_t> dims(xTy.getShape().drop_front(2));

  Value y = parallelGeneric(
      b, loc, {}, {}, init, [&](OpBuilder &nb, Location l, ValueRange) {
        FloatMath fm{nb, l, ft};
        Value nI = loopIndex(nb, l, 0), cI = loopIndex(nb, l, 1);
        SmallVector<Value> gIdx{nI};
        for (int64_t d = 0; d < k; ++d)
          gIdx.push_back(loopIndex(nb, l, 2 + d));
        // The location along each spatial dim: the grid's components are
        // innermost first (x = W).
        SmallVector<Value> pos, lo, hi;
        for (int64_t i = 0; i < k; ++i) {
          SmallVector<Value> gi(gIdx);
          gi.push_back(cIndex(nb, l, k - 1 - i));
          Value g = tensor::ExtractOp::create(nb, l, grid, gi);
          g = convertScalar(nb, l, g, ft, false, false);
          double len = static_cast<double>(dims[i]);
          Value v =
              align ? fm.mul(fm.div(fm.add(g, fm.c(1)), fm.c(2)), fm.c(len - 1))
                    : fm.div(fm.sub(fm.mul(fm.add(g, fm.c(1)), fm.c(len)),
                                    fm.c(1)),
                             fm.c(2));
          if (m == "nearest")
            v = math::RoundEvenOp::create(nb, l, v);
          Value bLo = fm.c(align ? 0.0 : -0.5);
          Value bHi = fm.c(align ? len - 1 : len - 0.5);
          if (*padding == "border")
            v = fm.sel(
                fm.lt(v, bLo), fm.clamp(v, fm.c(0), fm.c(len - 1)),
                fm.sel(fm.gt(v, bHi), fm.clamp(v, fm.c(0), fm.c(len - 1)), v));
          else if (*padding == "reflection")
            v = fm.reflect(v, bLo, bHi);
          pos.push_back(v);
          lo.push_back(bLo);
          hi.push_back(bHi);
        }
        Value zero = fm.c(0);
        // The pixel at integer coordinates `at` (float-valued), per the
        // padding mode; `valid` accumulates whether it is inside (zeros).
        auto pixel = [&](ArrayRef<Value> at) {
          SmallVector<Value> idx{nI, cI};
          Value inside;
          for (int64_t i = 0; i < k; ++i) {
            Value v = at[i];
            double len = static_cast<double>(dims[i]);
            if (*padding == "zeros") {
              Value ok = arith::AndIOp::create(
                  nb, l,
                  arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGE, v,
                                        fm.c(0)),
                  fm.lt(v, fm.c(len)));
              inside =
                  inside ? arith::AndIOp::create(nb, l, inside, ok).getResult()
                         : ok;
            } else if (*padding == "reflection") {
              v = fm.reflect(v, lo[i], hi[i]);
              // int() of the reflected location truncates toward zero.
              v = fm.sel(fm.lt(v, fm.c(0)),
                         math::CeilOp::create(nb, l, v).getResult(),
                         fm.floor(v));
            }
            v = fm.clamp(v, fm.c(0), fm.c(len - 1));
            idx.push_back(arith::IndexCastOp::create(
                nb, l, nb.getIndexType(),
                arith::FPToSIOp::create(nb, l, nb.getI64Type(), v)));
          }
          Value p = tensor::ExtractOp::create(nb, l, x, idx);
          p = convertScalar(nb, l, p, ft, false, false);
          return inside ? fm.sel(inside, p, zero) : p;
        };
        Value out;
        if (m == "nearest") {
          SmallVector<Value> at;
          for (Value v : pos) // int() truncates toward zero
            at.push_back(fm.sel(fm.lt(v, fm.c(0)),
                                math::CeilOp::create(nb, l, v).getResult(),
                                fm.floor(v)));
          out = pixel(at);
        } else {
          int64_t taps = m == "linear" ? 2 : 4, first = m == "linear" ? 0 : -1;
          SmallVector<Value> base;
          SmallVector<SmallVector<Value>> coeffs;
          for (Value v : pos) {
            Value f = fm.floor(v);
            Value t = fm.sub(v, f);
            base.push_back(f);
            coeffs.push_back(m == "linear"
                                 ? SmallVector<Value>{fm.sub(fm.c(1), t), t}
                                 : fm.cubic(t));
          }
          int64_t total = 1;
          for (int64_t i = 0; i < k; ++i)
            total *= taps;
          for (int64_t t = 0; t < total; ++t) {
            SmallVector<Value> at;
            Value w;
            int64_t rest = t;
            for (int64_t i = k - 1; i >= 0; --i) {
              int64_t j = rest % taps;
              rest /= taps;
              at.insert(at.begin(), fm.add(base[i], fm.c(first + j)));
              w = w ? fm.mul(w, coeffs[i][j]) : coeffs[i][j];
            }
            Value term = fm.mul(w, pixel(at));
            out = out ? fm.add(out, term) : term;
          }
        }
        return convertScalar(nb, l, out, elemTy, false, false);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// AffineGrid: grid[n, spatial..., :] = theta[n] @ [x, y(, z), 1] with the
/// normalized base coordinates of each output position.
LogicalResult buildAffineGrid(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<int64_t> alignAttr = n.getInt("align_corners", 0);
  if (failed(alignAttr))
    return failure();
  FailureOr<SmallVector<int64_t>> size = requireConstInts(n, 1, "size");
  if (failed(size))
    return failure();
  RankedTensorType tTy = n.inputType(0);
  auto ft = dyn_cast<FloatType>(tTy.getElementType());
  int64_t k = static_cast<int64_t>(size->size()) - 2;
  if (!ft || (k != 2 && k != 3))
    return n.emitError() << "size must have 4 or 5 values and theta be float";
  if (tTy.getRank() != 3 || (!tTy.isDynamicDim(1) && tTy.getDimSize(1) != k) ||
      (!tTy.isDynamicDim(2) && tTy.getDimSize(2) != k + 1))
    return n.emitError() << "theta must be [N, " << k << ", " << k + 1
                         << "] for a size of " << k + 2 << " values";
  for (int64_t v : *size)
    if (v < 1)
      return n.emitError() << "size must be positive, got " << v;
  bool align = *alignAttr != 0;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value theta = n.input(0);
  SmallVector<int64_t> shape{(*size)[0]};
  // Output [N, D?, H, W, k]; spatial sizes in order (D,) H, W.
  for (int64_t i = 2; i < k + 2; ++i)
    shape.push_back((*size)[i]);
  shape.push_back(k);
  Value init = tensor::EmptyOp::create(b, loc, shape, ft);
  Value y = parallelGeneric(
      b, loc, {}, {}, init, [&](OpBuilder &nb, Location l, ValueRange) {
        FloatMath fm{nb, l, ft};
        Value nI = loopIndex(nb, l, 0);
        Value comp = loopIndex(nb, l, k + 1);
        // Base coordinates [x, y(, z), 1]: x runs along the last spatial dim.
        SmallVector<Value> base;
        for (int64_t j = 0; j < k; ++j) {
          int64_t d = k - j; // loop dim of coordinate j
          double len = static_cast<double>(shape[d]);
          Value i = arith::SIToFPOp::create(
              nb, l, ft,
              arith::IndexCastOp::create(nb, l, nb.getI64Type(),
                                         loopIndex(nb, l, d)));
          Value v;
          if (align)
            v = len == 1 ? fm.c(0)
                         : fm.sub(fm.mul(i, fm.c(2 / (len - 1))), fm.c(1));
          else
            v = fm.sub(fm.div(fm.add(fm.mul(i, fm.c(2)), fm.c(1)), fm.c(len)),
                       fm.c(1));
          base.push_back(v);
        }
        base.push_back(fm.c(1));
        Value acc;
        for (int64_t j = 0; j <= k; ++j) {
          Value t = tensor::ExtractOp::create(
              nb, l, theta, ValueRange{nI, comp, cIndex(nb, l, j)});
          Value term = fm.mul(t, base[j]);
          acc = acc ? fm.add(acc, term) : term;
        }
        return acc;
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// CenterCropPad: per axis, a centred slice (crop) or zero padding.
LogicalResult buildCenterCropPad(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  RankedTensorType ty = n.inputType(0);
  int64_t r = ty.getRank();
  SmallVector<int64_t> all;
  for (int64_t i = 0; i < r; ++i)
    all.push_back(i);
  FailureOr<SmallVector<int64_t>> axesAttr = n.getInts("axes", all);
  FailureOr<SmallVector<int64_t>> shape = requireConstInts(n, 1, "shape");
  if (failed(axesAttr) || failed(shape))
    return failure();
  if (shape->size() != axesAttr->size())
    return n.emitError() << "shape has " << shape->size() << " values for "
                         << axesAttr->size() << " axes";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  SmallVector<OpFoldResult> offsets, sizes, strides(r, b.getIndexAttr(1));
  SmallVector<OpFoldResult> low(r, b.getIndexAttr(0)),
      high(r, b.getIndexAttr(0));
  SmallVector<int64_t> cropShape(ty.getShape()), outShape(ty.getShape());
  for (int64_t d = 0; d < r; ++d) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(dimOFR(b, loc, n.input(0), d));
  }
  bool crop = false, pad = false;
  for (auto [a, target] : llvm::zip(*axesAttr, *shape)) {
    FailureOr<int64_t> axis = n.normalizeAxis(a, r, "axes");
    if (failed(axis))
      return failure();
    int64_t dim = ty.getDimSize(*axis);
    if (ShapedType::isDynamic(dim))
      return n.emitError() << "axis " << *axis << " must be static";
    if (target < 0)
      return n.emitError() << "shape must be non-negative, got " << target;
    if (target < dim) {
      offsets[*axis] = b.getIndexAttr((dim - target) / 2);
      sizes[*axis] = b.getIndexAttr(target);
      cropShape[*axis] = target;
      crop = true;
    } else if (target > dim) {
      low[*axis] = b.getIndexAttr((target - dim) / 2);
      high[*axis] = b.getIndexAttr(target - dim - (target - dim) / 2);
      pad = true;
    }
    outShape[*axis] = target;
  }
  Value y = n.input(0);
  if (crop)
    y = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(cropShape, ty.getElementType()), y,
        offsets, sizes, strides);
  if (pad) {
    Value zero = scalarConstant(b, loc, ty.getElementType(), 0);
    y = tensor::PadOp::create(
        b, loc, RankedTensorType::get(outShape, ty.getElementType()), y, low,
        high, zero);
  }
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// Compress with a constant condition: the kept indices are known at import,
/// so the result is a gather of them (flattened first without an axis).
LogicalResult buildCompress(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  if (n.inputDType(1) != kBool || n.inputType(1).getRank() != 1)
    return n.emitError() << "condition (input #1) must be a 1-D bool tensor";
  std::optional<SmallVector<int64_t>> cond = n.constantInts(1);
  if (!cond)
    return n.emitError() << "condition (input #1) must be a constant: the "
                            "kept positions size the output";
  Value x = n.input(0);
  RankedTensorType ty = n.inputType(0);
  OpBuilder &b = n.b;
  Location loc = n.loc;
  int64_t axis;
  if (n.hasAttr("axis")) {
    FailureOr<int64_t> a = n.getInt("axis", 0);
    if (failed(a))
      return failure();
    FailureOr<int64_t> na = n.normalizeAxis(*a, ty.getRank());
    if (failed(na))
      return failure();
    axis = *na;
  } else {
    if (!ty.hasStaticShape())
      return n.emitError() << "without an axis the input must be static";
    SmallVector<ReassociationIndices> all(1);
    for (int64_t d = 0; d < ty.getRank(); ++d)
      all[0].push_back(d);
    if (ty.getRank() == 0)
      x = tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get({1}, ty.getElementType()), x,
          ArrayRef<ReassociationIndices>{});
    else if (ty.getRank() > 1)
      x = tensor::CollapseShapeOp::create(b, loc, x, all);
    ty = cast<RankedTensorType>(x.getType());
    axis = 0;
  }
  int64_t dim = ty.getDimSize(axis);
  SmallVector<int64_t> kept;
  for (auto [i, c] : llvm::enumerate(*cond))
    if (c != 0) {
      if (!ShapedType::isDynamic(dim) && static_cast<int64_t>(i) >= dim)
        return n.emitError() << "condition keeps position " << i
                             << ", past the " << dim << " along the axis";
      kept.push_back(i);
    }
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < ty.getRank(); ++d)
    sizes.push_back(d == axis ? b.getIndexAttr(kept.size())
                              : dimOFR(b, loc, x, d));
  Value init = tensor::EmptyOp::create(b, loc, sizes, ty.getElementType());
  if (kept.empty()) {
    n.setOutput(0, init, n.inputDType(0));
    return success();
  }
  auto tableTy = RankedTensorType::get({static_cast<int64_t>(kept.size())},
                                       b.getI64Type());
  Value table = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(tableTy, ArrayRef<int64_t>(kept)));
  int64_t r = ty.getRank();
  Value y = parallelGeneric(
      b, loc, {table}, {dimRangeMap(b.getContext(), r, axis, 1)}, init,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < r; ++d)
          idx.push_back(d == axis ? toIndex(nb, l, a[0]) : loopIndex(nb, l, d));
        return tensor::ExtractOp::create(nb, l, x, idx).getResult();
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// HannWindow, HammingWindow, BlackmanWindow: a0 - a1 cos(2 pi k / N') +
/// a2 cos(4 pi k / N'), N' = size (periodic) or size - 1; evaluated at
/// import in double precision (size must be a constant).
LogicalResult buildWindow(ONNXNode &n, double a0, double a1, double a2) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> periodic = n.getInt("periodic", 1);
  FailureOr<int64_t> dtype = n.getInt("output_datatype", kFloat);
  FailureOr<SmallVector<int64_t>> size = requireConstInts(n, 0, "size");
  if (failed(periodic) || failed(dtype) || failed(size))
    return failure();
  if (size->size() != 1 || (*size)[0] < 0 || (*size)[0] > (int64_t(1) << 24))
    return n.emitError() << "size must be one value from 0 to 2^24";
  FailureOr<Type> et = elementTypeForNode(n, *dtype);
  if (failed(et))
    return failure();
  int64_t len = (*size)[0];
  double denom = *periodic ? len : len - 1;
  SmallVector<double> w;
  for (int64_t i = 0; i < len; ++i) {
    double t = denom == 0 ? 0 : 2 * M_PI * static_cast<double>(i) / denom;
    w.push_back(a0 - a1 * std::cos(t) + a2 * std::cos(2 * t));
  }
  auto ty = RankedTensorType::get({len}, *et);
  SmallVector<Attribute> vals;
  for (double v : w) {
    if (auto ft = dyn_cast<FloatType>(*et))
      vals.push_back(n.b.getFloatAttr(ft, v));
    else
      vals.push_back(n.b.getIntegerAttr(*et, static_cast<int64_t>(v)));
  }
  Value c =
      arith::ConstantOp::create(n.b, n.loc, DenseElementsAttr::get(ty, vals));
  n.setOutput(0, c, *dtype);
  return success();
}

/// ReverseSequence: out[.., b, .., t, ..] = x at time len[b] - 1 - t for
/// t < len[b], else x itself; the lengths are read at run time.
LogicalResult buildReverseSequence(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<int64_t> batchAttr = n.getInt("batch_axis", 1);
  FailureOr<int64_t> timeAttr = n.getInt("time_axis", 0);
  if (failed(batchAttr) || failed(timeAttr))
    return failure();
  RankedTensorType ty = n.inputType(0);
  int64_t r = ty.getRank();
  if (r < 2)
    return n.emitError() << "input must have rank >= 2, got " << r;
  if ((*batchAttr != 0 && *batchAttr != 1) ||
      (*timeAttr != 0 && *timeAttr != 1) || *batchAttr == *timeAttr)
    return n.emitError() << "batch_axis and time_axis must be 0 and 1 in "
                            "some order";
  if (n.inputType(1).getRank() != 1 ||
      (n.inputDType(1) != kInt64 && n.inputDType(1) != kInt32))
    return n.emitError() << "sequence_lens must be a 1-D int64 tensor";
  int64_t bAxis = *batchAttr, tAxis = *timeAttr;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0), lens = n.input(1);
  assertSameSize(n, lens, 0, x, bAxis,
                 "sequence_lens has not one length per batch element");
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < r; ++d)
    sizes.push_back(dimOFR(b, loc, x, d));
  Value init = tensor::EmptyOp::create(b, loc, sizes, ty.getElementType());
  Value tLen = dimValue(b, loc, x, tAxis);
  Value y = parallelGeneric(
      b, loc, {lens}, {dimRangeMap(b.getContext(), r, bAxis, 1)}, init,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        SmallVector<Value> idx;
        for (int64_t d = 0; d < r; ++d)
          idx.push_back(loopIndex(nb, l, d));
        // len clamped to [0, T] so that no read leaves the input.
        Value len = toIndex(nb, l, a[0]);
        len = arith::MinSIOp::create(
            nb, l, arith::MaxSIOp::create(nb, l, len, cIndex(nb, l, 0)), tLen);
        Value t = idx[tAxis];
        Value rev = arith::SubIOp::create(
            nb, l, arith::SubIOp::create(nb, l, len, cIndex(nb, l, 1)), t);
        Value inside =
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, t, len);
        idx[tAxis] = arith::SelectOp::create(nb, l, inside, rev, t);
        return tensor::ExtractOp::create(nb, l, x, idx).getResult();
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// Col2Im: every image position sums the columns of the blocks that cover
/// it (the kernel offsets unrolled; at most kMaxCol2ImTaps of them).
LogicalResult buildCol2Im(ONNXNode &n) {
  constexpr int64_t kMaxCol2ImTaps = 1024;
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  FailureOr<SmallVector<int64_t>> image = requireConstInts(n, 1, "image_shape");
  FailureOr<SmallVector<int64_t>> block = requireConstInts(n, 2, "block_shape");
  if (failed(image) || failed(block))
    return failure();
  int64_t k = image->size();
  if (k < 1 || static_cast<int64_t>(block->size()) != k)
    return n.emitError() << "image_shape and block_shape must have the same "
                            "non-zero length";
  FailureOr<SmallVector<int64_t>> dil =
      n.getInts("dilations", SmallVector<int64_t>(k, 1));
  FailureOr<SmallVector<int64_t>> pads =
      n.getInts("pads", SmallVector<int64_t>(2 * k, 0));
  FailureOr<SmallVector<int64_t>> strides =
      n.getInts("strides", SmallVector<int64_t>(k, 1));
  if (failed(dil) || failed(pads) || failed(strides))
    return failure();
  if (static_cast<int64_t>(dil->size()) != k ||
      static_cast<int64_t>(strides->size()) != k ||
      static_cast<int64_t>(pads->size()) != 2 * k)
    return n.emitError() << "dilations, strides and pads must have " << k
                         << ", " << k << " and " << 2 * k << " values";
  RankedTensorType ty = n.inputType(0);
  if (ty.getRank() != 3 || ty.isDynamicDim(1) || ty.isDynamicDim(2))
    return n.emitError() << "input must be [N, C * prod(block_shape), L] "
                            "with static C * prod(block_shape) and L";
  int64_t taps = 1;
  SmallVector<int64_t> blocks;
  int64_t numBlocks = 1;
  for (int64_t i = 0; i < k; ++i) {
    if ((*block)[i] < 1 || (*image)[i] < 1 || (*dil)[i] < 1 ||
        (*strides)[i] < 1)
      return n.emitError() << "image_shape, block_shape, dilations and "
                              "strides must be positive";
    taps *= (*block)[i];
    if (taps > kMaxCol2ImTaps)
      return n.emitError() << "block_shape has more than " << kMaxCol2ImTaps
                           << " positions";
    int64_t span = (*dil)[i] * ((*block)[i] - 1) + 1;
    int64_t nb =
        ((*image)[i] + (*pads)[i] + (*pads)[k + i] - span) / (*strides)[i] + 1;
    if (nb < 1)
      return n.emitError() << "block_shape does not fit the padded image";
    blocks.push_back(nb);
    numBlocks *= nb;
  }
  if (ty.getDimSize(1) % taps != 0)
    return n.emitError() << "input dim 1 (" << ty.getDimSize(1)
                         << ") is not a multiple of prod(block_shape) (" << taps
                         << ")";
  if (ty.getDimSize(2) != numBlocks)
    return n.emitError() << "input has " << ty.getDimSize(2)
                         << " blocks, the image and block shapes give "
                         << numBlocks;
  int64_t channels = ty.getDimSize(1) / taps;
  auto ft = dyn_cast<FloatType>(ty.getElementType());
  if (!ft)
    return n.emitError() << "input must be a float tensor";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  SmallVector<OpFoldResult> sizes{dimOFR(b, loc, x, 0),
                                  b.getIndexAttr(channels)};
  for (int64_t v : *image)
    sizes.push_back(b.getIndexAttr(v));
  Value init = tensor::EmptyOp::create(b, loc, sizes, ft);
  Value y = parallelGeneric(
      b, loc, {}, {}, init, [&](OpBuilder &nb, Location l, ValueRange) {
        FloatMath fm{nb, l, ft};
        Type i64 = nb.getI64Type();
        auto ci = [&](int64_t v) {
          return arith::ConstantIntOp::create(nb, l, i64, v).getResult();
        };
        auto idx64 = [&](int64_t d) {
          return arith::IndexCastOp::create(nb, l, i64, loopIndex(nb, l, d))
              .getResult();
        };
        Value nI = loopIndex(nb, l, 0), c = idx64(1);
        Value acc = fm.c(0);
        for (int64_t t = 0; t < taps; ++t) {
          // Kernel offset of tap t (row-major over block_shape).
          SmallVector<int64_t> off(k);
          for (int64_t i = k - 1, rest = t; i >= 0; --i) {
            off[i] = rest % (*block)[i];
            rest /= (*block)[i];
          }
          Value ok, col;
          for (int64_t i = 0; i < k; ++i) {
            // p = pos + pad - off * dil must be a multiple of the stride
            // with p / stride a block.
            Value p = arith::SubIOp::create(
                nb, l,
                arith::AddIOp::create(nb, l, idx64(2 + i), ci((*pads)[i])),
                ci(off[i] * (*dil)[i]));
            Value q = arith::DivSIOp::create(nb, l, p, ci((*strides)[i]));
            Value rem = arith::RemSIOp::create(nb, l, p, ci((*strides)[i]));
            Value good = arith::AndIOp::create(
                nb, l,
                arith::AndIOp::create(
                    nb, l,
                    arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, p,
                                          ci(0)),
                    arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, rem,
                                          ci(0))),
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, q,
                                      ci(blocks[i])));
            ok = ok ? arith::AndIOp::create(nb, l, ok, good).getResult() : good;
            col = col ? arith::AddIOp::create(
                            nb, l,
                            arith::MulIOp::create(nb, l, col, ci(blocks[i])), q)
                            .getResult()
                      : q;
          }
          Value zero = ci(0);
          col = arith::SelectOp::create(nb, l, ok, col, zero);
          Value row = arith::AddIOp::create(
              nb, l, arith::MulIOp::create(nb, l, c, ci(taps)), ci(t));
          auto toIdx = [&](Value v) {
            return arith::IndexCastOp::create(nb, l, nb.getIndexType(), v)
                .getResult();
          };
          Value v = tensor::ExtractOp::create(
              nb, l, x, ValueRange{nI, toIdx(row), toIdx(col)});
          acc = fm.add(acc, fm.sel(ok, v, fm.c(0)));
        }
        return acc;
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// RoiAlign with a fixed sampling_ratio: each output bin averages (or takes
/// the max of) sampling_ratio^2 bilinear samples inside its run-time ROI, as
/// the ONNX reference (onnxruntime's kernel) computes them.
LogicalResult buildRoiAlign(ONNXNode &n) {
  constexpr int64_t kMaxSamples = 256;
  if (failed(n.checkArity(3, 3, 1, 1)))
    return failure();
  FailureOr<std::string> ctm =
      n.getString("coordinate_transformation_mode",
                  n.opset >= 16 ? "half_pixel" : "output_half_pixel");
  FailureOr<std::string> mode = n.getString("mode", "avg");
  FailureOr<int64_t> oh = n.getInt("output_height", 1);
  FailureOr<int64_t> ow = n.getInt("output_width", 1);
  FailureOr<int64_t> sr = n.getInt("sampling_ratio", 0);
  FailureOr<double> scaleAttr = n.getFloat("spatial_scale", 1.0);
  if (failed(ctm) || failed(mode) || failed(oh) || failed(ow) || failed(sr) ||
      failed(scaleAttr))
    return failure();
  if (*ctm != "half_pixel" && *ctm != "output_half_pixel")
    return n.emitError() << "coordinate_transformation_mode '" << *ctm
                         << "' is not one of 'half_pixel', 'output_half_pixel'";
  if (*mode != "avg" && *mode != "max")
    return n.emitError() << "mode '" << *mode << "' is not one of 'avg', 'max'";
  if (*oh < 1 || *ow < 1)
    return n.emitError() << "output_height and output_width must be positive";
  if (*sr <= 0)
    return n.emitError() << "sampling_ratio " << *sr
                         << " (adaptive: samples sized by each ROI at run "
                            "time) is not supported; give a positive one";
  if (*sr * *sr > kMaxSamples)
    return n.emitError() << "sampling_ratio " << *sr << " gives more than "
                         << kMaxSamples << " samples per bin";
  RankedTensorType xTy = n.inputType(0), rTy = n.inputType(1);
  auto ft = dyn_cast<FloatType>(xTy.getElementType());
  if (xTy.getRank() != 4 || !ft || xTy.isDynamicDim(2) || xTy.isDynamicDim(3))
    return n.emitError() << "X must be a float [N, C, H, W] with static H, W";
  if (rTy.getRank() != 2 || (!rTy.isDynamicDim(1) && rTy.getDimSize(1) != 4))
    return n.emitError() << "rois must be [num_rois, 4]";
  if (n.inputType(2).getRank() != 1)
    return n.emitError() << "batch_indices must be 1-D";
  bool halfPixel = *ctm == "half_pixel";
  bool isMax = *mode == "max";
  int64_t H = xTy.getDimSize(2), W = xTy.getDimSize(3), S = *sr;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0), rois = n.input(1), bidx = n.input(2);
  SmallVector<OpFoldResult> sizes{dimOFR(b, loc, rois, 0), dimOFR(b, loc, x, 1),
                                  b.getIndexAttr(*oh), b.getIndexAttr(*ow)};
  Value init = tensor::EmptyOp::create(b, loc, sizes, ft);
  Value y = parallelGeneric(
      b, loc, {}, {}, init, [&](OpBuilder &nb, Location l, ValueRange) {
        FloatMath fm{nb, l, ft};
        Value rI = loopIndex(nb, l, 0), cI = loopIndex(nb, l, 1);
        auto asFloat = [&](Value idx) {
          return arith::SIToFPOp::create(
                     nb, l, ft,
                     arith::IndexCastOp::create(nb, l, nb.getI64Type(), idx))
              .getResult();
        };
        Value ph = asFloat(loopIndex(nb, l, 2)),
              pw = asFloat(loopIndex(nb, l, 3));
        // Run-time indices are clamped into the input (a NaN ROI or a bad
        // batch index must not read outside it).
        auto clampIdx = [&](Value v, Value hi) {
          return arith::MinSIOp::create(
              nb, l, arith::MaxSIOp::create(nb, l, v, cIndex(nb, l, 0)), hi);
        };
        Value batch = clampIdx(
            toIndex(nb, l,
                    tensor::ExtractOp::create(nb, l, bidx, ValueRange{rI})),
            arith::SubIOp::create(nb, l, dimValue(nb, l, x, 0),
                                  cIndex(nb, l, 1)));
        auto roi = [&](int64_t j) {
          Value v = tensor::ExtractOp::create(nb, l, rois,
                                              ValueRange{rI, cIndex(nb, l, j)});
          v = convertScalar(nb, l, v, ft, false, false);
          return fm.sub(fm.mul(v, fm.c(*scaleAttr)), fm.c(halfPixel ? 0.5 : 0));
        };
        Value sw = roi(0), sh = roi(1), ew = roi(2), eh = roi(3);
        Value rw = fm.sub(ew, sw), rh = fm.sub(eh, sh);
        if (!halfPixel) {
          rw = arith::MaximumFOp::create(nb, l, rw, fm.c(1));
          rh = arith::MaximumFOp::create(nb, l, rh, fm.c(1));
        }
        Value bh = fm.div(rh, fm.c(*oh)), bw = fm.div(rw, fm.c(*ow));
        Value acc;
        for (int64_t iy = 0; iy < S; ++iy) {
          Value yy = fm.add(fm.add(sh, fm.mul(ph, bh)),
                            fm.div(fm.mul(fm.c(iy + 0.5), bh), fm.c(S)));
          for (int64_t ix = 0; ix < S; ++ix) {
            Value xx = fm.add(fm.add(sw, fm.mul(pw, bw)),
                              fm.div(fm.mul(fm.c(ix + 0.5), bw), fm.c(S)));
            Value outside = arith::OrIOp::create(
                nb, l,
                arith::OrIOp::create(nb, l, fm.lt(yy, fm.c(-1)),
                                     fm.gt(yy, fm.c(H))),
                arith::OrIOp::create(nb, l, fm.lt(xx, fm.c(-1)),
                                     fm.gt(xx, fm.c(W))));
            // Low/high neighbours and the fraction along one axis.
            auto axis = [&](Value v, int64_t len) {
              v = arith::MaximumFOp::create(nb, l, v, fm.c(0));
              Value low = fm.floor(v);
              Value atEnd = arith::CmpFOp::create(
                  nb, l, arith::CmpFPredicate::OGE, low, fm.c(len - 1));
              low = fm.sel(atEnd, fm.c(len - 1), low);
              Value high = fm.sel(atEnd, low, fm.add(low, fm.c(1)));
              Value frac = fm.sel(atEnd, fm.c(0), fm.sub(v, low));
              return std::tuple{low, high, frac};
            };
            auto [yl, yh, ly] = axis(yy, H);
            auto [xl, xh, lx] = axis(xx, W);
            Value hy = fm.sub(fm.c(1), ly), hx = fm.sub(fm.c(1), lx);
            auto at = [&](Value py, Value px) {
              auto idx = [&](Value v, int64_t len) {
                return clampIdx(
                    arith::IndexCastOp::create(
                        nb, l, nb.getIndexType(),
                        arith::FPToSIOp::create(nb, l, nb.getI64Type(), v)),
                    cIndex(nb, l, len - 1));
              };
              Value v = tensor::ExtractOp::create(
                  nb, l, x, ValueRange{batch, cI, idx(py, H), idx(px, W)});
              return convertScalar(nb, l, v, ft, false, false);
            };
            Value t1 = fm.mul(fm.mul(hy, hx), at(yl, xl));
            Value t2 = fm.mul(fm.mul(hy, lx), at(yl, xh));
            Value t3 = fm.mul(fm.mul(ly, hx), at(yh, xl));
            Value t4 = fm.mul(fm.mul(ly, lx), at(yh, xh));
            Value v;
            if (isMax) {
              auto mx = [&](Value a, Value c) {
                return arith::MaximumFOp::create(nb, l, a, c).getResult();
              };
              v = mx(mx(t1, t2), mx(t3, t4));
            } else {
              v = fm.add(fm.add(t1, t2), fm.add(t3, t4));
            }
            v = fm.sel(outside, fm.c(0), v);
            acc = !acc    ? v
                  : isMax ? arith::MaximumFOp::create(nb, l, acc, v).getResult()
                          : fm.add(acc, v);
          }
        }
        return isMax ? acc : fm.div(acc, fm.c(S * S));
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

/// MaxUnpool: zeros with each input element written at its index (flat over
/// the whole output, as MaxPool's Indices are), in input order; an
/// out-of-range index is clamped into the output.
LogicalResult buildMaxUnpool(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  FailureOr<SmallVector<int64_t>> kernel = n.getInts("kernel_shape", {});
  RankedTensorType xTy = n.inputType(0);
  int64_t r = xTy.getRank(), k = r - 2;
  FailureOr<SmallVector<int64_t>> strides =
      n.getInts("strides", SmallVector<int64_t>(std::max<int64_t>(k, 0), 1));
  FailureOr<SmallVector<int64_t>> pads =
      n.getInts("pads", SmallVector<int64_t>(std::max<int64_t>(2 * k, 0), 0));
  if (failed(kernel) || failed(strides) || failed(pads))
    return failure();
  if (k < 1 || !xTy.hasStaticShape())
    return n.emitError() << "X must be a static [N, C, spatial...] tensor";
  if (static_cast<int64_t>(kernel->size()) != k ||
      static_cast<int64_t>(strides->size()) != k ||
      static_cast<int64_t>(pads->size()) != 2 * k)
    return n.emitError() << "kernel_shape, strides and pads must have " << k
                         << ", " << k << " and " << 2 * k << " values";
  if (n.inputType(1) != xTy.clone(n.b.getI64Type()) ||
      n.inputDType(1) != kInt64)
    return n.emitError() << "I must be int64 of X's shape";
  // Indices address the inferred shape; a given output_shape (at least as
  // large) holds it in its leading corner, zeros elsewhere (the ONNX
  // reference).
  SmallVector<int64_t> inferred(xTy.getShape().take_front(2));
  for (int64_t i = 0; i < k; ++i)
    inferred.push_back((xTy.getDimSize(2 + i) - 1) * (*strides)[i] -
                       (*pads)[i] - (*pads)[k + i] + (*kernel)[i]);
  SmallVector<int64_t> outShape = inferred;
  if (n.hasInput(2)) {
    FailureOr<SmallVector<int64_t>> os = requireConstInts(n, 2, "output_shape");
    if (failed(os))
      return failure();
    if (static_cast<int64_t>(os->size()) != r || (*os)[0] != outShape[0] ||
        (*os)[1] != outShape[1])
      return n.emitError() << "output_shape must be [N, C, spatial...] of " << r
                           << " values matching X's N and C";
    outShape = *os;
    for (int64_t d = 0; d < r; ++d)
      if (outShape[d] < inferred[d])
        return n.emitError() << "output_shape dim " << d << " (" << outShape[d]
                             << ") is smaller than the " << inferred[d]
                             << " the pooling parameters give";
  }
  int64_t total = 1;
  for (int64_t d : inferred) {
    if (d < 1)
      return n.emitError() << "the output shape has a non-positive dim";
    total *= d;
  }
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0), ind = n.input(1);
  Type et = xTy.getElementType();
  Value zeros = linalg::FillOp::create(
                    b, loc, scalarConstant(b, loc, et, 0),
                    tensor::EmptyOp::create(b, loc, outShape, et).getResult())
                    .getResult(0);
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t d = 0; d < r; ++d) {
    lbs.push_back(cIndex(b, loc, 0));
    ubs.push_back(cIndex(b, loc, xTy.getDimSize(d)));
    steps.push_back(cIndex(b, loc, 1));
  }
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{zeros},
      [&](OpBuilder &nb, Location l, ValueRange ivs,
          ValueRange iter) -> scf::ValueVector {
        Value flat = toIndex(nb, l, tensor::ExtractOp::create(nb, l, ind, ivs));
        flat = arith::MinSIOp::create(
            nb, l, arith::MaxSIOp::create(nb, l, flat, cIndex(nb, l, 0)),
            cIndex(nb, l, total - 1));
        SmallVector<Value> dest(r);
        for (int64_t d = r - 1; d >= 0; --d) {
          Value size = cIndex(nb, l, inferred[d]);
          dest[d] = arith::RemUIOp::create(nb, l, flat, size);
          flat = arith::DivUIOp::create(nb, l, flat, size);
        }
        Value v = tensor::ExtractOp::create(nb, l, x, ivs);
        return {tensor::InsertOp::create(nb, l, v, iter[0], dest).getResult()};
      });
  n.setOutput(0, nest.results.front(), n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerSpatialOps(OpRegistry &r) {
  r.add("", "MaxUnpool", 9, buildMaxUnpool);
  r.add("", "MaxUnpool", 11, buildMaxUnpool); // output_shape input
  r.add("", "RoiAlign", 10, buildRoiAlign);
  r.add("", "RoiAlign", 16, buildRoiAlign); // coordinate_transformation_mode
  r.add("", "ReverseSequence", 10, buildReverseSequence);
  r.add("", "Col2Im", 18, buildCol2Im);
  r.add("", "AffineGrid", 20, buildAffineGrid);
  r.add("", "CenterCropPad", 18, buildCenterCropPad);
  r.add("", "Compress", 9, buildCompress);
  r.add("", "Compress", 11, buildCompress); // negative axes
  r.add("", "HannWindow", 17,
        [](ONNXNode &n) { return buildWindow(n, 0.5, 0.5, 0.0); });
  r.add("", "HammingWindow", 17, [](ONNXNode &n) {
    return buildWindow(n, 25.0 / 46.0, 21.0 / 46.0, 0.0);
  });
  r.add("", "BlackmanWindow", 17,
        [](ONNXNode &n) { return buildWindow(n, 0.42, 0.5, 0.08); });
  r.add("", "GridSample", 16, buildGridSample);
  r.add("", "GridSample", 20, buildGridSample); // N-D, linear/cubic names
  r.add("", "GridSample", 22, buildGridSample); // more types
}
