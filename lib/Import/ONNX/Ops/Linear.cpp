//===- Linear.cpp - MatMul and Gemm ---------------------------------------===//
//
// A MatMul/Gemm against a constant 2-D weight becomes qopt.linear with the
// weight stored [out_features, in_features] (transposed at import when ONNX
// stores it [in, out]; used as it is when the weight reaches the MatMul
// through a [1, 0] Transpose, as PyTorch's unoptimized exports have it) and
// named after the PyTorch module it belongs to (see weightNameFor); a MatMul
// + Add(bias) becomes one qopt.linear with a bias. Products of activations
// become broadcasting linalg contractions.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

namespace {

/// The strings of a Python list-of-strings repr (`['', 'model', "it's"]`),
/// or std::nullopt when `text` is not one.
std::optional<SmallVector<std::string>> parsePythonStringList(StringRef text) {
  StringRef s = text.trim();
  if (!s.consume_front("["))
    return std::nullopt;
  SmallVector<std::string> out;
  while (true) {
    s = s.ltrim();
    if (s.consume_front("]"))
      break;
    if (s.empty() || (s.front() != '\'' && s.front() != '"'))
      return std::nullopt;
    char quote = s.front();
    s = s.drop_front();
    std::string item;
    while (true) {
      if (s.empty())
        return std::nullopt;
      char c = s.front();
      s = s.drop_front();
      if (c == quote)
        break;
      if (c != '\\') {
        item.push_back(c);
        continue;
      }
      if (s.empty())
        return std::nullopt;
      char e = s.front();
      s = s.drop_front();
      if (e == '\\' || e == '\'' || e == '"')
        item.push_back(e);
      else
        item.append({'\\', e}); // other escapes never occur in module paths
    }
    out.push_back(std::move(item));
    s = s.ltrim();
    if (s.consume_front(","))
      continue;
    if (s.consume_front("]"))
      break;
    return std::nullopt;
  }
  if (!s.trim().empty())
    return std::nullopt;
  return out;
}

/// The end of the bracketed or parenthesized group that opens at `s[i]`.
size_t groupEnd(StringRef s, size_t i) {
  int depth = 0;
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] == '[' || s[j] == '(')
      ++depth;
    else if ((s[j] == ']' || s[j] == ')') && --depth == 0)
      return j;
  }
  return StringRef::npos;
}

/// A module path as PyTorch's module names spell it: torch.export may
/// write the stack of a module reached through a sliced ModuleList as
/// `model.layers.slice(None, 2, None).0.mlp`, or dynamo's spelling
/// `L['self'].model.layers[slice(None, 2, None)]._modules['0'].mlp`; both
/// become `model.layers.0.mlp`.
std::string normalizeModulePath(StringRef path) {
  StringRef s = path.trim();
  if (s.starts_with("L[")) {
    size_t end = groupEnd(s, 1);
    if (end == StringRef::npos)
      return path.str();
    s = s.drop_front(end + 1);
    s.consume_front(".");
  }
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool segmentStart = out.empty() || out.back() == '.';
    if (segmentStart && s.substr(i).starts_with("slice(")) {
      size_t end = groupEnd(s, i + 5);
      if (end == StringRef::npos)
        return path.str();
      i = end + 1;
      if (i < s.size() && s[i] == '.')
        ++i;
      continue;
    }
    if (s[i] == '[') {
      size_t end = groupEnd(s, i);
      if (end == StringRef::npos)
        return path.str();
      StringRef inner = s.slice(i + 1, end).trim();
      i = end + 1;
      if (inner.starts_with("slice("))
        continue;
      if (inner.size() >= 2 &&
          (inner.front() == '\'' || inner.front() == '"') &&
          inner.back() == inner.front())
        inner = inner.drop_front().drop_back();
      out += ".";
      out += inner.str();
      continue;
    }
    out.push_back(s[i++]);
  }
  // `._modules.0` (from `._modules['0']`) is child `0`.
  SmallVector<StringRef> parts;
  StringRef(out).split(parts, '.', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  std::string result;
  for (StringRef p : parts) {
    if (p == "_modules")
      continue;
    if (!result.empty())
      result += ".";
    result += p.str();
  }
  return result;
}

