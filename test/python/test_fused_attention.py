"""The fused attention and norm kernels (issue 22) end to end: ONNX graphs
in the shapes torch exports (MatMul -> Div|Mul -> Add(mask)? -> Softmax ->
MatMul, heads split and merged by Reshape/Transpose or folded into one
batch dim; LayerNormalization and the decomposed RMS norm), compiled with
the kernel calls, must call the fused kernels (checked in the emitted
module) and match onnxruntime and our unfused build (--no-kernels) to 1e-5
relative to the output's largest magnitude.
"""

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "ptq"))
bench_w4 = pytest.importorskip("bench_w4")


def compile_model(build_dir, path, out, *flags):
    subprocess.run([os.path.join(build_dir, "bin", "quant-compile"), path,
                    "-o", out, *flags], check=True, capture_output=True)


def emitted(build_dir, path, tmp):
    out = os.path.join(tmp, "module.mlir")
    compile_model(build_dir, path, out, "--emit=mlir")
    with open(out) as f:
        return f.read()


def run_ours(build_dir, so, feeds, tmp):
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            tmp, "--threads", "2"]
    for name, value in feeds.items():
        p = os.path.join(tmp, f"{name}.npy")
        np.save(p, value)
        args += ["--input", f"{name}={p}"]
    subprocess.run(args, check=True, capture_output=True)
    return np.load(os.path.join(tmp, "output.npy"))


def run_ort(path, feeds):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def check(build_dir, tmp_path, model, feeds, kernels):
    """Compiles `model` fused and unfused; asserts the fused module calls
    every kernel in `kernels` and matches onnxruntime and the unfused
    build."""
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    text = emitted(build_dir, path, str(tmp_path))
    for k in kernels:
        assert f"@{k}" in text, f"{k} not called"
    fused, plain = str(tmp_path / "fused.so"), str(tmp_path / "plain.so")
    compile_model(build_dir, path, fused)
    compile_model(build_dir, path, plain, "--no-kernels")
    got = run_ours(build_dir, fused, feeds, str(tmp_path))
    ref = run_ort(path, feeds)
    unfused = run_ours(build_dir, plain, feeds, str(tmp_path))
    scale = np.abs(ref).max()
    assert np.isfinite(got).all()
    assert np.abs(got - ref).max() <= 1e-5 * scale
    assert np.abs(got - unfused).max() <= 1e-5 * scale


def attention_model(seq, heads, dim, div, mask, folded, kv_seq=None):
    """x [1, seq, heads*dim] projected to Q, K, V (K/V over kv_seq tokens
    of a second input when given); scores scaled by Div(sqrt(dim)) or
    Mul(1/sqrt(dim)); mask: None, "pad" (input [1, 1, 1, kv]) or "causal"
    (constant [1, 1, seq, seq] of 0 / -inf above the diagonal); folded:
    heads folded into the batch dim ([heads, seq, dim], 3-D MatMuls)."""
    rng = np.random.default_rng(seq * 7 + heads)
    hid = heads * dim
    kv = kv_seq or seq
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(kind, ins, out, **attrs):
        nodes.append(helper.make_node(kind, ins, [out], **attrs))
        return out

    def proj(x, name, tokens):
        w = const(f"{name}.w", (rng.standard_normal((hid, hid)) /
                                np.sqrt(hid)).astype(np.float32))
        y = op("MatMul", [x, w], f"{name}.y")
        if folded:
            y = op("Reshape", [y, const(f"{name}.s", np.array(
                [tokens, heads, dim], np.int64))], f"{name}.r")
            return op("Transpose", [y], f"{name}.t", perm=[1, 0, 2])
        y = op("Reshape", [y, const(f"{name}.s", np.array(
            [1, tokens, heads, dim], np.int64))], f"{name}.r")
        return op("Transpose", [y], f"{name}.t", perm=[0, 2, 1, 3])

    kvx = "kv" if kv_seq else "x"
    q, k, v = proj("x", "q", seq), proj(kvx, "k", kv), proj(kvx, "v", kv)
    kt = op("Transpose", [k], "kt", perm=[0, 2, 1] if folded else [0, 1, 3, 2])
    s = op("MatMul", [q, kt], "scores")
    if div:
        s = op("Div", [s, const("c", np.float32(np.sqrt(dim)))], "scaled")
    else:
        s = op("Mul", [s, const("c", np.float32(1 / np.sqrt(dim)))], "scaled")
    inputs = [helper.make_tensor_value_info("x", T.FLOAT, [1, seq, hid])]
    if kv_seq:
        inputs.append(helper.make_tensor_value_info("kv", T.FLOAT,
                                                    [1, kv, hid]))
    if mask == "pad":
        inputs.append(helper.make_tensor_value_info("mask", T.FLOAT,
                                                    [1, 1, 1, kv]))
        s = op("Add", [s, "mask"], "masked")
    elif mask == "causal":
        tri = np.triu(np.full((seq, kv), -np.inf, np.float32), 1)
        s = op("Add", [s, const("causal", tri.reshape(1, 1, seq, kv))],
               "masked")
    p = op("Softmax", [s], "probs", axis=-1)
    o = op("MatMul", [p, v], "ctx")
    if folded:
        o = op("Transpose", [o], "merged", perm=[1, 0, 2])
    else:
        o = op("Transpose", [o], "merged", perm=[0, 2, 1, 3])
    op("Reshape", [o, const("os", np.array([1, seq, hid], np.int64))],
       "output")
    graph = helper.make_graph(
        nodes, "attention", inputs,
        [helper.make_tensor_value_info("output", T.FLOAT, [1, seq, hid])],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8)


