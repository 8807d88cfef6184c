//===- QOptAttrs.td - qopt attributes and enums ------------*- tablegen -*-===//
//
// The typed contract between the quantization passes: the enums their ops
// and options use, and the calibration data an observer carries from the
// calibration run (#qopt.histogram) through qopt-calibrate
// (#qopt.calibration, holding the !quant.uniform type) to qopt-quantize.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTATTRS_TD
#define QOPT_DIALECT_QOPT_IR_QOPTATTRS_TD

include "qopt/Dialect/QOpt/IR/QOptDialect.td"
include "mlir/IR/EnumAttr.td"

class QOpt_Enum<string name, string summary, list<I32EnumAttrCase> cases>
    : I32EnumAttr<name, summary, cases> {
  let cppNamespace = "::mlir::qopt";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Enums of ops and attributes
//===----------------------------------------------------------------------===//

def QOpt_ObserverKind : QOpt_Enum<"ObserverKind",
    "statistics an observer collects", [
      I32EnumAttrCase<"MinMax", 0, "minmax">,
      I32EnumAttrCase<"Histogram", 1, "histogram">,
      I32EnumAttrCase<"ChannelAbsMax", 2, "channel_absmax">,
      I32EnumAttrCase<"ChannelSumSq", 3, "channel_sumsq">,
      I32EnumAttrCase<"SecondMoment", 4, "second_moment">
    ]>;

def QOpt_ObserverKindAttr : EnumAttr<QOpt_Dialect, QOpt_ObserverKind,
                                     "observer"> {
  let summary = "observer kind: `minmax` (running min/max), `histogram` "
                "(min/max plus a fixed-size streamed histogram) or "
                "`channel_absmax` (max |x| per index of the last dimension, "
                "for SmoothQuant) or `channel_sumsq` (sum of x² per index of "
                "`channel_axis`, for Wanda pruning) or `second_moment` (the "
                "mean and second moment E[x xᵀ] of the rows a layer "
                "multiplies its weight with, for GPTQ and bias correction)";
  let assemblyFormat = "`<` $value `>`";
}

def QOpt_CalibrationMethod : QOpt_Enum<"CalibrationMethod",
    "how a clipping range is chosen from an observer's statistics", [
      I32EnumAttrCase<"MinMax", 0, "minmax">,
      I32EnumAttrCase<"Percentile", 1, "percentile">,
      I32EnumAttrCase<"Entropy", 2, "entropy">,
      I32EnumAttrCase<"MSE", 3, "mse">
    ]>;

def QOpt_WeightFormat : QOpt_Enum<"WeightFormat",
    "storage of qopt.qlinear's integer weight", [
      I32EnumAttrCase<"Int8", 0, "int8">,
      I32EnumAttrCase<"Int4", 1, "int4">,
      I32EnumAttrCase<"UInt4", 2, "uint4">,
      I32EnumAttrCase<"NF4", 3, "nf4">
    ]>;

def QOpt_WeightFormatAttr : EnumAttr<QOpt_Dialect, QOpt_WeightFormat,
                                     "weight_format"> {
  let summary = "integer weight storage: `int8` [N, K], or `int4` / `uint4` "
                "/ `nf4` (NormalFloat codes) packed two per byte [N, K/2]";
  let assemblyFormat = "`<` $value `>`";
}

def QOpt_ActivationMode : QOpt_Enum<"ActivationMode",
    "how qopt.qlinear treats its float input", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"Static", 1, "static">,
      I32EnumAttrCase<"Dynamic", 2, "dynamic">,
      I32EnumAttrCase<"DynamicBlock", 3, "dynamic_block">
    ]>;

def QOpt_ActivationModeAttr : EnumAttr<QOpt_Dialect, QOpt_ActivationMode,
                                       "activation"> {
  let summary = "input handling: `none` (weight-only, float input), `static` "
                "(calibrated per-tensor scale), `dynamic` (per-token scales "
                "at run time) or `dynamic_block` (4-bit weights: int8 "
                "scales per token and weight block at run time)";
  let assemblyFormat = "`<` $value `>`";
}

