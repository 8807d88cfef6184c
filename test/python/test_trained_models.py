"""Models nobody here wrote: trained ONNX models shipped in public PyPI
packages (benchmarks/cpu/trained_models.py: PP-OCRv4 detector and
recognizer, the PP-OCR direction classifier, a document orientation
classifier, a PP-PicoDet layout detector, Silero VAD), compiled by
quant-compile with their input shapes pinned and run by quant-run against
onnxruntime on the same input.

The models are taken from the installed package, from the cache
($QOPT_TRAINED_MODELS, default BUILD/trained-models) or downloaded there
with pip by package name; without a network every test skips (one failed
download skips the rest at once)."""

import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "cpu"))
import trained_models as tm  # noqa: E402

_UNREACHABLE = []


@pytest.fixture(scope="session")
def cache(build_dir):
    return os.environ.get("QOPT_TRAINED_MODELS",
                          os.path.join(build_dir, "trained-models"))


def model_path(name, cache):
    path = tm.fetch(name, cache, download=not _UNREACHABLE)
    if path is None:
        _UNREACHABLE.append(name)
        pytest.skip(f"{tm.MODELS[name]['package']} is not installed and "
                    "cannot be downloaded (no network?)")
    return path


def compile_model(build_dir, model, name, feeds, tmp, extra=()):
    spec = tm.MODELS[name]
    so = os.path.join(tmp, name + ".so")
    args = [os.path.join(build_dir, "bin", "quant-compile"), model, "-o", so,
            *extra]
    for k, v in feeds.items():
        args.append(f"--pin-shape={k}=" + "x".join(map(str, v.shape)))
    for k, v in spec.get("freeze", {}).items():
        np.save(os.path.join(tmp, f"freeze_{k}.npy"), v)
        args.append(f"--freeze-input={k}=" +
                    os.path.join(tmp, f"freeze_{k}.npy"))
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return so


def run_model(build_dir, so, model, name, feeds, tmp):
    """(ours, onnxruntime's) outputs on `feeds`."""
    out = os.path.join(tmp, "out")
    run = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
           out, "--threads", "2"]
    for k, v in feeds.items():
        np.save(os.path.join(tmp, k + ".npy"), v)
        run += ["--input", f"{k}=" + os.path.join(tmp, k + ".npy")]
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    ref = sess.run(None, {**feeds, **tm.MODELS[name].get("freeze", {})})
    ours = [np.load(os.path.join(out, n.replace("/", "_") + ".npy"))
            for n in names]
    for o, r, n in zip(ours, ref, names):
        assert o.shape == r.shape, (n, o.shape, r.shape)
    return ours, ref


def compile_and_run(build_dir, model, name, feeds, tmp, extra=()):
    so = compile_model(build_dir, model, name, feeds, tmp, extra)
    return run_model(build_dir, so, model, name, feeds, tmp)


# Largest absolute difference allowed per model in float: the outputs are
# probabilities or logits of order 1; the differences come from summation
# order (our kernels vs MLAS) only.
FLOAT_ATOL = {"ppocr_det": 1e-3, "ppocr_rec": 1e-3, "ppocr_cls": 1e-4,
              "orientation": 1e-4, "layout_picodet": 2e-3,
              "silero_vad": 1e-4}


@pytest.mark.parametrize("name", list(tm.MODELS))
def test_trained_model_float_equals_onnxruntime(build_dir, cache, tmp_path,
                                               name):
    model = model_path(name, cache)
    feeds = tm.inputs(name, seed=0)
    ours, ref = compile_and_run(build_dir, model, name, feeds,
                                str(tmp_path))
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o, r, rtol=0, atol=FLOAT_ATOL[name])
    got = tm.compare(name, ours, ref, tm.rec_charset(model)
                     if name == "ppocr_rec" else None)
    if "argmax_equal" in got:
        assert got["argmax_equal"]
    if "decoded_equal" in got:
        assert got["decoded_equal"], got
        assert got["argmax_steps_equal"] == 1.0
    if "mask_pixels_differing" in got:
        # DB's probability map, thresholded as rapidocr does: a pixel or two
        # may sit on the threshold.
        assert got["mask_pixels_onnxruntime"] > 0
        assert got["mask_pixels_differing"] <= 4, got


def test_trained_silero_vad_state_carries(build_dir, cache, tmp_path):
    """Silero's LSTM state fed back over three windows equals onnxruntime's
    (the state output is an input of the next call)."""
    model = model_path("silero_vad", cache)
    state = np.zeros((2, 1, 128), np.float32)
    feeds = {"input": tm.inputs("silero_vad")["input"], "state": state}
    so = compile_model(build_dir, model, "silero_vad", feeds, str(tmp_path))
    for i in range(3):
        feeds["input"] = tm.inputs("silero_vad", seed=i)["input"]
        ours, want = run_model(build_dir, so, model, "silero_vad", feeds,
                               str(tmp_path))
        np.testing.assert_allclose(ours[0], want[0], atol=1e-4)
        np.testing.assert_allclose(ours[1], want[1], atol=1e-4)
        # The next window starts from onnxruntime's state, so that an
        # error cannot hide by feeding on itself.
        assert np.abs(want[1]).max() > 0
        feeds["state"] = want[1]


@pytest.mark.parametrize("name", ["ppocr_cls", "orientation"])
def test_trained_classifier_w8a8_keeps_the_class(build_dir, cache, tmp_path,
                                                 name):
    """W8A8 (calibrated on 4 inputs) gives the classifiers' float class."""
    model = model_path(name, cache)
    calib = tmp_path / "calib"
    for s in range(4):
        d = calib / f"s{s}"
        d.mkdir(parents=True)
        for k, v in tm.inputs(name, seed=s).items():
            np.save(d / (k + ".npy"), v)
    feeds = tm.inputs(name, seed=0)
    ours, ref = compile_and_run(
        build_dir, model, name, feeds, str(tmp_path),
        ["--quantize=w8a8", f"--calibration-data={calib}"])
    assert np.array_equal(ours[0].argmax(-1), ref[0].argmax(-1))
    np.testing.assert_allclose(ours[0], ref[0], atol=0.05)
