// RUN: quant-opt %s --qopt-lower-asserts=drop=true | FileCheck %s

// With drop (quant-compile --no-runtime-checks) the checks are erased.
// CHECK-LABEL: func.func @dropped
// CHECK-NOT: cf.assert
// CHECK-NOT: qopt_rt_fail
// CHECK: return
func.func @dropped(%ok: i1) {
  cf.assert %ok, "Reshape node 'r': counts differ"
  return
}
