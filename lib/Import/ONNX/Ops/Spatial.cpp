//===- Spatial.cpp - GridSample, AffineGrid, CenterCropPad, Compress ------===//
//
// Spatial sampling operators, each one linalg.generic over its output:
//  - GridSample: every output position reads its sampling location from the
//    grid, denormalizes it, applies the padding mode and blends 1 (nearest),
//    2^k (linear) or 4^k (cubic) input pixels, as the ONNX reference does.
//  - AffineGrid: theta times the normalized base grid.
// CenterCropPad is a slice and a pad, Compress a gather with the indices of
// a constant condition.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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

} // namespace

void mlir::qopt::onnx_import::registerSpatialOps(OpRegistry &r) {
  r.add("", "GridSample", 16, buildGridSample);
  r.add("", "GridSample", 20, buildGridSample); // N-D, linear/cubic names
  r.add("", "GridSample", 22, buildGridSample); // more types
}
