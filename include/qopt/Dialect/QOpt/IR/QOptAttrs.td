//===- QOptAttrs.td - qopt attributes and enums ------------*- tablegen -*-===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTATTRS_TD
#define QOPT_DIALECT_QOPT_IR_QOPTATTRS_TD

include "qopt/Dialect/QOpt/IR/QOptDialect.td"
include "mlir/IR/EnumAttr.td"

def QOpt_ObserverKind : I32EnumAttr<"ObserverKind",
    "statistics an observer collects", [
      I32EnumAttrCase<"MinMax", 0, "minmax">,
      I32EnumAttrCase<"Histogram", 1, "histogram">,
      I32EnumAttrCase<"ChannelAbsMax", 2, "channel_absmax">
    ]> {
  let cppNamespace = "::mlir::qopt";
  let genSpecializedAttr = 0;
}

def QOpt_ObserverKindAttr : EnumAttr<QOpt_Dialect, QOpt_ObserverKind,
                                     "observer"> {
  let summary = "observer kind: `minmax` (running min/max), `histogram` "
                "(min/max plus a fixed-size streamed histogram) or "
                "`channel_absmax` (max |x| per index of the last dimension, "
                "for SmoothQuant)";
  let assemblyFormat = "`<` $value `>`";
}

#endif // QOPT_DIALECT_QOPT_IR_QOPTATTRS_TD
