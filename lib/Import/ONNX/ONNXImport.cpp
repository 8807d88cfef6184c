//===- ONNXImport.cpp - loading ONNX models (the public entry points) -----===//
//
// Parses the protobuf (or ONNX textual syntax) of an untrusted model with
// explicit limits, then hands it to the GraphImporter.
//
//===----------------------------------------------------------------------===//

#include "GraphImporter.h"

#include "qopt/Dialect/QOpt/IR/QOptDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/defs/parser.h>

#include <climits>
#include <exception>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::onnx_import;

/// Protobuf's own hard limit for one message: models beyond it keep their
/// weights in external data.
static constexpr int kMaxProtoBytes = INT_MAX;
/// Nesting depth limit (subgraphs, attributes); far above real models.
static constexpr int kMaxRecursion = 64;

void mlir::qopt::registerONNXImportDialects(DialectRegistry &registry) {
  registry
      .insert<QOptDialect, func::FuncDialect, arith::ArithDialect,
              math::MathDialect, linalg::LinalgDialect, tensor::TensorDialect,
              quant::QuantDialect, scf::SCFDialect, cf::ControlFlowDialect>();
}

static bool looksLikeText(StringRef bytes, StringRef name) {
  if (name.ends_with(".onnxtext") || name.ends_with(".onnxtxt"))
    return true;
  StringRef trimmed = bytes.ltrim();
  return trimmed.starts_with("<");
}

std::string mlir::qopt::parseONNXModel(StringRef bytes, bool text,
                                       onnx::ModelProto &model) {
  if (text) {
    std::string copy = bytes.str(); // the parser needs NUL termination
    // libonnx's text parser throws on some bad literals (std::stof on
    // `1e40`: std::out_of_range) instead of returning a status.
    try {
      onnx::OnnxParser parser(copy.c_str());
      auto status = parser.Parse(model);
      if (!status.IsOK())
        return "cannot parse the ONNX text: " + status.ErrorMessage();
    } catch (const std::exception &e) {
      return std::string("cannot parse the ONNX text: a literal is malformed "
                         "or out of range for its type (") +
             e.what() + ")";
    }
    return "";
  }
  if (bytes.empty())
    return "not an ONNX model: the file is empty";
  if (bytes.size() > static_cast<size_t>(kMaxProtoBytes))
    return "the model's protobuf is " + std::to_string(bytes.size()) +
           " bytes, over protobuf's 2 GiB limit; save large weights as "
           "external data";
  google::protobuf::io::ArrayInputStream raw(bytes.data(),
                                             static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(kMaxProtoBytes);
  coded.SetRecursionLimit(kMaxRecursion);
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    return "not an ONNX model: the protobuf does not parse";
  return "";
}

bool mlir::qopt::looksLikeONNXText(StringRef bytes, StringRef name) {
  return looksLikeText(bytes, name);
}

OwningOpRef<ModuleOp>
mlir::qopt::importONNXBytes(StringRef bytes, StringRef bufferName,
                            MLIRContext *context,
                            const ONNXImportOptions &options) {
  context->loadDialect<QOptDialect, func::FuncDialect, arith::ArithDialect,
                       math::MathDialect, linalg::LinalgDialect,
                       tensor::TensorDialect, quant::QuantDialect,
                       scf::SCFDialect, cf::ControlFlowDialect>();
  Location loc = FileLineColLoc::get(context, bufferName, 0, 0);
  onnx::ModelProto model;
  bool text = options.format == ONNXImportOptions::Format::Text ||
              (options.format == ONNXImportOptions::Format::Auto &&
               looksLikeText(bytes, bufferName));
  std::string error = parseONNXModel(bytes, text, model);
  if (!error.empty()) {
    emitError(loc) << error;
    return nullptr;
  }
  std::string dir = options.externalDataDir;
  if (!options.allowExternalData) {
    dir.clear();
  } else if (dir.empty()) {
    SmallString<256> d(bufferName);
    llvm::sys::path::remove_filename(d);
    dir = d.empty() ? "." : std::string(d);
  }
  GraphImporter importer(context, options, dir, bufferName.str());
  return importer.importModel(model);
}

OwningOpRef<ModuleOp>
mlir::qopt::importONNXFile(StringRef path, MLIRContext *context,
                           const ONNXImportOptions &options) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << "cannot open '" << path << "': " << buf.getError().message();
    return nullptr;
  }
  return importONNXBytes((*buf)->getBuffer(), path, context, options);
}

static std::string parseDims(StringRef text, SmallVector<int64_t> &dims) {
  if (text.empty())
    return ""; // rank 0
  SmallVector<StringRef> parts;
  text.split(parts, 'x');
  for (StringRef p : parts) {
    int64_t d;
    if (p.getAsInteger(10, d) || d < 0)
      return ("'" + p + "' is not a non-negative dimension").str();
    dims.push_back(d);
  }
  return "";
}

std::string mlir::qopt::parsePinnedShape(StringRef spec,
                                         ONNXImportOptions &options) {
  auto [name, dims] = spec.rsplit('=');
  if (name.empty() || !spec.contains('='))
    return ("--pin-shape expects NAME=DxDxD, got '" + spec + "'").str();
  // The form of a sequence or optional input (docs/Import/Sequences.md).
  if (dims == "none") {
    options.emptyOptionals[name] = true;
    return "";
  }
  if (dims.consume_front("seq:")) {
    int64_t n;
    if (dims.getAsInteger(10, n) || n < 0 || n > 1000000)
      return "--pin-shape " + spec.str() +
             ": expected seq:N with N a sequence length";
    options.sequenceLengths[name] = n;
    return "";
  }
  SmallVector<int64_t> d;
  std::string err = parseDims(dims, d);
  if (!err.empty())
    return "--pin-shape " + spec.str() + ": " + err;
  options.pinnedShapes[name] = d;
  return "";
}

std::string mlir::qopt::parsePinnedDim(StringRef spec,
                                       ONNXImportOptions &options) {
  auto [name, value] = spec.rsplit('=');
  int64_t v;
  if (name.empty() || !spec.contains('=') || value.getAsInteger(10, v) || v < 0)
    return ("--pin-dim expects NAME=N, got '" + spec + "'").str();
  options.pinnedDims[name] = v;
  return "";
}

std::vector<ONNXOpSupport> mlir::qopt::listSupportedONNXOps() {
  std::vector<ONNXOpSupport> out;
  for (auto &[domain, op, since] : OpRegistry::get().entries())
    out.push_back({domain, op, since});
  return out;
}
