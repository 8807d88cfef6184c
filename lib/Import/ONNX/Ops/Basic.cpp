//===- Basic.cpp - Constant, Identity, Dropout ----------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

LogicalResult buildConstant(ONNXNode &n) {
  if (failed(n.checkArity(0, 0, 1, 1)))
    return failure();
  Builder b(n.b.getContext());
  auto emitError = [&] { return n.emitError(); };
  int set = 0;
  for (StringRef a :
       {"value", "value_float", "value_floats", "value_int", "value_ints",
        "value_string", "value_strings", "sparse_value"})
    set += n.hasAttr(a);
  if (set != 1)
    return n.emitError() << "exactly one value attribute must be set, got "
                         << set;
  TypedAttr attr;
  int32_t dtype;
  if (const onnx::TensorProto *t = n.getTensor("value")) {
    auto a = tensorToAttr(*t, /*resourceName=*/"", n.importer.source,
                          n.b.getContext(), emitError);
    if (failed(a))
      return failure();
    attr = cast<TypedAttr>(*a);
    dtype = t->data_type();
  } else if (n.hasAttr("value_float")) {
    attr = DenseElementsAttr::get(
        RankedTensorType::get({}, b.getF32Type()),
        b.getF32FloatAttr(*n.getFloat("value_float", 0)));
    dtype = kFloat;
  } else if (n.hasAttr("value_int")) {
    attr =
        DenseElementsAttr::get(RankedTensorType::get({}, b.getI64Type()),
                               b.getI64IntegerAttr(*n.getInt("value_int", 0)));
    dtype = kInt64;
  } else if (n.hasAttr("value_ints")) {
    SmallVector<int64_t> v = *n.getInts("value_ints", {});
    attr = DenseElementsAttr::get(
        RankedTensorType::get({static_cast<int64_t>(v.size())}, b.getI64Type()),
        ArrayRef<int64_t>(v));
    dtype = kInt64;
  } else if (n.hasAttr("value_floats")) {
    SmallVector<double> v = *n.getFloats("value_floats", {});
    SmallVector<float> f(v.begin(), v.end());
    attr = DenseElementsAttr::get(
        RankedTensorType::get({static_cast<int64_t>(f.size())}, b.getF32Type()),
        ArrayRef<float>(f));
    dtype = kFloat;
  } else {
    for (StringRef a : {"value_string", "value_strings", "sparse_value"})
      if (n.hasAttr(a))
        return n.emitError() << "attribute '" << a << "' is not supported";
    return failure();
  }
  Value c = arith::ConstantOp::create(n.b, n.loc, attr);
  n.setOutput(0, c, dtype);
  return success();
}

LogicalResult buildIdentity(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  // Tensors, sequences and optionals alike (Ops/Sequences.cpp).
  n.setOutputValue(0, n.inputValue(0));
  return success();
}

/// Inference-mode Dropout: the identity, with an all-true mask.
LogicalResult buildDropout(ONNXNode &n) {
  if (failed(n.checkArity(1, 3, 1, 2)))
    return failure();
  if (n.opset < 12) {
    if (failed(n.getFloat("ratio", 0.5)))
      return failure();
    if (n.opset < 7 && failed(n.getInt("is_test", 0)))
      return failure();
  } else {
    if (failed(n.getInt("seed", 0)))
      return failure();
    if (n.hasInput(2)) {
      std::optional<SmallVector<int64_t>> training = n.constantInts(2);
      if (!training)
        return n.emitError() << "training_mode must be a constant";
      if (!training->empty() && (*training)[0] != 0)
        return n.emitError()
               << "training_mode = true is not supported (inference only)";
    }
  }
  n.setOutput(0, n.input(0), n.inputDType(0));
  if (n.hasOutput(1)) {
    RankedTensorType ty = n.inputType(0);
    auto maskTy = ty.clone(n.b.getI1Type());
    Value init = emptyTensorLike(n.b, n.loc, maskTy, n.input(0));
    Value t = scalarConstant(n.b, n.loc, n.b.getI1Type(), 1);
    Value mask = linalg::FillOp::create(n.b, n.loc, t, init).getResult(0);
    n.setOutput(1, mask, kBool);
  }
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerBasicOps(OpRegistry &r) {
  r.add("", "Constant", 1, buildConstant);
  r.add("", "Identity", 1, buildIdentity);
  r.add("", "Dropout", 1, buildDropout);
}
