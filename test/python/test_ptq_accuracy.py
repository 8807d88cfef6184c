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
            for name in ("detector", "mobilenet", "transformer_softmax")}


def output_sqnr(build_dir, so, model, inp, tmp, samples="eval"):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    eval_dir = os.path.join(os.path.dirname(model), samples)
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


def test_accuracy_target_demotes_the_sensitive_layers(build_dir, zoo,
                                                          tmp_path):
    """--accuracy-target=20 on the attention block with outlier tokens
    (all quantized: ~6 dB on the calibration samples): the report ranks
    every layer, the most sensitive ones stay float, and the artifact
    reaches the target against onnxruntime's float model on the same
    samples (an independent check of the compiler's own measurement)."""
    import json
    model, inp = zoo["transformer_softmax"]
    calib = os.path.join(os.path.dirname(model), "calibration")
    so, rep = str(tmp_path / "t.so"), str(tmp_path / "t.json")
    r = subprocess.run(
        [os.path.join(build_dir, "bin", "quant-compile"), model, "-o", so,
         "--quantize=w8a8", "--calibration-data=" + calib,
         "--accuracy-target=20", "--report=" + rep,
         "--report-latency-runs=0"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    t = json.load(open(rep))["accuracy_target"]
    sens = [s["sqnr_db"] for s in t["sensitivity"]]
    assert len(sens) == 7 and sens == sorted(sens)
    assert t["all_quantized_sqnr_db"] < 20 and t["met"]
    assert t["achieved_sqnr_db"] >= 20
    # The most sensitive layers, in order, and nothing else, are demoted:
    # to weight-only int8 (the fallback, tried first) or to float.
    assert t["fallback_scheme"] == "w8"
    assert not (t["kept_float"] and t["kept_weight_only"])
    kept = t["kept_float"] or t["kept_weight_only"]
    assert kept == [s["name"] for s in t["sensitivity"][:len(kept)]]
    assert 0 < len(kept) < 7
    b = t["constant_bytes"]
    assert b["all_quantized"] <= b["result"] < b["float"]
    # The kept layers are so in the artifact's report too, and the report
    # says each layer's precision.
    layers = {l["name"]: l["quantized_as"]
              for l in json.load(open(rep))["layers"]}
    assert all(layers[k] == "float" for k in t["kept_float"])
    assert all("weight-only" in layers[k] for k in t["kept_weight_only"])
    precision = {p["name"]: p["precision"] for p in t["precision"]}
    assert all(precision[k] in ("w8", "float") for k in kept)
    assert sum(p == "w8a8" for p in precision.values()) == 7 - len(kept)
    got = output_sqnr(build_dir, so, model, inp, tmp_path, "calibration")
    assert got >= 20 and abs(got - t["achieved_sqnr_db"]) < 0.1
    # Without the target the same model is far below it.
    assert compiled_sqnr(build_dir, zoo, "transformer_softmax", "minmax",
                         "int8", tmp_path) < 15
