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


def write_adapter(directory, module, din, dout, r, alpha, seed):
    """A PEFT LoRA folder adapting `module` (A [r, din], B [dout, r]);
    returns the weight delta (alpha / r) * (B @ A), transposed to the ONNX
    MatMul layout [din, dout]."""
    import json

    from safetensors.numpy import save_file
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((r, din)) * 0.3).astype(np.float32)
    b = (rng.standard_normal((dout, r)) * 0.3).astype(np.float32)
    os.makedirs(directory, exist_ok=True)
    save_file({f"base_model.model.{module}.lora_A.weight": a,
               f"base_model.model.{module}.lora_B.weight": b},
              os.path.join(directory, "adapter_model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": r, "lora_alpha": alpha,
                   "target_modules": [module], "bias": "none",
                   "fan_in_fan_out": False}, f)
    return ((alpha / r) * (b.astype(np.float64) @ a.astype(np.float64))).T


def with_weight(model, name, delta):
    """A copy of `model` whose initializer `name` has `delta` added."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, init in enumerate(m.graph.initializer):
        if init.name == name:
            w = numpy_helper.to_array(init).astype(np.float64) + delta
            m.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(w.astype(np.float32), name))
    return m
