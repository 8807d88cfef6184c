//===- AttachAdapters.cpp - PEFT LoRA adapters onto their layers ----------===//
//
// Reads PEFT adapter folders (adapter_config.json + adapter_model.safetensors),
// matches each adapted module to a layer by its module path and puts a
// qopt.lora op on the layer's output. Every adapter tensor must find its
// layer with the right shape: an adapter silently left out would be a
// silently wrong model.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Dialect/QOpt/Transforms/Passes.h"
#include "qopt/Support/Safetensors.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>

namespace mlir::qopt {
#define GEN_PASS_DEF_ATTACHADAPTERSPASS
#include "qopt/Dialect/QOpt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// What adapter_config.json says about scaling and targets.
struct PeftConfig {
  int64_t r = 0;
  double alpha = 0;
  bool rslora = false;
  std::map<std::string, int64_t> rankPattern;
  std::map<std::string, double> alphaPattern;
};

/// One adapted module: its A [r, in] and B [out, r] as f32, and their
/// stored dtypes and bytes (f16/bf16 matrices are kept as stored).
struct ModuleAdapter {
  std::vector<float> a, b;
  std::vector<int64_t> aShape, bShape;
  ::qopt::SafetensorsDType aType = ::qopt::SafetensorsDType::F32,
                           bType = ::qopt::SafetensorsDType::F32;
  std::string aBytes, bBytes;
};

/// PEFT's pattern rule: `key` names the module when the module path is
/// `key` or ends in `.key` (key may be a regular expression).
bool patternMatches(StringRef key, StringRef module) {
  llvm::Regex re(("^(.*\\.)?(" + key + ")$").str());
  return re.isValid() && re.match(module);
}

/// The split of `spec` = DIR[:SCALE].
std::pair<std::string, double> parseSpec(StringRef spec, bool &ok) {
  ok = true;
  size_t colon = spec.rfind(':');
  double scale = 1.0;
  if (colon != StringRef::npos &&
      !spec.drop_front(colon + 1).getAsDouble(scale))
    return {spec.take_front(colon).str(), scale};
  if (colon != StringRef::npos && spec.drop_front(colon + 1).empty())
    ok = false;
  return {spec.str(), 1.0};
}

struct AttachAdaptersPass
    : mlir::qopt::impl::AttachAdaptersPassBase<AttachAdaptersPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerQuantizableLayerExternalModels(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    selector = Value();
    nextIndex = 0;
    ambiguous.clear();
    // Layers by module path (the weight name without ".weight").
    std::map<std::string, QuantizableLayerOpInterface> layers;
    module.walk([&](QuantizableLayerOpInterface layer) {
      std::string name = layer.getLayerName();
      StringRef path = StringRef(name);
      path.consume_back(".weight");
      if (!path.empty() && !layers.emplace(path.str(), layer).second)
        ambiguous.insert(path.str());
    });
    if (switched && failed(addSelector(module, layers)))
      return signalPassFailure();
    SmallVector<Attribute> names;
    for (const std::string &spec : adapters) {
      bool ok;
      auto [dir, scale] = parseSpec(spec, ok);
      if (!ok || dir.empty() || !std::isfinite(scale)) {
        module.emitError("qopt-attach-adapters: '")
            << spec << "': expected DIR or DIR:SCALE";
        return signalPassFailure();
      }
      FailureOr<std::string> name = attach(module, dir, scale, layers);
      if (failed(name))
        return signalPassFailure();
      if (llvm::is_contained(names, StringAttr::get(&getContext(), *name))) {
        module.emitError("qopt-attach-adapters: two adapters are named '")
            << *name << "' (the folder's name)";
        return signalPassFailure();
      }
      names.push_back(StringAttr::get(&getContext(), *name));
      nextIndex++;
    }
    if (switched)
      QOptDialect::AdaptersAttrHelper(&getContext())
          .setAttr(module, ArrayAttr::get(&getContext(), names));
  }

