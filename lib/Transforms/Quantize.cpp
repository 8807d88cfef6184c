//===- Quantize.cpp - W8A8 static quantization of linear layers -----------===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Support/QuantMath.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Regex.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_QUANTIZEPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The f32 values of a constant weight (dense or dense_resource).
std::optional<std::vector<float>> weightValues(Value w) {
  auto c = w.getDefiningOp<arith::ConstantOp>();
  if (!c || !cast<ShapedType>(c.getType()).getElementType().isF32())
    return std::nullopt;
  if (auto d = dyn_cast<DenseFPElementsAttr>(c.getValue())) {
    auto v = d.getValues<float>();
    return std::vector<float>(v.begin(), v.end());
  }
  if (auto r = dyn_cast<DenseF32ResourceElementsAttr>(c.getValue()))
    if (auto arr = r.tryGetAsArrayRef())
      return std::vector<float>(arr->begin(), arr->end());
  return std::nullopt;
}

struct QuantizePass : mlir::qopt::impl::QuantizePassBase<QuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (scheme != "w8a8") {
      module.emitError("qopt-quantize: scheme '")
          << scheme << "' is not supported yet (w8a8)";
      return signalPassFailure();
    }
    llvm::Regex excluded(exclude);
    std::string regexError;
    if (!exclude.empty() && !excluded.isValid(regexError)) {
      module.emitError("qopt-quantize: exclude regex '")
          << exclude << "': " << regexError;
      return signalPassFailure();
    }
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    Type f32 = b.getF32Type(), i8 = b.getIntegerType(8);
    DenseMap<Operation *, Value> quantizedActivations;
    DenseMap<Value, Value> quantizedWeights; // a shared weight is done once

    // The layers: an activation operand and a constant weight whose axis 0
    // is the output channel (qopt.linear's [out, in], conv's [F, C, KH, KW]).
    struct Layer {
      Operation *op;
      OpOperand *input, *weight;
      std::string name;
    };
    SmallVector<Layer> layers;
    module.walk([&](Operation *op) {
      if (auto linear = dyn_cast<LinearOp>(op))
        layers.push_back({op, &linear->getOpOperand(0),
                          &linear->getOpOperand(1),
                          linear.getWeightName().value_or("").str()});
      else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(op))
        if (conv.hasPureTensorSemantics()) {
          std::string name;
          if (auto fused = dyn_cast<FusedLoc>(op->getLoc()))
            for (Location l : fused.getLocations())
              if (auto n = dyn_cast<NameLoc>(l))
                name = n.getName().str();
          layers.push_back({op, conv.getDpsInputOperand(0),
                            conv.getDpsInputOperand(1), name});
        }
    });
    for (const Layer &layer : layers) {
      Operation *op = layer.op;
      auto observer = layer.input->get().getDefiningOp<ObserveOp>();
      if (!observer)
        continue;
      if (!exclude.empty() && !layer.name.empty() && excluded.match(layer.name))
        continue;
      auto weightTy = cast<RankedTensorType>(layer.weight->get().getType());
      std::optional<std::vector<float>> w = weightValues(layer.weight->get());
      if (!w || !weightTy.hasStaticShape() || weightTy.getRank() < 2)
        continue; // not a constant f32 weight: stays float

      // The activation: one QDQ per observer.
      Value &act = quantizedActivations[observer];
      if (!act) {
        auto scale = observer->getAttrOfType<FloatAttr>("qopt.scale");
        auto zp = observer->getAttrOfType<IntegerAttr>("qopt.zero_point");
        auto storage = observer->getAttrOfType<StringAttr>("qopt.storage");
        if (!scale || !zp || !storage ||
            (storage.getValue() != "int8" && storage.getValue() != "uint8")) {
          observer.emitOpError("qopt-quantize: observer ")
              << observer.getId()
              << " has no quantization parameters (run qopt-calibrate)";
          return signalPassFailure();
        }
        bool isSigned = storage.getValue() == "int8";
        auto qTy = quant::UniformQuantizedType::get(
            isSigned ? quant::QuantizationFlags::Signed : 0, i8, f32,
            scale.getValueAsDouble(), zp.getInt(), isSigned ? -128 : 0,
            isSigned ? 127 : 255);
        auto xTy = cast<RankedTensorType>(observer.getInput().getType());
        b.setInsertionPointAfter(observer);
        Value q = QuantizeOp::create(b, observer.getLoc(), xTy.clone(qTy),
                                     observer.getInput());
        act = DequantizeOp::create(b, observer.getLoc(), xTy, q);
      }

      // The weight: int8 symmetric per output channel.
      if (Value done = quantizedWeights.lookup(layer.weight->get())) {
        layer.input->set(act);
        layer.weight->set(done);
        continue;
      }
      std::vector<int64_t> shape(weightTy.getShape().begin(),
                                 weightTy.getShape().end());
      auto params = ::qopt::choosePerAxisParams(
          *w, shape, 0, ::qopt::StorageType::Int8, /*symmetric=*/true);
      if (!params) {
        op->emitOpError("qopt-quantize: the weight is not finite");
        return signalPassFailure();
      }
      int64_t rows = shape[0], cols = weightTy.getNumElements() / rows;
      std::vector<int8_t> qw(w->size());
      SmallVector<double> scales;
      SmallVector<int64_t> zps;
      ::qopt::StorageRange range =
          ::qopt::storageRange(::qopt::StorageType::Int8);
      for (int64_t r = 0; r < rows; ++r) {
        const ::qopt::QuantParams &p = (*params)[size_t(r)];
        scales.push_back(p.scale);
        zps.push_back(p.zeroPoint);
        for (int64_t c = 0; c < cols; ++c)
          qw[size_t(r * cols + c)] = int8_t(
              ::qopt::quantizeValue((*w)[size_t(r * cols + c)], p, range));
      }
      auto intTy = RankedTensorType::get(weightTy.getShape(), i8);
      std::string blobName =
          (layer.name.empty() ? std::string("weight") : layer.name) + ".int8";
      auto blob =
          HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef<int8_t>(qw));
      b.setInsertionPoint(op);
      Value ints = arith::ConstantOp::create(
          b, op->getLoc(),
          DenseResourceElementsAttr::get(intTy, blobName, std::move(blob)));
      auto wqTy = quant::UniformQuantizedPerAxisType::get(
          quant::QuantizationFlags::Signed, i8, f32, scales, zps,
          /*quantizedDimension=*/0, -128, 127);
      Value wq = quant::StorageCastOp::create(b, op->getLoc(),
                                              weightTy.clone(wqTy), ints);
      Value wdq = DequantizeOp::create(b, op->getLoc(), weightTy, wq);
      quantizedWeights[layer.weight->get()] = wdq;
      layer.input->set(act);
      layer.weight->set(wdq);
    }
    // Observers that were quantized are replaced by their QDQ value.
    for (auto [observer, act] : quantizedActivations) {
      observer->getResult(0).replaceAllUsesWith(act);
      observer->erase();
    }
  }
};

} // namespace
