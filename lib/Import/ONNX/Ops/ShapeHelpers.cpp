//===- ShapeHelpers.cpp - helpers of the shape op builders ----------------===//

#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

Value mlir::qopt::onnx_import::toValue(OpBuilder &b, Location loc,
                                       OpFoldResult ofr) {
  if (auto v = dyn_cast<Value>(ofr))
    return v;
  return cIndex(b, loc, *getConstantIntValue(ofr));
}

OpFoldResult mlir::qopt::onnx_import::product(OpBuilder &b, Location loc,
                                              ArrayRef<OpFoldResult> ofrs) {
  int64_t s = 1;
  Value dyn;
  for (OpFoldResult f : ofrs) {
    if (std::optional<int64_t> c = getConstantIntValue(f)) {
      s *= *c;
      continue;
    }
    Value v = cast<Value>(f);
    dyn = dyn ? arith::MulIOp::create(b, loc, dyn, v).getResult() : v;
  }
  if (!dyn)
    return b.getIndexAttr(s);
  if (s != 1)
    dyn = arith::MulIOp::create(b, loc, dyn, cIndex(b, loc, s));
  return dyn;
}

Value mlir::qopt::onnx_import::emptyTensor(OpBuilder &b, Location loc,
                                           ArrayRef<OpFoldResult> sizes,
                                           Type elemTy) {
  return tensor::EmptyOp::create(b, loc, sizes, elemTy);
}

std::string mlir::qopt::onnx_import::shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? "?" : std::to_string(d);
  }
  return s + "]";
}

FailureOr<int64_t> mlir::qopt::onnx_import::axisOf(ONNXNode &n, int64_t axis,
                                                   int64_t rank,
                                                   StringRef what) {
  if (rank == 0)
    return n.emitError() << what << " " << axis
                         << " is given but the input is a scalar (rank 0)";
  if (axis < 0 && n.opset < 11)
    return n.emitError() << "negative " << what << " " << axis
                         << " needs opset 11 or newer";
  return n.normalizeAxis(axis, rank, what);
}

FailureOr<SmallVector<int64_t>>
mlir::qopt::onnx_import::axesOf(ONNXNode &n, ArrayRef<int64_t> axes,
                                int64_t rank, StringRef what) {
  SmallVector<int64_t> out;
  for (int64_t a : axes) {
    FailureOr<int64_t> ax = axisOf(n, a, rank, what);
    if (failed(ax))
      return failure();
    if (llvm::is_contained(out, *ax))
      return n.emitError() << what << " " << a << " is given twice";
    out.push_back(*ax);
  }
  return out;
}

FailureOr<SmallVector<int64_t>>
mlir::qopt::onnx_import::requireConstInts(ONNXNode &n, int64_t i,
                                          StringRef what, StringRef why) {
  RankedTensorType ty = n.inputType(i);
  if (!isa<IntegerType>(ty.getElementType()) || n.inputDType(i) == kBool)
    return n.emitError() << what << " (input #" << i
                         << ") must be an integer tensor, got "
                         << dtypeName(n.inputDType(i));
  if (ty.getRank() > 1)
    return n.emitError() << what << " (input #" << i
                         << ") must be 1-D, got rank " << ty.getRank();
  std::optional<SmallVector<int64_t>> v = n.constantInts(i);
  if (!v)
    return n.emitError() << what << " (input #" << i
                         << ") must be a constant (an initializer, a Constant "
                            "node or a shape computation on static shapes)"
                         << why;
  return *v;
}

RankedTensorType
mlir::qopt::onnx_import::typeOfSizes(ArrayRef<OpFoldResult> sizes, Type et) {
  SmallVector<int64_t> shape;
  for (OpFoldResult s : sizes)
    shape.push_back(getConstantIntValue(s).value_or(ShapedType::kDynamic));
  return RankedTensorType::get(shape, et);
}

//===----------------------------------------------------------------------===//
// Import-time folding of small constants
//===----------------------------------------------------------------------===//

DenseElementsAttr mlir::qopt::onnx_import::smallConstant(ONNXNode &n,
                                                         int64_t i) {
  if (!n.hasInput(i))
    return {};
  RankedTensorType ty = n.inputType(i);
  if (!ty.hasStaticShape() || ty.getNumElements() > kMaxFoldElements)
    return {};
  auto c = n.input(i).getDefiningOp<arith::ConstantOp>();
  if (!c)
    return {};
  if (auto d = dyn_cast<DenseElementsAttr>(c.getValue()))
    return d;
  // Initializers are dense_resource blobs; rebuild small ones.
  Type et = ty.getElementType();
  if (auto it = dyn_cast<IntegerType>(et)) {
    std::optional<SmallVector<int64_t>> v = n.constantInts(i);
    if (!v)
      return {};
    SmallVector<APInt> ap;
    for (int64_t x : *v)
      ap.push_back(APInt(it.getWidth(), static_cast<uint64_t>(x),
                         /*isSigned=*/false, /*implicitTrunc=*/true));
    return DenseElementsAttr::get(ty, ap);
  }
  if (auto ft = dyn_cast<FloatType>(et)) {
    std::optional<SmallVector<double>> v = n.constantFloats(i);
    if (!v)
      return {};
    SmallVector<APFloat> ap;
    for (double x : *v) {
      APFloat f(x);
      bool lost;
      f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      ap.push_back(f);
    }
    return DenseElementsAttr::get(ty, ap);
  }
  return {};
}

SmallVector<int64_t>
mlir::qopt::onnx_import::stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> s(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

Value mlir::qopt::onnx_import::foldGather(
    OpBuilder &b, Location loc, ArrayRef<DenseElementsAttr> ins,
    RankedTensorType outTy, function_ref<int64_t(ArrayRef<int64_t>)> src) {
  if (!outTy.hasStaticShape() || outTy.getNumElements() > kMaxFoldElements)
    return {};
  SmallVector<Attribute> vals;
  for (DenseElementsAttr a : ins)
    llvm::append_range(vals, a.getValues<Attribute>());
  ArrayRef<int64_t> shape = outTy.getShape();
  SmallVector<int64_t> strides = stridesOf(shape);
  SmallVector<Attribute> out;
  SmallVector<int64_t> idx(shape.size());
  for (int64_t flat = 0, e = outTy.getNumElements(); flat < e; ++flat) {
    for (size_t d = 0; d < shape.size(); ++d)
      idx[d] = (flat / strides[d]) % shape[d];
    out.push_back(vals[src(idx)]);
  }
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(outTy, out));
}
