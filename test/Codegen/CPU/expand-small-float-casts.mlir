// RUN: quant-opt %s --qopt-expand-small-float-casts --split-input-file | FileCheck %s

// extf: a lookup in the format's 256 values by the code.
// CHECK-LABEL: func.func @ext
// (0, 2^-9 = 0x3B000000, ...; 448 = 0x43E00000 then NaN at code 0x7F.)
// CHECK: %[[TABLE:.*]] = arith.constant dense<"0x000000000000003B{{.*}}0000E0430000C07F00000080{{.*}}"> : tensor<256xf32>
// CHECK: %[[BITS:.*]] = arith.bitcast %arg0 : f8E4M3FN to i8
// CHECK: %[[IDX:.*]] = arith.index_castui %[[BITS]] : i8 to index
// CHECK: %[[V:.*]] = tensor.extract %[[TABLE]][%[[IDX]]] : tensor<256xf32>
// CHECK: return %[[V]]
func.func @ext(%x: f8E4M3FN) -> f32 {
  %y = arith.extf %x : f8E4M3FN to f32
  return %y : f32
}

// -----

// truncf: binary search of |x| among the 126 midpoints of E4M3FN's 127
// non-negative finite values (7 steps), overflow to NaN (0x7F), sign bit,
// NaN to 0x7F.
// CHECK-LABEL: func.func @trunc
// CHECK: arith.constant dense<{{.*}}> : tensor<126xf32>
// CHECK: math.absf
// CHECK-COUNT-7: tensor.extract
// CHECK: arith.cmpf ogt, %{{.*}}, %{{.*}} : f32
// CHECK: arith.cmpf uno
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
func.func @trunc(%x: f32) -> f8E4M3FN {
  %y = arith.truncf %x : f32 to f8E4M3FN
  return %y : f8E4M3FN
}

// -----

// E5M2 overflows to infinity (0x7C); float4 (no NaN, no infinity) to its
// largest value (code 7), and its table has 16 entries; other casts stay.
// CHECK-LABEL: func.func @formats
// CHECK: arith.constant 124 : i8
// CHECK: tensor<16xf32>
// CHECK: arith.constant 7 : i4
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @formats(%x: f32, %c: f4E2M1FN) -> (f8E5M2, f32, f4E2M1FN, f16) {
  %a = arith.truncf %x : f32 to f8E5M2
  %b = arith.extf %c : f4E2M1FN to f32
  %e = arith.truncf %x : f32 to f4E2M1FN
  %d = arith.truncf %x : f32 to f16
  return %a, %b, %e, %d : f8E5M2, f32, f4E2M1FN, f16
}
