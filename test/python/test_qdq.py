"""QDQ models in (issue 18): models quantized by onnxruntime.quantization
(quantize_static QDQ per-channel MinMax, quantize_dynamic) and hand-written
QDQ graphs (opset 13 and 21) compiled by quant-compile, which folds their
QDQ patterns into integer layers with the model's own scales; the artifact
against onnxruntime running the same QDQ model: within one step (LSB) of
the output's quantization scale."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                      QuantFormat, QuantType, quantize_dynamic,
                                      quantize_static)

import make_examples

INPUTS = {"mlp": "input", "cnn": "image"}


class Samples(CalibrationDataReader):
    """quantize_static's calibration reader over a list of feeds (shared
    by the QDQ tests)."""

    def __init__(self, samples):
        self.samples = list(samples)

    def get_next(self):
        return self.samples.pop(0) if self.samples else None


class _Reader(CalibrationDataReader):
    def __init__(self, folder, name):
        self.samples = [
            {name: np.load(os.path.join(folder, s, name + ".npy"))}
            for s in sorted(os.listdir(folder))]

    def get_next(self):
        return self.samples.pop(0) if self.samples else None


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("qdq")
    for name in INPUTS:
        make_examples.write_model(str(root), name, calib=8, eval_=3)
    return root


def quantize_qdq(examples, name, out, per_channel=True, activation=None):
    folder = examples / name
    quantize_static(str(folder / "model.onnx"), str(out),
                    _Reader(str(folder / "calibration"), INPUTS[name]),
                    quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=activation or QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return out


def compile_model(build_dir, model, out, *extra):
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                        str(model), "-o", str(out), *extra],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def run_artifact(build_dir, so, feeds, tmp):
    os.makedirs(str(tmp), exist_ok=True)
    args = [os.path.join(build_dir, "bin", "quant-run"), str(so),
            "--output-dir", str(tmp)]
    for name, value in feeds.items():
        path = os.path.join(str(tmp), f"in_{name}.npy")
        np.save(path, value)
        args += ["--input", f"{name}={path}"]
    subprocess.run(args, check=True, capture_output=True)
    return {f[:-4]: np.load(os.path.join(str(tmp), f))
            for f in os.listdir(str(tmp))
            if f.endswith(".npy") and not f.startswith("in_")}


def output_scale(model, output):
    """The scale of the DequantizeLinear that produces graph output
    `output`."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if output in node.output:
            assert node.op_type == "DequantizeLinear", node.op_type
            return float(inits[node.input[1]])
    raise AssertionError(f"no node makes {output}")


def assert_within_lsb(ours, ref, scale, lsb=1.0):
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    # One step of the output grid, plus float rounding of its values.
    assert diff.max() <= lsb * scale * (1 + 1e-5) + 1e-6, (diff.max(), scale)
    return float(diff.max() / scale)


def check_vs_ort(build_dir, qdq, feeds_list, tmp_path, extra=()):
    """`qdq` compiled (with `extra` flags) and run on `feeds_list`: its
    report's "qdq" section and the worst distance from onnxruntime's outputs
    in output-scale steps (each asserted within one)."""
    model = onnx.load(str(qdq))
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    out = sess.get_outputs()[0].name
    scale = output_scale(model, out)
    report = tmp_path / "report.json"
    so = tmp_path / "qdq.so"
    compile_model(build_dir, qdq, so, f"--report={report}", *extra)
    worst = 0.0
    for i, feeds in enumerate(feeds_list):
        ref = sess.run(None, feeds)[0]
        ours = run_artifact(build_dir, so, feeds, tmp_path / f"run{i}")[out]
        assert ours.shape == ref.shape
        worst = max(worst, assert_within_lsb(ours, ref, scale))
    with open(report) as f:
        return json.load(f)["qdq"], worst


def eval_feeds(examples, name):
    folder = examples / name / "eval"
    return [{INPUTS[name]: np.load(folder / s / (INPUTS[name] + ".npy"))}
            for s in sorted(os.listdir(folder))]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("activation", ["uint8", "int8"])
def test_quantize_static_qdq(build_dir, examples, tmp_path, name, activation):
    qt = QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8
    qdq = quantize_qdq(examples, name, tmp_path / "qdq.onnx", activation=qt)
    model = onnx.load(str(qdq))
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    out = sess.get_outputs()[0].name
    scale = output_scale(model, out)
    report = tmp_path / "report.json"
    so = tmp_path / "q.so"
    compile_model(build_dir, qdq, so, f"--report={report}")
    rep = json.loads(report.read_text())["qdq"]
    kinds = {l["kind"] for l in rep["folded"]}
    # Every linear layer (and, in the CNN, every convolution) folded.
    assert "linear" in kinds
    if name == "cnn":
        assert "conv" in kinds
    assert rep["stays_float"] == []
    # The pairs after each MaxPool and Flatten (same grid as their input's,
    # or absorbed by the next layer's quantization) are gone; the outputs
    # below still match onnxruntime.
    moves = sum(n.op_type in ("MaxPool", "Flatten") for n in model.graph.node)
    removed = rep["pairs_removed"]
    assert removed["on_grid"] + removed["absorbed"] >= moves, removed
    flt = tmp_path / "f.so"
    compile_model(build_dir, qdq, flt, "--fold-qdq=false")
    for feeds in eval_feeds(examples, name):
        ref = sess.run(None, feeds)[0]
        got = run_artifact(build_dir, so, feeds, tmp_path / "o1")[out]
        assert_within_lsb(got, ref, scale)
        # Unfolded, the QDQ semantics run in float: as close.
        got_f = run_artifact(build_dir, flt, feeds, tmp_path / "o2")[out]
        assert_within_lsb(got_f, ref, scale)