def QOpt_ActivationStorage : QOpt_Enum<"ActivationStorage",
    "8-bit storage of quantized activations", [
      I32EnumAttrCase<"Int8", 0, "int8">,
      I32EnumAttrCase<"UInt8", 1, "uint8">,
      I32EnumAttrCase<"Auto", 2, "auto">
    ]>;

def QOpt_ActivationStorageAttr : EnumAttr<QOpt_Dialect, QOpt_ActivationStorage,
                                          "storage"> {
  let summary = "activation storage: `int8` or `uint8`";
  let assemblyFormat = "`<` $value `>`";
}

def QOpt_BitLinearActivation : QOpt_Enum<"BitLinearActivation",
    "how qopt.bitlinear treats its float input", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"PerTokenInt8", 1, "per_token_int8">
    ]>;

def QOpt_BitLinearActivationAttr : EnumAttr<QOpt_Dialect,
    QOpt_BitLinearActivation, "bitlinear_activation"> {
  let summary = "BitLinear input handling: `none` (float input times the "
                "ternary weight, as a float model with ternary weights "
                "computes) or `per_token_int8` (BitNet b1.58: each token "
                "quantized to int8 by its absmax)";
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// Enums of pass options (llvm::cl::values in Passes.td)
//===----------------------------------------------------------------------===//

def QOpt_QuantScheme : QOpt_Enum<"QuantScheme",
    "post-training quantization scheme", [
      I32EnumAttrCase<"W8A8", 0, "w8a8">,
      I32EnumAttrCase<"W8A8Dynamic", 1, "w8a8-dynamic">,
      I32EnumAttrCase<"W8", 2, "w8">,
      I32EnumAttrCase<"W4", 3, "w4">,
      I32EnumAttrCase<"NF4", 4, "nf4">,
      I32EnumAttrCase<"Ternary", 5, "ternary">
    ]>;

def QOpt_QuantizedLinearForm : QOpt_Enum<"QuantizedLinearForm",
    "what a W8A8 linear layer becomes", [
      I32EnumAttrCase<"QLinear", 0, "qlinear">,
      I32EnumAttrCase<"QDQ", 1, "qdq">
    ]>;

def QOpt_WeightRounding : QOpt_Enum<"WeightRounding",
    "how qopt-quantize rounds weights to their codes", [
      I32EnumAttrCase<"Nearest", 0, "nearest">,
      I32EnumAttrCase<"GPTQ", 1, "gptq">,
      I32EnumAttrCase<"Auto", 2, "auto">
    ]>;

def QOpt_ObservedOp : QOpt_Enum<"ObservedOp",
    "ops whose activations qopt-insert-observers observes", [
      I32EnumAttrCase<"Linear", 0, "linear">,
      I32EnumAttrCase<"Matmul", 1, "matmul">,
      I32EnumAttrCase<"Conv", 2, "conv">
    ]>;

def QOpt_CubinMode : QOpt_Enum<"CubinMode",
    "whether a cubin is embedded next to the PTX", [
      I32EnumAttrCase<"Auto", 0, "auto">,
      I32EnumAttrCase<"Always", 1, "always">,
      I32EnumAttrCase<"Never", 2, "never">
    ]>;

def QOpt_TernaryMode : QOpt_Enum<"TernaryMode",
    "how qopt-ternarize turns linear layers into BitLinear", [
      I32EnumAttrCase<"Absmean", 0, "absmean">,
      I32EnumAttrCase<"Lossless", 1, "lossless">
    ]>;

def QOpt_ArtifactTarget : QOpt_Enum<"ArtifactTarget",
    "where an artifact's code runs (recorded in its signature)", [
      I32EnumAttrCase<"CPU", 0, "cpu">,
      I32EnumAttrCase<"CUDA", 1, "cuda">
    ]>;

//===----------------------------------------------------------------------===//
// Pruning (qopt-prune, #qopt.sparsity)
//===----------------------------------------------------------------------===//

def QOpt_PruneMethod : QOpt_Enum<"PruneMethod",
    "the score qopt-prune removes the smallest weights by", [
      I32EnumAttrCase<"Magnitude", 0, "magnitude">,
      I32EnumAttrCase<"Wanda", 1, "wanda">
    ]>;

def QOpt_SparsityGranularity : QOpt_Enum<"SparsityGranularity",
    "what qopt-prune removes", [
      I32EnumAttrCase<"Unstructured", 0, "unstructured">,
      I32EnumAttrCase<"NM", 1, "n_m">,
      I32EnumAttrCase<"Channels", 2, "channels">,
      I32EnumAttrCase<"Heads", 3, "heads">,
      I32EnumAttrCase<"Neurons", 4, "neurons">
    ]>;

def QOpt_PruneScope : QOpt_Enum<"PruneScope",
    "which weights an unstructured target is reached over", [
      I32EnumAttrCase<"Layer", 0, "layer">,
      I32EnumAttrCase<"Row", 1, "row">,
      I32EnumAttrCase<"Global", 2, "global">
    ]>;

//===----------------------------------------------------------------------===//
// Calibration data
//===----------------------------------------------------------------------===//

/// An IEEE double (APFloat: hashable, compared bitwise), printed so that it
/// parses back bit-exactly.
def QOpt_F64Parameter : APFloatParameter<"a 64-bit float"> {
  let parser = "::mlir::qopt::detail::parseF64($_parser)";
  let printer = "::mlir::qopt::detail::printF64($_printer, $_self)";
}

class QOpt_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<QOpt_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def QOpt_HistogramAttr : QOpt_Attr<"Histogram", "histogram"> {
  let summary = "an observer's calibration statistics";
  let description = [{
    What a calibration run saw at one observer: `count` values, exact
    `min` and `max`, and the streamed histogram of |x| (`counts`, one per
    bin, over [0, `range`]); see qopt::Histogram. Written by the
    calibration run (qopt-collect-statistics), read by qopt-calibrate.

    ```mlir
    #qopt.histogram<count = 4096, min = -1.5, max = 2.25, range = 2.25,
                    counts = array<f64: 10.0, 7.0, ...>>
    ```
  }];
  let parameters = (ins "int64_t":$count, QOpt_F64Parameter:$min,
                        QOpt_F64Parameter:$max, QOpt_F64Parameter:$range,
                        "::mlir::DenseF64ArrayAttr":$counts);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "int64_t":$count, "double":$min, "double":$max,
                     "double":$range, "::llvm::ArrayRef<double>":$counts), [{
      return $_get($_ctxt, count, ::llvm::APFloat(min), ::llvm::APFloat(max),
                   ::llvm::APFloat(range),
                   ::mlir::DenseF64ArrayAttr::get($_ctxt, counts));
    }]>
  ];
}

