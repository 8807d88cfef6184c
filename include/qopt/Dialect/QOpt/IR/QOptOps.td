//===- QOptOps.td - qopt operations ------------------------*- tablegen -*-===//
//
// Reference semantics of every op are in docs/Dialect/QOpt.md; keep the two
// in step.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_DIALECT_QOPT_IR_QOPTOPS_TD
#define QOPT_DIALECT_QOPT_IR_QOPTOPS_TD

include "qopt/Dialect/QOpt/IR/QOptDialect.td"
include "qopt/Dialect/QOpt/IR/QOptAttrs.td"
include "qopt/Dialect/QOpt/IR/QOptInterfaces.td"
include "mlir/Dialect/Quant/IR/QuantBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def QOpt_FloatTensor : RankedTensorOf<[AnyFloat]>;
def QOpt_QuantizedTensor : RankedTensorOf<[quant_QuantizedType]>;

//===----------------------------------------------------------------------===//
// qopt.linear
//===----------------------------------------------------------------------===//

def QOpt_LinearOp : QOpt_Op<"linear", [Pure,
    DeclareOpInterfaceMethods<QOpt_QuantizableLayerOpInterface,
                              ["getLayerWeightName"]>]> {
  let summary = "linear layer y = x · Wᵀ + b with a named weight";
  let description = [{
    Computes `y[..., n] = sum_k x[..., k] * weight[n, k] + bias[n]`, the
    PyTorch `nn.Linear` convention: `weight` is `[out_features,
    in_features]` and the input may carry any number of leading (batch)
    dimensions. `bias` is optional. All operands share one float element
    type.

    `weight_name` keeps the name of the weight in the source model (the ONNX
    initializer or PyTorch module path). Passes use it to select or exclude
    layers by regular expression and to name layers in reports (and, once
    adapters land, to match LoRA adapters).

    Example:

    ```mlir
    %y = qopt.linear %x, %w, %b {weight_name = "layers.0.mlp.fc1.weight"}
        : (tensor<4x16xf32>, tensor<32x16xf32>, tensor<32xf32>)
        -> tensor<4x32xf32>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$input, QOpt_FloatTensor:$weight,
                       Optional<QOpt_FloatTensor>:$bias,
                       OptionalAttr<StrAttr>:$weight_name);
  let results = (outs QOpt_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// qopt.observe
//===----------------------------------------------------------------------===//

def QOpt_ObserveOp : QOpt_Op<"observe", [
    SameOperandsAndResultType,
    MemoryEffects<[MemWrite]>]> {
  let summary = "calibration point: identity that records statistics";
  let description = [{
    Returns its operand unchanged. When the model is instrumented for
    calibration, the op records statistics of the values flowing through it
    (`kind`: `minmax` or `histogram`) under the integer `id`, which must be
    non-negative and unique within the enclosing function. Outside of
    calibration it lowers to nothing.

    The op declares a write effect so that dead-code elimination and CSE do
    not remove or merge calibration points.

    What calibration learns stays on the op, typed: `statistics` (a
    `#qopt.histogram`, written by the calibration run for `minmax` and
    `histogram` observers), `channel_absmax` (per-channel max |x| of a
    `channel_absmax` observer, for SmoothQuant), `channel_sumsq` (sum of
    x² per index of dimension `channel_axis`, default the last, over every
    value a `channel_sumsq` observer saw: Wanda's squared input-channel
    norms ||X_j||², for qopt-prune) and `calibration` (a
    `#qopt.calibration`: the chosen range and the `!quant.uniform` type,
    written by qopt-calibrate, read by qopt-quantize). A `second_moment`
    observer (GPTQ, bias correction) carries `second_moment` (a
    `#qopt.second_moment`: E[x] and E[x xᵀ] of the rows the consuming layer
    multiplies its weight with); on a convolution's NCHW input its
    `window` = [kh, kw, stride h, stride w, dilation h, dilation w] says
    how the rows are the im2col patches (absent: rows are the vectors of
    the last dimension).

    ```mlir
    %0 = qopt.observe %x {id = 3, kind = #qopt.observer<histogram>}
        : tensor<1x128x768xf32>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$input,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$id,
                       DefaultValuedAttr<QOpt_ObserverKindAttr,
                           "::mlir::qopt::ObserverKind::MinMax">:$kind,
                       OptionalAttr<QOpt_HistogramAttr>:$statistics,
                       OptionalAttr<DenseF32ArrayAttr>:$channel_absmax,
                       OptionalAttr<QOpt_CalibrationAttr>:$calibration,
                       OptionalAttr<DenseF64ArrayAttr>:$channel_sumsq,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$channel_axis,
                       OptionalAttr<DenseI64ArrayAttr>:$window,
                       OptionalAttr<QOpt_SecondMomentAttr>:$second_moment);
  let results = (outs QOpt_FloatTensor:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "int64_t":$id,
                   "::mlir::qopt::ObserverKind":$kind), [{
      build($_builder, $_state, input.getType(), input,
            $_builder.getI64IntegerAttr(id),
            ::mlir::qopt::ObserverKindAttr::get($_builder.getContext(), kind),
            /*statistics=*/nullptr, /*channel_absmax=*/nullptr,
            /*calibration=*/nullptr, /*channel_sumsq=*/nullptr,
            /*channel_axis=*/nullptr, /*window=*/nullptr,
            /*second_moment=*/nullptr);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The dimension a per-channel observer keys its statistics by.
    int64_t getChannelDim() {
      return getChannelAxis().value_or(getInput().getType().getRank() - 1);
    }
  }];
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// qopt.quantize / qopt.dequantize
//===----------------------------------------------------------------------===//

def QOpt_QuantizeOp : QOpt_Op<"quantize", [Pure]> {
  let summary = "float to quantized tensor (ONNX QuantizeLinear)";
  let description = [{
    `q = saturate(round_half_to_even(x / scale) + zero_point)`, where scale,
    zero point and the storage range come from the result's element type, a
    per-tensor (`!quant.uniform<i8:f32, 0.1:-3>`) or per-axis
    (`!quant.uniform<i8:f32:1, {0.1:0, 0.2:0}>`) uniform quantized type.
    Saturation clamps to the storage type's range (`i8` [-128, 127], `u8`
    [0, 255], `i4` [-8, 7], `u4` [0, 15], or the explicit range of the
    type). The float element type must be the type's expressed type.

    ```mlir
    %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i8:f32, 0.1>>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$input);
  let results = (outs QOpt_QuantizedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def QOpt_DequantizeOp : QOpt_Op<"dequantize", [Pure]> {
  let summary = "quantized to float tensor (ONNX DequantizeLinear)";
  let description = [{
    `x = (q - zero_point) * scale`, with scale and zero point from the
    operand's uniform quantized element type (per-tensor or per-axis). The
    result element type must be the type's expressed type.

    ```mlir
    %x = qopt.dequantize %q : tensor<4x8x!quant.uniform<i8:f32, 0.1>> -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins QOpt_QuantizedTensor:$input);
  let results = (outs QOpt_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// qopt.fake_quant
//===----------------------------------------------------------------------===//

def QOpt_FakeQuantOp : QOpt_Op<"fake_quant", [Pure, SameOperandsAndResultType]> {
  let summary = "quantize then dequantize in float (quantization-aware training)";
  let description = [{
    Simulates quantization without leaving the float domain:

    ```
    q = clamp(round_half_to_even(x / scale) + zero_point, quant_min, quant_max)
    y = (q - zero_point) * scale
    ```

    Per tensor, `scale` and `zero_point` hold one value; per axis (`axis`
    present), one value per index of dimension `axis`. `quant_min` and
    `quant_max` give the integer range ([-128, 127] for int8, [0, 255] for
    uint8, [-8, 7] for int4, narrower for "narrow range").

    Gradient (straight-through estimator, as PyTorch's
    `fake_quantize_per_{tensor,channel}_affine`): `dy/dx = 1` where
    `quant_min <= round(x / scale) + zero_point <= quant_max`, and `0` where
    the value was clamped. Scale and zero point receive no gradient through
    this op (LSQ-style learned scales are out of scope).

    ```mlir
    %y = qopt.fake_quant %x scale [0.05] zero_point [0] range [-128, 127]
        : tensor<4x8xf32>
    %z = qopt.fake_quant %w scale [0.1, 0.2] zero_point [0, 0] range [-8, 7]
        axis 0 : tensor<2x8xf32>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$input,
                       DenseF64ArrayAttr:$scale,
                       DenseI64ArrayAttr:$zero_point,
                       I64Attr:$quant_min,
                       I64Attr:$quant_max,
                       OptionalAttr<I64Attr>:$axis);
  let results = (outs QOpt_FloatTensor:$result);
  let assemblyFormat = [{
    $input `scale` $scale `zero_point` $zero_point
    `range` ` ` `[` $quant_min `,` $quant_max `]` (`axis` $axis^)?
    attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// qopt.qlinear
//===----------------------------------------------------------------------===//

def QOpt_QLinearOp : QOpt_Op<"qlinear", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<QOpt_QuantizableLayerOpInterface,
                              ["getLayerWeightName", "isQuantizedLayer"]>]> {
  let summary = "linear layer with integer weights (W8A8, W8A8 dynamic, W8, W4)";
  let description = [{
    `y[..., n] = sum_k x'[..., k] * w'[n, k] + bias[n]` where `w'` is the
    dequantized weight and `x'` the input as the `activation` mode sees it.
    The weight is integer storage, laid out `[N, K]` (`weight_format =
    int8`) or packed two values per byte `[N, K/2]` (`int4`, `uint4`;
    element `k` of a row in the low nibble of byte `k/2` when `k` is even,
    in the high nibble when odd — ONNX's int4 packing).

    * `group_size = 0`: one scale per output channel, `weight_scale: [N]`.
      `group_size = G > 0` (int4/uint4 only): one scale per block of G
      consecutive k, `weight_scale: [N, K/G]`; `uint4` weights also carry
      `weight_zero_point: [N, K/G]` (i8 values in [0, 15]);
      `w'[n, k] = (w[n, k] - zp[n, k/G]) * scale[n, k/G]`. int8 and int4
      weights are symmetric (zero point 0).
    * `activation = static` (int8 weights, per channel): the input is
      quantized with the calibrated per-tensor `input_scale` /
      `input_zero_point` to `input_storage` (`int8` or `uint8`), as
      `qopt.quantize` does; the products accumulate exactly in i32 and the
      epilogue dequantizes:
      `y = (acc[m, n] - zx * sum_k w[n, k]) * sx * sw[n] + bias[n]`.
    * `activation = dynamic` (int8 weights, per channel): each row of the
      input (a token) gets its own symmetric int8 scale at run time,
      `sx[m] = max_k |x[m, k]| / 127` (1 for an all-zero row),
      `q = clamp(round_half_to_even(x / sx[m]), -128, 127)`, then as above
      with zero point 0.
    * `activation = dynamic_block` (int4/uint4 weights, `group_size` a
      multiple of 8): each row's block of `group_size` k gets its own
      symmetric int8 scale at run time, `sx = max |x_block| / 127`,
      `q = clamp(round_half_to_even(x / sx), -127, 127)` (0 for an
      all-zero block), and `y += sx * sw[n, g] * sum(q * (w - zp))` with
      the block's sum exact in i32 (onnxruntime's MatMulNBits
      accuracy_level 4). A row holding NaN or Inf is computed as
      `none` would (docs/Runtime/W4Int8.md).
    * `weight_format = nf4` (QLoRA's NormalFloat, weight-only): each nibble
      is the index of one of 16 fixed levels in [-1, 1] (docs/Dialect/QOpt.md)
      and `weight_scale` holds each block's absmax:
      `w'[n, k] = level[w[n, k]] * scale[n, k/G]`; no zero point. With
      double quantization (`double_quant %ss`, `scale_offset = c`) the
      absmax are themselves int8: `weight_scale` is i8 [N, K/G] and
      `scale[i] = weight_scale[i] * ss[i / 256] + c` over the row-major
      flattened scales (blocks of 256, `ss` f32 [ceil(N·K/G / 256)]).
    * `activation = none` (weight-only): the float input multiplies the
      dequantized weight; the kernels dequantize blocks of the weight as
      they go and never hold it whole in float.

    The i32 accumulator cannot overflow while `K * 255 * 128 < 2^31`
    (K ≤ 65793): `qopt-quantize` leaves wider layers float.

    ```mlir
    %y = qopt.qlinear %x, %w scale %s bias %b {
        weight_format = #qopt.weight_format<int8>,
        activation = #qopt.activation<static>, input_scale = 0.02 : f64,
        input_zero_point = 0 : i64, input_storage = #qopt.storage<int8>}
        : (tensor<4x64xf32>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>)
        -> tensor<4x32xf32>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$input,
                       RankedTensorOf<[I8]>:$weight,
                       RankedTensorOf<[F32, I8]>:$weight_scale,
                       Optional<RankedTensorOf<[F32]>>:$scale_scale,
                       Optional<RankedTensorOf<[I8]>>:$weight_zero_point,
                       Optional<QOpt_FloatTensor>:$bias,
                       QOpt_WeightFormatAttr:$weight_format,
                       DefaultValuedAttr<I64Attr, "0">:$group_size,
                       QOpt_ActivationModeAttr:$activation,
                       OptionalAttr<F64Attr>:$input_scale,
                       OptionalAttr<I64Attr>:$input_zero_point,
                       OptionalAttr<QOpt_ActivationStorageAttr>:$input_storage,
                       OptionalAttr<StrAttr>:$weight_name,
                       OptionalAttr<F64Attr>:$scale_offset);
  let results = (outs QOpt_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `scale` $weight_scale
    (`double_quant` $scale_scale^)?
    (`zero_point` $weight_zero_point^)? (`bias` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// qopt.lora
//===----------------------------------------------------------------------===//

def QOpt_LoRAOp : QOpt_Op<"lora", [Pure]> {
  let summary = "low-rank adapter on a layer: base + scale · (x · Aᵀ) · Bᵀ";
  let description = [{
    Adds a LoRA adapter's contribution to the output of a layer (Hu et al.,
    2021): `y = base + scale · (input · lora_aᵀ) · lora_bᵀ`, where `base` is
    the layer's result `[..., out]`, `input` the layer's input `[..., in]`,
    `lora_a` is `[r, in]` and `lora_b` `[out, r]` (PEFT's `lora_A.weight`
    and `lora_B.weight`), and `scale` the adapter's scaling (PEFT:
    `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA, times any user
    weight). `adapter` names the adapter the matrices came from. The
    matrices have the layer's element type, or are f16/bf16 storage of a
    wider one (kept as the adapter file holds them) widened exactly when
    used.

    Since the op only reads the layer's input and output, adapters stack
    (one op per adapter) and work unmerged; `qopt-fold-lora` merges them
    into a `qopt.linear`'s constant weight, `W' = W + Σ scale · B · A`.

    A switched adapter (`select %s` with `adapter_index = k`) applies only
    when the rank-0 i64 `%s` equals `k`, and is `base` otherwise: one
    artifact carries several adapters and each call chooses one (or none,
    with a value that is no adapter's index).

    ```mlir
    %y = qopt.linear %x, %w : (tensor<4x16xf32>, tensor<32x16xf32>) -> tensor<4x32xf32>
    %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "sql"}
        : (tensor<4x32xf32>, tensor<4x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>)
        -> tensor<4x32xf32>
    ```
  }];
  let arguments = (ins QOpt_FloatTensor:$base, QOpt_FloatTensor:$input,
                       QOpt_FloatTensor:$lora_a, QOpt_FloatTensor:$lora_b,
                       Optional<0DTensorOf<[I64]>>:$selector,
                       F64Attr:$scale, StrAttr:$adapter,
                       OptionalAttr<I64Attr>:$adapter_index);
  let results = (outs QOpt_FloatTensor:$result);
  let assemblyFormat = [{
    $base `,` $input `,` $lora_a `,` $lora_b `scale` $scale
    (`select` $selector^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// qopt.bitlinear
//===----------------------------------------------------------------------===//

def QOpt_BitLinearOp : QOpt_Op<"bitlinear", [Pure,
    DeclareOpInterfaceMethods<QOpt_QuantizableLayerOpInterface,
                              ["getLayerWeightName", "isQuantizedLayer"]>]> {
  let summary = "ternary linear layer (BitNet b1.58 BitLinear)";
  let description = [{
    `y[..., n] = gamma * sum_k x'[..., k] * t[n, k] + bias[n]` with ternary
    weights `t` in {-1, 0, +1} and one per-tensor scale `gamma`
    (`weight_scale`, BitNet's absmean `max(mean |W|, 1e-5)`, or the
    magnitude of an already ternary float weight).

    `weight` holds `t` packed 2 bits a weight, `[N, K/4]` bytes (K a
    multiple of 4): weight k of row n is in bits `2*(k%4)` and `2*(k%4)+1`
    of byte `k/4` as the code `t + 1` (0: -1, 1: 0, 2: +1; 3 is invalid).

    * `activation = none`: `x' = x` (f32 times ternary, accumulated in f32),
      the semantics of a float model whose weights are ternary.
    * `activation = per_token_int8` (BitNet b1.58): each row of the input
      (a token) is quantized by its absmax,
      `s[m] = 127 / max(max_k |x[m, k]|, 1e-5)`,
      `q = clamp(round_half_to_even(x * s[m]), -128, 127)`; the integer
      products accumulate exactly in i32 and
      `y = float(acc) * gamma / s[m] + bias[n]`.

    ```mlir
    %y = qopt.bitlinear %x, %w scale 0.0125 bias %b {
        activation = #qopt.bitlinear_activation<per_token_int8>}
        : (tensor<4x64xf32>, tensor<32x16xi8>, tensor<32xf32>)
        -> tensor<4x32xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$input,
                       RankedTensorOf<[I8]>:$weight,
                       Optional<RankedTensorOf<[F32]>>:$bias,
                       F64Attr:$weight_scale,
                       QOpt_BitLinearActivationAttr:$activation,
                       OptionalAttr<StrAttr>:$weight_name);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $input `,` $weight `scale` $weight_scale (`bias` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // QOPT_DIALECT_QOPT_IR_QOPTOPS_TD
