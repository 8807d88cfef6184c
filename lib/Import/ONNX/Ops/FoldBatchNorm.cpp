//===- FoldBatchNorm.cpp - BatchNormalization folded into its Conv --------===//
//
// An inference BatchNormalization y = (x - mean) / sqrt(var + eps) * scale
// + B right after a float Conv with constant weights is the same Conv with
// the weights of output channel m times a[m] = scale[m] / sqrt(var[m] +
// eps) and the bias bias[m] * a[m] + B[m] - mean[m] * a[m] (as onnxruntime's
// ConvBNFusion): the per-element normalization disappears and the bias
// starts the convolution's accumulator. Grouped and depthwise Convs
// (the importer's grouped generic) fold the same way, channel m being
// output channel g * M/G + m' of the [G, M/G, ...] views.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// The f32 values of constant `v` ([n] elements), or nothing.
std::optional<std::vector<float>> floatsOf(Value v, int64_t n) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  if (!c)
    return std::nullopt;
  auto attr = dyn_cast<ElementsAttr>(c.getValue());
  if (!attr || !attr.getElementType().isF32() || attr.getNumElements() != n)
    return std::nullopt;
  std::vector<float> out(static_cast<size_t>(n));
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (dense.isSplat()) {
      std::fill(out.begin(), out.end(), dense.getSplatValue<float>());
      return out;
    }
    ArrayRef<char> raw = dense.getRawData();
    if (raw.size() != out.size() * sizeof(float))
      return std::nullopt;
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
  }
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr))
    if (AsmResourceBlob *blob = res.getRawHandle().getBlob()) {
      ArrayRef<char> raw = blob->getData();
      if (raw.size() != out.size() * sizeof(float))
        return std::nullopt;
      std::memcpy(out.data(), raw.data(), raw.size());
      return out;
    }
  return std::nullopt;
}

/// A constant of `type` holding `values`, as a blob named `name`.
Value blobConstant(OpBuilder &b, Location loc, RankedTensorType type,
                   StringRef name, const std::vector<float> &values) {
  ArrayRef<char> bytes(reinterpret_cast<const char *>(values.data()),
                       values.size() * sizeof(float));
  AsmResourceBlob blob =
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(float));
  return arith::ConstantOp::create(
      b, loc, DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

} // namespace

