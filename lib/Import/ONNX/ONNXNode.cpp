//===- ONNXNode.cpp - node accessors and the op builder registry ----------===//

#include "ONNXNode.h"
#include "GraphImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

std::string mlir::qopt::onnx_import::dtypeName(int32_t dtype) {
  static const char *names[] = {
      "undefined",      "float",      "uint8",
      "int8",           "uint16",     "int16",
      "int32",          "int64",      "string",
      "bool",           "float16",    "double",
      "uint32",         "uint64",     "complex64",
      "complex128",     "bfloat16",   "float8e4m3fn",
      "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz",
      "uint4",          "int4",       "float4e2m1",
      "float8e8m0",     "uint2",      "int2"};
  if (dtype >= 0 && dtype < static_cast<int32_t>(std::size(names)))
    return names[dtype];
  return "dtype " + std::to_string(dtype);
}

bool mlir::qopt::onnx_import::isUnsignedDType(int32_t dtype) {
  return dtype == kUInt8 || dtype == kUInt16 || dtype == kUInt32 ||
         dtype == kUInt64 || dtype == kUInt4 || dtype == kUInt2 ||
         dtype == kBool;
}

bool mlir::qopt::onnx_import::isFloatDType(int32_t dtype) {
  return dtype == kFloat || dtype == kDouble || dtype == kFloat16 ||
         dtype == kBFloat16;
}

//===----------------------------------------------------------------------===//
// ONNXNode
//===----------------------------------------------------------------------===//

ONNXNode::ONNXNode(GraphImporter &importer, const onnx::NodeProto &proto,
                   int64_t opset, OpBuilder &builder, Location loc)
    : b(builder), loc(loc), proto(proto), opset(opset), importer(importer) {
  nodeName = proto.name();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    if (auto nameLoc = dyn_cast<NameLoc>(fused.getLocations().front()))
      nodeName = nameLoc.getName().str();
  for (const std::string &in : proto.input()) {
    std::optional<GraphValue> v;
    if (!in.empty())
      v = importer.lookup(in);
    inputs.push_back(v ? *v : GraphValue{});
  }
}

bool ONNXNode::hasInput(int64_t i) const {
  return i < numInputs() && inputs[i].isPresent();
}

RankedTensorType ONNXNode::inputType(int64_t i) const {
  return cast<RankedTensorType>(inputs[i].value.getType());
}

bool ONNXNode::hasOutput(int64_t i) const {
  return i < numOutputs() && !proto.output(i).empty();
}

void ONNXNode::setOutput(int64_t i, Value v, int32_t dtype) {
  if (hasOutput(i))
    importer.bind(proto.output(i), GraphValue{v, dtype});
}

void ONNXNode::setOutputValue(int64_t i, const GraphValue &v) {
  if (hasOutput(i))
    importer.bind(proto.output(i), v);
}

LogicalResult ONNXNode::checkArity(int64_t minInputs, int64_t maxInputs,
                                   int64_t minOutputs, int64_t maxOutputs) {
  if (numInputs() < minInputs || numInputs() > maxInputs)
    return emitError() << "takes " << minInputs
                       << (minInputs == maxInputs
                               ? std::string()
                               : " to " + std::to_string(maxInputs))
                       << " inputs, got " << numInputs();
  for (int64_t i = 0; i < minInputs; ++i)
    if (!hasInput(i))
      return emitError() << "input #" << i << " is required";
  if (numOutputs() < minOutputs || numOutputs() > maxOutputs)
    return emitError() << "has " << numOutputs() << " outputs, expected "
                       << minOutputs
                       << (minOutputs == maxOutputs
                               ? std::string()
                               : " to " + std::to_string(maxOutputs));
  return success();
}

/// The elements attribute behind `v` when it is an arith.constant.
static ElementsAttr constantAttrOf(Value v) {
  if (!v)
    return nullptr;
  auto c = v.getDefiningOp<arith::ConstantOp>();
  return c ? dyn_cast<ElementsAttr>(c.getValue()) : nullptr;
}

template <typename T, typename ResourceAttr>
static std::optional<SmallVector<T>> resourceValues(ElementsAttr attr) {
  if (auto r = dyn_cast<ResourceAttr>(attr))
    if (auto arr = r.tryGetAsArrayRef())
      return SmallVector<T>(arr->begin(), arr->end());
  return std::nullopt;
}

