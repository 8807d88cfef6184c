// RUN: quant-opt %s --qopt-instrument-profile --split-input-file --verify-diagnostics | FileCheck %s --enable-var-scope

// Kernel calls, linalg ops and copies of a function's body are bracketed by
// begin/end calls with the same id; the names table lists "kind\tnodes" per
// id in order (file:line where no ONNX node is known), an empty entry
// last. Ops nested in a region (the linalg
// body) and calls of defined functions are not timed.
// CHECK-DAG: llvm.mlir.global external constant @qopt_profile_names("kernel conv2d_nchw_f32\09/conv1/Conv\00loops fill\09/bn+/relu\00loops generic (parallel)\09{{.*}}instrument-profile.mlir:{{[0-9]+}}\00copy\09/pad\00\00")
// CHECK-DAG: func.func private @qopt_rt_profile_begin(i64)
// CHECK-DAG: func.func private @qopt_rt_profile_end(i64)
// CHECK-LABEL: func.func @main
// CHECK: %[[ID0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: call @qopt_rt_profile_begin(%[[ID0]])
// CHECK-NEXT: call @qopt_kernel_conv2d_nchw_f32
// CHECK-NEXT: call @qopt_rt_profile_end(%[[ID0]])
// CHECK: %[[ID1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: call @qopt_rt_profile_begin(%[[ID1]])
// CHECK-NEXT: linalg.fill
// CHECK-NEXT: call @qopt_rt_profile_end(%[[ID1]])
// CHECK: %[[ID2:.*]] = arith.constant 2 : i64
// CHECK-NEXT: call @qopt_rt_profile_begin(%[[ID2]])
// CHECK-NEXT: linalg.generic
// CHECK-NOT: qopt_rt_profile
// CHECK: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: call @qopt_rt_profile_end(%[[ID2]])
// CHECK: call @qopt_rt_profile_begin
// CHECK-NEXT: memref.copy
// CHECK-NEXT: call @qopt_rt_profile_end
// CHECK-NEXT: call @helper
// CHECK-NEXT: return
func.func private @qopt_kernel_conv2d_nchw_f32(i64)
func.func @helper() {
  return
}
func.func @main(%a: memref<4xf32>, %b: memref<4xf32>, %n: i64) {
  %cst = arith.constant 0.0 : f32
  call @qopt_kernel_conv2d_nchw_f32(%n) : (i64) -> () loc("/conv1/Conv")
  linalg.fill ins(%cst : f32) outs(%a : memref<4xf32>) loc(fused["/bn", "/relu"])
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                  iterator_types = ["parallel"]}
      ins(%a : memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%x: f32, %y: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  memref.copy %a, %b : memref<4xf32> to memref<4xf32> loc("/pad")
  call @helper() : () -> ()
  return
}

// -----

// Nothing to time: the module is left alone (no table, no declarations).
// CHECK-LABEL: func.func @empty
// CHECK-NOT: qopt_profile_names
// CHECK-NOT: qopt_rt_profile
func.func @empty(%a: memref<4xf32>) {
  return
}

// -----

// expected-error @below {{qopt-instrument-profile: @qopt_profile_names is defined already (instrumented twice?)}}
module {
  llvm.mlir.global external constant @qopt_profile_names("\00") {addr_space = 0 : i32}
}
