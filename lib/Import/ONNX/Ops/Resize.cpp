//===- Resize.cpp - Resize ------------------------------------------------===//
//
// Resize precomputes its per-axis source index (and weight) tables at
// import time from the constant scales/sizes, with ONNX Runtime's float
// arithmetic; the result is one linalg.generic that reads the input at
// the tabulated indices (nearest) or blends four of them (bilinear on
// [N, C, H, W]). Cubic, antialiased, tf_crop_and_resize and align_corners
// resizes (and linear ones of other axes) follow the ONNX reference's
// separable filter instead: one linalg.generic per resized axis, blending
// that axis's taps with weights tabulated in double precision.
// keep_aspect_ratio_policy picks one scale for all axes.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// The longest output axis Resize builds: its source-index and weight
/// tables are compile-time constants of one entry per output position.
constexpr int64_t kMaxResizeAxisLength = int64_t(1) << 24;

/// The most input positions one output position of an antialiased resize
/// blends (about 4 / scale for cubic, 2 / scale for linear).
constexpr int64_t kMaxResizeTaps = 256;

/// The source coordinate of output coordinate `x` (ONNX Runtime's float
/// formulas).

float originalCoordinate(StringRef mode, float x, float scale, float outLen,
                         float inLen) {
  if (mode == "half_pixel")
    return (x + 0.5f) / scale - 0.5f;
  if (mode == "half_pixel_symmetric") {
    float adjustment = outLen / (scale * inLen);
    float center = inLen / 2;
    float offset = center * (1 - adjustment);
    return offset + (x + 0.5f) / scale - 0.5f;
  }
  if (mode == "pytorch_half_pixel")
    return outLen > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (mode == "align_corners")
    return outLen == 1 ? 0.0f : x * (inLen - 1) / (outLen - 1);
  if (mode == "tf_half_pixel_for_nn")
    return (x + 0.5f) / scale;
  return x / scale; // asymmetric
}

int64_t nearestPixel(StringRef mode, float x, bool downsampling) {
  if (mode == "round_prefer_floor") {
    if (x == static_cast<float>(static_cast<int64_t>(x)) + 0.5f)
      return static_cast<int64_t>(x);
    return static_cast<int64_t>(std::round(x));
  }
  if (mode == "round_prefer_ceil")
    return static_cast<int64_t>(std::round(x));
  if (mode == "floor")
    return static_cast<int64_t>(std::floor(x));
  if (mode == "ceil")
    return static_cast<int64_t>(std::ceil(x));
  // "simple" (opset 10): ceil when downsampling, else truncate.
  return downsampling ? static_cast<int64_t>(std::ceil(x))
                      : static_cast<int64_t>(x);
}

Value i64Table(OpBuilder &b, Location loc, ArrayRef<int64_t> v) {
  auto ty =
      RankedTensorType::get({static_cast<int64_t>(v.size())}, b.getI64Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, v));
}

Value f32Table(OpBuilder &b, Location loc, ArrayRef<float> v) {
  auto ty =
      RankedTensorType::get({static_cast<int64_t>(v.size())}, b.getF32Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(ty, v));
}

/// How the separable (linear / cubic) filter weighs the input.
struct FilterSpec {
  bool cubic = false;
  bool antialias = false;
  bool excludeOutside = false;
  double cubicA = -0.75;
  double extrapolation = 0.0;
  std::string ctm = "half_pixel";
};

/// One axis of the filter: per output position, `taps` source indices
/// (clamped) and weights, and whether it is extrapolated (tf_crop_and_resize).
struct AxisFilter {
  int64_t taps = 0;
  SmallVector<int64_t> index; // [out][taps]
  SmallVector<float> weight;  // [out][taps]
  SmallVector<bool> extrapolated;
  bool anyExtrapolated = false;
};

