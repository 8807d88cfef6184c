//===- GraphImporter.cpp - ONNX graph to func.func ------------------------===//

#include "GraphImporter.h"
#include "ConstantFolding.h"
#include "Ops/ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/ScopeExit.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

/// The newest ai.onnx opset whose semantics the builders know (ONNX 1.23).
/// Opsets 24 to 28 changed the listed operators only by new element types
/// and attributes (Cast round_mode, SpaceToDepth mode, Range stash_type),
/// which the builders reject when a model uses them.
static constexpr int64_t kMaxSupportedOpset = 28;

GraphImporter::GraphImporter(MLIRContext *ctx, const ONNXImportOptions &options,
                             std::string externalDataDir,
                             std::string bufferName)
    : ctx(ctx), options(options), bufferName(std::move(bufferName)) {
  source.externalDataDir = std::move(externalDataDir);
}

std::optional<GraphValue> GraphImporter::lookup(StringRef name) const {
  for (const auto &scope : llvm::reverse(scopes)) {
    auto it = scope.find(name);
    if (it != scope.end())
      return it->second;
  }
  return std::nullopt;
}

/// Whether a declared dim gives a size: `dim_value: -1` is an unknown dim
/// (Paddle exports write it), as onnxruntime reads it.
static bool isKnownDim(const onnx::TensorShapeProto_Dimension &dim) {
  return dim.has_dim_value() && dim.dim_value() != -1;
}

std::optional<std::string> GraphImporter::initializerOf(Value v) const {
  auto it = initializerNames.find(v);
  if (it == initializerNames.end())
    return std::nullopt;
  return it->second;
}

LogicalResult GraphImporter::importAttributesOf(const onnx::ModelProto &model,
                                                ModuleOp module) {
  Builder b(ctx);
  SmallVector<NamedAttribute> opsets;
  for (const auto &imp : model.opset_import())
    opsets.push_back(
        b.getNamedAttr(imp.domain().empty() ? "ai.onnx" : imp.domain(),
                       b.getI64IntegerAttr(imp.version())));
  module->setAttr("onnx.opset_imports", b.getDictionaryAttr(opsets));
  module->setAttr("onnx.ir_version", b.getI64IntegerAttr(model.ir_version()));
  if (!model.producer_name().empty())
    module->setAttr("onnx.producer_name",
                    b.getStringAttr(model.producer_name()));
  if (!model.producer_version().empty())
    module->setAttr("onnx.producer_version",
                    b.getStringAttr(model.producer_version()));
  if (!model.graph().name().empty())
    module->setAttr("onnx.graph_name", b.getStringAttr(model.graph().name()));
  SmallVector<NamedAttribute> meta;
  for (const auto &kv : model.metadata_props())
    meta.push_back(b.getNamedAttr(kv.key(), b.getStringAttr(kv.value())));
  if (!meta.empty())
    module->setAttr("onnx.metadata", b.getDictionaryAttr(meta));
  return success();
}

