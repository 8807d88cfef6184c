//===- QDQExport.cpp - quantization back into the source ONNX model -------===//
//
// The graph stays the user's: rather than regenerating ONNX from lowered
// IR, the exporter reads what qopt decided (per layer: the activation's
// per-tensor type, the weight's per-channel scales) and inserts
// QuantizeLinear/DequantizeLinear nodes into the source model, so names,
// metadata and every unquantized node are kept as they were.
//
//===----------------------------------------------------------------------===//

#include "qopt/Export/ONNX.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Import/ONNX.h"
#include "qopt/Support/QuantMath.h"

#include "../../Dialect/QOpt/Transforms/WeightValues.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include "InitializerValues.h"
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <map>

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// One quantized layer as the module holds it.
struct QuantPoint {
  std::string node;
  double xScale = 1.0;
  int64_t xZeroPoint = 0;
  bool xSigned = true;
  std::vector<double> wScales; // one per output channel
};

std::string locationName(Location loc) {
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (std::string s = locationName(l); !s.empty())
        return s;
  return "";
}

/// Activation and weight quantization of one layer (input `x`, weight
/// `w`): from the QDQ form, or chosen here for a float layer.
std::optional<QuantPoint> pointOf(Operation *op, Value x, Value w,
                                  const ONNXExportOptions &options,
                                  bool floatModule) {
  QuantPoint p;
  p.node = locationName(op->getLoc());
  if (auto pad = x.getDefiningOp<tensor::PadOp>())
    x = pad.getSource();
  auto xdq = x.getDefiningOp<DequantizeOp>();
  auto wdq = w.getDefiningOp<DequantizeOp>();
  if (xdq && wdq) {
    auto xt = dyn_cast<quant::UniformQuantizedType>(
        xdq.getInput().getType().getElementType());
    if (!xt || xt.getStorageTypeIntegralWidth() != 8)
      return std::nullopt;
    p.xScale = xt.getScale();
    p.xZeroPoint = xt.getZeroPoint();
    p.xSigned = xt.isSigned();
    Type wt = wdq.getInput().getType().getElementType();
    int64_t channels = cast<RankedTensorType>(w.getType()).getDimSize(0);
    if (auto a = dyn_cast<quant::UniformQuantizedPerAxisType>(wt)) {
      if (a.getQuantizedDimension() != 0 ||
          llvm::any_of(a.getZeroPoints(), [](int64_t z) { return z != 0; }))
        return std::nullopt;
      p.wScales.assign(a.getScales().begin(), a.getScales().end());
    } else if (auto t = dyn_cast<quant::UniformQuantizedType>(wt)) {
      if (t.getZeroPoint() != 0)
        return std::nullopt;
      p.wScales.assign(size_t(channels), t.getScale());
    } else {
      return std::nullopt;
    }
    return p;
  }
  // In a quantized module, a float layer is one the scheme left float
  // (excluded, not calibrated): it stays so.
  if (xdq || wdq || !floatModule)
    return std::nullopt;
  // A float layer (no calibration): weights symmetric int8 per channel as
  // qopt-quantize chooses them, activations over the default range.
  std::optional<std::vector<float>> values = constantF32Values(w);
  auto wTy = cast<RankedTensorType>(w.getType());
  if (!values || !wTy.hasStaticShape() ||
      !cast<ShapedType>(x.getType()).getElementType().isF32())
    return std::nullopt;
  std::vector<int64_t> dims(wTy.getShape().begin(), wTy.getShape().end());
  auto params = ::qopt::choosePerAxisParams(
      *values, dims, 0, ::qopt::StorageType::Int8, /*symmetric=*/true);
  if (!params)
    return std::nullopt;
  for (const ::qopt::QuantParams &q : *params)
    p.wScales.push_back(q.scale);
  p.xScale = options.defaultActivationRange / 127.0;
  p.xZeroPoint = 0;
  p.xSigned = true;
  return p;
}

using ::qopt::onnx_export::initializerFloats;

onnx::TensorProto scalarTensor(const std::string &name, float v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_float_data(v);
  return t;
}

onnx::TensorProto zeroPointTensor(const std::string &name, bool isSigned,
                                  ArrayRef<int64_t> values, bool vector) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(isSigned ? onnx::TensorProto::INT8
                           : onnx::TensorProto::UINT8);
  if (vector)
    t.add_dims(int64_t(values.size()));
  std::string raw;
  for (int64_t v : values)
    raw.push_back(char(uint8_t(v)));
  t.set_raw_data(raw);
  return t;
}

onnx::NodeProto makeNode(const std::string &op, const std::string &name,
                         std::vector<std::string> inputs,
                         const std::string &output,
                         std::optional<int64_t> axis = std::nullopt) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (const std::string &i : inputs)
    n.add_input(i);
  n.add_output(output);
  if (axis) {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(*axis);
  }
  return n;
}

} // namespace

