//===- Quantize.cpp - post-training quantization of linear layers and convs
//===//
//
// Schemes (docs/Quantization/Schemes.md):
//   w8a8          static: calibrated per-tensor activations, int8 weights
//                 per output channel; linear layers become qopt.qlinear
//                 (integer kernels), convolutions the QDQ form;
//   w8a8-dynamic  per-token activation scales at run time (linear layers);
//   w8            weight-only int8 per channel;
//   nf4           weight-only NF4 (QLoRA's NormalFloat levels, absmax per
//                 block of group-size), two codes per byte;
//   w4            weight-only 4-bit block-wise (group-size, symmetric int4
//                 (int4-scale: mse, signed-extreme or absmax; Int4Blocks.h)
//                 or asymmetric uint4 with zero points), two per byte; a K
//                 that is not a multiple of the group pads the last block;
//                 w4-activations=int8: int8 activations per token and
//                 block at run time (qlinear activation dynamic_block).
//
//===----------------------------------------------------------------------===//

#include "IntegerConv.h"
#include "IntegerDepthwise.h"
#include "WeightRounding.h"
#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Support/GPTQ.h"
#include "qopt/Support/Int4Blocks.h"
#include "qopt/Support/NF4.h"
#include "qopt/Support/QuantMath.h"
#include "qopt/Support/WeightScheme.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace mlir::qopt {
#define GEN_PASS_DEF_QUANTIZEPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The largest K whose i32 sums of (u8 - zp) x s8 products cannot overflow:
/// 255 * 128 * K < 2^31 (REFERENCE.md).
constexpr int64_t kMaxIntegerK = 65793;