FailureOr<RankedTensorType>
GraphImporter::inputType(const onnx::ValueInfoProto &info,
                         SmallVector<Attribute> &dimParams, int32_t &dtype) {
  Location loc = NameLoc::get(StringAttr::get(ctx, info.name()),
                              FileLineColLoc::get(ctx, bufferName, 0, 0));
  auto emitError = [&] {
    return mlir::emitError(loc) << "graph input '" << info.name() << "': ";
  };
  if (!info.has_type() || !info.type().has_tensor_type()) {
    emitError() << "only tensor inputs are supported";
    return failure();
  }
  const auto &tt = info.type().tensor_type();
  dtype = tt.elem_type();
  FailureOr<Type> elemTy = elementTypeFor(
      dtype, ctx, [&] { return mlir::emitError(loc); },
      "graph input '" + info.name() + "'");
  if (failed(elemTy))
    return failure();

  Builder b(ctx);
  SmallVector<int64_t> shape;
  auto pinned = options.pinnedShapes.find(info.name());
  if (pinned != options.pinnedShapes.end()) {
    if (tt.has_shape() &&
        tt.shape().dim_size() != static_cast<int>(pinned->second.size())) {
      emitError() << "--pin-shape gives rank " << pinned->second.size()
                  << ", the model declares rank " << tt.shape().dim_size();
      return failure();
    }
    for (auto [i, d] : llvm::enumerate(pinned->second)) {
      if (tt.has_shape() && isKnownDim(tt.shape().dim(i)) &&
          tt.shape().dim(i).dim_value() != d) {
        emitError() << "--pin-shape gives " << d << " for dim " << i
                    << ", the model declares " << tt.shape().dim(i).dim_value();
        return failure();
      }
      shape.push_back(d);
      dimParams.push_back(b.getStringAttr(""));
    }
    return RankedTensorType::get(shape, *elemTy);
  }
  if (!tt.has_shape()) {
    emitError() << "has no shape; give one with --pin-shape " << info.name()
                << "=DIMS";
    return failure();
  }
  for (const auto &dim : tt.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() != -1) {
      if (dim.dim_value() < 0) {
        emitError() << "has a negative dimension (" << dim.dim_value() << ")";
        return failure();
      }
      shape.push_back(dim.dim_value());
      dimParams.push_back(b.getStringAttr(""));
      continue;
    }
    // Symbolic (dim_param) or unknown (no value, or -1 as Paddle and some
    // converters write it; onnxruntime reads it as unknown too): dynamic,
    // unless pinned by name.
    std::string param = dim.has_dim_param() ? dim.dim_param() : "";
    auto pin = options.pinnedDims.find(param);
    if (!param.empty() && pin != options.pinnedDims.end())
      shape.push_back(pin->second);
    else
      shape.push_back(ShapedType::kDynamic);
    dimParams.push_back(b.getStringAttr(param));
  }
  return RankedTensorType::get(shape, *elemTy);
}

FailureOr<onnx::TensorProto>
GraphImporter::frozenInputProto(const onnx::ValueInfoProto &info,
                                const FrozenInput &value) {
  Location loc = NameLoc::get(StringAttr::get(ctx, info.name()),
                              FileLineColLoc::get(ctx, bufferName, 0, 0));
  auto emitError = [&] {
    return mlir::emitError(loc) << "--freeze-input " << info.name() << ": ";
  };
  if (info.has_type() && info.type().has_tensor_type()) {
    const auto &tt = info.type().tensor_type();
    if (tt.elem_type() != value.dtype) {
      emitError() << "the value is " << dtypeName(value.dtype)
                  << ", the model declares " << dtypeName(tt.elem_type());
      return failure();
    }
    if (tt.has_shape()) {
      bool ok = tt.shape().dim_size() == static_cast<int>(value.dims.size());
      for (int i = 0; ok && i < tt.shape().dim_size(); ++i)
        ok = !isKnownDim(tt.shape().dim(i)) ||
             tt.shape().dim(i).dim_value() == value.dims[i];
      if (!ok) {
        auto diag = emitError() << "the value has shape [";
        llvm::interleaveComma(value.dims, diag);
        diag << "], which the model's declared shape does not allow";
        return failure();
      }
    }
  }
  onnx::TensorProto proto;
  proto.set_name(info.name());
  proto.set_data_type(value.dtype);
  for (int64_t d : value.dims)
    proto.add_dims(d);
  // The runtime holds 4- and 2-bit values one per byte; ONNX packs them
  // (low bits first) in raw_data.
  int bits = value.dtype == kInt4 || value.dtype == kUInt4 ||
                     value.dtype == kFloat4E2M1
                 ? 4
                 : (value.dtype == kInt2 || value.dtype == kUInt2 ? 2 : 0);
  if (bits) {
    int perByte = 8 / bits;
    std::string packed((value.rawData.size() + perByte - 1) / perByte, '\0');
    for (size_t i = 0; i < value.rawData.size(); ++i)
      packed[i / perByte] = static_cast<char>(
          static_cast<unsigned char>(packed[i / perByte]) |
          ((static_cast<unsigned char>(value.rawData[i]) & ((1u << bits) - 1))
           << ((i % perByte) * bits)));
    proto.set_raw_data(packed);
    return proto;
  }
  proto.set_raw_data(value.rawData);
  return proto;
}

