// RUN: quant-opt %s --qopt-fold-qdq --split-input-file | FileCheck %s --enable-var-scope
// RUN: quant-opt %s --qopt-fold-qdq --split-input-file --verify-diagnostics > /dev/null

// onnxruntime's QDQ Gemm: x -> Q -> DQ, int8 per-channel weight + DQ, int32
// bias + DQ. The layer reads x itself (qopt.qlinear quantizes it with the
// activation's scale and zero point), the weight minus its zero point is the
// int8 weight, the bias is evaluated once: (q - 0) * 0.005 per channel.
// CHECK-LABEL: func.func @gemm_static
// CHECK-NOT: qopt.dequantize
// CHECK: %[[B:.*]] = arith.constant dense_resource<b.f32> : tensor<2xf32>
// CHECK: %[[W:.*]] = arith.constant dense_resource<w.int8> : tensor<2x3xi8>
// CHECK: %[[S:.*]] = arith.constant dense_resource<w.scale> : tensor<2xf32>
// CHECK: qopt.qlinear %arg0, %[[W]] scale %[[S]] bias %[[B]]
// CHECK-SAME: activation = #qopt.activation<static>
// CHECK-SAME: input_scale = 5.000000e-02
// CHECK-SAME: input_storage = #qopt.storage<uint8>
// CHECK-SAME: input_zero_point = 128
// CHECK-SAME: weight_format = #qopt.weight_format<int8>
// CHECK-DAG: w.int8: "0x01000000017FFF0281FE"
// CHECK-DAG: w.scale: "0x04000000{{.*}}"
// CHECK-DAG: b.f32: "0x04000000CCCC4C3DCCCCCCBD"
func.func @gemm_static(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %q = qopt.quantize %x : tensor<4x3xf32> -> tensor<4x3x!quant.uniform<u8:f32, 0.05:128>>
  %dx = qopt.dequantize %q : tensor<4x3x!quant.uniform<u8:f32, 0.05:128>> -> tensor<4x3xf32>
  %wi = arith.constant dense_resource<w> : tensor<2x3xi8>
  %wq = quant.scast %wi : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.1, 0.2}>>
  %w = qopt.dequantize %wq : tensor<2x3x!quant.uniform<i8:f32:0, {0.1, 0.2}>> -> tensor<2x3xf32>
  %bi = arith.constant dense_resource<b> : tensor<2xi32>
  %bq = quant.scast %bi : tensor<2xi32> to tensor<2x!quant.uniform<i32:f32:0, {0.005, 0.01}>>
  %b = qopt.dequantize %bq : tensor<2x!quant.uniform<i32:f32:0, {0.005, 0.01}>> -> tensor<2xf32>
  %y = qopt.linear %dx, %w, %b {weight_name = "w"} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x01000000017FFF0281FE",
      b: "0x040000000A000000F6FFFFFF"
    }
  }
#-}

// -----

// A MatMul over the [1, 0] transpose of a [K, N] uint8 weight with zero
// point 128 per tensor: int8 weight = q - 128, transposed to [N, K]; the
// input's dequantize has no quantize in front, so the layer reads it.
// CHECK-LABEL: func.func @matmul_transposed_uint8
// CHECK: %[[DX:.*]] = qopt.dequantize %arg0
// CHECK: %[[W:.*]] = arith.constant dense_resource<wt.int8> : tensor<3x2xi8>
// CHECK: qopt.qlinear %[[DX]], %[[W]] scale
// CHECK-SAME: input_storage = #qopt.storage<int8>
// CHECK-SAME: input_zero_point = -3
// CHECK-NOT: linalg.transpose
// CHECK: wt.int8: "0x0100000000017FFF80FE"
func.func @matmul_transposed_uint8(%xq: tensor<5x2x!quant.uniform<i8:f32, 0.1:-3>>) -> tensor<5x3xf32> {
  %dx = qopt.dequantize %xq : tensor<5x2x!quant.uniform<i8:f32, 0.1:-3>> -> tensor<5x2xf32>
  %wi = arith.constant dense<[[-128, -1, 0], [-127, 127, 126]]> : tensor<2x3xi8>
  %wq = quant.scast %wi : tensor<2x3xi8> to tensor<2x3x!quant.uniform<u8:f32, 0.5:128>>
  %w = qopt.dequantize %wq : tensor<2x3x!quant.uniform<u8:f32, 0.5:128>> -> tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  %y = qopt.linear %dx, %wt {weight_name = "wt"} : (tensor<5x2xf32>, tensor<3x2xf32>) -> tensor<5x3xf32>
  return %y : tensor<5x3xf32>
}

// -----