/// A constant holding `values` as a dense_resource blob named `name`.
template <typename T>
Value blobConstant(OpBuilder &b, Location loc, RankedTensorType type,
                   StringRef name, ArrayRef<T> values) {
  auto blob = HeapAsmResourceBlob::allocateAndCopyInferAlign(values);
  return arith::ConstantOp::create(
      b, loc, DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

/// int8 symmetric per output channel (axis 0) of a [N, ...] weight.
struct ChannelInt8 {
  std::vector<int8_t> values;
  SmallVector<double> scales;
};

std::optional<ChannelInt8> quantizePerChannel(const std::vector<float> &w,
                                              ArrayRef<int64_t> shape) {
  std::vector<int64_t> dims(shape.begin(), shape.end());
  auto params = ::qopt::choosePerAxisParams(
      w, dims, 0, ::qopt::StorageType::Int8, /*symmetric=*/true);
  if (!params)
    return std::nullopt;
  int64_t rows = shape[0], cols = int64_t(w.size()) / rows;
  ChannelInt8 out;
  out.values.resize(w.size());
  ::qopt::StorageRange range = ::qopt::storageRange(::qopt::StorageType::Int8);
  for (int64_t r = 0; r < rows; ++r) {
    const ::qopt::QuantParams &p = (*params)[size_t(r)];
    out.scales.push_back(p.scale);
    for (int64_t c = 0; c < cols; ++c)
      out.values[size_t(r * cols + c)] =
          int8_t(::qopt::quantizeValue(w[size_t(r * cols + c)], p, range));
  }
  return out;
}

/// 4-bit block-wise [N, K]: per group of `group` k, symmetric int4 (zero
/// point 0) or asymmetric uint4; values packed two per byte, even k in the
/// low nibble.
struct Blocked4 {
  std::vector<int8_t> packed, zeroPoints;
  std::vector<float> scales;
};

std::optional<Blocked4> quantizeBlocked4(const std::vector<float> &w, int64_t n,
                                         int64_t k, int64_t group,
                                         bool symmetric,
                                         ::qopt::Int4Scale method) {
  ::qopt::StorageType type =
      symmetric ? ::qopt::StorageType::Int4 : ::qopt::StorageType::UInt4;
  ::qopt::StorageRange range = ::qopt::storageRange(type);
  Blocked4 out;
  out.packed.assign(size_t(n * k / 2), 0);
  std::vector<int8_t> q(static_cast<size_t>(group));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < k / group; ++g) {
      const float *v = w.data() + r * k + g * group;
      if (symmetric) {
        std::optional<float> scale =
            ::qopt::quantizeInt4Block(v, group, method, q.data());
        if (!scale)
          return std::nullopt;
        out.scales.push_back(*scale);
        out.zeroPoints.push_back(0);
      } else {
        std::optional<::qopt::UInt4Params> p =
            ::qopt::quantizeUInt4Block(v, group, method, q.data());
        if (!p)
          return std::nullopt;
        out.scales.push_back(p->scale);
        out.zeroPoints.push_back(int8_t(p->zeroPoint));
      }
      for (int64_t i = 0; i < group; ++i) {
        int64_t kk = g * group + i;
        int nib = int(q[size_t(i)]) & 15;
        out.packed[size_t((r * k + kk) / 2)] |= int8_t(nib << ((kk % 2) * 4));
      }
    }
  return out;
}

/// `w` [n, k] with each row padded with zeros to `kp` columns (the last
/// 4-bit block of a K that is not a multiple of the group; zeros change
/// neither a block's extreme nor its error).
std::vector<float> padColumns(const std::vector<float> &w, int64_t n, int64_t k,
                              int64_t kp) {
  if (kp == k)
    return w;
  std::vector<float> out(size_t(n * kp), 0.0f);
  for (int64_t r = 0; r < n; ++r)
    std::copy(w.begin() + r * k, w.begin() + (r + 1) * k, out.begin() + r * kp);
  return out;
}

struct QuantizePass : mlir::qopt::impl::QuantizePassBase<QuantizePass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerQuantizableLayerExternalModels(registry);
  }

  /// The schemes with block-wise 4-bit weights.
  bool isBlocked4() const {
    return scheme == QuantScheme::W4 || scheme == QuantScheme::NF4;
  }

  /// The observer's calibrated per-tensor type, or a diagnostic.
  FailureOr<quant::UniformQuantizedType> observerType(ObserveOp observer) {
    CalibrationAttr calibration = observer.getCalibrationAttr();
    if (!calibration) {
      observer.emitOpError("qopt-quantize: observer ")
          << observer.getId()
          << " has no quantization parameters (run qopt-calibrate)";
      return failure();
    }
    return calibration.getType();
  }

  /// weight-granularity and weight-symmetric: the schemes they apply to.
  LogicalResult checkSchemeChoiceOptions(ModuleOp module) {
    if (weightGranularity != WeightGranularity::PerChannel && isBlocked4())
      return module.emitError("qopt-quantize: weight-granularity=")
             << (weightGranularity == WeightGranularity::PerTensor
                     ? "per-tensor"
                     : "auto")
             << " is for int8 weights (w8a8, w8a8-dynamic, w8); "
             << stringifyQuantScheme(scheme)
             << " weights have one scale per block of group-size";
    if (weightSymmetric != WeightSymmetry::Auto)
      return success();
    if (scheme != QuantScheme::W4)
      return module.emitError("qopt-quantize: weight-symmetric=auto is for "
                              "w4 (int8 weights are symmetric: the int8 "
                              "kernels take no weight zero point; nf4 has "
                              "none), not ")
             << stringifyQuantScheme(scheme);
    if (int4Scale != Int4ScaleMethod::MSE)
      return module.emitError("qopt-quantize: weight-symmetric=auto compares "
                              "int4 and uint4 with int4-scale=mse (the rule "
                              "both take), not int4-scale=")
             << (int4Scale == Int4ScaleMethod::SignedExtreme ? "signed-extreme"
                 : int4Scale == Int4ScaleMethod::AbsMax      ? "absmax"
                                                             : "minmax");
    if (weightRounding != WeightRounding::Nearest)
      return module.emitError("qopt-quantize: weight-symmetric=auto compares "
                              "round-to-nearest int4 and uint4, not weight-"
                              "rounding=")
             << stringifyWeightRounding(weightRounding)
             << " (GPTQ's 4-bit weights are symmetric: use "
                "weight-symmetric=true)";
    return success();
  }

  /// Whether a layer's scheme is chosen by error (needs its moments).
  bool choosesScheme() const {
    return weightGranularity == WeightGranularity::Auto ||
           (scheme == QuantScheme::W4 &&
            weightSymmetric == WeightSymmetry::Auto);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (form == QuantizedLinearForm::QDQ && scheme != QuantScheme::W8A8) {
      module.emitError("qopt-quantize: form=qdq is for scheme w8a8 only");
      return signalPassFailure();
    }
    if (doubleQuant && scheme != QuantScheme::NF4) {
      module.emitError("qopt-quantize: double-quant is for scheme=nf4 only");
      return signalPassFailure();
    }
    bool symmetricOption = weightSymmetric == WeightSymmetry::Symmetric;
    if (scheme == QuantScheme::W4 && weightSymmetric != WeightSymmetry::Auto &&
        (symmetricOption ? int4Scale == Int4ScaleMethod::MinMax
                         : (int4Scale == Int4ScaleMethod::SignedExtreme ||
                            int4Scale == Int4ScaleMethod::AbsMax))) {
      module.emitError("qopt-quantize: int4-scale=")
          << (symmetricOption ? "minmax is for asymmetric uint4 "
                                "(weight-symmetric=false)"
                              : "signed-extreme and absmax are for "
                                "symmetric int4; uint4 takes mse or minmax");
      return signalPassFailure();
    }
    if (failed(checkSchemeChoiceOptions(module)))
      return signalPassFailure();
    if (weightRounding != WeightRounding::Nearest &&
        (scheme == QuantScheme::NF4 ||
         (scheme == QuantScheme::W4 &&
          weightSymmetric == WeightSymmetry::Asymmetric))) {
      module.emitError("qopt-quantize: weight-rounding=")
          << stringifyWeightRounding(weightRounding)
          << " is for w8a8, w8a8-dynamic, w8 and symmetric w4 weights, not "
          << (scheme == QuantScheme::NF4 ? "nf4" : "asymmetric uint4");
      return signalPassFailure();
    }
    if (biasCorrection && scheme == QuantScheme::NF4) {
      module.emitError("qopt-quantize: bias-correction is not supported for "
                       "nf4");
      return signalPassFailure();
    }
    if (!(gptqDamp >= 0 && gptqDamp < 1)) {
      module.emitError("qopt-quantize: gptq-damp must be in [0, 1), got ")
          << gptqDamp;
      return signalPassFailure();
    }
    if (isBlocked4() && (groupSize <= 0 || groupSize % 2 != 0)) {
      module.emitError("qopt-quantize: group-size must be a positive even "
                       "number, got ")
          << int64_t(groupSize);
      return signalPassFailure();
    }
    if (w4Activations != ActivationMode::None) {
      if (w4Activations != ActivationMode::DynamicBlock ||
          scheme != QuantScheme::W4) {
        module.emitError("qopt-quantize: w4-activations=int8 is for "
                         "scheme=w4, not ")
            << stringifyQuantScheme(scheme);
        return signalPassFailure();
      }
      if (groupSize % 8 != 0) {
        module.emitError("qopt-quantize: w4-activations=int8 needs a "
                         "group-size that is a multiple of 8 (the int8 "
                         "kernel's blocks of k), got ")
            << int64_t(groupSize);
        return signalPassFailure();
      }
    }
    llvm::Regex excluded(exclude), included(include);
    std::string regexError;
    for (auto [re, text, what] :
         {std::tuple{&excluded, std::string(exclude), "exclude"},
          std::tuple{&included, std::string(include), "include"}})
      if (!text.empty() && !re->isValid(regexError)) {
        module.emitError("qopt-quantize: ")
            << what << " regex '" << text << "': " << regexError;
        return signalPassFailure();
      }

    SmallVector<QuantizableLayerOpInterface> layers;
    int64_t alreadyQuantized = 0;
    module.walk([&](QuantizableLayerOpInterface layer) {
      if (!layer.isQuantizedLayer())
        layers.push_back(layer);
      else
        ++alreadyQuantized;
    });
    // Every layer left float, with why (the report lists them).
    SmallVector<std::pair<Operation *, NotQuantizedReason>> leftFloat;
    int64_t quantized = 0;
    for (QuantizableLayerOpInterface layer : layers) {
      Operation *op = layer;
      // An earlier run's reason (--accuracy-target calibrates with every
      // layer left float) would carry over to the quantized op; a layer
      // still float gets it again below.
      op->removeAttr(NotQuantizedReasonAttr::getAttrName());
      std::string name = layer.getLayerName();
      std::optional<NotQuantizedReason> skip;
      if (!exclude.empty() && !name.empty() && excluded.match(name))
        skip = NotQuantizedReason::Excluded;
      else if (!include.empty() && !included.match(name))
        skip = NotQuantizedReason::NotIncluded;
      LogicalResult r = success();
      if (skip)
        ; // stays float
      else if (auto linear = dyn_cast<LinearOp>(op))
        r = quantizeLinear(linear, name, skip);
      else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(op))
        r = quantizeConv(conv, name, skip);
      else
        skip = NotQuantizedReason::Scheme;
      if (failed(r))
        return signalPassFailure();
      if (skip)
        leftFloat.push_back({op, *skip});
      else
        ++quantized;
    }
    // W8A8 with int8-depthwise: depthwise convolutions (grouped generics,
    // not layers) in int8 too (IntegerDepthwise.h), selected by their ONNX
    // node names.
    if (int8Depthwise && scheme == QuantScheme::W8A8 &&
        form == QuantizedLinearForm::QLinear) {
      FailureOr<int64_t> depthwise =
          quantizeDepthwiseConvs(module, [&](const std::string &name) {
            if (!exclude.empty() && !name.empty() && excluded.match(name))
              return false;
            return include.empty() || included.match(name);
          });
      if (failed(depthwise))
        return signalPassFailure();
      quantized += *depthwise;
    }
    // Matmul-like ops that are not layers: contractions without a constant
    // operand (products of activations, weights computed at run time), or
    // with one that is not a 2-D matrix.
    module.walk([&](linalg::LinalgOp op) {
      if (isa<QuantizableLayerOpInterface>(op.getOperation()) ||
          !linalg::isaContractionOpInterface(op))
        return;
      bool constantOperand = llvm::any_of(op.getDpsInputs(), [](Value v) {
        return bool(v.getDefiningOp<arith::ConstantOp>());
      });
      leftFloat.push_back({op, constantOperand
                                   ? NotQuantizedReason::Shape
                                   : NotQuantizedReason::DynamicWeight});
    });
    for (auto [op, reason] : leftFloat)
      op->setAttr(NotQuantizedReasonAttr::getAttrName(),
                  NotQuantizedReasonAttr::get(op->getContext(), reason));
    if (quantized == 0 && alreadyQuantized == 0 && !allowNoLayer) {
      // A requested scheme that changes nothing would pass a float model
      // off as quantized.
      InFlightDiagnostic diag = module.emitError("qopt-quantize: scheme ")
                                << stringifyQuantScheme(scheme)
                                << " quantized no layer";
      if (leftFloat.empty())
        diag << ": the model has no MatMul, Gemm or Conv with a constant "
                "weight (quant-compile --list-layers lists the layers)";
      else
        diag << ": " << leftFloat.size()
             << " matmul-like op(s) left float (qopt.not_quantized says why)";
      for (auto [op, reason] : ArrayRef(leftFloat).take_front(8)) {
        std::string name;
        if (auto layer = dyn_cast<QuantizableLayerOpInterface>(op))
          name = layer.getLayerName();
        diag.attachNote(op->getLoc())
            << op->getName() << (name.empty() ? "" : " '") << name
            << (name.empty() ? "" : "'") << ": "
            << stringifyNotQuantizedReason(reason);
      }
      return signalPassFailure();
    }
    // Observers all of whose consumers were quantized are done with, and
    // so are the float weights nothing reads any more.
    // The moments of the layers quantized here are used up (those of
    // layers left float stay: --accuracy-target quantizes them later).
    for (Operation *op : usedMoments) {
      auto observer = cast<ObserveOp>(op);
      if (feedsFloatLayer(observer.getResult()))
        continue; // shared with a layer left float
      observer.getResult().replaceAllUsesWith(observer.getInput());
      observer->erase();
    }
    module.walk([](ObserveOp observer) {
      if (observer->use_empty())
        observer->erase();
    });
    for (Value w : replacedWeights)
      if (auto c = w.getDefiningOp<arith::ConstantOp>(); c && c->use_empty())
        c->erase();
  }

  /// The per-tensor QDQ of an observed activation (one per observer).
  FailureOr<Value> qdqActivation(ObserveOp observer) {
    Value &act = qdqOf[observer];
    if (act)
      return act;
    FailureOr<quant::UniformQuantizedType> qTy = observerType(observer);
    if (failed(qTy))
      return failure();
    auto xTy = cast<RankedTensorType>(observer.getInput().getType());
    OpBuilder b(observer->getContext());
    b.setInsertionPointAfter(observer);
    Value q = QuantizeOp::create(b, observer.getLoc(), xTy.clone(*qTy),
                                 observer.getInput());
    act = DequantizeOp::create(b, observer.getLoc(), xTy, q);
    return act;
  }

  /// The weight as int8 per channel, dequantized (QDQ form).
  Value qdqWeight(OpBuilder &b, Location loc, Value weight,
                  const ChannelInt8 &q, StringRef name) {
    auto weightTy = cast<RankedTensorType>(weight.getType());
    auto intTy = weightTy.clone(b.getI8Type());
    Value ints =
        blobConstant<int8_t>(b, loc, intTy, (name + ".int8").str(), q.values);
    SmallVector<int64_t> zps(q.scales.size(), 0);
    auto wqTy = quant::UniformQuantizedPerAxisType::get(
        quant::QuantizationFlags::Signed, b.getI8Type(), b.getF32Type(),
        q.scales, zps, /*quantizedDimension=*/0, -128, 127);
    Value wq = quant::StorageCastOp::create(b, loc, weightTy.clone(wqTy), ints);
    return DequantizeOp::create(b, loc, weightTy, wq);
  }

  /// A linear layer's weight in its stored quantized form.
  struct StoredWeight {
    Value weight, scale, zeroPoint, scaleScale;
    FloatAttr scaleOffset;
    WeightFormat format = WeightFormat::Int8;
    int64_t group = 0;
  };

  FailureOr<StoredWeight> storeWeight(OpBuilder &b, Location loc,
                                      const std::vector<float> &w,
                                      RankedTensorType weightTy,
                                      const std::string &name, bool blocked) {
    int64_t n = weightTy.getDimSize(0), k = weightTy.getDimSize(1);
    Type f32 = b.getF32Type(), i8 = b.getI8Type();
    StoredWeight out;
    if (blocked) {
      // The last block padded with zeros: K rounded up to the group.
      int64_t kp = (k + groupSize - 1) / groupSize * groupSize;
      std::vector<float> padded = padColumns(w, n, k, kp);
      return storeBlocked(b, loc, padded, n, kp, name);
    }
    std::optional<ChannelInt8> q = weightPerChannel(w, weightTy.getShape());
    if (!q)
      return failure();
    out.format = WeightFormat::Int8;
    out.weight = blobConstant<int8_t>(b, loc, weightTy.clone(i8),
                                      name + ".int8", q->values);
    std::vector<float> scales(q->scales.begin(), q->scales.end());
    out.scale = blobConstant<float>(b, loc, RankedTensorType::get({n}, f32),
                                    name + ".scale", scales);
    return out;
  }

  /// A 4-bit weight [n, k] (k a multiple of the group) packed, with its
  /// block scales (and zero points).
  FailureOr<StoredWeight> storeBlocked(OpBuilder &b, Location loc,
                                       const std::vector<float> &w, int64_t n,
                                       int64_t k, const std::string &name) {
    Type f32 = b.getF32Type(), i8 = b.getI8Type();
    StoredWeight out;
    if (!llvm::all_of(w, [](float v) { return std::isfinite(v); })) {
      currentOp->emitOpError("qopt-quantize: the weight is not finite");
      return failure();
    }
    if (scheme == QuantScheme::NF4) {
      std::vector<uint8_t> packed;
      std::vector<float> absmax;
      if (!::qopt::quantizeNF4(w.data(), n, k, groupSize, packed, absmax))
        return failure();
      out.format = WeightFormat::NF4;
      out.group = groupSize;
      std::vector<int8_t> bytes(packed.begin(), packed.end());
      out.weight = blobConstant<int8_t>(
          b, loc, RankedTensorType::get({n, k / 2}, i8), name + ".nf4", bytes);
      auto sTy = RankedTensorType::get({n, k / groupSize}, f32);
      if (!doubleQuant) {
        out.scale = blobConstant<float>(b, loc, sTy, name + ".absmax", absmax);
        return out;
      }
      ::qopt::DoubleQuantizedScales dq = ::qopt::doubleQuantize(absmax);
      out.scale = blobConstant<int8_t>(b, loc, sTy.clone(i8),
                                       name + ".absmax.int8", dq.codes);
      out.scaleScale = blobConstant<float>(
          b, loc, RankedTensorType::get({int64_t(dq.scales.size())}, f32),
          name + ".absmax.scale", dq.scales);
      out.scaleOffset = b.getF64FloatAttr(dq.offset);
      return out;
    }
    ::qopt::Int4Scale method = ::qopt::Int4Scale::MSE;
    if (int4Scale == Int4ScaleMethod::SignedExtreme)
      method = ::qopt::Int4Scale::SignedExtreme;
    else if (int4Scale == Int4ScaleMethod::AbsMax)
      method = ::qopt::Int4Scale::AbsMax;
    else if (int4Scale == Int4ScaleMethod::MinMax)
      method = ::qopt::Int4Scale::MinMax;
    symmetric4 = weightSymmetric != WeightSymmetry::Asymmetric;
    std::optional<Blocked4> nearest =
        quantizeBlocked4(w, n, k, groupSize, symmetric4, method);
    if (!nearest)
      return failure();
    if (weightSymmetric == WeightSymmetry::Auto && moments) {
      // int4 (the default) or uint4, by output error on the layer's
      // inputs (the padding dropped).
      std::optional<Blocked4> asym =
          quantizeBlocked4(w, n, k, groupSize, /*symmetric=*/false, method);
      if (!asym)
        return failure();
      int64_t k0 = moments->k;
      std::vector<float> w0(size_t(n * k0));
      for (int64_t r = 0; r < n; ++r)
        std::copy(w.begin() + r * k, w.begin() + r * k + k0,
                  w0.begin() + r * k0);
      ::qopt::WeightSchemeSqnr db = ::qopt::compareWeightSchemes(
          w0, dequantizeBlocked4(*nearest, n, k, true),
          dequantizeBlocked4(*asym, n, k, false), n, k0, moments->matrix);
      double symDb = db.defaultDb, asymDb = db.alternativeDb;
      bool useAsym = ::qopt::preferAlternativeWeightScheme(symDb, asymDb);
      if (useAsym) {
        nearest = std::move(asym);
        symmetric4 = false;
      }
      currentScheme = SchemeChoice{
          WeightGranularity::Block,
          useAsym ? WeightSymmetry::Asymmetric : WeightSymmetry::Symmetric,
          useAsym ? asymDb : symDb, useAsym ? symDb : asymDb};
    }
    std::optional<Blocked4> q =
        moments && weightRounding != WeightRounding::Nearest
            ? gptqBlocked4(w, n, k, nearest->scales)
            : nearest;
    if (!q)
      return failure();
    chosen = moments && weightRounding != WeightRounding::Nearest
                 ? WeightRounding::GPTQ
                 : WeightRounding::Nearest;
    if (moments) {
      // What the codes stand for, and round-to-nearest's for comparison.
      dequantized = dequantizeBlocked4(*q, n, k, symmetric4);
      nearestDequantized = dequantizeBlocked4(*nearest, n, k, symmetric4);
      if (weightRounding == WeightRounding::Auto) {
        // The layer's weight as it sees it (the padding dropped).
        int64_t k0 = moments->k;
        std::vector<float> w0(size_t(n * k0));
        for (int64_t r = 0; r < n; ++r)
          std::copy(w.begin() + r * k, w.begin() + r * k + k0,
                    w0.begin() + r * k0);
        auto fitOn = [&](const std::vector<double> &h)
            -> std::optional<std::vector<float>> {
          // GPTQ of the padded weight on the first half's moments.
          InputMoments half = *moments;
          half.matrix = h;
          half.splitRows = 0;
          half.splitMatrix.clear();
          std::swap(*moments, half);
          std::optional<Blocked4> fit =
              gptqBlocked4(w, n, k, nearest->scales, /*quiet=*/true);
          std::optional<std::vector<float>> out;
          if (fit)
            out = dequantizeBlocked4(*fit, n, k, symmetric4);
          std::swap(*moments, half);
          return out;
        };
        if (keepNearest(w0, n, k0, fitOn)) {
          q = nearest;
          dequantized = nearestDequantized;
          chosen = WeightRounding::Nearest;
        }
      }
    }
    out.format = symmetric4 ? WeightFormat::Int4 : WeightFormat::UInt4;
    out.group = groupSize;
    out.weight = blobConstant<int8_t>(
        b, loc, RankedTensorType::get({n, k / 2}, i8),
        name + "." + stringifyWeightFormat(out.format).str(), q->packed);
    auto sTy = RankedTensorType::get({n, k / groupSize}, f32);
    out.scale = blobConstant<float>(b, loc, sTy, name + ".scale", q->scales);
    if (!symmetric4)
      out.zeroPoint = blobConstant<int8_t>(b, loc, sTy.clone(i8),
                                           name + ".zero_point", q->zeroPoints);
    return out;
  }

  /// Where the quantized form of a weight shared by several layers goes:
  /// right after the weight's definition, which dominates every use (the
  /// first user may sit in a region, e.g. an If branch, that the others
  /// cannot see).
  static OpBuilder sharedWeightBuilder(Value weight, Operation *user) {
    OpBuilder b(user);
    if (Operation *def = weight.getDefiningOp())
      b.setInsertionPointAfter(def);
    return b;
  }

  LogicalResult quantizeLinear(LinearOp op, const std::string &layer,
                               std::optional<NotQuantizedReason> &skip) {
    auto weightTy = cast<RankedTensorType>(op.getWeight().getType());
    std::optional<std::vector<float>> w = constantF32Values(op.getWeight());
    // Not a constant f32 weight: stays float.
    if (!op.getInput().getType().getElementType().isF32() ||
        !weightTy.getElementType().isF32())
      skip = NotQuantizedReason::NotF32;
    else if (!weightTy.hasStaticShape())
      skip = NotQuantizedReason::Shape;
    else if (!w)
      skip = NotQuantizedReason::DynamicWeight;
    if (skip)
      return success();
    ObserveOp observer = rangeObserver(op.getInput());
    ActivationMode activation =
        scheme == QuantScheme::W8A8          ? ActivationMode::Static
        : scheme == QuantScheme::W8A8Dynamic ? ActivationMode::Dynamic
                                             : ActivationMode::None;
    if (activation == ActivationMode::Static && !observer) {
      skip = NotQuantizedReason::NotCalibrated; // stays float
      return success();
    }
    int64_t n = weightTy.getDimSize(0), k = weightTy.getDimSize(1);
    std::string name = layer.empty() ? std::string("weight") : layer;
    if (failed(loadMoments(op, op.getInput(), name)))
      return failure();
    OpBuilder b(op);
    Location loc = op.getLoc();

    if (activation != ActivationMode::None && k > kMaxIntegerK) {
      op.emitWarning("qopt-quantize: K = ")
          << k << " exceeds " << kMaxIntegerK
          << " (i32 accumulation could overflow): weight-only int8 instead";
      activation = ActivationMode::None;
    }

    if (scheme == QuantScheme::W8A8 && form == QuantizedLinearForm::QDQ) {
      FailureOr<Value> act = qdqActivation(observer);
      if (failed(act))
        return failure();
      Value &wdq = qdqWeights[op.getWeight()];
      if (!wdq) {
        std::optional<ChannelInt8> q =
            weightPerChannel(*w, weightTy.getShape());
        if (!q)
          return failure();
        OpBuilder wb = sharedWeightBuilder(op.getWeight(), op);
        wdq = qdqWeight(wb, loc, op.getWeight(), *q, name);
        dequantizedOf[op.getWeight()] = dequantized;
        nearestOf[op.getWeight()] = nearestDequantized;
        methodOf[op.getWeight()] = chosen;
        if (currentScheme)
          schemeOf[op.getWeight()] = *currentScheme;
      }
      if (failed(correctLinear(op, *w, n, k, name)))
        return failure();
      replacedWeights.insert(op.getWeight());
      op.getInputMutable().assign(*act);
      op.getWeightMutable().assign(wdq);
      return success();
    }

    Value input = observer ? observer.getInput() : op.getInput();
    bool blocked = isBlocked4();
    StoredWeight &stored = storedWeights[{op.getWeight(), int(blocked)}];
    if (!stored.weight) {
      OpBuilder wb = sharedWeightBuilder(op.getWeight(), op);
      FailureOr<StoredWeight> made =
          storeWeight(wb, loc, *w, weightTy, name, blocked);
      if (failed(made))
        return failure();
      stored = *made;
      dequantizedOf[op.getWeight()] = dequantized;
      nearestOf[op.getWeight()] = nearestDequantized;
      methodOf[op.getWeight()] = chosen;
      if (currentScheme)
        schemeOf[op.getWeight()] = *currentScheme;
    }
    if (failed(correctLinear(op, *w, n, k, name)))
      return failure();
    Value weight = stored.weight, scale = stored.scale,
          zeroPoint = stored.zeroPoint;
    MLIRContext *ctx = b.getContext();
    // w4-activations=int8: the 4-bit layers quantize their input per token
    // and weight block at run time.
    if (activation == ActivationMode::None &&
        (stored.format == WeightFormat::Int4 ||
         stored.format == WeightFormat::UInt4))
      activation = w4Activations;
    auto qlinear = QLinearOp::create(
        b, loc, op.getResult().getType(), input, weight, scale,
        stored.scaleScale, zeroPoint, op.getBias(),
        WeightFormatAttr::get(ctx, stored.format),
        b.getI64IntegerAttr(stored.group),
        ActivationModeAttr::get(ctx, activation), FloatAttr(), IntegerAttr(),
        ActivationStorageAttr(), op.getWeightNameAttr(), stored.scaleOffset);
    if (activation == ActivationMode::Static) {
      FailureOr<quant::UniformQuantizedType> qTy = observerType(observer);
      if (failed(qTy))
        return failure();
      qlinear.setInputScaleAttr(b.getF64FloatAttr(qTy->getScale()));
      qlinear.setInputZeroPointAttr(b.getI64IntegerAttr(qTy->getZeroPoint()));
      qlinear.setInputStorageAttr(ActivationStorageAttr::get(
          ctx, qTy->isSigned() ? ActivationStorage::Int8
                               : ActivationStorage::UInt8));
    }
    // Discardable attributes (report ids, user tags) carry over.
    for (NamedAttribute attr : op->getDiscardableAttrs())
      qlinear->setAttr(attr.getName(), attr.getValue());
    replacedWeights.insert(op.getWeight());
    op.replaceAllUsesWith(qlinear.getResult());
    op.erase();
    return success();
  }

  LogicalResult quantizeConv(linalg::Conv2DNchwFchwOp conv,
                             const std::string &layer,
                             std::optional<NotQuantizedReason> &skip) {
    if (!conv.hasPureTensorSemantics()) {
      skip = NotQuantizedReason::Scheme;
      return success();
    }
    Operation *op = conv;
    OpOperand *input = conv.getDpsInputOperand(0);
    OpOperand *filter = conv.getDpsInputOperand(1);
    auto filterTy = cast<RankedTensorType>(filter->get().getType());
    std::optional<std::vector<float>> w = constantF32Values(filter->get());
    if (!filterTy.hasStaticShape())
      skip = NotQuantizedReason::Shape;
    else if (!w)
      skip = NotQuantizedReason::DynamicWeight;
    else if (scheme == QuantScheme::W8A8Dynamic)
      skip = NotQuantizedReason::Scheme; // per-token scales: linear layers
    ObserveOp observer = rangeObserver(input->get());
    if (!skip && scheme == QuantScheme::W8A8 && !observer)
      skip = NotQuantizedReason::NotCalibrated;
    if (skip)
      return success();
    std::string name = layer.empty() ? std::string("weight") : layer;
    if (failed(loadMoments(op, input->get(), name)))
      return failure();
    OpBuilder b(op);
    if (scheme == QuantScheme::W8A8 && form == QuantizedLinearForm::QLinear)
      return integerConv(b, conv, observer, *w, layer);
    Value &wdq = qdqWeights[filter->get()];
    if (!wdq) {
      std::optional<ChannelInt8> q = weightPerChannel(*w, filterTy.getShape());
      if (!q)
        return failure();
      OpBuilder wb = sharedWeightBuilder(filter->get(), op);
      wdq = qdqWeight(wb, op->getLoc(), filter->get(), *q, name);
      dequantizedOf[filter->get()] = dequantized;
      nearestOf[filter->get()] = nearestDequantized;
      methodOf[filter->get()] = chosen;
      if (currentScheme)
        schemeOf[filter->get()] = *currentScheme;
    }
    if (failed(correctConv(conv, *w, filterTy, name)))
      return failure();
    if (scheme == QuantScheme::W8A8) {
      FailureOr<Value> act = qdqActivation(observer);
      if (failed(act))
        return failure();
      input->set(*act);
    }
    replacedWeights.insert(filter->get());
    filter->set(wdq);
    return success();
  }

  /// W8A8 convolution in integers: the input quantized to int8 (a uint8
  /// observer's zero point shifted by -128: the same values), an i8 x i8 →
  /// i32 linalg convolution (the runtime's int8 conv kernel takes it), and
  /// an epilogue `init + float(acc - zx * Σ w[f]) * sx * sw[f]`, with the
  /// per-filter correction and combined scale computed here.
  LogicalResult integerConv(OpBuilder &b, linalg::Conv2DNchwFchwOp conv,
                            ObserveOp observer, const std::vector<float> &w,
                            const std::string &layer) {
    Value filter = conv.getDpsInputOperand(1)->get();
    auto filterTy = cast<RankedTensorType>(filter.getType());
    FailureOr<quant::UniformQuantizedType> obsTy = observerType(observer);
    if (failed(obsTy))
      return failure();
    std::optional<ChannelInt8> q = weightPerChannel(w, filterTy.getShape());
    if (!q)
      return failure();
    dequantizedOf[filter] = dequantized;
    nearestOf[filter] = nearestDequantized;
    methodOf[filter] = chosen;
    if (currentScheme)
      schemeOf[filter] = *currentScheme;
    if (failed(
            correctConv(conv, w, filterTy, layer.empty() ? "weight" : layer)))
      return failure();
    replacedWeights.insert(filter);
    replaceWithIntegerConv(b, conv, observer.getInput(), obsTy->getScale(),
                           obsTy->getZeroPoint(), obsTy->isSigned(), q->values,
                           q->scales, layer.empty() ? "weight" : layer);
    return success();
  }

  /// Whether `v` reaches, directly or through observers, a layer still
  /// float (a qopt.linear; a convolution whose filter is not dequantized).
  static bool feedsFloatLayer(Value v) {
    for (Operation *user : v.getUsers()) {
      if (auto obs = dyn_cast<ObserveOp>(user)) {
        if (feedsFloatLayer(obs.getResult()))
          return true;
      } else if (isa<LinearOp>(user)) {
        return true;
      } else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(user)) {
        if (!conv.getDpsInputs()[1].getDefiningOp<DequantizeOp>() &&
            isa<FloatType>(getElementTypeOrSelf(conv.getDpsInputs()[0])))
          return true;
      }
    }
    return false;
  }

  /// The range observer (w8a8's histogram) among the observers `v` is the
  /// result of, skipping second_moment observers; null when none.
  static ObserveOp rangeObserver(Value v) {
    while (auto obs = v.getDefiningOp<ObserveOp>()) {
      if (obs.getKind() != ObserverKind::SecondMoment)
        return obs;
      v = obs.getInput();
    }
    return nullptr;
  }

  /// The layer's input moments into `moments`, when GPTQ or bias
  /// correction needs them; an error naming the layer when they are not
  /// there.
  LogicalResult loadMoments(Operation *op, Value input, StringRef name) {
    moments.reset();
    currentScheme.reset();
    dequantized.clear();
    nearestDequantized.clear();
    currentOp = op;
    currentName = name.str();
    ObserveOp observer = findSecondMomentObserver(input);
    if (observer)
      usedMoments.insert(observer);
    if (weightRounding == WeightRounding::Nearest && !biasCorrection &&
        !choosesScheme())
      return success();
    moments = readInputMoments(observer);
    // (auto keeps nearest where GPTQ's fit loses, so it does not warn.)
    if (moments && weightRounding == WeightRounding::GPTQ &&
        moments->rows < 2 * moments->k)
      op->emitWarning("qopt-quantize: GPTQ on layer '")
          << name << "' from " << moments->rows
          << " calibration rows for K = " << moments->k
          << " inputs: XᵀX is poorly conditioned and GPTQ may fit the "
             "calibration samples rather than the data (use more samples)";
    if (!moments)
      return op->emitOpError("qopt-quantize: ")
             << (weightRounding != WeightRounding::Nearest
                     ? "weight-rounding=" +
                           stringifyWeightRounding(weightRounding).str()
                 : biasCorrection ? std::string("bias-correction")
                 : weightGranularity == WeightGranularity::Auto
                     ? std::string("weight-granularity=auto")
                     : std::string("weight-symmetric=auto"))
             << " needs the input's second moment for layer '" << name
             << "' (a second_moment observer with statistics: "
                "qopt-insert-observers{kind=second_moment} then "
                "qopt-collect-statistics; quant-compile: --calibration-data)";
    return success();
  }

  /// int8 symmetric per output channel of a [N, ...] weight (flattened to
  /// [N, K]): GPTQ's codes with the layer's moments, else round to nearest.
  /// Records what the codes stand for (and nearest's) when moments are
  /// there. Errors name the layer.
  std::optional<ChannelInt8> weightPerChannel(const std::vector<float> &w,
                                              ArrayRef<int64_t> shape) {
    std::optional<ChannelInt8> nearest = quantizePerChannel(w, shape);
    if (!nearest) {
      currentOp->emitOpError("qopt-quantize: the weight is not finite");
      return std::nullopt;
    }
    int64_t n = shape[0], k = int64_t(w.size()) / n;
    if (moments && moments->k != k) {
      currentOp->emitOpError("qopt-quantize: layer '")
          << currentName << "': its input rows have " << moments->k
          << " values, the weight " << k;
      return std::nullopt;
    }
    // weight-granularity: one scale per tensor (fixed, or chosen by
    // output error against per channel, the default).
    bool perTensor = weightGranularity == WeightGranularity::PerTensor;
    ::qopt::Int8Weights tensorWise;
    if (weightGranularity != WeightGranularity::PerChannel)
      tensorWise = ::qopt::quantizeInt8Weights(w, n, k, /*perTensor=*/true);
    if (weightGranularity == WeightGranularity::Auto && moments) {
      ::qopt::Int8Weights channelWise;
      channelWise.codes = nearest->values;
      channelWise.scales.assign(nearest->scales.begin(), nearest->scales.end());
      ::qopt::WeightSchemeSqnr db = ::qopt::compareWeightSchemes(
          w, ::qopt::dequantizeInt8Weights(channelWise, n, k),
          ::qopt::dequantizeInt8Weights(tensorWise, n, k), n, k,
          moments->matrix);
      double channelDb = db.defaultDb, tensorDb = db.alternativeDb;
      perTensor = ::qopt::preferAlternativeWeightScheme(
          channelDb, tensorDb, ::qopt::kGranularityMarginDb);
      currentScheme = SchemeChoice{perTensor ? WeightGranularity::PerTensor
                                             : WeightGranularity::PerChannel,
                                   WeightSymmetry::Symmetric,
                                   perTensor ? tensorDb : channelDb,
                                   perTensor ? channelDb : tensorDb};
    }
    if (perTensor) {
      nearest->values = std::move(tensorWise.codes);
      nearest->scales.assign(tensorWise.scales.begin(),
                             tensorWise.scales.end());
    }
    auto deq = [&](const ChannelInt8 &q) {
      std::vector<float> out(w.size());
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c)
          out[size_t(r * k + c)] =
              float(double(q.values[size_t(r * k + c)]) * q.scales[size_t(r)]);
      return out;
    };
    if (!moments)
      return nearest;
    nearestDequantized = deq(*nearest);
    chosen = WeightRounding::Nearest;
    if (weightRounding == WeightRounding::Nearest) {
      dequantized = nearestDequantized;
      return nearest;
    }
    ::qopt::GPTQOptions o;
    o.qmin = -127;
    o.qmax = 127;
    o.percDamp = gptqDamp;
    if (perTensor) // GPTQ keeps the one scale
      o.staticScales.assign(nearest->scales.begin(), nearest->scales.end());
    std::string error;
    std::optional<::qopt::GPTQResult> g =
        ::qopt::gptqQuantize(w, n, k, moments->matrix, o, error);
    if (!g) {
      currentOp->emitOpError("qopt-quantize: layer '")
          << currentName << "': " << error << " (gptq-damp=" << gptqDamp
          << "; a larger damping makes it definite)";
      return std::nullopt;
    }
    ChannelInt8 out;
    out.values = std::move(g->codes);
    out.scales.assign(g->scales.begin(), g->scales.end());
    dequantized = deq(out);
    chosen = WeightRounding::GPTQ;
    auto fitOn =
        [&](const std::vector<double> &h) -> std::optional<std::vector<float>> {
      std::string ignored;
      std::optional<::qopt::GPTQResult> fit =
          ::qopt::gptqQuantize(w, n, k, h, o, ignored);
      if (!fit)
        return std::nullopt;
      ChannelInt8 q;
      q.values = std::move(fit->codes);
      q.scales.assign(fit->scales.begin(), fit->scales.end());
      return deq(q);
    };
    if (weightRounding == WeightRounding::Auto && keepNearest(w, n, k, fitOn)) {
      dequantized = nearestDequantized;
      chosen = WeightRounding::Nearest;
      return nearest;
    }
    return out;
  }

  /// weight-rounding=auto: whether round-to-nearest's weight
  /// (nearestDequantized) has an output error tr((W-Wq) H (W-Wq)ᵀ) no
  /// larger than GPTQ's. GPTQ fits the rows it is given, so on those rows
  /// it nearly always wins; with the calibration run's split (two or more
  /// samples) GPTQ is fitted (`fitOn`) on the first half of the samples and
  /// both are judged on the other half, H = its E[x xᵀ]. Without a split:
  /// GPTQ's full-data weight (dequantized) on all the rows, H = E[x xᵀ]
  /// (after bias correction, with the inputs centered).
  bool keepNearest(const std::vector<float> &w, int64_t n, int64_t k,
                   llvm::function_ref<std::optional<std::vector<float>>(
                       const std::vector<double> &)>
                       fitOn) {
    if (std::optional<HeldOutSplit> split = heldOutSplit(*moments))
      if (std::optional<std::vector<float>> fitted = fitOn(split->fit))
        return ::qopt::preferNearestRounding(w, nearestDequantized, *fitted, n,
                                             k, split->heldOut);
    std::vector<double> h = moments->matrix;
    if (biasCorrection)
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j)
          h[size_t(i * k + j)] -=
              moments->mean[size_t(i)] * moments->mean[size_t(j)];
    return ::qopt::preferNearestRounding(w, nearestDequantized, dequantized, n,
                                         k, h);
  }

  /// Symmetric int4 per group of `groupSize` by GPTQ ([n, k], k a multiple
  /// of the group; the moments padded with dead inputs to match).
  std::optional<Blocked4> gptqBlocked4(const std::vector<float> &w, int64_t n,
                                       int64_t k,
                                       const std::vector<float> &staticScales,
                                       bool quiet = false) {
    if (moments->k > k) {
      currentOp->emitOpError("qopt-quantize: layer '")
          << currentName << "': its input rows have " << moments->k
          << " values, the weight " << k;
      return std::nullopt;
    }
    InputMoments padded = padMoments(*moments, k);
    ::qopt::GPTQOptions o;
    o.qmin = -8;
    o.qmax = 7;
    o.groupSize = groupSize;
    o.blockSize = groupSize * std::max<int64_t>(1, 128 / groupSize);
    o.percDamp = gptqDamp;
    std::string error;
    // Two scale rules: GPTQ's own (max |w| / 7 of the weights as they
    // stand when the group is reached) and the static least-error scales
    // of the original weights (int4-scale); the one with the lower output
    // error on the layer's inputs is kept.
    std::optional<::qopt::GPTQResult> g =
        ::qopt::gptqQuantize(w, n, k, padded.matrix, o, error);
    if (g && !staticScales.empty()) {
      o.staticScales = staticScales;
      std::optional<::qopt::GPTQResult> s =
          ::qopt::gptqQuantize(w, n, k, padded.matrix, o, error);
      if (!s)
        g.reset();
      else if (outputError(*s, w, n, k, padded) <
               outputError(*g, w, n, k, padded))
        g = std::move(s);
    }
    if (!g) {
      if (!quiet)
        currentOp->emitOpError("qopt-quantize: layer '")
            << currentName << "': " << error << " (gptq-damp=" << gptqDamp
            << "; a larger damping makes it definite)";
      return std::nullopt;
    }
    Blocked4 out;
    out.packed.assign(size_t(n * k / 2), 0);
    out.scales = std::move(g->scales);
    out.zeroPoints.assign(out.scales.size(), 0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        int nib = int(g->codes[size_t(r * k + c)]) & 15;
        out.packed[size_t((r * k + c) / 2)] |= int8_t(nib << ((c % 2) * 4));
      }
    return out;
  }

  /// E||(W - Wq) x||² of grouped GPTQ codes (relative; for choosing).
  double outputError(const ::qopt::GPTQResult &g, const std::vector<float> &w,
                     int64_t n, int64_t k, const InputMoments &m) {
    int64_t groups = k / groupSize;
    std::vector<float> wq(w.size());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        wq[size_t(r * k + c)] =
            float(g.codes[size_t(r * k + c)] *
                  double(g.scales[size_t(r * groups + c / groupSize)]));
    return -roundingSQNR(w, wq, n, k, m, false);
  }

  /// The values a 4-bit weight [n, kp] stands for, its first moments->k
  /// columns ([n, k] as the layer sees them).
  std::vector<float> dequantizeBlocked4(const Blocked4 &q, int64_t n,
                                        int64_t kp, bool symmetric) {
    int64_t k = moments->k, groups = kp / groupSize;
    std::vector<float> out(size_t(n * k));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        int nib = (q.packed[size_t((r * kp + c) / 2)] >> ((c % 2) * 4)) & 15;
        int code = symmetric ? ((nib ^ 8) - 8) : nib;
        size_t g = size_t(r * groups + c / groupSize);
        out[size_t(r * k + c)] =
            float((code - q.zeroPoints[g]) * double(q.scales[g]));
      }
    return out;
  }

  /// The layer's rounding error (qopt.rounding_error) and, with
  /// bias-correction, (W - Wq)·E[x] for its output channels; nothing
  /// without moments.
  std::optional<std::vector<float>> roundingOutcome(Operation *op, Value weight,
                                                    const std::vector<float> &w,
                                                    int64_t n, int64_t k) {
    if (!moments)
      return std::nullopt;
    if (auto scheme = schemeOf.find(weight); scheme != schemeOf.end()) {
      const SchemeChoice &c = scheme->second;
      auto finite = [](double db) { return std::clamp(db, -999.0, 999.0); };
      op->setAttr(WeightSchemeAttr::getAttrName(),
                  WeightSchemeAttr::get(op->getContext(), c.granularity,
                                        c.symmetry, finite(c.sqnrDb),
                                        finite(c.alternativeDb)));
    }
    if (weightRounding == WeightRounding::Nearest && !biasCorrection)
      return std::nullopt; // the moments were for the scheme's choice
    auto it = dequantizedOf.find(weight);
    if (it == dequantizedOf.end() || it->second.size() != w.size())
      return std::nullopt;
    const std::vector<float> &wq = it->second;
    // nearest's figures are those of this layer's first quantization of
    // the weight (a shared weight is rounded once).
    auto nearestIt = nearestOf.find(weight);
    const std::vector<float> &nearest =
        nearestIt != nearestOf.end() && nearestIt->second.size() == w.size()
            ? nearestIt->second
            : wq;
    auto methodIt = methodOf.find(weight);
    auto finite = [](double db) { return std::min(db, 999.0); };
    double nearestDb = finite(roundingSQNR(w, nearest, n, k, *moments, false));
    double db = finite(roundingSQNR(w, wq, n, k, *moments, biasCorrection));
    op->setAttr(RoundingErrorAttr::getAttrName(),
                RoundingErrorAttr::get(op->getContext(),
                                       methodIt != methodOf.end()
                                           ? methodIt->second
                                           : WeightRounding::Nearest,
                                       nearestDb, db, biasCorrection));
    if (!biasCorrection)
      return std::nullopt;
    return meanOutputError(w, wq, n, k, moments->mean);
  }

  /// Bias correction of a linear layer: its bias plus (W - Wq)·E[x].
  LogicalResult correctLinear(LinearOp op, const std::vector<float> &w,
                              int64_t n, int64_t k, const std::string &name) {
    std::optional<std::vector<float>> delta =
        roundingOutcome(op, op.getWeight(), w, n, k);
    if (!delta)
      return success();
    OpBuilder b(op);
    auto vecTy = RankedTensorType::get({n}, b.getF32Type());
    Value bias = op.getBias();
    std::optional<std::vector<float>> old =
        bias ? constantF32Values(bias)
             : std::optional<std::vector<float>>(std::vector<float>(size_t(n)));
    Value corrected;
    if (old && int64_t(old->size()) == n) {
      for (int64_t i = 0; i < n; ++i)
        (*old)[size_t(i)] += (*delta)[size_t(i)];
      corrected = blobConstant<float>(b, op.getLoc(), vecTy,
                                      name + ".bias_corrected", *old);
    } else {
      Value d = blobConstant<float>(b, op.getLoc(), vecTy,
                                    name + ".bias_correction", *delta);
      corrected = arith::AddFOp::create(b, op.getLoc(), bias, d);
    }
    op.getBiasMutable().assign(corrected);
    if (Operation *def = bias ? bias.getDefiningOp() : nullptr;
        def && isa<arith::ConstantOp>(def) && def->use_empty())
      def->erase();
    return success();
  }

  /// Bias correction of a convolution: its init (bias broadcast) plus
  /// (W - Wq)·E[patch] per output channel.
  LogicalResult correctConv(linalg::Conv2DNchwFchwOp conv,
                            const std::vector<float> &w,
                            RankedTensorType filterTy,
                            const std::string &name) {
    int64_t n = filterTy.getDimSize(0), k = int64_t(w.size()) / n;
    std::optional<std::vector<float>> delta =
        roundingOutcome(conv, conv.getDpsInputOperand(1)->get(), w, n, k);
    if (!delta)
      return success();
    OpBuilder b(conv);
    Location loc = conv.getLoc();
    OpOperand *initOperand = conv.getDpsInitOperand(0);
    Value init = initOperand->get();
    auto outTy = cast<RankedTensorType>(init.getType());
    Value d =
        blobConstant<float>(b, loc, RankedTensorType::get({n}, b.getF32Type()),
                            name + ".bias_correction", *delta);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < outTy.getRank(); ++i)
      if (outTy.isDynamicDim(i))
        dyn.push_back(tensor::DimOp::create(b, loc, init, i));
    Value empty = tensor::EmptyOp::create(b, loc, outTy.getShape(),
                                          outTy.getElementType(), dyn);
    MLIRContext *ctx = b.getContext();
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
    AffineMap perF = AffineMap::get(4, 0, getAffineDimExpr(1, ctx), ctx);
    auto add = linalg::GenericOp::create(
        b, loc, outTy, ValueRange{init, d}, ValueRange{empty},
        ArrayRef<AffineMap>{id, perF, id},
        SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
        [](OpBuilder &nb, Location l, ValueRange args) {
          linalg::YieldOp::create(
              nb, l,
              arith::AddFOp::create(nb, l, args[0], args[1]).getResult());
        });
    initOperand->set(add.getResult(0));
    return success();
  }

  /// Per layer: its input moments (GPTQ, bias correction), the values its
  /// quantized weight stands for and round-to-nearest's.
  std::optional<InputMoments> moments;
  std::vector<float> dequantized, nearestDequantized;
  Operation *currentOp = nullptr;
  std::string currentName;
  DenseMap<Value, std::vector<float>> dequantizedOf, nearestOf;
  /// The scheme chosen for the current layer's weight by error, and each
  /// weight's (weight-granularity=auto, weight-symmetric=auto).
  struct SchemeChoice {
    WeightGranularity granularity;
    WeightSymmetry symmetry;
    double sqnrDb, alternativeDb;
  };
  std::optional<SchemeChoice> currentScheme;
  DenseMap<Value, SchemeChoice> schemeOf;
  /// The current w4 layer's format: int4 (symmetric) or uint4.
  bool symmetric4 = true;
  /// The rounding each weight got (weight-rounding=auto chooses per layer).
  WeightRounding chosen = WeightRounding::Nearest;
  DenseMap<Value, WeightRounding> methodOf;
  llvm::SetVector<Operation *> usedMoments;

  DenseMap<Operation *, Value> qdqOf;
  SetVector<Value> replacedWeights;
  // A shared weight is quantized once.
  DenseMap<Value, Value> qdqWeights;
  DenseMap<std::pair<Value, int>, StoredWeight> storedWeights;
};

} // namespace
