"""Weights computed from initializers by Slice / Concat / Unsqueeze (as
PyTorch exports an LSTM: its gates reordered from i, f, g, o to ONNX's
i, o, f, c) are folded into constants at import
(lib/Import/ONNX/ConstantFolding.cpp, moveLargeConstant /
reshapeLargeConstant), whatever their size: the imported module has no
slice or concatenation left, the artifact equals onnxruntime, and W8A8
quantizes the LSTM (a computed weight was `dynamic_weight`)."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

H, I, T = 64, 96, 5  # 4H x I = 24576 elements: above the small-constant limit


def lstm_model(path):
    rng = np.random.default_rng(0)
    w_ih = rng.normal(0, 0.2, (4 * H, I)).astype(np.float32)
    w_hh = rng.normal(0, 0.2, (4 * H, H)).astype(np.float32)
    bias = rng.normal(0, 0.1, (8 * H,)).astype(np.float32)
    inits = [numpy_helper.from_array(w_ih, "w_ih"),
             numpy_helper.from_array(w_hh, "w_hh"),
             numpy_helper.from_array(bias, "bias")]
    nodes = []

    def const(name, values):
        inits.append(numpy_helper.from_array(np.array(values, np.int64),
                                             name))
        return name

    def reorder(src, out):
        # PyTorch's i, f, g, o rows -> ONNX's i, o, f, c: Slice x3 + Concat.
        parts = []
        for k, (a, b) in enumerate([(0, H), (3 * H, 4 * H), (H, 3 * H)]):
            name = f"{out}_part{k}"
            nodes.append(helper.make_node(
                "Slice", [src, const(f"{name}_s", [a]),
                          const(f"{name}_e", [b]), const(f"{name}_a", [0])],
                [name]))
            parts.append(name)
        nodes.append(helper.make_node("Concat", parts, [out + "_2d"],
                                      axis=0))
        nodes.append(helper.make_node("Unsqueeze",
                                      [out + "_2d", const(out + "_ax", [0])],
                                      [out]))
        return out

    w = reorder("w_ih", "W")
    r = reorder("w_hh", "R")
    nodes.append(helper.make_node("Unsqueeze", ["bias", const("b_ax", [0])],
                                  ["B"]))
    nodes.append(helper.make_node("LSTM", ["x", w, r, "B"], ["y", "h", "c"],
                                  hidden_size=H))
    g = helper.make_graph(
        nodes, "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, 1, I])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [T, 1, 1, H])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, path)


def test_sliced_weights_fold_and_quantize(build_dir, tmp_path):
    model = str(tmp_path / "lstm.onnx")
    lstm_model(model)
    bin_ = os.path.join(build_dir, "bin")
    mlir = subprocess.run([os.path.join(bin_, "quant-translate"),
                           "--import-onnx", model], capture_output=True,
                          text=True, check=True).stdout
    # No concatenation left, and both of the LSTM's projections (x W^T, the
    # time loop's h R^T) take constant weights.
    assert "= tensor.concat" not in mlir
    weights = re.findall(r"qopt\.linear %[\w.]+, (%[\w.]+),", mlir)
    assert len(weights) == 2, weights
    assert all(w.startswith("%cst") for w in weights), weights

    x = np.random.default_rng(1).normal(size=(T, 1, I)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    want = ort.InferenceSession(model).run(None, {"x": x})[0]
    so = str(tmp_path / "lstm.so")
    subprocess.run([os.path.join(bin_, "quant-compile"), model, "-o", so],
                   check=True)
    subprocess.run([os.path.join(bin_, "quant-run"), so, "--input",
                    f"x={tmp_path / 'x.npy'}", "--output-dir",
                    str(tmp_path / "out")], check=True, capture_output=True)
    got = np.load(tmp_path / "out" / "y.npy")
    np.testing.assert_allclose(got, want, atol=1e-5)

    calib = tmp_path / "calib"
    for s in range(3):
        (calib / f"s{s}").mkdir(parents=True)
        np.save(calib / f"s{s}" / "x.npy",
                np.random.default_rng(10 + s).normal(size=x.shape)
                .astype(np.float32))
    res = subprocess.run([os.path.join(bin_, "quant-compile"), model, "-o",
                          str(tmp_path / "q.so"), "--quantize=w8a8",
                          f"--calibration-data={calib}"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "dynamic_weight" not in res.stderr
