//===- FoldQDQ.cpp - QDQ patterns to integer layers -----------------------===//
//
// A QDQ model says where and how to quantize with DequantizeLinear nodes in
// front of float layers; this pass makes the integer layers they describe
// (qopt.qlinear, int8 convolutions), taking every scale and zero point from
// the model's types. Nothing is calibrated, and what cannot fold keeps its
// exact float meaning. docs/Quantization/QDQ.md lists the patterns.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/Transforms/FoldQDQ.h"

#include "IntegerConv.h"
#include "QDQGrid.h"
#include "QDQTable.h"
#include "WeightValues.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cmath>

namespace mlir::qopt {
#define GEN_PASS_DEF_FOLDQDQPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The largest K whose i32 sums of 8-bit products cannot overflow
/// (REFERENCE.md; qopt-quantize's limit).
constexpr int64_t kMaxIntegerK = 65793;

/// The largest dequantized constant (not a folded layer's weight) turned
/// into a float constant at compile time.
constexpr int64_t kMaxFoldedConstant = 4096;

/// `v` with the quant.scast ops in front of it looked through.
Value throughStorageCasts(Value v) {
  while (auto c = v.getDefiningOp<quant::StorageCastOp>())
    v = c.getInput();
  return v;
}

/// Scale and zero point of element `flat` of a tensor of `shape` quantized
/// with `qTy` (per tensor, per axis or block-wise).
struct ParamLookup {
  quant::QuantizedType qTy;
  SmallVector<int64_t> shape;
  SmallVector<double> scales;
  SmallVector<int64_t> zeroPoints;
  // Per axis: the axis; block-wise: every dimension's block size.
  int64_t axis = -1;
  SmallVector<int64_t> blocks, blockShape;

  static std::optional<ParamLookup> make(quant::QuantizedType qTy,
                                         ArrayRef<int64_t> shape) {
    ParamLookup p;
    p.qTy = qTy;
    p.shape.assign(shape.begin(), shape.end());
    if (auto t = dyn_cast<quant::UniformQuantizedType>(qTy)) {
      p.scales.push_back(t.getScale());
      p.zeroPoints.push_back(t.getZeroPoint());
    } else if (auto a = dyn_cast<quant::UniformQuantizedPerAxisType>(qTy)) {
      p.scales.assign(a.getScales().begin(), a.getScales().end());
      p.zeroPoints.assign(a.getZeroPoints().begin(), a.getZeroPoints().end());
      p.axis = a.getQuantizedDimension();
    } else if (auto s = dyn_cast<quant::UniformQuantizedSubChannelType>(qTy)) {
      for (APFloat v : s.getScales().getValues<APFloat>())
        p.scales.push_back(v.convertToDouble());
      for (const APInt &v : s.getZeroPoints().getValues<APInt>())
        p.zeroPoints.push_back(s.isSigned() ? v.getSExtValue()
                                            : int64_t(v.getZExtValue()));
      p.blockShape.assign(s.getScales().getType().getShape().begin(),
                          s.getScales().getType().getShape().end());
      p.blocks.assign(shape.begin(), shape.end());
      for (auto [d, b] :
           llvm::zip(s.getQuantizedDimensions(), s.getBlockSizes()))
        p.blocks[d] = b;
    } else {
      return std::nullopt;
    }
    return p;
  }

