//===- Passes.td - qopt graph passes -----------------------*- tablegen -*-===//
//
// The qopt dialect's target-independent graph passes (flags
// qopt-<verb>-<noun>): quantization-aware graphs, observers, calibration,
// SmoothQuant, quantization.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_TRANSFORMS_PASSES_TD
#define QOPT_DIALECT_QOPT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def ExpandFakeQuantPass : Pass<"qopt-expand-fake-quant"> {
  let summary = "Rewrite qopt.fake_quant as qopt.quantize + qopt.dequantize";
  let description = [{
    Turns a quantization-aware (fake-quant) graph into an explicit
    quantize/dequantize (QDQ) graph, the form deployment passes and ONNX
    runtimes consume. Each `qopt.fake_quant` becomes a `qopt.quantize` to a
    `!quant.uniform` type followed by a `qopt.dequantize`, with the same
    scales, zero points and axis. The storage type is the narrowest of
    i4/u4/i8/u8/i16/u16/i32 whose range contains `[quant_min, quant_max]`
    (signed when `quant_min < 0`); a narrower range is kept as the type's
    explicit storage range (`i8<-127:127>`). The rewrite is exact: both forms
    compute the same values element for element.

    ```mlir
    %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [-127, 127]
        : tensor<4xf32>
    // becomes
    %q = qopt.quantize %x
        : tensor<4xf32> -> tensor<4x!quant.uniform<i8<-127:127>:f32, 0.1>>
    %y = qopt.dequantize %q
        : tensor<4x!quant.uniform<i8<-127:127>:f32, 0.1>> -> tensor<4xf32>
    ```

    With `only-weights`, only fake_quants of constants (weights) are
    expanded, leaving activation fake-quants for calibration to revisit.
  }];
  let options = [
    Option<"onlyWeights", "only-weights", "bool", "false",
           "Expand only fake_quant ops whose input is a constant">
  ];
  let dependentDialects = ["::mlir::quant::QuantDialect"];
}

def InsertObserversPass : Pass<"qopt-insert-observers", "ModuleOp"> {
  let summary = "Put calibration observers on the inputs of quantizable ops";
  let description = [{
    Inserts a `qopt.observe` (a calibration point, identity otherwise) on
    every non-constant operand that feeds a quantizable op: the activation
    input of `qopt.linear` (`linear`), both operands of f32 linalg
    contractions such as batched MatMul (`matmul`), the input of linalg
    convolutions (`conv`). Constants (weights) are not observed: their
    ranges are known. A value feeding several such ops gets one observer,
    and an operand that already is an observer's result is not observed
    again, so the pass is idempotent. Ids continue after the largest one in
    the module; `kind` is the statistics the calibration run keeps.
    `second_moment` observers go only on the inputs of the layers
    qopt-quantize rewrites (qopt.linear; NCHW convolutions, with the
    convolution's `window`), below an observer of another kind already
    there (x → second_moment → histogram → layer).

    ```mlir
    %y = qopt.linear %x, %w, %b ...
    // becomes
    %o = qopt.observe %x {id = 0 : i64, kind = #qopt.observer<histogram>} : tensor<1x16x64xf32>
    %y = qopt.linear %o, %w, %b ...
    ```
  }];
  let options = [
    // Strings read with symbolizeObservedOp: MLIR 22's ListOption parses
    // elements with a parser that llvm::cl::values does not reach.
    ListOption<"ops", "ops", "std::string",
               "Which ops to observe: linear, matmul, conv (default: all)">,
    Option<"kind", "kind", "::mlir::qopt::ObserverKind",
           "::mlir::qopt::ObserverKind::Histogram", "Statistics to keep",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::ObserverKind::Histogram, "histogram",
                        "min/max and a streamed |x| histogram"),
             clEnumValN(::mlir::qopt::ObserverKind::MinMax, "minmax",
                        "running min/max"),
             clEnumValN(::mlir::qopt::ObserverKind::ChannelAbsMax,
                        "channel_absmax", "max |x| per channel (SmoothQuant)"),
             clEnumValN(::mlir::qopt::ObserverKind::ChannelSumSq,
                        "channel_sumsq",
                        "sum of x² per input channel (Wanda pruning)"),
             clEnumValN(::mlir::qopt::ObserverKind::SecondMoment,
                        "second_moment",
                        "E[x] and E[x xᵀ] of a layer's input rows (GPTQ, "
                        "bias correction)"))}]>
  ];
  // It creates qopt ops and attributes on modules that may hold none yet.
  let dependentDialects = ["::mlir::qopt::QOptDialect"];
}

