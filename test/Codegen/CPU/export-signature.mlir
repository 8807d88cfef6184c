// RUN: quant-opt %s --qopt-export-signature --split-input-file | FileCheck %s
// RUN: quant-opt %s --qopt-export-signature="target=cpu threads=3" --split-input-file | FileCheck %s --check-prefix=THREADS

// An imported graph: ONNX names, dtypes (uint8 is signless i8 in MLIR) and
// dim_params; a name that needs escaping.
// CHECK: llvm.mlir.global external constant @qopt_artifact_signature("qopt-artifact 1\0Atarget cpu\0Aentry main\0Athreads 0\0Ainput hidden%20states float32 3 ?batch ?sequence 64\0Ainput mask uint8 2 ?batch 4\0Aoutput /out:0 float32 3 ? ? 64\0A\00")
// CHECK-LABEL: func.func @main
// CHECK-SAME: llvm.emit_c_interface
// THREADS: threads 3
func.func @main(%x: tensor<?x?x64xf32> {onnx.name = "hidden states", onnx.dtype = "float", onnx.dim_params = ["batch", "sequence", ""]},
                %m: tensor<?x4xi8> {onnx.name = "mask", onnx.dtype = "uint8", onnx.dim_params = ["batch", ""]})
    -> (tensor<?x?x64xf32> {onnx.name = "/out:0", onnx.dtype = "float"}) {
  return %x : tensor<?x?x64xf32>
}

// -----

// Without ONNX attributes: positional names, dtypes from the element types.
// CHECK: @qopt_artifact_signature("qopt-artifact 1\0Atarget cpu\0Aentry main\0Athreads 0\0Ainput input0 int8 0\0Ainput input1 bool 1 2\0Ainput input2 uint16 1 ?\0Ainput input3 float16 1 1\0Aoutput output0 float64 0\0A\00")
func.func @main(%a: tensor<i8>, %b: tensor<2xi1>, %c: tensor<?xui16>, %d: tensor<1xf16>) -> tensor<f64> {
  %z = arith.constant dense<0.0> : tensor<f64>
  return %z : tensor<f64>
}