/// The PyTorch module path of the node from the dynamo exporter's
/// `pkg.torch.onnx.name_scopes` metadata, or "". torch writes the repr of
/// a list: the module paths from the root ("") down to the innermost module,
/// then the FX node's own name (`['', 'model', 'model.layers.0',
/// 'model.layers.0.self_attn', 'model.layers.0.self_attn.q_proj',
/// 'linear_3']`), so the module is the entry before the last. A list whose
/// last entry extends the one before it (`..., 'a.b', 'a.b.c']`) holds only
/// module paths and ends in the module; a plain string is the module path.
std::string moduleScopeOf(const ONNXNode &n) {
  std::optional<std::string> value =
      n.metadataProp("pkg.torch.onnx.name_scopes");
  if (!value)
    return "";
  StringRef text = StringRef(*value).trim();
  if (!text.starts_with("["))
    return normalizeModulePath(text);
  std::optional<SmallVector<std::string>> scopes = parsePythonStringList(text);
  if (!scopes || scopes->size() < 2)
    return ""; // [node name] alone: the exporter had no module stack
  std::string last = normalizeModulePath(scopes->back());
  std::string prev = normalizeModulePath((*scopes)[scopes->size() - 2]);
  if (!prev.empty() && StringRef(last).starts_with(prev + "."))
    return last;
  return prev;
}