def CalibratePass : Pass<"qopt-calibrate", "ModuleOp"> {
  let summary = "Turn observers' calibration statistics into quantization parameters";
  let description = [{
    Reads the statistics a calibration run attached to each `qopt.observe`
    (`statistics = #qopt.histogram<...>`: the streamed histogram's state,
    exact min/max; see qopt::runCalibration and
    qopt::attachCalibrationStatistics) and chooses a clipping range with
    `method` — `minmax`, `percentile` (of |x|, or of both ends when not
    symmetric), `entropy` (TensorRT's KL search over 2048 bins) or `mse` —
    then the scale and zero point for `storage` (REFERENCE.md; a degenerate
    range gets scale 1). Writes them on the observer as
    `calibration = #qopt.calibration<method, min, max, type>`, where `type`
    is the `!quant.uniform` type qopt-quantize quantizes the activation to.
    An observer without statistics is an error.

    The clipping methods are checked against minmax: where the chosen range
    quantizes the observed histogram with an expected squared error more
    than `margin-db` above minmax's (KL's threshold on softmax outputs or
    heavy tails clips the few large values that matter), the observer keeps
    minmax's range and its attribute says `method = minmax`. Asymmetric
    ranges (`symmetric=false`) are one-sided where the data is: entropy's
    threshold T gives [max(min, -T), min(max, T)].
  }];
  let options = [
    Option<"method", "method", "::mlir::qopt::CalibrationMethod",
           "::mlir::qopt::CalibrationMethod::MinMax", "Range selection",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::CalibrationMethod::MinMax, "minmax",
                        "running min/max"),
             clEnumValN(::mlir::qopt::CalibrationMethod::Percentile,
                        "percentile", "clip at a percentile"),
             clEnumValN(::mlir::qopt::CalibrationMethod::Entropy, "entropy",
                        "TensorRT's KL-divergence search"),
             clEnumValN(::mlir::qopt::CalibrationMethod::MSE, "mse",
                        "least quantization error"))}]>,
    Option<"percentile", "percentile", "double", "99.99",
           "Percentile for method=percentile, in (0, 100]">,
    Option<"storage", "storage", "::mlir::qopt::ActivationStorage",
           "::mlir::qopt::ActivationStorage::Int8", "Activation storage type",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::ActivationStorage::Int8, "int8", "int8"),
             clEnumValN(::mlir::qopt::ActivationStorage::UInt8, "uint8",
                        "uint8"),
             clEnumValN(::mlir::qopt::ActivationStorage::Auto, "auto",
                        "per observer, symmetric int8 or asymmetric uint8, "
                        "whichever quantizes its histogram with the lower "
                        "error (symmetric is then ignored)"))}]>,
    Option<"symmetric", "symmetric", "bool", "true",
           "Symmetric ranges (zero point 0 for int8, 128 for uint8)">,
    Option<"marginDb", "margin-db", "double", "3.0",
           "percentile/entropy/mse keep their range only if its quantization "
           "error over the histogram is at most this many dB above minmax's "
           "(else minmax's range, recorded as method = minmax); negative: "
           "never fall back">
  ];
}

