"""QDQ and QAT models out (issue 18): quant-compile --emit=onnx writes the
source model with our W8A8 quantization as QuantizeLinear/DequantizeLinear
(a QDQ model: int8 weights + DequantizeLinear), or with --prepare-qat a
fake-quant training graph (float weights and activations behind Q -> DQ,
scales and zero points as named initializers). Round trips: onnxruntime
running the exported QDQ model against our integer artifact; a QAT graph
whose scales numpy changes, imported back: the artifact uses exactly the
new scales."""

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import make_examples

INPUTS = {"mlp": "input", "cnn": "image", "transformer": "hidden_states"}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("qdq_export")
    for name in INPUTS:
        make_examples.write_model(str(root), name, calib=8, eval_=3)
    return root


def qc(build_dir, *args):
    return subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           *map(str, args)], capture_output=True, text=True)


def run_artifact(build_dir, so, name, x_path, tmp):
    os.makedirs(str(tmp), exist_ok=True)
    subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                    "--input", f"{name}={x_path}", "--output-dir", str(tmp)],
                   check=True, capture_output=True)
    return {f[:-4]: np.load(os.path.join(str(tmp), f))
            for f in os.listdir(str(tmp)) if f.endswith(".npy")}


def inits(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def last_layer_lsb(model):
    """What one step (LSB) of the last quantized activation moves an output
    by at most: its scale times the largest |weight| of the last layer."""
    vals = inits(model)
    nodes = list(model.graph.node)
    for node in reversed(nodes):
        if node.op_type in ("MatMul", "Gemm", "Conv"):
            xdq = next(n for n in nodes if node.input[0] in n.output)
            wdq = next(n for n in nodes if node.input[1] in n.output)
            sx = float(vals[xdq.input[1]])
            if wdq.input[0] in vals:  # int8 weight: dequantize it
                w = vals[wdq.input[0]].astype(np.float64)
                sw = vals[wdq.input[1]].astype(np.float64)
                axis = next(a.i for a in wdq.attribute if a.name == "axis")
                shape = [1] * w.ndim
                shape[axis] = -1
                w = w * sw.reshape(shape)
            else:  # fake quant: the float weight behind the Q
                wq = next(n for n in nodes if wdq.input[0] in n.output)
                w = vals[wq.input[0]].astype(np.float64)
            return sx * np.abs(w).max()
    raise AssertionError("no quantized layer")


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_ptq_export_runs_in_onnxruntime(build_dir, examples, tmp_path, name):
    folder = examples / name
    calib = f"--calibration-data={folder / 'calibration'}"
    out = tmp_path / "qdq.onnx"
    r = qc(build_dir, folder / "model.onnx", "--quantize=w8a8", calib,
           "--emit=onnx", "-o", out)
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    src = onnx.load(str(folder / "model.onnx"))
    layers = sum(n.op_type in ("MatMul", "Gemm", "Conv") and
                 n.input[1] in inits(src) for n in src.graph.node)
    # Every layer with a weight initializer: its weight stored int8 and
    # dequantized per channel, its input quantized per tensor.
    assert f"{layers} layers quantized" in r.stdout
    qnodes = [n for n in model.graph.node
              if n.op_type in ("MatMul", "Gemm", "Conv") and
              n.input[1].endswith("_DequantizeLinear_Output")]
    assert len(qnodes) == layers
    assert all(n.input[0].endswith("_DequantizeLinear_Output")
               for n in qnodes)
    assert ops.count("QuantizeLinear") <= layers
    vals = inits(model)
    for n in model.graph.node:
        if n.op_type in ("MatMul", "Gemm", "Conv") and \
                n.input[1].endswith("_DequantizeLinear_Output"):
            assert vals[n.input[1][:-len("_DequantizeLinear_Output")] +
                        "_quantized"].dtype == np.int8
    # Everything else unchanged: the source's other nodes, in order.
    kept = [n.name for n in model.graph.node
            if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    assert kept == [n.name for n in src.graph.node]

    so = tmp_path / "q.so"
    r = qc(build_dir, folder / "model.onnx", "--quantize=w8a8", calib,
           "-o", so)
    assert r.returncode == 0, r.stderr
    # onnxruntime with its graph optimizations off runs the QDQ semantics
    # as written; its fused integer kernels (on) round some intermediate
    # activations differently (the MLP: up to 3.6 steps on one row), where
    # our artifact matches ONNX's reference evaluator to 3e-8.
    so_opts = ort.SessionOptions()
    so_opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(out), so_opts,
                                providers=["CPUExecutionProvider"])
    lsb = last_layer_lsb(model)
    inp = INPUTS[name]
    for s in sorted(os.listdir(folder / "eval")):
        x = folder / "eval" / s / f"{inp}.npy"
        ref = sess.run(None, {inp: np.load(x)})[0]
        got = run_artifact(build_dir, so, inp, x, tmp_path / s)
        got = got[sess.get_outputs()[0].name]
        # Our integer artifact and onnxruntime on the exported model agree
        # within one step of the last quantized activation.
        assert np.abs(got - ref).max() <= lsb * (1 + 1e-5), \
            (np.abs(got - ref).max(), lsb)


def activation_scales(mlir_text):
    """The activation scales the folded layers use: qopt.qlinear's
    input_scale, and the per-tensor quantize in front of integer convs."""
    scales = re.findall(r"input_scale = ([-+0-9.e]+) : f64", mlir_text)
    scales += re.findall(r"qopt.quantize .*!quant.uniform<i8:f32, "
                         r"([-+0-9.e]+)(?::-?\d+)?>>", mlir_text)
    return {float(v) for v in scales}


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_qat_export_scales_round_trip(build_dir, examples, tmp_path, name):
    folder = examples / name
    calib = f"--calibration-data={folder / 'calibration'}"
    qat = tmp_path / "qat.onnx"
    r = qc(build_dir, folder / "model.onnx", "--quantize=w8a8", calib,
           "--prepare-qat", "--emit=onnx", "-o", qat)
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(qat))
    onnx.checker.check_model(model)
    src = onnx.load(str(folder / "model.onnx"))
    vals = inits(model)
    # Float weights kept (a trainer updates them), fake quant on weights and
    # activations, learnable scales as named initializers.
    for k, v in inits(src).items():
        np.testing.assert_array_equal(vals[k], v)
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert len(q) == len(dq) > 0
    assert all(n.input[1].endswith("_scale") and
               n.input[2].endswith("_zero_point") for n in q + dq)

    # The QAT graph computes what the QDQ export computes (same scales, the
    # same integers from the float weights).
    qdq = tmp_path / "qdq.onnx"
    assert qc(build_dir, folder / "model.onnx", "--quantize=w8a8", calib,
              "--emit=onnx", "-o", qdq).returncode == 0
    inp = INPUTS[name]
    x = np.load(folder / "eval" / "sample_000" / f"{inp}.npy")
    so_opts = ort.SessionOptions()
    so_opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    run = lambda m: ort.InferenceSession(  # noqa: E731
        str(m), so_opts, providers=["CPUExecutionProvider"]).run(
            None, {inp: x})[0]
    np.testing.assert_allclose(run(qat), run(qdq), rtol=1e-6, atol=1e-6)

    # A trainer changes the scales (numpy here) ...
    rng = np.random.default_rng(1)
    act_scales = set()
    for t in model.graph.initializer:
        if t.name.endswith("_scale"):
            a = numpy_helper.to_array(t)
            a = (a * rng.uniform(0.8, 1.3, a.shape)).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
            if a.ndim == 0:
                act_scales.add(float(a))
    trained = tmp_path / "trained.onnx"
    onnx.save(model, str(trained))
    # ... and the artifact uses exactly the new scales: each folded layer's
    # input scale is one of them (as f32), and the outputs match onnxruntime
    # running the trained graph.
    imported = subprocess.run(
        [os.path.join(build_dir, "bin", "quant-translate"), "--import-onnx",
         str(trained)], capture_output=True, text=True, check=True).stdout
    folded = subprocess.run(
        [os.path.join(build_dir, "bin", "quant-opt"), "--qopt-fold-qdq"],
        input=imported, capture_output=True, text=True, check=True).stdout
    used = activation_scales(folded)
    assert len(act_scales) >= 3 and used == act_scales, (used, act_scales)
    assert "qopt.linear" not in folded
    so = tmp_path / "t.so"
    r = qc(build_dir, trained, "-o", so)
    assert r.returncode == 0, r.stderr
    got = run_artifact(build_dir, so, inp, folder / "eval" / "sample_000" /
                       f"{inp}.npy", tmp_path / "o")
    ref = run(trained)
    lsb = last_layer_lsb(model)
    assert np.abs(got[model.graph.output[0].name] - ref).max() <= lsb


