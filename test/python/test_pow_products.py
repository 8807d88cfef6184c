"""Pow with a constant exponent 2 or 3 compiles to products (GELU's tanh
form spent 13% of GPT-2's time in libm's powf): bit for bit what
onnxruntime computes, which special-cases the same exponents."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5])
def test_pow_constant_exponent_matches_onnxruntime(build_dir, tmp_path,
                                                   exponent):
    graph = helper.make_graph(
        [helper.make_node("Pow", ["x", "e"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 500])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 500])],
        [numpy_helper.from_array(np.array([exponent], np.float32), "e")])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 15)])
    path = os.path.join(str(tmp_path), "pow.onnx")
    onnx.save(model, path)
    x = (np.random.default_rng(0).standard_normal((2, 500)) * 10).astype(
        np.float32)
    if exponent == 0.5:
        x = np.abs(x)
    np.save(os.path.join(str(tmp_path), "x.npy"), x)
    so = os.path.join(str(tmp_path), "pow.so")
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), path,
                    "-o", so], check=True)
    out = os.path.join(str(tmp_path), "out")
    subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                    "--input", "x=" + os.path.join(str(tmp_path), "x.npy"),
                    "--output-dir", out], check=True, capture_output=True)
    got = np.load(os.path.join(out, "y.npy"))
    want = ort.InferenceSession(
        path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    if exponent == 0.5:  # powf: within an ulp of onnxruntime's
        np.testing.assert_allclose(got, want, rtol=2e-7)
    else:
        np.testing.assert_array_equal(got, want)