def QOpt_SecondMomentAttr : QOpt_Attr<"SecondMoment", "second_moment"> {
  let summary = "the first and second moments of a layer's input rows";
  let description = [{
    What a `second_moment` observer saw over a calibration run: `rows`
    input rows x of length K (a linear layer's input vectors; a
    convolution's im2col patches, C·kh·kw in (c, i, j) order, of the
    padded input with the observer's `window`), their `mean` E[x] (K
    values) and `matrix` E[x xᵀ] = XᵀX / rows ([K, K] f64, a
    `dense_resource` blob at model scale). Written by the calibration run
    (qopt-collect-statistics), read by qopt-quantize for GPTQ
    (H = 2 XᵀX up to a factor GPTQ is invariant to) and bias correction
    ((W − Wq)·E[x]). With two or more calibration samples the run also
    keeps `split_matrix`, E[x xᵀ] of the `split_rows` rows of the first
    half of the samples: qopt-quantize's weight-rounding=auto fits GPTQ on
    them and compares it with round-to-nearest on the other half.

    ```mlir
    #qopt.second_moment<rows = 64, mean = [0.5, -1.0],
                        matrix = dense<[[1.0, 0.5], [0.5, 2.0]]> : tensor<2x2xf64>>
    ```
  }];
  let parameters = (ins "int64_t":$rows, "::mlir::DenseF64ArrayAttr":$mean,
                        "::mlir::ElementsAttr":$matrix,
                        DefaultValuedParameter<"int64_t", "0">:$split_rows,
                        OptionalParameter<"::mlir::ElementsAttr">:$split_matrix);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// K, the length of a row.
    int64_t getSize() const { return int64_t(getMean().size()); }
    /// E[x xᵀ] row-major, or nothing when the matrix's values cannot be
    /// read (a dense_resource whose blob is missing).
    std::optional<std::vector<double>> getMatrixValues() const;
    /// split_matrix's values, or nothing (none, or unreadable).
    std::optional<std::vector<double>> getSplitMatrixValues() const;
  }];
}

