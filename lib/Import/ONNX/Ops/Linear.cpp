//===- Linear.cpp - MatMul and Gemm ---------------------------------------===//
//
// A MatMul/Gemm against a constant 2-D weight becomes qopt.linear with the
// weight stored [out_features, in_features] (transposed at import when ONNX
// stores it [in, out]) and named after its source; a MatMul + Add(bias)
// becomes one qopt.linear with a bias. Products of activations become
// broadcasting linalg contractions.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

namespace {

/// The weight name passes should see: the initializer's name, unless it is
/// one of PyTorch's anonymous `onnx::MatMul_123` names, in which case the
/// module path is recovered from the node name
/// (`/layers.0/attn/q_proj/MatMul` -> `layers.0.attn.q_proj.weight`).
std::string weightNameFor(StringRef initName, StringRef nodeName) {
  if (!initName.starts_with("onnx::") || !nodeName.starts_with("/"))
    return initName.str();
  StringRef path = nodeName.drop_front();
  size_t slash = path.rfind('/');
  if (slash == StringRef::npos)
    return initName.str();
  std::string out = path.take_front(slash).str();
  std::replace(out.begin(), out.end(), '/', '.');
  return out + ".weight";
}

/// Raw bytes of a non-splat constant.
std::optional<ArrayRef<char>> rawBytesOf(ElementsAttr attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    if (!dense.isSplat())
      return dense.getRawData();
  if (auto res = dyn_cast<DenseResourceElementsAttr>(attr))
    if (AsmResourceBlob *blob = res.getRawHandle().getBlob())
      return blob->getData();
  return std::nullopt;
}

/// The transpose of the 2-D constant input `idx` of `n`. When the node is
/// the constant's only user, the constant itself is rewritten (its blob keeps
/// its name, the initializer's); otherwise a new constant is made.
FailureOr<Value> transposedConstant(ONNXNode &n, int64_t idx, StringRef name) {
  Value v = n.input(idx);
  auto cOp = v.getDefiningOp<arith::ConstantOp>();
  auto attr = cast<ElementsAttr>(cOp.getValue());
  auto ty = cast<RankedTensorType>(attr.getType());
  auto tTy = RankedTensorType::get({ty.getDimSize(1), ty.getDimSize(0)},
                                   ty.getElementType());
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    return arith::ConstantOp::create(n.b, n.loc, dense.reshape(tTy))
        .getResult();
  if (Value cached = n.importer.transposedWeights.lookup(v))
    return cached;
  std::optional<ArrayRef<char>> bytes = rawBytesOf(attr);
  unsigned bits = ty.getElementTypeBitWidth();
  if (!bytes || bits % 8 != 0)
    return n.emitError() << "cannot read the weight's data to transpose it";
  size_t elem = bits / 8;
  int64_t rows = ty.getDimSize(0), cols = ty.getDimSize(1);
  if (static_cast<int64_t>(bytes->size()) !=
      rows * cols * static_cast<int64_t>(elem))
    return n.emitError() << "weight data does not match its shape";
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(bytes->size(), elem);
  char *dst = blob.getMutableData().data();
  const char *src = bytes->data();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(dst + (c * rows + r) * elem, src + (r * cols + c) * elem,
                  elem);
  auto res = dyn_cast<DenseResourceElementsAttr>(attr);
  if (res && n.inputUseCount(idx) == 1 && v.use_empty()) {
    // Same blob name, new data and shape: the only user sees [out, in].
    DenseResourceElementsHandle handle = res.getRawHandle();
    handle.getResource()->setBlob(std::move(blob));
    OpBuilder::InsertionGuard g(n.b);
    n.b.setInsertionPoint(cOp);
    Value t = arith::ConstantOp::create(
        n.b, cOp.getLoc(), DenseResourceElementsAttr::get(tTy, handle));
    cOp.erase();
    return t;
  }
  Value &cached = n.importer.transposedWeights[v];
  if (cached)
    return cached;
  auto attrT = DenseResourceElementsAttr::get(tTy, name, std::move(blob));
  // Right after the original so that every later user can share it.
  OpBuilder::InsertionGuard g(n.b);
  n.b.setInsertionPointAfter(cOp);
  cached = arith::ConstantOp::create(n.b, cOp.getLoc(), attrT).getResult();
  return cached;
}

ElementsAttr constantAttr(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  return c ? dyn_cast<ElementsAttr>(c.getValue()) : nullptr;
}

LogicalResult buildMatMul(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  if (n.inputDType(0) != n.inputDType(1))
    return n.emitError() << "inputs have different dtypes ("
                         << dtypeName(n.inputDType(0)) << ", "
                         << dtypeName(n.inputDType(1)) << ")";
  RankedTensorType aTy = n.inputType(0), bTy = n.inputType(1);
  if (aTy.getRank() == 0 || bTy.getRank() == 0)
    return n.emitError() << "inputs must have rank >= 1";

  // x @ W with a constant 2-D float weight: qopt.linear.
  ElementsAttr w = constantAttr(n.input(1));
  if (w && bTy.getRank() == 2 && isFloatDType(n.inputDType(0)) &&
      bTy.hasStaticShape()) {
    std::string init =
        n.initializerName(1).value_or(n.name().str() + ".weight");
    FailureOr<Value> wT = transposedConstant(n, 1, init);
    if (failed(wT))
      return failure();
    SmallVector<int64_t> outShape(aTy.getShape().drop_back());
    outShape.push_back(bTy.getDimSize(1));
    if (aTy.getDimSize(aTy.getRank() - 1) != bTy.getDimSize(0) &&
        !aTy.isDynamicDim(aTy.getRank() - 1))
      return n.emitError() << "inner dimensions differ: "
                           << aTy.getDimSize(aTy.getRank() - 1) << " and "
                           << bTy.getDimSize(0);
    auto outTy = RankedTensorType::get(outShape, aTy.getElementType());
    auto lin =
        LinearOp::create(n.b, n.loc, outTy, n.input(0), *wT, Value(),
                         n.b.getStringAttr(weightNameFor(init, n.name())));
    n.setOutput(0, lin.getResult(), n.inputDType(0));
    return success();
  }

  // General numpy matmul: 1-D operands get a unit dim that is dropped again.
  FailureOr<Value> y =
      buildMatmul(n, n.input(0), n.input(1), aTy.getElementType());
  if (failed(y))
    return failure();
  n.setOutput(0, *y, n.inputDType(0));
  return success();
}

/// Transposes a 2-D value with linalg.transpose.
Value transpose2D(OpBuilder &b, Location loc, Value v) {
  auto ty = cast<RankedTensorType>(v.getType());
  auto tTy = RankedTensorType::get({ty.getDimSize(1), ty.getDimSize(0)},
                                   ty.getElementType());
  Value init = tensor::EmptyOp::create(
      b, loc, tTy.getShape(), tTy.getElementType(), [&] {
        SmallVector<Value> dyn;
        if (tTy.isDynamicDim(0))
          dyn.push_back(tensor::DimOp::create(b, loc, v, 1));
        if (tTy.isDynamicDim(1))
          dyn.push_back(tensor::DimOp::create(b, loc, v, 0));
        return dyn;
      }());
  return linalg::TransposeOp::create(b, loc, v, init, ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

LogicalResult buildGemm(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  FailureOr<int64_t> transA = n.getInt("transA", 0);
  FailureOr<int64_t> transB = n.getInt("transB", 0);
  FailureOr<double> alpha = n.getFloat("alpha", 1.0);
  FailureOr<double> beta = n.getFloat("beta", 1.0);
  if (failed(transA) || failed(transB) || failed(alpha) || failed(beta))
    return failure();
  if (n.opset < 7 && n.hasAttr("broadcast"))
    (void)n.getInt("broadcast", 0);
  RankedTensorType aTy = n.inputType(0), bTy = n.inputType(1);
  if (aTy.getRank() != 2 || bTy.getRank() != 2)
    return n.emitError() << "A and B must be 2-D, got ranks " << aTy.getRank()
                         << " and " << bTy.getRank();
  if (!isFloatDType(n.inputDType(0)))
    return n.emitError() << "dtype " << dtypeName(n.inputDType(0))
                         << " is not supported";
  bool hasC = n.hasInput(2);
  int64_t outN = *transB ? bTy.getDimSize(0) : bTy.getDimSize(1);

  // Linear layer: constant B, plain A, alpha = beta = 1, 1-D (or [1, N]) C.
  ElementsAttr w = constantAttr(n.input(1));
  bool cIsBias =
      !hasC ||
      (*beta == 1.0 && n.inputType(2).getNumElements() == outN &&
       n.inputType(2).getDimSize(n.inputType(2).getRank() - 1) == outN &&
       n.inputType(2).getRank() <= 2);
  if (w && !*transA && *alpha == 1.0 && cIsBias && bTy.hasStaticShape() &&
      !ShapedType::isDynamic(outN)) {
    std::string init =
        n.initializerName(1).value_or(n.name().str() + ".weight");
    Value weight = n.input(1);
    if (!*transB) {
      FailureOr<Value> wT = transposedConstant(n, 1, init);
      if (failed(wT))
        return failure();
      weight = *wT;
    }
    Value bias;
    if (hasC) {
      bias = n.input(2);
      if (n.inputType(2).getRank() == 2)
        bias = dropUnitDim(n.b, n.loc, bias, 0);
    }
    auto outTy =
        RankedTensorType::get({aTy.getDimSize(0), outN}, aTy.getElementType());
    auto lin =
        LinearOp::create(n.b, n.loc, outTy, n.input(0), weight, bias,
                         n.b.getStringAttr(weightNameFor(init, n.name())));
    n.setOutput(0, lin.getResult(), n.inputDType(0));
    return success();
  }

  // General: alpha * op(A) op(B) + beta * C.
  Value a = *transA ? transpose2D(n.b, n.loc, n.input(0)) : n.input(0);
  Value b = *transB ? transpose2D(n.b, n.loc, n.input(1)) : n.input(1);
  FailureOr<Value> y = buildBatchMatmul(
      n, a, b, cast<RankedTensorType>(a.getType()).getElementType());
  if (failed(y))
    return failure();
  Value out = *y;
  SmallVector<Value> ins{out};
  if (hasC)
    ins.push_back(n.input(2));
  double al = *alpha, be = *beta;
  if (al != 1.0 || hasC) {
    auto r = buildElementwise(
        n, ins, aTy.getElementType(),
        [&](OpBuilder &b, Location l, ValueRange v) -> Value {
          Value s = v[0];
          if (al != 1.0)
            s = arith::MulFOp::create(b, l, s,
                                      scalarConstant(b, l, s.getType(), al));
          if (v.size() > 1) {
            Value c = v[1];
            if (be != 1.0)
              c = arith::MulFOp::create(b, l, c,
                                        scalarConstant(b, l, c.getType(), be));
            s = arith::AddFOp::create(b, l, s, c);
          }
          return s;
        });
    if (failed(r))
      return failure();
    out = *r;
  }
  n.setOutput(0, out, n.inputDType(0));
  return success();
}

} // namespace

bool mlir::qopt::onnx_import::tryFuseLinearBias(ONNXNode &n) {
  // Add(linear(x, W), b) or Add(b, linear(x, W)) with b a constant of shape
  // [N]: the PyTorch export of nn.Linear on 3-D inputs.
  if (n.numInputs() != 2 || !n.hasInput(0) || !n.hasInput(1))
    return false;
  for (int64_t i = 0; i < 2; ++i) {
    auto lin = n.input(i).getDefiningOp<LinearOp>();
    Value bias = n.input(1 - i);
    // The linear's result must feed this Add alone (ONNX uses, not MLIR
    // uses: later nodes are not imported yet).
    if (!lin || lin.getBias() || !lin->use_empty() || n.inputUseCount(i) != 1 ||
        !constantAttr(bias))
      continue;
    auto bTy = cast<RankedTensorType>(bias.getType());
    int64_t outN = lin.getWeight().getType().getDimSize(0);
    if (bTy.getRank() != 1 || bTy.getDimSize(0) != outN ||
        bTy.getElementType() != lin.getType().getElementType())
      continue;
    OpBuilder::InsertionGuard g(n.b);
    n.b.setInsertionPoint(lin);
    // The bias constant is defined before the linear (initializers come
    // first), so it can become its operand.
    if (!bias.getDefiningOp()->isBeforeInBlock(lin))
      continue;
    auto fused =
        LinearOp::create(n.b, lin.getLoc(), lin.getType(), lin.getInput(),
                         lin.getWeight(), bias, lin.getWeightNameAttr());
    lin.erase();
    n.setOutput(0, fused.getResult(), n.inputDType(i));
    return true;
  }
  return false;
}

void mlir::qopt::onnx_import::registerLinearOps(OpRegistry &r) {
  r.add("", "MatMul", 1, buildMatMul);
  r.add("", "Gemm", 1, buildGemm);
}