  /// Index into scales/zeroPoints of the element at `idx`.
  int64_t paramIndex(ArrayRef<int64_t> idx) const {
    if (axis >= 0)
      return idx[axis];
    if (blocks.empty())
      return 0;
    int64_t flat = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      flat = flat * blockShape[d] + idx[d] / blocks[d];
    return flat;
  }
};

/// A constant tensor quantized by `qTy`: its integer values (row-major),
/// read from integer storage or, for a float constant behind a
/// qopt.quantize (float weights + Q/DQ, the QAT form), quantized here as
/// QuantizeLinear does.
struct QuantConstant {
  quant::QuantizedType qTy;
  RankedTensorType type; // the float (dequantized) tensor type
  std::vector<int64_t> values;
  std::string name; // the blob's name, "" when inline
};

/// The integer values of an integer constant of `storageBits`-bit storage.
std::optional<std::vector<int64_t>> integerValues(arith::ConstantOp c,
                                                  bool isSigned) {
  auto ty = cast<RankedTensorType>(c.getType());
  unsigned bits = ty.getElementTypeBitWidth();
  std::vector<int64_t> out;
  if (auto d = dyn_cast<DenseIntElementsAttr>(c.getValue())) {
    out.reserve(d.getNumElements());
    for (const APInt &v : d.getValues<APInt>())
      out.push_back(isSigned ? v.getSExtValue() : int64_t(v.getZExtValue()));
    return out;
  }
  auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue());
  if (!r || bits % 8 != 0 || bits > 32)
    return std::nullopt;
  AsmResourceBlob *blob = r.getRawHandle().getBlob();
  if (!blob)
    return std::nullopt;
  ArrayRef<char> bytes = blob->getData();
  size_t width = bits / 8, n = size_t(ty.getNumElements());
  if (bytes.size() != n * width)
    return std::nullopt;
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t u = 0;
    for (size_t j = 0; j < width; ++j)
      u |= uint64_t(uint8_t(bytes[i * width + j])) << (8 * j);
    if (isSigned && bits < 64 && (u >> (bits - 1)) & 1)
      u |= ~uint64_t(0) << bits;
    out[i] = int64_t(u);
  }
  return out;
}

/// The ONNX node name a location carries, or "".
std::string locationName(Location loc) {
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (std::string s = locationName(l); !s.empty())
        return s;
  return "";
}

/// The name of a dense_resource constant, "" otherwise.
std::string blobName(Operation *op) {
  if (auto c = dyn_cast_or_null<arith::ConstantOp>(op))
    if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
      return r.getRawHandle().getKey().str();
  return "";
}