def SmoothQuantPass : Pass<"qopt-smooth-quant", "ModuleOp"> {
  let summary = "SmoothQuant: migrate activation outliers into linear weights";
  let description = [{
    For every `channel_absmax` observer (qopt-insert-observers
    kind=channel_absmax, then qopt-collect-statistics) whose activation X
    feeds linear layers with constant f32 weights: per input channel j,
    `s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)` (max |W_j| over all those
    layers; s_j = 1 where either is 0; clamped to [1e-5, 1e5]); the layers
    read `X · diag(s)^-1` (one element-wise multiply, which element-wise
    fusion folds into the producer) and their weights become
    `W[:, j] · s_j` (new `dense_resource` blobs `<layer>.smoothed`). The
    float result is unchanged; activations get flatter channels for the
    W8A8 quantization that follows (Xiao et al., 2023). Other consumers of X
    read it unchanged; the observers are removed. An observer without
    statistics, or alpha outside [0, 1], is an error.
  }];
  let options = [
    Option<"alpha", "alpha", "double", "0.5",
           "Migration strength in [0, 1] (0.5 in the paper)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def QuantizePass : Pass<"qopt-quantize", "ModuleOp"> {
  let summary = "Post-training quantization of linear layers and convolutions";
  let description = [{
    Quantizes every layer (QuantizableLayerOpInterface: `qopt.linear` and
    NCHW convolutions) with a constant f32 weight
    (docs/Quantization/Schemes.md):

    - `w8a8` (static): layers whose input is a calibrated observer (the
      `#qopt.calibration` type qopt-calibrate writes).
      Weights int8 symmetric per output channel (scale = max|w_row| / 127);
      a linear layer becomes `qopt.qlinear` with `activation = static`
      (integer kernels); a convolution gets the QDQ form (quantize/dequantize
      of its input, a dequantized int8 filter). `form=qdq` emits the QDQ
      form for linear layers too (what onnxruntime's QDQ models hold).
    - `w8a8-dynamic`: linear layers get per-token activation scales at run
      time (no calibration needed); convolutions stay float.
    - `w8`: weight-only int8 per output channel (linear and conv).
    - `w4`: weight-only 4-bit block-wise for linear layers, `group-size` k
      per scale, symmetric int4 or (`weight-symmetric=false`) asymmetric
      uint4 with per-block zero points, two values per byte; a K that is
      not a multiple of the group pads the last block with zeros (the
      packed weight is [N, ceil(K/G)·G/2]); convolutions get int8 filters.
      `int4-scale` picks the symmetric blocks' scale
      (docs/Quantization/Int4.md): `mse` (default: the least squared error
      among onnxruntime's scale and 21 others), `signed-extreme`
      (onnxruntime MatMulNBits': the signed extreme / -8, bit-exact) or
      `absmax` (max|w| / 7, shared/REFERENCE.md's symmetric formula); for
      uint4, `mse` (default: the least-error range among α·[min, max],
      α = 1 … 0.8) or `minmax` (the full range, REFERENCE.md's asymmetric
      formula, what onnxruntime's asymmetric MatMulNBits stores).
      With `int8-depthwise`, depthwise convolutions (the importer's grouped
      generic with one input channel per group, not a layer op) whose input
      is calibrated become int8 as well (an i8 x i8 -> i32 generic and a
      dequantizing epilogue); by default they stay float, which is faster
      on the CPU today (docs/Quantization/Depthwise.md).
      `w4-activations=int8` records `activation = dynamic_block` on the
      4-bit layers: the kernel quantizes each activation row to int8 per
      weight block at run time and multiplies integers (onnxruntime's
      MatMulNBits accuracy_level 4; docs/Runtime/W4Int8.md).
    - `nf4`: weight-only NF4 for linear layers (QLoRA's 16 NormalFloat
      levels, one absmax per block of `group-size` along K: QLoRA uses 64),
      two codes per byte; the last block padded as `w4`'s. With
      `double-quant`, the block scales are stored int8 (QLoRA's double
      quantization: minus their mean, blocks of 256, one f32 scale each).

    Quantized weights are `dense_resource` blobs named after the layer.
    Layers whose name (a linear layer's `weight_name`, a convolution's ONNX
    node name) matches `exclude` stay float; with `include`, only matching
    layers are quantized. Integer activation schemes fall back to
    weight-only int8 (with a warning) when K > 65793, where the i32
    accumulator could overflow. Observers left without consumers are
    removed.

    `weight-rounding=gptq` rounds the weights of `w8a8`, `w8a8-dynamic`,
    `w8` (int8 per channel) and symmetric `w4` (int4 per group of
    `group-size`) with GPTQ (docs/Quantization/GPTQ.md), from the
    `#qopt.second_moment` of a `second_moment` observer on the layer's
    input (qopt-insert-observers{kind=second_moment} then
    qopt-collect-statistics); `bias-correction` adds (W − Wq)·E[x] to the
    layer's output (docs/Quantization/BiasCorrection.md). Both consume the
    second_moment observers, which are removed. `weight-rounding=auto`
    keeps, per layer, round-to-nearest or GPTQ, whichever has the lower
    output error tr((W − Wq) H (W − Wq)ᵀ): GPTQ fitted on the first half of
    the calibration samples and both judged on the other half when the
    moments carry that split, else on all the rows; the layer's
    `qopt.rounding_error` says which (docs/Quantization/AutoSchemes.md).

    `weight-granularity` (int8 weights: w8a8, w8a8-dynamic, w8 and the
    int8 filters of convolutions) stores one scale per output channel
    (default) or one for the whole weight (`per-tensor`, still a [N]
    scale vector of equal values: every kernel takes it). `auto` keeps,
    per layer, the one whose weight has the higher output SQNR
    10·log10(tr(W H Wᵀ) / tr((W − Wq) H (W − Wq)ᵀ)) on the layer's
    second_moment (H = E[x xᵀ]); per tensor only when it is more than
    1 dB better (its steps are never finer: a smaller gain is rounding
    luck; a tie keeps per channel). `weight-symmetric=auto` does
    the same for `w4` between symmetric int4 (default) and asymmetric
    uint4 (`int4-scale=mse`, round to nearest; uint4 when more than
    0.1 dB better). Both need the moments and
    record the choice as the layer's `qopt.weight_scheme`.
  }];
  let options = [
    Option<"scheme", "scheme", "::mlir::qopt::QuantScheme",
           "::mlir::qopt::QuantScheme::W8A8", "Quantization scheme",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::QuantScheme::W8A8, "w8a8",
                        "static int8 activations, int8 weights"),
             clEnumValN(::mlir::qopt::QuantScheme::W8A8Dynamic, "w8a8-dynamic",
                        "per-token activation scales at run time"),
             clEnumValN(::mlir::qopt::QuantScheme::W8, "w8",
                        "weight-only int8 per channel"),
             clEnumValN(::mlir::qopt::QuantScheme::W4, "w4",
                        "weight-only 4-bit block-wise"),
             clEnumValN(::mlir::qopt::QuantScheme::NF4, "nf4",
                        "weight-only NF4 (QLoRA), block-wise absmax"))}]>,
    Option<"form", "form", "::mlir::qopt::QuantizedLinearForm",
           "::mlir::qopt::QuantizedLinearForm::QLinear",
           "What a w8a8 linear layer becomes",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::QuantizedLinearForm::QLinear, "qlinear",
                        "qopt.qlinear (integer kernels)"),
             clEnumValN(::mlir::qopt::QuantizedLinearForm::QDQ, "qdq",
                        "quantize/dequantize around a float linear"))}]>,
    Option<"groupSize", "group-size", "int64_t", "128",
           "w4: weights per scale along K">,
    Option<"weightSymmetric", "weight-symmetric",
           "::mlir::qopt::WeightSymmetry",
           "::mlir::qopt::WeightSymmetry::Symmetric",
           "w4: symmetric int4, uint4 with zero points, or per layer by "
           "error (int8 weights are always symmetric)",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::WeightSymmetry::Symmetric, "true",
                        "symmetric int4"),
             clEnumValN(::mlir::qopt::WeightSymmetry::Asymmetric, "false",
                        "asymmetric uint4 with per-block zero points"),
             clEnumValN(::mlir::qopt::WeightSymmetry::Auto, "auto",
                        "per layer, int4 or uint4, whichever has the lower "
                        "output error on the layer's second_moment "
                        "(uint4 only when more than 0.1 dB better)"))}]>,
    Option<"int4Scale", "int4-scale", "::mlir::qopt::Int4ScaleMethod",
           "::mlir::qopt::Int4ScaleMethod::MSE",
           "w4: how each block's scale (and zero point) is chosen",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::Int4ScaleMethod::MSE, "mse",
                        "least squared error (onnxruntime's scale or better)"),
             clEnumValN(::mlir::qopt::Int4ScaleMethod::SignedExtreme, "signed-extreme",
                        "onnxruntime MatMulNBits: signed extreme / -8"),
             clEnumValN(::mlir::qopt::Int4ScaleMethod::AbsMax, "absmax",
                        "max|w| / 7 (REFERENCE.md symmetric)"),
             clEnumValN(::mlir::qopt::Int4ScaleMethod::MinMax, "minmax",
                        "uint4: the block's full range (REFERENCE.md "
                        "asymmetric)"))}]>,
    Option<"doubleQuant", "double-quant", "bool", "false",
           "nf4: quantize the block scales too (int8, blocks of 256, minus "
           "their mean; QLoRA's double quantization)">,
    Option<"exclude", "exclude", "std::string", "\"\"",
           "Regex: layers whose name matches stay float">,
    Option<"include", "include", "std::string", "\"\"",
           "Regex: only layers whose name matches are quantized">,
    Option<"allowNoLayer", "allow-no-layer", "bool", "false",
           "Quantizing no layer is not an error (--accuracy-target's "
           "calibration and searches, which may keep every layer float)">,
    Option<"weightRounding", "weight-rounding", "::mlir::qopt::WeightRounding",
           "::mlir::qopt::WeightRounding::Nearest",
           "How weights are rounded to their codes",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::WeightRounding::Nearest, "nearest",
                        "round to nearest (half to even)"),
             clEnumValN(::mlir::qopt::WeightRounding::GPTQ, "gptq",
                        "GPTQ with the layer input's second_moment observer "
                        "(w8a8, w8a8-dynamic, w8, symmetric w4)"),
             clEnumValN(::mlir::qopt::WeightRounding::Auto, "auto",
                        "per layer, nearest or GPTQ, whichever has the lower "
                        "output error tr((W-Wq) H (W-Wq)^T), GPTQ fitted on "
                        "the first half of the calibration samples and both "
                        "judged on the second"))}]>,
    Option<"biasCorrection", "bias-correction", "bool", "false",
           "Add (W - Wq)·E[x] to each quantized layer's bias (E[x] from its "
           "input's second_moment observer; Nagel et al. 2019)">,
    Option<"gptqDamp", "gptq-damp", "double", "0.01",
           "GPTQ: fraction of mean(diag H) added to H's diagonal">,
    Option<"weightGranularity", "weight-granularity",
           "::mlir::qopt::WeightGranularity",
           "::mlir::qopt::WeightGranularity::PerChannel",
           "int8 weights: one scale per output channel, one per tensor, or "
           "per layer by error",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::WeightGranularity::PerChannel,
                        "per-channel", "max|w_row| / 127 per output channel"),
             clEnumValN(::mlir::qopt::WeightGranularity::PerTensor,
                        "per-tensor", "max|w| / 127 for the whole weight"),
             clEnumValN(::mlir::qopt::WeightGranularity::Auto, "auto",
                        "per layer, per channel or per tensor, whichever has "
                        "the lower output error on the layer's second_moment "
                        "(per tensor only when more than 1 dB better)"))}]>,
    Option<"w4Activations", "w4-activations", "::mlir::qopt::ActivationMode",
           "::mlir::qopt::ActivationMode::None",
           "w4: the int4/uint4 layers' activations, recorded as their "
           "qopt.qlinear `activation` (docs/Runtime/W4Int8.md)",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::ActivationMode::None, "float",
                        "weight-only: float activations (activation none)"),
             clEnumValN(::mlir::qopt::ActivationMode::DynamicBlock, "int8",
                        "int8 per token and weight block at run time "
                        "(activation dynamic_block; group-size a multiple "
                        "of 8)"))}]>,
    Option<"int8Depthwise", "int8-depthwise", "bool", "false",
           "w8a8: depthwise convolutions (grouped, one input channel per "
           "group) in int8 too: input per tensor, filter per channel, "
           "i8 x i8 -> i32 (qopt_kernel_conv2d_depthwise_s8)">
  ];
  let dependentDialects = ["::mlir::quant::QuantDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect"];
}

