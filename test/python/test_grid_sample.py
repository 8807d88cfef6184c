"""GridSample end to end against onnxruntime: every mode, padding mode and
align_corners on a random 2-D input and a grid that reaches well outside
[-1, 1] (so that the padding modes matter), and the 3-D (volumetric) linear
and nearest modes. Cubic with border padding is checked against the ONNX
reference evaluator instead: it clamps the sampling location to the border
before taking the 4x4 neighbourhood (as the backend tests expect), where
onnxruntime clamps each neighbour."""

import itertools
import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h


def model(x_shape, g_shape, **attrs):
    node = h.make_node("GridSample", ["x", "g"], ["y"], **attrs)
    out = [x_shape[0], x_shape[1], *g_shape[1:-1]]
    graph = h.make_graph([node], "gs",
                         [h.make_tensor_value_info("x", T.FLOAT, x_shape),
                          h.make_tensor_value_info("g", T.FLOAT, g_shape)],
                         [h.make_tensor_value_info("y", T.FLOAT, out)])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 20)])


def run_ours(build_dir, path, feeds, tmp):
    so = os.path.join(tmp, "m.so")
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          path, "-o", so], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            str(tmp)]
    for name, arr in feeds.items():
        p = os.path.join(tmp, name + ".in.npy")
        np.save(p, arr)
        args += ["--input", f"{name}={p}"]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return np.load(os.path.join(tmp, "y.npy"))


CASES = [((2, 3, 5, 6), (2, 4, 7, 2), m, p, a) for m, p, a in itertools.product(
    ["linear", "nearest", "cubic"], ["zeros", "border", "reflection"], [0, 1])]
CASES += [((1, 2, 3, 4, 5), (1, 2, 3, 4, 3), m, p, a)
          for m, p, a in itertools.product(["linear", "nearest"],
                                           ["zeros", "border"], [0, 1])]


@pytest.mark.parametrize("x_shape,g_shape,mode,padding,align", CASES)
def test_grid_sample_matches_onnxruntime(build_dir, tmp_path, x_shape, g_shape,
                                         mode, padding, align):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape).astype(np.float32)
    g = rng.uniform(-1.6, 1.6, g_shape).astype(np.float32)
    path = os.path.join(tmp_path, "gs.onnx")
    onnx.save(model(x_shape, g_shape, mode=mode, padding_mode=padding,
                    align_corners=align), path)
    if mode == "cubic" and padding == "border":
        from onnx.reference import ReferenceEvaluator
        want = ReferenceEvaluator(path).run(None, {"x": x, "g": g})[0]
    else:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        want = sess.run(None, {"x": x, "g": g})[0]
    got = run_ours(build_dir, path, {"x": x, "g": g}, tmp_path)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
