//===- IntegerConv.cpp - int8 convolution with a float epilogue -----------===//

#include "IntegerConv.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

linalg::GenericOp mlir::qopt::createDequantEpilogue(OpBuilder &b, Location loc,
                                                    Type resultType,
                                                    ValueRange ins, Value out,
                                                    ArrayRef<AffineMap> maps) {
  return linalg::GenericOp::create(
      b, loc, resultType, ins, ValueRange{out}, maps,
      SmallVector<utils::IteratorType>(maps.back().getNumDims(),
                                       utils::IteratorType::parallel),
      [](OpBuilder &nb, Location l, ValueRange args) {
        Value a = arith::SubIOp::create(nb, l, args[0], args[2]);
        Value v = arith::MulFOp::create(
            nb, l, arith::SIToFPOp::create(nb, l, nb.getF32Type(), a), args[3]);
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, args[1], v).getResult());
      });
}

std::vector<int32_t> mlir::qopt::zeroPointCorrections(ArrayRef<int8_t> w,
                                                      int64_t channels,
                                                      int64_t zx) {
  int64_t perChannel = int64_t(w.size()) / channels;
  std::vector<int32_t> corr(static_cast<size_t>(channels));
  for (int64_t i = 0; i < channels; ++i) {
    int64_t sum = 0;
    for (int64_t j = 0; j < perChannel; ++j)
      sum += w[size_t(i * perChannel + j)];
    corr[size_t(i)] = int32_t(zx * sum);
  }
  return corr;
}

void mlir::qopt::replaceWithIntegerConv(OpBuilder &b,
                                        linalg::Conv2DNchwFchwOp conv, Value x,
                                        double sx, int64_t zx, bool xSigned,
                                        ArrayRef<int8_t> w, ArrayRef<double> ws,
                                        StringRef name) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(conv);
  Location loc = conv.getLoc();
  Value filter = conv.getDpsInputOperand(1)->get();
  auto filterTy = cast<RankedTensorType>(filter.getType());
  Type f32 = b.getF32Type(), i8 = b.getI8Type(), i32 = b.getI32Type();
  int64_t zx8 = zx - (xSigned ? 0 : 128);
  auto sTy = quant::UniformQuantizedType::get(quant::QuantizationFlags::Signed,
                                              i8, f32, sx, zx8, -128, 127);
  auto xTy = cast<RankedTensorType>(x.getType());
  Value qx = QuantizeOp::create(b, loc, xTy.clone(sTy), x);
  Value xi = quant::StorageCastOp::create(b, loc, xTy.clone(i8), qx);
  Value wi = makeBlobConstant<int8_t>(b, loc, filterTy.clone(i8),
                                      (name + ".int8").str(), w);
  int64_t f = filterTy.getDimSize(0);
  std::vector<float> scale(static_cast<size_t>(f));
  for (int64_t i = 0; i < f; ++i)
    scale[size_t(i)] = float(sx * ws[size_t(i)]);
  std::vector<int32_t> corr = zeroPointCorrections(w, f, zx8);
  auto vecTy = RankedTensorType::get({f}, f32);
  Value scaleV =
      makeBlobConstant<float>(b, loc, vecTy, (name + ".scale").str(), scale);
  Value corrV = makeBlobConstant<int32_t>(
      b, loc, vecTy.clone(i32), (name + ".zero_point_correction").str(), corr);
  Value init = conv.getDpsInitOperand(0)->get();
  auto outTy = cast<RankedTensorType>(init.getType());
  SmallVector<Value> dyn;
  for (int64_t d = 0; d < outTy.getRank(); ++d)
    if (outTy.isDynamicDim(d))
      dyn.push_back(tensor::DimOp::create(b, loc, init, d));
  Value empty = tensor::EmptyOp::create(b, loc, outTy.getShape(), i32, dyn);
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value acc0 = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  auto intConv = linalg::Conv2DNchwFchwOp::create(
      b, loc, TypeRange{acc0.getType()}, ValueRange{xi, wi}, ValueRange{acc0},
      conv.getStrides(), conv.getDilations());
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
  AffineMap perF = AffineMap::get(4, 0, getAffineDimExpr(1, ctx), ctx);
  Value out = tensor::EmptyOp::create(b, loc, outTy.getShape(), f32, dyn);
  // A bias broadcast over batch and space (the importer's init) is read as
  // its vector: no materialized [N, F, H, W] copy and no pass to fill it.
  AffineMap initMap = id;
  if (auto bc = init.getDefiningOp<linalg::BroadcastOp>())
    if (cast<RankedTensorType>(bc.getInput().getType()).getRank() == 1 &&
        bc.getDimensions() == ArrayRef<int64_t>{0, 2, 3}) {
      init = bc.getInput();
      initMap = perF;
    }
  linalg::GenericOp epilogue = createDequantEpilogue(
      b, loc, outTy, ValueRange{intConv.getResult(0), init, corrV, scaleV}, out,
      {id, initMap, perF, perF, id});
  // Discardable attributes (report ids, user tags) go to the op that
  // produces the layer's float result; the sparsity pattern describes the
  // filter, so it stays on the (integer) convolution.
  for (NamedAttribute attr : conv->getDiscardableAttrs()) {
    Operation *to = attr.getName() == SparsityAttr::getAttrName()
                        ? intConv.getOperation()
                        : epilogue.getOperation();
    to->setAttr(attr.getName(), attr.getValue());
  }
  conv->replaceAllUsesWith(epilogue->getResults());
  conv->erase();
}
