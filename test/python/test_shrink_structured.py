"""Structured pruning that makes models smaller: qopt-prune
granularity=heads|neurons and qopt-shrink-structured through attention
(reshapes into heads, transposes, batched matmuls, softmax) and gated MLPs,
checked against an independent reference: numpy picks the same heads /
neurons by the L2 norm of their weights and zeroes them in the ONNX model,
and onnxruntime runs it. The shrunk artifact and the exported shrunk ONNX
model (--emit=onnx) must equal it (1e-5) with smaller initializers."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import make_examples


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("shrink")
    for name in ("transformer", "mlp"):
        make_examples.write_model(str(root), name, calib=4, eval_=2)
    return root


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name),
                           *map(str, args)], capture_output=True, text=True)


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_artifact(build_dir, so, inp, out, x, tmp_path):
    d = tmp_path / "run"
    d.mkdir(exist_ok=True)
    np.save(d / "x.npy", x)
    r = tool(build_dir, "quant-run", so, "--input", f"{inp}={d / 'x.npy'}",
             "--output-dir", d)
    assert r.returncode == 0, r.stderr
    return np.load(d / f"{out}.npy")


def inits(model):
    return {i.name: numpy_helper.to_array(i).copy()
            for i in model.graph.initializer}


def set_init(model, name, value):
    for i in model.graph.initializer:
        if i.name == name:
            i.CopyFrom(numpy_helper.from_array(
                np.ascontiguousarray(value, np.float32), name))
            return
    raise KeyError(name)


def smallest(norms, fraction):
    """floor(fraction · n) smallest, ties to the smaller index."""
    k = int(np.floor(fraction * len(norms) + 1e-9))
    order = sorted(range(len(norms)), key=lambda i: (norms[i], i))
    return sorted(order[:k])


def matmul_weight(model, node_name):
    return next(n for n in model.graph.node if n.name == node_name).input[1]


ATTN = "/layers.0/attn/{}_proj/MatMul"


def transformer_heads_zeroed(path, fraction, heads=4):
    """numpy's head selection (L2 norm over Q/K/V columns of the head and
    o_proj's rows of it, ONNX layout [in, out]) and the model with those
    heads' parameters zeroed."""
    model = onnx.load(path)
    w = inits(model)
    names = {p: matmul_weight(model, ATTN.format(p)) for p in "qkvo"}
    d = w[names["q"]].shape[1] // heads
    sq = np.zeros(heads)
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        for p in "qkv":
            sq[h] += (w[names[p]][:, cols].astype(np.float64) ** 2).sum()
        sq[h] += (w[names["o"]][cols, :].astype(np.float64) ** 2).sum()
    pruned = smallest(np.sqrt(sq), fraction)
    w = {k: v.copy() for k, v in w.items()}
    for h in pruned:
        cols = slice(h * d, (h + 1) * d)
        for p in "qkv":
            w[names[p]][:, cols] = 0
            w[f"layers.0.attn.{p}_proj.bias"][cols] = 0
        w[names["o"]][cols, :] = 0
    for p in "qkv":
        set_init(model, names[p], w[names[p]])
        set_init(model, f"layers.0.attn.{p}_proj.bias",
                 w[f"layers.0.attn.{p}_proj.bias"])
    set_init(model, names["o"], w[names["o"]])
    return model, pruned