bool mlir::qopt::onnx_import::tryFoldBatchNormIntoConv(ONNXNode &n,
                                                       double eps) {
  if (!n.importer.foldBatchNorm())
    return false;
  Value x = n.input(0);
  // The Conv's result must feed this node only (now and later).
  if (n.inputUseCount(0) != 1 || !x.use_empty())
    return false;
  auto yTy = cast<RankedTensorType>(x.getType());
  if (!yTy.getElementType().isF32())
    return false;
  // A plain Conv (linalg.conv_2d_nchw_fchw), or a grouped one (depthwise
  // included): the importer's generic over (n, g, m, out..., c, k...) on
  // [G, M/G, ...] views of the weight and the accumulator, its result
  // collapsed back to [N, M, out...] (Conv.cpp, groupedConv).
  Operation *conv = x.getDefiningOp<linalg::Conv2DNchwFchwOp>();
  tensor::ExpandShapeOp wView, accView;
  if (!conv)
    if (auto collapse = x.getDefiningOp<tensor::CollapseShapeOp>()) {
      auto g = collapse.getSrc().getDefiningOp<linalg::GenericOp>();
      if (!g || !collapse.getSrc().hasOneUse() || g.getNumDpsInputs() != 2 ||
          g.getNumDpsInits() != 1 || g.getNumLoops() < 6 ||
          g.getNumLoops() % 2 != 0)
        return false;
      // Weight map (g, m, c, k...): not a transposed conv's (g, c, m, ...).
      unsigned k = (g.getNumLoops() - 4) / 2;
      AffineMap wMap = g.getIndexingMapsArray()[1];
      SmallVector<unsigned> want{1, 2, 3 + k};
      for (unsigned i = 0; i < k; ++i)
        want.push_back(4 + k + i);
      if (wMap.getNumResults() != want.size())
        return false;
      for (auto [e, d] : llvm::zip(wMap.getResults(), want))
        if (!isa<AffineDimExpr>(e) || cast<AffineDimExpr>(e).getPosition() != d)
          return false;
      Block &body = g.getRegion().front();
      auto add = dyn_cast_or_null<arith::AddFOp>(
          body.getTerminator()->getOperand(0).getDefiningOp());
      if (body.getOperations().size() != 3 || !add ||
          !(add.getLhs().getDefiningOp<arith::MulFOp>() ||
            add.getRhs().getDefiningOp<arith::MulFOp>()))
        return false;
      wView =
          g.getDpsInputOperand(1)->get().getDefiningOp<tensor::ExpandShapeOp>();
      accView =
          g.getDpsInitOperand(0)->get().getDefiningOp<tensor::ExpandShapeOp>();
      if (!wView || !accView || !accView->hasOneUse())
        return false;
      conv = g;
    }
  if (!conv)
    return false;
  auto convOp = cast<linalg::LinalgOp>(conv);
  Value w = wView ? wView.getSrc() : convOp.getDpsInputOperand(1)->get();
  auto wTy = cast<RankedTensorType>(w.getType());
  if (!wTy.hasStaticShape())
    return false;
  const int64_t m = wTy.getDimSize(0);
  const int64_t perChannel = m ? wTy.getNumElements() / m : 0;
  std::optional<std::vector<float>> weights = floatsOf(w, wTy.getNumElements());
  std::optional<std::vector<float>> scale = floatsOf(n.input(1), m),
                                    shift = floatsOf(n.input(2), m),
                                    mean = floatsOf(n.input(3), m),
                                    var = floatsOf(n.input(4), m);
  if (!weights || !scale || !shift || !mean || !var)
    return false;

  // The accumulator: zeros, or the Conv's constant bias broadcast.
  Value acc = accView ? accView.getSrc() : convOp.getDpsInitOperand(0)->get();
  Value empty;
  std::vector<float> bias(static_cast<size_t>(m), 0.0f);
  if (auto fill = acc.getDefiningOp<linalg::FillOp>()) {
    auto zero = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
    auto z = zero ? dyn_cast<FloatAttr>(zero.getValue()) : nullptr;
    if (!z || !z.getValue().isZero())
      return false;
    empty = fill.getOutputs()[0];
  } else if (auto bc = acc.getDefiningOp<linalg::BroadcastOp>()) {
    std::optional<std::vector<float>> b = floatsOf(bc.getInput(), m);
    if (!b || bc.getDimensions() != ArrayRef<int64_t>{0, 2, 3})
      return false;
    bias = *b;
    empty = bc.getInit();
  } else {
    return false;
  }

  // Folded in double, rounded once.
  std::vector<float> newBias(static_cast<size_t>(m));
  for (int64_t c = 0; c < m; ++c) {
    double a = double((*scale)[c]) / std::sqrt(double((*var)[c]) + eps);
    for (int64_t i = 0; i < perChannel; ++i) {
      float &wi = (*weights)[size_t(c * perChannel + i)];
      wi = float(double(wi) * a);
    }
    newBias[c] = float(double(bias[c]) * a + double((*shift)[c]) -
                       double((*mean)[c]) * a);
  }

  OpBuilder &b = n.b;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(conv);
  std::string name =
      n.importer.initializerOf(w).value_or(n.name().str() + ".weight") +
      ".bn_folded";
  Value newW = blobConstant(b, conv->getLoc(), wTy, name, *weights);
  Value newB =
      blobConstant(b, n.loc, RankedTensorType::get({m}, b.getF32Type()),
                   n.name().str() + ".folded_bias", newBias);
  Value newAcc = linalg::BroadcastOp::create(b, n.loc, newB, empty,
                                             ArrayRef<int64_t>{0, 2, 3})
                     .getResult()[0];
  Operation *oldAcc = acc.getDefiningOp();
  if (wView) {
    // The grouped conv reads [G, M/G, ...] views of both.
    newW = tensor::ExpandShapeOp::create(b, conv->getLoc(), wView.getType(),
                                         newW, wView.getReassociationIndices());
    newAcc = tensor::ExpandShapeOp::create(b, n.loc, accView.getType(), newAcc,
                                           accView.getReassociationIndices());
  }
  convOp.getDpsInputOperand(1)->set(newW);
  convOp.getDpsInitOperand(0)->set(newAcc);
  if (accView && accView->use_empty())
    accView->erase();
  if (wView && wView->use_empty())
    wView->erase();
  if (oldAcc->use_empty())
    oldAcc->erase();
  if (Operation *oldW = w.getDefiningOp();
      oldW && oldW->use_empty() && !n.importer.initializerOf(w))
    oldW->erase();
  n.setOutput(0, x, n.inputDType(0));
  return true;
}
