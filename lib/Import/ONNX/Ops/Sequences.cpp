//===- Sequences.cpp - sequence and optional values -----------------------===//
//
// A sequence is an import-time list of tensor values (GraphValue::sequence):
// its length and the position of each element are known when the model is
// imported, so that every sequence operator is plain bookkeeping on that
// list and the generated code sees tensors only. Positions (SequenceAt,
// SequenceInsert, SequenceErase) must be constants; SequenceMap's body and
// Loops that carry sequences are unrolled. An optional is its element, or an
// empty optional (GraphValue::none) known at import. What would need a
// sequence whose length is only known at run time is refused, naming the
// node. See docs/Import/Sequences.md.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// Input `i`, which must be a sequence.
FailureOr<const GraphValue *> sequenceInput(ONNXNode &n, int64_t i) {
  const GraphValue &v = n.inputValue(i);
  if (!v.isSequence())
    return n.emitError() << "input #" << i << " must be a sequence, got "
                         << (v.none ? "an empty optional" : "a tensor");
  return &v;
}

/// Input `i`, which must be a tensor.
LogicalResult tensorInput(ONNXNode &n, int64_t i) {
  if (!n.inputValue(i).isTensor())
    return n.emitError() << "input #" << i << " must be a tensor, got "
                         << (n.inputValue(i).isSequence()
                                 ? "a sequence"
                                 : "an empty optional");
  return success();
}

/// The constant scalar position of input `i` (`what` in diagnostics),
/// normalized against [-size, size + extra): extra is 1 where one past the
/// end is valid (SequenceInsert).
FailureOr<int64_t> positionInput(ONNXNode &n, int64_t i, int64_t size,
                                 int64_t extra) {
  if (failed(tensorInput(n, i)))
    return failure();
  if (n.inputType(i).getNumElements() != 1 ||
      (n.inputDType(i) != kInt64 && n.inputDType(i) != kInt32))
    return n.emitError() << "position (input #" << i
                         << ") must be an int32 or int64 scalar";
  FailureOr<SmallVector<int64_t>> p =
      requireConstInts(n, i, "position",
                       "; sequences are lists known at import "
                       "(docs/Import/Sequences.md)");
  if (failed(p))
    return failure();
  int64_t pos = p->front();
  if (pos < -size || pos >= size + extra)
    return n.emitError() << "position " << pos << " is out of range for a "
                         << "sequence of " << size << " elements";
  return pos < 0 ? pos + size : pos;
}

/// The element type of a sequence or optional TypeProto (kUndefined when
/// it has none).
int32_t elementDTypeOf(const onnx::TypeProto &tp) {
  if (tp.has_tensor_type())
    return tp.tensor_type().elem_type();
  if (tp.has_sequence_type())
    return elementDTypeOf(tp.sequence_type().elem_type());
  if (tp.has_optional_type())
    return elementDTypeOf(tp.optional_type().elem_type());
  return kUndefined;
}

LogicalResult checkElementDType(ONNXNode &n, const GraphValue &seq,
                                const GraphValue &t) {
  if (seq.dtype != kUndefined && seq.dtype != t.dtype)
    return n.emitError() << "the sequence holds " << dtypeName(seq.dtype)
                         << ", the tensor is " << dtypeName(t.dtype);
  return success();
}

LogicalResult buildSequenceEmpty(ONNXNode &n) {
  if (failed(n.checkArity(0, 0, 1, 1)))
    return failure();
  FailureOr<int64_t> dtype = n.getInt("dtype", kFloat);
  if (failed(dtype))
    return failure();
  n.setOutputValue(0, GraphValue::makeSequence({}, *dtype));
  return success();
}