def AttachAdaptersPass : Pass<"qopt-attach-adapters", "ModuleOp"> {
  let summary = "Put PEFT LoRA adapters on the layers they adapt (qopt.lora)";
  let description = [{
    For each `adapters` entry `DIR[:SCALE]`, reads PEFT's adapter folder:
    `adapter_config.json` (`r`, `lora_alpha`, `use_rslora`,
    `rank_pattern`, `alpha_pattern`; `peft_type` other than LORA, DoRA,
    `bias` other than none and `modules_to_save` are refused by name) and
    `adapter_model.safetensors` (`base_model.model.<module>.lora_A.weight`
    [r, in] and `.lora_B.weight` [out, r], F32/F16/BF16, validated). Each
    module is matched to the layer whose name (QuantizableLayerOpInterface)
    is `<module>.weight`; its output gets a `qopt.lora` with scale
    `SCALE · lora_alpha / r` (`/ sqrt(r)` with rsLoRA), stacked on the
    adapters already there. `fan_in_fan_out` needs nothing: qopt.linear
    keeps every weight [out, in]. A tensor that matches no layer (the error
    lists the layers), a shape that does not fit, a rank that contradicts
    the config, or a non-linear layer is an error.

    With `switch`, the adapters stay separate and selectable per call: the
    function holding the layers gets a rank-0 i64 input named
    `qopt_adapter` (its last argument), each `qopt.lora` of the k-th adapter
    is `select`ed by it with `adapter_index = k`, and the module's
    `qopt.adapters` lists the adapter names in index order (the artifact's
    signature carries them, `quant-run --adapter NAME` uses them).

    ```mlir
    %y = qopt.linear %x, %w {weight_name = "layers.0.q_proj.weight"} ...
    // becomes
    %y = qopt.linear %x, %w {weight_name = "layers.0.q_proj.weight"} ...
    %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "sql"} ...
    ```
  }];
  let options = [
    ListOption<"adapters", "adapters", "std::string",
               "PEFT adapter folders, DIR or DIR:SCALE (SCALE multiplies "
               "the adapter's own scaling; default 1)">,
    Option<"switched", "switch", "bool", "false",
           "Keep the adapters switchable per call: the layers' function "
           "gets an i64 input `qopt_adapter`, adapter k applies when it "
           "holds k (any other value: the base model), and the module "
           "lists the adapters in `qopt.adapters`">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def FoldLoRAPass : Pass<"qopt-fold-lora", "ModuleOp"> {
  let summary = "Merge qopt.lora adapters into their linear layers' weights";
  let description = [{
    For every `qopt.linear` with a constant f32 weight `W` whose result
    feeds a stack of `qopt.lora` ops (each reading the layer's input):
    `W' = W + Σ_i scale_i · B_i · A_i`, accumulated in f64 and rounded once
    to f32; the layer gets `W'` (inline if `W` was inline, else a
    `dense_resource` blob named `<weight>+<adapter>...`) and the adapter ops
    and their matrices are removed. An adapter that cannot be merged (its
    base is not such a layer, or its matrices are not constants) is an error
    that says why.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def PrunePass : Pass<"qopt-prune", "ModuleOp"> {
  let summary = "Prune layer weights by magnitude or Wanda (unstructured, n:m, channels)";
  let description = [{
    Zeroes the weights of every layer (QuantizableLayerOpInterface:
    `qopt.linear` and NCHW convolutions) with a constant f32 weight whose
    name matches `include` (all when empty) and not `exclude`, and records
    the pattern on the layer as `qopt.sparsity = #qopt.sparsity<...>`
    (docs/Pruning/Pruning.md).

    Each weight gets a score: `magnitude` |W|, or `wanda` |W_ij| · ||X_j||₂
    (Sun et al., 2023), where ||X_j||² is the sum of squares of input
    channel j over the calibration samples: the `channel_sumsq` of a
    `channel_sumsq` observer on the layer's input (qopt-insert-observers
    kind=channel_sumsq, then qopt-collect-statistics). A convolution's
    input channel c scores all its kernel positions. Then by `granularity`:

    - `unstructured`: the floor(`sparsity` · count) smallest scores become 0,
      counted per layer (`scope=layer`), per output row (`row`, Wanda's
      comparison group) or over all selected layers at once (`global`).
    - `n_m`: in every group of `m` consecutive weights along the reduction
      dimension (a linear layer's in_features; a convolution's input
      channels, for each output channel and kernel position, as sparse
      tensor cores group them) the `m - n` smallest become 0. A layer
      whose reduction dimension is not a multiple of `m` stays dense (with
      a warning), as NVIDIA's ASP leaves such layers.
    - `channels`: the floor(`sparsity` · out_channels) output channels
      (rows of a linear weight, filters of a convolution) whose scores have
      the smallest L2 norm become 0 (with their bias entries: the channel's
      output is then exactly 0 before any activation), for
      qopt-shrink-structured to remove.
    - `heads` / `neurons`: structured units found by following each layer's
      output channels to the layers that read them (the same analysis
      qopt-shrink-structured uses): attention heads where a reshape splits
      the channels into [heads, head_dim] (Q, K and V rows of the head and
      the output projection's columns), MLP neurons elsewhere (the rows of
      every layer whose outputs meet in element-wise ops, such as a
      Llama MLP's gate and up, and the next layer's columns). Each unit
      scores the L2 norm of all those weights' scores; the
      floor(`sparsity` · units) smallest become 0 in every layer (weights
      and the producers' bias entries), so the unit contributes exactly
      nothing. A unit spans layers: all of them must be selected.

    Ties are broken by position, deterministically: among equal scores the
    weight (row, channel) with the smaller row-major index is pruned first;
    with `scope=global`, layers count in program order. The new weights are
    `dense_resource` blobs `<layer>.pruned`. The pass removes the
    channel_sumsq observers afterwards. Errors: `sparsity` outside [0, 1),
    n:m with not 1 <= n < m, `scope` other than `layer` for n_m or
    channels, an invalid regex, `wanda` on a layer without statistics.
  }];
  let options = [
    Option<"method", "method", "::mlir::qopt::PruneMethod",
           "::mlir::qopt::PruneMethod::Magnitude", "Weight score",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::PruneMethod::Magnitude, "magnitude",
                        "|W|"),
             clEnumValN(::mlir::qopt::PruneMethod::Wanda, "wanda",
                        "|W| times the input channel's L2 norm (needs "
                        "channel_sumsq statistics)"))}]>,
    Option<"granularity", "granularity", "::mlir::qopt::SparsityGranularity",
           "::mlir::qopt::SparsityGranularity::Unstructured",
           "What is removed",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::SparsityGranularity::Unstructured,
                        "unstructured", "single weights"),
             clEnumValN(::mlir::qopt::SparsityGranularity::NM, "n_m",
                        "n of every m along the reduction dimension kept"),
             clEnumValN(::mlir::qopt::SparsityGranularity::Channels,
                        "channels", "whole output channels by L2 norm"),
             clEnumValN(::mlir::qopt::SparsityGranularity::Heads, "heads",
                        "whole attention heads: Q/K/V rows and the output "
                        "projection's columns, by L2 norm"),
             clEnumValN(::mlir::qopt::SparsityGranularity::Neurons,
                        "neurons", "whole MLP neurons: the rows of every "
                        "layer producing them (fc1; gate and up) and the "
                        "columns of the next (fc2, down), by L2 norm"))}]>,
    Option<"sparsity", "sparsity", "double", "0.5",
           "Fraction of weights (unstructured) or output channels (channels) "
           "to remove, in [0, 1)">,
    Option<"n", "n", "int64_t", "2", "n_m: weights kept per group">,
    Option<"m", "m", "int64_t", "4", "n_m: group size">,
    Option<"scope", "scope", "::mlir::qopt::PruneScope",
           "::mlir::qopt::PruneScope::Layer",
           "unstructured: where the target is reached",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::PruneScope::Layer, "layer",
                        "each layer"),
             clEnumValN(::mlir::qopt::PruneScope::Row, "row",
                        "each output row (Wanda's comparison group)"),
             clEnumValN(::mlir::qopt::PruneScope::Global, "global",
                        "all selected layers together"))}]>,
    Option<"exclude", "exclude", "std::string", "\"\"",
           "Regex: layers whose name matches are not pruned">,
    Option<"include", "include", "std::string", "\"\"",
           "Regex: only layers whose name matches are pruned">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qopt::QOptDialect"];
}

