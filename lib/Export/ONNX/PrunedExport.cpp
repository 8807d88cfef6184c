//===- PrunedExport.cpp - a pruned float module back into its ONNX model --===//
//
// As the QDQ export, the graph stays the user's: each layer's (pruned,
// possibly shrunk) weight and bias replace the initializers of its ONNX
// node, found by the node name in the op's location, and each Reshape whose
// target shape the shrinking changed (fewer attention heads) gets the
// module's static sizes. The initializers then have the smaller shapes of
// the shrunk module; every other node stays as it was.
//
//===----------------------------------------------------------------------===//

#include "qopt/Export/ONNX.h"

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Import/ONNX.h"

#include "../../Dialect/QOpt/Transforms/WeightValues.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"

#include "InitializerValues.h"
#include <onnx/onnx_pb.h>

#include <cstring>
#include <map>

using namespace mlir;
using namespace mlir::qopt;

namespace {

struct LayerValues {
  std::vector<float> weight; // the module's layout: [N, K] or [F, C, KH, KW]
  std::vector<int64_t> shape;
  std::optional<std::vector<float>> bias;
  bool conv = false;
};

std::string nodeName(Location loc) {
  if (auto n = dyn_cast<NameLoc>(loc))
    return n.getName().str();
  if (auto f = dyn_cast<FusedLoc>(loc))
    for (Location l : f.getLocations())
      if (std::string s = nodeName(l); !s.empty())
        return s;
  return "";
}

onnx::TensorProto floatTensor(const std::string &name, ArrayRef<int64_t> dims,
                              ArrayRef<float> values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims)
    t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char *>(values.data()),
                             values.size() * sizeof(float)));
  return t;
}

using ::qopt::onnx_export::initializerFloats;

std::optional<std::vector<int64_t>> int64Values(const onnx::TensorProto &t) {
  if (t.data_type() != onnx::TensorProto::INT64)
    return std::nullopt;
  std::vector<int64_t> out;
  if (t.has_raw_data()) {
    out.resize(t.raw_data().size() / 8);
    std::memcpy(out.data(), t.raw_data().data(), out.size() * 8);
  } else {
    out.assign(t.int64_data().begin(), t.int64_data().end());
  }
  return out;
}

} // namespace

