//===- GraphImporter.h - ONNX graph to func.func ----------------*- C++ -*-===//

#ifndef QOPT_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
#define QOPT_LIB_IMPORT_ONNX_GRAPHIMPORTER_H

#include "ONNXNode.h"
#include "Tensors.h"

#include "qopt/Import/ONNX.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::qopt::onnx_import {

/// Imports one ModelProto: module attributes, `func.func @main` with the
/// graph inputs as arguments, initializers as named constants, one builder
/// call per node, the graph outputs as results.
class GraphImporter {
public:
  GraphImporter(MLIRContext *ctx, const ONNXImportOptions &options,
                std::string externalDataDir, std::string bufferName);

  OwningOpRef<ModuleOp> importModel(const onnx::ModelProto &model);

  /// The value bound to a graph name, if any.
  std::optional<GraphValue> lookup(StringRef name) const;
  /// Binds a graph name to a value in the innermost scope (a later binding
  /// of the same name wins, as in ONNX where names are unique anyway).
  void bind(StringRef name, GraphValue v) { scopes.back()[name] = v; }

  /// Imports `graph`, a node's graph attribute (If branch, Loop or Scan
  /// body), at `b`'s insertion point in a new scope that sees the enclosing
  /// ones (ONNX's outer-scope values): the graph's inputs are bound to
  /// `inputs` (their declared element types must match), its initializers
  /// become constants, its nodes are imported in order. Returns the values
  /// of its outputs. `what` names the graph in diagnostics ("body of Loop
  /// node 'l'"). Nothing bound inside is visible once it returns.
  FailureOr<SmallVector<GraphValue>>
  importSubgraph(const onnx::GraphProto &graph, ArrayRef<GraphValue> inputs,
                 OpBuilder &b, Location loc, const std::string &what);
  /// How many node inputs and graph outputs name `name`.
  int64_t useCount(StringRef name) const { return useCounts.lookup(name); }
  /// The initializer a value comes from, if any.
  std::optional<std::string> initializerOf(Value v) const;
  /// Records that `v` holds initializer `name`'s data (a weight folded
  /// from a Cast/Reshape/... chain of it).
  void noteInitializer(Value v, StringRef name) {
    initializerNames[v] = name.str();
  }
  /// Whether BatchNormalization is folded into the Conv before it.
  bool foldBatchNorm() const { return options.foldBatchNorm; }

  MLIRContext *ctx;
  TensorSource source;
  /// Loop bodies imported again because their carried types widened. Nested
  /// loops multiply these; the control-flow builders bound the total so that
  /// a hostile model cannot make the import run for ever.
  int64_t loopBodyReimports = 0;
  /// Transposed copies of constant weights, so that a weight shared by
  /// several MatMuls is transposed once.
  llvm::DenseMap<Value, Value> transposedWeights;
  /// Values that are the [1, 0] transpose of a 2-D float constant (PyTorch's
  /// unoptimized exports feed an [out, in] weight to MatMul through a
  /// Transpose node), mapped to that constant: MatMul and Gemm then use the
  /// constant itself as the [out, in] weight of qopt.linear, under its
  /// initializer's name. Filled by the Transpose builder; kept up to date when
  /// the importer replaces a value by an evaluated constant.
  llvm::DenseMap<Value, Value> transposeSources;
  /// Constant weights folded from Cast/Reshape/... chains (WeightFolding),
  /// by the chain's value.
  llvm::DenseMap<Value, Value> foldedWeights;
  /// Small integer tensors computed from dynamic dims (Shape of a tensor
  /// with `?` dims and the shape arithmetic on it), mapped to their
  /// elements: index constants, or index values built from tensor.dim. The
  /// builders sizing a result from an input's values (Reshape, Expand,
  /// Range, Slice, ConstantOfShape, Tile) read them (Ops/SymbolicShapes.cpp).
  llvm::DenseMap<Value, SmallVector<OpFoldResult>> symbolicInts;
  /// The dim_param of each dim of each graph input ("" when none): dims of
  /// one name are one size to isSameSizeAsDim.
  llvm::DenseMap<Value, SmallVector<std::string>> argDimParams;
  /// The dim_params some import-time proof relied on: importModel asserts
  /// on entry that the inputs agree on them.
  llvm::StringSet<> usedDimParams;

private:
  LogicalResult importAttributesOf(const onnx::ModelProto &model,
                                   ModuleOp module);
  FailureOr<RankedTensorType> inputType(const onnx::ValueInfoProto &info,
                                        SmallVector<Attribute> &dimParams,
                                        int32_t &dtype);
  LogicalResult importNode(const onnx::NodeProto &node, int64_t index,
                           OpBuilder &b);
  /// Asserts on entry that graph inputs agree on the dim_params of
  /// usedDimParams.
  void assertDimParamsAgree(Block *entry,
                            ArrayRef<std::pair<std::string, int32_t>> args);
  /// The initializers of a graph as constants at `b`'s insertion point.
  LogicalResult
  importInitializers(ArrayRef<const onnx::TensorProto *> constants,
                     OpBuilder &b);
  /// Counts the uses of names by the nodes of `graph` and of its subgraphs
  /// (outer-scope references included) and by its outputs.
  void countUses(const onnx::GraphProto &graph);
  /// The initializer standing for graph input `info` frozen to `value`,
  /// after checking the value against the declared type.
  FailureOr<onnx::TensorProto>
  frozenInputProto(const onnx::ValueInfoProto &info, const FrozenInput &value);

  const ONNXImportOptions &options;
  std::string bufferName;
  int64_t opset = 0;
  /// Graph names in scope: the main graph's first, one more per subgraph
  /// being imported (innermost last).
  SmallVector<llvm::StringMap<GraphValue>, 2> scopes{1};
  llvm::DenseMap<Value, std::string> initializerNames;
  llvm::StringMap<int64_t> useCounts;
};

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