/// The layer name of a linear whose weight comes from initializer
/// `initName` (or is named so when it has none), as passes see it and as
/// PEFT adapters name modules (`<module path>.weight`), in this order:
///  1. the module path in the node's `pkg.torch.onnx.name_scopes` metadata
///     (torch.onnx.export with dynamo=True) + ".weight"; the initializer's
///     own name when it is a parameter of that module (`<path>.<param>`);
///  2. for PyTorch's anonymous `onnx::MatMul_123` initializers (the legacy
///     exporter), the module path in the node name
///     (`/layers.0/attn/q_proj/MatMul` -> `layers.0.attn.q_proj.weight`);
///  3. the initializer's name.
std::string weightNameFor(const ONNXNode &n, StringRef initName) {
  std::string scope = moduleScopeOf(n);
  if (!scope.empty()) {
    if (initName.starts_with(scope + "."))
      return initName.str();
    return scope + ".weight";
  }
  StringRef nodeName = n.name();
  if (!initName.starts_with("onnx::") || !nodeName.starts_with("/"))
    return initName.str();
  StringRef path = nodeName.drop_front();
  size_t slash = path.rfind('/');
  if (slash == StringRef::npos)
    return initName.str();
  // One scope per module called, each named by its attribute (with the
  // index for a child of a container); a called container repeats in its
  // child: `/encoder/encoder.0/MatMul` is module `encoder.0`.
  SmallVector<StringRef> parts;
  path.take_front(slash).split(parts, '/', /*MaxSplit=*/-1,
                               /*KeepEmpty=*/false);
  std::string out;
  for (auto [i, part] : llvm::enumerate(parts)) {
    if (i + 1 < parts.size() && parts[i + 1].starts_with((part + ".").str()))
      continue;
    if (!out.empty())
      out += ".";
    out += part.str();
  }
  if (out.empty())
    return initName.str();
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

/// The transpose of the 2-D constant `v`. When `soleUse` (node `n` is the
/// only ONNX user of the constant) and nothing else uses it yet, the
/// constant itself is rewritten (its blob keeps its name, the
/// initializer's); otherwise a new constant is made (named `name`).
FailureOr<Value> transposedConstant(ONNXNode &n, Value v, bool soleUse,
                                    StringRef name) {
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
  if (res && soleUse && v.use_empty()) {
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

/// The constant whose DequantizeLinear `v` is (qopt.dequantize of a
/// quant.scast of an integer arith.constant: a weight stored quantized, as
/// QDQ models store them; or of a qopt.quantize of a float constant), or
/// null.
Value dequantizedConstantOf(Value v) {
  auto dq = v.getDefiningOp<DequantizeOp>();
  if (!dq)
    return nullptr;
  Value in = dq.getInput();
  while (auto cast = in.getDefiningOp<quant::StorageCastOp>())
    in = cast.getInput();
  // A float weight + QuantizeLinear -> DequantizeLinear (QAT exports).
  if (auto q = in.getDefiningOp<QuantizeOp>())
    in = q.getInput();
  return in.getDefiningOp<arith::ConstantOp>() ? in : nullptr;
}

ElementsAttr constantAttr(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  return c ? dyn_cast<ElementsAttr>(c.getValue()) : nullptr;
}

/// The 2-D constant whose [1, 0] transpose input `idx` of `n` is, or null.
Value transposeSourceOf(ONNXNode &n, int64_t idx) {
  return n.importer.transposeSources.lookup(n.input(idx));
}

/// The name of the weight constant `v`: its initializer's, else one made
/// from the node's name.
std::string initializerNameOf(ONNXNode &n, Value v) {
  return n.importer.initializerOf(v).value_or(n.name().str() + ".weight");
}

/// Erases the Transpose result that input `idx` of `n` was, once the linear
/// uses the constant behind it instead and nothing else uses it.
void eraseUnusedTranspose(ONNXNode &n, int64_t idx) {
  Value t = n.input(idx);
  Operation *op = t.getDefiningOp();
  if (!op || n.inputUseCount(idx) != 1 || !t.use_empty() ||
      !isa<linalg::TransposeOp, arith::ConstantOp>(op))
    return;
  n.importer.transposeSources.erase(t);
  SmallVector<Value> operands(op->getOperands());
  op->erase();
  for (Value v : operands)
    if (auto empty = v.getDefiningOp<tensor::EmptyOp>();
        empty && empty->use_empty())
      empty->erase();
}

Value transpose2D(OpBuilder &b, Location loc, Value v);

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
  // A weight behind Cast/Reshape/Squeeze/Transpose ops: the constant.
  if (bTy.getRank() == 2 && isFloatDType(n.inputDType(0)))
    if (Value folded = foldConstantWeight(n, 1))
      n.replaceInput(1, folded);

  // x @ W with a constant 2-D float weight: qopt.linear. W is [in, out]
  // (transposed here), or the [1, 0] Transpose of an [out, in] constant,
  // which is then the linear's weight as it is.
  Value source = transposeSourceOf(n, 1);
  ElementsAttr w = constantAttr(n.input(1));
  if ((w || source) && bTy.getRank() == 2 && isFloatDType(n.inputDType(0)) &&
      bTy.hasStaticShape()) {
    if (aTy.getDimSize(aTy.getRank() - 1) != bTy.getDimSize(0) &&
        !aTy.isDynamicDim(aTy.getRank() - 1))
      return n.emitError() << "inner dimensions differ: "
                           << aTy.getDimSize(aTy.getRank() - 1) << " and "
                           << bTy.getDimSize(0);
    // A dynamic K is checked against the weight's when the model runs.
    assertSameSize(n, n.input(0), aTy.getRank() - 1, n.input(1), 0,
                   "the input's last dim differs from the weight's rows at "
                   "run time");
    std::string init;
    Value weight = source;
    if (source) {
      init = initializerNameOf(n, source);
    } else {
      init = initializerNameOf(n, n.input(1));
      FailureOr<Value> wT =
          transposedConstant(n, n.input(1), n.inputUseCount(1) == 1, init);
      if (failed(wT))
        return failure();
      weight = *wT;
    }
    SmallVector<int64_t> outShape(aTy.getShape().drop_back());
    outShape.push_back(bTy.getDimSize(1));
    auto outTy = RankedTensorType::get(outShape, aTy.getElementType());
    auto lin = LinearOp::create(n.b, n.loc, outTy, n.input(0), weight, Value(),
                                n.b.getStringAttr(weightNameFor(n, init)));
    if (source)
      eraseUnusedTranspose(n, 1);
    n.setOutput(0, lin.getResult(), n.inputDType(0));
    return success();
  }

  // x @ DequantizeLinear(W_int) (a QDQ model's weight, stored quantized):
  // qopt.linear over the transposed dequantized weight, named after the
  // integer initializer; qopt-fold-qdq reads the integers behind it.
  if (Value ints = dequantizedConstantOf(n.input(1));
      ints && bTy.getRank() == 2 && bTy.hasStaticShape() &&
      isFloatDType(n.inputDType(0)) &&
      (aTy.isDynamicDim(aTy.getRank() - 1) ||
       aTy.getDimSize(aTy.getRank() - 1) == bTy.getDimSize(0))) {
    std::string init = initializerNameOf(n, ints);
    Value weight = transpose2D(n.b, n.loc, n.input(1));
    SmallVector<int64_t> outShape(aTy.getShape().drop_back());
    outShape.push_back(bTy.getDimSize(1));
    auto outTy = RankedTensorType::get(outShape, aTy.getElementType());
    auto lin = LinearOp::create(n.b, n.loc, outTy, n.input(0), weight, Value(),
                                n.b.getStringAttr(weightNameFor(n, init)));
    n.setOutput(0, lin.getResult(), n.inputDType(0));
    return success();
  }

  // General numpy matmul: 1-D operands get a unit dim that is dropped again.
  // f16 and bf16 accumulate in f32 and round once, as onnxruntime does.
  Type elemTy = aTy.getElementType();
  Type accTy = accumulatorType(elemTy);
  auto widened = [&](OpBuilder &b, Location l, ValueRange args) -> Value {
    Value x = arith::ExtFOp::create(b, l, accTy, args[0]);
    Value y = arith::ExtFOp::create(b, l, accTy, args[1]);
    return arith::AddFOp::create(b, l, args[2],
                                 arith::MulFOp::create(b, l, x, y));
  };
  FailureOr<Value> y =
      buildMatmul(n, n.input(0), n.input(1), accTy, {}, nullptr,
                  accTy != elemTy ? MatmulBodyFn(widened) : MatmulBodyFn());
  if (failed(y))
    return failure();
  if (accTy != elemTy) {
    auto outTy = cast<RankedTensorType>(y->getType()).clone(elemTy);
    Value init = emptyTensorLike(n.b, n.loc, outTy, *y);
    y = parallelGeneric(n.b, n.loc, ValueRange{*y},
                        {n.b.getMultiDimIdentityMap(outTy.getRank())}, init,
                        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                          return arith::TruncFOp::create(b, l, elemTy, a[0]);
                        });
  }
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
  // A weight behind Cast/Reshape/Squeeze/Transpose ops: the constant.
  if (Value folded = foldConstantWeight(n, 1))
    n.replaceInput(1, folded);

  // Linear layer: constant B (or the [1, 0] Transpose of a constant), plain
  // A, alpha = beta = 1, 1-D (or [1, N]) C.
  Value source = transposeSourceOf(n, 1);
  ElementsAttr w = constantAttr(n.input(1));
  Value dqInts = dequantizedConstantOf(n.input(1));
  bool cIsBias =
      !hasC ||
      (*beta == 1.0 && n.inputType(2).getNumElements() == outN &&
       n.inputType(2).getDimSize(n.inputType(2).getRank() - 1) == outN &&
       n.inputType(2).getRank() <= 2);
  if ((w || source) && !*transA && *alpha == 1.0 && cIsBias &&
      bTy.hasStaticShape() && !ShapedType::isDynamic(outN)) {
    // A dynamic K is checked against B's when the model runs.
    assertSameSize(n, n.input(0), 1, n.input(1), *transB ? 1 : 0,
                   "A's columns differ from B's K at run time");
    std::string init = initializerNameOf(n, source ? source : n.input(1));
    // The [out, in] weight: B^T without transB, else B. With B = W^T that
    // is W itself, or W^T made from W (so that it is a blob under W's name
    // even when the Transpose folded into a small constant).
    Value weight;
    if (!*transB && source) {
      weight = source;
      eraseUnusedTranspose(n, 1);
    } else if (*transB && !source) {
      weight = n.input(1);
    } else {
      Value from = n.input(1);
      bool soleUse = n.inputUseCount(1) == 1;
      if (*transB) {
        eraseUnusedTranspose(n, 1);
        std::optional<std::string> name = n.importer.initializerOf(source);
        from = source;
        soleUse = name && n.importer.useCount(*name) == 1;
      }
      FailureOr<Value> wT = transposedConstant(n, from, soleUse, init);
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
    auto lin = LinearOp::create(n.b, n.loc, outTy, n.input(0), weight, bias,
                                n.b.getStringAttr(weightNameFor(n, init)));
    n.setOutput(0, lin.getResult(), n.inputDType(0));
    return success();
  }
  // B = DequantizeLinear(W_int) (QDQ models): the same, over the dequantized
  // weight ([N, K] with transB, else transposed).
  if (dqInts && !*transA && *alpha == 1.0 && cIsBias && bTy.hasStaticShape() &&
      !ShapedType::isDynamic(outN)) {
    std::string init = initializerNameOf(n, dqInts);
    Value weight = *transB ? n.input(1) : transpose2D(n.b, n.loc, n.input(1));
    Value bias;
    if (hasC) {
      bias = n.input(2);
      if (n.inputType(2).getRank() == 2)
        bias = dropUnitDim(n.b, n.loc, bias, 0);
    }
    auto outTy =
        RankedTensorType::get({aTy.getDimSize(0), outN}, aTy.getElementType());
    auto lin = LinearOp::create(n.b, n.loc, outTy, n.input(0), weight, bias,
                                n.b.getStringAttr(weightNameFor(n, init)));
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

void mlir::qopt::onnx_import::noteTransposedWeight(ONNXNode &n, Value out,
                                                   ArrayRef<int64_t> perm) {
  if (perm.size() != 2 || perm[0] != 1 || perm[1] != 0)
    return;
  Value in = n.input(0);
  if (!in.getDefiningOp<arith::ConstantOp>() ||
      !isFloatDType(n.inputDType(0)) || !n.inputType(0).hasStaticShape())
    return;
  n.importer.transposeSources[out] = in;
}

void mlir::qopt::onnx_import::registerLinearOps(OpRegistry &r) {
  r.add("", "MatMul", 1, buildMatMul);
  r.add("", "Gemm", 1, buildGemm);
}
