// A rank-0 dense_resource constant compiles and runs (upstream's
// memref-to-LLVM lowering alone aborts on it).
// RUN: quant-opt %s --qopt-cpu-pipeline \
// RUN: | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_libs \
// RUN: | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %s = arith.constant dense_resource<scale> : tensor<f32>
  %w = arith.constant dense_resource<weights> : tensor<2xf32>
  %e = tensor.empty() : tensor<2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> ()>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%s, %w : tensor<f32>, tensor<2xf32>) outs(%e : tensor<2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<2xf32>
  %u = tensor.cast %y : tensor<2xf32> to tensor<*xf32>
  // CHECK: data =
  // CHECK-NEXT: [1.5, 3]
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}
{-#
  dialect_resources: { builtin: {
    scale: "0x040000000000C03F",
    weights: "0x040000000000803F00000040"
  } }
#-}
