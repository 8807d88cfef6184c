//===- Resize.cpp - Resize ------------------------------------------------===//
//
// Resize precomputes its per-axis source index (and weight) tables at
// import time from the constant scales/sizes, with ONNX Runtime's float
// arithmetic; the result is one linalg.generic that reads the input at
// the tabulated indices (nearest) or blends four of them (linear).
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
  if (opset >= 11) {
    FailureOr<std::string> c =
        n.getString("coordinate_transformation_mode", "half_pixel");
    FailureOr<std::string> nm =
        n.getString("nearest_mode", "round_prefer_floor");
    // cubic_coeff_a and exclude_outside only matter for cubic,
    // extrapolation_value only for tf_crop_and_resize: both rejected below.
    if (failed(c) || failed(nm) || failed(n.getFloat("cubic_coeff_a", -0.75)) ||
        failed(n.getInt("exclude_outside", 0)) ||
        failed(n.getFloat("extrapolation_value", 0.0)))
      return failure();
    ctm = *c;
    nearestMode = *nm;
  }
  SmallVector<int64_t> axesAttr;
  if (opset >= 18) {
    FailureOr<int64_t> antialias = n.getInt("antialias", 0);
    FailureOr<SmallVector<int64_t>> axes = n.getInts("axes", {});
    FailureOr<std::string> policy =
        n.getString("keep_aspect_ratio_policy", "stretch");
    if (failed(antialias) || failed(axes) || failed(policy))
      return failure();
    if (*antialias != 0)
      return n.emitError() << "antialias = " << *antialias
                           << " is not supported";
    if (*policy != "stretch")
      return n.emitError() << "keep_aspect_ratio_policy '" << *policy
                           << "' is not supported (only 'stretch')";
    axesAttr = *axes;
  }
  if (*mode != "nearest" && *mode != "linear")
    return n.emitError() << "mode '" << *mode
                         << "' is not supported (nearest and linear are)";
  if (ctm == "tf_crop_and_resize")
    return n.emitError()
           << "coordinate_transformation_mode 'tf_crop_and_resize' is not "
              "supported";
  bool ctmOk = ctm == "half_pixel" || ctm == "pytorch_half_pixel" ||
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
      return n.emitError() << "sizes must be a constant int64 tensor";
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

  // Bilinear on [N, C, H, W] (ONNX Runtime's UpsampleBilinear).
  if (r != 4 || scale[0] != 1.0f || scale[1] != 1.0f ||
      outLen[0] != xTy.getDimSize(0) || outLen[1] != xTy.getDimSize(1))
    return n.emitError() << "linear mode is supported for 4-D [N, C, H, W] "
                            "inputs resized along H and W only";
  if (xTy.isDynamicDim(2) || xTy.isDynamicDim(3))
    return n.emitError() << "linear mode needs static H and W";
  if (!isa<FloatType>(elemTy))
    return n.emitError() << "linear mode needs a float input, got "
                         << dtypeName(n.inputDType(0));
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
  r.add("", "Resize", 10, buildResize);
  r.add("", "Resize", 11, buildResize); // roi/sizes, coordinate modes
  r.add("", "Resize", 13, buildResize); // optional roi/scales
  r.add("", "Resize", 18, buildResize); // antialias, axes, aspect policy
  r.add("", "Resize", 19, buildResize); // half_pixel_symmetric
}