def test_quantize_static_per_tensor(build_dir, examples, tmp_path):
    qdq = quantize_qdq(examples, "mlp", tmp_path / "qdq.onnx",
                       per_channel=False)
    model = onnx.load(str(qdq))
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    out = sess.get_outputs()[0].name
    so = tmp_path / "q.so"
    compile_model(build_dir, qdq, so)
    for feeds in eval_feeds(examples, "mlp"):
        assert_within_lsb(run_artifact(build_dir, so, feeds, tmp_path / "o")[out],
                          sess.run(None, feeds)[0], output_scale(model, out))


def test_quantize_dynamic(build_dir, examples, tmp_path):
    # quantize_dynamic writes DynamicQuantizeLinear + MatMulInteger: per-row
    # activation scales at run time, float outputs.
    src = examples / "mlp" / "model.onnx"
    dyn = tmp_path / "dyn.onnx"
    quantize_dynamic(str(src), str(dyn), weight_type=QuantType.QInt8)
    sess = ort.InferenceSession(str(dyn), providers=["CPUExecutionProvider"])
    out = sess.get_outputs()[0].name
    so = tmp_path / "d.so"
    compile_model(build_dir, dyn, so)
    for feeds in eval_feeds(examples, "mlp"):
        ref = sess.run(None, feeds)[0]
        got = run_artifact(build_dir, so, feeds, tmp_path / "o")[out]
        np.testing.assert_allclose(got, ref, rtol=1e-4,
                                   atol=1e-4 * np.abs(ref).max())


