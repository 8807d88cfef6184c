// RUN: quant-opt %s --convert-qopt-to-linalg --split-input-file | FileCheck %s
// RUN: quant-opt %s --convert-qopt-to-linalg --one-shot-bufferize="bufferize-function-boundaries" --convert-linalg-to-qopt-kernel-calls --split-input-file | FileCheck %s --check-prefix=CALL
// RUN: quant-opt %s --convert-qopt-to-linalg="cpu-sparse=false" --split-input-file | FileCheck %s --check-prefix=GPU

// The GPU pipeline (cpu-sparse=false) keeps the layers dense.
// GPU-NOT: qopt_kernel_matmul_csr
// GPU-NOT: .csr.

// A qopt.linear that qopt-prune made unstructured-sparse, with >= 70%
// zeros in its constant weight (here 12 of 16: 75%), stores the weight in
// CSR form (row ranges, i16 columns, f32 values) and names the runtime's
// CSR kernel; the j loop runs to the longest row (3 nonzeros in row 1).
// CHECK-LABEL: func.func @csr
// CHECK-DAG: %[[B:.*]] = arith.constant dense_resource<fc.csr.begin> : tensor<2xi32>
// CHECK-DAG: %[[E:.*]] = arith.constant dense_resource<fc.csr.end> : tensor<2xi32>
// CHECK-DAG: %[[C:.*]] = arith.constant dense_resource<fc.csr.cols> : tensor<4xi16>
// CHECK-DAG: %[[V:.*]] = arith.constant dense_resource<fc.csr.values> : tensor<4xf32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<0> : tensor<3xi8>
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: library_call = "qopt_kernel_matmul_csr_f32"
// CHECK-SAME: ins(%[[B]], %[[E]], %[[W]] :
// CHECK: arith.cmpi slt
// CHECK: tensor.extract %[[C]]
// CHECK: tensor.extract %[[V]]
// CHECK: tensor.extract %arg0
// CHECK: arith.select
// Rows [0, 1) and [1, 4); columns 6 | 1, 3, 7; values 2 | 5, 6, 8.
// CHECK: fc.csr.begin: "0x040000000000000001000000"
// CHECK: fc.csr.end: "0x040000000100000004000000"
// CHECK: fc.csr.cols: "0x020000000600010003000700"
// CHECK: fc.csr.values: "0x04000000000000400000A0400000C04000000041"
// CALL-LABEL: func.func @csr
// CALL: call @qopt_kernel_matmul_csr_f32({{.*}}) : (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CALL-NOT: linalg.generic
func.func @csr(%x: tensor<3x8xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0], [0.0, 5.0, 0.0, 6.0, 0.0, 0.0, 0.0, 8.0]]> : tensor<2x8xf32>
  %y = qopt.linear %x, %w {weight_name = "fc", qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 0.7, achieved = 0.75>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Below 70% zeros (here 50%), without the attribute, or with an n:m
// pattern: the dense product (or the 2:4 one).
// CHECK-LABEL: func.func @stays_dense
// CHECK-NOT: csr
// CHECK: return
func.func @stays_dense(%x: tensor<3x8xf32>) -> (tensor<3x2xf32>, tensor<3x2xf32>) {
  %w = arith.constant dense<[[1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 4.0], [0.0, 5.0, 6.0, 0.0, 7.0, 0.0, 0.0, 8.0]]> : tensor<2x8xf32>
  %s = arith.constant dense<[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0], [0.0, 5.0, 0.0, 6.0, 0.0, 0.0, 0.0, 8.0]]> : tensor<2x8xf32>
  %a = qopt.linear %x, %w {qopt.sparsity = #qopt.sparsity<method = magnitude, granularity = unstructured, target = 0.5, achieved = 0.5>} : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  %b = qopt.linear %x, %s : (tensor<3x8xf32>, tensor<2x8xf32>) -> tensor<3x2xf32>
  return %a, %b : tensor<3x2xf32>, tensor<3x2xf32>
}