LogicalResult buildSequenceConstruct(ONNXNode &n) {
  if (failed(n.checkArity(1, std::numeric_limits<int>::max(), 1, 1)))
    return failure();
  std::vector<GraphValue> elements;
  for (int64_t i = 0; i < n.numInputs(); ++i) {
    if (failed(tensorInput(n, i)))
      return failure();
    if (n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " is "
                           << dtypeName(n.inputDType(i)) << ", input #0 is "
                           << dtypeName(n.inputDType(0))
                           << "; a sequence holds one element type";
    elements.push_back(n.inputValue(i));
  }
  n.setOutputValue(
      0, GraphValue::makeSequence(std::move(elements), n.inputDType(0)));
  return success();
}

LogicalResult buildSequenceInsert(ONNXNode &n) {
  if (failed(n.checkArity(2, 3, 1, 1)))
    return failure();
  FailureOr<const GraphValue *> seq = sequenceInput(n, 0);
  if (failed(seq) || failed(tensorInput(n, 1)) ||
      failed(checkElementDType(n, **seq, n.inputValue(1))))
    return failure();
  std::vector<GraphValue> elements = *(*seq)->sequence;
  int64_t size = elements.size();
  int64_t pos = size;
  if (n.hasInput(2)) {
    FailureOr<int64_t> p = positionInput(n, 2, size, 1);
    if (failed(p))
      return failure();
    pos = *p;
  }
  elements.insert(elements.begin() + pos, n.inputValue(1));
  n.setOutputValue(
      0, GraphValue::makeSequence(std::move(elements), n.inputDType(1)));
  return success();
}

LogicalResult buildSequenceAt(ONNXNode &n) {
  if (failed(n.checkArity(2, 2, 1, 1)))
    return failure();
  FailureOr<const GraphValue *> seq = sequenceInput(n, 0);
  if (failed(seq))
    return failure();
  FailureOr<int64_t> p = positionInput(n, 1, (*seq)->sequence->size(), 0);
  if (failed(p))
    return failure();
  n.setOutputValue(0, (*(*seq)->sequence)[*p]);
  return success();
}

LogicalResult buildSequenceErase(ONNXNode &n) {
  if (failed(n.checkArity(1, 2, 1, 1)))
    return failure();
  FailureOr<const GraphValue *> seq = sequenceInput(n, 0);
  if (failed(seq))
    return failure();
  std::vector<GraphValue> elements = *(*seq)->sequence;
  int64_t size = elements.size();
  if (size == 0)
    return n.emitError() << "cannot erase from an empty sequence";
  int64_t pos = size - 1;
  if (n.hasInput(1)) {
    FailureOr<int64_t> p = positionInput(n, 1, size, 0);
    if (failed(p))
      return failure();
    pos = *p;
  }
  elements.erase(elements.begin() + pos);
  n.setOutputValue(
      0, GraphValue::makeSequence(std::move(elements), (*seq)->dtype));
  return success();
}

LogicalResult buildSequenceLength(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<const GraphValue *> seq = sequenceInput(n, 0);
  if (failed(seq))
    return failure();
  auto ty = RankedTensorType::get({}, n.b.getI64Type());
  Value c = arith::ConstantOp::create(
      n.b, n.loc,
      DenseElementsAttr::get(
          ty, n.b.getI64IntegerAttr((*seq)->sequence->size()).getValue()));
  n.setOutput(0, c, kInt64);
  return success();
}

LogicalResult buildSplitToSequence(ONNXNode &n) {
  if (failed(n.checkArity(1, 2, 1, 1)) || failed(tensorInput(n, 0)))
    return failure();
  FailureOr<int64_t> axisAttr = n.getInt("axis", 0);
  FailureOr<int64_t> keepdims = n.getInt("keepdims", 1);
  if (failed(axisAttr) || failed(keepdims))
    return failure();
  RankedTensorType ty = n.inputType(0);
  if (ty.getRank() == 0)
    return n.emitError() << "cannot split a scalar (rank 0)";
  FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, ty.getRank());
  if (failed(axis))
    return failure();
  int64_t dim = ty.getDimSize(*axis);
  if (ShapedType::isDynamic(dim))
    return n.emitError() << "dim " << *axis
                         << " (the split axis) must be static: the sequence "
                            "length is needed at import (pin it with "
                            "--pin-shape)";
  SmallVector<int64_t> sizes;
  bool squeeze = false;
  if (!n.hasInput(1)) {
    sizes.assign(dim, 1);
    squeeze = *keepdims == 0;
  } else {
    if (failed(tensorInput(n, 1)))
      return failure();
    FailureOr<SmallVector<int64_t>> split = requireConstInts(n, 1, "split");
    if (failed(split))
      return failure();
    if (n.inputType(1).getRank() == 0) {
      int64_t chunk = split->front();
      if (chunk <= 0)
        return n.emitError() << "split must be positive, got " << chunk;
      for (int64_t off = 0; off < dim; off += chunk)
        sizes.push_back(std::min(chunk, dim - off));
    } else {
      int64_t sum = 0;
      for (int64_t s : *split) {
        if (s < 0)
          return n.emitError() << "split has a negative entry " << s;
        sum += s;
      }
      if (sum != dim)
        return n.emitError() << "split sums to " << sum << ", dim " << *axis
                             << " has size " << dim;
      sizes = *split;
    }
  }
  std::vector<GraphValue> elements;
  int64_t offset = 0;
  OpBuilder &b = n.b;
  for (int64_t s : sizes) {
    SmallVector<OpFoldResult> offsets(ty.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> szs, strides(ty.getRank(), b.getIndexAttr(1));
    SmallVector<int64_t> shape;
    for (int64_t d = 0; d < ty.getRank(); ++d) {
      if (d == *axis) {
        offsets[d] = b.getIndexAttr(offset);
        szs.push_back(b.getIndexAttr(s));
        if (!squeeze)
          shape.push_back(s);
      } else {
        szs.push_back(dimOFR(b, n.loc, n.input(0), d));
        shape.push_back(ty.getDimSize(d));
      }
    }
    auto outTy = RankedTensorType::get(shape, ty.getElementType());
    // An empty piece is no slice (extract_slice wants offsets in bounds).
    SmallVector<OpFoldResult> outSizes;
    for (auto [d, sz] : llvm::enumerate(szs))
      if (!(squeeze && static_cast<int64_t>(d) == *axis))
        outSizes.push_back(sz);
    Value slice =
        s == 0
            ? tensor::EmptyOp::create(b, n.loc, outSizes, ty.getElementType())
                  .getResult()
            : tensor::ExtractSliceOp::create(b, n.loc, outTy, n.input(0),
                                             offsets, szs, strides)
                  .getResult();
    elements.push_back({slice, n.inputDType(0)});
    offset += s;
  }
  n.setOutputValue(
      0, GraphValue::makeSequence(std::move(elements), n.inputDType(0)));
  return success();
}

LogicalResult buildConcatFromSequence(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<const GraphValue *> seq = sequenceInput(n, 0);
  FailureOr<int64_t> axisAttr = n.getRequiredInt("axis");
  FailureOr<int64_t> newAxis = n.getInt("new_axis", 0);
  if (failed(seq) || failed(axisAttr) || failed(newAxis))
    return failure();
  const std::vector<GraphValue> &elements = *(*seq)->sequence;
  if (elements.empty())
    return n.emitError() << "cannot concatenate an empty sequence";
  if (*newAxis != 0 && *newAxis != 1)
    return n.emitError() << "new_axis must be 0 or 1, got " << *newAxis;
  int64_t rank = cast<RankedTensorType>(elements[0].value.getType()).getRank();
  FailureOr<int64_t> axis =
      n.normalizeAxis(*axisAttr, rank + (*newAxis ? 1 : 0));
  if (failed(axis))
    return failure();
  if (!*newAxis && rank == 0)
    return n.emitError() << "cannot concatenate scalars (rank 0) without "
                            "new_axis";
  SmallVector<Value> ins;
  for (auto [k, e] : llvm::enumerate(elements)) {
    auto ety = cast<RankedTensorType>(e.value.getType());
    if (ety.getRank() != rank)
      return n.emitError() << "sequence element #" << k << " has rank "
                           << ety.getRank() << ", element #0 rank " << rank;
    ins.push_back(*newAxis ? insertUnitDim(n.b, n.loc, e.value, *axis)
                           : e.value);
  }
  Value out =
      ins.size() == 1
          ? ins[0]
          : tensor::ConcatOp::create(n.b, n.loc, *axis, ins).getResult();
  n.setOutput(0, out, (*seq)->dtype);
  return success();
}

LogicalResult buildOptional(ONNXNode &n) {
  if (failed(n.checkArity(0, 1, 1, 1)))
    return failure();
  FailureOr<const onnx::TypeProto *> tp = n.getTypeProto("type");
  if (failed(tp))
    return failure();
  if (n.hasInput(0)) {
    n.setOutputValue(0, n.inputValue(0));
    return success();
  }
  if (!*tp)
    return n.emitError() << "attribute 'type' is required without an input";
  n.setOutputValue(0, GraphValue::makeNone(elementDTypeOf(**tp)));
  return success();
}

LogicalResult buildOptionalHasElement(ONNXNode &n) {
  if (failed(n.checkArity(n.opset >= 18 ? 0 : 1, 1, 1, 1)))
    return failure();
  bool has = n.hasInput(0) && !n.inputValue(0).none;
  auto ty = RankedTensorType::get({}, n.b.getI1Type());
  Value c = arith::ConstantOp::create(
      n.b, n.loc, DenseElementsAttr::get(ty, n.b.getBoolAttr(has).getValue()));
  n.setOutput(0, c, kBool);
  return success();
}

LogicalResult buildOptionalGetElement(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  if (n.inputValue(0).none)
    return n.emitError() << "the optional input is empty";
  n.setOutputValue(0, n.inputValue(0));
  return success();
}

/// SequenceMap: the body once per position, unrolled; sequence inputs give
/// their element at that position, tensor inputs themselves.
LogicalResult buildSequenceMap(ONNXNode &n) {
  if (failed(n.checkArity(1, std::numeric_limits<int>::max(), 1,
                          std::numeric_limits<int>::max())))
    return failure();
  FailureOr<const onnx::GraphProto *> bodyG = n.getGraph("body");
  if (failed(bodyG))
    return failure();
  if (!*bodyG)
    return n.emitError() << "attribute 'body' is required";
  const onnx::GraphProto &body = **bodyG;
  FailureOr<const GraphValue *> first = sequenceInput(n, 0);
  if (failed(first))
    return failure();
  size_t length = (*first)->sequence->size();
  for (int64_t i = 1; i < n.numInputs(); ++i) {
    const GraphValue &v = n.inputValue(i);
    if (v.none)
      return n.emitError() << "input #" << i << " is an empty optional";
    if (v.isSequence() && v.sequence->size() != length)
      return n.emitError() << "input #" << i << " has " << v.sequence->size()
                           << " elements, input #0 has " << length;
  }
  if (body.output_size() != n.numOutputs())
    return n.emitError() << "body has " << body.output_size()
                         << " outputs, the node " << n.numOutputs();
  std::vector<std::vector<GraphValue>> outs(n.numOutputs());
  SmallVector<int32_t> outDTypes;
  for (const auto &o : body.output())
    outDTypes.push_back(o.has_type() && o.type().has_tensor_type()
                            ? o.type().tensor_type().elem_type()
                            : kUndefined);
  std::string what = "body of SequenceMap node '" + n.name().str() + "'";
  for (size_t k = 0; k < length; ++k) {
    SmallVector<GraphValue> ins;
    for (int64_t i = 0; i < n.numInputs(); ++i) {
      const GraphValue &v = n.inputValue(i);
      ins.push_back(v.isSequence() ? (*v.sequence)[k] : v);
    }
    FailureOr<SmallVector<GraphValue>> res =
        n.importer.importSubgraph(body, ins, n.b, n.loc, what);
    if (failed(res))
      return failure();
    for (auto [j, r] : llvm::enumerate(*res)) {
      if (!r.isTensor())
        return n.emitError() << "body output #" << j << " must be a tensor";
      outs[j].push_back(r);
      outDTypes[j] = r.dtype;
    }
  }
  for (int64_t j = 0; j < n.numOutputs(); ++j)
    n.setOutputValue(
        j, GraphValue::makeSequence(std::move(outs[j]), outDTypes[j]));
  return success();
}

} // namespace

