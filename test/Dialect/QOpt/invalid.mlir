// Every verifier error of the qopt ops, with its diagnostic.
// RUN: quant-opt %s --split-input-file --verify-diagnostics

func.func @linear_weight_rank(%x: tensor<4x16xf32>, %w: tensor<16xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{'qopt.linear' op weight must be 2-D [out_features, in_features], got rank 1}}
  %y = qopt.linear %x, %w : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_rank0_input(%x: tensor<f32>, %w: tensor<32x16xf32>) -> tensor<32xf32> {
  // expected-error @+1 {{input must have rank >= 1, got a rank-0 tensor}}
  %y = qopt.linear %x, %w : (tensor<f32>, tensor<32x16xf32>) -> tensor<32xf32>
  return %y : tensor<32xf32>
}

// -----

func.func @linear_elem_types(%x: tensor<4x16xf32>, %w: tensor<32x16xf16>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input, weight and result must share one element type, got 'f32', 'f16' and 'f32'}}
  %y = qopt.linear %x, %w : (tensor<4x16xf32>, tensor<32x16xf16>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_in_features(%x: tensor<4x15xf32>, %w: tensor<32x16xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{input feature size (15) must equal the weight's in_features (16)}}
  %y = qopt.linear %x, %w : (tensor<4x15xf32>, tensor<32x16xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_bias_type(%x: tensor<4x16xf32>, %w: tensor<32x16xf32>, %b: tensor<32xf16>) -> tensor<4x32xf32> {
  // expected-error @+1 {{bias element type 'f16' must equal the input's 'f32'}}
  %y = qopt.linear %x, %w, %b : (tensor<4x16xf32>, tensor<32x16xf32>, tensor<32xf16>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_bias_rank(%x: tensor<4x16xf32>, %w: tensor<32x16xf32>, %b: tensor<1x32xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{bias must be 1-D [out_features], got rank 2}}
  %y = qopt.linear %x, %w, %b : (tensor<4x16xf32>, tensor<32x16xf32>, tensor<1x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_bias_size(%x: tensor<4x16xf32>, %w: tensor<32x16xf32>, %b: tensor<31xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{bias size (31) must equal out_features (32)}}
  %y = qopt.linear %x, %w, %b : (tensor<4x16xf32>, tensor<32x16xf32>, tensor<31xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_result_shape(%x: tensor<2x4x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x4x16xf32> {
  // expected-error @+1 {{result shape 2x4x16 must be 2x4x32 (input batch dims followed by out_features)}}
  %y = qopt.linear %x, %w : (tensor<2x4x16xf32>, tensor<32x16xf32>) -> tensor<2x4x16xf32>
  return %y : tensor<2x4x16xf32>
}

// -----

func.func @linear_empty_name(%x: tensor<4x16xf32>, %w: tensor<32x16xf32>) -> tensor<4x32xf32> {
  // expected-error @+1 {{weight_name must not be empty when present}}
  %y = qopt.linear %x, %w {weight_name = ""} : (tensor<4x16xf32>, tensor<32x16xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @linear_int_weight(%x: tensor<4x16xf32>, %w: tensor<32x16xi8>) -> tensor<4x32xf32> {
  // expected-error @+1 {{operand #1 must be ranked tensor of floating-point values}}
  %y = qopt.linear %x, %w : (tensor<4x16xf32>, tensor<32x16xi8>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

func.func @observe_duplicate_id(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-note @+1 {{first used here}}
  %0 = qopt.observe %x {id = 7} : tensor<8xf32>
  // expected-error @+1 {{'qopt.observe' op id 7 is not unique in the enclosing module}}
  %1 = qopt.observe %0 {id = 7} : tensor<8xf32>
  return %1 : tensor<8xf32>
}

// -----

func.func @observe_negative_id(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{attribute 'id' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %0 = qopt.observe %x {id = -1} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @observe_bad_kind(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+2 {{expected ::mlir::qopt::ObserverKind to be one of: minmax, histogram, channel_absmax}}
  // expected-error @+1 {{failed to parse QOpt_ObserverKindAttr parameter 'value'}}
  %0 = qopt.observe %x {id = 0, kind = #qopt.observer<entropy>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @quantize_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{float shape 4x8 must equal the quantized shape 4x9}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x9x!quant.uniform<i8:f32, 0.1>>
  return
}

// -----

func.func @quantize_expressed_type(%x: tensor<4x8xf16>) {
  // expected-error @+1 {{float element type 'f16' must equal the expressed type of the quantized type ('f32')}}
  %q = qopt.quantize %x : tensor<4x8xf16> -> tensor<4x8x!quant.uniform<i8:f32, 0.1>>
  return
}

// -----

func.func @quantize_zero_point_range(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{zero point 300 is outside the storage range [0, 255]}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<u8:f32, 0.1:300>>
  return
}

// -----

func.func @quantize_zero_point_range_int4(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{zero point -9 is outside the storage range [-8, 7]}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i4:f32, 0.1:-9>>
  return
}

// -----

func.func @quantize_non_positive_scale(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{scale -1.000000e-01 out of expressed type range}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i8:f32, -0.1>>
  return
}

// -----

func.func @quantize_zero_scale(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{scale 0.000000e+00 out of expressed type range}}
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i8:f32, 0.0>>
  return
}

// -----

func.func @quantize_per_axis_count(%x: tensor<4x3xf32>) {
  // expected-error @+1 {{scale count (2) must equal the size of axis 1 (3)}}
  %q = qopt.quantize %x : tensor<4x3xf32> -> tensor<4x3x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  return
}

// -----

func.func @quantize_per_axis_dim(%x: tensor<4x3xf32>) {
  // expected-error @+1 {{quantized dimension 2 is out of range for a tensor of rank 2}}
  %q = qopt.quantize %x : tensor<4x3xf32> -> tensor<4x3x!quant.uniform<i8:f32:2, {0.1, 0.2}>>
  return
}

// -----

func.func @quantize_per_axis_zero_point(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{zero point 128 is outside the storage range [-128, 127]}}
  %q = qopt.quantize %x : tensor<4x2xf32> -> tensor<4x2x!quant.uniform<i8:f32:1, {0.1:0, 0.2:128}>>
  return
}

// -----

func.func @quantize_any_type(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{only per-tensor (!quant.uniform<s:f, scale:zp>), per-axis and sub-channel (block-wise) uniform quantized types are supported, got '!quant.any<i8:f32>'}}
  %q = qopt.quantize %x : tensor<4x2xf32> -> tensor<4x2x!quant.any<i8:f32>>
  return
}

// -----

func.func @quantize_to_int(%x: tensor<4x2xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of quantized type values, but got 'tensor<4x2xi8>'}}
  %q = qopt.quantize %x : tensor<4x2xf32> -> tensor<4x2xi8>
  return
}

// -----

func.func @dequantize_shape(%q: tensor<4x8x!quant.uniform<i8:f32, 0.1>>) {
  // expected-error @+1 {{float shape 8x4 must equal the quantized shape 4x8}}
  %x = qopt.dequantize %q : tensor<4x8x!quant.uniform<i8:f32, 0.1>> -> tensor<8x4xf32>
  return
}

// -----

func.func @dequantize_expressed_type(%q: tensor<4x8x!quant.uniform<i8:f32, 0.1>>) {
  // expected-error @+1 {{float element type 'bf16' must equal the expressed type of the quantized type ('f32')}}
  %x = qopt.dequantize %q : tensor<4x8x!quant.uniform<i8:f32, 0.1>> -> tensor<4x8xbf16>
  return
}

// -----

func.func @dequantize_per_axis_count(%q: tensor<3x8x!quant.uniform<i8:f32:0, {0.1, 0.2}>>) {
  // expected-error @+1 {{scale count (2) must equal the size of axis 0 (3)}}
  %x = qopt.dequantize %q : tensor<3x8x!quant.uniform<i8:f32:0, {0.1, 0.2}>> -> tensor<3x8xf32>
  return
}

// -----

func.func @fake_quant_range(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{quant_min (127) must be less than quant_max (-128)}}
  %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [127, -128] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @fake_quant_no_scale(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{needs at least one scale}}
  %y = qopt.fake_quant %x scale [] zero_point [] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @fake_quant_counts(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{scale count (2) must equal the zero point count (1)}}
  %y = qopt.fake_quant %x scale [0.1, 0.2] zero_point [0] range [-128, 127] axis 0 : tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @fake_quant_negative_scale(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{scale -1.000000e-01 must be positive and finite}}
  %y = qopt.fake_quant %x scale [-0.1] zero_point [0] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @fake_quant_zero_scale(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{scale 0.000000e+00 must be positive and finite}}
  %y = qopt.fake_quant %x scale [0.0] zero_point [0] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @fake_quant_inf_scale(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{must be positive and finite}}
  %y = qopt.fake_quant %x scale [0x7FF0000000000000] zero_point [0] range [-128, 127] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @fake_quant_zero_point(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{zero point 16 is outside the range [0, 15]}}
  %y = qopt.fake_quant %x scale [0.1] zero_point [16] range [0, 15] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @fake_quant_per_tensor_two_scales(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{per-tensor fake quantization takes one scale, got 2 (set `axis` for per-axis)}}
  %y = qopt.fake_quant %x scale [0.1, 0.2] zero_point [0, 0] range [-128, 127] : tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @fake_quant_axis(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{axis 2 is out of range for a tensor of rank 2}}
  %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [-128, 127] axis 2 : tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @fake_quant_axis_count(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{scale count (3) must equal the size of axis 1 (4)}}
  %y = qopt.fake_quant %x scale [0.1, 0.2, 0.3] zero_point [0, 0, 0] range [-128, 127] axis 1 : tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @quantize_compatible_but_unequal_shape(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{float shape ?x4 must equal the quantized shape 2x4}}
  %q = qopt.quantize %x : tensor<?x4xf32> -> tensor<2x4x!quant.uniform<i8:f32, 0.1>>
  return
}

// -----

func.func @quantize_dynamic_axis(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{quantized dimension 0 must have a static size (one scale per index)}}
  %q = qopt.quantize %x : tensor<?x3xf32> -> tensor<?x3x!quant.uniform<i8:f32:0, {0.1, 0.2}>>
  return
}

// -----

func.func @dequantize_any_type(%q: tensor<4x!quant.any<i8:f32>>) {
  // expected-error @+1 {{only per-tensor (!quant.uniform<s:f, scale:zp>), per-axis and sub-channel (block-wise) uniform quantized types are supported}}
  %x = qopt.dequantize %q : tensor<4x!quant.any<i8:f32>> -> tensor<4xf32>
  return
}

// -----

func.func @dequantize_axis_rank(%q: tensor<4x!quant.uniform<i8:f32:1, {0.1, 0.2}>>) {
  // expected-error @+1 {{quantized dimension 1 is out of range for a tensor of rank 1}}
  %x = qopt.dequantize %q : tensor<4x!quant.uniform<i8:f32:1, {0.1, 0.2}>> -> tensor<4xf32>
  return
}

// -----

func.func @fake_quant_dynamic_axis(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{axis 0 must have a static size (one scale per index)}}
  %y = qopt.fake_quant %x scale [0.1, 0.2] zero_point [0, 0] range [-128, 127] axis 0 : tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

func.func @fake_quant_scale_underflows_f16(%x: tensor<4xf16>) -> tensor<4xf16> {
  // expected-error @+1 {{scale 1.000000e-09 is out of the range of 'f16'}}
  %y = qopt.fake_quant %x scale [1.0e-9] zero_point [0] range [-128, 127] : tensor<4xf16>
  return %y : tensor<4xf16>
}

// -----

func.func @fake_quant_scale_overflows_f16(%x: tensor<4xf16>) -> tensor<4xf16> {
  // expected-error @+1 {{scale 1.000000e+05 is out of the range of 'f16'}}
  %y = qopt.fake_quant %x scale [1.0e5] zero_point [0] range [-128, 127] : tensor<4xf16>
  return %y : tensor<4xf16>
}

// -----

func.func @fake_quant_range_not_exact_in_bf16(%x: tensor<4xbf16>) -> tensor<4xbf16> {
  // expected-error @+1 {{range [-32768, 32767] is not exactly representable in 'bf16'}}
  %y = qopt.fake_quant %x scale [0.5] zero_point [0] range [-32768, 32767] : tensor<4xbf16>
  return %y : tensor<4xbf16>
}

// -----

// Observer ids are unique across the module: statistics are keyed by id.
func.func @observe_a(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-note @+1 {{first used here}}
  %0 = qopt.observe %x {id = 4} : tensor<8xf32>
  return %0 : tensor<8xf32>
}
func.func @observe_b(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{'qopt.observe' op id 4 is not unique in the enclosing module}}
  %0 = qopt.observe %x {id = 4} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @histogram_odd_bins(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{histogram counts must be a non-empty, even number of bins (as many below zero as above), got 3}}
  %0 = qopt.observe %x {id = 0, statistics = #qopt.histogram<count = 4, min = -4.0, max = 7.0, range = 8.0, counts = [1.0, 2.0, 1.0]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @histogram_min_max(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{histogram min 3.000000e+00 exceeds max 1.000000e+00}}
  %0 = qopt.observe %x {id = 0, statistics = #qopt.histogram<count = 4, min = 3.0, max = 1.0, range = 8.0, counts = [1.0, 3.0]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @histogram_negative_bin(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{histogram bin counts must be >= 0}}
  %0 = qopt.observe %x {id = 0, statistics = #qopt.histogram<count = 4, min = -1.0, max = 1.0, range = 8.0, counts = [-1.0, 3.0]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @histogram_range(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{histogram range must be finite and >= 0, got -1.000000e+00}}
  %0 = qopt.observe %x {id = 0, statistics = #qopt.histogram<count = 4, min = -1.0, max = 1.0, range = -1.0, counts = [1.0, 3.0]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @histogram_count(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{histogram count must be >= 0, got -4}}
  %0 = qopt.observe %x {id = 0, statistics = #qopt.histogram<count = -4, min = -1.0, max = 1.0, range = 1.0, counts = [1.0, 3.0]>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @calibration_range(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{calibration range [2.000000e+00, 1.000000e+00] must be finite with min <= max}}
  %0 = qopt.observe %x {id = 0, calibration = #qopt.calibration<method = minmax, min = 2.0, max = 1.0, type = !quant.uniform<i8:f32, 0.1>>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @calibration_storage(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{calibration type must have 8-bit storage, got '!quant.uniform<i16:f32, 1.000000e-01>'}}
  %0 = qopt.observe %x {id = 0, calibration = #qopt.calibration<method = minmax, min = -1.0, max = 1.0, type = !quant.uniform<i16:f32, 0.1>>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @calibration_bad_method(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+2 {{expected one of [minmax, percentile, entropy, mse] for how a clipping range is chosen from an observer's statistics, got: kl}}
  // expected-error @+1 {{failed to parse QOpt_CalibrationAttr parameter 'method'}}
  %0 = qopt.observe %x {id = 0, calibration = #qopt.calibration<method = kl, min = -1.0, max = 1.0, type = !quant.uniform<i8:f32, 0.1>>} : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @calibration_expressed_type(%x: tensor<8xf16>) -> tensor<8xf16> {
  // expected-error @+1 {{'qopt.observe' op calibration type '!quant.uniform<i8:f32, 1.000000e-01>' does not express the observed 'f16'}}
  %0 = qopt.observe %x {id = 0, calibration = #qopt.calibration<method = minmax, min = -1.0, max = 1.0, type = !quant.uniform<i8:f32, 0.1>>} : tensor<8xf16>
  return %0 : tensor<8xf16>
}

// -----

func.func @channel_absmax_on_histogram(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'qopt.observe' op channel_absmax is for channel_absmax observers, this one is histogram}}
  %0 = qopt.observe %x {id = 0, kind = #qopt.observer<histogram>, channel_absmax = array<f32: 1.0, 2.0, 3.0, 4.0>} : tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @channel_absmax_count(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'qopt.observe' op channel_absmax has 3 values for 4 channels}}
  %0 = qopt.observe %x {id = 0, kind = #qopt.observer<channel_absmax>, channel_absmax = array<f32: 1.0, 2.0, 3.0>} : tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @channel_observer_with_statistics(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'qopt.observe' op a channel_absmax observer carries channel_absmax, not statistics or calibration}}
  %0 = qopt.observe %x {id = 0, kind = #qopt.observer<channel_absmax>, statistics = #qopt.histogram<count = 4, min = -1.0, max = 1.0, range = 1.0, counts = [1.0, 3.0]>} : tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// Sub-channel (block-wise) types: whole blocks only.
func.func @dequantize_partial_block(%q: tensor<3x2x!quant.uniform<i8:f32:{0:2, 1:1}, {{1.0, 1.0}, {1.0, 1.0}}>>) -> tensor<3x2xf32> {
  // expected-error @+1 {{block size 2 of dimension 0 (size 3) needs 1 whole blocks, the scales have 2}}
  %x = qopt.dequantize %q : tensor<3x2x!quant.uniform<i8:f32:{0:2, 1:1}, {{1.0, 1.0}, {1.0, 1.0}}>> -> tensor<3x2xf32>
  return %x : tensor<3x2xf32>
}

// -----

func.func @quantize_block_scales_rank(%x: tensor<4x2x2xf32>) -> tensor<4x2x2x!quant.uniform<i8:f32:{0:2}, {1.0, 1.0}>> {
  // expected-error @+1 {{sub-channel scales have rank 1, the tensor 3}}
  %q = qopt.quantize %x : tensor<4x2x2xf32> -> tensor<4x2x2x!quant.uniform<i8:f32:{0:2}, {1.0, 1.0}>>
  return %q : tensor<4x2x2x!quant.uniform<i8:f32:{0:2}, {1.0, 1.0}>>
}

// -----

func.func @dequantize_block_zero_point(%q: tensor<4x!quant.uniform<i8<-8:7>:f32:{0:2}, {1.0:9, 1.0}>>) -> tensor<4xf32> {
  // expected-error @+1 {{zero point 9 is outside the storage range [-8, 7]}}
  %x = qopt.dequantize %q : tensor<4x!quant.uniform<i8<-8:7>:f32:{0:2}, {1.0:9, 1.0}>> -> tensor<4xf32>
  return %x : tensor<4xf32>
}