/// ONNX graphs are in SSA form: each name is defined once, by a graph
/// input, an initializer (which may also be listed as an input) or a node
/// output. onnxruntime refuses a model that breaks this; importing it would
/// silently let the last definition win.
static LogicalResult checkSingleDefinitions(const onnx::GraphProto &graph,
                                            Location fileLoc) {
  llvm::StringMap<std::string> definedBy;
  auto define = [&](const std::string &name,
                    const std::string &what) -> LogicalResult {
    auto [it, inserted] = definedBy.try_emplace(name, what);
    if (inserted)
      return success();
    mlir::emitError(fileLoc)
        << "name '" << name << "' is defined twice (by " << it->second
        << ", then by " << what
        << "); each name of an ONNX graph must be defined once";
    return failure();
  };
  llvm::StringSet<> initNames;
  for (const auto &init : graph.initializer()) {
    if (failed(define(init.name(), "an initializer")))
      return failure();
    initNames.insert(init.name());
  }
  for (const auto &in : graph.input())
    if (!initNames.contains(in.name()) &&
        failed(define(in.name(), "a graph input")))
      return failure();
  for (auto [i, node] : llvm::enumerate(graph.node())) {
    std::string nodeName = node.name().empty()
                               ? node.op_type() + "_" + std::to_string(i)
                               : node.name();
    for (const std::string &out : node.output())
      if (!out.empty() &&
          failed(define(out, node.op_type() + " node '" + nodeName + "'")))
        return failure();
  }
  llvm::StringSet<> outputs;
  for (const auto &out : graph.output())
    if (!outputs.insert(out.name()).second) {
      mlir::emitError(fileLoc)
          << "graph output '" << out.name() << "' is listed twice";
      return failure();
    }
  return success();
}

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node,
                                        int64_t index, OpBuilder &b) {
  std::string name = node.name().empty()
                         ? node.op_type() + "_" + std::to_string(index)
                         : node.name();
  // loc(fused<"OpType">["node name"(file)]): diagnostics print the model
  // file, the IR keeps node name and op type.
  Location fileLoc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  Location loc =
      FusedLoc::get(ctx, {NameLoc::get(StringAttr::get(ctx, name), fileLoc)},
                    StringAttr::get(ctx, node.op_type()));
  StringRef domain = node.domain();
  if (!domain.empty() && domain != "ai.onnx")
    return mlir::emitError(loc)
           << node.op_type() << " node '" << name << "': operator domain '"
           << domain << "' is not supported";
  ONNXNode n(*this, node, opset, b, loc);
  for (int64_t i = 0; i < node.input_size(); ++i)
    if (!node.input(i).empty() && !lookup(node.input(i)))
      return n.emitError() << "input '" << node.input(i)
                           << "' is not defined by a graph input, an "
                              "initializer or an earlier node";
  const OpBuilderFn *fn = OpRegistry::get().lookup("", node.op_type(), opset);
  if (!fn)
    return n.emitError() << "operator '" << node.op_type()
                         << "' is not supported";
  // Sequences and empty optionals reach only the builders that know them
  // (Ops/Sequences.cpp, If, Loop); the others take tensors.
  if (!takesNonTensorInputs(node.op_type()))
    for (int64_t i = 0; i < node.input_size(); ++i) {
      if (node.input(i).empty() || lookup(node.input(i))->isTensor())
        continue;
      return n.emitError() << "input #" << i << " ('" << node.input(i)
                           << "') is "
                           << (lookup(node.input(i))->isSequence()
                                   ? "a sequence"
                                   : "an empty optional")
                           << "; " << node.op_type() << " takes tensors";
    }
  // Nodes computing on constants only (shapes, axes, pads) are evaluated
  // as they are imported, so that later builders see constants.
  bool allConstant = llvm::all_of(node.input(), [&](const std::string &in) {
    if (in.empty())
      return true;
    Value v = lookup(in)->value;
    return v && v.getDefiningOp<arith::ConstantOp>();
  });
  Block *block = b.getInsertionBlock();
  Operation *last = b.getInsertionPoint() == block->begin()
                        ? nullptr
                        : &*std::prev(b.getInsertionPoint());
  // Shape arithmetic on dynamic dims is followed symbolically
  // (Ops/SymbolicShapes.cpp) instead of building tensor code.
  bool symbolic = !allConstant && evaluateSymbolically(n);
  if (!symbolic && failed((*fn)(n)))
    return failure();
  if (allConstant && node.input_size() > 0) {
    DenseMap<Value, Value> replaced = evaluateConstantOps(b, *block, last);
    if (!replaced.empty()) {
      std::function<void(GraphValue &)> follow = [&](GraphValue &v) {
        if (v.value)
          if (Value c = replaced.lookup(v.value))
            v.value = c;
        if (v.sequence)
          for (GraphValue &e : *v.sequence)
            follow(e);
      };
      for (auto &scope : scopes)
        for (auto &entry : scope)
          follow(entry.second);
      for (auto &entry : transposedWeights)
        if (Value c = replaced.lookup(entry.second))
          entry.second = c;
      SmallVector<std::pair<Value, Value>> rekeyed;
      for (auto &entry : transposeSources)
        if (Value c = replaced.lookup(entry.first))
          rekeyed.push_back({c, entry.second});
      for (auto &[c, src] : rekeyed)
        transposeSources[c] = src;
      for (auto &entry : replaced)
        transposeSources.erase(entry.first);
    }
  }
  SmallVector<std::string> unread = n.unreadAttributes();
  if (!unread.empty())
    return n.emitError() << "attribute '" << unread.front()
                         << "' is not supported";
  for (int64_t i = 0; i < node.output_size(); ++i)
    if (!node.output(i).empty() && !lookup(node.output(i)))
      return n.emitError() << "output #" << i << " ('" << node.output(i)
                           << "') is not supported";
  return success();
}

