//===- QOptDialect.td - the qopt dialect -------------------*- tablegen -*-===//
//
// The graph-level dialect of quant-opt: what upstream MLIR lacks for model
// quantization (named linear layers, calibration points, ONNX-exact
// quantize/dequantize, fake quantization). Quantized element types are
// upstream's `!quant.uniform`.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTDIALECT_TD
#define QOPT_DIALECT_QOPT_IR_QOPTDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def QOpt_Dialect : Dialect {
  let name = "qopt";
  let cppNamespace = "::mlir::qopt";
  let summary = "Graph-level operations for model quantization";
  let description = [{
    The `qopt` dialect holds the graph-level operations quant-opt needs on
    top of upstream MLIR to quantize, calibrate and compress models imported
    from ONNX. Float math stays in `linalg`/`arith`/`math` on tensors;
    quantized element types are upstream's `!quant.uniform` (per-tensor and
    per-axis). See docs/Dialect/QOpt.md for each operation's reference
    semantics and docs/RationaleQOpt.md for the design choices.
  }];
  let dependentDialects = ["::mlir::quant::QuantDialect"];
  let useDefaultAttributePrinterParser = 1;
  // `qopt.layer = N` numbers a quantizable layer so that the report can pair
  // it with its quantized form (tagLayers); quantization carries it over.
  // `qopt.adapters = ["sql", ...]` on a module: the switched adapters in
  // index order (qopt-attach-adapters{switch}); the artifact's signature
  // lists them so that a caller can choose one by name.
  // `qopt.sparsity = #qopt.sparsity<...>` on a pruned layer (qopt-prune):
  // checked by verifyOperationAttribute.
  let hasOperationAttrVerify = 1;
  let discardableAttrs = (ins "::mlir::IntegerAttr":$layer,
                              "::mlir::ArrayAttr":$adapters);
}

class QOpt_Op<string mnemonic, list<Trait> traits = []>
    : Op<QOpt_Dialect, mnemonic, traits>;

#endif // QOPT_DIALECT_QOPT_IR_QOPTDIALECT_TD