@pytest.mark.parametrize("seq,heads,dim,div,mask,folded", [
    (32, 4, 64, True, "pad", False),   # BERT: Div, padding mask
    (32, 4, 64, False, None, False),   # Llama/ViT: Mul, no mask
    (17, 2, 40, False, "causal", False),  # GPT-2: causal mask constant
    (20, 3, 16, True, None, True),     # heads folded into the batch dim
    (300, 2, 32, False, "causal", False),  # two key tiles (online softmax)
])
def test_attention_chain(build_dir, tmp_path, seq, heads, dim, div, mask,
                         folded):
    model = attention_model(seq, heads, dim, div, mask, folded)
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((1, seq, heads * dim)).astype(np.float32)}
    if mask == "pad":
        m = np.zeros((1, 1, 1, seq), np.float32)
        m[..., seq - 5:] = -10000.0
        feeds["mask"] = m
    check(build_dir, tmp_path, model, feeds, ["qopt_kernel_attention_f32"])


def test_cross_attention_lengths(build_dir, tmp_path):
    # Queries and keys of different lengths (decoder cross-attention).
    model = attention_model(5, 2, 16, False, None, False, kv_seq=37)
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((1, 5, 32)).astype(np.float32),
             "kv": rng.standard_normal((1, 37, 32)).astype(np.float32)}
    check(build_dir, tmp_path, model, feeds, ["qopt_kernel_attention_f32"])


@pytest.mark.parametrize("arch", ["llama", "bert", "vit", "qwen2"])
def test_transformer_blocks(build_dir, tmp_path, arch):
    # benchmarks/cpu/bench_transformers.py's blocks, 2 layers.
    model = bench_w4.build(arch, 2, 32, seed=3)
    x = np.random.default_rng(3).standard_normal(
        (1, 32, bench_w4.HIDDEN)).astype(np.float32)
    check(build_dir, tmp_path, model, {"hidden_states": x},
          ["qopt_kernel_attention_f32", "qopt_kernel_norm_f32"])


def test_unfused_without_kernels(build_dir, tmp_path):
    # --no-kernels keeps the generated loops: no fused call.
    model = attention_model(8, 2, 8, True, None, False)
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    out = str(tmp_path / "m.mlir")
    compile_model(build_dir, path, out, "--emit=mlir", "--no-kernels")
    with open(out) as f:
        assert "qopt_kernel_attention_f32" not in f.read()


