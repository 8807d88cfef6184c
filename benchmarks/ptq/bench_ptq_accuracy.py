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
onnxruntime. Per model, latency on one held-back sample, in alternating
rounds with the same thread count: our float and our W8A8 artifact
(quant-run --bench), onnxruntime's float model and its own quantized
(MinMax) model. Writes OUT/bench_ptq_accuracy.json. Never asserts.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                      QuantFormat, QuantType, quantize_static)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402
import sample_data  # noqa: E402


class Samples(CalibrationDataReader):
    def __init__(self, directory):
        self.items = [sample_data.load_inputs(d)
                      for d in sample_data.list_samples(directory)]
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


def quant_run_ms(bindir, so, feeds_dir, threads, runs):
    cmd = [os.path.join(bindir, "quant-run"), so, "--bench", str(runs),
           "--warmup", "20", "--threads", str(threads)]
    cmd += sample_data.quant_run_inputs(sample_data.sample_inputs(feeds_dir))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(re.search(r"median ([\d.]+) ms", out.stdout).group(1))


def ort_ms(model, feeds, threads, runs):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    for _ in range(20):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def latency(bindir, float_so, int8_so, model, ort_qmodel, sample_dir, threads,
            runs, rounds=3):
    """Best-of-rounds medians, the four systems alternating each round."""
    feeds = sample_data.load_inputs(sample_dir)
    best = {}
    for _ in range(rounds):
        for key, fn in (
                ("ours_float", lambda: quant_run_ms(bindir, float_so, sample_dir, threads, runs)),
                ("ours_w8a8", lambda: quant_run_ms(bindir, int8_so, sample_dir, threads, runs)),
                ("onnxruntime_float", lambda: ort_ms(model, feeds, threads, runs)),
                ("onnxruntime_qdq_int8", lambda: ort_ms(ort_qmodel, feeds, threads, runs))):
            v = fn()
            best[key] = min(best.get(key, v), v)
    best["ours_w8a8_speedup_vs_ours_float"] = best["ours_float"] / best["ours_w8a8"]
    best["ours_w8a8_vs_onnxruntime_int8"] = best["ours_w8a8"] / best["onnxruntime_qdq_int8"]
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="transformer,mlp,cnn")
    ap.add_argument("--methods", default="minmax,entropy")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=300,
                    help="timed runs per latency measurement (0: skip)")
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "ptq")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    ort_method = {"minmax": CalibrationMethod.MinMax,
                  "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}
    results = []
    latencies = {}
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
            if method == "minmax" and args.runs > 0:
                float_so = os.path.join(out, f"{name}_float.so")
                subprocess.run([os.path.join(bindir, "quant-compile"), model,
                                "-o", float_so], check=True)
                sample_dir = sample_data.list_samples(
                    os.path.join(mdir, "eval"))[0]
                lat = latency(bindir, float_so,
                              os.path.join(out, f"{name}_{method}_int8.so"),
                              model, qmodel, sample_dir, args.threads, args.runs)
                latencies[name] = lat
                print(f"{name:12s} latency ms ({args.threads} threads): ours "
                      f"float {lat['ours_float']:.4f}, ours W8A8 "
                      f"{lat['ours_w8a8']:.4f} "
                      f"({lat['ours_w8a8_speedup_vs_ours_float']:.2f}x faster); "
                      f"onnxruntime float {lat['onnxruntime_float']:.4f}, "
                      f"onnxruntime int8 {lat['onnxruntime_qdq_int8']:.4f}")
            print(f"{name:12s} {method:8s} SQNR ours int8 "
                  f"{variants['int8']['sqnr_db']:6.2f} dB, uint8 "
                  f"{variants['uint8']['sqnr_db']:6.2f} dB; onnxruntime "
                  f"{row['onnxruntime']['sqnr_db']:6.2f} dB")
    with open(os.path.join(out, "bench_ptq_accuracy.json"), "w") as f:
        json.dump({"benchmark": "W8A8 static PTQ accuracy and latency vs "
                                "onnxruntime quantize_static (QDQ, per-channel int8)",
                   "onnxruntime_version": ort.__version__,
                   "calibration_samples": args.calib,
                   "eval_samples": args.eval, "threads": args.threads,
                   "results": results, "latency_ms": latencies}, f, indent=2)
    print("wrote", os.path.join(out, "bench_ptq_accuracy.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