def ShrinkStructuredPass : Pass<"qopt-shrink-structured", "ModuleOp"> {
  let summary = "Remove pruned channels, heads and neurons: producers' rows, consumers' columns and every tensor between";
  let description = [{
    After qopt-prune granularity=channels|heads|neurons, makes the model
    physically smaller. For every `qopt.linear` with a constant f32 weight
    with all-zero rows, the pass follows its output channels to the linear
    layers that read them (the structured region, StructuredRegion.h):
    through ops that keep them a parallel dimension (element-wise ops,
    transposes, reshapes — a reshape into [heads, head_dim] makes a unit a
    whole head — batched matmuls and softmaxes over other dimensions), and
    back through every other operand of those ops (K and V of an
    attention, the `up` of a gated MLP), collecting the producers (output
    rows) and consumers (input columns). A unit (channel or head) goes when
    every consumer's columns of it are zero (it adds nothing), or when
    every producer's rows of it are zero and the region is element-wise:
    then its constant value e_u (the ops evaluated on the producers' bias
    entries, f64) times the consumers' columns is folded into their biases.
    Its rows leave the producers, its slices every tensor, `tensor.empty`
    and constant (LayerNorm-like per-channel vectors) of the region and the
    reshapes' static shapes, its columns the consumers: the result computes
    what the pruned model computed. Anything else stays dense with a remark
    saying why (the channels reach a function argument — a residual
    connection — a return, an op reducing over them such as a LayerNorm's
    statistics, a non-constant weight, rows that are not whole heads,
    zero rows in only one of the layers meeting in an op). With `strict`,
    such a layer is an error instead.
  }];
  let options = [
    Option<"strict", "strict", "bool", "false",
           "A pruned layer that cannot be shrunk is an error (default: a "
           "remark, the layer stays dense)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::qopt::QOptDialect",
                           "::mlir::tensor::TensorDialect"];
}