  /// Switch mode: the function holding the layers gets the rank-0 i64
  /// input `qopt_adapter` that chooses the adapter per call.
  LogicalResult
  addSelector(ModuleOp module,
              std::map<std::string, QuantizableLayerOpInterface> &layers) {
    func::FuncOp func;
    for (auto &[name, layer] : layers) {
      auto f = layer->getParentOfType<func::FuncOp>();
      if (func && f != func)
        return module.emitError("qopt-attach-adapters: switch needs the "
                                "layers in one function, they are in @")
               << func.getName() << " and @" << f.getName();
      func = f;
    }
    if (!func || func.isExternal())
      return module.emitError("qopt-attach-adapters: switch: no function "
                              "with layers");
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (auto n = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
          n && n.getValue() == kSelectorName)
        return module.emitError("qopt-attach-adapters: switch: @")
               << func.getName() << " already has an input named '"
               << kSelectorName << "'";
    Builder b(&getContext());
    auto type = RankedTensorType::get({}, b.getI64Type());
    unsigned index = func.getNumArguments();
    if (failed(func.insertArgument(
            index, type,
            b.getDictionaryAttr(
                b.getNamedAttr("onnx.name", b.getStringAttr(kSelectorName))),
            func.getLoc())))
      return failure();
    selector = func.getArgument(index);
    return success();
  }