@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_transformer_heads_shrunk_equal_heads_zeroed(build_dir, examples,
                                                     tmp_path, fraction):
    example = examples / "transformer"
    ref_model, pruned = transformer_heads_zeroed(example / "model.onnx",
                                                 fraction)
    assert len(pruned) == int(4 * fraction)
    onnx.save(ref_model, tmp_path / "zeroed.onnx")
    ref = session(tmp_path / "zeroed.onnx")
    so, exported = tmp_path / "h.so", tmp_path / "h.onnx"
    spec = f"--prune=heads:{fraction}"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", so,
             spec, "--shrink-structured")
    assert r.returncode == 0, r.stderr
    assert "cannot shrink" not in r.stderr, r.stderr
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             exported, spec, "--shrink-structured", "--emit=onnx")
    assert r.returncode == 0, r.stderr
    # The ONNX-visible shapes shrink: Q/K/V [64, 64 - 16k], o_proj rows.
    model = onnx.load(exported)
    w = inits(model)
    kept = 64 - 16 * len(pruned)
    for p in "qkv":
        assert w[matmul_weight(model, ATTN.format(p))].shape == (64, kept)
        assert w[f"layers.0.attn.{p}_proj.bias"].shape == (kept,)
    assert w[matmul_weight(model, ATTN.format("o"))].shape == (kept, 64)
    reshape_shapes = [v for k, v in w.items() if k.endswith("_shape_shrunk")]
    assert any(list(v) == [0, 0, 4 - len(pruned), 16] for v in reshape_shapes)
    onnx.checker.check_model(model)
    exp = session(exported)
    dense = session(example / "model.onnx")
    for s in sorted(os.listdir(example / "eval")):
        x = np.load(example / "eval" / s / "hidden_states.npy")
        want = ref.run(None, {"hidden_states": x})[0]
        got = run_artifact(build_dir, so, "hidden_states", "output", x,
                           tmp_path)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exp.run(None, {"hidden_states": x})[0],
                                   want, rtol=1e-5, atol=1e-5)
        # Removing heads changed the function (the test can fail).
        assert np.abs(dense.run(None, {"hidden_states": x})[0] - want).max() \
            > 1e-4


def test_transformer_heads_report_counts_parameters(build_dir, examples,
                                                    tmp_path):
    example = examples / "transformer"
    rep = tmp_path / "r.json"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             tmp_path / "h.so", "--prune=heads:0.5", "--shrink-structured",
             "--report", rep, "--report-latency-runs=0",
             "--calibration-data", example / "calibration")
    assert r.returncode == 0, r.stderr
    report = json.loads(rep.read_text())
    layers = {l["name"]: l for l in report["layers"]}
    for p in "qkvo":
        layer = layers[f"layers.0.attn.{p}_proj.weight"]
        assert layer["parameters"]["before"] == 4096
        assert layer["parameters"]["after"] == 2048
        assert layer["sparsity"]["granularity"] == "heads"
    assert layers["layers.0.mlp.fc1.weight"]["sparsity"] is None
    assert report["parameters"]["before"] == 4 * 4096 + 2 * 16384
    assert report["parameters"]["after"] == 4 * 2048 + 2 * 16384
    assert report["weight_bytes"]["quantized"] == 4 * report["parameters"]["after"]


def test_transformer_neurons_shrink_fc1_fc2(build_dir, examples, tmp_path):
    """neurons:0.5 prunes fc1 rows + fc2 columns of the transformer's MLP
    (through the exported GELU) and leaves attention alone."""
    example = examples / "transformer"
    model = onnx.load(example / "model.onnx")
    w = inits(model)
    w1n = matmul_weight(model, "/layers.0/mlp/fc1/MatMul")
    w2n = matmul_weight(model, "/layers.0/mlp/fc2/MatMul")
    sq = (w[w1n].astype(np.float64) ** 2).sum(0) + \
        (w[w2n].astype(np.float64) ** 2).sum(1)
    pruned = smallest(np.sqrt(sq), 0.5)
    w1, b1, w2 = w[w1n].copy(), w["layers.0.mlp.fc1.bias"].copy(), w[w2n].copy()
    w1[:, pruned] = 0
    b1[pruned] = 0
    w2[pruned, :] = 0
    for n, v in ((w1n, w1), ("layers.0.mlp.fc1.bias", b1), (w2n, w2)):
        set_init(model, n, v)
    onnx.save(model, tmp_path / "zeroed.onnx")
    ref = session(tmp_path / "zeroed.onnx")
    exported = tmp_path / "n.onnx"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             exported, "--prune=neurons:0.5", "--shrink-structured",
             "--emit=onnx")
    assert r.returncode == 0, r.stderr
    got_model = onnx.load(exported)
    gw = inits(got_model)
    assert gw[w1n].shape == (64, 128) and gw[w2n].shape == (128, 64)
    assert gw[matmul_weight(got_model, ATTN.format("q"))].shape == (64, 64)
    exp = session(exported)
    for s in sorted(os.listdir(example / "eval")):
        x = np.load(example / "eval" / s / "hidden_states.npy")
        np.testing.assert_allclose(exp.run(None, {"hidden_states": x})[0],
                                   ref.run(None, {"hidden_states": x})[0],
                                   rtol=1e-5, atol=1e-5)