std::optional<SmallVector<int64_t>> ONNXNode::constantInts(int64_t i) const {
  if (!hasInput(i))
    return std::nullopt;
  ElementsAttr attr = constantAttrOf(input(i));
  if (!attr || !attr.getElementType().isInteger())
    return std::nullopt;
  if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    bool isUnsigned = isUnsignedDType(inputDType(i));
    SmallVector<int64_t> out;
    for (const APInt &v : dense.getValues<APInt>())
      out.push_back(isUnsigned ? static_cast<int64_t>(v.getZExtValue())
                               : v.getSExtValue());
    return out;
  }
  if (auto v = resourceValues<int64_t, DenseI64ResourceElementsAttr>(attr))
    return v;
  if (auto v = resourceValues<int64_t, DenseI32ResourceElementsAttr>(attr))
    return v;
  if (isUnsignedDType(inputDType(i))) {
    if (auto v = resourceValues<int64_t, DenseUI8ResourceElementsAttr>(attr))
      return v;
  } else if (auto v =
                 resourceValues<int64_t, DenseI8ResourceElementsAttr>(attr)) {
    return v;
  }
  return std::nullopt;
}

std::optional<SmallVector<double>> ONNXNode::constantFloats(int64_t i) const {
  if (!hasInput(i))
    return std::nullopt;
  ElementsAttr attr = constantAttrOf(input(i));
  if (!attr || !isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    SmallVector<double> out;
    for (const APFloat &v : dense.getValues<APFloat>())
      out.push_back(v.convertToDouble());
    return out;
  }
  if (auto v = resourceValues<double, DenseF32ResourceElementsAttr>(attr))
    return v;
  if (auto v = resourceValues<double, DenseF64ResourceElementsAttr>(attr))
    return v;
  return std::nullopt;
}

int64_t ONNXNode::inputUseCount(int64_t i) const {
  return importer.useCount(proto.input(i));
}

std::optional<std::string> ONNXNode::initializerName(int64_t i) const {
  if (!hasInput(i))
    return std::nullopt;
  return importer.initializerOf(input(i));
}

