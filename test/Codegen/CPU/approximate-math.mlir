// RUN: quant-opt %s --qopt-approximate-math | FileCheck %s
// RUN: quant-opt %s --qopt-approximate-math=ops=exp | FileCheck %s --check-prefix=EXP

// By default erf, tanh, exp and log become arithmetic; sqrt (an LLVM
// intrinsic that vectorizes anyway) stays.
// CHECK-LABEL: func.func @f
// CHECK-NOT: math.erf
// CHECK-NOT: math.tanh
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK: math.fma
// CHECK: math.sqrt
// EXP-LABEL: func.func @f
// EXP: math.erf
// EXP: math.tanh
// EXP-NOT: math.exp
// EXP: math.log
func.func @f(%x: f32) -> (f32, f32, f32, f32, f32) {
  %a = math.erf %x : f32
  %b = math.tanh %x : f32
  %c = math.exp %x : f32
  %d = math.log %x : f32
  %e = math.sqrt %x : f32
  return %a, %b, %c, %d, %e : f32, f32, f32, f32, f32
}