def test_mlp_neurons_shrunk_and_exported(build_dir, examples, tmp_path):
    """The MLP example (Gemm, transB): neurons:0.5 removes half of fc1's and
    fc2's neurons (rows + bias entries, and the next layer's columns)."""
    example = examples / "mlp"
    model = onnx.load(example / "model.onnx")
    w = inits(model)
    # Gemm transB: weights [out, in]; the regions fc1 -> fc2, fc2 -> fc3.
    zeroed = {k: v.copy() for k, v in w.items()}
    for prod, cons in (("fc1", "fc2"), ("fc2", "fc3")):
        sq = (w[f"{prod}.weight"].astype(np.float64) ** 2).sum(1) + \
            (w[f"{cons}.weight"].astype(np.float64) ** 2).sum(0)
        pruned = smallest(np.sqrt(sq), 0.5)
        zeroed[f"{prod}.weight"][pruned, :] = 0
        zeroed[f"{prod}.bias"][pruned] = 0
        zeroed[f"{cons}.weight"][:, pruned] = 0
    for k, v in zeroed.items():
        set_init(model, k, v)
    onnx.save(model, tmp_path / "zeroed.onnx")
    ref = session(tmp_path / "zeroed.onnx")
    so, exported = tmp_path / "m.so", tmp_path / "m.onnx"
    for out, extra in ((so, []), (exported, ["--emit=onnx"])):
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", out,
                 "--prune=neurons:0.5", "--shrink-structured", *extra)
        assert r.returncode == 0, r.stderr
    gw = inits(onnx.load(exported))
    assert gw["fc1.weight"].shape == (256, 256)
    assert gw["fc2.weight"].shape == (256, 256)
    assert gw["fc3.weight"].shape == (10, 256)
    assert os.path.getsize(exported) < 0.4 * os.path.getsize(example / "model.onnx")
    exp = session(exported)
    for s in sorted(os.listdir(example / "eval")):
        x = np.load(example / "eval" / s / "input.npy")
        want = ref.run(None, {"input": x})[0]
        np.testing.assert_allclose(
            run_artifact(build_dir, so, "input", "logits", x, tmp_path), want,
            rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exp.run(None, {"input": x})[0], want,
                                   rtol=1e-5, atol=1e-5)


def gated_mlp(path, rng, hidden=16, inter=32, residual=False):
    """A Llama MLP: down(silu(gate(x)) * up(x)) as MatMuls (SiLU as
    Sigmoid + Mul); with `residual`, two projections meet in an Add
    instead: down(relu(a(x) + b(x)))."""
    def f(a):
        return numpy_helper.from_array(a.astype(np.float32))
    wg = rng.normal(0, 0.3, (hidden, inter))
    wu = rng.normal(0, 0.3, (hidden, inter))
    wd = rng.normal(0, 0.3, (inter, hidden))
    inits_ = [f(wg), f(wu), f(wd)]
    for t, n in zip(inits_, ("wg", "wu", "wd")):
        t.name = n
    nodes = [helper.make_node("MatMul", ["x", "wg"], ["g"], name="/mlp/gate/MatMul"),
             helper.make_node("MatMul", ["x", "wu"], ["u"], name="/mlp/up/MatMul")]
    if residual:
        nodes += [helper.make_node("Add", ["g", "u"], ["s"], name="/mlp/Add"),
                  helper.make_node("Relu", ["s"], ["h"], name="/mlp/Relu")]
    else:
        nodes += [helper.make_node("Sigmoid", ["g"], ["sg"], name="/mlp/Sigmoid"),
                  helper.make_node("Mul", ["g", "sg"], ["a"], name="/mlp/Mul"),
                  helper.make_node("Mul", ["a", "u"], ["h"], name="/mlp/Mul_1")]
    nodes.append(helper.make_node("MatMul", ["h", "wd"], ["y"], name="/mlp/down/MatMul"))
    graph = helper.make_graph(
        nodes, "gated_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", hidden])],
        inits_)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return wg, wu, wd


