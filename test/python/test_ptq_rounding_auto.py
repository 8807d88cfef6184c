"""--weight-rounding=auto (qopt-quantize weight-rounding=auto): per layer,
round-to-nearest or GPTQ, whichever has the lower output error
tr((W - Wq) H (W - Wq)ᵀ) on the layer's calibration inputs. The choice
against numpy (gptq_reference of test_gptq_numpy.py, H from the same
rows), the report's per-layer method, and the output SQNR against
onnxruntime's float model: auto is not below round-to-nearest where GPTQ
overfits few calibration rows. --activation-type=auto (qopt-calibrate
storage=auto) on the bundled examples against the int8 default."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from test_gptq_numpy import gptq_reference
from test_ptq_gptq import (gemm_model, mlp_model, moments, output_sqnr, ptq,
                           resources, write_samples)

def nearest_codes(w):
    s = np.abs(w.astype(np.float64)).max(1, keepdims=True) / 127
    return np.clip(np.rint(w / s), -127, 127), s


def proxy(w, codes, scales, h):
    e = w.astype(np.float64) - (codes * scales).astype(np.float32)
    return np.trace(e @ h @ e.T)


def heavy_rows(rng, rows, k):
    """Heavy-tailed rows with outlier and correlated inputs (as
    test_ptq_gptq.py's, from this module's generator)."""
    x = rng.standard_t(3, size=(rows, k))
    x[:, :2] *= 6.0
    x[:, 5] = 0.8 * x[:, 4] + 0.2 * x[:, 5]
    return x + 0.3


def low_rank_rows(rng, rows, k, basis):
    """Inputs that move together (4 shared directions plus noise): GPTQ's
    error feedback has something to exploit that holds beyond the rows it
    fitted."""
    return rng.normal(size=(rows, len(basis))) @ basis + 0.3 * rng.normal(
        size=(rows, k))


@pytest.mark.parametrize("samples, rows, expected", [
    # No split: judged on the 16 rows GPTQ fitted, where it wins.
    (1, "heavy", "gptq"),
    # Fitted on 16 heavy-tailed rows, worse on the other 16.
    (2, "heavy", "nearest"),
    # Heavy-tailed even at 256 + 256 rows (w8: GPTQ gains nothing there).
    (32, "heavy", "nearest"),
    # Correlated inputs: fitted on 64 rows, better on the other 64.
    (8, "low_rank", "gptq")])
def test_auto_choice_equals_numpy(build_dir, tmp_path, samples, rows,
                                  expected):
    """One Gemm (K = 64), w8, calibration samples of 16 rows each. With
    two or more samples auto fits GPTQ on the first half of the samples
    and compares it with nearest on the second half (numpy here: the
    same halves); with one, on all the rows. The codes are the chosen
    rounding's on all the rows."""
    rng = np.random.default_rng(samples)
    n, k = 24, 64
    w = (rng.normal(size=(n, k)) * np.exp(rng.normal(size=(n, 1)))).astype(
        np.float32)
    model = gemm_model(str(tmp_path / "gemm.onnx"), w,
                       np.zeros(n, np.float32))
    basis = rng.normal(size=(4, k))
    xs = [heavy_rows(rng, 16, k) if rows == "heavy"
          else low_rank_rows(rng, 16, k, basis) for _ in range(samples)]
    write_samples(str(tmp_path / "calib"), "x", xs)
    h, _ = moments(np.concatenate(xs))
    nq, ns = nearest_codes(w)
    gq, gs = gptq_reference(w, h, 127)
    if samples >= 2:
        ha, _ = moments(np.concatenate(xs[:samples // 2]))
        hb, _ = moments(np.concatenate(xs[samples // 2:]))
        fa, fs = gptq_reference(w, ha, 127)
        errs = {"nearest": proxy(w, nq, ns, hb), "gptq": proxy(w, fa, fs, hb)}
    else:
        errs = {"nearest": proxy(w, nq, ns, h), "gptq": proxy(w, gq, gs, h)}
    choice = "nearest" if errs["nearest"] <= errs["gptq"] else "gptq"
    assert choice == expected, errs   # the case was built to prefer it
    out = ptq(build_dir, model, "scheme=w8 weight-rounding=auto "
              f"calibration-data={tmp_path / 'calib'}")
    m = re.search(r"rounding_error<method = (\w+), nearest_sqnr_db = "
                  r"([-\d.e+]+), sqnr_db = ([-\d.e+]+)", out)
    assert m and m.group(1) == choice, out[:3000]
    if choice == "nearest":
        assert m.group(2) == m.group(3)
    got = np.frombuffer(resources(out)["fc.weight.int8"], np.int8).reshape(n, k)
    want = nq if choice == "nearest" else gq
    diff = got.astype(np.int64) - want
    assert np.abs(diff).max() <= 1 and np.mean(diff == 0) >= 0.999


def test_auto_end_to_end_few_rows(build_dir, tmp_path):
    """A two-layer MLP calibrated on 4 samples (64 rows for K = 64 and 96):
    quant-compile w8 with nearest, gptq and auto against onnxruntime's float
    model on held-back samples. The report lists auto's choice per layer,
    one of the two roundings' own figures; auto's output SQNR is at least
    nearest's."""
    rng = np.random.default_rng(25)
    k, hdim, n = 64, 96, 16
    model = mlp_model(rng, str(tmp_path / "mlp.onnx"), k, hdim, n)
    write_samples(str(tmp_path / "calib"), "x",
                  [heavy_rows(rng, 16, k) for _ in range(4)])
    evals = [heavy_rows(rng, 16, k) for _ in range(8)]
    sqnr, methods = {}, {}
    for rounding in ("nearest", "gptq", "auto"):
        so = str(tmp_path / f"{rounding}.so")
        rep = str(tmp_path / f"{rounding}.json")
        r = subprocess.run(
            [os.path.join(build_dir, "bin", "quant-compile"), model,
             "--quantize=w8", f"--weight-rounding={rounding}",
             f"--calibration-data={tmp_path / 'calib'}", "-o", so,
             "--report=" + rep, "--report-latency-runs=0"],
            capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(rep) as f:
            layers = json.load(f)["layers"]
        methods[rounding] = {lay["name"]: lay["weight_rounding"]
                             for lay in layers if "weight_rounding" in lay}
        sqnr[rounding] = output_sqnr(build_dir, so, model, evals, tmp_path)
    auto = methods["auto"]
    assert len(auto) == 2, methods
    for name, rec in auto.items():
        assert rec["method"] in ("nearest", "gptq"), methods
        # Its figures are those of the rounding it chose, on all the rows
        # (the gptq run's report gives both roundings').
        g = methods["gptq"][name]
        assert rec["nearest_sqnr_db"] == pytest.approx(g["nearest_sqnr_db"],
                                                       abs=1e-6)
        assert rec["sqnr_db"] == pytest.approx(
            g["sqnr_db"] if rec["method"] == "gptq" else g["nearest_sqnr_db"],
            abs=1e-6)
    print(sqnr, {n: r["method"] for n, r in auto.items()})
    assert sqnr["auto"] >= sqnr["nearest"] - 0.05, sqnr
    assert sqnr["auto"] >= min(sqnr["gptq"], sqnr["nearest"]), sqnr


def test_quant_compile_auto_needs_calibration(build_dir, tmp_path):
    model = gemm_model(str(tmp_path / "gemm.onnx"),
                       np.ones((4, 8), np.float32), np.zeros(4, np.float32))
    for flags, message in [
            (["--quantize=w8", "--weight-rounding=auto"],
             "--weight-rounding=auto needs --calibration-data=DIR"),
            (["--quantize=nf4", "--weight-rounding=auto",
              "--calibration-data=."],
             "--weight-rounding=auto is for --quantize=w8a8, w8a8-dynamic, "
             "w8 and symmetric w4")]:
        r = subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                            model, *flags, "-o", str(tmp_path / "m.so")],
                           capture_output=True, text=True)
        assert r.returncode != 0
        assert message in r.stderr, r.stderr


def bundled(tmp_path, name):
    """examples/make_examples.py's model `name`, 16 calibration and 4
    held-back samples: (model, calibration dir, eval feeds)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    out = tmp_path / "bundled"
    subprocess.run([sys.executable, os.path.join(root, "examples",
                                                 "make_examples.py"),
                    "--out", str(out), "--models", name, "--calib", "16",
                    "--eval", "4"], check=True, capture_output=True)
    mdir = out / name
    evals = []
    for s in sorted(os.listdir(mdir / "eval")):
        d = mdir / "eval" / s
        evals.append({f[:-4]: np.load(str(d / f))
                      for f in sorted(os.listdir(d)) if f.endswith(".npy")})
    return str(mdir / "model.onnx"), str(mdir / "calibration"), evals


def feeds_sqnr(build_dir, so, model, evals, tmp):
    """Output SQNR (dB) of the artifact against onnxruntime's float model."""
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out = sess.get_outputs()[0].name
    num = den = 0.0
    for i, feeds in enumerate(evals):
        cmd = [os.path.join(build_dir, "bin", "quant-run"), so,
               "--output-dir", str(tmp)]
        for k, v in feeds.items():
            p = str(tmp / f"in{i}_{k}.npy")
            np.save(p, v)
            cmd += ["--input", f"{k}={p}"]
        subprocess.run(cmd, check=True, capture_output=True)
        got = np.load(str(tmp / (out + ".npy"))).astype(np.float64)
        ref = sess.run(None, feeds)[0].astype(np.float64)
        num += np.sum(ref ** 2)
        den += np.sum((got - ref) ** 2)
    return 10 * np.log10(num / den)


@pytest.mark.parametrize("name", ["mlp", "cnn", "transformer"])
def test_activation_type_auto_on_bundled_models(build_dir, tmp_path, name):
    """--quantize=w8a8 with the fixed default (int8 symmetric activations)
    and with --activation-type=auto on the bundled examples, against
    onnxruntime's float model on held-back samples: the report lists each
    layer's activation_storage, and auto's output SQNR is not below the
    default's."""
    model, calib, evals = bundled(tmp_path, name)
    sqnr, storage = {}, {}
    for act in ("int8", "auto"):
        so, rep = str(tmp_path / f"{act}.so"), str(tmp_path / f"{act}.json")
        r = subprocess.run(
            [os.path.join(build_dir, "bin", "quant-compile"), model,
             "--quantize=w8a8", f"--activation-type={act}",
             f"--calibration-data={calib}", "-o", so, "--report=" + rep,
             "--report-latency-runs=0"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(rep) as f:
            storage[act] = [lay.get("activation_storage")
                            for lay in json.load(f)["layers"]
                            if lay.get("activation_storage")]
        sqnr[act] = feeds_sqnr(build_dir, so, model, evals, tmp_path)
    print(name, sqnr, storage)
    assert storage["int8"] and set(storage["int8"]) == {"int8"}, storage
    assert len(storage["auto"]) == len(storage["int8"]), storage
    assert set(storage["auto"]) <= {"int8", "uint8"}, storage
    assert sqnr["auto"] >= sqnr["int8"] - 0.05, sqnr