FailureOr<int64_t> mlir::qopt::exportPrunedModel(ModuleOp module,
                                                 StringRef sourcePath,
                                                 llvm::raw_ostream &os,
                                                 std::string &error) {
  std::map<std::string, LayerValues> layers;
  std::map<std::string, RankedTensorType> reshapes;
  // Per-channel constants the shrinking sliced: the node reading them, the
  // axis (from the end), its old size and the kept indices.
  struct Sliced {
    std::string node;
    int64_t axisFromEnd, size;
    std::vector<int64_t> kept;
    bool done;
  };
  std::vector<Sliced> slicedConstants;
  WalkResult walk = module.walk([&](Operation *op) -> WalkResult {
    if (isa<QLinearOp, DequantizeOp>(op)) {
      error = "the module is quantized; the pruned-model export writes "
              "float weights (quantize with --emit=onnx --quantize=w8a8 "
              "without --prune)";
      return WalkResult::interrupt();
    }
    if (auto d = op->getAttrOfType<DictionaryAttr>("qopt.shrunk")) {
      auto axis = d.getAs<IntegerAttr>("axis_from_end");
      auto size = d.getAs<IntegerAttr>("size");
      auto kept = d.getAs<DenseI64ArrayAttr>("kept");
      std::string user;
      for (Operation *u : op->getUsers())
        if (user.empty())
          user = nodeName(u->getLoc());
      if (!axis || !size || !kept || user.empty()) {
        error = "qopt-shrink-structured sliced a per-channel constant between "
                "layers that has no ONNX node to map it back to";
        return WalkResult::interrupt();
      }
      slicedConstants.push_back({user, axis.getInt(), size.getInt(),
                                 std::vector<int64_t>(kept.asArrayRef().begin(),
                                                      kept.asArrayRef().end()),
                                 false});
      return WalkResult::advance();
    }
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op)) {
      std::string name = nodeName(op->getLoc());
      if (!name.empty())
        reshapes[name] = cast<RankedTensorType>(op->getResult(0).getType());
      return WalkResult::advance();
    }
    Value w, b;
    bool conv = false;
    if (auto lin = dyn_cast<LinearOp>(op)) {
      w = lin.getWeight();
      b = lin.getBias();
    } else if (auto c = dyn_cast<linalg::Conv2DNchwFchwOp>(op)) {
      w = c.getDpsInputOperand(1)->get();
      conv = true;
    } else {
      return WalkResult::advance();
    }
    std::string name = nodeName(op->getLoc());
    std::optional<std::vector<float>> wv = constantF32Values(w);
    if (name.empty() || !wv)
      return WalkResult::advance(); // not a layer of the source model
    LayerValues v;
    v.weight = std::move(*wv);
    auto ty = cast<RankedTensorType>(w.getType());
    v.shape.assign(ty.getShape().begin(), ty.getShape().end());
    v.conv = conv;
    if (b) {
      v.bias = constantF32Values(b);
      if (!v.bias) {
        error = "layer '" + name + "': its bias is not a constant f32 tensor";
        return WalkResult::interrupt();
      }
    }
    layers[name] = std::move(v);
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
  onnx::GraphProto *graph = model.mutable_graph();
  llvm::StringMap<int> initIndex, uses;
  for (int i = 0; i < graph->initializer_size(); ++i)
    initIndex[graph->initializer(i).name()] = i;
  llvm::StringMap<const onnx::TensorProto *> constants;
  for (const onnx::NodeProto &n : graph->node()) {
    for (const std::string &in : n.input())
      ++uses[in];
    if (n.op_type() == "Constant" && n.output_size() == 1)
      for (const auto &a : n.attribute())
        if (a.name() == "value" && a.has_t())
          constants[n.output(0)] = &a.t();
  }
  // The initializer `name` replaced by `t` (same name, new shape).
  auto replace = [&](const std::string &node, const std::string &name,
                     ArrayRef<int64_t> dims, ArrayRef<float> values) {
    auto it = initIndex.find(name);
    if (it == initIndex.end()) {
      error = "layer '" + node + "': '" + name + "' is not an initializer";
      return false;
    }
    if (uses.lookup(name) != 1) {
      error = "layer '" + node + "': initializer '" + name +
              "' is shared with other nodes";
      return false;
    }
    *graph->mutable_initializer(it->second) = floatTensor(name, dims, values);
    return true;
  };

  int64_t written = 0;
  std::vector<onnx::NodeProto> extra; // Add nodes for biases a fold created
  // The importer names an unnamed node <op_type>_<index>.
  auto nameOf = [&](int ni) {
    const onnx::NodeProto &n = graph->node(ni);
    return n.name().empty() ? n.op_type() + "_" + std::to_string(ni) : n.name();
  };
  std::vector<std::string> names;
  for (int ni = 0; ni < graph->node_size(); ++ni)
    names.push_back(nameOf(ni));
  for (int ni = 0; ni < graph->node_size(); ++ni) {
    onnx::NodeProto *node = graph->mutable_node(ni);
    const std::string &op = node->op_type();
    if (node->name().empty())
      node->set_name(names[size_t(ni)]);
    if (op == "Reshape") {
      auto it = reshapes.find(node->name());
      if (it == reshapes.end() || node->input_size() < 2)
        continue;
      const onnx::TensorProto *shapeT = nullptr;
      if (auto ii = initIndex.find(node->input(1)); ii != initIndex.end())
        shapeT = &graph->initializer(ii->second);
      else if (auto ci = constants.find(node->input(1)); ci != constants.end())
        shapeT = ci->second;
      std::optional<std::vector<int64_t>> shape =
          shapeT ? int64Values(*shapeT) : std::nullopt;
      RankedTensorType ty = it->second;
      if (!shape || int64_t(shape->size()) != ty.getRank())
        continue; // a computed shape: the module's sizes are not its own
      bool changed = false;
      for (int64_t i = 0; i < ty.getRank(); ++i)
        if ((*shape)[size_t(i)] > 0 && !ty.isDynamicDim(i) &&
            (*shape)[size_t(i)] != ty.getDimSize(i)) {
          (*shape)[size_t(i)] = ty.getDimSize(i);
          changed = true;
        }
      if (!changed)
        continue;
      onnx::TensorProto t;
      t.set_name(node->name() + "_shape_shrunk");
      t.set_data_type(onnx::TensorProto::INT64);
      t.add_dims(int64_t(shape->size()));
      t.set_raw_data(std::string(reinterpret_cast<const char *>(shape->data()),
                                 shape->size() * 8));
      node->set_input(1, t.name());
      *graph->add_initializer() = std::move(t);
      continue;
    }
    // Per-channel initializers of an element-wise node the shrinking sliced.
    for (Sliced &c : slicedConstants) {
      if (c.node != node->name())
        continue;
      for (int i = 0; i < node->input_size() && !c.done; ++i) {
        auto ii = initIndex.find(node->input(i));
        if (ii == initIndex.end())
          continue;
        const onnx::TensorProto &t = graph->initializer(ii->second);
        std::optional<std::vector<float>> vals = initializerFloats(t);
        int64_t rank = t.dims_size();
        if (!vals || rank <= c.axisFromEnd ||
            t.dims(int(rank - 1 - c.axisFromEnd)) != c.size)
          continue;
        int64_t axis = rank - 1 - c.axisFromEnd, outer = 1, inner = 1;
        std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
        for (int64_t d = 0; d < axis; ++d)
          outer *= dims[size_t(d)];
        for (int64_t d = axis + 1; d < rank; ++d)
          inner *= dims[size_t(d)];
        std::vector<float> out;
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t k : c.kept)
            out.insert(out.end(), vals->begin() + (o * c.size + k) * inner,
                       vals->begin() + (o * c.size + k + 1) * inner);
        dims[size_t(axis)] = int64_t(c.kept.size());
        std::string name = t.name();
        if (uses.lookup(name) == 1) {
          *graph->mutable_initializer(ii->second) =
              floatTensor(name, dims, out);
        } else {
          name = node->name() + "_" + std::to_string(i) + "_shrunk";
          *graph->add_initializer() = floatTensor(name, dims, out);
          node->set_input(i, name);
        }
        c.done = true;
      }
    }
    auto it = layers.find(node->name());
    if (it == layers.end())
      continue;
    const LayerValues &v = it->second;
    if (op == "Conv" && v.conv) {
      if (!replace(node->name(), node->input(1), v.shape, v.weight))
        return failure();
      ++written;
      continue;
    }
    if ((op != "MatMul" && op != "Gemm") || v.conv || v.shape.size() != 2) {
      error = "layer '" + node->name() + "' is a " + op +
              " node; the export writes MatMul, Gemm and Conv weights";
      return failure();
    }
    int64_t n = v.shape[0], k = v.shape[1];
    bool transB = false;
    for (const auto &a : node->attribute())
      if (a.name() == "transB")
        transB = a.i() != 0;
    if (op == "Gemm" && transB) {
      if (!replace(node->name(), node->input(1), {n, k}, v.weight))
        return failure();
    } else {
      std::vector<float> t(v.weight.size());
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c)
          t[size_t(c * n + r)] = v.weight[size_t(r * k + c)];
      if (!replace(node->name(), node->input(1), {k, n}, t))
        return failure();
    }
    ++written;
    if (!v.bias)
      continue;
    // The bias: Gemm's C, or the Add of an initializer after the MatMul.
    if (op == "Gemm") {
      if (node->input_size() >= 3 && !node->input(2).empty()) {
        if (!replace(node->name(), node->input(2), {n}, *v.bias))
          return failure();
      } else {
        std::string name = node->name() + "_bias";
        *graph->add_initializer() = floatTensor(name, {n}, *v.bias);
        while (node->input_size() < 2)
          node->add_input("");
        if (node->input_size() == 2)
          node->add_input(name);
        else
          node->set_input(2, name);
      }
      continue;
    }
    onnx::NodeProto *add = nullptr;
    int biasInput = -1;
    for (int nj = 0; nj < graph->node_size() && !add; ++nj) {
      onnx::NodeProto *m = graph->mutable_node(nj);
      if (m->op_type() != "Add" || m->input_size() != 2)
        continue;
      for (int i = 0; i < 2; ++i)
        if (m->input(i) == node->output(0) &&
            initIndex.count(m->input(1 - i))) {
          add = m;
          biasInput = 1 - i;
        }
    }
    if (add) {
      if (!replace(node->name(), add->input(biasInput), {n}, *v.bias))
        return failure();
      continue;
    }
    // A bias the shrinking created (folded constants): a new Add.
    std::string out = node->output(0);
    std::string mm = node->name() + "_output_unbiased";
    for (onnx::NodeProto &m : *graph->mutable_node())
      for (int i = 0; i < m.input_size(); ++i)
        if (m.input(i) == out)
          m.set_input(i, mm);
    node->set_output(0, mm);
    std::string name = node->name() + "_bias";
    *graph->add_initializer() = floatTensor(name, {n}, *v.bias);
    onnx::NodeProto a;
    a.set_op_type("Add");
    a.set_name(node->name() + "_bias_add");
    a.add_input(mm);
    a.add_input(name);
    a.add_output(out);
    extra.push_back(std::move(a));
  }
  if (written != int64_t(layers.size())) {
    for (auto &[name, v] : layers) {
      bool found = llvm::is_contained(names, name);
      if (!found) {
        error = "layer '" + name + "' has no node of that name in the model";
        return failure();
      }
    }
  }
  for (const Sliced &c : slicedConstants)
    if (!c.done) {
      error = "node '" + c.node + "': no float initializer of size " +
              std::to_string(c.size) +
              " along the axis qopt-shrink-structured sliced a per-channel "
              "constant of";
      return failure();
    }
  // The new Add nodes go right after their MatMul (topological order).
  for (onnx::NodeProto &a : extra) {
    std::string mm = a.input(0);
    auto *nodes = graph->mutable_node();
    int at = 0;
    for (int i = 0; i < nodes->size(); ++i)
      if (nodes->Get(i).output_size() && nodes->Get(i).output(0) == mm)
        at = i + 1;
    *nodes->Add() = std::move(a);
    for (int i = nodes->size() - 1; i > at; --i)
      nodes->SwapElements(i, i - 1);
  }
  // Constant nodes of the old Reshape shapes that nothing reads any more.
  {
    llvm::StringSet<> read;
    for (const onnx::NodeProto &n : graph->node())
      for (const std::string &in : n.input())
        read.insert(in);
    for (const auto &o : graph->output())
      read.insert(o.name());
    auto *nodes = graph->mutable_node();
    for (int i = nodes->size() - 1; i >= 0; --i)
      if (nodes->Get(i).op_type() == "Constant" &&
          nodes->Get(i).output_size() == 1 &&
          !read.contains(nodes->Get(i).output(0)))
        nodes->DeleteSubrange(i, 1);
  }
  // Intermediate shapes changed: ONNX shape inference recomputes them.
  graph->clear_value_info();
  std::string bytesOut;
  if (!model.SerializeToString(&bytesOut)) {
    error = "cannot serialize the model (over protobuf's 2 GiB limit?)";
    return failure();
  }
  os << bytesOut;
  return written;
}