@pytest.mark.parametrize("residual", [False, True])
def test_gated_mlp_neurons_prune_gate_and_up_together(build_dir, tmp_path,
                                                      residual):
    """gate and up meet in the SiLU product (or an add): a neuron is scored
    over gate's and up's columns and down's row together and removed from
    all three."""
    rng = np.random.default_rng(7)
    src = tmp_path / "gated.onnx"
    wg, wu, wd = gated_mlp(src, rng, residual=residual)
    sq = (wg.astype(np.float32).astype(np.float64) ** 2).sum(0) + \
        (wu.astype(np.float32).astype(np.float64) ** 2).sum(0) + \
        (wd.astype(np.float32).astype(np.float64) ** 2).sum(1)
    pruned = smallest(np.sqrt(sq), 0.25)
    model = onnx.load(src)
    w = inits(model)
    w["wg"][:, pruned] = 0
    w["wu"][:, pruned] = 0
    w["wd"][pruned, :] = 0
    for k, v in w.items():
        set_init(model, k, v)
    onnx.save(model, tmp_path / "zeroed.onnx")
    ref = session(tmp_path / "zeroed.onnx")
    so, exported = tmp_path / "g.so", tmp_path / "g.onnx"
    for out, extra in ((so, []), (exported, ["--emit=onnx"])):
        r = tool(build_dir, "quant-compile", src, "-o", out,
                 "--prune=neurons:0.25", "--shrink-structured", *extra)
        assert r.returncode == 0, r.stderr
    gw = inits(onnx.load(exported))
    assert gw["wg"].shape == (16, 24) and gw["wu"].shape == (16, 24)
    assert gw["wd"].shape == (24, 16)
    exp = session(exported)
    x = rng.normal(0, 1, (3, 16)).astype(np.float32)
    want = ref.run(None, {"x": x})[0]
    np.testing.assert_allclose(run_artifact(build_dir, so, "x", "y", x, tmp_path),
                               want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(exp.run(None, {"x": x})[0], want, rtol=1e-5,
                               atol=1e-5)


def test_gate_only_channels_refused_with_reason(build_dir, tmp_path):
    """channels:S prunes gate's rows alone: up still carries the neuron
    into the product, so nothing can go; the remark names up."""
    src = tmp_path / "gated.onnx"
    gated_mlp(src, np.random.default_rng(1))
    mlir = tmp_path / "g.mlir"
    assert tool(build_dir, "quant-translate", "--import-onnx", src, "-o",
                mlir).returncode == 0
    r = tool(build_dir, "quant-opt", mlir,
             "--qopt-prune-pipeline=granularity=channels sparsity=0.25 "
             "include=wg shrink=true")
    assert r.returncode == 0, r.stderr
    assert "cannot shrink layer 'wg': its zero channels are not zero in 'wu'" \
        in r.stderr, r.stderr


def test_residual_stream_refused_with_reason(build_dir, examples, tmp_path):
    """o_proj's output channels feed the residual add with the block input
    (and the LayerNorm after it): they stay, and the remark says why."""
    example = examples / "transformer"
    mlir = tmp_path / "t.mlir"
    assert tool(build_dir, "quant-translate", "--import-onnx",
                example / "model.onnx", "-o", mlir).returncode == 0
    r = tool(build_dir, "quant-opt", mlir,
             "--qopt-prune-pipeline=granularity=channels sparsity=0.25 "
             "include=o_proj shrink=true")
    assert r.returncode == 0, r.stderr
    assert "cannot shrink layer 'layers.0.attn.o_proj.weight': " in r.stderr
    assert ("meet argument #0 of the function" in r.stderr
            or "reduces over its channels" in r.stderr), r.stderr


def test_emit_onnx_pruned_errors(build_dir, examples, tmp_path):
    example = examples / "transformer"
    mlir = tmp_path / "t.mlir"
    assert tool(build_dir, "quant-translate", "--import-onnx",
                example / "model.onnx", "-o", mlir).returncode == 0
    r = tool(build_dir, "quant-compile", mlir, "-o", tmp_path / "x.onnx",
             "--prune=heads:0.5", "--emit=onnx")
    assert r.returncode != 0
    assert "--emit=onnx rewrites the source ONNX model" in r.stderr
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             tmp_path / "x.onnx", "--prune=heads:0.5", "--emit=onnx",
             "--report", tmp_path / "r.json")
    assert r.returncode != 0 and "writes no report" in r.stderr


