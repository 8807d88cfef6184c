// RUN: quant-opt %s --convert-qopt-to-linalg --split-input-file | FileCheck %s

// CHECK-DAG: #[[$BIAS:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-DAG: #[[$ID3:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$IN:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @linear_bias_dynamic_batch
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x16xf32>, %[[WT:.*]]: tensor<32x16xf32>, %[[B:.*]]: tensor<32xf32>)
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[D0:.*]] = tensor.dim %[[X]], %[[C0]]
// CHECK: %[[E:.*]] = tensor.empty(%[[D0]]) : tensor<?x4x32xf32>
// CHECK: %[[INIT:.*]] = linalg.generic {indexing_maps = [#[[$BIAS]], #[[$ID3]]], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[B]] : tensor<32xf32>) outs(%[[E]]
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[$IN]], #[[$W]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[X]], %[[WT]] : {{.*}}) outs(%[[INIT]]
// CHECK: ^bb0(%[[A:.*]]: f32, %[[BB:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A]], %[[BB]]
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[P]]
// CHECK-NEXT: linalg.yield %[[S]]
// CHECK: return %[[Y]]
func.func @linear_bias_dynamic_batch(%x: tensor<?x4x16xf32>, %w: tensor<32x16xf32>, %b: tensor<32xf32>) -> tensor<?x4x32xf32> {
  %y = qopt.linear %x, %w, %b {weight_name = "fc"} : (tensor<?x4x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<?x4x32xf32>
  return %y : tensor<?x4x32xf32>
}

// -----

// CHECK-LABEL: func.func @linear_no_bias
// CHECK: %[[Z:.*]] = arith.constant 0.000000e+00 : f16
// CHECK: %[[F:.*]] = linalg.fill ins(%[[Z]] : f16) outs(%{{.*}} : tensor<8x32xf16>)
// CHECK: linalg.generic {{.*}} outs(%[[F]] : tensor<8x32xf16>)
func.func @linear_no_bias(%x: tensor<8x16xf16>, %w: tensor<32x16xf16>) -> tensor<8x32xf16> {
  %y = qopt.linear %x, %w : (tensor<8x16xf16>, tensor<32x16xf16>) -> tensor<8x32xf16>
  return %y : tensor<8x32xf16>
}

// -----

// Per-tensor int8: divide, round half to even, clamp to [-128, 127] minus
// the zero point (constant bounds, compare + select: one vector max / min
// each), add the zero point, NaN to the zero point, convert to signed
// storage.
// CHECK-LABEL: func.func @quantize_per_tensor
// CHECK-DAG: %[[S:.*]] = arith.constant 1.000000e-01 : f32
// CHECK-DAG: %[[ZP:.*]] = arith.constant -3.000000e+00 : f32
// CHECK: %[[I:.*]] = linalg.generic
// CHECK: ^bb0(%[[V:.*]]: f32, %{{.*}}: i8):
// CHECK: %[[D:.*]] = arith.divf %[[V]], %[[S]]
// CHECK: %[[R:.*]] = math.roundeven %[[D]]
// CHECK-DAG: %[[LO:.*]] = arith.constant -1.250000e+02
// CHECK-DAG: %[[HI:.*]] = arith.constant 1.300000e+02
// CHECK: %[[B:.*]] = arith.cmpf olt, %[[R]], %[[LO]]
// CHECK: %[[M1:.*]] = arith.select %[[B]], %[[LO]], %[[R]]
// CHECK: %[[A:.*]] = arith.cmpf ogt, %[[M1]], %[[HI]]
// CHECK: %[[M2:.*]] = arith.select %[[A]], %[[HI]], %[[M1]]
// CHECK: %[[Q:.*]] = arith.addf %[[M2]], %[[ZP]]
// CHECK: %[[NAN:.*]] = arith.cmpf uno, %[[V]], %[[V]]
// CHECK: %[[SEL:.*]] = arith.select %[[NAN]], %[[ZP]], %[[Q]]
// CHECK: arith.fptosi %[[SEL]] : f32 to i8
// CHECK: quant.scast %[[I]] : tensor<4x8xi8> to tensor<4x8x!quant.uniform<i8:f32, 1.000000e-01:-3>>
func.func @quantize_per_tensor(%x: tensor<4x8xf32>) -> tensor<4x8x!quant.uniform<i8:f32, 0.1:-3>> {
  %q = qopt.quantize %x : tensor<4x8xf32> -> tensor<4x8x!quant.uniform<i8:f32, 0.1:-3>>
  return %q : tensor<4x8x!quant.uniform<i8:f32, 0.1:-3>>
}

// -----

// Per-axis uint8: scales and zero points are vectors read at the axis index;
// unsigned storage converts with fptoui / uitofp.
// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$AX:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @per_axis_uint8
// CHECK: %[[SV:.*]] = arith.constant dense<[1.000000e-01, 2.000000e-01, 5.000000e-01]> : tensor<3xf32>
// CHECK: %[[ZV:.*]] = arith.constant dense<[1.280000e+02, 0.000000e+00, 2.550000e+02]> : tensor<3xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$AX]], #[[$AX]], #[[$ID]]]{{.*}} ins(%{{.*}}, %[[SV]], %[[ZV]] : {{.*}}) outs(%{{.*}} : tensor<2x3xi8>)
// CHECK: arith.constant 2.550000e+02
// CHECK: arith.fptoui %{{.*}} : f32 to i8
// CHECK: %[[Q:.*]] = quant.scast
// CHECK: %[[QI:.*]] = quant.scast %[[Q]] : {{.*}} to tensor<2x3xi8>
// CHECK: linalg.generic {{.*}} ins(%[[QI]], {{.*}}) outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: ^bb0(%[[QV:.*]]: i8, %[[SC:.*]]: f32, %[[Z:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[F:.*]] = arith.uitofp %[[QV]] : i8 to f32
// CHECK-NEXT: %[[C:.*]] = arith.subf %[[F]], %[[Z]]
// CHECK-NEXT: arith.mulf %[[C]], %[[SC]]
func.func @per_axis_uint8(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %q = qopt.quantize %x : tensor<2x3xf32> -> tensor<2x3x!quant.uniform<u8:f32:1, {0.1:128, 0.2:0, 0.5:255}>>
  %d = qopt.dequantize %q : tensor<2x3x!quant.uniform<u8:f32:1, {0.1:128, 0.2:0, 0.5:255}>> -> tensor<2x3xf32>
  return %d : tensor<2x3xf32>
}

// -----

// fake_quant stays in float: the rounded value clamped to [-8, 7] minus the
// zero point (q - zp, never forming q), + 0.0 (-0 to +0, as q - zp), times
// the scale; NaN to +0 (the zero point's value).
// CHECK-LABEL: func.func @fake_quant_int4
// CHECK: linalg.generic
// CHECK: ^bb0(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[R:.*]] = math.roundeven
// CHECK: arith.constant -8.000000e+00
// CHECK: arith.constant 7.000000e+00
// CHECK: arith.cmpf olt, %[[R]]
// CHECK: arith.cmpf ogt
// CHECK-NEXT: %[[M:.*]] = arith.select
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.000000e+00
// CHECK-NEXT: %[[C:.*]] = arith.addf %[[M]], %[[Z]]
// CHECK-NEXT: %[[Y:.*]] = arith.mulf %[[C]]
// CHECK-NEXT: %[[NAN:.*]] = arith.cmpf uno, %[[V]], %[[V]]
// CHECK-NEXT: %[[Z2:.*]] = arith.constant 0.000000e+00
// CHECK-NEXT: %[[S:.*]] = arith.select %[[NAN]], %[[Z2]], %[[Y]]
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK-NOT: quant.scast
func.func @fake_quant_int4(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = qopt.fake_quant %x scale [0.5] zero_point [0] range [-8, 7] : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Outside of calibration an observer is the identity.
// CHECK-LABEL: func.func @observe_erased
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @observe_erased(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = qopt.observe %x {id = 0} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// bf16 and f16 compute in f32 (as ONNX's reference does), then convert back.
// CHECK-LABEL: func.func @bf16_quantize
// CHECK: arith.constant 2.500000e-01 : f32
// CHECK: ^bb0(%[[V:.*]]: bf16, %{{.*}}: i8):
// CHECK-NEXT: %[[E:.*]] = arith.extf %[[V]] : bf16 to f32
// CHECK-NEXT: arith.divf %[[E]], %{{.*}} : f32
// CHECK: arith.fptosi %{{.*}} : f32 to i8
// CHECK-LABEL: func.func @f16_dequantize
// CHECK: ^bb0(%[[Q:.*]]: i8, %{{.*}}: f16):
// CHECK-NEXT: %[[F:.*]] = arith.sitofp %[[Q]] : i8 to f32
// CHECK-NEXT: %[[C:.*]] = arith.subf %[[F]]
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[C]]
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[M]] : f32 to f16
// CHECK-NEXT: linalg.yield %[[T]] : f16
// CHECK-LABEL: func.func @f16_fake_quant
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @bf16_quantize(%x: tensor<8xbf16>) -> tensor<8x!quant.uniform<i8:bf16, 0.25>> {
  %q = qopt.quantize %x : tensor<8xbf16> -> tensor<8x!quant.uniform<i8:bf16, 0.25>>
  return %q : tensor<8x!quant.uniform<i8:bf16, 0.25>>
}
func.func @f16_dequantize(%q: tensor<8x!quant.uniform<i8:f16, 0.25:3>>) -> tensor<8xf16> {
  %x = qopt.dequantize %q : tensor<8x!quant.uniform<i8:f16, 0.25:3>> -> tensor<8xf16>
  return %x : tensor<8xf16>
}
func.func @f16_fake_quant(%x: tensor<8xf16>) -> tensor<8xf16> {
  %y = qopt.fake_quant %x scale [0.25] zero_point [0] range [-8, 7] : tensor<8xf16>
  return %y : tensor<8xf16>
}

// -----

// Dynamic non-axis dims and a rank-0 tensor.
// CHECK-LABEL: func.func @dynamic_per_axis
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>)
// CHECK: %[[D:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x3xf32>
// CHECK: tensor.empty(%[[D]]) : tensor<?x3xi8>
// CHECK: quant.scast %{{.*}} : tensor<?x3xi8> to tensor<?x3x!quant.uniform<i8:f32:1
// CHECK-LABEL: func.func @rank0
// CHECK: tensor.empty() : tensor<i8>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = []}
func.func @dynamic_per_axis(%x: tensor<?x3xf32>) -> tensor<?x3x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>> {
  %q = qopt.quantize %x : tensor<?x3xf32> -> tensor<?x3x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>>
  return %q : tensor<?x3x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>>
}
func.func @rank0(%x: tensor<f32>) -> tensor<!quant.uniform<i8:f32, 0.1>> {
  %q = qopt.quantize %x : tensor<f32> -> tensor<!quant.uniform<i8:f32, 0.1>>
  return %q : tensor<!quant.uniform<i8:f32, 0.1>>
}

