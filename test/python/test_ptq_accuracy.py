"""W8A8 calibration on generated models with trained-looking activations
(examples/ptq_zoo.py; issue 25): a detector whose score head ends in a
Sigmoid after HardSwish/ReLU layers, a MobileNetV3-style block (depthwise
conv, HardSwish, squeeze-excitation). Output SQNR against onnxruntime's
float model on held-back samples: every clipping method within 3 dB of
minmax (entropy fell 6.4 dB below it on the detector before the checks)."""

import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

import ptq_zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    return {name: ptq_zoo.write(str(root), name, calib=16, eval_=4)
            for name in ("detector", "mobilenet")}


def output_sqnr(build_dir, so, model, inp, tmp):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    eval_dir = os.path.join(os.path.dirname(model), "eval")
    num = den = 0.0
    for sample in sorted(os.listdir(eval_dir)):
        x = os.path.join(eval_dir, sample, inp + ".npy")
        subprocess.run([os.path.join(build_dir, "bin", "quant-run"), so,
                        "--input", f"{inp}={x}", "--output-dir", str(tmp)],
                       check=True, capture_output=True)
        got = np.load(os.path.join(tmp, out_name + ".npy")).astype(np.float64)
        ref = sess.run(None, {inp: np.load(x)})[0].astype(np.float64)
        num += np.sum(ref ** 2)
        den += np.sum((got - ref) ** 2)
    return 10 * np.log10(num / den)


def compiled_sqnr(build_dir, zoo, name, method, act, tmp, *extra):
    model, inp = zoo[name]
    so = str(tmp / f"{name}_{method}_{act}.so")
    r = subprocess.run(
        [os.path.join(build_dir, "bin", "quant-compile"), model, "-o", so,
         "--quantize=w8a8",
         "--calibration-data=" + os.path.join(os.path.dirname(model),
                                              "calibration"),
         f"--calibration-method={method}", f"--activation-type={act}",
         *extra], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return output_sqnr(build_dir, so, model, inp, tmp)


@pytest.mark.parametrize("name", ["detector", "mobilenet"])
@pytest.mark.parametrize("act", ["int8", "uint8"])
def test_clipping_methods_within_3db_of_minmax(build_dir, zoo, tmp_path, name,
                                               act):
    ref = compiled_sqnr(build_dir, zoo, name, "minmax", act, tmp_path)
    assert ref > 15, ref  # quantized, and working
    for method in ("entropy", "percentile", "mse"):
        got = compiled_sqnr(build_dir, zoo, name, method, act, tmp_path)
        assert got > ref - 3.0, (method, got, ref)