def norm_model(kind, shape, opset=17):
    """LayerNormalization (with and without B), RMSNormalization, or the
    RMS norm torch exports decomposed (Mul, ReduceMean, Add, Sqrt, Div,
    Mul), over the last dim."""
    rng = np.random.default_rng(len(kind))
    n = shape[-1]
    g = numpy_helper.from_array(
        (1 + 0.1 * rng.standard_normal(n)).astype(np.float32), "g")
    b = numpy_helper.from_array(
        (0.1 * rng.standard_normal(n)).astype(np.float32), "b")
    eps = numpy_helper.from_array(np.float32(1e-6), "eps")
    inits = [g]
    if kind == "ln":
        nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"],
                                  ["output"], axis=-1, epsilon=1e-5)]
        inits.append(b)
    elif kind == "ln_nobias":
        nodes = [helper.make_node("LayerNormalization", ["x", "g"],
                                  ["output"], axis=-1, epsilon=1e-5)]
    elif kind == "rms":
        nodes = [helper.make_node("RMSNormalization", ["x", "g"], ["output"],
                                  axis=-1, epsilon=1e-6)]
    elif kind == "decomposed_ln":
        # torch before LayerNormalization: ReduceMean, Sub, Pow 2,
        # ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta.
        two = numpy_helper.from_array(np.float32(2.0), "two")
        nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1],
                                  keepdims=1),
                 helper.make_node("Sub", ["x", "m"], ["d"]),
                 helper.make_node("Pow", ["d", "two"], ["p"]),
                 helper.make_node("ReduceMean", ["p"], ["v"], axes=[-1],
                                  keepdims=1),
                 helper.make_node("Add", ["v", "eps"], ["a"]),
                 helper.make_node("Sqrt", ["a"], ["s"]),
                 helper.make_node("Div", ["d", "s"], ["n"]),
                 helper.make_node("Mul", ["n", "g"], ["y"]),
                 helper.make_node("Add", ["y", "b"], ["output"])]
        inits += [b, eps, two]
    else:
        nodes = [helper.make_node("Mul", ["x", "x"], ["xx"]),
                 helper.make_node("ReduceMean", ["xx"], ["ms"], axes=[-1],
                                  keepdims=1),
                 helper.make_node("Add", ["ms", "eps"], ["a"]),
                 helper.make_node("Sqrt", ["a"], ["r"]),
                 helper.make_node("Div", ["x", "r"], ["d"]),
                 helper.make_node("Mul", ["d", "g"], ["output"])]
        inits.append(eps)
    graph = helper.make_graph(
        nodes, kind, [helper.make_tensor_value_info("x", T.FLOAT, shape)],
        [helper.make_tensor_value_info("output", T.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(
        "", opset)], ir_version=10 if opset >= 23 else 8)


@pytest.mark.parametrize("kind,shape,opset", [
    ("ln", [2, 37, 768], 17),
    ("ln_nobias", [5, 100], 17),
    ("decomposed_rms", [1, 32, 256], 17),
    ("decomposed_rms", [3, 7, 1000], 17),
    ("rms", [4, 9, 64], 23),
    ("decomposed_ln", [2, 33, 768], 17),
])
def test_norm(build_dir, tmp_path, kind, shape, opset):
    if opset >= 23 and not ort_has_opset(23):
        pytest.skip("onnxruntime without opset 23")
    model = norm_model(kind, shape, opset)
    x = (np.random.default_rng(5).standard_normal(shape) * 3 + 1).astype(
        np.float32)
    check(build_dir, tmp_path, model, {"x": x}, ["qopt_kernel_norm_f32"])


def ort_has_opset(v):
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    try:
        return state.get_all_opkernel_def is not None and any(
            k.op_name == "RMSNormalization" for k in state.get_all_opkernel_def())
    except Exception:
        return False


def onnx_attention_model(q_shape, k_shape, causal, mask_shape=None, **attrs):
    """One ONNX Attention (opset 23) node on graph inputs q, k, v (v shaped
    like k) and an optional float mask."""
    ins = ["q", "k", "v"] + (["mask"] if mask_shape else [])
    vi = helper.make_tensor_value_info
    inputs = [vi("q", T.FLOAT, q_shape), vi("k", T.FLOAT, k_shape),
              vi("v", T.FLOAT, k_shape)]
    if mask_shape:
        inputs.append(vi("mask", T.FLOAT, mask_shape))
    node = helper.make_node("Attention", ins, ["output"], is_causal=causal,
                            **attrs)
    out = list(q_shape)
    graph = helper.make_graph([node], "attention_op", inputs,
                              [vi("output", T.FLOAT, out)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)],
                             ir_version=10)


@pytest.mark.parametrize("q_shape,k_shape,causal,mask_shape,attrs", [
    ([2, 4, 16, 32], [2, 4, 16, 32], 0, None, {}),
    ([1, 8, 24, 16], [1, 2, 24, 16], 1, None, {}),            # GQA 4:1
    ([1, 4, 10, 16], [1, 2, 10, 16], 1, [1, 1, 10, 10], {"scale": 0.3}),
    ([1, 2, 6, 8], [1, 2, 9, 8], 0, [1, 2, 6, 9], {}),        # rows all -inf
    ([1, 20, 64], [1, 20, 64], 1, None,                       # 3-D inputs
     {"q_num_heads": 4, "kv_num_heads": 4}),
])
def test_onnx_attention_op(build_dir, tmp_path, q_shape, k_shape, causal,
                           mask_shape, attrs):
    model = onnx_attention_model(q_shape, k_shape, causal, mask_shape, **attrs)
    rng = np.random.default_rng(11)
    feeds = {n: rng.standard_normal(s).astype(np.float32)
             for n, s in (("q", q_shape), ("k", k_shape), ("v", k_shape))}
    if mask_shape:
        m = rng.standard_normal(mask_shape).astype(np.float32)
        m[..., 0, :] = -np.inf  # a query that sees no key: a zero row
        feeds["mask"] = m
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    assert "@qopt_kernel_attention_f32" in emitted(build_dir, path,
                                                   str(tmp_path))
    fused, plain = str(tmp_path / "fused.so"), str(tmp_path / "plain.so")
    compile_model(build_dir, path, fused)
    compile_model(build_dir, path, plain, "--no-kernels")
    got = run_ours(build_dir, fused, feeds, str(tmp_path))
    unfused = run_ours(build_dir, plain, feeds, str(tmp_path))
    scale = np.abs(unfused).max()
    assert np.isfinite(got).all()
    assert np.abs(got - unfused).max() <= 1e-5 * scale
    if mask_shape:
        assert not got.reshape(q_shape)[..., 0, :].any()
    try:
        ref = run_ort(path, feeds)
    except Exception as e:  # onnxruntime without this Attention form
        pytest.skip(f"onnxruntime: {e}")
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