def QOpt_RoundingErrorAttr : QOpt_Attr<"RoundingError", "rounding_error"> {
  let summary = "the output error of a layer's weight rounding";
  let description = [{
    Set by qopt-quantize as the discardable attribute `qopt.rounding_error`
    on a layer whose input moments it had (a second_moment observer): the
    output SQNR, in dB, of the layer's quantized weight against its float
    weight on the calibration inputs, E||W x||² / E||(W − Wq) x||², for
    round-to-nearest (`nearest_sqnr_db`) and for the rounding `method`
    used (`sqnr_db`); with `bias_corrected`, `sqnr_db` is the error left
    after the bias correction, E||(W − Wq)(x − E[x])||². Activation
    quantization is not included. The report lists it per layer.

    ```mlir
    qopt.rounding_error = #qopt.rounding_error<method = gptq,
        nearest_sqnr_db = 41.2, sqnr_db = 45.9, bias_corrected = false>
    ```
  }];
  let parameters = (ins "::mlir::qopt::WeightRounding":$method,
                        QOpt_F64Parameter:$nearest_sqnr_db,
                        QOpt_F64Parameter:$sqnr_db, "bool":$bias_corrected);
  let assemblyFormat = "`<` struct(params) `>`";
  let builders = [
    AttrBuilder<(ins "::mlir::qopt::WeightRounding":$method, "double":$nearest,
                     "double":$sqnr, "bool":$corrected), [{
      return $_get($_ctxt, method, ::llvm::APFloat(nearest),
                   ::llvm::APFloat(sqnr), corrected);
    }]>
  ];
  let extraClassDeclaration = [{
    static ::llvm::StringRef getAttrName() { return "qopt.rounding_error"; }
  }];
}

def QOpt_CalibrationAttr : QOpt_Attr<"Calibration", "calibration"> {
  let summary = "an observer's calibrated quantization";
  let description = [{
    The clipping range [`min`, `max`] `method` chose from the observer's
    statistics, and the per-tensor `!quant.uniform` type (8-bit storage,
    scale, zero point) activations at this point are quantized to. Written
    by qopt-calibrate, read by qopt-quantize and the report.

    ```mlir
    #qopt.calibration<method = entropy, min = -1.2, max = 1.2,
                      type = !quant.uniform<i8:f32, 0.0094488188976377951>>
    ```
  }];
  let parameters = (ins "::mlir::qopt::CalibrationMethod":$method,
                        QOpt_F64Parameter:$min, QOpt_F64Parameter:$max,
                        "::mlir::quant::UniformQuantizedType":$type);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::mlir::qopt::CalibrationMethod":$method, "double":$min,
                     "double":$max, "::mlir::quant::UniformQuantizedType":$type), [{
      return $_get($_ctxt, method, ::llvm::APFloat(min), ::llvm::APFloat(max),
                   type);
    }]>
  ];
  let extraClassDeclaration = [{
    double getMinValue() const { return getMin().convertToDouble(); }
    double getMaxValue() const { return getMax().convertToDouble(); }
    /// The storage of the calibrated type.
    ::mlir::qopt::ActivationStorage getStorage() const {
      return getType().isSigned() ? ::mlir::qopt::ActivationStorage::Int8
                                  : ::mlir::qopt::ActivationStorage::UInt8;
    }
  }];
}

