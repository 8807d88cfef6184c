"""qopt-quantize (W8A8 static, QDQ form) compiled and run, against a numpy
implementation of the ONNX QuantizeLinear/DequantizeLinear formulas with
per-channel symmetric int8 weights (REFERENCE.md)."""

import os
import subprocess

import numpy as np


def qdq(x, scale, zp, lo, hi):
    """QuantizeLinear then DequantizeLinear (round half to even, saturate)."""
    q = np.clip(np.rint(x / scale) + zp, lo, hi)
    return ((q - zp) * scale).astype(np.float32)


def mlir_dense(a):
    rows = ", ".join("[" + ", ".join(f"{v:.9e}" for v in r) + "]" for r in a)
    return f"dense<[{rows}]> : tensor<{a.shape[0]}x{a.shape[1]}xf32>"


def test_w8a8_static_matches_numpy(build_dir, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w = (rng.standard_normal((12, 16)) * 0.1).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    scale, zp = np.float32(np.abs(x).max() / 127), 0
    module = f"""
func.func @main(%x: tensor<8x16xf32> {{onnx.name = "x"}}) -> (tensor<8x12xf32> {{onnx.name = "y"}}) {{
  %o = qopt.observe %x {{id = 0 : i64, calibration = #qopt.calibration<method = minmax, min = {-127 * float(scale):.17e}, max = {127 * float(scale):.17e}, type = !quant.uniform<i8:f32, {float(scale):.17e}>>}} : tensor<8x16xf32>
  %w = arith.constant {mlir_dense(w)}
  %b = arith.constant dense<[{", ".join(f"{v:.9e}" for v in b)}]> : tensor<12xf32>
  %y = qopt.linear %o, %w, %b {{weight_name = "fc"}} : (tensor<8x16xf32>, tensor<12x16xf32>, tensor<12xf32>) -> tensor<8x12xf32>
  return %y : tensor<8x12xf32>
}}
"""
    src, quantized = tmp_path / "m.mlir", tmp_path / "q.mlir"
    src.write_text(module)
    bindir = os.path.join(build_dir, "bin")
    subprocess.run([os.path.join(bindir, "quant-opt"), str(src),
                    "--qopt-quantize", "-o", str(quantized)], check=True)
    so = tmp_path / "q.so"
    subprocess.run([os.path.join(bindir, "quant-compile"), str(quantized),
                    "-o", str(so)], check=True)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([os.path.join(bindir, "quant-run"), str(so), "--input",
                    f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path)],
                   check=True, capture_output=True)
    got = np.load(tmp_path / "y.npy")

    # numpy: per-tensor int8 activations, per-row symmetric int8 weights.
    xq = qdq(x, scale, zp, -128, 127)
    ws = (np.abs(w).max(axis=1) / 127).astype(np.float32)[:, None]
    wq = qdq(w, ws, 0, -128, 127)
    want = xq @ wq.T + b
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # And it is a faithful quantization of the float layer.
    ref = x @ w.T + b
    sqnr = 10 * np.log10(np.sum(ref ** 2) / np.sum((got - ref) ** 2))
    assert sqnr > 30, sqnr
