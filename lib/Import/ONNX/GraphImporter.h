//===- GraphImporter.h - ONNX graph to func.func ----------------*- C++ -*-===//

#ifndef QOPT_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
#define QOPT_LIB_IMPORT_ONNX_GRAPHIMPORTER_H

#include "ONNXNode.h"
#include "Tensors.h"

#include "qopt/Import/ONNX.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"

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
  /// Binds a graph name to a value (a later binding of the same name wins,
  /// as in ONNX where names are unique anyway).
  void bind(StringRef name, GraphValue v) { values[name] = v; }
  /// How many node inputs and graph outputs name `name`.
  int64_t useCount(StringRef name) const { return useCounts.lookup(name); }
  /// The initializer a value comes from, if any.
  std::optional<std::string> initializerOf(Value v) const;
  /// Whether BatchNormalization is folded into the Conv before it.
  bool foldBatchNorm() const { return options.foldBatchNorm; }

  MLIRContext *ctx;
  TensorSource source;
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

private:
  LogicalResult importAttributesOf(const onnx::ModelProto &model,
                                   ModuleOp module);
  FailureOr<RankedTensorType> inputType(const onnx::ValueInfoProto &info,
                                        SmallVector<Attribute> &dimParams,
                                        int32_t &dtype);
  LogicalResult importNode(const onnx::NodeProto &node, int64_t index,
                           OpBuilder &b);
  /// The initializer standing for graph input `info` frozen to `value`,
  /// after checking the value against the declared type.
  FailureOr<onnx::TensorProto>
  frozenInputProto(const onnx::ValueInfoProto &info, const FrozenInput &value);

  const ONNXImportOptions &options;
  std::string bufferName;
  int64_t opset = 0;
  llvm::StringMap<GraphValue> values;
  llvm::DenseMap<Value, std::string> initializerNames;
  llvm::StringMap<int64_t> useCounts;
};

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