def QOpt_SparsityAttr : QOpt_Attr<"Sparsity", "sparsity"> {
  let summary = "the sparsity pattern qopt-prune gave a layer's weight";
  let description = [{
    Recorded on a pruned layer (any QuantizableLayerOpInterface op) as the
    discardable attribute `qopt.sparsity`: the score `method`, the
    `granularity` (`unstructured`; `n_m`: at most `n` nonzero weights in
    every `m` consecutive ones along the reduction dimension; `channels`:
    whole output channels zeroed), the fraction of weights the pattern asks
    to remove (`target`; `(m - n) / m` for `n_m`) and the fraction of the
    weight that is zero afterwards (`achieved`, zeros the weight already
    had included). `n` and `m` are present for `n_m` only.

    ```mlir
    %y = qopt.linear %x, %w {qopt.sparsity = #qopt.sparsity<method = wanda,
           granularity = n_m, n = 2, m = 4, target = 0.5, achieved = 0.5>}
    ```
  }];
  let parameters = (ins "::mlir::qopt::PruneMethod":$method,
                        "::mlir::qopt::SparsityGranularity":$granularity,
                        DefaultValuedParameter<"int64_t", "0">:$n,
                        DefaultValuedParameter<"int64_t", "0">:$m,
                        QOpt_F64Parameter:$target,
                        QOpt_F64Parameter:$achieved);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::mlir::qopt::PruneMethod":$method,
                     "::mlir::qopt::SparsityGranularity":$granularity,
                     "int64_t":$n, "int64_t":$m, "double":$target,
                     "double":$achieved), [{
      return $_get($_ctxt, method, granularity, n, m, ::llvm::APFloat(target),
                   ::llvm::APFloat(achieved));
    }]>
  ];
  let extraClassDeclaration = [{
    double getTargetValue() const { return getTarget().convertToDouble(); }
    double getAchievedValue() const { return getAchieved().convertToDouble(); }
    /// The name of the discardable attribute pruned layers carry it in.
    static ::llvm::StringLiteral getAttrName() { return "qopt.sparsity"; }
  }];
}

//===----------------------------------------------------------------------===//
// Why qopt-quantize left a matmul-like op float
//===----------------------------------------------------------------------===//

def QOpt_NotQuantizedReason : QOpt_Enum<"NotQuantizedReason",
    "why a matmul-like op was left float", [
      I32EnumAttrCase<"DynamicWeight", 0, "dynamic_weight">,
      I32EnumAttrCase<"Excluded", 1, "excluded">,
      I32EnumAttrCase<"NotIncluded", 2, "not_included">,
      I32EnumAttrCase<"NotF32", 3, "not_f32">,
      I32EnumAttrCase<"Shape", 4, "shape">,
      I32EnumAttrCase<"NotCalibrated", 5, "not_calibrated">,
      I32EnumAttrCase<"Scheme", 6, "scheme">
    ]>;

def QOpt_NotQuantizedReasonAttr : EnumAttr<QOpt_Dialect, QOpt_NotQuantizedReason,
                                     "not_quantized"> {
  let summary = "why qopt-quantize left this matmul-like op float: "
                "`dynamic_weight` (no constant operand: a product of "
                "activations, or a weight computed at run time), `excluded` "
                "(its layer name matches `exclude`), `not_included` (does not "
                "match `include`), `not_f32` (not an f32 layer), "
                "`shape` (the weight is not a static 2-D matrix: batched or "
                "dynamically shaped), "
                "`not_calibrated` (w8a8: its input was not observed) or "
                "`scheme` (the scheme does not cover this op: convolutions "
                "under w8a8-dynamic, 4-bit schemes' convolutions are int8)";
  let assemblyFormat = "`<` $value `>`";
  let extraClassDeclaration = [{
    /// The discardable attribute qopt-quantize sets on the ops it left
    /// float; the report reads it.
    static ::llvm::StringLiteral getAttrName() { return "qopt.not_quantized"; }
  }];
}