LogicalResult
GraphImporter::importInitializers(ArrayRef<const onnx::TensorProto *> constants,
                                  OpBuilder &b) {
  Location fileLoc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  for (const onnx::TensorProto *initPtr : constants) {
    const onnx::TensorProto &init = *initPtr;
    Location loc = NameLoc::get(StringAttr::get(ctx, init.name()), fileLoc);
    // Scalars (scales, zero points, axes) are no weights: inline, they stay
    // readable and fold.
    bool scalar = llvm::all_of(init.dims(), [](int64_t d) { return d == 1; }) ||
                  llvm::any_of(init.dims(), [](int64_t d) { return d == 0; });
    StringRef resourceName = scalar ? StringRef() : StringRef(init.name());
    auto attr = tensorToAttr(init, resourceName, source, ctx,
                             [&] { return mlir::emitError(loc); });
    if (failed(attr))
      return failure();
    Value c = arith::ConstantOp::create(b, loc, cast<TypedAttr>(*attr));
    bind(init.name(), GraphValue{c, init.data_type()});
    initializerNames[c] = init.name();
  }
  return success();
}

void GraphImporter::countUses(const onnx::GraphProto &graph) {
  for (const auto &node : graph.node()) {
    for (const std::string &in : node.input())
      ++useCounts[in];
    for (const auto &attr : node.attribute()) {
      if (attr.has_g())
        countUses(attr.g());
      for (const auto &g : attr.graphs())
        countUses(g);
    }
  }
  for (const auto &out : graph.output())
    ++useCounts[out.name()];
}

