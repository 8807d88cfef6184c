//===- ONNXNode.h - what an op builder sees of one ONNX node ----*- C++ -*-===//
//
// Op builders are registered per (domain, op type, since-version) and get an
// ONNXNode: the node's inputs as MLIR values with their ONNX dtypes, typed
// attribute accessors that remember which attributes were read (an attribute
// no builder read is an error: never a silent skip), and diagnostics that
// name the node, op type and opset.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_IMPORT_ONNX_ONNXNODE_H
#define QOPT_LIB_IMPORT_ONNX_ONNXNODE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringSet.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace mlir::qopt::onnx_import {

/// ONNX TensorProto.DataType values, including those newer than the proto
/// libonnx was built with.
enum ONNXDType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kFloat8E8M0 = 24,
  kUInt2 = 25,
  kInt2 = 26
};

/// Name of an ONNX dtype ("float", "uint8", ...), or "dtype N".
std::string dtypeName(int32_t dtype);
bool isUnsignedDType(int32_t dtype);
bool isFloatDType(int32_t dtype);

/// A value of the graph: the MLIR value and its ONNX element type (MLIR
/// integers are signless; the ONNX type keeps signedness).
struct GraphValue {
  Value value;
  int32_t dtype = kUndefined;
  /// A sequence (docs/Import/Sequences.md): an import-time list of tensor
  /// values, `value` null and `dtype` the element type. Never mutated once
  /// bound, except to follow constants the importer re-evaluates.
  std::shared_ptr<std::vector<GraphValue>> sequence;
  /// An empty optional: `value` and `sequence` null, `dtype` the element
  /// type when known. An optional with an element is that element.
  bool none = false;

  bool isTensor() const { return value && !sequence; }
  bool isSequence() const { return sequence != nullptr; }
  /// Whether this stands for a value at all (a tensor, a sequence or an
  /// empty optional).
  bool isPresent() const { return value || sequence || none; }
  static GraphValue makeSequence(std::vector<GraphValue> elements,
                                 int32_t dtype) {
    GraphValue v;
    v.dtype = dtype;
    v.sequence = std::make_shared<std::vector<GraphValue>>(std::move(elements));
    return v;
  }
  static GraphValue makeNone(int32_t dtype) {
    GraphValue v;
    v.dtype = dtype;
    v.none = true;
    return v;
  }
};

class GraphImporter;

class ONNXNode {
public:
  ONNXNode(GraphImporter &importer, const onnx::NodeProto &proto, int64_t opset,
           OpBuilder &builder, Location loc);

  OpBuilder &b;
  Location loc;
  const onnx::NodeProto &proto;
  int64_t opset;

  StringRef opType() const { return proto.op_type(); }
  StringRef name() const { return nodeName; }

  //===-- inputs and outputs ----------------------------------------------===//
  int64_t numInputs() const { return proto.input_size(); }
  int64_t numOutputs() const { return proto.output_size(); }
  /// Whether optional input `i` is given (present and not "").
  bool hasInput(int64_t i) const;
  /// Input `i` (must be given).
  Value input(int64_t i) const { return inputs[i].value; }
  /// Input `i` as the importer holds it: a tensor, a sequence or an empty
  /// optional (only the builders of Ops/Sequences.cpp see the latter two).
  const GraphValue &inputValue(int64_t i) const { return inputs[i]; }
  int32_t inputDType(int64_t i) const { return inputs[i].dtype; }
  RankedTensorType inputType(int64_t i) const;
  /// Replaces input `i` for the builder (legacy forms rewritten to the
  /// current one, such as opset-6 broadcasting).
  void replaceInput(int64_t i, Value v) { inputs[i].value = v; }
  /// Whether output `i` is requested (present and not "").
  bool hasOutput(int64_t i) const;
  /// Binds output `i` to `v` with ONNX element type `dtype`.
  void setOutput(int64_t i, Value v, int32_t dtype);
  /// Binds output `i` to a tensor, sequence or empty optional.
  void setOutputValue(int64_t i, const GraphValue &v);

  /// Checks the number of inputs and outputs against the operator schema.
  LogicalResult checkArity(int64_t minInputs, int64_t maxInputs,
                           int64_t minOutputs, int64_t maxOutputs);

  /// Element values of input `i` when it is a constant (initializer or
  /// Constant node), as integers / doubles; std::nullopt otherwise.
  std::optional<SmallVector<int64_t>> constantInts(int64_t i) const;
  std::optional<SmallVector<double>> constantFloats(int64_t i) const;
  /// How many node inputs and graph outputs use the value of input `i`.
  int64_t inputUseCount(int64_t i) const;
  /// The initializer name behind input `i` when it is one.
  std::optional<std::string> initializerName(int64_t i) const;

  //===-- node metadata ---------------------------------------------------===//
  /// The value of the node's `metadata_props` entry `key` (the last one when
  /// repeated), or std::nullopt. NodeProto.metadata_props is field 9 since
  /// ONNX 1.16; a libonnx older than that keeps it as an unknown field,
  /// which is read as well.
  std::optional<std::string> metadataProp(StringRef key) const;

