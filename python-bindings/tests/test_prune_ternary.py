"""quant_opt.compile with main's newer quant-compile options (pruning,
ternary quantization, QDQ folding) against independent references:
numpy-pruned weights, the numpy BitLinear simulation, onnxruntime running
the same QDQ model (test_compile.py checks they reach compile() by name;
these check what they compute), and their error paths through
CompileOptions::set."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import quant_opt
from qopt_testutil import mlp_model, onnxruntime_run


def weights(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def mlp_forward(x, w):
    """The MLP of qopt_testutil.mlp_model in float64."""
    h = np.maximum(x.astype(np.float64) @ w["w1"] + w["b1"], 0)
    return h @ w["w2"] + w["b2"]


def magnitude_pruned(w, sparsity):
    """qopt-prune granularity=unstructured scope=layer in numpy: the
    floor(S * size) smallest |W| of the layer zeroed."""
    k = int(np.floor(sparsity * w.size * (1 + 1e-9)))
    order = np.lexsort((np.arange(w.size), np.abs(w).ravel()))
    out = w.copy().ravel()
    out[order[:k]] = 0
    return out.reshape(w.shape)


def test_compile_prune_magnitude_matches_numpy():
    """prune="magnitude:0.5": half of each layer's weights removed; the
    artifact computes the float MLP with numpy's pruned weights."""
    model = mlp_model(hidden=64, seed=5)
    w = weights(model)
    pruned = dict(w, w1=magnitude_pruned(w["w1"], 0.5),
                  w2=magnitude_pruned(w["w2"], 0.5))
    assert (pruned["w1"] == 0).mean() == 0.5
    art = quant_opt.compile(model, prune="magnitude:0.5")
    assert art.report is None  # no samples: no report
    x = np.random.default_rng(1).standard_normal((6, 16)).astype(np.float32)
    got = art(x=x)["y"]
    np.testing.assert_allclose(got, mlp_forward(x, pruned), rtol=1e-5,
                               atol=1e-5)
    # Pruning changed the model (not a compile that ignored the option).
    assert np.abs(got - mlp_forward(x, w)).max() > 1e-2


def test_compile_prune_2_4_with_quantize_and_report(tmp_path):
    """prune="2:4" then w8a8 from in-memory samples: the report (made by
    default with samples) names the pruning and counts the parameters, and
    the artifact stays close to the pruned float model."""
    model = mlp_model(hidden=64, seed=6)
    rng = np.random.default_rng(2)
    calib = [{"x": rng.standard_normal((4, 16)).astype(np.float32)}
             for _ in range(8)]
    art = quant_opt.compile(model, prune="2:4", quantize="w8a8",
                            calibration=calib, report_latency_runs=0)
    rep = art.report
    assert rep["prune"] == "2:4" and rep["scheme"] == "w8a8"
    params = rep["parameters"]
    total = 16 * 64 + 64 * 8
    # 2 of every 4 weights kept in both layers.
    assert params["before"] == params["nonzero_before"] == total
    assert params["nonzero_after"] == total // 2
    x = rng.standard_normal((5, 16)).astype(np.float32)
    got = art(x=x)["y"]
    assert np.isfinite(got).all()
    # Same compile without pruning differs: the option took effect.
    dense = quant_opt.compile(model, quantize="w8a8", calibration=calib,
                              report=False)
    assert np.abs(dense(x=x)["y"] - got).max() > 1e-2