FailureOr<SmallVector<GraphValue>>
GraphImporter::importSubgraph(const onnx::GraphProto &graph,
                              ArrayRef<GraphValue> inputs, OpBuilder &b,
                              Location loc, const std::string &what) {
  Location fileLoc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  if (graph.input_size() != static_cast<int>(inputs.size()))
    return mlir::emitError(loc) << what << " has " << graph.input_size()
                                << " inputs, expected " << inputs.size();
  if (failed(checkSingleDefinitions(graph, fileLoc)))
    return failure();
  for (auto [i, in] : llvm::enumerate(graph.input())) {
    if (!inputs[i].isTensor()) {
      if (in.has_type() && in.type().has_tensor_type())
        return mlir::emitError(loc)
               << what << " input '" << in.name()
               << "' is declared a tensor, the node gives "
               << (inputs[i].isSequence() ? "a sequence" : "an empty optional");
      continue;
    }
    if (in.has_type() &&
        (in.type().has_sequence_type() || in.type().has_optional_type()))
      continue; // a tensor passed as a present optional
    if (in.has_type() && !in.type().has_tensor_type())
      return mlir::emitError(loc) << what << " input '" << in.name()
                                  << "': only tensor values are supported";
    if (!in.has_type())
      continue;
    const auto &tt = in.type().tensor_type();
    if (tt.elem_type() != kUndefined && tt.elem_type() != inputs[i].dtype)
      return mlir::emitError(loc)
             << what << " input '" << in.name() << "' is declared "
             << dtypeName(tt.elem_type()) << ", the node gives "
             << dtypeName(inputs[i].dtype);
    auto ty = cast<RankedTensorType>(inputs[i].value.getType());
    if (tt.has_shape() && tt.shape().dim_size() != ty.getRank())
      return mlir::emitError(loc)
             << what << " input '" << in.name() << "' is declared with rank "
             << tt.shape().dim_size() << ", the node gives rank "
             << ty.getRank();
  }

  // A new scope; the caches keyed by values must not leak values defined
  // inside the subgraph's region to the enclosing graph.
  scopes.emplace_back();
  auto savedTransposed = transposedWeights;
  auto savedSources = transposeSources;
  auto savedInitializers = initializerNames;
  llvm::scope_exit restore([&] {
    scopes.pop_back();
    transposedWeights = std::move(savedTransposed);
    transposeSources = std::move(savedSources);
    initializerNames = std::move(savedInitializers);
  });
  for (auto [in, v] : llvm::zip(graph.input(), inputs))
    bind(in.name(), v);
  std::vector<const onnx::TensorProto *> constants;
  for (const auto &init : graph.initializer())
    constants.push_back(&init);
  if (failed(importInitializers(constants, b)))
    return failure();
  for (auto [i, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, i, b))) {
      mlir::emitError(loc) << "in the " << what;
      return failure();
    }
  SmallVector<GraphValue> outputs;
  for (const auto &out : graph.output()) {
    std::optional<GraphValue> v = lookup(out.name());
    if (!v)
      return mlir::emitError(loc) << what << " output '" << out.name()
                                  << "' is not produced by any node";
    outputs.push_back(*v);
  }
  return outputs;
}

void GraphImporter::assertDimParamsAgree(
    Block *entry, ArrayRef<std::pair<std::string, int32_t>> args) {
  if (usedDimParams.empty())
    return;
  OpBuilder b = OpBuilder::atBlockBegin(entry);
  Location loc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  // The first input dim of each name: (input, dim, input name).
  llvm::StringMap<std::tuple<Value, int64_t, std::string>> first;
  for (auto [i, arg] : llvm::enumerate(entry->getArguments())) {
    auto ty = cast<RankedTensorType>(arg.getType());
    for (auto [d, name] : llvm::enumerate(argDimParams[arg])) {
      if (name.empty() || !usedDimParams.contains(name) || !ty.isDynamicDim(d))
        continue;
      auto [it, inserted] = first.try_emplace(name, arg, d, args[i].first);
      if (inserted)
        continue;
      auto &[firstArg, firstDim, firstName] = it->second;
      Value same = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq,
          tensor::DimOp::create(b, loc, firstArg, firstDim),
          tensor::DimOp::create(b, loc, arg, d));
      cf::AssertOp::create(b, loc, same,
                           "graph inputs '" + firstName + "' and '" +
                               args[i].first + "' differ in dim '" + name +
                               "'");
    }
  }
}

