//===- ExportSignature.cpp - the artifact's signature as a constant -------===//
//
// The runtime learns what an artifact takes and returns from the text this
// pass writes into the module, so artifacts need no side files.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_EXPORTSIGNATUREPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// Writes `name` with every byte outside [A-Za-z0-9._:/-] as %XX.
void writeEscaped(llvm::raw_ostream &os, StringRef name) {
  for (unsigned char c : name) {
    if (llvm::isAlnum(c) || StringRef("._:/-").contains(c))
      os << c;
    else
      os << '%' << llvm::hexdigit(c >> 4) << llvm::hexdigit(c & 15);
  }
}

/// The runtime's (numpy) name of an element type; `onnxDType` (the
/// importer's `onnx.dtype`) decides signedness when present.
FailureOr<std::string> dtypeName(Type elem, StringRef onnxDType) {
  if (!onnxDType.empty()) {
    if (onnxDType == "float")
      return std::string("float32");
    if (onnxDType == "double")
      return std::string("float64");
    static const char *same[] = {"float16", "bfloat16", "int8",  "uint8",
                                 "int16",   "uint16",   "int32", "uint32",
                                 "int64",   "uint64",   "bool",  "int4",
                                 "uint4",   "int2",     "uint2"};
    for (const char *n : same)
      if (onnxDType == n)
        return std::string(n);
    static const std::pair<const char *, const char *> renamed[] = {
        {"float8e4m3fn", "float8_e4m3fn"},
        {"float8e4m3fnuz", "float8_e4m3fnuz"},
        {"float8e5m2", "float8_e5m2"},
        {"float8e5m2fnuz", "float8_e5m2fnuz"},
        {"float4e2m1", "float4_e2m1fn"}};
    for (auto [onnx, ours] : renamed)
      if (onnxDType == onnx)
        return std::string(ours);
    return failure();
  }
  if (elem.isF32())
    return std::string("float32");
  if (elem.isF64())
    return std::string("float64");
  if (elem.isF16())
    return std::string("float16");
  if (elem.isBF16())
    return std::string("bfloat16");
  if (isa<Float8E4M3FNType>(elem))
    return std::string("float8_e4m3fn");
  if (isa<Float8E4M3FNUZType>(elem))
    return std::string("float8_e4m3fnuz");
  if (isa<Float8E5M2Type>(elem))
    return std::string("float8_e5m2");
  if (isa<Float8E5M2FNUZType>(elem))
    return std::string("float8_e5m2fnuz");
  if (isa<Float4E2M1FNType>(elem))
    return std::string("float4_e2m1fn");
  if (elem.isInteger(1))
    return std::string("bool");
  if (auto it = dyn_cast<IntegerType>(elem)) {
    unsigned w = it.getWidth();
    if (w == 2 || w == 4 || w == 8 || w == 16 || w == 32 || w == 64)
      return (it.isUnsigned() ? "uint" : "int") + std::to_string(w);
  }
  return failure();
}

struct ExportSignaturePass
    : qopt::impl::ExportSignaturePassBase<ExportSignaturePass> {
  using Base::Base;

  /// Writes one `input`/`output` line; fails with a diagnostic on a type
  /// artifacts cannot pass.
  LogicalResult writeItem(llvm::raw_ostream &os, func::FuncOp func,
                          StringRef kind, unsigned index, Type type,
                          DictionaryAttr attrs) {
    auto ranked = dyn_cast<RankedTensorType>(type);
    StringRef onnxDType;
    StringAttr nameAttr;
    ArrayAttr dimParams;
    if (attrs) {
      if (auto d = attrs.getAs<StringAttr>("onnx.dtype"))
        onnxDType = d.getValue();
      nameAttr = attrs.getAs<StringAttr>("onnx.name");
      dimParams = attrs.getAs<ArrayAttr>("onnx.dim_params");
    }
    FailureOr<std::string> dtype =
        ranked ? dtypeName(ranked.getElementType(), onnxDType)
               : FailureOr<std::string>(failure());
    if (failed(dtype) && ranked && !onnxDType.empty())
      return func.emitError("qopt-export-signature: ")
             << kind << " #" << index << " of @" << func.getSymName()
             << " has ONNX dtype '" << onnxDType
             << "', which artifacts cannot pass";
    if (failed(dtype))
      return func.emitError("qopt-export-signature: ")
             << kind << " #" << index << " of @" << func.getSymName()
             << " has type " << type
             << "; artifacts take and return ranked tensors of float, "
                "integer or bool elements";
    os << kind << ' ';
    if (nameAttr && !nameAttr.getValue().empty())
      writeEscaped(os, nameAttr.getValue());
    else
      os << kind << index;
    os << ' ' << *dtype << ' ' << ranked.getRank();
    for (auto [i, d] : llvm::enumerate(ranked.getShape())) {
      if (!ShapedType::isDynamic(d)) {
        os << ' ' << d;
        continue;
      }
      os << " ?";
      if (dimParams && i < dimParams.size())
        if (auto p = dyn_cast<StringAttr>(dimParams[i]))
          writeEscaped(os, p.getValue());
    }
    os << '\n';
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto func = module.lookupSymbol<func::FuncOp>(entry);
    if (!func || func.isExternal()) {
      module.emitError("qopt-export-signature: no function @")
          << entry << " with a body to export";
      return signalPassFailure();
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    os << "qopt-artifact 1\ntarget " << stringifyArtifactTarget(target)
       << "\nentry " << entry << "\nthreads " << threads << '\n';
    FunctionType type = func.getFunctionType();
    for (auto [i, t] : llvm::enumerate(type.getInputs()))
      if (failed(writeItem(os, func, "input", i, t, func.getArgAttrDict(i))))
        return signalPassFailure();
    for (auto [i, t] : llvm::enumerate(type.getResults()))
      if (failed(
              writeItem(os, func, "output", i, t, func.getResultAttrDict(i))))
        return signalPassFailure();
    // Switched LoRA adapters, in index order (qopt-attach-adapters{switch}):
    // callers choose one by name.
    if (ArrayAttr adapters =
            qopt::QOptDialect::AdaptersAttrHelper(&getContext())
                .getAttr(module))
      for (Attribute a : adapters)
        if (auto name = dyn_cast<StringAttr>(a)) {
          os << "adapter ";
          writeEscaped(os, name.getValue());
          os << '\n';
        }
    text.push_back('\0');

    if (Operation *old = module.lookupSymbol("qopt_artifact_signature"))
      old->erase();
    OpBuilder b(module.getBodyRegion());
    auto arrayTy = LLVM::LLVMArrayType::get(b.getIntegerType(8), text.size());
    LLVM::GlobalOp::create(b, func.getLoc(), arrayTy, /*isConstant=*/true,
                           LLVM::Linkage::External, "qopt_artifact_signature",
                           b.getStringAttr(text));
    func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                  b.getUnitAttr());
    // Inputs are the caller's (const qopt_tensor *, numpy arrays passed
    // without a copy): bufferization must never update them in place.
    for (auto [i, t] : llvm::enumerate(type.getInputs()))
      if (isa<TensorType>(t))
        func.setArgAttr(i,
                        bufferization::BufferizationDialect::kWritableAttrName,
                        b.getBoolAttr(false));
  }
};

} // namespace