def test_prepare_qat_without_calibration(build_dir, examples, tmp_path):
    folder = examples / "mlp"
    qat = tmp_path / "qat.onnx"
    r = qc(build_dir, folder / "model.onnx", "--quantize=w8a8",
           "--prepare-qat", "--emit=onnx", "-o", qat)
    assert r.returncode == 0, r.stderr
    model = onnx.load(str(qat))
    vals = inits(model)
    acts = [n for n in model.graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in vals]
    assert acts
    for n in acts:  # [-1, 1] symmetric int8 to start from
        assert vals[n.input[1]] == np.float32(1 / 127)
        assert vals[n.input[2]].dtype == np.int8 and vals[n.input[2]] == 0
    for n in model.graph.node:  # weights: their own per-channel ranges
        if n.op_type == "QuantizeLinear" and n.input[0] in vals:
            w, s = vals[n.input[0]], vals[n.input[1]]
            axis = next(a.i for a in n.attribute if a.name == "axis")
            red = tuple(i for i in range(w.ndim) if i != axis)
            np.testing.assert_allclose(s, np.abs(w).max(axis=red) / 127,
                                       rtol=1e-6)


def test_emit_onnx_errors(build_dir, examples, tmp_path):
    model = examples / "mlp" / "model.onnx"
    out = tmp_path / "x.onnx"
    r = qc(build_dir, model, "--emit=onnx", "-o", out)
    assert r.returncode != 0
    assert "--emit=onnx exports --quantize=w8a8" in r.stderr
    r = qc(build_dir, model, "--quantize=w8", "--emit=onnx", "-o", out)
    assert "--emit=onnx exports --quantize=w8a8" in r.stderr
    r = qc(build_dir, model, "--quantize=w8a8", "--prepare-qat", "-o",
           tmp_path / "x.so")
    assert r.returncode != 0
    assert "--prepare-qat writes an ONNX model: add --emit=onnx" in r.stderr
    r = qc(build_dir, model, "--quantize=w8a8", "--emit=onnx", "-o", out)
    assert "--quantize=w8a8 needs --calibration-data=DIR" in r.stderr
    mlir = tmp_path / "m.mlir"
    mlir.write_text("module {}\n")
    r = qc(build_dir, mlir, "--quantize=w8a8", "--prepare-qat",
           "--emit=onnx", "-o", out)
    assert "--emit=onnx rewrites the source ONNX model" in r.stderr
    assert not out.exists()


def test_qat_example(build_dir, tmp_path):
    # examples/qat_example.py: export the QAT graph, train it when torch is
    # installed (skipped otherwise), compile it, check it against
    # onnxruntime.
    import qat_example
    assert qat_example.main(["--build-dir", build_dir, "--out",
                             str(tmp_path), "--steps", "3"]) == 0
    assert (tmp_path / "mlp" / "model.trained.so").exists()


def test_excluded_layer_stays_float(build_dir, examples, tmp_path):
    # --exclude leaves fc2 float: the export quantizes the other layers and
    # leaves fc2's node and weight as they were.
    folder = examples / "mlp"
    out = tmp_path / "qdq.onnx"
    r = qc(build_dir, folder / "model.onnx", "--quantize=w8a8",
           f"--calibration-data={folder / 'calibration'}", "--exclude=fc2",
           "--emit=onnx", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "2 layers quantized" in r.stdout
    model = onnx.load(str(out))
    fc2 = next(n for n in model.graph.node if n.name == "/fc2/Gemm")
    assert fc2.input[1] == "fc2.weight"
    assert not fc2.input[0].endswith("_DequantizeLinear_Output")
    assert inits(model)["fc2.weight"].dtype == np.float32