// Blocked int4 weight (opset 21 block_size 2 along K of a [K, N] weight):
// a weight-only uint4 layer (int4 with zero points shifted by 8), group 2.
// CHECK-LABEL: func.func @blocked_int4
// CHECK: qopt.qlinear %arg0, %{{.*}} scale %{{.*}} zero_point %{{.*}} {
// CHECK-SAME: activation = #qopt.activation<none>
// CHECK-SAME: group_size = 2
// CHECK-SAME: weight_format = #qopt.weight_format<uint4>
// CHECK-SAME: (tensor<3x4xf32>, tensor<1x2xi8>, tensor<1x2xf32>, tensor<1x2xi8>) -> tensor<3x1xf32>
func.func @blocked_int4(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %wi = arith.constant dense<[[1], [-2], [7], [-8]]> : tensor<4x1xi4>
  %wq = quant.scast %wi : tensor<4x1xi4> to tensor<4x1x!quant.uniform<i4:f32:{0:2, 1:1}, {{0.5:1}, {0.25:-1}}>>
  %w = qopt.dequantize %wq : tensor<4x1x!quant.uniform<i4:f32:{0:2, 1:1}, {{0.5:1}, {0.25:-1}}>> -> tensor<4x1xf32>
  %e = tensor.empty() : tensor<1x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x1xf32>) outs(%e : tensor<1x4xf32>) permutation = [1, 0]
  %y = qopt.linear %x, %wt {weight_name = "w4"} : (tensor<3x4xf32>, tensor<1x4xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// Float weight + Q/DQ (the QAT form) and a float input: weight-only int8
// with the integers QuantizeLinear gives (2.0 / 0.5 = 4, -1.0 / 0.5 = -2).
// CHECK-LABEL: func.func @float_weight_qdq
// CHECK: qopt.qlinear %arg0
// CHECK-SAME: activation = #qopt.activation<none>
// CHECK: fw.int8: "0x0100000004FE"
func.func @float_weight_qdq(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %wf = arith.constant dense_resource<fw> : tensor<1x2xf32>
  %wq = qopt.quantize %wf : tensor<1x2xf32> -> tensor<1x2x!quant.uniform<i8:f32, 0.5>>
  %w = qopt.dequantize %wq : tensor<1x2x!quant.uniform<i8:f32, 0.5>> -> tensor<1x2xf32>
  %y = qopt.linear %x, %w {weight_name = "fw"} : (tensor<3x2xf32>, tensor<1x2xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
{-#
  dialect_resources: {
    builtin: {
      fw: "0x0400000000000040000080BF"
    }
  }
#-}

// -----

// QDQ convolution (padded input, per-channel filter): the padding moves
// onto x, which is quantized to int8 (uint8 zero point 130 - 128 = 2).
// CHECK-LABEL: func.func @conv
// CHECK: %[[P:.*]] = tensor.pad %arg0
// CHECK: qopt.quantize %[[P]] : tensor<1x1x4x4xf32> -> tensor<1x1x4x4x!quant.uniform<i8:f32, 2.000000e-02:2>>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x2x3x3xi32>
// CHECK-NOT: qopt.dequantize
// CHECK: conv1.int8: "0x0100000001FF0000020000FE"
func.func @conv(%x: tensor<1x1x2x2xf32>, %o: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %q = qopt.quantize %x : tensor<1x1x2x2xf32> -> tensor<1x1x2x2x!quant.uniform<u8:f32, 0.02:130>>
  %dx = qopt.dequantize %q : tensor<1x1x2x2x!quant.uniform<u8:f32, 0.02:130>> -> tensor<1x1x2x2xf32>
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %dx low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<1x1x2x2xf32> to tensor<1x1x4x4xf32>
  %fi = arith.constant dense<[[[[1, -1], [0, 0]]], [[[2, 0], [0, -2]]]]> : tensor<2x1x2x2xi8>
  %fq = quant.scast %fi : tensor<2x1x2x2xi8> to tensor<2x1x2x2x!quant.uniform<i8:f32:0, {0.1, 0.2}>>
  %f = qopt.dequantize %fq : tensor<2x1x2x2x!quant.uniform<i8:f32:0, {0.1, 0.2}>> -> tensor<2x1x2x2xf32>
  %c = linalg.conv_2d_nchw_fchw ins(%p, %f : tensor<1x1x4x4xf32>, tensor<2x1x2x2xf32>) outs(%o : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> loc("conv1")
  return %c : tensor<1x2x3x3xf32>
}

// -----

// The importer's init, the bias broadcast over batch and space, is read by
// the integer convolution's epilogue as its vector (per output channel):
// no broadcast tensor is materialized.
// CHECK-DAG: #[[$ID4:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$CH:.*]] = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @conv_bias
// CHECK-SAME: (%{{.*}}: tensor<1x1x3x3xf32>, %[[B:.*]]: tensor<2xf32>)
// CHECK: %[[ACC:.*]] = linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x2x2x2xi32>
// CHECK: linalg.generic {indexing_maps = [#[[$ID4]], #[[$CH]], #[[$CH]], #[[$CH]], #[[$ID4]]]{{.*}} ins(%[[ACC]], %[[B]],
// CHECK-NOT: linalg.broadcast
func.func @conv_bias(%x: tensor<1x1x3x3xf32>, %b: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %q = qopt.quantize %x : tensor<1x1x3x3xf32> -> tensor<1x1x3x3x!quant.uniform<u8:f32, 0.02:130>>
  %dx = qopt.dequantize %q : tensor<1x1x3x3x!quant.uniform<u8:f32, 0.02:130>> -> tensor<1x1x3x3xf32>
  %fi = arith.constant dense<[[[[1, -1], [0, 0]]], [[[2, 0], [0, -2]]]]> : tensor<2x1x2x2xi8>
  %fq = quant.scast %fi : tensor<2x1x2x2xi8> to tensor<2x1x2x2x!quant.uniform<i8:f32:0, {0.1, 0.2}>>
  %f = qopt.dequantize %fq : tensor<2x1x2x2x!quant.uniform<i8:f32:0, {0.1, 0.2}>> -> tensor<2x1x2x2xf32>
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %o = linalg.broadcast ins(%b : tensor<2xf32>) outs(%e : tensor<1x2x2x2xf32>) dimensions = [0, 2, 3]
  %c = linalg.conv_2d_nchw_fchw ins(%dx, %f : tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>) outs(%o : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> loc("conv2")
  return %c : tensor<1x2x2x2xf32>
}

// -----

// What does not fold stays float, with a remark: weight scales per input
// channel, and a dequantized input in front of a weight that is not one.
// The Q -> DQ pair left in front of the float layer is one fake_quant.
// CHECK-LABEL: func.func @stays_float
// CHECK: qopt.linear
// CHECK: %[[FQ:.*]] = qopt.fake_quant %arg0 scale [1.000000e-01] zero_point [0] range [-128, 127] : tensor<3x2xf32>
// CHECK: qopt.linear %[[FQ]], %arg1
// CHECK-NOT: qopt.qlinear
// CHECK-NOT: qopt.quantize
func.func @stays_float(%x: tensor<3x2xf32>, %w2: tensor<2x2xf32>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %wi = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>
  %wq = quant.scast %wi : tensor<2x2xi8> to tensor<2x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>>
  %w = qopt.dequantize %wq : tensor<2x2x!quant.uniform<i8:f32:1, {0.1, 0.2}>> -> tensor<2x2xf32>
  // expected-remark @+1 {{qopt-fold-qdq: linear 'per_k' stays float: weight scales per input channel}}
  %y = qopt.linear %x, %w {weight_name = "per_k"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %q = qopt.quantize %x : tensor<3x2xf32> -> tensor<3x2x!quant.uniform<i8:f32, 0.1>>
  %dx = qopt.dequantize %q : tensor<3x2x!quant.uniform<i8:f32, 0.1>> -> tensor<3x2xf32>
  // expected-remark @+1 {{qopt-fold-qdq: linear 'dynamic_w' stays float: its weight is not a dequantized constant}}
  %z = qopt.linear %dx, %w2 {weight_name = "dynamic_w"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %y, %z : tensor<3x2xf32>, tensor<3x2xf32>
}

// -----

// A product of two dequantized activations (attention's Q·Kᵀ) has no
// integer kernel: float, listed.
// CHECK-LABEL: func.func @activation_product
// CHECK: linalg.batch_matmul
func.func @activation_product(%a: tensor<1x2x3x!quant.uniform<i8:f32, 0.1>>, %b: tensor<1x3x2x!quant.uniform<i8:f32, 0.2>>, %o: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> {
  %da = qopt.dequantize %a : tensor<1x2x3x!quant.uniform<i8:f32, 0.1>> -> tensor<1x2x3xf32>
  %db = qopt.dequantize %b : tensor<1x3x2x!quant.uniform<i8:f32, 0.2>> -> tensor<1x3x2xf32>
  // expected-remark @+1 {{qopt-fold-qdq: contraction 'linalg.batch_matmul' stays float: no integer form for this contraction (a product of two activations, or a grouped / 1-D / 3-D convolution)}}
  %y = linalg.batch_matmul ins(%da, %db : tensor<1x2x3xf32>, tensor<1x3x2xf32>) outs(%o : tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  return %y : tensor<1x2x2xf32>
}