/// The filter coefficients at `ratio` (onnx.reference's _linear_coeffs,
/// _cubic_coeffs and their _antialias forms).
SmallVector<double> filterCoeffs(const FilterSpec &s, double ratio,
                                 double scale) {
  double A = s.cubicA;
  if (!s.antialias) {
    if (!s.cubic)
      return {1 - ratio, ratio};
    double r1 = ratio + 1, q = 1 - ratio, q1 = q + 1;
    return {((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A,
            ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1,
            ((A + 2) * q - (A + 3)) * q * q + 1,
            ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A};
  }
  scale = std::min(scale, 1.0);
  SmallVector<double> c;
  if (!s.cubic) {
    int64_t start = static_cast<int64_t>(std::floor(-1 / scale) + 1);
    int64_t footprint = 2 - 2 * start;
    for (int64_t i = start; i < start + footprint; ++i)
      c.push_back(std::clamp(
          1 - std::fabs((static_cast<double>(i) - ratio) * scale), 0.0, 1.0));
  } else {
    int64_t start = static_cast<int64_t>(std::floor(-2 / scale) + 1);
    int64_t end = 2 - start;
    for (int64_t i = start; i < end; ++i) {
      double x = std::fabs(scale * (static_cast<double>(i) - ratio));
      double x2 = x * x, x3 = x2 * x;
      c.push_back(x <= 1  ? (A + 2) * x3 - (A + 3) * x2 + 1
                  : x < 2 ? A * x3 - 5 * A * x2 + 8 * A * x - 4 * A
                          : 0.0);
    }
  }
  double sum = 0;
  for (double v : c)
    sum += v;
  for (double &v : c)
    v /= sum;
  return c;
}

/// The filter of one axis (onnx.reference's _interpolate_1d_along_axis).
AxisFilter axisFilter(const FilterSpec &s, int64_t in, int64_t out,
                      double scale, double roiStart, double roiEnd) {
  AxisFilter f;
  double outW = scale * static_cast<double>(in);
  for (int64_t y = 0; y < out; ++y) {
    double yd = static_cast<double>(y), x;
    bool extrapolated = false;
    if (s.ctm == "align_corners") {
      x = outW == 1 ? 0.0 : yd * (in - 1) / (outW - 1);
    } else if (s.ctm == "asymmetric") {
      x = yd / scale;
    } else if (s.ctm == "tf_crop_and_resize") {
      x = outW == 1 ? (roiEnd - roiStart) * (in - 1) / 2
                    : yd * (roiEnd - roiStart) * (in - 1) / (outW - 1);
      x += roiStart * (in - 1);
      extrapolated = x < 0 || x > in - 1;
    } else if (s.ctm == "pytorch_half_pixel") {
      x = outW == 1 ? -0.5 : (yd + 0.5) / scale - 0.5;
    } else if (s.ctm == "half_pixel_symmetric") {
      double adjustment = static_cast<double>(out) / outW;
      double center = static_cast<double>(in) / 2;
      x = center * (1 - adjustment) + (yd + 0.5) / scale - 0.5;
    } else { // half_pixel
      x = (yd + 0.5) / scale - 0.5;
    }
    double fl = std::floor(x);
    bool integral = x == fl;
    SmallVector<double> c = filterCoeffs(s, integral ? 1.0 : x - fl, scale);
    int64_t taps = c.size();
    f.taps = taps;
    // The `taps` nearest indices, the lower ones first on ties.
    int64_t first = static_cast<int64_t>(fl) - taps / 2 + (integral ? 0 : 1);
    if (s.excludeOutside) {
      double sum = 0;
      for (int64_t k = 0; k < taps; ++k) {
        int64_t i = first + k;
        if (i < 0 || i >= in)
          c[k] = 0;
        sum += c[k];
      }
      if (sum != 0)
        for (double &v : c)
          v /= sum;
    }
    for (int64_t k = 0; k < taps; ++k) {
      f.index.push_back(std::clamp<int64_t>(first + k, 0, in - 1));
      f.weight.push_back(static_cast<float>(c[k]));
    }
    f.extrapolated.push_back(extrapolated);
    f.anyExtrapolated |= extrapolated;
  }
  return f;
}

/// `x` (float) filtered along `axis` with `f`: the weighted sum of its taps
/// per output position, in f32.
Value resizeAxis(OpBuilder &b, Location loc, Value x, int64_t axis,
                 const AxisFilter &f, double extrapolation) {
  MLIRContext *ctx = b.getContext();
  auto xTy = cast<RankedTensorType>(x.getType());
  int64_t r = xTy.getRank();
  int64_t out = static_cast<int64_t>(f.extrapolated.size());
  Type f32 = b.getF32Type();
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < r; ++d)
    sizes.push_back(d == axis ? b.getIndexAttr(out) : dimOFR(b, loc, x, d));
  Value init = tensor::EmptyOp::create(b, loc, sizes, f32);
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  for (int64_t k = 0; k < f.taps; ++k) {
    SmallVector<int64_t> idx;
    SmallVector<float> w;
    for (int64_t o = 0; o < out; ++o) {
      idx.push_back(f.index[o * f.taps + k]);
      w.push_back(f.weight[o * f.taps + k]);
    }
    ins.append({i64Table(b, loc, idx), f32Table(b, loc, w)});
    maps.append(2, dimRangeMap(ctx, r, axis, 1));
  }
  if (f.anyExtrapolated) {
    SmallVector<int64_t> e;
    for (bool v : f.extrapolated)
      e.push_back(v);
    ins.push_back(i64Table(b, loc, e));
    maps.push_back(dimRangeMap(ctx, r, axis, 1));
  }
  return parallelGeneric(
      b, loc, ins, maps, init, [&](OpBuilder &nb, Location l, ValueRange a) {
        SmallVector<Value> coords;
        for (int64_t d = 0; d < r; ++d)
          coords.push_back(loopIndex(nb, l, d));
        Value acc;
        for (int64_t k = 0; k < f.taps; ++k) {
          coords[axis] = toIndex(nb, l, a[2 * k]);
          Value v = tensor::ExtractOp::create(nb, l, x, coords);
          v = convertScalar(nb, l, v, f32, false, false);
          Value t = arith::MulFOp::create(nb, l, a[2 * k + 1], v);
          acc = acc ? arith::AddFOp::create(nb, l, acc, t).getResult() : t;
        }
        if (f.anyExtrapolated) {
          Value isExt = arith::CmpIOp::create(
              nb, l, arith::CmpIPredicate::ne, a[2 * f.taps],
              arith::ConstantIntOp::create(nb, l, nb.getI64Type(), 0));
          Value ev = arith::ConstantOp::create(
              nb, l, nb.getF32FloatAttr(static_cast<float>(extrapolation)));
          acc = arith::SelectOp::create(nb, l, isExt, ev, acc);
        }
        return acc;
      });
}

/// `v` converted elementwise to `elemTy` (identity when it already is).
Value convertScalarTensor(OpBuilder &b, Location loc, Value v, Type elemTy) {
  auto ty = cast<RankedTensorType>(v.getType());
  if (ty.getElementType() == elemTy)
    return v;
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < ty.getRank(); ++d)
    sizes.push_back(dimOFR(b, loc, v, d));
  Value init = tensor::EmptyOp::create(b, loc, sizes, elemTy);
  AffineMap id =
      AffineMap::getMultiDimIdentityMap(ty.getRank(), b.getContext());
  return parallelGeneric(
      b, loc, {v}, {id}, init, [&](OpBuilder &nb, Location l, ValueRange a) {
        return convertScalar(nb, l, a[0], elemTy, false, false);
      });
}

