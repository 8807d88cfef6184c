// qopt.bitlinear through qopt-cpu-pipeline, as generated loops and through
// the runtime's ternary kernels; both must print the values worked by hand
// below (BitNet b1.58 in its code form, shared/REFERENCE.md).
// RUN: quant-opt %s --qopt-cpu-pipeline \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s
// RUN: quant-opt %s --qopt-cpu-pipeline="kernel-calls=true" \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs,%qopt_obj_root/lib/libqopt_runtime.so \
// RUN: | FileCheck %s
// With kernel calls both contractions reach the runtime's kernels (not the
// generated loops, which would print the same values).
// RUN: quant-opt %s --qopt-cpu-pipeline="kernel-calls=true" | FileCheck %s --check-prefix=CALLS
// CALLS-DAG: llvm.call @qopt_kernel_matmul_f32t2(
// CALLS-DAG: llvm.call @qopt_kernel_matmul_s8t2(

func.func private @printMemrefF32(tensor<*xf32>)

func.func @print(%t: tensor<2x3xf32>) {
  %u = tensor.cast %t : tensor<2x3xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  // Codes t + 1, two bits each from the low end: 100 = 0x64 -> -1 0 1 0,
  // 10 = 0x0A -> 1 1 -1 -1; 85 = 0x55 -> 0 0 0 0; 0 -> -1 -1 -1 -1,
  // 2 -> 1 -1 -1 -1.
  %w = arith.constant dense<[[100, 10], [85, 85], [0, 2]]> : tensor<3x2xi8>
  %x = arith.constant dense<[[1.0, -2.0, 0.5, 4.0, 1.0, 0.0, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<2x8xf32>
  %b = arith.constant dense<[0.25, -1.0, 2.0]> : tensor<3xf32>

  // Float input: t . x = -0.5, 0, -3.5; times 0.5 plus the bias.
  // CHECK: data =
  // CHECK-NEXT: {{\[\[}}0,   -1,   0.25],
  // CHECK-NEXT: {{\[}}0.25,   -1,   2]]
  %y = qopt.bitlinear %x, %w scale 0.5 bias %b {activation = #qopt.bitlinear_activation<none>} : (tensor<2x8xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<2x3xf32>
  call @print(%y) : (tensor<2x3xf32>) -> ()

  // Per-token int8: absmax 4 -> s = 31.75; q = 32 -64 16 127 32 0 -32 64
  // (-63.5 and 63.5 tie to even); t . q = -16, 0, -111; y = acc * 0.25 /
  // 31.75. The zero token stays 0 (s = 127 / 1e-5).
  // CHECK: data =
  // CHECK-NEXT: {{\[\[}}-0.125984,   0,   -0.874016],
  // CHECK-NEXT: {{\[}}0,   0,   0]]
  %z = qopt.bitlinear %x, %w scale 0.25 {activation = #qopt.bitlinear_activation<per_token_int8>} : (tensor<2x8xf32>, tensor<3x2xi8>) -> tensor<2x3xf32>
  call @print(%z) : (tensor<2x3xf32>) -> ()
  return
}