  /// Reads and checks adapter_config.json.
  FailureOr<PeftConfig> readConfig(ModuleOp module, const std::string &dir) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, "adapter_config.json");
    auto fail = [&](const Twine &msg) {
      module.emitError("qopt-attach-adapters: ") << path << ": " << msg;
      return failure();
    };
    auto buf = llvm::MemoryBuffer::getFile(path);
    if (!buf)
      return fail(buf.getError().message());
    llvm::Expected<llvm::json::Value> json =
        llvm::json::parse((*buf)->getBuffer());
    if (!json)
      return fail("not valid JSON: " + llvm::toString(json.takeError()));
    const llvm::json::Object *obj = json->getAsObject();
    if (!obj)
      return fail("expected a JSON object");
    PeftConfig c;
    if (auto type = obj->getString("peft_type"); type && *type != "LORA")
      return fail("peft_type '" + *type +
                  "' is not supported (only LORA adapters can be attached)");
    if (obj->getBoolean("use_dora").value_or(false))
      return fail("DoRA adapters (use_dora: true) are not supported: their "
                  "magnitude vector rescales the merged weight per column");
    if (auto bias = obj->getString("bias"); bias && *bias != "none")
      return fail("bias '" + *bias +
                  "' is not supported (the adapter would carry bias "
                  "tensors; only bias: none)");
    if (const llvm::json::Array *save = obj->getArray("modules_to_save");
        save && !save->empty())
      return fail("modules_to_save is not supported (those modules are "
                  "replaced whole, not adapted)");
    std::optional<int64_t> r = obj->getInteger("r");
    std::optional<double> alpha = obj->getNumber("lora_alpha");
    if (!r || *r < 1)
      return fail("'r' must be an integer >= 1");
    if (!alpha)
      return fail("'lora_alpha' must be a number");
    c.r = *r;
    c.alpha = *alpha;
    c.rslora = obj->getBoolean("use_rslora").value_or(false);
    if (const llvm::json::Object *p = obj->getObject("rank_pattern"))
      for (const auto &[k, v] : *p) {
        std::optional<int64_t> n = v.getAsInteger();
        if (!n || *n < 1)
          return fail("rank_pattern['" + k.str() +
                      "'] must be an integer >= 1");
        c.rankPattern[k.str()] = *n;
      }
    if (const llvm::json::Object *p = obj->getObject("alpha_pattern"))
      for (const auto &[k, v] : *p) {
        std::optional<double> n = v.getAsNumber();
        if (!n)
          return fail("alpha_pattern['" + k.str() + "'] must be a number");
        c.alphaPattern[k.str()] = *n;
      }
    return c;
  }

  /// Attaches one adapter; returns its name (the folder's).
  FailureOr<std::string>
  attach(ModuleOp module, const std::string &dir, double weight,
         std::map<std::string, QuantizableLayerOpInterface> &layers) {
    FailureOr<PeftConfig> config = readConfig(module, dir);
    if (failed(config))
      return failure();
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, "adapter_model.safetensors");
    std::string error;
    std::unique_ptr<::qopt::SafetensorsFile> file =
        ::qopt::SafetensorsFile::open(path.str().str(), error);
    if (!file) {
      module.emitError("qopt-attach-adapters: ") << error;
      return failure();
    }
    std::string name =
        llvm::sys::path::filename(
            llvm::sys::path::remove_leading_dotslash(StringRef(dir).rtrim('/')))
            .str();
    // Group the tensors by module: base_model.model.<path>.lora_{A,B}.weight.
    std::map<std::string, ModuleAdapter> modules;
    for (const ::qopt::SafetensorsTensor &t : file->tensors()) {
      StringRef key = t.name;
      auto bad = [&](const Twine &why) {
        module.emitError("qopt-attach-adapters: ")
            << path << ": tensor '" << t.name << "' " << why;
        return failure();
      };
      key.consume_front("base_model.model.");
      bool isA = key.consume_back(".lora_A.weight");
      bool isB = !isA && key.consume_back(".lora_B.weight");
      if (!isA && !isB)
        return bad("is not a LoRA matrix (expected <module>.lora_A.weight "
                   "or <module>.lora_B.weight; embeddings, DoRA magnitudes "
                   "and biases are not supported)");
      if (t.shape.size() != 2)
        return bad("must be 2-D");
      ModuleAdapter &m = modules[key.str()];
      std::vector<float> &values = isA ? m.a : m.b;
      if (!file->toFloat(t, values, error))
        return bad(error);
      (isA ? m.aShape : m.bShape) = t.shape;
      (isA ? m.aType : m.bType) = t.dtype;
      (isA ? m.aBytes : m.bBytes) = std::string(file->rawData(t));
    }
    if (modules.empty()) {
      module.emitError("qopt-attach-adapters: ") << path << " holds no tensor";
      return failure();
    }
    MLIRContext *ctx = module.getContext();
    for (auto &[modulePath, m] : modules) {
      auto fail = [&](const Twine &why) {
        module.emitError("qopt-attach-adapters: adapter '")
            << name << "', module '" << modulePath << "': " << why;
        return failure();
      };
      if (m.a.empty() || m.b.empty())
        return fail(m.a.empty() ? "lora_A.weight is missing"
                                : "lora_B.weight is missing");
      auto it = layers.find(modulePath);
      // The model may have been exported through a wrapper module (its
      // paths then carry a prefix, `m.model.layers.0...`): a unique layer
      // whose path ends in `.<module>` is the one, as PEFT's own suffix
      // rule for target_modules would have it.
      if (it == layers.end()) {
        std::string suffix = "." + modulePath;
        SmallVector<std::string> candidates;
        for (const auto &[k, v] : layers)
          if (StringRef(k).ends_with(suffix))
            candidates.push_back(k);
        if (candidates.size() > 1)
          return fail("matches no layer exactly, and " +
                      std::to_string(candidates.size()) +
                      " layers by suffix ('" + candidates[0] + "', '" +
                      candidates[1] + "'...); it cannot be attached to one");
        if (candidates.size() == 1)
          it = layers.find(candidates[0]);
      }
      if (it == layers.end()) {
        std::string known;
        int n = 0;
        for (const auto &[k, v] : layers)
          if (n++ < 12)
            known += "\n  " + k;
        if (layers.size() > 12)
          known += "\n  ... (" + std::to_string(layers.size()) + " layers)";
        return fail("matches no layer of the model; its layers are:" + known);
      }
      if (ambiguous.count(it->first))
        return fail("matches several layers of that name (a module called "
                    "more than once); it cannot be attached to one");
      auto linear = dyn_cast<LinearOp>(it->second.getOperation());
      if (!linear)
        return fail("its layer is a '" +
                    it->second->getName().getStringRef().str() +
                    "'; adapters attach to linear layers");
      auto wTy = linear.getWeight().getType();
      int64_t out = wTy.getDimSize(0), in = wTy.getDimSize(1);
      int64_t r = m.aShape[0];
      if (m.aShape[1] != in || m.bShape[0] != out || m.bShape[1] != r)
        return fail("A is " + std::to_string(m.aShape[0]) + "x" +
                    std::to_string(m.aShape[1]) + " and B " +
                    std::to_string(m.bShape[0]) + "x" +
                    std::to_string(m.bShape[1]) + ", the layer's weight is " +
                    std::to_string(out) + "x" + std::to_string(in) +
                    " (expected A r x in, B out x r)");
      if (!linear.getInput().getType().getElementType().isF32())
        return fail("the layer computes in " +
                    std::string("a non-f32 type; only f32 layers are adapted"));
      // PEFT's scaling: lora_alpha / r (rsLoRA: / sqrt(r)), per-module rank
      // and alpha from the patterns (the first matching key).
      int64_t rank = config->r;
      double alpha = config->alpha;
      for (const auto &[k, v] : config->rankPattern)
        if (patternMatches(k, modulePath)) {
          rank = v;
          break;
        }
      for (const auto &[k, v] : config->alphaPattern)
        if (patternMatches(k, modulePath)) {
          alpha = v;
          break;
        }
      if (rank != r)
        return fail("its matrices have rank " + std::to_string(r) +
                    " but the config says " + std::to_string(rank));
      double scale = weight * (config->rslora ? alpha / std::sqrt(double(rank))
                                              : alpha / double(rank));
      // The matrices go before the layer, the adapter after the last one
      // stacked on it.
      OpBuilder b(linear);
      Location loc = linear.getLoc();
      // Both matrices f16 (or both bf16) stay so: half the memory, widened
      // exactly where they are used. Anything else is stored f32.
      using ::qopt::SafetensorsDType;
      Type storage = b.getF32Type();
      if (m.aType == m.bType && m.aType == SafetensorsDType::F16)
        storage = b.getF16Type();
      else if (m.aType == m.bType && m.aType == SafetensorsDType::BF16)
        storage = b.getBF16Type();
      std::string prefix = name + "." + modulePath + ".";
      auto blob = [&](ArrayRef<int64_t> shape, ArrayRef<float> v,
                      const std::string &raw, StringRef which) {
        auto type = RankedTensorType::get(shape, storage);
        std::string key = prefix + which.str();
        if (!storage.isF32()) {
          std::vector<uint16_t> halves(raw.size() / 2);
          std::memcpy(halves.data(), raw.data(), halves.size() * 2);
          return arith::ConstantOp::create(
              b, loc,
              DenseResourceElementsAttr::get(
                  type, key,
                  HeapAsmResourceBlob::allocateAndCopyInferAlign(
                      ArrayRef<uint16_t>(halves))));
        }
        return arith::ConstantOp::create(
            b, loc,
            DenseResourceElementsAttr::get(
                type, key, HeapAsmResourceBlob::allocateAndCopyInferAlign(v)));
      };
      Value a = blob(m.aShape, m.a, m.aBytes, "lora_A");
      Value bm = blob(m.bShape, m.b, m.bBytes, "lora_B");
      // Stack on top of adapters already there.
      Value base = linear.getResult();
      while (base.hasOneUse())
        if (auto next = dyn_cast<LoRAOp>(*base.getUsers().begin());
            next && next.getBase() == base)
          base = next.getResult();
        else
          break;
      b.setInsertionPointAfterValue(base);
      auto lora = LoRAOp::create(
          b, loc, base.getType(), base, linear.getInput(), a, bm, selector,
          b.getF64FloatAttr(scale), b.getStringAttr(name),
          switched ? b.getI64IntegerAttr(nextIndex) : IntegerAttr());
      base.replaceAllUsesExcept(lora.getResult(), lora);
    }
    return name;
  }

  /// The switch input's name in the artifact's signature.
  static constexpr StringLiteral kSelectorName = "qopt_adapter";
  /// The switch input, in switch mode.
  Value selector;
  /// The index the next adapter gets.
  int64_t nextIndex = 0;
  /// Module paths more than one layer answers to.
  std::set<std::string> ambiguous;
};

} // namespace