@pytest.mark.parametrize("options,message", [
    (dict(prune="3:2"), "N:M needs 1 <= N < M"),
    (dict(prune="bogus:0.5"), "expected magnitude:S"),
    (dict(shrink_structured=True), "need --prune"),
    (dict(prune="magnitude:0.5", prune_method="wanda"), "names its method"),
    (dict(prune="2:4", prune_scope="everywhere"),
     "--prune-scope='everywhere' is not one of: layer, row, global"),
    (dict(prune="wanda:0.5"), "with wanda needs --calibration-data"),
    (dict(ternary_mode="lossless"), "--ternary-mode is for --quantize=ternary"),
    (dict(quantize="ternary", ternary_mode="exact"),
     "--ternary-mode='exact' is not one of: absmean, lossless"),
    # main's cap on --threads (the runtime's 1024), through set() too.
    (dict(threads=100000000),
     "--threads expects a count from 0 to 1024 (0: one per core)"),
])
def test_new_option_errors(options, message):
    with pytest.raises(quant_opt.CompileError, match=message.replace(
            "(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        quant_opt.compile(mlp_model(), **options)


def test_new_options_listed():
    keys = quant_opt.option_keys()
    for key in ("prune", "prune-method", "prune-scope", "prune-include",
                "prune-exclude", "shrink-structured", "ternary-mode",
                "fold-qdq", "prepare-qat", "no-runtime-checks"):
        assert key in keys, key
    assert "ternary" in keys["quantize"]


def gemm_model(layers, k_in):
    """x [3, k_in] -> Gemm(transB=1) -> Relu -> Gemm(transB=1) -> y."""
    nodes, inits, cur = [], [], "x"
    for i, (name, w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"{name}.weight"),
                  numpy_helper.from_array(b, f"{name}.bias")]
        nodes.append(helper.make_node(
            "Gemm", [cur, f"{name}.weight", f"{name}.bias"], [f"h{i}"],
            name=f"/{name}/Gemm", transB=1))
        cur = f"h{i}"
        if i + 1 < len(layers):
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"],
                                          name=f"/relu{i}/Relu"))
            cur = f"r{i}"
    nodes.append(helper.make_node("Identity", [cur], ["y"], name="/out"))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [3, layers[-1][1].shape[0]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def ternarize(w):
    """BitNet b1.58 absmean (docs/Quantization/Ternary.md)."""
    gamma = np.float32(max(np.float32(np.abs(w.astype(np.float64)).mean()),
                           np.float32(1e-5)))
    return np.clip(np.round(w / gamma), -1, 1).astype(np.int8), gamma


def bitlinear(x, t, gamma, bias):
    """BitLinear with per-token int8 activations, in f32 like the kernels."""
    absmax = np.abs(x).max(axis=1).astype(np.float32)
    s = (np.float32(127) / np.maximum(absmax, np.float32(1e-5))).astype(
        np.float32)
    q = np.clip(np.round(x * s[:, None]), -128, 127).astype(np.int64)
    acc = q @ t.astype(np.int64).T
    return ((acc.astype(np.float32) * gamma) / s[:, None] + bias).astype(
        np.float32)


def test_compile_ternary_absmean_matches_numpy():
    """quantize="ternary": each layer a BitLinear (ternary weights, int8
    activations per token), as the numpy simulation computes it."""
    rng = np.random.default_rng(7)
    layers = [("fc1", (rng.standard_normal((48, 64)) * 0.1).astype(np.float32),
               (rng.standard_normal(48) * 0.1).astype(np.float32)),
              ("fc2", (rng.standard_normal((16, 48)) * 0.2).astype(np.float32),
               (rng.standard_normal(16) * 0.1).astype(np.float32))]
    model = gemm_model(layers, 64)
    art = quant_opt.compile(model, quantize="ternary")
    x = rng.standard_normal((3, 64)).astype(np.float32)
    got = art(x=x)["y"]
    h = x
    for i, (_, w, b) in enumerate(layers):
        t, gamma = ternarize(w)
        h = bitlinear(h, t, gamma, b)
        if i + 1 < len(layers):
            h = np.maximum(h, 0)
    np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-6)
    ref = onnxruntime_run(model, {"x": x})["y"]
    assert np.abs(ref - got).max() > 1e-2  # ternarized, not float


def test_compile_ternary_lossless_matches_onnxruntime():
    """ternary_mode="lossless" on weights already in {-g, 0, +g}: the
    artifact computes the float model."""
    rng = np.random.default_rng(8)

    def tern(n, k, g):
        return (rng.choice([-1, 0, 1], size=(n, k)) * np.float32(g)).astype(
            np.float32)
    layers = [("up", tern(64, 32, 0.0371),
               (rng.standard_normal(64) * 0.1).astype(np.float32)),
              ("down", tern(8, 64, 0.2),
               (rng.standard_normal(8) * 0.1).astype(np.float32))]
    model = gemm_model(layers, 32)
    art = quant_opt.compile(model, quantize="ternary", ternary_mode="lossless")
    for _ in range(3):
        x = (rng.standard_normal((3, 32)) * 3).astype(np.float32)
        np.testing.assert_allclose(art(x=x)["y"],
                                   onnxruntime_run(model, {"x": x})["y"],
                                   rtol=1e-5, atol=1e-5)


def test_compile_qdq_model_folds_with_report(tmp_path):
    """A QDQ model (onnxruntime's quantize_static) through compile(): folded
    into integer layers by default, report=True gives the fold report, the
    artifact stays within two steps of the output grid of onnxruntime
    running the same QDQ model; fold_qdq=False has nothing to report."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat,
                                          QuantType, quantize_static)
    model = mlp_model(hidden=32, seed=9)
    onnx.save(model, tmp_path / "f.onnx")
    rng = np.random.default_rng(3)
    calib = [{"x": rng.standard_normal((4, 16)).astype(np.float32)}
             for _ in range(8)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.left = list(calib)

        def get_next(self):
            return self.left.pop(0) if self.left else None
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"),
                    Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    qdq = onnx.load(str(tmp_path / "q.onnx"))
    art = quant_opt.compile(tmp_path / "q.onnx", report=True)
    rep = art.report["qdq"]
    assert [l["kind"] for l in rep["folded"]] == ["linear", "linear"]
    assert rep["stays_float"] == []
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    out_dq = next(n for n in qdq.graph.node if "y" in n.output)
    assert out_dq.op_type == "DequantizeLinear"
    scale = float(inits[out_dq.input[1]])
    x = rng.standard_normal((5, 16)).astype(np.float32)
    diff = np.abs(art(x=x)["y"] - onnxruntime_run(qdq, {"x": x})["y"])
    assert diff.max() <= 2 * scale * (1 + 1e-5) + 1e-6, (diff.max(), scale)
    with pytest.raises(quant_opt.CompileError,
                       match="--report needs --quantize, --prune or a QDQ "
                             "model to fold"):
        quant_opt.compile(tmp_path / "q.onnx", report=True, fold_qdq=False)
