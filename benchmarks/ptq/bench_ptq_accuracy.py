#!/usr/bin/env python3
"""PTQ accuracy: our W8A8 static (quant-compile --quantize=w8a8) against
onnxruntime.quantization.quantize_static (QDQ, per_channel=True, int8
weights and activations) with the same calibration samples and method,
side by side in one run.

    .venv/bin/python benchmarks/ptq/bench_ptq_accuracy.py --build-dir build
        [--models transformer,mlp,cnn] [--methods minmax,entropy]
        [--calib 32] [--eval 8] [--out build/benchmarks/ptq]

For each model and method: end-to-end SQNR (dB) and cosine similarity of
the quantized model's output against the float model on held-back
samples, for ours and for onnxruntime's quantized model run in
onnxruntime. Writes OUT/bench_ptq_accuracy.json. Never asserts.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                      QuantFormat, QuantType, quantize_static)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402


class Samples(CalibrationDataReader):
    def __init__(self, directory):
        self.items = []
        for s in sorted(os.listdir(directory)):
            d = os.path.join(directory, s)
            self.items.append({f[:-4]: np.load(os.path.join(d, f))
                               for f in os.listdir(d) if f.endswith(".npy")})
        self.it = iter(self.items)

    def get_next(self):
        return next(self.it, None)


def metrics(refs, gots):
    ref = np.concatenate([r.ravel() for r in refs]).astype(np.float64)
    got = np.concatenate([g.ravel() for g in gots]).astype(np.float64)
    err = got - ref
    return {"sqnr_db": float(10 * np.log10(np.sum(ref ** 2) / np.sum(err ** 2))),
            "cosine": float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got))),
            "max_abs_error": float(np.max(np.abs(err)))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="transformer,mlp,cnn")
    ap.add_argument("--methods", default="minmax,entropy")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "ptq")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    ort_method = {"minmax": CalibrationMethod.MinMax,
                  "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}
    results = []
    for name in args.models.split(","):
        make_examples.write_model(data, name, calib=args.calib, eval_=args.eval)
        mdir = os.path.join(data, name)
        model = os.path.join(mdir, "model.onnx")
        float_sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        out_name = float_sess.get_outputs()[0].name
        evals = Samples(os.path.join(mdir, "eval")).items
        refs = [float_sess.run(None, feeds)[0] for feeds in evals]
        for method in args.methods.split(","):
            # Ours, with int8 symmetric and uint8 asymmetric activations.
            variants = {}
            for act in ("int8", "uint8"):
              so = os.path.join(out, f"{name}_{method}_{act}.so")
              subprocess.run([os.path.join(bindir, "quant-compile"), model,
                              "--quantize=w8a8",
                              "--calibration-data=" + os.path.join(mdir, "calibration"),
                              "--calibration-method=" + method,
                              "--activation-type=" + act, "-o", so],
                             check=True)
              ours = []
              for i, feeds in enumerate(evals):
                run_dir = os.path.join(out, "outputs", f"{name}_{method}_{i}")
                cmd = [os.path.join(bindir, "quant-run"), so, "--output-dir", run_dir]
                for k, v in feeds.items():
                    path = os.path.join(run_dir + "_in", k + ".npy")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    np.save(path, v)
                    cmd += ["--input", f"{k}={path}"]
                subprocess.run(cmd, check=True, capture_output=True)
                ours.append(np.load(os.path.join(run_dir, out_name + ".npy")))
              variants[act] = metrics(refs, ours)
            # onnxruntime's quantizer, same samples and method.
            qmodel = os.path.join(out, f"{name}_{method}_ort.onnx")
            quantize_static(model, qmodel,
                            Samples(os.path.join(mdir, "calibration")),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            # The op types we quantize (ORT's default also
                            # quantizes Add, Mul, pools, ...).
                            op_types_to_quantize=["MatMul", "Gemm", "Conv"],
                            activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=ort_method[method])
            qsess = ort.InferenceSession(qmodel, providers=["CPUExecutionProvider"])
            theirs = [qsess.run(None, feeds)[0] for feeds in evals]
            row = {"model": name, "method": method,
                   "ours_int8_symmetric": variants["int8"],
                   "ours_uint8_asymmetric": variants["uint8"],
                   "onnxruntime": metrics(refs, theirs)}
            results.append(row)
            print(f"{name:12s} {method:8s} SQNR ours int8 "
                  f"{variants['int8']['sqnr_db']:6.2f} dB, uint8 "
                  f"{variants['uint8']['sqnr_db']:6.2f} dB; onnxruntime "
                  f"{row['onnxruntime']['sqnr_db']:6.2f} dB")
    with open(os.path.join(out, "bench_ptq_accuracy.json"), "w") as f:
        json.dump({"benchmark": "W8A8 static PTQ accuracy vs onnxruntime "
                                "quantize_static (QDQ, per-channel int8)",
                   "onnxruntime_version": ort.__version__,
                   "calibration_samples": args.calib,
                   "eval_samples": args.eval, "results": results}, f, indent=2)
    print("wrote", os.path.join(out, "bench_ptq_accuracy.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