def test_wanda_heads_artifact_equals_exported(build_dir, examples, tmp_path):
    """heads:0.5 scored by Wanda (the calibration inputs' channel norms
    pass the attention's observers): the heads go from every layer and the
    exported ONNX model computes what the artifact does."""
    example = examples / "transformer"
    so, exported = tmp_path / "w.so", tmp_path / "w.onnx"
    common = ["--prune=heads:0.5", "--prune-method=wanda", "--shrink-structured",
              "--calibration-data", example / "calibration"]
    for out, extra in ((so, []), (exported, ["--emit=onnx"])):
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", out,
                 *common, *extra)
        assert r.returncode == 0, r.stderr
    model = onnx.load(exported)
    w = inits(model)
    assert w[matmul_weight(model, ATTN.format("v"))].shape == (64, 32)
    assert w[matmul_weight(model, ATTN.format("o"))].shape == (32, 64)
    exp = session(exported)
    for s in sorted(os.listdir(example / "eval")):
        x = np.load(example / "eval" / s / "hidden_states.npy")
        np.testing.assert_allclose(
            run_artifact(build_dir, so, "hidden_states", "output", x, tmp_path),
            exp.run(None, {"hidden_states": x})[0], rtol=1e-5, atol=1e-5)


def test_heads_shrunk_then_w8a8_qdq_export(build_dir, examples, tmp_path):
    """--prune=heads:0.5 --shrink-structured --quantize=w8a8 --emit=onnx:
    the QDQ model carries the shrunk int8 weights ([64, 32] Q/K/V) and
    onnxruntime runs it to what our W8A8 artifact computes."""
    example = examples / "transformer"
    common = ["--prune=heads:0.5", "--shrink-structured", "--quantize=w8a8",
              "--calibration-data", example / "calibration"]
    so, exported = tmp_path / "q.so", tmp_path / "q.onnx"
    for out, extra in ((so, []), (exported, ["--emit=onnx"])):
        r = tool(build_dir, "quant-compile", example / "model.onnx", "-o", out,
                 *common, *extra)
        assert r.returncode == 0, r.stderr
    model = onnx.load(exported)
    w = inits(model)
    q = matmul_weight(model, ATTN.format("q"))
    assert q.endswith("_DequantizeLinear_Output")
    base = q[:-len("_DequantizeLinear_Output")]
    assert w[base + "_quantized"].shape == (64, 32)
    assert w[base + "_quantized"].dtype == np.int8
    shapes = [list(w[n.input[1]]) for n in model.graph.node
              if n.op_type == "Reshape"]
    assert shapes.count([0, 0, 2, 16]) == 3 and [0, 0, 32] in shapes
    exp = session(exported)
    for s in sorted(os.listdir(example / "eval")):
        x = np.load(example / "eval" / s / "hidden_states.npy")
        np.testing.assert_allclose(
            run_artifact(build_dir, so, "hidden_states", "output", x, tmp_path),
            exp.run(None, {"hidden_states": x})[0], rtol=1e-5, atol=1e-5)
