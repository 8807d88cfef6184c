"""quant-compile --quantize=w8a8|w8a8-dynamic|w8|w4 --report on the bundled
transformer block and CNN: the compiled quantized artifact against
onnxruntime's float model (numpy SQNR on the held-back samples), the
report's figures against that independent computation, its structure, and
the PTQ pipeline through quant-opt (--qopt-ptq)."""

import json
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

import make_examples

INPUTS = {"transformer": ("hidden_states", "output"), "cnn": ("image", "logits")}
# Minimum end-to-end SQNR (dB) on held-back samples: a layer's 8-bit error
# is ~35-45 dB, 4-bit ~20 dB (the transformer's residual lifts its output).
FLOORS = {"w8a8": 30, "w8a8-dynamic": 30, "w8": 30, "w4": 15}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    for name in INPUTS:
        make_examples.write_model(str(root), name, calib=8, eval_=4)
    return root


def quant_compile(build_dir, *args):
    return subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           *map(str, args)], capture_output=True, text=True)


def numpy_sqnr(build_dir, so, model, eval_dir, inp, tmp):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out = sess.get_outputs()[0].name
    num = den = 0.0
    worst = 0.0
    for sample in sorted(os.listdir(eval_dir)):
        x = os.path.join(eval_dir, sample, inp + ".npy")
        subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                        "--input", f"{inp}={x}", "--output-dir", str(tmp)],
                       check=True, capture_output=True)
        got = np.load(os.path.join(tmp, out + ".npy"))
        ref = sess.run(None, {inp: np.load(x)})[0]
        num += float(np.sum(ref.astype(np.float64) ** 2))
        den += float(np.sum((got.astype(np.float64) - ref) ** 2))
        worst = max(worst, float(np.abs(got - ref).max()))
    return 10 * np.log10(num / den), worst


@pytest.mark.parametrize("model", sorted(INPUTS))
@pytest.mark.parametrize("scheme", sorted(FLOORS))
def test_scheme_report_matches_onnxruntime(build_dir, examples, tmp_path,
                                           model, scheme):
    inp, out = INPUTS[model]
    d = examples / model
    so, report = tmp_path / "q.so", tmp_path / "report.json"
    r = quant_compile(build_dir, d / "model.onnx", "-o", so,
                      f"--quantize={scheme}", "--group-size=32",
                      f"--calibration-data={d / 'calibration'}",
                      f"--eval-data={d / 'eval'}", f"--report={report}",
                      "--report-latency-runs=5")
    assert r.returncode == 0, r.stderr
    rep = json.loads(report.read_text())
    # Independent check: the artifact run by quant-run against onnxruntime.
    db, worst = numpy_sqnr(build_dir, so, d / "model.onnx", d / "eval", inp,
                           tmp_path)
    assert db > FLOORS[scheme], db
    ev = rep["outputs"]["eval"][out]
    # The report compares with our float model, numpy with onnxruntime's:
    # the two agree to float noise.
    assert abs(ev["sqnr_db"] - db) < 1.0, (ev["sqnr_db"], db)
    assert abs(ev["max_abs_error"] - worst) <= 0.05 * worst + 1e-6
    assert 0.99 < ev["cosine"] <= 1.0 + 1e-9
    assert rep["samples"] == {"calibration": 8, "eval": 4}
    assert rep["scheme"] == scheme
    layers = rep["layers"]
    assert len(layers) == (6 if model == "transformer" else 4)
    for layer in layers:
        assert layer["quantized_as"] != "float" or (
            scheme == "w8a8-dynamic" and layer["op"] != "qopt.linear")
        if layer["quantized_as"] != "float":
            assert layer["sqnr_db_eval"] is not None
            assert layer["sqnr_db_eval"] > (8 if scheme == "w4" else 18)
            assert layer["weight_bytes_quantized"] < layer["weight_bytes_float"]
    if not (scheme == "w8a8-dynamic" and model == "cnn"):  # convs stay float
        assert rep["weight_bytes"]["quantized"] < rep["weight_bytes"]["float"] / 3
    assert rep["latency_ms"]["float"] > 0 and rep["latency_ms"]["quantized"] > 0
    # The table on stdout names every layer and the end-to-end figures.
    for layer in layers:
        assert layer["name"][:36] in r.stdout
    assert "output " in r.stdout and "latency" in r.stdout


def test_w4_asymmetric_and_ratio(build_dir, examples, tmp_path):
    d = examples / "transformer"
    report = tmp_path / "r.json"
    r = quant_compile(build_dir, d / "model.onnx", "-o", tmp_path / "q.so",
                      "--quantize=w4", "--group-size=64", "--weight-asymmetric",
                      f"--eval-data={d / 'eval'}", f"--report={report}",
                      "--report-latency-runs=0")
    assert r.returncode == 0, r.stderr
    rep = json.loads(report.read_text())
    assert all(l["quantized_as"] == "uint4 g64, weight-only"
               for l in rep["layers"])
    # 4 bits + per-64 f32 scale and i8 zero point: 0.5 + 5/64 bytes/weight.
    f, q = rep["weight_bytes"]["float"], rep["weight_bytes"]["quantized"]
    assert abs(q / (f / 4) - (0.5 + 5 / 64)) < 0.01
    assert "latency_ms" not in rep


