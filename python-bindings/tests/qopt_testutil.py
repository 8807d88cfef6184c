"""Helpers of the quant_opt tests (a module of its own: test/python has a
conftest.py too, and both run in one pytest session)."""

import os
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp_model(hidden=32, din=16, dout=8, seed=0, input_name="x"):
    """x[batch, din] -> MatMul+Add -> Relu -> MatMul+Add -> y[batch, dout]."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((din, hidden)) / np.sqrt(din)).astype(np.float32)
    b1 = (rng.standard_normal(hidden) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((hidden, dout)) / np.sqrt(hidden)).astype(np.float32)
    b2 = (rng.standard_normal(dout) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", [input_name, "w1"], ["h0"], name="/fc1/MatMul"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="/fc1/Add"),
        helper.make_node("Relu", ["h1"], ["h2"], name="/relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["h3"], name="/fc2/MatMul"),
        helper.make_node("Add", ["h3", "b2"], ["y"], name="/fc2/Add"),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", din])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", dout])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def onnxruntime_run(model, inputs):
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def quant_compile(build_dir, model_path, out, *args):
    res = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                          str(model_path), "-o", str(out), *args],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return out