std::optional<std::string> ONNXNode::metadataProp(StringRef key) const {
  // NodeProto.metadata_props = 9 (repeated StringStringEntryProto).
  constexpr int kMetadataPropsField = 9;
  std::optional<std::string> found;
  auto consider = [&](const std::string &bytes) {
    onnx::StringStringEntryProto kv;
    if (kv.ParseFromString(bytes) && kv.key() == key)
      found = kv.value();
  };
  const google::protobuf::Reflection *refl = proto.GetReflection();
  const google::protobuf::FieldDescriptor *field =
      proto.GetDescriptor()->FindFieldByNumber(kMetadataPropsField);
  if (field && field->is_repeated() &&
      field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE)
    for (int i = 0, e = refl->FieldSize(proto, field); i < e; ++i)
      consider(refl->GetRepeatedMessage(proto, field, i).SerializeAsString());
  const google::protobuf::UnknownFieldSet &unknown =
      refl->GetUnknownFields(proto);
  for (int i = 0, e = unknown.field_count(); i < e; ++i) {
    const google::protobuf::UnknownField &f = unknown.field(i);
    if (f.number() == kMetadataPropsField &&
        f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      consider(f.length_delimited());
  }
  return found;
}

bool ONNXNode::hasAttr(StringRef name) const {
  return llvm::any_of(proto.attribute(),
                      [&](const auto &a) { return a.name() == name; });
}

FailureOr<const onnx::AttributeProto *> ONNXNode::findAttr(StringRef name,
                                                           int expectedType) {
  readAttrs.insert(name);
  for (const auto &a : proto.attribute()) {
    if (a.name() != name)
      continue;
    // Old exporters leave `type` unset; trust the field that is filled.
    if (a.type() != 0 && a.type() != expectedType)
      return emitError() << "attribute '" << name << "' has the wrong type";
    return &a;
  }
  return static_cast<const onnx::AttributeProto *>(nullptr);
}

FailureOr<int64_t> ONNXNode::getInt(StringRef name, int64_t defaultValue) {
  auto a = findAttr(name, onnx::AttributeProto::INT);
  if (failed(a))
    return failure();
  return *a ? (*a)->i() : defaultValue;
}

FailureOr<int64_t> ONNXNode::getRequiredInt(StringRef name) {
  auto a = findAttr(name, onnx::AttributeProto::INT);
  if (failed(a))
    return failure();
  if (!*a)
    return emitError() << "attribute '" << name << "' is required";
  return (*a)->i();
}

FailureOr<double> ONNXNode::getFloat(StringRef name, double defaultValue) {
  auto a = findAttr(name, onnx::AttributeProto::FLOAT);
  if (failed(a))
    return failure();
  return *a ? static_cast<double>((*a)->f()) : defaultValue;
}

FailureOr<std::string> ONNXNode::getString(StringRef name,
                                           StringRef defaultValue) {
  auto a = findAttr(name, onnx::AttributeProto::STRING);
  if (failed(a))
    return failure();
  return *a ? (*a)->s() : defaultValue.str();
}

FailureOr<SmallVector<int64_t>>
ONNXNode::getInts(StringRef name, ArrayRef<int64_t> defaultValue) {
  auto a = findAttr(name, onnx::AttributeProto::INTS);
  if (failed(a))
    return failure();
  if (!*a)
    return SmallVector<int64_t>(defaultValue.begin(), defaultValue.end());
  return SmallVector<int64_t>((*a)->ints().begin(), (*a)->ints().end());
}

FailureOr<SmallVector<double>>
ONNXNode::getFloats(StringRef name, ArrayRef<double> defaultValue) {
  auto a = findAttr(name, onnx::AttributeProto::FLOATS);
  if (failed(a))
    return failure();
  if (!*a)
    return SmallVector<double>(defaultValue.begin(), defaultValue.end());
  return SmallVector<double>((*a)->floats().begin(), (*a)->floats().end());
}

FailureOr<SmallVector<std::string>> ONNXNode::getStrings(StringRef name) {
  auto a = findAttr(name, onnx::AttributeProto::STRINGS);
  if (failed(a))
    return failure();
  SmallVector<std::string> out;
  if (*a)
    out.assign((*a)->strings().begin(), (*a)->strings().end());
  return out;
}

const onnx::TensorProto *ONNXNode::getTensor(StringRef name) {
  auto a = findAttr(name, onnx::AttributeProto::TENSOR);
  if (failed(a) || !*a)
    return nullptr;
  return &(*a)->t();
}

FailureOr<const onnx::GraphProto *> ONNXNode::getGraph(StringRef name) {
  auto a = findAttr(name, onnx::AttributeProto::GRAPH);
  if (failed(a))
    return failure();
  if (!*a)
    return static_cast<const onnx::GraphProto *>(nullptr);
  if (!(*a)->has_g())
    return emitError() << "attribute '" << name << "' has no graph";
  return &(*a)->g();
}

FailureOr<const onnx::TypeProto *> ONNXNode::getTypeProto(StringRef name) {
  auto a = findAttr(name, onnx::AttributeProto::TYPE_PROTO);
  if (failed(a))
    return failure();
  if (!*a)
    return static_cast<const onnx::TypeProto *>(nullptr);
  return &(*a)->tp();
}

SmallVector<std::string> ONNXNode::unreadAttributes() const {
  SmallVector<std::string> out;
  for (const auto &a : proto.attribute())
    if (!readAttrs.contains(a.name()))
      out.push_back(a.name());
  return out;
}

InFlightDiagnostic ONNXNode::emitError() const {
  return mlir::emitError(loc)
         << opType() << " node '" << nodeName << "' (opset " << opset << "): ";
}

FailureOr<int64_t> ONNXNode::normalizeAxis(int64_t axis, int64_t rank,
                                           StringRef what) const {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return emitError() << what << " " << axis << " is out of range for rank "
                       << rank;
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// OpRegistry
//===----------------------------------------------------------------------===//

void OpRegistry::add(StringRef domain, StringRef opType, int64_t sinceVersion,
                     OpBuilderFn fn) {
  auto &entries = table[(domain + "::" + opType).str()];
  entries.push_back({sinceVersion, std::move(fn)});
  llvm::sort(entries,
             [](const Entry &a, const Entry &b) { return a.since < b.since; });
}

const OpBuilderFn *OpRegistry::lookup(StringRef domain, StringRef opType,
                                      int64_t opset) const {
  auto it = table.find((domain + "::" + opType).str());
  if (it == table.end())
    return nullptr;
  const OpBuilderFn *best = nullptr;
  for (const Entry &e : it->second)
    if (e.since <= opset)
      best = &e.fn;
  return best;
}

SmallVector<std::tuple<std::string, std::string, SmallVector<int64_t>>>
OpRegistry::entries() const {
  SmallVector<std::tuple<std::string, std::string, SmallVector<int64_t>>> out;
  for (const auto &kv : table) {
    auto [domain, op] = kv.getKey().split("::");
    SmallVector<int64_t> since;
    for (const Entry &e : kv.getValue())
      since.push_back(e.since);
    out.emplace_back(domain.str(), op.str(), since);
  }
  llvm::sort(out, [](const auto &a, const auto &b) {
    return std::get<1>(a) < std::get<1>(b);
  });
  return out;
}

const OpRegistry &OpRegistry::get() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    registerBasicOps(r);
    registerElementwiseOps(r);
    registerLinearOps(r);
    registerQuantizationOps(r);
    registerReshapeOps(r);
    registerConcatSliceOps(r);
    registerExpandTilePadOps(r);
    registerShapeOps(r);
    registerGatherScatterOps(r);
    registerDepthSpaceOps(r);
    registerEinsumOps(r);
    registerResizeOps(r);
    registerIndexingOps(r);
    registerNormalizationOps(r);
    registerReductionOps(r);
    registerConvOps(r);
    registerQuantizedOps(r);
    registerRecurrentOps(r);
    registerControlFlowOps(r);
    registerModOps(r);
    registerAttentionOps(r);
    registerLossOps(r);
    registerBitwiseOps(r);
    registerMathOps(r);
    registerScatterElementsOps(r);
    registerSequenceOps(r);
    registerLLMOps(r);
    registerSpatialOps(r);
    return r;
  }();
  return registry;
}
