"""Every MatMul/Gemm with a constant weight is a layer, whatever sits
between the initializer and it (Cast from f16, Reshape, Squeeze,
Unsqueeze, Transpose, chains of them): the importer folds the chain into
the weight (WeightFolding.cpp), the float artifact matches onnxruntime,
and --quantize quantizes the layer. The report lists every matmul-like op
left float with its reason, and a scheme that quantizes nothing is an
error (issue 21)."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper, numpy_helper

# Above the importer's 4096-element constant evaluator: real weights.
K, N = 96, 64
f32 = np.float32


def weight():
    return (np.random.default_rng(0).standard_normal((K, N)) * 0.1).astype(f32)


def init(a, name):
    return numpy_helper.from_array(a, name)


def chain(kind):
    """(nodes, initializers) computing y [2, N] from x [2, K]."""
    w = weight()
    wt = np.ascontiguousarray(w.T)
    ax = init(np.array([0], np.int64), "ax")
    mm = helper.make_node("MatMul", ["x", "wk"], ["y"], name="fc/MatMul")
    if kind == "cast":
        return [helper.make_node("Cast", ["w16"], ["wk"], to=T.FLOAT), mm], \
            [init(w.astype(np.float16), "w16")]
    if kind == "reshape":
        return [helper.make_node("Reshape", ["wflat", "shape"], ["wk"]), mm], \
            [init(w.ravel(), "wflat"), init(np.array([K, N], np.int64), "shape")]
    if kind == "squeeze":
        return [helper.make_node("Squeeze", ["w3", "ax"], ["wk"]), mm], \
            [init(w[None], "w3"), ax]
    if kind == "unsqueeze_squeeze":
        return [helper.make_node("Unsqueeze", ["w", "ax"], ["w3"]),
                helper.make_node("Squeeze", ["w3", "ax"], ["wk"]), mm], \
            [init(w, "w"), ax]
    if kind == "cast_transpose":
        return [helper.make_node("Cast", ["wt16"], ["wc"], to=T.FLOAT),
                helper.make_node("Transpose", ["wc"], ["wk"], perm=[1, 0]), mm], \
            [init(wt.astype(np.float16), "wt16")]
    if kind == "reshape_transpose":
        return [helper.make_node("Reshape", ["wflat", "shape"], ["wr"]),
                helper.make_node("Transpose", ["wr"], ["wk"], perm=[1, 0]), mm], \
            [init(wt.ravel(), "wflat"), init(np.array([N, K], np.int64), "shape")]
    if kind == "flatten":
        return [helper.make_node("Flatten", ["w3"], ["wk"], axis=1), mm], \
            [init(w[:, None, :], "w3")]
    if kind == "gemm_cast":
        return [helper.make_node("Cast", ["wt64"], ["wc"], to=T.FLOAT),
                helper.make_node("Gemm", ["x", "wc", "b"], ["y"], transB=1,
                                 name="fc/Gemm")], \
            [init(wt.astype(np.float64), "wt64"), init(np.ones(N, f32), "b")]
    raise ValueError(kind)


def model(nodes, inits, out_dim=N):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, [2, K])],
                          [helper.make_tensor_value_info("y", T.FLOAT,
                                                         [2, out_dim])],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name),
                           *map(str, args)], capture_output=True, text=True)


def compile_run(build_dir, tmp_path, m, x, *flags):
    onnx.save(m, tmp_path / "m.onnx")
    r = tool(build_dir, "quant-compile", tmp_path / "m.onnx", "-o",
             tmp_path / "m.so", *flags)
    assert r.returncode == 0, r.stderr
    np.save(tmp_path / "x.npy", x)
    r = tool(build_dir, "quant-run", tmp_path / "m.so", "--input",
             f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    return np.load(tmp_path / "y.npy")


KINDS = ["cast", "reshape", "squeeze", "unsqueeze_squeeze", "flatten",
         "cast_transpose", "reshape_transpose", "gemm_cast"]


@pytest.mark.parametrize("kind", KINDS)
def test_chain_is_a_layer(build_dir, tmp_path, kind):
    m = model(*chain(kind))
    onnx.save(m, tmp_path / "m.onnx")
    r = tool(build_dir, "quant-translate", "--import-onnx", tmp_path / "m.onnx")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("qopt.linear") == 1, r.stdout
    x = np.random.default_rng(1).standard_normal((2, K)).astype(f32)
    ref = ort.InferenceSession(m.SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(
                                   None, {"x": x})[0]
    np.testing.assert_allclose(compile_run(build_dir, tmp_path, m, x), ref,
                               rtol=1e-5, atol=1e-5)
    # Quantized: int8 weights (per channel), close to float.
    got = compile_run(build_dir, tmp_path, m, x, "--quantize=w8")
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert 0 < err < 0.02, err
    r = tool(build_dir, "quant-compile", tmp_path / "m.onnx", "-o", "-",
             "--emit=mlir", "--quantize=w8")
    assert r.returncode == 0, r.stderr
    # The initializer's int8 blob and scales (named after it) are there.
    name = chain(kind)[1][0].name
    assert f"{name}.int8" in r.stdout and f"{name}.scale" in r.stdout


def attention_model():
    """x @ Wq (a layer), scores = q @ xᵀ (activations only), a computed
    weight (Add of two constants, evaluated at run time) and an excluded
    head."""
    rng = np.random.default_rng(2)
    wq = rng.standard_normal((K, K)).astype(f32) * 0.1
    wh = rng.standard_normal((K, N)).astype(f32) * 0.1
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="attn/q_proj"),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
        helper.make_node("MatMul", ["q", "xt"], ["s"], name="attn/scores"),
        helper.make_node("MatMul", ["s", "x"], ["ctx"], name="attn/context"),
        helper.make_node("Add", ["wh", "wh"], ["w2"], name="mix/Add"),
        helper.make_node("MatMul", ["ctx", "w2"], ["h"], name="mix/MatMul"),
        helper.make_node("MatMul", ["h", "wo"], ["y"], name="head/MatMul"),
    ]
    inits = [init(wq, "wq"), init(wh, "wh"),
             init(rng.standard_normal((N, N)).astype(f32) * 0.1, "wo")]
    return model(nodes, inits)


def test_report_lists_ops_left_float(build_dir, tmp_path):
    m = attention_model()
    onnx.save(m, tmp_path / "m.onnx")
    data = tmp_path / "data"
    rng = np.random.default_rng(3)
    for i in range(2):
        os.makedirs(data / str(i))
        np.save(data / str(i) / "x.npy",
                rng.standard_normal((2, K)).astype(f32))
    report = tmp_path / "r.json"
    r = tool(build_dir, "quant-compile", tmp_path / "m.onnx", "-o",
             tmp_path / "m.so", "--quantize=w8", "--exclude=wo",
             f"--calibration-data={data}", f"--report={report}")
    assert r.returncode == 0, r.stderr
    rep = json.loads(report.read_text())
    left = {(e["name"], e["reason"]) for e in rep["not_quantized"]}
    assert left == {("attn/scores", "dynamic_weight"),
                    ("attn/context", "dynamic_weight"),
                    ("mix/MatMul", "dynamic_weight"),
                    ("wo", "excluded")}, left
    layers = {e["name"]: e for e in rep["layers"]}
    assert layers["wq"]["quantized_as"].startswith("int8")
    assert layers["wo"]["not_quantized"] == "excluded"
    assert "left float:" in r.stdout + r.stderr


def test_scheme_that_quantizes_nothing_is_an_error(build_dir, tmp_path):
    m = attention_model()
    onnx.save(m, tmp_path / "m.onnx")
    r = tool(build_dir, "quant-compile", tmp_path / "m.onnx", "-o",
             tmp_path / "m.so", "--quantize=w4", "--exclude=wq|wo")
    assert r.returncode != 0
    assert "qopt-quantize: scheme w4 quantized no layer: 5 matmul-like op(s) " \
        "left float" in r.stderr
    assert "qopt.linear 'wq': excluded" in r.stderr
    assert not (tmp_path / "m.so").exists()