def test_report_errors(build_dir, examples, tmp_path):
    d = examples / "transformer"
    model = d / "model.onnx"
    r = quant_compile(build_dir, model, "-o", tmp_path / "a.so",
                      f"--report={tmp_path / 'r.json'}")
    assert r.returncode != 0 and "--report needs --quantize" in r.stderr
    r = quant_compile(build_dir, model, "-o", tmp_path / "a.so", "--quantize=w8",
                      f"--report={tmp_path / 'r.json'}")
    assert r.returncode != 0
    assert "needs samples: --calibration-data or --eval-data" in r.stderr
    # Held-back samples whose input name does not match the model.
    bad = tmp_path / "bad" / "s0"
    bad.mkdir(parents=True)
    np.save(bad / "wrong_name.npy", np.zeros((1, 4, 64), np.float32))
    r = quant_compile(build_dir, model, "-o", tmp_path / "a.so", "--quantize=w8",
                      f"--eval-data={bad.parent}", f"--report={tmp_path / 'r.json'}")
    assert r.returncode != 0
    assert "eval sample 's0': file 'wrong_name.npy' names no input of the " \
        "model" in r.stderr
    assert "expected signature" in r.stderr
    assert not (tmp_path / "r.json").exists()
    assert not (tmp_path / "a.so").exists()
    # A sample folder without the input's file (only notes).
    (bad / "wrong_name.npy").unlink()
    (bad / "notes.txt").write_text("x")
    r = quant_compile(build_dir, model, "-o", tmp_path / "a.so", "--quantize=w8",
                      f"--eval-data={bad.parent}", f"--report={tmp_path / 'r.json'}")
    assert r.returncode != 0
    assert "eval sample 's0': no file for input 'hidden_states'" in r.stderr
    assert "expected signature" in r.stderr
    assert not (tmp_path / "a.so").exists()
    r = quant_compile(build_dir, model, "-o", tmp_path / "a.so", "--quantize=w4",
                      "--group-size=3", f"--eval-data={d / 'eval'}")
    assert r.returncode != 0
    assert "group-size must be a positive even number, got 3" in r.stderr


def test_quant_opt_ptq_pipeline(build_dir, examples, tmp_path):
    """The registered qopt-ptq pipeline runs the same flow from quant-opt."""
    d = examples / "transformer"
    bindir = os.path.join(build_dir, "bin")
    mlir = tmp_path / "m.mlir"
    subprocess.run([os.path.join(bindir, "quant-translate"), "--import-onnx",
                    str(d / "model.onnx"), "-o", str(mlir)], check=True)
    r = subprocess.run([os.path.join(bindir, "quant-opt"), str(mlir),
                        f"--qopt-ptq=scheme=w8a8 calibration-data={d / 'calibration'} "
                        "calibration-method=percentile percentile=99.9 "
                        "activation-type=uint8 exclude=fc2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('activation = #qopt.activation<static>') == 5
    assert 'input_storage = #qopt.storage<uint8>' in r.stdout
    assert 'weight_name = "layers.0.mlp.fc2.weight"' in r.stdout
    assert "qopt.linear" in r.stdout  # fc2 left float
    r = subprocess.run([os.path.join(bindir, "quant-opt"), str(mlir),
                        "--qopt-ptq=scheme=w8a8"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "qopt-collect-statistics: no calibration-data directory given" in r.stderr


def test_quantization_is_deterministic(build_dir, examples, tmp_path):
    """Same model and samples: byte-identical quantized IR and outputs."""
    d = examples / "cnn"
    outs = []
    for i in range(2):
        mlir = tmp_path / f"q{i}.mlir"
        r = quant_compile(build_dir, d / "model.onnx", "-o", mlir,
                          "--emit=mlir", "--quantize=w8a8",
                          "--calibration-method=entropy",
                          f"--calibration-data={d / 'calibration'}")
        assert r.returncode == 0, r.stderr
        outs.append(mlir.read_bytes())
    assert outs[0] == outs[1]
    so = tmp_path / "q.so"
    r = quant_compile(build_dir, d / "model.onnx", "-o", so, "--quantize=w8a8",
                      f"--calibration-data={d / 'calibration'}")
    assert r.returncode == 0, r.stderr
    sample = sorted(os.listdir(d / "eval"))[0]
    got = []
    for i, threads in enumerate((1, 2, 2)):
        od = tmp_path / f"out{i}"
        subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                        "--threads", str(threads), "--input",
                        f"image={d / 'eval' / sample / 'image.npy'}",
                        "--output-dir", str(od)], check=True,
                       capture_output=True)
        got.append(np.load(od / "logits.npy"))
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[1], got[2])
