//===- ONNX.h - import ONNX models into MLIR --------------------*- C++ -*-===//
//
/// \file
/// Imports an ONNX model (binary protobuf or ONNX textual syntax) into a
/// ModuleOp holding one `func.func @main` at the graph level: qopt +
/// linalg/tensor/arith/math on tensors. Input is untrusted: sizes are
/// limited, tensor byte counts checked against their dims, external data
/// confined to the model's directory. Errors are reported through the
/// context's diagnostic engine, naming the ONNX node, op type and opset.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_IMPORT_ONNX_H
#define QOPT_IMPORT_ONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace onnx {
class ModelProto;
} // namespace onnx

namespace mlir {
class DialectRegistry;

namespace qopt {

/// A value for a graph input that is to become a constant
/// (`--freeze-input`): ONNX element type code, dims, little-endian data.
struct FrozenInput {
  int32_t dtype = 0;
  SmallVector<int64_t> dims;
  std::string rawData;
};

/// How to import a model.
struct ONNXImportOptions {
  /// The ai.onnx opset to assume when the model imports none.
  int64_t defaultOpset = 17;
  /// Static shapes for graph inputs, by input name (`--pin-shape x=1x128`).
  llvm::StringMap<SmallVector<int64_t>> pinnedShapes;
  /// Lengths of sequence-typed graph inputs (`--pin-shape x=seq:3`): the
  /// input becomes that many tensor inputs `x[0]`, `x[1]`, ... (their
  /// shapes pinned by those names); see docs/Import/Sequences.md.
  llvm::StringMap<int64_t> sequenceLengths;
  /// Optional-typed graph inputs that are empty (`--pin-shape x=none`):
  /// they leave the function signature.
  llvm::StringMap<bool> emptyOptionals;
  /// Values for symbolic dims, by `dim_param` name (`--pin-dim batch=1`).
  llvm::StringMap<int64_t> pinnedDims;
  /// Graph inputs imported as constants with these values, by input name
  /// (`--freeze-input axes=axes.npy`): parameters such as axes or shapes
  /// that a model takes as inputs. They leave the function signature.
  llvm::StringMap<FrozenInput> frozenInputs;
  /// Directory that external data must resolve inside; empty means the
  /// directory of the model file.
  std::string externalDataDir;
  /// Whether tensors may load external data at all.
  bool allowExternalData = true;
  /// Fold inference BatchNormalization into the Conv with constant weights
  /// before it (quant-compile does, unless it prunes: pruning and its
  /// reports work on the model's own weights; quant-translate
  /// --fold-batchnorm).
  bool foldBatchNorm = false;
  /// How to read the bytes: by extension/content, or forced.
  enum class Format { Auto, Binary, Text } format = Format::Auto;
};

/// Imports the model in `path` (`.onnx` binary; `.onnxtext` or text that
/// starts with `<` is parsed as ONNX's textual syntax).
OwningOpRef<ModuleOp> importONNXFile(StringRef path, MLIRContext *context,
                                     const ONNXImportOptions &options = {});

/// Imports a model from memory. `bufferName` names it in diagnostics; its
/// directory is where external data is looked up unless the options say
/// otherwise.
OwningOpRef<ModuleOp> importONNXBytes(StringRef bytes, StringRef bufferName,
                                      MLIRContext *context,
                                      const ONNXImportOptions &options = {});

/// One supported operator: domain ("" for ai.onnx), op type and the opset
/// versions from which a builder applies.
struct ONNXOpSupport {
  std::string domain;
  std::string opType;
  SmallVector<int64_t> sinceVersions;
};

/// Every operator the importer has a builder for, sorted by op type.
std::vector<ONNXOpSupport> listSupportedONNXOps();

/// Adds the dialects imported models use to `registry`.
void registerONNXImportDialects(DialectRegistry &registry);

/// Parses an untrusted model (binary protobuf, or ONNX text when `text`)
/// with the importer's size and recursion limits; returns "" or what is
/// wrong. Also used by the QDQ exporter, which rewrites the source model.
std::string parseONNXModel(StringRef bytes, bool text, onnx::ModelProto &model);

/// Whether `bytes` (from file `name`) is ONNX textual syntax.
bool looksLikeONNXText(StringRef bytes, StringRef name);

/// Parses `name=AxBxC` into the pinned shapes of `options`; `?` is not
/// allowed. Returns an error message, or an empty string on success.
std::string parsePinnedShape(StringRef spec, ONNXImportOptions &options);

/// Parses `dim_param=N` into the pinned dims of `options`.
std::string parsePinnedDim(StringRef spec, ONNXImportOptions &options);

} // namespace qopt
} // namespace mlir

#endif // QOPT_IMPORT_ONNX_H
