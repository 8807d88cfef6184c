"""BatchNormalization folded into the preceding Conv at import
(lib/Import/ONNX/Ops/FoldBatchNorm.cpp): compiled models against
onnxruntime, with and without a Conv bias, strides/padding, a Conv output
shared with another node (not folded)."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


def build(path, conv_bias, shared, stride, seed=0):
    rng = np.random.default_rng(seed)
    cin, cout = 5, 7
    inits = [numpy_helper.from_array(
        rng.normal(0, 0.4, (cout, cin, 3, 3)).astype(np.float32), "w")]
    conv_in = ["x", "w"]
    if conv_bias:
        inits.append(numpy_helper.from_array(
            rng.normal(0, 0.3, cout).astype(np.float32), "cb"))
        conv_in.append("cb")
    for name, v in (("s", 1 + rng.normal(0, 0.3, cout)),
                    ("b", rng.normal(0, 0.2, cout)),
                    ("m", rng.normal(0, 0.5, cout)),
                    ("v", np.exp(rng.normal(0, 0.7, cout)))):
        inits.append(numpy_helper.from_array(v.astype(np.float32), name))
    nodes = [helper.make_node("Conv", conv_in, ["c"], name="conv",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[stride, stride]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"],
                              ["n"], name="bn", epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["y"], name="relu")]
    out_hw = 9 // stride + (1 if stride > 1 else 0)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                             [2, cout, out_hw, out_hw])]
    if shared:
        outputs.append(helper.make_tensor_value_info(
            "c", TensorProto.FLOAT, [2, cout, out_hw, out_hw]))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, cin, 9, 9])],
        outputs, initializer=inits)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.save(model, path)
    return str(path)


def run(build_dir, model, x, tmp):
    so = os.path.join(tmp, "m.so")
    mlir = os.path.join(tmp, "m.mlir")
    qc = os.path.join(build_dir, "bin", "quant-translate")
    subprocess.run([qc, "--import-onnx", "--fold-batchnorm", model, "-o", mlir],
                   check=True)
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), model,
                    "-o", so], check=True)
    np.save(os.path.join(tmp, "x.npy"), x)
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                          "--input", f"x={tmp}/x.npy", "--output-dir", tmp],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return open(mlir).read()


@pytest.mark.parametrize("conv_bias,shared,stride", [
    (False, False, 1), (True, False, 2), (True, True, 1)])
def test_conv_batchnorm_matches_onnxruntime(build_dir, tmp_path, conv_bias,
                                            shared, stride):
    model = build(tmp_path / "m.onnx", conv_bias, shared, stride)
    x = np.random.default_rng(1).standard_normal((2, 5, 9, 9)).astype(
        np.float32)
    ir = run(build_dir, model, x, str(tmp_path))
    # Folded unless the Conv's output is used elsewhere.
    assert ("math.sqrt" in ir) == shared
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for name, want in zip(names, sess.run(names, {"x": x})):
        got = np.load(os.path.join(tmp_path, name + ".npy"))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
