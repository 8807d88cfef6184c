// qopt.lora: round trip through the custom form, the generic form and
// bytecode.
// RUN: quant-opt %s | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | quant-opt | FileCheck %s
// RUN: quant-opt %s --emit-bytecode | quant-opt | FileCheck %s --check-prefix=BC

// CHECK-LABEL: func.func @stacked
// CHECK: %[[Y:.*]] = qopt.linear %arg0, %arg1
// CHECK: %[[Z:.*]] = qopt.lora %[[Y]], %arg0, %arg2, %arg3 scale 2.000000e+00 {adapter = "sql"} : (tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<?x4x16xf32>
// CHECK: qopt.lora %[[Z]], %arg0, %arg2, %arg3 scale 5.000000e-01 {adapter = "chat"}
// BC: qopt.lora %{{.*}} scale 2.000000e+00 {adapter = "sql"}
func.func @stacked(%x: tensor<?x4x16xf32>, %w: tensor<16x16xf32>, %a: tensor<8x16xf32>, %b: tensor<16x8xf32>) -> tensor<?x4x16xf32> {
  %y = qopt.linear %x, %w : (tensor<?x4x16xf32>, tensor<16x16xf32>) -> tensor<?x4x16xf32>
  %z = qopt.lora %y, %x, %a, %b scale 2.0 {adapter = "sql"} : (tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<?x4x16xf32>
  %u = qopt.lora %z, %x, %a, %b scale 0.5 {adapter = "chat"} : (tensor<?x4x16xf32>, tensor<?x4x16xf32>, tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<?x4x16xf32>
  return %u : tensor<?x4x16xf32>
}

// CHECK-LABEL: func.func @switched
// CHECK: qopt.lora %arg0, %arg1, %arg2, %arg3 scale 1.000000e+00 select %arg4 {adapter = "sql", adapter_index = 1 : i64} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>, tensor<i64>) -> tensor<2x32xf32>
func.func @switched(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf32>, %b: tensor<32x8xf32>, %s: tensor<i64>) -> tensor<2x32xf32> {
  %z = qopt.lora %y, %x, %a, %b scale 1.0 select %s {adapter = "sql", adapter_index = 1} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf32>, tensor<32x8xf32>, tensor<i64>) -> tensor<2x32xf32>
  return %z : tensor<2x32xf32>
}

// f16/bf16 storage of the matrices under an f32 layer.
// CHECK-LABEL: func.func @narrow_storage
// CHECK: qopt.lora %arg0, %arg1, %arg2, %arg3 scale 1.000000e+00 {adapter = "sql"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf16>, tensor<32x8xf16>) -> tensor<2x32xf32>
// CHECK: qopt.lora {{.*}} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xbf16>, tensor<32x8xbf16>) -> tensor<2x32xf32>
func.func @narrow_storage(%y: tensor<2x32xf32>, %x: tensor<2x16xf32>, %a: tensor<8x16xf16>, %b: tensor<32x8xf16>, %a2: tensor<8x16xbf16>, %b2: tensor<32x8xbf16>) -> tensor<2x32xf32> {
  %z = qopt.lora %y, %x, %a, %b scale 1.0 {adapter = "sql"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xf16>, tensor<32x8xf16>) -> tensor<2x32xf32>
  %u = qopt.lora %z, %x, %a2, %b2 scale 1.0 {adapter = "chat"} : (tensor<2x32xf32>, tensor<2x16xf32>, tensor<8x16xbf16>, tensor<32x8xbf16>) -> tensor<2x32xf32>
  return %u : tensor<2x32xf32>
}