def TernarizePass : Pass<"qopt-ternarize", "ModuleOp"> {
  let summary = "Ternary BitLinear rewriting (BitNet b1.58)";
  let description = [{
    Turns `qopt.linear` layers with a constant f32 weight `[N, K]` (K a
    multiple of 4) into `qopt.bitlinear` (docs/Quantization/Ternary.md):

    - `mode=absmean` (post-training): BitNet b1.58's absmean formula in the
      form of the authors' code, `gamma = max(mean |W|, 1e-5)`,
      `t = clamp(round_half_to_even(W / gamma), -1, 1)`; the input is
      quantized per token to int8 by its absmax (`activation=per-token-int8`,
      the default) or stays float (`activation=none`).
    - `mode=lossless`: only layers whose weight already takes at most three
      values {-g, 0, +g} (bitwise; a model trained with BitLinear and
      exported as float) are rewritten, with `gamma = g` and float inputs
      (`activation` is ignored): the model computes what it computed. Every
      other layer stays `qopt.linear` and is listed by a remark saying why.
      The exporter's BitLinear subgraphs (BitNet's reference code exported
      as float: `w + (clamp(round(w * S), -1, 1) / S - w)` on a constant
      weight, optionally `x + (clamp(round(x * s), -128, 127) / s - x)` on
      the input, around a matmul) become `qopt.bitlinear` too, with
      `gamma = 1 / S` and `per_token_int8` where the input chain is there.

    The packed weights are `dense_resource` blobs named `<weight>.ternary`.
    Layers whose name matches `exclude` stay float; with `include`, only
    matching layers are rewritten. A layer whose K is not a multiple of 4
    stays float (remark). A weight that is not finite is an error.
  }];
  let options = [
    Option<"mode", "mode", "::mlir::qopt::TernaryMode",
           "::mlir::qopt::TernaryMode::Absmean", "How weights become ternary",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::TernaryMode::Absmean, "absmean",
                        "post-training absmean ternarization (BitNet b1.58)"),
             clEnumValN(::mlir::qopt::TernaryMode::Lossless, "lossless",
                        "only weights that are already ternary, unchanged"))}]>,
    Option<"activation", "activation", "::mlir::qopt::BitLinearActivation",
           "::mlir::qopt::BitLinearActivation::PerTokenInt8",
           "absmean: how the layer's input is treated",
           [{::llvm::cl::values(
             clEnumValN(::mlir::qopt::BitLinearActivation::PerTokenInt8,
                        "per-token-int8", "int8 per token by absmax (BitNet)"),
             clEnumValN(::mlir::qopt::BitLinearActivation::None, "none",
                        "float input"))}]>,
    Option<"exclude", "exclude", "std::string", "\"\"",
           "Regex: layers whose name matches stay float">,
    Option<"include", "include", "std::string", "\"\"",
           "Regex: only layers whose name matches are rewritten">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qopt::QOptDialect"];
}