/// The quantized constant `dq` dequantizes, or nothing.
std::optional<QuantConstant> quantConstantOf(DequantizeOp dq) {
  QuantConstant qc;
  qc.qTy = cast<quant::QuantizedType>(dq.getInput().getType().getElementType());
  qc.type = dq.getResult().getType();
  if (!qc.type.hasStaticShape())
    return std::nullopt;
  Value src = throughStorageCasts(dq.getInput());
  if (auto c = src.getDefiningOp<arith::ConstantOp>()) {
    std::optional<std::vector<int64_t>> v = integerValues(c, qc.qTy.isSigned());
    if (!v)
      return std::nullopt;
    qc.values = std::move(*v);
    qc.name = blobName(c);
    return qc;
  }
  // Float weight + Q/DQ: quantize it here, as QuantizeLinear would.
  auto q = src.getDefiningOp<QuantizeOp>();
  if (!q || q.getResult().getType() != dq.getInput().getType())
    return std::nullopt;
  std::optional<std::vector<float>> f = constantF32Values(q.getInput());
  if (!f)
    return std::nullopt;
  std::optional<ParamLookup> p = ParamLookup::make(qc.qTy, qc.type.getShape());
  if (!p)
    return std::nullopt;
  qc.name = blobName(q.getInput().getDefiningOp());
  ArrayRef<int64_t> shape = qc.type.getShape();
  SmallVector<int64_t> idx(shape.size(), 0);
  int64_t qmin = qc.qTy.getStorageTypeMin(), qmax = qc.qTy.getStorageTypeMax();
  qc.values.resize(f->size());
  for (size_t i = 0; i < f->size(); ++i) {
    int64_t pi = p->paramIndex(idx);
    // As the lowering: f32 division, round half to even, saturate.
    float scaled = (*f)[i] / float(p->scales[size_t(pi)]);
    double r = std::isnan(scaled) ? 0.0 : std::nearbyint(double(scaled));
    int64_t v = std::isnan(scaled)
                    ? p->zeroPoints[size_t(pi)]
                    : int64_t(std::clamp(r + double(p->zeroPoints[size_t(pi)]),
                                         double(qmin), double(qmax)));
    qc.values[i] = v;
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
  return qc;
}

/// A per-tensor 8-bit activation DequantizeLinear feeding a layer: its
/// type, and the float value the integer layer reads (the input of a
/// matching qopt.quantize when there is one, so the Q/DQ pair is skipped).
struct ActivationQDQ {
  quant::UniformQuantizedType type;
  Value source;
};

std::optional<ActivationQDQ> activationOf(Value input) {
  auto dq = input.getDefiningOp<DequantizeOp>();
  if (!dq)
    return std::nullopt;
  auto t = dyn_cast<quant::UniformQuantizedType>(
      dq.getInput().getType().getElementType());
  if (!t || t.getStorageTypeIntegralWidth() != 8 ||
      t.getStorageTypeMin() !=
          quant::QuantizedType::getDefaultMinimumForInteger(t.isSigned(), 8) ||
      t.getStorageTypeMax() !=
          quant::QuantizedType::getDefaultMaximumForInteger(t.isSigned(), 8) ||
      !dq.getResult().getType().getElementType().isF32())
    return std::nullopt;
  ActivationQDQ a{t, input};
  if (auto q = throughStorageCasts(dq.getInput()).getDefiningOp<QuantizeOp>())
    if (q.getResult().getType() == dq.getInput().getType())
      a.source = q.getInput();
  return a;
}

/// `[N, K]` weight integers with per-element zero points subtracted, and the
/// per-(n, k) scale and zero point lookups, from a quantized constant stored
/// `[N, K]` or (`transposed`) `[K, N]`.
struct RowMajorWeight {
  int64_t n = 0, k = 0;
  std::vector<int64_t> q;    // [N, K] stored integers
  std::vector<int64_t> zp;   // [N, K] zero points
  std::vector<double> scale; // [N, K] scales
};

RowMajorWeight rowMajor(const QuantConstant &qc, const ParamLookup &p,
                        bool transposed) {
  ArrayRef<int64_t> shape = qc.type.getShape();
  RowMajorWeight w;
  w.n = transposed ? shape[1] : shape[0];
  w.k = transposed ? shape[0] : shape[1];
  size_t total = size_t(w.n * w.k);
  w.q.resize(total);
  w.zp.resize(total);
  w.scale.resize(total);
  for (int64_t r = 0; r < shape[0]; ++r)
    for (int64_t c = 0; c < shape[1]; ++c) {
      int64_t src = r * shape[1] + c;
      int64_t nn = transposed ? c : r, kk = transposed ? r : c;
      size_t dst = size_t(nn * w.k + kk);
      int64_t pi = p.paramIndex({r, c});
      w.q[dst] = qc.values[size_t(src)];
      w.zp[dst] = p.zeroPoints[size_t(pi)];
      w.scale[dst] = p.scales[size_t(pi)];
    }
  return w;
}

struct Folder {
  ModuleOp module;
  QDQFoldResult result;
  SmallVector<Operation *> maybeDead;

  void staysFloat(Operation *op, StringRef kind, const std::string &name,
                  const Twine &why) {
    std::string reason = why.str();
    op->emitRemark("qopt-fold-qdq: ")
        << kind << " '" << name << "' stays float: " << reason;
    result.staysFloat.push_back({name, kind.str(), reason});
  }

  /// int32 DequantizeLinear of a constant (biases), or (`small`) any
  /// DequantizeLinear of a constant of at most kMaxFoldedConstant elements
  /// left once the layers have folded (BatchNorm / LayerNorm parameters
  /// onnxruntime quantizes): a float constant, computed as the lowering
  /// computes it.
  void foldConstantBiases(bool small = false) {
    SmallVector<DequantizeOp> dqs;
    module.walk([&](DequantizeOp dq) {
      auto qTy =
          cast<quant::QuantizedType>(dq.getInput().getType().getElementType());
      if (!dq.getResult().getType().getElementType().isF32())
        return;
      if (qTy.getStorageTypeIntegralWidth() == 32 ||
          (small && dq.getResult().getType().hasStaticShape() &&
           dq.getResult().getType().getNumElements() <= kMaxFoldedConstant))
        dqs.push_back(dq);
    });
    for (DequantizeOp dq : dqs) {
      std::optional<QuantConstant> qc = quantConstantOf(dq);
      if (!qc)
        continue;
      std::optional<ParamLookup> p =
          ParamLookup::make(qc->qTy, qc->type.getShape());
      if (!p)
        continue;
      ArrayRef<int64_t> shape = qc->type.getShape();
      SmallVector<int64_t> idx(shape.size(), 0);
      std::vector<float> f(qc->values.size());
      for (size_t i = 0; i < f.size(); ++i) {
        int64_t pi = p->paramIndex(idx);
        float centered =
            float(qc->values[i]) - float(p->zeroPoints[size_t(pi)]);
        f[i] = centered * float(p->scales[size_t(pi)]);
        for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
          if (++idx[d] < shape[d])
            break;
          idx[d] = 0;
        }
      }
      OpBuilder b(dq);
      std::string name =
          qc->name.empty() ? (small ? "constant" : "bias") : qc->name;
      Value c =
          makeBlobConstant<float>(b, dq.getLoc(), qc->type, name + ".f32", f);
      maybeDead.push_back(dq.getInput().getDefiningOp());
      dq.getResult().replaceAllUsesWith(c);
      dq.erase();
      if (!small)
        ++result.foldedBiases;
    }
  }

  void foldLinear(LinearOp lin) {
    std::string name = lin.getWeightName().value_or("").str();
    if (name.empty())
      name = "linear";
    Value w = lin.getWeight();
    bool transposed = false;
    if (auto t = w.getDefiningOp<linalg::TransposeOp>()) {
      if (t.getPermutation() != ArrayRef<int64_t>{1, 0})
        return;
      w = t.getInput();
      transposed = true;
    }
    auto dq = w.getDefiningOp<DequantizeOp>();
    std::optional<ActivationQDQ> act = activationOf(lin.getInput());
    if (!dq) {
      if (lin.getInput().getDefiningOp<DequantizeOp>())
        staysFloat(lin, "linear", name,
                   "its weight is not a dequantized constant");
      return;
    }
    std::optional<QuantConstant> qc = quantConstantOf(dq);
    if (!qc)
      return staysFloat(lin, "linear", name,
                        "its weight is not a dequantized constant");
    if (!lin.getType().getElementType().isF32())
      return staysFloat(lin, "linear", name, "it is not f32");
    std::optional<ParamLookup> p =
        ParamLookup::make(qc->qTy, qc->type.getShape());
    if (!p)
      return staysFloat(lin, "linear", name, "unsupported weight type");
    unsigned bits = qc->qTy.getStorageTypeIntegralWidth();
    int64_t nAxis = transposed ? 1 : 0, kAxis = 1 - nAxis;
    RowMajorWeight rw = rowMajor(*qc, *p, transposed);
    int64_t n = rw.n, k = rw.k;
    OpBuilder b(lin);
    Location loc = lin.getLoc();
    MLIRContext *ctx = b.getContext();
    Type f32 = b.getF32Type(), i8 = b.getI8Type();

    // 4-bit: weight-only, blocks along K (a whole row per channel, or one
    // block per tensor row when per tensor / per channel).
    if (bits == 4) {
      int64_t group = k;
      if (!p->blocks.empty()) {
        if (p->blocks[nAxis] != 1)
          return staysFloat(lin, "linear", name,
                            "4-bit blocks span output channels");
        group = p->blocks[kAxis];
      } else if (p->axis == kAxis && k > 1) {
        return staysFloat(lin, "linear", name,
                          "4-bit scales per input channel");
      }
      if (group % 2 != 0 || k % group != 0)
        return staysFloat(lin, "linear", name,
                          "4-bit block size " + std::to_string(group) +
                              " is odd");
      // int4 with nonzero zero points is uint4 shifted by 8.
      bool anyZp = llvm::any_of(rw.zp, [](int64_t z) { return z != 0; });
      bool asUnsigned = !qc->qTy.isSigned() || anyZp;
      int64_t shift = qc->qTy.isSigned() && asUnsigned ? 8 : 0;
      int64_t blocksPerRow = k / group;
      std::vector<int8_t> packed(size_t(n * k / 2), 0);
      std::vector<float> scales(size_t(n * blocksPerRow));
      std::vector<int8_t> zps(size_t(n * blocksPerRow));
      for (int64_t r = 0; r < n; ++r)
        for (int64_t kk = 0; kk < k; ++kk) {
          size_t i = size_t(r * k + kk);
          int v = int(rw.q[i] + shift) & 15;
          packed[i / 2] |= int8_t(v << ((kk % 2) * 4));
          if (kk % group == 0) {
            size_t bi = size_t(r * blocksPerRow + kk / group);
            scales[bi] = float(rw.scale[i]);
            zps[bi] = int8_t(rw.zp[i] + shift);
          }
        }
      WeightFormat fmt = asUnsigned ? WeightFormat::UInt4 : WeightFormat::Int4;
      Value wv = makeBlobConstant<int8_t>(
          b, loc, RankedTensorType::get({n, k / 2}, i8),
          name + "." + stringifyWeightFormat(fmt).str(), packed);
      auto sTy = RankedTensorType::get({n, blocksPerRow}, f32);
      Value sv = makeBlobConstant<float>(b, loc, sTy, name + ".scale", scales);
      Value zv;
      if (asUnsigned)
        zv = makeBlobConstant<int8_t>(b, loc, sTy.clone(i8),
                                      name + ".zero_point", zps);
      auto q = QLinearOp::create(
          b, loc, lin.getType(), lin.getInput(), wv, sv, Value(), zv,
          lin.getBias(), WeightFormatAttr::get(ctx, fmt),
          b.getI64IntegerAttr(group),
          ActivationModeAttr::get(ctx, ActivationMode::None), FloatAttr(),
          IntegerAttr(), ActivationStorageAttr(), lin.getWeightNameAttr(),
          FloatAttr());
      replace(
          lin, q, dq,
          {name, "linear",
           stringifyWeightFormat(fmt).str() + " g" + std::to_string(group)});
      return;
    }
    if (bits != 8)
      return staysFloat(lin, "linear", name,
                        std::to_string(bits) + "-bit weights");
    if (!p->blocks.empty())
      return staysFloat(lin, "linear", name, "block-wise 8-bit weights");
    if (p->axis == kAxis && k > 1)
      return staysFloat(lin, "linear", name, "weight scales per input channel");
    // int8 per output channel: the weight minus its zero point must be an
    // int8 (uint8 weights with zero point 128 are).
    std::vector<int8_t> ints(rw.q.size());
    for (size_t i = 0; i < ints.size(); ++i) {
      int64_t v = rw.q[i] - rw.zp[i];
      if (v < -128 || v > 127)
        return staysFloat(lin, "linear", name,
                          "weight minus zero point leaves int8");
      ints[i] = int8_t(v);
    }
    std::vector<float> scales(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r)
      scales[size_t(r)] = float(rw.scale[size_t(r * k)]);
    ActivationMode mode = act ? ActivationMode::Static : ActivationMode::None;
    if (mode == ActivationMode::Static && k > kMaxIntegerK)
      mode = ActivationMode::None;
    Value wv = makeBlobConstant<int8_t>(
        b, loc, RankedTensorType::get({n, k}, i8), name + ".int8", ints);
    Value sv = makeBlobConstant<float>(b, loc, RankedTensorType::get({n}, f32),
                                       name + ".scale", scales);
    Value input = mode == ActivationMode::Static ? act->source : lin.getInput();
    auto q = QLinearOp::create(
        b, loc, lin.getType(), input, wv, sv, Value(), Value(), lin.getBias(),
        WeightFormatAttr::get(ctx, WeightFormat::Int8), b.getI64IntegerAttr(0),
        ActivationModeAttr::get(ctx, mode), FloatAttr(), IntegerAttr(),
        ActivationStorageAttr(), lin.getWeightNameAttr(), FloatAttr());
    if (mode == ActivationMode::Static) {
      q.setInputScaleAttr(b.getF64FloatAttr(act->type.getScale()));
      q.setInputZeroPointAttr(b.getI64IntegerAttr(act->type.getZeroPoint()));
      q.setInputStorageAttr(ActivationStorageAttr::get(
          ctx, act->type.isSigned() ? ActivationStorage::Int8
                                    : ActivationStorage::UInt8));
    }
    replace(lin, q, dq,
            {name, "linear", mode == ActivationMode::Static ? "w8a8" : "w8"});
  }

  void replace(Operation *old, Operation *repl, DequantizeOp weightDQ,
               QDQLayer layer) {
    for (NamedAttribute attr : old->getDiscardableAttrs())
      repl->setAttr(attr.getName(), attr.getValue());
    SmallVector<Value> operands(old->getOperands());
    old->replaceAllUsesWith(repl);
    old->erase();
    for (Value v : operands)
      if (Operation *def = v.getDefiningOp())
        maybeDead.push_back(def);
    maybeDead.push_back(weightDQ);
    result.folded.push_back(std::move(layer));
  }

  void foldConv(linalg::Conv2DNchwFchwOp conv) {
    if (!conv.hasPureTensorSemantics())
      return;
    std::string name = locationName(conv->getLoc());
    if (name.empty())
      name = "conv";
    Value x = conv.getDpsInputOperand(0)->get();
    Value filter = conv.getDpsInputOperand(1)->get();
    auto dq = filter.getDefiningOp<DequantizeOp>();
    auto pad = x.getDefiningOp<tensor::PadOp>();
    Value unpadded = pad ? pad.getSource() : x;
    std::optional<ActivationQDQ> act = activationOf(unpadded);
    if (!dq) {
      if (act)
        staysFloat(conv, "conv", name,
                   "its filter is not a dequantized constant");
      return;
    }
    if (!act)
      return staysFloat(conv, "conv", name,
                        "its input is not a per-tensor 8-bit dequantize");
    if (!cast<RankedTensorType>(conv.getType(0)).getElementType().isF32())
      return staysFloat(conv, "conv", name, "it is not f32");
    std::optional<QuantConstant> qc = quantConstantOf(dq);
    if (!qc)
      return staysFloat(conv, "conv", name,
                        "its filter is not a dequantized constant");
    std::optional<ParamLookup> p =
        ParamLookup::make(qc->qTy, qc->type.getShape());
    if (!p || !p->blocks.empty() || (p->axis > 0) ||
        qc->qTy.getStorageTypeIntegralWidth() != 8)
      return staysFloat(conv, "conv", name,
                        "the filter is not 8-bit per tensor or per output "
                        "channel");
    int64_t f = qc->type.getDimSize(0);
    int64_t perFilter = qc->type.getNumElements() / f;
    if (perFilter > kMaxIntegerK)
      return staysFloat(conv, "conv", name, "the reduction is too long");
    std::vector<int8_t> ints(qc->values.size());
    std::vector<double> scales(static_cast<size_t>(f));
    for (int64_t i = 0; i < f; ++i) {
      int64_t pi = p->axis == 0 ? i : 0;
      scales[size_t(i)] = p->scales[size_t(pi)];
      for (int64_t j = 0; j < perFilter; ++j) {
        size_t e = size_t(i * perFilter + j);
        int64_t v = qc->values[e] - p->zeroPoints[size_t(pi)];
        if (v < -128 || v > 127)
          return staysFloat(conv, "conv", name,
                            "filter minus zero point leaves int8");
        ints[e] = int8_t(v);
      }
    }
    OpBuilder b(conv);
    // The integer convolution reads the padded float input the layer saw;
    // when the activation came through quantize + dequantize, the padding
    // moves onto the quantize's input (Q(pad value) is the same).
    Value input = x;
    if (act->source != unpadded) {
      if (pad) {
        auto cloned = cast<tensor::PadOp>(b.clone(*pad));
        cloned.getSourceMutable().assign(act->source);
        input = cloned.getResult();
      } else {
        input = act->source;
      }
    }
    Operation *xDef = x.getDefiningOp();
    replaceWithIntegerConv(b, conv, input, act->type.getScale(),
                           act->type.getZeroPoint(), act->type.isSigned(), ints,
                           scales, name);
    if (xDef)
      maybeDead.push_back(xDef);
    maybeDead.push_back(dq);
    result.folded.push_back({name, "conv", "w8a8"});
  }

  /// Erases what folding left unused: dequantize chains, transposes, pads.
  void eraseDead() {
    while (!maybeDead.empty()) {
      Operation *op = maybeDead.pop_back_val();
      if (!op || !isOpTriviallyDead(op))
        continue;
      SmallVector<Value> operands(op->getOperands());
      op->erase();
      // Later duplicates of an erased op in the worklist: drop them.
      llvm::erase(maybeDead, op);
      for (Value v : operands)
        if (Operation *def = v.getDefiningOp())
          maybeDead.push_back(def);
    }
  }

  /// Other contractions that read dequantized values (attention's products
  /// of two activations, grouped or 1-D/3-D convolutions): float, listed.
  void listFloatContractions() {
    module.walk([&](linalg::LinalgOp op) {
      if (isa<linalg::Conv2DNchwFchwOp>(op)) // foldConv's
        return;
      if (op.getNumReductionLoops() == 0 || op.getNumDpsInputs() < 2)
        return;
      // Products summed (not pooling windows).
      bool multiplies = false;
      op->walk([&](arith::MulFOp) { multiplies = true; });
      if (!multiplies)
        return;
      bool fromDQ = llvm::any_of(op.getDpsInputs(), [](Value v) {
        if (auto pad = v.getDefiningOp<tensor::PadOp>())
          v = pad.getSource();
        return v.getDefiningOp<DequantizeOp>() != nullptr;
      });
      if (!fromDQ)
        return;
      std::string name = locationName(op->getLoc());
      if (name.empty())
        name = op->getName().getStringRef().str();
      staysFloat(op, "contraction", name,
                 "no integer form for this contraction (a product of two "
                 "activations, or a grouped / 1-D / 3-D convolution)");
    });
  }

  /// The Q -> DQ pairs left between float ops (around ReLU, pools, norms,
  /// adds) become one qopt.fake_quant each: the same arithmetic in one
  /// element-wise pass, with no integer tensor in between.
  void fuseQDQPairs() {
    SmallVector<DequantizeOp> dqs;
    module.walk([&](DequantizeOp dq) { dqs.push_back(dq); });
    for (DequantizeOp dq : dqs) {
      auto q = throughStorageCasts(dq.getInput()).getDefiningOp<QuantizeOp>();
      if (!q || dq->use_empty() ||
          q.getResult().getType() != dq.getInput().getType() ||
          q.getInput().getType() != dq.getResult().getType())
        continue;
      // Sizes read from the pair are the input's (same shape).
      for (OpOperand &use : llvm::make_early_inc_range(dq->getUses()))
        if (isa<tensor::DimOp>(use.getOwner()))
          use.set(q.getInput());
      if (dq->use_empty()) {
        maybeDead.push_back(dq);
        continue;
      }
      auto qTy =
          cast<quant::QuantizedType>(dq.getInput().getType().getElementType());
      SmallVector<double> scales;
      SmallVector<int64_t> zps;
      IntegerAttr axis;
      OpBuilder b(dq);
      if (auto t = dyn_cast<quant::UniformQuantizedType>(qTy)) {
        scales.push_back(t.getScale());
        zps.push_back(t.getZeroPoint());
      } else if (auto a = dyn_cast<quant::UniformQuantizedPerAxisType>(qTy)) {
        scales.assign(a.getScales().begin(), a.getScales().end());
        zps.assign(a.getZeroPoints().begin(), a.getZeroPoints().end());
        axis = b.getI64IntegerAttr(a.getQuantizedDimension());
      } else {
        continue;
      }
      auto fq = FakeQuantOp::create(
          b, dq.getLoc(), q.getInput(), b.getDenseF64ArrayAttr(scales),
          b.getDenseI64ArrayAttr(zps),
          b.getI64IntegerAttr(qTy.getStorageTypeMin()),
          b.getI64IntegerAttr(qTy.getStorageTypeMax()), axis);
      Operation *in = dq.getInput().getDefiningOp();
      dq.getResult().replaceAllUsesWith(fq.getResult());
      llvm::erase(maybeDead, dq.getOperation());
      dq.erase();
      maybeDead.push_back(in);
    }
  }

  void run() {
    foldConstantBiases();
    SmallVector<LinearOp> linears;
    SmallVector<linalg::Conv2DNchwFchwOp> convs;
    module.walk([&](Operation *op) {
      if (auto l = dyn_cast<LinearOp>(op))
        linears.push_back(l);
      else if (auto c = dyn_cast<linalg::Conv2DNchwFchwOp>(op))
        convs.push_back(c);
    });
    for (LinearOp l : linears)
      foldLinear(l);
    for (linalg::Conv2DNchwFchwOp c : convs)
      foldConv(c);
    listFloatContractions();
    // What the folds left unused goes first, so that only live Q -> DQ
    // pairs become fake quants.
    eraseDead();
    fuseQDQPairs();
    eraseDead();
    GridSimplification g = removeRedundantFakeQuants(module);
    result.pairsOnGrid = g.onGrid;
    result.pairsAbsorbed = g.absorbed;
    // Small dequantized constants left (norm parameters) become float
    // constants, so that chains reading them can become tables.
    foldConstantBiases(/*small=*/true);
    eraseDead();
    for (const QDQTableChain &t : tabulateQuantizedChains(module))
      result.tables.push_back({t.name, t.ops, t.fakeQuants, t.entries});
  }
};

