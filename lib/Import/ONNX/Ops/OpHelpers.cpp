//===- OpHelpers.cpp - building blocks shared by the op builders ----------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

FailureOr<SmallVector<int64_t>>
mlir::qopt::onnx_import::broadcastShapes(ONNXNode &node,
                                         ArrayRef<RankedTensorType> types) {
  int64_t rank = 0;
  for (RankedTensorType t : types)
    rank = std::max(rank, t.getRank());
  SmallVector<int64_t> out(rank, 1);
  for (RankedTensorType t : types) {
    int64_t offset = rank - t.getRank();
    for (int64_t i = 0; i < t.getRank(); ++i) {
      int64_t d = t.getDimSize(i), &o = out[offset + i];
      if (d == 1)
        continue;
      if (o == 1) {
        o = d;
      } else if (ShapedType::isDynamic(o)) {
        if (!ShapedType::isDynamic(d))
          o = d; // the static size wins; the dynamic one must match it
      } else if (!ShapedType::isDynamic(d) && d != o) {
        return node.emitError() << "inputs cannot be broadcast together: dim "
                                << offset + i << " is " << o << " and " << d;
      }
    }
  }
  return out;
}

Value mlir::qopt::onnx_import::emptyTensorLike(OpBuilder &b, Location loc,
                                               RankedTensorType type,
                                               Value source) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, source, i));
  return tensor::EmptyOp::create(b, loc, type.getShape(),
                                 type.getElementType(), dyn);
}

FailureOr<Value> mlir::qopt::onnx_import::buildElementwise(
    ONNXNode &node, ValueRange inputs, Type resultElemTy, ElementBodyFn body) {
  OpBuilder &b = node.b;
  Location loc = node.loc;
  SmallVector<RankedTensorType> types;
  for (Value v : inputs)
    types.push_back(cast<RankedTensorType>(v.getType()));
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(node, types);
  if (failed(shape))
    return failure();
  int64_t rank = shape->size();
  MLIRContext *ctx = b.getContext();

  SmallVector<AffineMap> maps;
  for (RankedTensorType t : types) {
    int64_t offset = rank - t.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < t.getRank(); ++i)
      exprs.push_back(t.getDimSize(i) == 1 && (*shape)[offset + i] != 1
                          ? getAffineConstantExpr(0, ctx)
                          : getAffineDimExpr(offset + i, ctx));
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));

  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    if (!ShapedType::isDynamic((*shape)[i]))
      continue;
    for (auto [v, t] : llvm::zip(inputs, types)) {
      int64_t j = i - (rank - t.getRank());
      if (j >= 0 && t.isDynamicDim(j)) {
        dyn.push_back(tensor::DimOp::create(b, loc, v, j));
        break;
      }
    }
  }
  Value init = tensor::EmptyOp::create(b, loc, *shape, resultElemTy, dyn);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value r = body(nb, nloc, args.drop_back());
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

Value mlir::qopt::onnx_import::scalarConstant(OpBuilder &b, Location loc,
                                              Type type, double value) {
  if (auto ft = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(ft, value));
  return arith::ConstantOp::create(
      b, loc, type, b.getIntegerAttr(type, static_cast<int64_t>(value)));
}

Value mlir::qopt::onnx_import::convertScalar(OpBuilder &b, Location loc,
                                             Value v, Type to,
                                             bool srcUnsigned,
                                             bool dstUnsigned) {
  Type from = v.getType();
  if (from == to)
    return v;
  auto fromF = dyn_cast<FloatType>(from), toF = dyn_cast<FloatType>(to);
  if (fromF && toF)
    return fromF.getWidth() < toF.getWidth()
               ? arith::ExtFOp::create(b, loc, to, v).getResult()
               : arith::TruncFOp::create(b, loc, to, v).getResult();
  if (to.isInteger(1)) { // bool: nonzero
    Value zero = scalarConstant(b, loc, from, 0);
    if (fromF)
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  if (fromF)
    return dstUnsigned ? arith::FPToUIOp::create(b, loc, to, v).getResult()
                       : arith::FPToSIOp::create(b, loc, to, v).getResult();
  if (toF)
    return srcUnsigned ? arith::UIToFPOp::create(b, loc, to, v).getResult()
                       : arith::SIToFPOp::create(b, loc, to, v).getResult();
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw < tw)
    return srcUnsigned ? arith::ExtUIOp::create(b, loc, to, v).getResult()
                       : arith::ExtSIOp::create(b, loc, to, v).getResult();
  return arith::TruncIOp::create(b, loc, to, v);
}