def FoldQDQPass : Pass<"qopt-fold-qdq", "ModuleOp"> {
  let summary = "Fold QDQ patterns (DequantizeLinear -> layer) into integer layers";
  let description = [{
    A QDQ model (onnxruntime's `quantize_static`, QAT exports, hand-written
    graphs) carries its quantization as QuantizeLinear/DequantizeLinear
    pairs around float layers; the importer keeps them as `qopt.quantize`
    / `qopt.dequantize`. This pass turns each recognized layer into integer
    code with the scales the model carries (no calibration):

    * `qopt.linear` whose weight is a dequantized constant (`[N, K]`, or
      the `[1, 0]` transpose of a `[K, N]` one; integers stored, or a float
      constant quantized by a `qopt.quantize`) with one scale per output
      channel or per tensor, and whose input is a per-tensor 8-bit
      `qopt.dequantize`, becomes a static `qopt.qlinear` (int8 weights,
      i32 accumulation): `input_scale`/`input_zero_point` from the input's
      type, the weights minus their zero points (they must fit int8). When
      the input is `dequantize(quantize(x))` with one type, `x` itself
      feeds the layer (qopt.qlinear quantizes it the same way).
    * The same with a float input: a weight-only int8 `qopt.qlinear`.
    * 4-bit weights (int4/uint4, blocked along K — opset 21 `block_size` —
      or per channel): a weight-only `qopt.qlinear` `int4` (zero points 0)
      or `uint4` (int4 with zero points is shifted by 8 into uint4).
    * `linalg.conv_2d_nchw_fchw` whose input is a per-tensor 8-bit
      dequantize (possibly padded) and whose filter a dequantized constant
      per output channel: an i8 x i8 -> i32 convolution and a float
      epilogue, as qopt-quantize's W8A8 convolutions.
    * `qopt.dequantize` of an int32 constant (onnxruntime's bias) becomes
      a float constant.

    Anything else keeps its float semantics (the dequantize ops lower to
    exact float code) and each layer with a dequantized input or weight
    that did not fold gets a remark saying why.

    The Q -> DQ pairs left between float ops become `qopt.fake_quant`; the
    per-tensor ones that provably change nothing are removed (exactly):
    on values already on their grid (after another pair, a move, a max
    pool, a max/min with grid points — ReLU, Clip — or a concatenation of
    values on the grid), and those whose value reaches, through moves and
    max/min only, nothing but quantizations onto the same grid.

    A chain of element-wise ops that reads one per-tensor 8-bit fake quant
    and scalar constants and holds further fake quants (a quantized GELU)
    is cloned onto that fake quant's grid points (a table computed once
    per run) and each element reads its entry (bit for bit the chain's
    value).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::quant::QuantDialect"];
}

#endif // QOPT_DIALECT_QOPT_TRANSFORMS_PASSES_TD