struct FoldQDQPass : qopt::impl::FoldQDQPassBase<FoldQDQPass> {
  using Base::Base;
  void runOnOperation() override { (void)foldQDQ(getOperation()); }
};

} // namespace

bool mlir::qopt::hasQDQ(ModuleOp module) {
  bool found = false;
  module.walk([&](DequantizeOp) {
    found = true;
    return WalkResult::interrupt();
  });
  return found;
}

QDQFoldResult mlir::qopt::foldQDQ(ModuleOp module) {
  Folder folder{module, {}, {}};
  folder.run();
  return std::move(folder.result);
}

std::string mlir::qopt::qdqFoldResultToJSON(const QDQFoldResult &result) {
  llvm::json::Array folded, stays;
  for (const QDQLayer &l : result.folded)
    folded.push_back(llvm::json::Object{
        {"layer", l.name}, {"kind", l.kind}, {"form", l.detail}});
  for (const QDQLayer &l : result.staysFloat)
    stays.push_back(llvm::json::Object{
        {"layer", l.name}, {"kind", l.kind}, {"reason", l.detail}});
  llvm::json::Array tables;
  for (const QDQFoldResult::Table &t : result.tables)
    tables.push_back(llvm::json::Object{{"chain", t.name},
                                        {"ops", t.ops},
                                        {"fake_quants", t.fakeQuants},
                                        {"entries", t.entries}});
  llvm::json::Object root{
      {"folded", std::move(folded)},
      {"stays_float", std::move(stays)},
      {"folded_biases", result.foldedBiases},
      {"pairs_removed", llvm::json::Object{{"on_grid", result.pairsOnGrid},
                                           {"absorbed", result.pairsAbsorbed}}},
      {"tables", std::move(tables)}};
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root)));
  return out;
}