LogicalResult buildResize(ONNXNode &n) {
  int64_t opset = n.opset;
  if (failed(opset < 11   ? n.checkArity(2, 2, 1, 1)
             : opset < 13 ? n.checkArity(3, 4, 1, 1)
                          : n.checkArity(1, 4, 1, 1)))
    return failure();
  FailureOr<std::string> mode = n.getString("mode", "nearest");
  if (failed(mode))
    return failure();
  std::string ctm = "asymmetric", nearestMode = "simple";
  FilterSpec spec;
  if (opset >= 11) {
    FailureOr<std::string> c =
        n.getString("coordinate_transformation_mode", "half_pixel");
    FailureOr<std::string> nm =
        n.getString("nearest_mode", "round_prefer_floor");
    FailureOr<double> a = n.getFloat("cubic_coeff_a", -0.75);
    FailureOr<int64_t> exclude = n.getInt("exclude_outside", 0);
    FailureOr<double> extrapolation = n.getFloat("extrapolation_value", 0.0);
    if (failed(c) || failed(nm) || failed(a) || failed(exclude) ||
        failed(extrapolation))
      return failure();
    ctm = *c;
    nearestMode = *nm;
    spec.cubicA = *a;
    spec.excludeOutside = *exclude != 0;
    spec.extrapolation = *extrapolation;
  }
  std::string policy = "stretch";
  SmallVector<int64_t> axesAttr;
  if (opset >= 18) {
    FailureOr<int64_t> antialias = n.getInt("antialias", 0);
    FailureOr<SmallVector<int64_t>> axes = n.getInts("axes", {});
    FailureOr<std::string> pol =
        n.getString("keep_aspect_ratio_policy", "stretch");
    if (failed(antialias) || failed(axes) || failed(pol))
      return failure();
    if (*antialias != 0 && *antialias != 1)
      return n.emitError() << "antialias must be 0 or 1, got " << *antialias;
    spec.antialias = *antialias == 1;
    policy = *pol;
    if (policy != "stretch" && policy != "not_larger" &&
        policy != "not_smaller")
      return n.emitError() << "keep_aspect_ratio_policy '" << policy
                           << "' is not one of 'stretch', 'not_larger', "
                              "'not_smaller'";
    axesAttr = *axes;
  }
  if (*mode != "nearest" && *mode != "linear" && *mode != "cubic")
    return n.emitError() << "mode '" << *mode
                         << "' is not supported (nearest, linear and cubic "
                            "are)";
  if (*mode == "nearest" && spec.antialias)
    return n.emitError() << "antialias is not defined for mode 'nearest'";
  if (*mode == "nearest" && ctm == "tf_crop_and_resize")
    return n.emitError() << "coordinate_transformation_mode "
                            "'tf_crop_and_resize' is supported for linear and "
                            "cubic modes only";
  bool ctmOk = ctm == "half_pixel" || ctm == "pytorch_half_pixel" ||
               (opset >= 11 && ctm == "tf_crop_and_resize") ||
               ctm == "align_corners" || ctm == "asymmetric" ||
               (opset < 13 && ctm == "tf_half_pixel_for_nn") ||
               (opset >= 19 && ctm == "half_pixel_symmetric");
  if (!ctmOk)
    return n.emitError() << "coordinate_transformation_mode '" << ctm
                         << "' is not supported";
  if (opset >= 11 && nearestMode != "round_prefer_floor" &&
      nearestMode != "round_prefer_ceil" && nearestMode != "floor" &&
      nearestMode != "ceil")
    return n.emitError() << "nearest_mode '" << nearestMode
                         << "' is not one of 'round_prefer_floor', "
                            "'round_prefer_ceil', 'floor', 'ceil'";

  RankedTensorType xTy = n.inputType(0);
  int64_t r = xTy.getRank();
  if (r < 1)
    return n.emitError() << "input must have rank >= 1";
  // Which of scales / sizes is given (an empty tensor counts as absent).
  int64_t scalesIdx = opset < 11 ? 1 : 2, sizesIdx = 3;
  auto given = [&](int64_t i) {
    return n.hasInput(i) && n.inputType(i).getNumElements() != 0;
  };
  bool hasScales = given(scalesIdx), hasSizes = opset >= 11 && given(sizesIdx);
  if (hasScales == hasSizes)
    return n.emitError() << "exactly one of 'scales' and 'sizes' must be given";
  SmallVector<int64_t> axes;
  if (axesAttr.empty()) {
    for (int64_t i = 0; i < r; ++i)
      axes.push_back(i);
  } else {
    for (int64_t a : axesAttr) {
      FailureOr<int64_t> na = n.normalizeAxis(a, r, "axes");
      if (failed(na))
        return failure();
      axes.push_back(*na);
    }
  }
  SmallVector<float> scale(r, 1.0f);
  // The scales as the ONNX reference uses them (double): the given float,
  // or sizes / input size.
  SmallVector<double> exactScale(r, 1.0);
  SmallVector<int64_t> outLen(xTy.getShape());
  if (hasScales) {
    std::optional<SmallVector<double>> s = n.constantFloats(scalesIdx);
    if (!s)
      return n.emitError() << "scales must be a constant float tensor";
    if (s->size() != axes.size())
      return n.emitError() << "scales has " << s->size() << " values for "
                           << axes.size() << " axes";
    for (auto [a, v] : llvm::zip(axes, *s)) {
      if (!(v > 0))
        return n.emitError() << "scales must be positive, got " << v;
      scale[a] = static_cast<float>(v);
      exactScale[a] = static_cast<double>(scale[a]);
      if (xTy.isDynamicDim(a)) {
        if (scale[a] != 1.0f)
          return n.emitError()
                 << "axis " << a << " has a dynamic size and scale " << v
                 << "; only scale 1 is supported there";
        continue;
      }
      // In double, bounded before the conversion: a scale of 1e30 must not
      // overflow int64 (UB) nor ask for index tables of 1e9 entries.
      double len = static_cast<double>(scale[a]) *
                   static_cast<double>(xTy.getDimSize(a));
      if (!(len < double(kMaxResizeAxisLength)))
        return n.emitError()
               << "scale " << v << " on axis " << a
               << " gives an output length of " << len << ", more than the "
               << kMaxResizeAxisLength << " supported per axis";
      outLen[a] = static_cast<int64_t>(scale[a] *
                                       static_cast<float>(xTy.getDimSize(a)));
    }
  } else {
    std::optional<SmallVector<int64_t>> s = n.constantInts(sizesIdx);
    if (!s)
      return n.emitError() << "sizes (input #" << sizesIdx
                           << ") must be a constant int64 tensor";
    if (s->size() != axes.size())
      return n.emitError() << "sizes has " << s->size() << " values for "
                           << axes.size() << " axes";
    for (auto [a, v] : llvm::zip(axes, *s)) {
      if (v < 1)
        return n.emitError() << "sizes must be positive, got " << v;
      if (v > kMaxResizeAxisLength)
        return n.emitError() << "sizes asks for " << v << " on axis " << a
                             << ", more than the " << kMaxResizeAxisLength
                             << " supported per axis";
      if (xTy.isDynamicDim(a))
        return n.emitError() << "axis " << a
                             << " has a dynamic size; resizing it to a given "
                                "size is not supported";
      outLen[a] = v;
      scale[a] = static_cast<float>(v) / static_cast<float>(xTy.getDimSize(a));
      exactScale[a] = static_cast<double>(v) / xTy.getDimSize(a);
    }
    // keep_aspect_ratio_policy: one scale for all axes, the smallest
    // (not_larger) or largest (not_smaller); sizes rounded half up.
    if (policy != "stretch") {
      double one = policy == "not_larger" ? 1e300 : 0.0;
      for (int64_t a : axes)
        one = policy == "not_larger" ? std::min(one, exactScale[a])
                                     : std::max(one, exactScale[a]);
      for (int64_t a : axes) {
        exactScale[a] = one;
        scale[a] = static_cast<float>(one);
        outLen[a] = static_cast<int64_t>(one * xTy.getDimSize(a) + 0.5);
      }
    }
  }
  for (int64_t a = 0; a < r; ++a)
    if (outLen[a] == 0)
      return n.emitError() << "the output size of axis " << a << " is 0";

  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Value x = n.input(0);
  SmallVector<OpFoldResult> sizes;
  for (int64_t a = 0; a < r; ++a)
    sizes.push_back(xTy.isDynamicDim(a) ? dimOFR(b, loc, x, a)
                                        : b.getIndexAttr(outLen[a]));
  Type elemTy = xTy.getElementType();
  Value init = tensor::EmptyOp::create(b, loc, sizes, elemTy);
  auto origOf = [&](int64_t a, int64_t i) {
    return originalCoordinate(ctm, static_cast<float>(i), scale[a],
                              static_cast<float>(outLen[a]),
                              static_cast<float>(xTy.getDimSize(a)));
  };

  if (*mode == "nearest") {
    // One source-index table per axis that is not the identity.
    SmallVector<Value> tables;
    SmallVector<AffineMap> maps;
    SmallVector<int64_t> tableAxis(r, -1);
    for (int64_t a = 0; a < r; ++a) {
      if (xTy.isDynamicDim(a))
        continue; // scale 1: the identity
      int64_t in = xTy.getDimSize(a);
      SmallVector<int64_t> t;
      for (int64_t i = 0; i < outLen[a]; ++i) {
        int64_t p = nearestPixel(nearestMode, origOf(a, i), scale[a] < 1.0f);
        t.push_back(std::clamp<int64_t>(p, 0, in - 1));
      }
      bool identity = outLen[a] == in;
      for (int64_t i = 0; identity && i < outLen[a]; ++i)
        identity = t[i] == i;
      if (identity)
        continue;
      tableAxis[a] = tables.size();
      tables.push_back(i64Table(b, loc, t));
      maps.push_back(dimRangeMap(ctx, r, a, 1));
    }
    Value y = parallelGeneric(
        b, loc, tables, maps, init,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          SmallVector<Value> coords;
          for (int64_t a = 0; a < r; ++a)
            coords.push_back(tableAxis[a] < 0
                                 ? loopIndex(nb, l, a)
                                 : toIndex(nb, l, args[tableAxis[a]]));
          return tensor::ExtractOp::create(nb, l, x, coords).getResult();
        });
    n.setOutput(0, y, n.inputDType(0));
    return success();
  }

  if (!isa<FloatType>(elemTy))
    return n.emitError() << *mode << " mode needs a float input, got "
                         << dtypeName(n.inputDType(0));
  // Cubic, antialiasing, tf_crop_and_resize, align_corners and linear
  // resizes of other axes than H and W of [N, C, H, W]: the ONNX
  // reference's separable filter, one pass per resized axis.
  if (*mode == "cubic" || spec.antialias || ctm == "tf_crop_and_resize" ||
      ctm == "align_corners" || r != 4 || scale[0] != 1.0f ||
      scale[1] != 1.0f || outLen[0] != xTy.getDimSize(0) ||
      outLen[1] != xTy.getDimSize(1) || xTy.isDynamicDim(2) ||
      xTy.isDynamicDim(3)) {
    spec.cubic = *mode == "cubic";
    spec.ctm = ctm;
    SmallVector<double> roi;
    if (ctm == "tf_crop_and_resize") {
      std::optional<SmallVector<double>> rv =
          n.hasInput(1) ? n.constantFloats(1) : std::nullopt;
      if (!rv)
        return n.emitError() << "roi (input #1) must be a constant with "
                                "coordinate_transformation_mode "
                                "'tf_crop_and_resize'";
      if (rv->size() != 2 * axes.size())
        return n.emitError() << "roi has " << rv->size() << " values, expected "
                             << 2 * axes.size();
      roi.assign(2 * r, 0.0);
      for (int64_t a = 0; a < r; ++a)
        roi[r + a] = 1.0;
      for (auto [i, a] : llvm::enumerate(axes)) {
        roi[a] = (*rv)[i];
        roi[r + a] = (*rv)[axes.size() + i];
      }
    }
    Value cur = x;
    for (int64_t a = 0; a < r; ++a) {
      bool identityRoi = roi.empty() || (roi[a] == 0.0 && roi[r + a] == 1.0);
      if (std::fabs(exactScale[a] - 1.0) < 1e-9 &&
          outLen[a] == xTy.getDimSize(a) && identityRoi)
        continue;
      if (xTy.isDynamicDim(a))
        return n.emitError() << *mode << " mode needs a static size on the "
                             << "resized axis " << a;
      // Antialiasing widens the filter by 1 / scale: bounded, as the
      // taps are unrolled into the generated code.
      if (spec.antialias && exactScale[a] < 1) {
        double taps = (spec.cubic ? 4 : 2) / exactScale[a] + 2;
        if (!(taps <= kMaxResizeTaps))
          return n.emitError()
                 << "antialias with scale " << exactScale[a] << " on axis " << a
                 << " needs about " << static_cast<int64_t>(taps)
                 << " taps, more than the " << kMaxResizeTaps << " supported";
      }
      AxisFilter f = axisFilter(spec, xTy.getDimSize(a), outLen[a],
                                exactScale[a], roi.empty() ? 0.0 : roi[a],
                                roi.empty() ? 1.0 : roi[r + a]);
      cur = resizeAxis(b, loc, cur, a, f, spec.extrapolation);
    }
    n.setOutput(0, convertScalarTensor(b, loc, cur, elemTy), n.inputDType(0));
    return success();
  }
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  for (int64_t a : {2, 3}) {
    int64_t in = xTy.getDimSize(a);
    SmallVector<int64_t> lo, hi;
    SmallVector<float> wlo, whi;
    for (int64_t i = 0; i < outLen[a]; ++i) {
      float c =
          std::max(0.0f, std::min(origOf(a, i), static_cast<float>(in - 1)));
      int64_t x1 = std::min(static_cast<int64_t>(c), in - 1);
      int64_t x2 = std::min(x1 + 1, in - 1);
      float d1 = std::fabs(c - static_cast<float>(x1));
      float d2 = std::fabs(c - static_cast<float>(x2));
      if (x1 == x2)
        d1 = d2 = 0.5f;
      lo.push_back(x1);
      hi.push_back(x2);
      wlo.push_back(d2);
      whi.push_back(d1);
    }
    ins.append({i64Table(b, loc, lo), i64Table(b, loc, hi),
                f32Table(b, loc, wlo), f32Table(b, loc, whi)});
    maps.append(4, dimRangeMap(ctx, 4, a, 1));
  }
  Type f32 = b.getF32Type();
  Value y = parallelGeneric(
      b, loc, ins, maps, init, [&](OpBuilder &nb, Location l, ValueRange a) {
        Value nI = loopIndex(nb, l, 0), cI = loopIndex(nb, l, 1);
        Value h1 = toIndex(nb, l, a[0]), h2 = toIndex(nb, l, a[1]);
        Value w1 = toIndex(nb, l, a[4]), w2 = toIndex(nb, l, a[5]);
        auto at = [&](Value h, Value w) {
          Value v =
              tensor::ExtractOp::create(nb, l, x, ValueRange{nI, cI, h, w});
          return convertScalar(nb, l, v, f32, false, false);
        };
        auto lerp = [&](Value p, Value q, Value wp, Value wq) {
          Value s = arith::MulFOp::create(nb, l, wp, p);
          Value t = arith::MulFOp::create(nb, l, wq, q);
          return arith::AddFOp::create(nb, l, s, t).getResult();
        };
        Value top = lerp(at(h1, w1), at(h1, w2), a[6], a[7]);
        Value bottom = lerp(at(h2, w1), at(h2, w2), a[6], a[7]);
        Value v = lerp(top, bottom, a[2], a[3]);
        return convertScalar(nb, l, v, elemTy, false, false);
      });
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerResizeOps(OpRegistry &r) {
  // Upsample-9 is Resize-10 (scales as an input, asymmetric coordinates).
  r.add("", "Upsample", 9, buildResize);
  r.add("", "Resize", 10, buildResize);
  r.add("", "Resize", 11, buildResize); // roi/sizes, coordinate modes
  r.add("", "Resize", 13, buildResize); // optional roi/scales
  r.add("", "Resize", 18, buildResize); // antialias, axes, aspect policy
  r.add("", "Resize", 19, buildResize); // half_pixel_symmetric
}
