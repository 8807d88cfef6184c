"""SmoothQuant on the bundled transformer block (its LayerNorm outputs carry
two outlier channels): the smoothed float model is the same function
(against onnxruntime), the per-channel statistics match numpy, and W8A8
after smoothing is more accurate than without."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import make_examples


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("sq")
    make_examples.write_model(str(root), "transformer", calib=16, eval_=4)
    return root / "transformer"


def tool(build_dir, name, *args):
    return subprocess.run([os.path.join(build_dir, "bin", name),
                           *map(str, args)], capture_output=True, text=True)


def test_channel_statistics_match_numpy(build_dir, example, tmp_path):
    """max |x| per channel of the first LayerNorm's output, over all samples."""
    mlir = tmp_path / "m.mlir"
    assert tool(build_dir, "quant-translate", "--import-onnx",
                example / "model.onnx", "-o", mlir).returncode == 0
    r = tool(build_dir, "quant-opt", mlir,
             "--qopt-insert-observers=ops=linear kind=channel_absmax",
             f"--qopt-collect-statistics=calibration-data={example / 'calibration'}")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    i = text.index("channel_absmax = array<f32: ")
    got = np.array([float(v) for v in
                    text[i + len("channel_absmax = array<f32: "):].split(">")[0].split(",")])
    # numpy: run onnxruntime with the LayerNorm output exposed.
    model = onnx.load(example / "model.onnx")
    ln = next(n for n in model.graph.node if n.op_type == "LayerNormalization")
    model.graph.output.append(onnx.helper.make_value_info(ln.output[0], onnx.TypeProto()))
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    want = np.zeros(64)
    calib = example / "calibration"
    for s in sorted(os.listdir(calib)):
        x = np.load(calib / s / "hidden_states.npy")
        y = sess.run([ln.output[0]], {"hidden_states": x})[0]
        want = np.maximum(want, np.abs(y).reshape(-1, 64).max(axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert got.max() > 3 * np.median(got)  # the outlier channels are there


def test_smoothed_float_model_is_unchanged(build_dir, example, tmp_path):
    mlir = tmp_path / "m.mlir"
    tool(build_dir, "quant-translate", "--import-onnx", example / "model.onnx",
         "-o", mlir)
    smoothed = tmp_path / "s.mlir"
    r = tool(build_dir, "quant-opt", mlir,
             "--qopt-insert-observers=ops=linear kind=channel_absmax",
             f"--qopt-collect-statistics=calibration-data={example / 'calibration'}",
             "--qopt-smooth-quant=alpha=0.5", "-o", smoothed)
    assert r.returncode == 0, r.stderr
    assert "smoothed" in smoothed.read_text()
    so = tmp_path / "s.so"
    assert tool(build_dir, "quant-compile", smoothed, "-o", so).returncode == 0
    sess = ort.InferenceSession(str(example / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    for s in sorted(os.listdir(example / "eval")):
        x = example / "eval" / s / "hidden_states.npy"
        assert tool(build_dir, "quant-run", so, "--input", f"hidden_states={x}",
                    "--output-dir", tmp_path).returncode == 0
        got = np.load(tmp_path / "output.npy")
        want = sess.run(None, {"hidden_states": np.load(x)})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def report_sqnr(build_dir, example, tmp_path, *extra):
    rep = tmp_path / "r.json"
    r = tool(build_dir, "quant-compile", example / "model.onnx", "-o",
             tmp_path / "q.so", "--quantize=w8a8",
             f"--calibration-data={example / 'calibration'}",
             f"--eval-data={example / 'eval'}", f"--report={rep}",
             "--report-latency-runs=0", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(rep.read_text())["outputs"]["eval"]["output"]["sqnr_db"]


def test_smoothquant_improves_w8a8(build_dir, example, tmp_path):
    plain = report_sqnr(build_dir, example, tmp_path)
    smooth = report_sqnr(build_dir, example, tmp_path, "--smoothquant=0.5")
    assert smooth > plain + 1.0, (plain, smooth)


def test_smoothquant_errors(build_dir, example, tmp_path):
    model = example / "model.onnx"
    r = tool(build_dir, "quant-compile", model, "-o", tmp_path / "a.so",
             "--quantize=w4", "--smoothquant=0.5",
             f"--calibration-data={example / 'calibration'}")
    assert r.returncode != 0
    assert "--smoothquant is for --quantize=w8a8 or w8a8-dynamic" in r.stderr
    r = tool(build_dir, "quant-compile", model, "-o", tmp_path / "a.so",
             "--quantize=w8a8-dynamic", "--smoothquant=0.5")
    assert r.returncode != 0 and "--smoothquant needs --calibration-data" in r.stderr
    r = tool(build_dir, "quant-compile", model, "-o", tmp_path / "a.so",
             "--quantize=w8a8", "--smoothquant=2",
             f"--calibration-data={example / 'calibration'}")
    assert r.returncode != 0 and "alpha must be in [0, 1]" in r.stderr
