#!/usr/bin/env python3
"""LSTM, GRU and RNN layers and the voice-activity-style model of
test/python/test_recurrent.py: quant-compile (CPU, float and --quantize=w8)
+ `quant-run --bench` against onnxruntime's CPU provider, same inputs and
thread count, alternating over --rounds rounds. Writes JSON (medians,
p10/p90, ratio ours / onnxruntime, max error vs onnxruntime); asserts no
time.

    .venv/bin/python benchmarks/recurrent/bench_recurrent.py --build-dir build \
        [--threads 1] [--runs 100] [--rounds 3]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "python"))
from test_recurrent import recurrent_model, vad_model  # noqa: E402

BENCH_RE = re.compile(r"median ([\d.]+) ms, p10 ([\d.]+), p90 ([\d.]+)")


def models():
    # Speech-sized layers: 100 frames, batch 1 and 8; weights small enough
    # that the recurrence is not chaotic (else any rounding difference grows
    # to O(1) over 100 steps, in onnxruntime against float64 as well).
    yield "lstm_T100_B1_H128", *recurrent_model(
        "LSTM", T=100, batch=1, I=64, H=128, scale=0.1)
    yield "lstm_bidir_T100_B8_H128", *recurrent_model(
        "LSTM", T=100, batch=8, I=64, H=128, direction="bidirectional",
        scale=0.1)
    yield "gru_T100_B8_H128", *recurrent_model(
        "GRU", T=100, batch=8, I=64, H=128, linear_before_reset=1, scale=0.1)
    yield "rnn_T100_B8_H256", *recurrent_model(
        "RNN", T=100, batch=8, I=64, H=256, scale=0.05)
    yield "vad_T200_B1", *vad_model(T=200, batch=1, F=40, C=64, H=64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out_path = args.out or os.path.join(args.build_dir, "benchmarks",
                                        "recurrent", "bench_recurrent.json")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tool = lambda n: os.path.join(args.build_dir, "bin", n)  # noqa: E731
    results = []
    work = tempfile.mkdtemp(prefix="bench_recurrent_")
    for name, model, feeds in models():
        d = os.path.join(work, name)
        os.makedirs(d)
        path = os.path.join(d, "model.onnx")
        onnx.save(model, path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, so,
                                    providers=["CPUExecutionProvider"])
        names = [o.name for o in model.graph.output]
        ref = dict(zip(names, sess.run(names, feeds)))
        inputs = []
        for k, v in feeds.items():
            np.save(os.path.join(d, k + ".npy"), v)
            inputs += ["--input", f"{k}={os.path.join(d, k + '.npy')}"]
        row = {"model": name}
        for variant, flags in (("float", []), ("w8", ["--quantize=w8"])):
            so_path = os.path.join(d, variant + ".so")
            t0 = time.perf_counter()
            subprocess.run([tool("quant-compile"), path, "-o", so_path,
                            "--target=cpu", *flags], check=True,
                           capture_output=True)
            compile_s = time.perf_counter() - t0
            out_dir = os.path.join(d, "out_" + variant)
            subprocess.run([tool("quant-run"), so_path, *inputs,
                            "--output-dir", out_dir], check=True,
                           capture_output=True)
            err = max(float(np.abs(np.load(os.path.join(out_dir, n + ".npy"))
                                   - ref[n]).max()) for n in names)
            row[variant] = {"compile_s": compile_s, "max_abs_error": err,
                            "rounds_ms": []}
        ort_rounds = []
        for _ in range(args.rounds):
            for variant in ("float", "w8"):
                r = subprocess.run(
                    [tool("quant-run"), os.path.join(d, variant + ".so"),
                     *inputs, "--output-dir", os.path.join(d, "bench"),
                     "--bench", str(args.runs), "--warmup", "5", "--threads",
                     str(args.threads)], check=True, capture_output=True,
                    text=True)
                row[variant]["rounds_ms"].append(
                    float(BENCH_RE.search(r.stdout).group(1)))
            for _ in range(5):
                sess.run(None, feeds)
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                sess.run(None, feeds)
                times.append((time.perf_counter() - t0) * 1e3)
            ort_rounds.append(float(np.median(times)))
        row["onnxruntime_ms"] = float(np.median(ort_rounds))
        row["onnxruntime_rounds_ms"] = ort_rounds
        for variant in ("float", "w8"):
            med = float(np.median(row[variant]["rounds_ms"]))
            row[variant]["median_ms"] = med
            row[variant]["ratio_vs_onnxruntime"] = med / row["onnxruntime_ms"]
        print(f"{name:26s} ours float {row['float']['median_ms']:8.3f} ms "
              f"(x{row['float']['ratio_vs_onnxruntime']:.2f}, err "
              f"{row['float']['max_abs_error']:.1e})  w8 "
              f"{row['w8']['median_ms']:8.3f} ms "
              f"(x{row['w8']['ratio_vs_onnxruntime']:.2f})  onnxruntime "
              f"{row['onnxruntime_ms']:8.3f} ms", flush=True)
        results.append(row)
    with open(out_path, "w") as f:
        json.dump({"threads": args.threads, "runs": args.runs,
                   "rounds": args.rounds, "onnxruntime": ort.__version__,
                   "results": results}, f, indent=1)
    print("wrote", out_path)


if __name__ == "__main__":
    main()
