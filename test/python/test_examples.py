"""Tests of the example-model generator examples/make_examples.py: the
small models (transformer, mlp, cnn) are generated into a temporary
directory and checked for determinism, for the calibration-data layout,
with onnxruntime (shapes, finite values, a numpy reference of the
transformer block and of the MLP, causality of the attention) and, last,
with our importer (quant-translate)."""

import filecmp
import json
import math
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import make_examples

MODELS = ("transformer", "mlp", "cnn")
N_CALIB, N_EVAL = 6, 3

_NP_DTYPES = {onnx.TensorProto.FLOAT: np.float32,
              onnx.TensorProto.INT64: np.int64}


def generate(out, models=MODELS, calib=N_CALIB, eval_=N_EVAL, seed=0):
    args = ["--out", str(out), "--models", ",".join(models),
            "--calib", str(calib), "--eval", str(eval_), "--seed", str(seed)]
    assert make_examples.main(args) == 0
    return out


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("examples"))


def all_files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, f), root)
                for f in files]
    return sorted(out)


def graph_inputs(model):
    inits = {i.name for i in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def load(examples_dir, name):
    d = os.path.join(examples_dir, name)
    model = onnx.load(os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "info.json")) as f:
        info = json.load(f)
    return model, info


def samples(examples_dir, name, split):
    """[{input name: array}] of a calibration or eval folder, in order."""
    root = os.path.join(examples_dir, name, split)
    out = []
    for s in sorted(os.listdir(root)):
        out.append({f[:-4]: np.load(os.path.join(root, s, f))
                    for f in sorted(os.listdir(os.path.join(root, s)))})
    return out


