#!/usr/bin/env python3
"""Calibration methods on generated models with trained-looking activations
(examples/ptq_zoo.py: a sigmoid score head, a MobileNetV3 block with
HardSwish and squeeze-excitation, attention with softmax and heavy-tailed
tokens), ours against onnxruntime's quantize_static, side by side.

    .venv/bin/python benchmarks/ptq/bench_calibration.py --build-dir build
        [--models detector,mobilenet,transformer_softmax]
        [--methods minmax,entropy,percentile,mse] [--calib 32] [--eval 8]
        [--quant-compile PATH]  (another build's, e.g. before a change)
        [--out build/benchmarks/ptq]

For each model: ours (quant-compile --quantize=w8a8, int8 symmetric and
uint8 asymmetric activations, each method) and onnxruntime's
quantize_static (QDQ, per-channel int8 weights, int8 activations,
MinMax/Entropy/Percentile), output SQNR (dB) against the float model
(onnxruntime) on held-back samples, and argmax agreement over the last
axis (class / score channel / token logits). Writes
OUT/bench_calibration.json. Never asserts.
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                      QuantFormat, QuantType, quantize_static)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import ptq_zoo  # noqa: E402


def samples(directory):
    out = []
    for s in sorted(os.listdir(directory)):
        d = os.path.join(directory, s)
        out.append({f[:-4]: np.load(os.path.join(d, f))
                    for f in sorted(os.listdir(d)) if f.endswith(".npy")})
    return out


class Reader(CalibrationDataReader):
    def __init__(self, items):
        self.it = iter(items)

    def get_next(self):
        return next(self.it, None)


def metrics(refs, gots, axis):
    ref = np.concatenate([r.ravel() for r in refs]).astype(np.float64)
    got = np.concatenate([g.ravel() for g in gots]).astype(np.float64)
    noise = np.sum((got - ref) ** 2)
    agree = np.mean(np.concatenate([
        (np.argmax(r, axis=axis) == np.argmax(g, axis=axis)).ravel()
        for r, g in zip(refs, gots)]))
    return {"sqnr_db": float(10 * np.log10(np.sum(ref ** 2) / noise))
            if noise > 0 else None,
            "argmax_agreement": float(agree)}


def run_ours(quant_run, so, evals, out_name, tmp):
    outs = []
    for i, feeds in enumerate(evals):
        cmd = [quant_run, so, "--output-dir", os.path.join(tmp, "out")]
        for k, v in feeds.items():
            p = os.path.join(tmp, f"in_{i}_{k}.npy")
            np.save(p, v)
            cmd += ["--input", f"{k}={p}"]
        subprocess.run(cmd, check=True, capture_output=True)
        outs.append(np.load(os.path.join(tmp, "out", out_name + ".npy")))
    return outs


def bench_model(name, args, data, quant_compile, quant_run):
    model, _ = ptq_zoo.write(data, name, args.calib, args.eval)
    mdir = os.path.dirname(model)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    # Scores [1, C, H, W]: argmax over channels; others over the last axis.
    axis = 1 if name == "detector" else -1
    evals = samples(os.path.join(mdir, "eval"))
    calib = samples(os.path.join(mdir, "calibration"))
    refs = [sess.run(None, f)[0] for f in evals]
    row = {"model": name, "ours": {}, "onnxruntime": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            for act in ("int8", "uint8"):
                so = os.path.join(tmp, f"{method}_{act}.so")
                r = subprocess.run(
                    [quant_compile, model, "--quantize=w8a8",
                     "--calibration-data=" + os.path.join(mdir, "calibration"),
                     "--calibration-method=" + method,
                     "--activation-type=" + act, "-o", so],
                    capture_output=True, text=True)
                key = f"{method}_{act}"
                if r.returncode != 0:
                    row["ours"][key] = {"error": r.stderr.strip()[-300:]}
                    continue
                row["ours"][key] = metrics(
                    refs, run_ours(quant_run, so, evals, out_name, tmp), axis)
        ort_methods = {"minmax": CalibrationMethod.MinMax,
                       "entropy": CalibrationMethod.Entropy,
                       "percentile": CalibrationMethod.Percentile}
        for method in args.methods.split(","):
            if method not in ort_methods:
                continue
            qpath = os.path.join(tmp, f"ort_{method}.onnx")
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_static(model, qpath, Reader(calib),
                                quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8,
                                weight_type=QuantType.QInt8,
                                calibrate_method=ort_methods[method])
            qs = ort.InferenceSession(qpath, providers=["CPUExecutionProvider"])
            row["onnxruntime"][method] = metrics(
                refs, [qs.run(None, f)[0] for f in evals], axis)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=",".join(ptq_zoo.MODELS))
    ap.add_argument("--methods", default="minmax,entropy,percentile,mse")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    ap.add_argument("--quant-compile", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "ptq")
    data = os.path.join(out, "zoo")
    os.makedirs(data, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    quant_compile = args.quant_compile or os.path.join(bindir, "quant-compile")
    results = []
    for name in args.models.split(","):
        row = bench_model(name, args, data, quant_compile,
                          os.path.join(bindir, "quant-run"))
        results.append(row)
        for side in ("ours", "onnxruntime"):
            for key, m in row[side].items():
                if "error" in m:
                    print(f"{name:20s} {side:11s} {key:18s} ERROR {m['error']}")
                    continue
                s = m["sqnr_db"]
                print(f"{name:20s} {side:11s} {key:18s} SQNR "
                      f"{s if s is None else round(s, 2)!s:>7} dB  argmax "
                      f"{100 * m['argmax_agreement']:5.1f}%")
    path = os.path.join(out, "bench_calibration.json")
    with open(path, "w") as f:
        json.dump({"calibration_samples": args.calib,
                   "eval_samples": args.eval,
                   "quant_compile": quant_compile,
                   "results": results}, f, indent=2)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
