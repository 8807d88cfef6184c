//===- QOptInterfaces.td - qopt op interfaces --------------*- tablegen -*-===//
//
// How passes see a layer: quantization, SmoothQuant, the report (and the
// adapter, pruning and ternary passes to come) find layers, their names and
// weights one way, whatever op holds them.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTINTERFACES_TD
#define QOPT_DIALECT_QOPT_IR_QOPTINTERFACES_TD

include "mlir/IR/OpBase.td"

def QOpt_QuantizableLayerOpInterface
    : OpInterface<"QuantizableLayerOpInterface"> {
  let cppNamespace = "::mlir::qopt";
  let description = [{
    A layer with one activation input and one weight: `qopt.linear`,
    `qopt.qlinear` and (by external model, see
    registerQuantizableLayerExternalModels) linalg's NCHW/FCHW
    convolution. Its name is what users select layers by (`--include`,
    `--exclude`) and what reports print: the source model's weight name
    where the op keeps one, else the ONNX node name of its location.
  }];
  let methods = [
    InterfaceMethod<"The activation operand.", "::mlir::OpOperand &",
                    "getLayerInputOperand">,
    InterfaceMethod<"The weight operand (float, or integer storage).",
                    "::mlir::OpOperand &", "getLayerWeightOperand">,
    InterfaceMethod<"The weight dimension that indexes output channels.",
                    "int64_t", "getOutputChannelAxis", (ins), [{}], [{
                      return 0;
                    }]>,
    InterfaceMethod<"The source model's weight name, or empty.",
                    "::llvm::StringRef", "getLayerWeightName", (ins), [{}],
                    [{ return {}; }]>,
    InterfaceMethod<"Whether the weight is already quantized.", "bool",
                    "isQuantizedLayer", (ins), [{}], [{ return false; }]>
  ];
  let extraSharedClassDeclaration = [{
    /// The layer's activation input.
    ::mlir::Value getLayerInput() { return $_op.getLayerInputOperand().get(); }
    /// The layer's weight.
    ::mlir::Value getLayerWeight() {
      return $_op.getLayerWeightOperand().get();
    }
    /// The sparsity pattern qopt-prune recorded (`qopt.sparsity`), or null.
    ::mlir::qopt::SparsityAttr getLayerSparsity() {
      return $_op->template getAttrOfType<::mlir::qopt::SparsityAttr>(
          ::mlir::qopt::SparsityAttr::getAttrName());
    }
    /// Records the layer's sparsity pattern (null removes it).
    void setLayerSparsity(::mlir::qopt::SparsityAttr sparsity) {
      if (sparsity)
        $_op->setAttr(::mlir::qopt::SparsityAttr::getAttrName(), sparsity);
      else
        $_op->removeAttr(::mlir::qopt::SparsityAttr::getAttrName());
    }
  }];
  let extraClassDeclaration = [{
    /// The name users select the layer by: its weight name, else the ONNX
    /// node name in its location, else "".
    std::string getLayerName();
  }];
}

#endif // QOPT_DIALECT_QOPT_IR_QOPTINTERFACES_TD
