"""QDQ models whose chains between integer layers go through GELU, softmax,
LayerNorm, residual Adds, AveragePool and Concats of different scales
(issue 18): the bundled transformer and a residual CNN quantized by
onnxruntime's quantize_static (QDQ, per-channel, MinMax) run within one
step (LSB) of the output scale of onnxruntime running the same QDQ model;
a quantized GELU chain replaced by a table (qopt-fold-qdq) gives bit for bit
what the chain computes unfolded."""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)

import make_examples
import qdq_cnns
from test_qdq import (Samples, assert_within_lsb, check_vs_ort,
                      compile_model, run_artifact)


def _quantize(model_path, out, samples, activation=QuantType.QUInt8):
    quantize_static(str(model_path), str(out), Samples(samples),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=activation, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return out


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    root = tmp_path_factory.mktemp("qdqint")
    make_examples.write_model(str(root), "transformer", calib=8, eval_=3)
    return root / "transformer"


def _samples(folder, name):
    return [{name: np.load(folder / s / (name + ".npy"))}
            for s in sorted(os.listdir(folder))]


@pytest.mark.parametrize("activation", ["uint8", "int8"])
def test_transformer_quantize_static(build_dir, transformer, tmp_path,
                                     activation):
    qt = QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8
    qdq = _quantize(transformer / "model.onnx", tmp_path / "qdq.onnx",
                    _samples(transformer / "calibration", "hidden_states"),
                    activation=qt)
    rep, worst = check_vs_ort(
        build_dir, qdq, _samples(transformer / "eval", "hidden_states"),
        tmp_path)
    assert worst <= 1.0
    # The six projections fold; the GELU chain became one table over the
    # 256 points of the pair in front of it.
    assert len(rep["folded"]) == 6
    assert len(rep["tables"]) == 1, rep["tables"]
    t = rep["tables"][0]
    assert t["chain"].endswith("mlp/act/Div") and t["entries"] == 256
    assert t["fake_quants"] >= 2


def _gelu_qdq_model(path, scales):
    """x -> Q/DQ -> GELU as torch.onnx exports it (Div, Erf, Add, Mul, Mul)
    with a Q -> DQ pair after each op but the Div, as quantize_static
    writes it; uint8 activations."""
    nodes, inits = [], []

    def qdq(name, value, scale, zp):
        inits.append(numpy_helper.from_array(np.array(scale, np.float32),
                                             name + "_s"))
        inits.append(numpy_helper.from_array(np.array(zp, np.uint8),
                                             name + "_z"))
        nodes.append(helper.make_node("QuantizeLinear",
                                      [value, name + "_s", name + "_z"],
                                      [name + "_q"], name=name + "_Q"))
        nodes.append(helper.make_node("DequantizeLinear",
                                      [name + "_q", name + "_s", name + "_z"],
                                      [name + "_d"], name=name + "_DQ"))
        return name + "_d"

    def const(name, v):
        inits.append(numpy_helper.from_array(np.array(v, np.float32), name))
        return name

    x = qdq("x", "input", *scales["x"])
    nodes.append(helper.make_node("Div", [x, const("sqrt2", np.sqrt(2.0))],
                                  ["div"], name="act/Div"))
    nodes.append(helper.make_node("Erf", ["div"], ["erf"], name="act/Erf"))
    e = qdq("erf", "erf", *scales["erf"])
    nodes.append(helper.make_node("Add", [e, const("one", 1.0)], ["add"],
                                  name="act/Add"))
    a = qdq("add", "add", *scales["add"])
    nodes.append(helper.make_node("Mul", [x, a], ["mul"], name="act/Mul"))
    m = qdq("mul", "mul", *scales["mul"])
    nodes.append(helper.make_node("Mul", [m, const("half", 0.5)], ["mul1"],
                                  name="act/Mul_1"))
    qdq("out", "mul1", *scales["out"])
    nodes[-1].output[0] = "output"
    graph = helper.make_graph(
        nodes, "gelu_qdq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       [4, 16, 256])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                       [4, 16, 256])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        13)])
    onnx.save(model, str(path))
    return path


def test_gelu_table_bit_exact(build_dir, tmp_path):
    scales = {"x": (0.0234, 131), "erf": (0.00781, 128),
              "add": (0.00785, 0), "mul": (0.0157, 12), "out": (0.0079, 10)}
    path = _gelu_qdq_model(tmp_path / "gelu.onnx", scales)
    rng = np.random.default_rng(0)
    # Every grid point of the input pair (and points between, beyond the
    # range, ties, -0 and NaN), then random values.
    s, z = scales["x"]
    grid = (np.arange(256, dtype=np.float32) - z) * np.float32(s)
    special = np.array([0.0, -0.0, 1e9, -1e9, np.nan, s / 2, -s / 2,
                        1.5 * s, -2.5 * s], np.float32)
    x = np.concatenate([grid, grid + np.float32(s / 2), special,
                        rng.normal(0, 1.5, 4 * 16 * 256 - 512 - 9)
                        .astype(np.float32)]).reshape(4, 16, 256)
    feeds = {"input": x.astype(np.float32)}
    report = tmp_path / "report.json"
    folded, unfolded = tmp_path / "folded.so", tmp_path / "unfolded.so"
    compile_model(build_dir, path, folded, f"--report={report}")
    compile_model(build_dir, path, unfolded, "--fold-qdq=false")
    with open(report) as f:
        tables = json.load(f)["qdq"]["tables"]
    # Erf, Add, Mul and the output pair: four requantizations.
    assert len(tables) == 1 and tables[0]["fake_quants"] == 4, tables
    a = run_artifact(build_dir, folded, feeds, tmp_path / "a")["output"]
    b = run_artifact(build_dir, unfolded, feeds, tmp_path / "b")["output"]
    # Bit for bit the unfolded chain's values (NaN included).
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": np.nan_to_num(x, nan=0.0)})[0]
    ours = run_artifact(build_dir, folded,
                        {"input": np.nan_to_num(x, nan=0.0)},
                        tmp_path / "c")["output"]
    assert_within_lsb(ours, ref, scales["out"][0])


def _residual_cnn(path, seed=0):
    """examples/qdq_cnns.py's residual CNN (conv -> ReLU, a 1x1 conv branch
    and an AveragePool branch concatenated, a 1x1 conv, a residual Add, a
    global average pool and a Gemm), saved to `path`."""
    model, _ = qdq_cnns.residual_cnn(seed)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("activation", ["uint8", "int8"])
def test_residual_cnn_quantize_static(build_dir, tmp_path, activation):
    qt = QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8
    rng = np.random.default_rng(1)
    samples = [{"image": rng.normal(0, 1, (1, 3, 16, 16)).astype(np.float32)}
               for _ in range(9)]
    fmodel = _residual_cnn(tmp_path / "cnn.onnx")
    qdq = _quantize(fmodel, tmp_path / "qdq.onnx", samples[:6],
                    activation=qt)
    ops = {nd.op_type for nd in onnx.load(str(qdq)).graph.node}
    assert {"AveragePool", "Concat", "Add"} <= ops
    rep, worst = check_vs_ort(build_dir, qdq, samples[6:], tmp_path)
    assert worst <= 1.0
    # Three convolutions and the Gemm fold to integer layers.
    assert len(rep["folded"]) == 4, rep["folded"]