OwningOpRef<ModuleOp>
GraphImporter::importModel(const onnx::ModelProto &model) {
  Location fileLoc = FileLineColLoc::get(ctx, bufferName, 0, 0);
  if (!model.has_graph()) {
    mlir::emitError(fileLoc) << "not an ONNX model: no graph";
    return nullptr;
  }
  opset = -1;
  for (const auto &imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx")
      opset = imp.version();
  if (opset < 0)
    opset = options.defaultOpset;
  if (opset < 1 || opset > kMaxSupportedOpset) {
    mlir::emitError(fileLoc)
        << "ai.onnx opset " << opset << " is not supported (1 to "
        << kMaxSupportedOpset << ")";
    return nullptr;
  }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  if (failed(importAttributesOf(model, *module)))
    return nullptr;
  const onnx::GraphProto &graph = model.graph();
  OpBuilder b(ctx);

  if (failed(checkSingleDefinitions(graph, fileLoc)))
    return nullptr;

  // Initializers are constants even when also listed as graph inputs (IR
  // version >= 4 lets those be overridden; we fold the default in).
  llvm::StringSet<> initNames;
  for (const auto &init : graph.initializer())
    initNames.insert(init.name());

  SmallVector<Type> argTypes;
  SmallVector<SmallVector<std::string>> paramsOfArgs;
  SmallVector<DictionaryAttr> argAttrs;
  SmallVector<std::pair<std::string, int32_t>> args;
  // Frozen inputs are imported as initializers holding the given values.
  std::vector<onnx::TensorProto> frozen;
  for (const auto &in : graph.input()) {
    auto it = options.frozenInputs.find(in.name());
    if (it == options.frozenInputs.end())
      continue;
    if (initNames.contains(in.name())) {
      mlir::emitError(fileLoc) << "--freeze-input " << in.name()
                               << ": the input has an initializer already";
      return nullptr;
    }
    FailureOr<onnx::TensorProto> proto = frozenInputProto(in, it->second);
    if (failed(proto))
      return nullptr;
    frozen.push_back(std::move(*proto));
    initNames.insert(in.name());
  }
  for (const auto &entry : options.frozenInputs)
    if (llvm::none_of(graph.input(), [&](const onnx::ValueInfoProto &in) {
          return in.name() == entry.getKey();
        })) {
      mlir::emitError(fileLoc) << "--freeze-input names '" << entry.getKey()
                               << "', which is not a graph input";
      return nullptr;
    }

  // Sequence and optional inputs (docs/Import/Sequences.md): a sequence of
  // N elements (--pin-shape x=seq:N) is N tensor arguments x[0]...; an
  // empty optional (--pin-shape x=none) none; a present optional is its
  // element. What each graph input binds: (arguments taken, kind) with
  // kind -1 a tensor, -2 an empty optional, N >= 0 a sequence of N.
  SmallVector<std::tuple<std::string, int64_t, int32_t>> inputForms;
  std::vector<onnx::ValueInfoProto> argInfos;
  for (const auto &in : graph.input()) {
    if (initNames.contains(in.name()))
      continue;
    Location inLoc = NameLoc::get(StringAttr::get(ctx, in.name()), fileLoc);
    const onnx::TypeProto *tp = in.has_type() ? &in.type() : nullptr;
    bool optional = tp && tp->has_optional_type();
    if (optional)
      tp = &tp->optional_type().elem_type();
    if (options.emptyOptionals.count(in.name())) {
      if (!optional) {
        mlir::emitError(inLoc)
            << "graph input '" << in.name() << "': --pin-shape " << in.name()
            << "=none needs an optional input";
        return nullptr;
      }
      int32_t dt =
          tp->has_tensor_type() ? tp->tensor_type().elem_type()
          : tp->has_sequence_type() &&
                  tp->sequence_type().elem_type().has_tensor_type()
              ? tp->sequence_type().elem_type().tensor_type().elem_type()
              : kUndefined;
      inputForms.push_back({in.name(), -2, dt});
      continue;
    }
    if (tp && tp->has_sequence_type()) {
      auto len = options.sequenceLengths.find(in.name());
      if (len == options.sequenceLengths.end()) {
        mlir::emitError(inLoc)
            << "graph input '" << in.name()
            << "' is a sequence; give its length with --pin-shape " << in.name()
            << "=seq:N (and its elements' shapes with "
            << "--pin-shape '" << in.name() << "[K]=DIMS')";
        return nullptr;
      }
      const onnx::TypeProto &et = tp->sequence_type().elem_type();
      if (!et.has_tensor_type()) {
        mlir::emitError(inLoc) << "graph input '" << in.name()
                               << "': only sequences of tensors are supported";
        return nullptr;
      }
      for (int64_t k = 0; k < len->second; ++k) {
        onnx::ValueInfoProto info;
        info.set_name(in.name() + "[" + std::to_string(k) + "]");
        *info.mutable_type() = et;
        argInfos.push_back(std::move(info));
      }
      inputForms.push_back(
          {in.name(), len->second, et.tensor_type().elem_type()});
      continue;
    }
    onnx::ValueInfoProto info = in;
    if (optional)
      *info.mutable_type() = *tp;
    argInfos.push_back(std::move(info));
    inputForms.push_back({in.name(), -1, 0});
  }
  for (const auto &[name, len] : options.sequenceLengths)
    if (llvm::none_of(inputForms, [&](const auto &f) {
          return std::get<0>(f) == name.str() && std::get<1>(f) >= 0;
        })) {
      mlir::emitError(fileLoc) << "--pin-shape " << name.str()
                               << "=seq:N names no sequence graph input";
      return nullptr;
    }
  for (const auto &entry : options.emptyOptionals)
    if (llvm::none_of(graph.input(), [&](const onnx::ValueInfoProto &in) {
          return in.name() == entry.getKey();
        })) {
      mlir::emitError(fileLoc)
          << "--pin-shape " << entry.getKey() << "=none names no graph input";
      return nullptr;
    }

  for (const auto &in : argInfos) {
    SmallVector<Attribute> dimParams;
    int32_t dtype = 0;
    FailureOr<RankedTensorType> ty = inputType(in, dimParams, dtype);
    if (failed(ty))
      return nullptr;
    argTypes.push_back(*ty);
    SmallVector<NamedAttribute> attrs{
        b.getNamedAttr("onnx.name", b.getStringAttr(in.name())),
        b.getNamedAttr("onnx.dtype", b.getStringAttr(dtypeName(dtype)))};
    if (llvm::any_of(dimParams, [](Attribute a) {
          return !cast<StringAttr>(a).getValue().empty();
        }))
      attrs.push_back(
          b.getNamedAttr("onnx.dim_params", b.getArrayAttr(dimParams)));
    argAttrs.push_back(b.getDictionaryAttr(attrs));
    args.push_back({in.name(), dtype});
    SmallVector<std::string> &params = paramsOfArgs.emplace_back();
    for (Attribute a : dimParams)
      params.push_back(cast<StringAttr>(a).getValue().str());
  }
  for (const auto &[name, shape] : options.pinnedShapes)
    if (llvm::none_of(args, [&](const auto &a) { return a.first == name; })) {
      mlir::emitError(fileLoc)
          << "--pin-shape names '" << name << "', which is not a graph input";
      return nullptr;
    }

  b.setInsertionPointToEnd(module->getBody());
  auto func =
      func::FuncOp::create(b, fileLoc, "main", b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, a] : llvm::enumerate(args))
    argDimParams[entry->getArgument(i)] = paramsOfArgs[i];
  {
    int64_t next = 0;
    for (const auto &[name, kind, dt] : inputForms) {
      if (kind == -2) {
        bind(name, GraphValue::makeNone(dt));
        continue;
      }
      if (kind == -1) {
        bind(name, GraphValue{entry->getArgument(next), args[next].second});
        ++next;
        continue;
      }
      std::vector<GraphValue> elements;
      for (int64_t k = 0; k < kind; ++k, ++next)
        elements.push_back({entry->getArgument(next), args[next].second});
      bind(name, GraphValue::makeSequence(std::move(elements), dt));
    }
  }
  b.setInsertionPointToStart(entry);

  std::vector<const onnx::TensorProto *> constants;
  for (const auto &init : graph.initializer())
    constants.push_back(&init);
  for (const auto &init : frozen)
    constants.push_back(&init);
  if (failed(importInitializers(constants, b)))
    return nullptr;

  countUses(graph);

  for (auto [i, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, i, b)))
      return nullptr;
  assertDimParamsAgree(entry, args);

  SmallVector<Value> results;
  SmallVector<DictionaryAttr> resultAttrs;
  for (const auto &out : graph.output()) {
    std::optional<GraphValue> v = lookup(out.name());
    if (!v) {
      mlir::emitError(fileLoc)
          << "graph output '" << out.name() << "' is not produced by any node";
      return nullptr;
    }
    // A sequence output is one result per element, out[0]...; an empty
    // optional none (docs/Import/Sequences.md).
    if (v->isSequence()) {
      for (auto [k, e] : llvm::enumerate(*v->sequence)) {
        results.push_back(e.value);
        resultAttrs.push_back(b.getDictionaryAttr(
            {b.getNamedAttr(
                 "onnx.name",
                 b.getStringAttr(out.name() + "[" + std::to_string(k) + "]")),
             b.getNamedAttr("onnx.dtype",
                            b.getStringAttr(dtypeName(e.dtype)))}));
      }
      continue;
    }
    if (v->none)
      continue;
    results.push_back(v->value);
    SmallVector<NamedAttribute> attrs{
        b.getNamedAttr("onnx.name", b.getStringAttr(out.name())),
        b.getNamedAttr("onnx.dtype", b.getStringAttr(dtypeName(v->dtype)))};
    // The declared dim_params of dims that are still dynamic name them in
    // the artifact's signature.
    auto resultTy = dyn_cast<RankedTensorType>(v->value.getType());
    if (resultTy && out.has_type() && out.type().has_tensor_type() &&
        out.type().tensor_type().has_shape() &&
        out.type().tensor_type().shape().dim_size() == resultTy.getRank()) {
      SmallVector<Attribute> params;
      bool any = false;
      for (auto [i, dim] :
           llvm::enumerate(out.type().tensor_type().shape().dim())) {
        bool named = dim.has_dim_param() && resultTy.isDynamicDim(i);
        params.push_back(b.getStringAttr(named ? dim.dim_param() : ""));
        any |= named;
      }
      if (any)
        attrs.push_back(
            b.getNamedAttr("onnx.dim_params", b.getArrayAttr(params)));
    }
    resultAttrs.push_back(b.getDictionaryAttr(attrs));
  }
  func::ReturnOp::create(b, fileLoc, results);
  func.setFunctionType(
      b.getFunctionType(argTypes, ValueRange(results).getTypes()));
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resultAttrs);

  if (failed(verify(*module))) {
    mlir::emitError(fileLoc) << "the imported module does not verify";
    return nullptr;
  }
  return module;
}