  //===-- attributes ------------------------------------------------------===//
  bool hasAttr(StringRef name) const;
  /// Typed accessors: an attribute of another type is an error (reported,
  /// returns failure).
  FailureOr<int64_t> getInt(StringRef name, int64_t defaultValue);
  FailureOr<int64_t> getRequiredInt(StringRef name);
  FailureOr<double> getFloat(StringRef name, double defaultValue);
  FailureOr<std::string> getString(StringRef name, StringRef defaultValue);
  FailureOr<SmallVector<int64_t>> getInts(StringRef name,
                                          ArrayRef<int64_t> defaultValue);
  FailureOr<SmallVector<double>> getFloats(StringRef name,
                                           ArrayRef<double> defaultValue);
  FailureOr<SmallVector<std::string>> getStrings(StringRef name);
  /// A tensor attribute (e.g. Constant's `value`); nullptr when absent.
  const onnx::TensorProto *getTensor(StringRef name);
  /// A graph attribute (If's branches, Loop's and Scan's body); nullptr
  /// when absent, failure (reported) when of another type.
  FailureOr<const onnx::GraphProto *> getGraph(StringRef name);
  /// A type attribute (Optional's `type`); nullptr when absent.
  FailureOr<const onnx::TypeProto *> getTypeProto(StringRef name);
  /// Attributes that were never read; called by the importer after the
  /// builder succeeded.
  SmallVector<std::string> unreadAttributes() const;

  //===-- diagnostics and helpers -----------------------------------------===//
  /// An error naming the node: "Gemm node 'fc1' (opset 17): ...".
  InFlightDiagnostic emitError() const;
  /// Normalizes a possibly negative axis against `rank`; reports and fails
  /// when out of range.
  FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                   StringRef what = "axis") const;

  GraphImporter &importer;

private:
  /// The attribute `name` (nullptr when absent), marking it read; failure
  /// (reported) when it has another type than `expectedType`.
  FailureOr<const onnx::AttributeProto *> findAttr(StringRef name,
                                                   int expectedType);
  SmallVector<GraphValue> inputs;
  std::string nodeName;
  llvm::StringSet<> readAttrs;
};

/// Builds the MLIR for one node; reports errors through node.emitError().
using OpBuilderFn = std::function<LogicalResult(ONNXNode &)>;

/// The table of op builders, keyed by (domain, op type, since-version): the
/// builder used for a model is the one with the largest since-version not
/// above the model's opset for that domain.
class OpRegistry {
public:
  void add(StringRef domain, StringRef opType, int64_t sinceVersion,
           OpBuilderFn fn);
  /// The builder for `opType` at `opset`, or nullptr.
  const OpBuilderFn *lookup(StringRef domain, StringRef opType,
                            int64_t opset) const;
  /// Every registered (domain, op type) with its since-versions, sorted.
  SmallVector<std::tuple<std::string, std::string, SmallVector<int64_t>>>
  entries() const;

  static const OpRegistry &get();

private:
  struct Entry {
    int64_t since;
    OpBuilderFn fn;
  };
  llvm::StringMap<SmallVector<Entry>> table; // key: domain + "::" + op
};

// One registration function per op family (Ops/*.cpp).
void registerBasicOps(OpRegistry &r);
void registerElementwiseOps(OpRegistry &r);
void registerLinearOps(OpRegistry &r);
void registerQuantizationOps(OpRegistry &r);
void registerReshapeOps(OpRegistry &r);
void registerConcatSliceOps(OpRegistry &r);
void registerExpandTilePadOps(OpRegistry &r);
void registerShapeOps(OpRegistry &r);
void registerGatherScatterOps(OpRegistry &r);
void registerDepthSpaceOps(OpRegistry &r);
void registerEinsumOps(OpRegistry &r);
void registerResizeOps(OpRegistry &r);
void registerIndexingOps(OpRegistry &r);
void registerNormalizationOps(OpRegistry &r);
void registerReductionOps(OpRegistry &r);
void registerConvOps(OpRegistry &r);
void registerQuantizedOps(OpRegistry &r);
void registerRecurrentOps(OpRegistry &r);
void registerControlFlowOps(OpRegistry &r);
void registerModOps(OpRegistry &r);
void registerAttentionOps(OpRegistry &r);
void registerLossOps(OpRegistry &r);
void registerBitwiseOps(OpRegistry &r);
void registerMathOps(OpRegistry &r);
void registerScatterElementsOps(OpRegistry &r);
void registerSequenceOps(OpRegistry &r);
void registerLLMOps(OpRegistry &r);
void registerSpatialOps(OpRegistry &r);

/// Whether the builder of `opType` takes sequences and empty optionals as
/// inputs (Ops/Sequences.cpp; If and Loop); other builders get tensors only.
bool takesNonTensorInputs(StringRef opType);

} // namespace mlir::qopt::onnx_import

#endif // QOPT_LIB_IMPORT_ONNX_ONNXNODE_H