FailureOr<int64_t> mlir::qopt::exportQDQModel(ModuleOp module,
                                              StringRef sourcePath,
                                              llvm::raw_ostream &os,
                                              const ONNXExportOptions &options,
                                              std::string &error) {
  // What the module quantizes, by ONNX node.
  std::map<std::string, QuantPoint> points;
  // No dequantize at all: a float module (no calibration), whose layers all
  // get initial parameters here.
  bool floatModule = true;
  module.walk([&](DequantizeOp) {
    floatModule = false;
    return WalkResult::interrupt();
  });
  WalkResult walk = module.walk([&](Operation *op) -> WalkResult {
    Value x, w;
    if (auto lin = dyn_cast<LinearOp>(op)) {
      x = lin.getInput();
      w = lin.getWeight();
    } else if (auto conv = dyn_cast<linalg::Conv2DNchwFchwOp>(op)) {
      x = conv.getDpsInputOperand(0)->get();
      w = conv.getDpsInputOperand(1)->get();
    } else {
      if (isa<QLinearOp>(op)) {
        error = "layer '" + locationName(op->getLoc()) +
                "' is an integer layer; the ONNX export reads the QDQ form "
                "(qopt-quantize form=qdq)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    }
    std::optional<QuantPoint> p = pointOf(op, x, w, options, floatModule);
    if (!p)
      return WalkResult::advance();
    if (p->node.empty()) {
      error = "a quantized layer has no ONNX node name in its location "
              "(keep locations: print the module with "
              "--mlir-print-debuginfo)";
      return WalkResult::interrupt();
    }
    points[p->node] = *p;
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();

  auto buf = llvm::MemoryBuffer::getFile(sourcePath, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf) {
    error =
        "cannot open '" + sourcePath.str() + "': " + buf.getError().message();
    return failure();
  }
  onnx::ModelProto model;
  StringRef bytes = (*buf)->getBuffer();
  error = parseONNXModel(bytes, looksLikeONNXText(bytes, sourcePath), model);
  if (!error.empty())
    return failure();
  for (const auto &op : model.opset_import())
    if ((op.domain().empty() || op.domain() == "ai.onnx") &&
        op.version() < 13) {
      error = "the model imports ai.onnx opset " +
              std::to_string(op.version()) +
              "; per-channel QuantizeLinear/DequantizeLinear need opset 13 "
              "or later";
      return failure();
    }
  onnx::GraphProto *graph = model.mutable_graph();
  llvm::StringMap<int> initIndex;
  for (int i = 0; i < graph->initializer_size(); ++i)
    initIndex[graph->initializer(i).name()] = i;

  std::vector<onnx::NodeProto> out;
  std::vector<onnx::TensorProto> newInits;
  llvm::StringMap<std::string> actDone, weightDone;
  llvm::StringMap<int> actVariants;
  int64_t layers = 0;
  for (int ni = 0; ni < graph->node_size(); ++ni) {
    onnx::NodeProto node = graph->node(ni);
    std::string name = node.name().empty()
                           ? node.op_type() + "_" + std::to_string(ni)
                           : node.name();
    auto it = points.find(name);
    if (it == points.end()) {
      out.push_back(node);
      continue;
    }
    const QuantPoint &p = it->second;
    const std::string &op = node.op_type();
    if ((op != "MatMul" && op != "Gemm" && op != "Conv") ||
        node.input_size() < 2) {
      error = "layer '" + name +
              "': the QDQ export handles MatMul, Gemm and "
              "Conv nodes, not " +
              op;
      return failure();
    }
    // Weight axis of the output channels in ONNX's layout.
    int64_t axis = 0;
    if (op == "MatMul") {
      axis = 1;
    } else if (op == "Gemm") {
      int64_t transB = 0;
      for (const auto &a : node.attribute())
        if (a.name() == "transB")
          transB = a.i();
      axis = transB ? 0 : 1;
    }
    // The activation: one Q/DQ per tensor and parameters.
    std::string act = node.input(0);
    std::string key = act + "|" + std::to_string(p.xScale) + "|" +
                      std::to_string(p.xZeroPoint) + (p.xSigned ? "s" : "u");
    std::string &actOut = actDone[key];
    if (actOut.empty()) {
      // A tensor quantized two ways (layers calibrated apart) gets two.
      int variant = actVariants[act]++;
      std::string base = variant ? act + "_" + std::to_string(variant) : act;
      std::string s = base + "_scale", z = base + "_zero_point";
      newInits.push_back(scalarTensor(s, float(p.xScale)));
      newInits.push_back(zeroPointTensor(z, p.xSigned, {p.xZeroPoint},
                                         /*vector=*/false));
      out.push_back(makeNode("QuantizeLinear", base + "_QuantizeLinear",
                             {act, s, z}, base + "_QuantizeLinear_Output"));
      actOut = base + "_DequantizeLinear_Output";
      out.push_back(makeNode("DequantizeLinear", base + "_DequantizeLinear",
                             {base + "_QuantizeLinear_Output", s, z}, actOut));
    }
    node.set_input(0, actOut);
    // The weight: per output channel, stored int8 (or float behind Q/DQ).
    std::string wname = node.input(1);
    std::string &wOut = weightDone[wname];
    if (wOut.empty()) {
      auto wi = initIndex.find(wname);
      if (wi == initIndex.end()) {
        error = "layer '" + name + "': weight '" + wname +
                "' is not an initializer";
        return failure();
      }
      const onnx::TensorProto &wt = graph->initializer(wi->second);
      std::optional<std::vector<float>> wv = initializerFloats(wt);
      if (!wv) {
        error = "layer '" + name + "': weight '" + wname +
                "' is not a float32 initializer held in the model file";
        return failure();
      }
      std::vector<int64_t> dims(wt.dims().begin(), wt.dims().end());
      if (axis >= int64_t(dims.size()) ||
          dims[size_t(axis)] != int64_t(p.wScales.size())) {
        error = "layer '" + name + "': weight '" + wname + "' has no axis " +
                std::to_string(axis) + " of " +
                std::to_string(p.wScales.size()) + " channels";
        return failure();
      }
      std::string s = wname + "_scale", z = wname + "_zero_point";
      onnx::TensorProto st;
      st.set_name(s);
      st.set_data_type(onnx::TensorProto::FLOAT);
      st.add_dims(int64_t(p.wScales.size()));
      for (double v : p.wScales)
        st.add_float_data(float(v));
      newInits.push_back(st);
      newInits.push_back(zeroPointTensor(
          z, true, std::vector<int64_t>(p.wScales.size(), 0), true));
      wOut = wname + "_DequantizeLinear_Output";
      if (options.fakeQuantWeights) {
        out.push_back(makeNode("QuantizeLinear", wname + "_QuantizeLinear",
                               {wname, s, z}, wname + "_QuantizeLinear_Output",
                               axis));
        out.push_back(makeNode("DequantizeLinear", wname + "_DequantizeLinear",
                               {wname + "_QuantizeLinear_Output", s, z}, wOut,
                               axis));
      } else {
        // As qopt-quantize computes them: round half to even, saturate.
        int64_t inner = 1;
        for (size_t d = size_t(axis) + 1; d < dims.size(); ++d)
          inner *= dims[d];
        int64_t channels = dims[size_t(axis)];
        ::qopt::StorageRange range =
            ::qopt::storageRange(::qopt::StorageType::Int8);
        std::string raw(wv->size(), '\0');
        for (size_t i = 0; i < wv->size(); ++i) {
          int64_t c = (int64_t(i) / inner) % channels;
          ::qopt::QuantParams qp{float(p.wScales[size_t(c)]), 0};
          raw[i] = char(int8_t(::qopt::quantizeValue((*wv)[i], qp, range)));
        }
        onnx::TensorProto qt;
        qt.set_name(wname + "_quantized");
        qt.set_data_type(onnx::TensorProto::INT8);
        for (int64_t d : dims)
          qt.add_dims(d);
        qt.set_raw_data(raw);
        newInits.push_back(qt);
        out.push_back(makeNode("DequantizeLinear", wname + "_DequantizeLinear",
                               {wname + "_quantized", s, z}, wOut, axis));
      }
    }
    node.set_input(1, wOut);
    out.push_back(node);
    ++layers;
  }
  if (layers != int64_t(points.size())) {
    for (auto &[n, p] : points) {
      bool found = false;
      for (int ni = 0; ni < graph->node_size() && !found; ++ni) {
        const onnx::NodeProto &node = graph->node(ni);
        found = (node.name().empty() ? node.op_type() + "_" + std::to_string(ni)
                                     : node.name()) == n;
      }
      if (!found) {
        error = "layer '" + n + "' has no node of that name in the model";
        return failure();
      }
    }
  }
  graph->clear_node();
  for (onnx::NodeProto &n : out)
    *graph->add_node() = std::move(n);
  for (onnx::TensorProto &t : newInits)
    *graph->add_initializer() = std::move(t);
  // Float weights nothing reads any more (stored int8 now) are dropped.
  if (!options.fakeQuantWeights) {
    llvm::StringSet<> used;
    for (const auto &n : graph->node())
      for (const std::string &i : n.input())
        used.insert(i);
    for (const auto &o : graph->output())
      used.insert(o.name());
    auto *inits = graph->mutable_initializer();
    for (int i = inits->size() - 1; i >= 0; --i)
      if (!used.contains(inits->Get(i).name()) &&
          weightDone.count(inits->Get(i).name()))
        inits->DeleteSubrange(i, 1);
  }
  std::string bytesOut;
  if (!model.SerializeToString(&bytesOut)) {
    error = "cannot serialize the model (over protobuf's 2 GiB limit?)";
    return failure();
  }
  os << bytesOut;
  return layers;
}