def session(model):
    return ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def inits_of(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def node(model, name):
    (n,) = [n for n in model.graph.node if n.name == name]
    return n


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def test_deterministic(tmp_path, examples_dir):
    other = generate(tmp_path / "again")
    files = all_files(examples_dir)
    assert files == all_files(other)
    match, mismatch, errors = filecmp.cmpfiles(examples_dir, other, files,
                                               shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    assert len(match) == len(files)


def test_seed_changes_everything(tmp_path, examples_dir):
    other = generate(tmp_path / "seed1", seed=1)
    for name in MODELS:
        a = inits_of(load(examples_dir, name)[0])
        b = inits_of(load(other, name)[0])
        assert a.keys() == b.keys()
        assert any(not np.array_equal(a[k], b[k]) for k in a)
        xa = samples(examples_dir, name, "calibration")[0]
        xb = samples(other, name, "calibration")[0]
        assert any(not np.array_equal(xa[k], xb[k]) for k in xa)


def test_files_and_info(examples_dir):
    for name in MODELS:
        model, info = load(examples_dir, name)
        onnx.checker.check_model(model, full_check=True)
        assert model.ir_version == 8
        assert [(o.domain, o.version) for o in model.opset_import] == \
            [("", 17)]
        inits = model.graph.initializer
        assert all(i.data_type == onnx.TensorProto.FLOAT for i in inits)
        assert info["name"] == name
        assert [i["name"] for i in info["inputs"]] == \
            [v.name for v in graph_inputs(model)]
        assert [o["name"] for o in info["outputs"]] == \
            [v.name for v in model.graph.output]
        assert info["calibration_samples"] == N_CALIB
        assert info["eval_samples"] == N_EVAL
        assert info["model_bytes"] == os.path.getsize(
            os.path.join(examples_dir, name, "model.onnx"))
        total = sum(int(np.prod(i.dims)) for i in inits)
        assert 0 < info["parameters"] <= total == info["initializer_elements"]


def test_parameter_counts(examples_dir):
    h, m = 64, 256
    expected = {
        "transformer": 4 * (h * h + h) + (h * m + m) + (m * h + h) + 4 * h,
        "mlp": (256 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10),
        # conv weights + BN affine + fc; running stats are buffers
        "cnn": (16 * 3 * 9 + 32 * 16 * 9 + 64 * 32 * 9) +
               2 * (16 + 32 + 64) + (64 * 10 + 10),
    }
    for name in MODELS:
        assert load(examples_dir, name)[1]["parameters"] == expected[name]


def test_calibration_layout(examples_dir):
    for name in MODELS:
        model, info = load(examples_dir, name)
        inputs = graph_inputs(model)
        for split, count in (("calibration", N_CALIB), ("eval", N_EVAL)):
            root = os.path.join(examples_dir, name, split)
            dirs = sorted(os.listdir(root))
            assert dirs == [f"sample_{i:03d}" for i in range(count)]
            for d in dirs:
                assert os.path.isdir(os.path.join(root, d))
                assert sorted(os.listdir(os.path.join(root, d))) == \
                    sorted(v.name + ".npy" for v in inputs)
            for sample in samples(examples_dir, name, split):
                for v, spec in zip(inputs, info["inputs"]):
                    arr = sample[v.name]
                    t = v.type.tensor_type
                    assert arr.dtype == _NP_DTYPES[t.elem_type]
                    assert arr.dtype.name == spec["dtype"]
                    assert list(arr.shape) == spec["sample_shape"]
                    assert len(arr.shape) == len(t.shape.dim)
                    for size, dim in zip(arr.shape, t.shape.dim):
                        if not dim.HasField("dim_param"):
                            assert size == dim.dim_value
                    assert np.isfinite(arr).all()
        # Held-back inputs differ from the calibration inputs.
        calib = samples(examples_dir, name, "calibration")
        evals = samples(examples_dir, name, "eval")
        for e in evals:
            for c in calib:
                assert any(not np.array_equal(e[k], c[k]) for k in e)
        # Samples differ from each other.
        assert not np.array_equal(calib[0][inputs[0].name],
                                  calib[1][inputs[0].name])


def test_declared_shapes(examples_dir):
    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    expected = {
        "transformer": ([["batch", "sequence", 64]], [["batch", "sequence",
                                                       64]]),
        "mlp": ([["batch", 256]], [["batch", 10]]),
        "cnn": ([["batch", 3, 32, 32]], [["batch", 10]]),
    }
    names = {"transformer": (["hidden_states"], ["output"]),
             "mlp": (["input"], ["logits"]), "cnn": (["image"], ["logits"])}
    for name in MODELS:
        model, _ = load(examples_dir, name)
        ins, outs = graph_inputs(model), list(model.graph.output)
        assert ([v.name for v in ins], [v.name for v in outs]) == names[name]
        assert ([dims(v) for v in ins], [dims(v) for v in outs]) == \
            expected[name]


# ---------------------------------------------------------------------------
# onnxruntime
# ---------------------------------------------------------------------------

def test_onnxruntime_runs(examples_dir):
    for name in MODELS:
        model, info = load(examples_dir, name)
        sess = session(model)
        ins = graph_inputs(model)
        for split in ("calibration", "eval"):
            for feeds in samples(examples_dir, name, split):
                bound = {}
                for v in ins:
                    for size, d in zip(feeds[v.name].shape,
                                       v.type.tensor_type.shape.dim):
                        if d.dim_param:
                            assert bound.setdefault(d.dim_param, size) == size
                outs = sess.run(None, feeds)
                assert len(outs) == len(model.graph.output)
                for y, v in zip(outs, model.graph.output):
                    want = [bound[d.dim_param] if d.dim_param else d.dim_value
                            for d in v.type.tensor_type.shape.dim]
                    assert list(y.shape) == want
                    assert y.dtype == np.float32
                    assert np.isfinite(y).all()
                    assert np.abs(y).max() > 0


def test_inputs_look_like_activations(examples_dir):
    # transformer: roughly unit-variance embeddings plus a few large,
    # fixed outlier channels.
    _, info = load(examples_dir, "transformer")
    x = np.stack([s["hidden_states"]
                  for s in samples(examples_dir, "transformer",
                                   "calibration")])
    ch = info["config"]["outliers"]["channels"]
    assert 1 <= len(ch) <= 8
    mag = np.abs(x).mean(axis=(0, 1, 2))
    others = np.delete(mag, ch)
    assert mag[ch].min() > 5 * others.max()
    assert 0.5 < np.delete(x, ch, axis=-1).std() < 2.0
    # cnn: normalised images, i.e. (pixel - mean) / std with pixels in [0, 1]
    _, info = load(examples_dir, "cnn")
    norm = info["config"]["normalization"]
    for s in samples(examples_dir, "cnn", "calibration"):
        img = s["image"]
        mean = np.array(norm["mean"], np.float32).reshape(1, 3, 1, 1)
        std = np.array(norm["std"], np.float32).reshape(1, 3, 1, 1)
        px = img * std + mean
        assert px.min() >= -1e-5 and px.max() <= 1 + 1e-5
        assert px.std() > 0.05


def test_transformer_dynamic_shapes(examples_dir):
    model, _ = load(examples_dir, "transformer")
    sess = session(model)
    rng = np.random.default_rng(123)
    for b, s in ((1, 1), (3, 5), (2, 40)):
        x = rng.normal(size=(b, s, 64)).astype(np.float32)
        (y,) = sess.run(None, {"hidden_states": x})
        assert y.shape == (b, s, 64) and np.isfinite(y).all()
        # Batch rows are independent.
        (y0,) = sess.run(None, {"hidden_states": x[:1]})
        np.testing.assert_allclose(y[:1], y0, rtol=1e-5, atol=1e-5)


def test_transformer_is_causal(examples_dir):
    model, _ = load(examples_dir, "transformer")
    sess = session(model)
    for feeds in samples(examples_dir, "transformer", "calibration"):
        x = feeds["hidden_states"]
        changed = x.copy()
        changed[:, -1, :] = np.random.default_rng(7).normal(
            0, 3, changed[:, -1, :].shape).astype(np.float32)
        (y,) = sess.run(None, {"hidden_states": x})
        (y2,) = sess.run(None, {"hidden_states": changed})
        np.testing.assert_allclose(y[:, :-1], y2[:, :-1], rtol=0, atol=1e-6)
        assert np.abs(y[:, -1] - y2[:, -1]).max() > 1e-2
        # ... and a change of an early token does reach the later outputs.
        early = x.copy()
        early[:, 0, :] += np.random.default_rng(8).normal(
            0, 3, early[:, 0, :].shape).astype(np.float32)
        (y3,) = sess.run(None, {"hidden_states": early})
        assert (np.abs(y[:, 1:] - y3[:, 1:]).max(axis=-1) > 1e-4).all()


def _layer_norm(x, g, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def _erf(x):
    return np.vectorize(math.erf)(x)


def test_transformer_matches_numpy_reference(examples_dir):
    model, info = load(examples_dir, "transformer")
    cfg = info["config"]
    w = inits_of(model)
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
              for n in model.graph.node if n.op_type == "Constant"}

    def linear(scope, x):
        mm, add = node(model, scope + "/MatMul"), node(model, scope + "/Add")
        weight = w[mm.input[1]]
        assert mm.input[1].startswith("onnx::MatMul_")
        bias = w[[i for i in add.input if i in w][0]]
        return x.astype(np.float64) @ weight + bias

    def ln(scope, x):
        n = node(model, scope + "/LayerNormalization")
        return _layer_norm(x, w[n.input[1]], w[n.input[2]], cfg["eps"])

    hd = cfg["hidden"] // cfg["heads"]
    sess = session(model)
    for feeds in samples(examples_dir, "transformer", "eval"):
        x = feeds["hidden_states"].astype(np.float64)
        b, s, _ = x.shape
        h = ln("/layers.0/input_layernorm", x)
        q, k, v = (linear(f"/layers.0/attn/{p}_proj", h).reshape(
            b, s, cfg["heads"], hd).transpose(0, 2, 1, 3) for p in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
        scores = np.where(np.tril(np.ones((s, s), bool)), scores,
                          cfg["mask_value"])
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        ctx = (p @ v).transpose(0, 2, 1, 3).reshape(b, s, cfg["hidden"])
        x = x + linear("/layers.0/attn/o_proj", ctx)
        h = linear("/layers.0/mlp/fc1",
                   ln("/layers.0/post_attention_layernorm", x))
        h = h * 0.5 * (1 + _erf(h / math.sqrt(2)))
        want = x + linear("/layers.0/mlp/fc2", h)
        (got,) = sess.run(None, feeds)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # The GELU is the exported Div/Erf/Add/Mul/Mul chain, the softmax is a
    # Softmax over the last axis and the block is pre-LN.
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("LayerNormalization") == 2 and "Erf" in ops
    assert node(model, "/layers.0/attn/Softmax").attribute[0].i == -1
    assert consts  # small constants are Constant nodes, as PyTorch exports


def test_mlp_matches_numpy_reference(examples_dir):
    model, _ = load(examples_dir, "mlp")
    w = inits_of(model)
    sess = session(model)
    for feeds in samples(examples_dir, "mlp", "eval"):
        x = feeds["input"].astype(np.float64)
        for i in (1, 2, 3):
            x = x @ w[f"fc{i}.weight"].T + w[f"fc{i}.bias"]
            if i < 3:
                x = np.maximum(x, 0)
        (got,) = sess.run(None, feeds)
        np.testing.assert_allclose(got, x, rtol=1e-4, atol=1e-5)
    assert [n.name for n in model.graph.node if n.op_type == "Gemm"] == \
        ["/fc1/Gemm", "/fc2/Gemm", "/fc3/Gemm"]


def test_cnn_batchnorm_is_not_trivial(examples_dir):
    model, _ = load(examples_dir, "cnn")
    w = inits_of(model)
    for i in (1, 2, 3):
        assert np.abs(w[f"bn{i}.running_mean"]).max() > 0.1
        var = w[f"bn{i}.running_var"]
        assert var.min() > 0 and np.abs(var - 1).max() > 0.1
        assert np.abs(w[f"bn{i}.weight"] - 1).max() > 0.05
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 3 and ops.count("BatchNormalization") == 3
    assert ops.count("MaxPool") == 2 and "GlobalAveragePool" in ops
    # Batched images give the same logits as one at a time.
    sess = session(model)
    xs = [s["image"] for s in samples(examples_dir, "cnn", "calibration")]
    (batched,) = sess.run(None, {"image": np.concatenate(xs)})
    single = np.concatenate([sess.run(None, {"image": x})[0] for x in xs])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Our importer
# ---------------------------------------------------------------------------

def test_models_import(examples_dir, build_dir, tmp_path):
    translate = os.path.join(build_dir, "bin", "quant-translate")
    for name in MODELS:
        model, info = load(examples_dir, name)
        path = os.path.join(examples_dir, name, "model.onnx")
        pins = ["--pin-shape=" + i["name"] + "=" +
                "x".join(str(d) for d in i["sample_shape"])
                for i in info["inputs"]]
        for extra in ([], pins):
            r = subprocess.run([translate, "--import-onnx", path, *extra,
                                "-o", str(tmp_path / f"{name}.mlir")],
                               capture_output=True, text=True)
            assert r.returncode == 0, (name, extra, r.stderr)
            text = (tmp_path / f"{name}.mlir").read_text()
            assert "func.func @main" in text
            if not extra:
                # The dim_params stay dynamic.
                assert "?x" in text.split("func.func @main", 1)[1] \
                    .split("{\n", 1)[0]
