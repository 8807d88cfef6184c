//===- WeightFolding.cpp - constant weights behind casts and reshapes -----===//
//
// Exporters put ops between a weight initializer and its MatMul/Gemm: a
// Cast (f16 weights in an f32 graph), a Reshape/Squeeze/Unsqueeze/Flatten,
// a Transpose. The importer builds them as tensor reshapes, linalg
// transposes and element-wise linalg.generic casts on the constant; the
// generic constant folder stops at kMaxEvaluatedElements (shapes, never
// weights). This evaluates such a chain for the weight input of a MatMul
// or Gemm, so that the node becomes a qopt.linear (a layer) whatever sits
// between the initializer and it. The chain's ops stay (later canonicalization
// drops them once unused).
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// A constant's values (as doubles), its shape, and the constant.
struct Folded {
  std::vector<double> values;
  SmallVector<int64_t> shape;
  arith::ConstantOp root;
};

/// `x` rounded to float type `t` (round to nearest even, as arith.truncf).
double roundTo(FloatType t, double x) {
  APFloat v(x);
  bool lost;
  v.convert(t.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
  v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
  return v.convertToDouble();
}

std::optional<Folded> readConstant(arith::ConstantOp c) {
  auto ty = dyn_cast<RankedTensorType>(c.getType());
  if (!ty || !ty.hasStaticShape() || !isa<FloatType>(ty.getElementType()))
    return std::nullopt;
  DenseElementsAttr d = dyn_cast<DenseElementsAttr>(c.getValue());
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue())) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    bool splat = false;
    if (blob && DenseElementsAttr::isValidRawBuffer(ty, blob->getData(), splat))
      d = DenseElementsAttr::getFromRawBuffer(ty, blob->getData());
  }
  if (!d)
    return std::nullopt;
  Folded f;
  f.shape.assign(ty.getShape().begin(), ty.getShape().end());
  f.values.reserve(size_t(ty.getNumElements()));
  for (APFloat v : d.getValues<APFloat>()) {
    bool lost;
    v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    f.values.push_back(v.convertToDouble());
  }
  f.root = c;
  return f;
}

/// `f` permuted: result dim i is input dim perm[i].
void permute(Folded &f, ArrayRef<int64_t> perm) {
  int64_t rank = int64_t(f.shape.size());
  SmallVector<int64_t> inStrides(rank, 1), outShape(rank);
  for (int64_t i = rank - 2; i >= 0; --i)
    inStrides[i] = inStrides[i + 1] * f.shape[i + 1];
  for (int64_t i = 0; i < rank; ++i)
    outShape[i] = f.shape[perm[i]];
  std::vector<double> out(f.values.size());
  SmallVector<int64_t> idx(rank, 0);
  for (size_t o = 0; o < out.size(); ++o) {
    int64_t src = 0;
    for (int64_t i = 0; i < rank; ++i)
      src += idx[i] * inStrides[perm[i]];
    out[o] = f.values[size_t(src)];
    for (int64_t i = rank - 1; i >= 0; --i) {
      if (++idx[i] < outShape[i])
        break;
      idx[i] = 0;
    }
  }
  f.values = std::move(out);
  f.shape = outShape;
}

/// An element-wise float cast generic: its input, or null.
Value castInput(linalg::GenericOp g) {
  if (g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumResults() != 1 || !g.hasPureTensorSemantics() ||
      g.getNumReductionLoops() != 0 ||
      !llvm::all_of(g.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return nullptr;
  Block &body = g.getRegion().front();
  if (body.getOperations().size() != 2)
    return nullptr;
  Operation &cast = body.front();
  if (!isa<arith::ExtFOp, arith::TruncFOp>(cast) ||
      cast.getOperand(0) != body.getArgument(0))
    return nullptr;
  auto yield = cast.getNextNode();
  if (!yield || yield->getOperand(0) != cast.getResult(0))
    return nullptr;
  return g.getDpsInputs()[0];
}

std::optional<Folded> fold(Value v, int depth) {
  Operation *op = v.getDefiningOp();
  if (!op || depth > 16)
    return std::nullopt;
  if (auto c = dyn_cast<arith::ConstantOp>(op))
    return readConstant(c);
  auto outTy = dyn_cast<RankedTensorType>(v.getType());
  if (!outTy || !outTy.hasStaticShape())
    return std::nullopt;
  Value src;
  if (auto e = dyn_cast<tensor::ExpandShapeOp>(op))
    src = e.getSrc();
  else if (auto c = dyn_cast<tensor::CollapseShapeOp>(op))
    src = c.getSrc();
  else if (auto r = dyn_cast<tensor::ReshapeOp>(op))
    src = r.getSource();
  if (src) {
    std::optional<Folded> f = fold(src, depth + 1);
    if (f)
      f->shape.assign(outTy.getShape().begin(), outTy.getShape().end());
    return f;
  }
  if (auto t = dyn_cast<linalg::TransposeOp>(op)) {
    if (!t.hasPureTensorSemantics())
      return std::nullopt;
    std::optional<Folded> f = fold(t.getInput(), depth + 1);
    if (f)
      permute(*f, t.getPermutation());
    return f;
  }
  if (auto g = dyn_cast<linalg::GenericOp>(op)) {
    Value in = castInput(g);
    auto to = dyn_cast<FloatType>(outTy.getElementType());
    if (!in || !to)
      return std::nullopt;
    std::optional<Folded> f = fold(in, depth + 1);
    if (f)
      for (double &x : f->values)
        x = roundTo(to, x);
    return f;
  }
  return std::nullopt;
}

} // namespace

Value mlir::qopt::onnx_import::foldConstantWeight(ONNXNode &n, int64_t idx) {
  Value v = n.input(idx);
  if (!v || v.getDefiningOp<arith::ConstantOp>() ||
      n.importer.transposeSources.count(v))
    return nullptr;
  auto ty = dyn_cast<RankedTensorType>(v.getType());
  if (!ty || !ty.hasStaticShape() || !ty.getElementType().isF32())
    return nullptr;
  if (Value cached = n.importer.foldedWeights.lookup(v))
    return cached;
  std::optional<Folded> f = fold(v, 0);
  if (!f)
    return nullptr;
  std::vector<float> data(f->values.begin(), f->values.end());
  std::string name = n.importer.initializerOf(f->root.getResult())
                         .value_or(n.name().str() + ".weight");
  auto attr = DenseResourceElementsAttr::get(
      ty, name, HeapAsmResourceBlob::allocateAndCopyInferAlign<float>(data));
  Value c = arith::ConstantOp::create(n.b, n.loc, attr).getResult();
  n.importer.noteInitializer(c, name);
  n.importer.foldedWeights[v] = c;
  return c;
}