def QOpt_GpuPrecision : QOpt_Enum<"GpuPrecision",
    "how NVPTX artifacts multiply float32 matrices (the value is what "
    "qopt_cuda_matmul_f32 takes)", [
      I32EnumAttrCase<"F32", 0, "f32">,
      I32EnumAttrCase<"TF32", 1, "tf32">,
      I32EnumAttrCase<"FMA", 2, "fma">
    ]>;

//===----------------------------------------------------------------------===//
// Per-layer weight scheme chosen by error (qopt-quantize weight-granularity,
// weight-symmetric = auto)
//===----------------------------------------------------------------------===//

def QOpt_WeightGranularity : QOpt_Enum<"WeightGranularity",
    "how many scales a quantized weight has: one per output channel, one "
    "for the whole tensor, `auto` (per layer by error; an option, never a "
    "layer's scheme) or one per block of group-size weights (4-bit)", [
      I32EnumAttrCase<"PerChannel", 0, "per_channel">,
      I32EnumAttrCase<"PerTensor", 1, "per_tensor">,
      I32EnumAttrCase<"Auto", 2, "auto">,
      I32EnumAttrCase<"Block", 3, "block">
    ]>;

def QOpt_WeightSymmetry : QOpt_Enum<"WeightSymmetry",
    "whether a quantized weight has zero points: `symmetric` (none), "
    "`asymmetric` (uint4 with per-block zero points) or `auto` (per layer "
    "by error; an option, never a layer's scheme)", [
      I32EnumAttrCase<"Symmetric", 0, "symmetric">,
      I32EnumAttrCase<"Asymmetric", 1, "asymmetric">,
      I32EnumAttrCase<"Auto", 2, "auto">
    ]>;

def QOpt_WeightSchemeAttr : QOpt_Attr<"WeightScheme", "weight_scheme"> {
  let summary = "the weight scheme qopt-quantize chose for a layer by error";
  let description = [{
    Set by qopt-quantize as the discardable attribute `qopt.weight_scheme`
    on a layer whose weight scheme it chose (`weight-granularity=auto`:
    int8 per channel or per tensor; `weight-symmetric=auto`: w4 symmetric
    int4 or asymmetric uint4). `sqnr_db` is the output SQNR, in dB, of the
    kept weight (round to nearest) against the float weight on the
    calibration inputs, E||W x||² / E||(W − Wq) x||² with E[x xᵀ] from the
    layer's second_moment observer; `alternative_sqnr_db` is the other
    candidate's. The alternative to the default (per channel, symmetric) is
    kept only when it is better by more than 1 dB (per tensor) or 0.1 dB
    (uint4). The report lists it per layer.

    ```mlir
    qopt.weight_scheme = #qopt.weight_scheme<granularity = per_channel,
        symmetry = symmetric, sqnr_db = 47.1, alternative_sqnr_db = 31.0>
    ```
  }];
  let parameters = (ins "::mlir::qopt::WeightGranularity":$granularity,
                        "::mlir::qopt::WeightSymmetry":$symmetry,
                        QOpt_F64Parameter:$sqnr_db,
                        QOpt_F64Parameter:$alternative_sqnr_db);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::mlir::qopt::WeightGranularity":$granularity,
                     "::mlir::qopt::WeightSymmetry":$symmetry, "double":$sqnr,
                     "double":$alternative), [{
      return $_get($_ctxt, granularity, symmetry, ::llvm::APFloat(sqnr),
                   ::llvm::APFloat(alternative));
    }]>
  ];
  let extraClassDeclaration = [{
    static ::llvm::StringRef getAttrName() { return "qopt.weight_scheme"; }
  }];
}

#endif // QOPT_DIALECT_QOPT_IR_QOPTATTRS_TD