def _qdq_mlp(opset, rng, blocked):
    """x -> Q/DQ (uint8) -> Gemm/MatMul (weights int8 per channel + DQ, or
    int4 blocked along K + DQ at opset 21) -> Q/DQ -> Relu -> ... -> output
    Q/DQ."""
    nodes, inits = [], []
    dims = [16, 32, 8]

    def init(name, arr, dtype=None):
        if dtype is None:
            inits.append(numpy_helper.from_array(arr, name))
        else:
            # 4-bit: raw_data, two a byte, the first in the low nibble.
            flat = (arr.flatten().astype(np.int64) & 15).astype(np.uint8)
            if flat.size % 2:
                flat = np.append(flat, np.uint8(0))
            packed = (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8)
            inits.append(helper.make_tensor(name, dtype, arr.shape,
                                            packed.tobytes(), raw=True))
        return name

    def qdq(x, scale, zp, tag):
        s = init(f"{tag}.s", np.array(scale, np.float32))
        z = init(f"{tag}.z", np.array(zp, np.uint8))
        nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [f"{tag}.q"],
                                      name=f"{tag}/Q"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{tag}.q", s, z],
                                      [f"{tag}.d"], name=f"{tag}/DQ"))
        return f"{tag}.d"

    x = qdq("x", 0.03, 128, "in")
    for i in range(len(dims) - 1):
        k, n = dims[i], dims[i + 1]
        w = rng.normal(0, 1 / np.sqrt(k), (k, n)).astype(np.float32)
        if blocked:
            block = 8
            wb = w.reshape(k // block, block, n)
            s = (np.abs(wb).max(axis=1) / 7).astype(np.float32)
            zp = rng.integers(-2, 3, s.shape)
            q = np.clip(np.round(wb / s[:, None, :]) + zp[:, None, :], -8, 7)
            q = q.reshape(k, n).astype(np.int8)
            wi = init(f"w{i}", q, TensorProto.INT4)
            ws = init(f"w{i}.s", s)
            wz = init(f"w{i}.z", zp.astype(np.int8), TensorProto.INT4)
            nodes.append(helper.make_node(
                "DequantizeLinear", [wi, ws, wz], [f"w{i}.d"], axis=0,
                block_size=block, name=f"w{i}/DQ"))
            nodes.append(helper.make_node("MatMul", [x, f"w{i}.d"], [f"h{i}"],
                                          name=f"fc{i}/MatMul"))
        else:
            s = (np.abs(w).max(axis=0) / 127).astype(np.float32)
            q = np.clip(np.round(w / s), -127, 127).astype(np.int8).T.copy()
            wi = init(f"w{i}", q)
            ws = init(f"w{i}.s", s)
            nodes.append(helper.make_node(
                "DequantizeLinear", [wi, ws], [f"w{i}.d"], axis=0,
                name=f"w{i}/DQ"))
            b = rng.integers(-200, 200, n).astype(np.int32)
            bi = init(f"b{i}", b)
            bs = init(f"b{i}.s", (s * np.float32(0.03)).astype(np.float32))
            nodes.append(helper.make_node(
                "DequantizeLinear", [bi, bs], [f"b{i}.d"], axis=0,
                name=f"b{i}/DQ"))
            nodes.append(helper.make_node(
                "Gemm", [x, f"w{i}.d", f"b{i}.d"], [f"h{i}"], transB=1,
                name=f"fc{i}/Gemm"))
        h = qdq(f"h{i}", 0.05, 128, f"h{i}")
        if i < len(dims) - 2:
            nodes.append(helper.make_node("Relu", [h], [f"r{i}"],
                                          name=f"relu{i}"))
            x = qdq(f"r{i}", 0.03, 128 if blocked else 0, f"r{i}")
        else:
            nodes.append(helper.make_node("Identity", [h], ["y"], name="out"))
    graph = helper.make_graph(
        nodes, "qdq_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, dims[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, dims[-1]])],
        inits)
    ir = 8 if opset <= 17 else 10
    return helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", opset)], ir_version=ir)


@pytest.mark.parametrize("opset,blocked", [(13, False), (21, False),
                                           (21, True)])
def test_hand_written_qdq(build_dir, tmp_path, opset, blocked):
    rng = np.random.default_rng(opset + blocked)
    model = _qdq_mlp(opset, rng, blocked)
    onnx.checker.check_model(model)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    report = tmp_path / "report.json"
    so = tmp_path / "m.so"
    compile_model(build_dir, path, so, f"--report={report}")
    rep = json.loads(report.read_text())["qdq"]
    forms = sorted(l["form"] for l in rep["folded"])
    assert forms == (["uint4 g8"] * 2 if blocked else ["w8a8"] * 2), rep
    assert rep["folded_biases"] == (0 if blocked else 2)
    # Unfolded: the float semantics (block-wise dequantization included).
    flt = tmp_path / "f.so"
    compile_model(build_dir, path, flt, "--fold-qdq=false")
    for _ in range(3):
        x = rng.normal(0, 1.5, (4, 16)).astype(np.float32)
        ref = sess.run(None, {"x": x})[0]
        got = run_artifact(build_dir, so, {"x": x}, tmp_path / "o")["y"]
        assert_within_lsb(got, ref, 0.05)
        got = run_artifact(build_dir, flt, {"x": x}, tmp_path / "o")["y"]
        assert_within_lsb(got, ref, 0.05)


def test_stays_float_listed(build_dir, tmp_path):
    # A weight quantized per input channel has no integer kernel: the layer
    # stays float (still QDQ-exact) and the report says why.
    nodes = [
        helper.make_node("DequantizeLinear", ["w", "s"], ["wd"], axis=0,
                         name="w/DQ"),
        helper.make_node("MatMul", ["x", "wd"], ["y"], name="fc/MatMul")]
    w = numpy_helper.from_array(
        np.arange(-6, 6, dtype=np.int8).reshape(4, 3), "w")
    s = numpy_helper.from_array(np.array([0.1, 0.2, 0.3, 0.4], np.float32),
                                "s")
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [w, s])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13)], ir_version=8)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    report = tmp_path / "r.json"
    r = compile_model(build_dir, path, tmp_path / "m.so", f"--report={report}")
    assert "stays float: weight scales per input channel" in r.stderr
    rep = json.loads(report.read_text())["qdq"]
    assert rep["folded"] == []
    assert rep["stays_float"] == [{"layer": "w", "kind": "linear",
                                   "reason": "weight scales per input channel"}]
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = run_artifact(build_dir, tmp_path / "m.so", {"x": x}, tmp_path / "o")
    np.testing.assert_allclose(got["y"], sess.run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale,shown", [(np.nan, "nan"), (np.inf, "INF"),
                                         (-0.5, "-5.000000e-01")])
def test_bad_scale_named(build_dir, tmp_path, scale, shown):
    # NaN/infinite/negative scales (the text syntax cannot write NaN, so
    # this one is built here): an error naming the node, no artifact.
    nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["q"],
                              name="act/Q"),
             helper.make_node("DequantizeLinear", ["q", "s"], ["y"],
                              name="act/DQ")]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(np.array(scale, np.float32), "s")])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13)], ir_version=8), str(path))
    r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                        str(path), "-o", str(tmp_path / "bad.so")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert (f"QuantizeLinear node 'act/Q' (opset 13): scale {shown} must be "
            "positive and finite") in r.stderr
    assert not (tmp_path / "bad.so").exists()
