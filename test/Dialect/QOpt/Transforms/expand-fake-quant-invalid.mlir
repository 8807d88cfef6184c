// RUN: quant-opt %s --qopt-expand-fake-quant --verify-diagnostics

func.func @too_wide(%x: tensor<4xf64>) -> tensor<4xf64> {
  // expected-error @+1 {{'qopt.fake_quant' op range [0, 4294967296] does not fit 32-bit storage}}
  %y = qopt.fake_quant %x scale [0.1] zero_point [0] range [0, 4294967296] : tensor<4xf64>
  return %y : tensor<4xf64>
}
