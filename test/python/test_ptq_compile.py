"""quant-compile --quantize=w8a8 on the bundled examples: observers,
calibration on the bundled samples (compiled code, JIT), parameters,
W8A8 QDQ, compiled artifact; its outputs against onnxruntime's float model
(SQNR on held-back samples), and the command's errors."""

import os
import shutil
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

import make_examples

INPUTS = {"mlp": "input", "transformer": "hidden_states", "cnn": "image"}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptq")
    for name in INPUTS:
        make_examples.write_model(str(root), name, calib=16, eval_=4)
    return root


def compile_q(build_dir, model, out, *extra):
    return subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           str(model), "-o", str(out), *extra],
                          capture_output=True, text=True)


def sqnr(build_dir, so, model, eval_dir, inp, tmp):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    num = den = 0.0
    for sample in sorted(os.listdir(eval_dir)):
        x = os.path.join(eval_dir, sample, inp + ".npy")
        subprocess.run([os.path.join(build_dir, "bin", "quant-run"), str(so),
                        "--input", f"{inp}={x}", "--output-dir", str(tmp)],
                       check=True, capture_output=True)
        got = np.load(os.path.join(tmp, out_name + ".npy")).astype(np.float64)
        ref = sess.run(None, {inp: np.load(x)})[0].astype(np.float64)
        num += np.sum(ref ** 2)
        den += np.sum((got - ref) ** 2)
    return 10 * np.log10(num / den)


@pytest.mark.parametrize("name,method,floor,extra", [
    ("mlp", "minmax", 25.0, ()), ("mlp", "mse", 25.0, ()),
    ("mlp", "minmax", 28.0, ("--activation-type=uint8",)),
    ("transformer", "minmax", 50.0, ()),
    ("transformer", "percentile", 50.0, ()),
    ("cnn", "minmax", 30.0, ())])
def test_w8a8_examples(build_dir, examples, tmp_path, name, method, floor,
                       extra):
    model = examples / name / "model.onnx"
    so = tmp_path / "q.so"
    r = compile_q(build_dir, model, so, "--quantize=w8a8",
                  f"--calibration-data={examples / name / 'calibration'}",
                  f"--calibration-method={method}", *extra)
    assert r.returncode == 0, r.stderr
    db = sqnr(build_dir, so, model, examples / name / "eval", INPUTS[name],
              tmp_path)
    # Quantized, so not float-exact; but close to the float model.
    assert floor < db < 120, db


def test_w8a8_errors(build_dir, examples, tmp_path):
    model = examples / "mlp" / "model.onnx"
    out = tmp_path / "bad.so"
    r = compile_q(build_dir, model, out, "--quantize=w8a8")
    assert r.returncode != 0
    assert "--quantize=w8a8 needs --calibration-data=DIR" in r.stderr
    r = compile_q(build_dir, model, out, "--quantize=w3a3",
                  f"--calibration-data={examples / 'mlp' / 'calibration'}")
    assert "for the --quantize option: 'w3a3' is not one of: w8a8, w8a8-dynamic, w8, w4" in r.stderr
    r = compile_q(build_dir, model, out, "--quantize=w8a8",
                  f"--calibration-data={examples / 'mlp' / 'calibration'}",
                  "--activation-type=int4")
    assert "for the --activation-type option: 'int4' is not one of: int8, uint8" in r.stderr
    # A sample whose file is named after no input: the signature is listed.
    bad = tmp_path / "calib"
    shutil.copytree(examples / "mlp" / "calibration", bad)
    first = sorted(os.listdir(bad))[0]
    os.rename(bad / first / "input.npy", bad / first / "x.npy")
    r = compile_q(build_dir, model, out, "--quantize=w8a8",
                  f"--calibration-data={bad}")
    assert r.returncode != 0
    assert (f"calibration sample '{first}': file 'x.npy' names no input of "
            "the model") in r.stderr
    assert "expected signature:" in r.stderr
    assert not out.exists()
    os.remove(bad / first / "x.npy")
    r = compile_q(build_dir, model, out, "--quantize=w8a8",
                  f"--calibration-data={bad}")
    assert r.returncode != 0
    assert f"calibration sample '{first}': no file for input 'input'" in r.stderr
    assert "expected signature:" in r.stderr
    assert not out.exists()
