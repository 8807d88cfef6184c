// RUN: quant-opt %s --qopt-export-signature --split-input-file -verify-diagnostics

// expected-error @+1 {{qopt-export-signature: no function @main with a body to export}}
module {
  func.func private @main(tensor<4xf32>) -> tensor<4xf32>
}

// -----

// expected-error @+1 {{qopt-export-signature: input #0 of @main has type 'tensor<*xf32>'; artifacts take and return ranked tensors of float, integer or bool elements}}
func.func @main(%a: tensor<*xf32>) -> tensor<*xf32> {
  return %a : tensor<*xf32>
}

// -----

// expected-error @+1 {{qopt-export-signature: output #0 of @main has type 'tensor<2xindex>'}}
func.func @main() -> tensor<2xindex> {
  %c = arith.constant dense<0> : tensor<2xindex>
  return %c : tensor<2xindex>
}

// -----

// expected-error @+1 {{qopt-export-signature: input #0 of @main has ONNX dtype 'string', which artifacts cannot pass}}
func.func @main(%a: tensor<2xf32> {onnx.dtype = "string"}) -> tensor<2xf32> {
  return %a : tensor<2xf32>
}