// -----

// Sub-channel (block-wise, ONNX opset 21 block_size 2 along dimension 0):
// scale and zero point tensors [2, 3] read at [i floordiv 2, j]; a
// dimension with block size 1 is indexed directly.
// CHECK-DAG: #[[$BID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$BLK:.*]] = affine_map<(d0, d1) -> (d0 floordiv 2, d1)>
// CHECK-LABEL: func.func @dequantize_blocked_int4
// CHECK: %[[S:.*]] = arith.constant dense<{{\[\[}}5.000000e-01, 1.000000e+00, 2.000000e+00], [2.500000e-01, 1.250000e-01, 1.000000e+00]]> : tensor<2x3xf32>
// CHECK: %[[Z:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00, -8.000000e+00], [0.000000e+00, 7.000000e+00, 0.000000e+00]]> : tensor<2x3xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$BID]], #[[$BLK]], #[[$BLK]], #[[$BID]]]{{.*}} ins(%{{.*}}, %[[S]], %[[Z]] : tensor<4x3xi4>, tensor<2x3xf32>, tensor<2x3xf32>) outs(%{{.*}} : tensor<4x3xf32>)
// CHECK: arith.sitofp %{{.*}} : i4 to f32
func.func @dequantize_blocked_int4(%q: tensor<4x3x!quant.uniform<i4:f32:{0:2, 1:1}, {{0.5:1, 1.0, 2.0:-8}, {0.25, 0.125:7, 1.0}}>>) -> tensor<4x3xf32> {
  %d = qopt.dequantize %q : tensor<4x3x!quant.uniform<i4:f32:{0:2, 1:1}, {{0.5:1, 1.0, 2.0:-8}, {0.25, 0.125:7, 1.0}}>> -> tensor<4x3xf32>
  return %d : tensor<4x3xf32>
}