bool mlir::qopt::onnx_import::takesNonTensorInputs(StringRef opType) {
  return llvm::is_contained({"Identity", "If", "Loop", "SequenceEmpty",
                             "SequenceConstruct", "SequenceInsert",
                             "SequenceAt", "SequenceErase", "SequenceLength",
                             "ConcatFromSequence", "SequenceMap", "Optional",
                             "OptionalHasElement", "OptionalGetElement"},
                            opType);
}

void mlir::qopt::onnx_import::registerSequenceOps(OpRegistry &r) {
  r.add("", "SequenceEmpty", 11, buildSequenceEmpty);
  r.add("", "SequenceConstruct", 11, buildSequenceConstruct);
  r.add("", "SequenceInsert", 11, buildSequenceInsert);
  r.add("", "SequenceAt", 11, buildSequenceAt);
  r.add("", "SequenceErase", 11, buildSequenceErase);
  r.add("", "SequenceLength", 11, buildSequenceLength);
  r.add("", "SplitToSequence", 11, buildSplitToSequence);
  r.add("", "ConcatFromSequence", 11, buildConcatFromSequence);
  r.add("", "SequenceMap", 17, buildSequenceMap);
  r.add("", "Optional", 15, buildOptional);
  r.add("", "OptionalHasElement", 15, buildOptionalHasElement);
  r.add("", "OptionalGetElement", 15, buildOptionalGetElement);
}
