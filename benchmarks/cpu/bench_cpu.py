#!/usr/bin/env python3
"""CPU benchmark: our compiled artifacts vs onnxruntime's CPU execution
provider, side by side in one run, on the bundled example models.

    .venv/bin/python benchmarks/cpu/bench_cpu.py --build-dir build
        [--models transformer,mlp,cnn,transformer_large] [--threads N]
        [--runs 200] [--warmup 20] [--out build/benchmarks/cpu]

For each model: generate it (examples/make_examples.py, fixed seed), compile
it with quant-compile for the host CPU, check that our output matches
onnxruntime on the first evaluation sample, then time both on the same
input with the same thread count: ours with `quant-run --bench` (one
process, repeated runs), onnxruntime in this process (intra-op threads =
N, sequential execution). The two alternate over --rounds rounds, so that
a slow phase of the machine hits both; each side's median over all rounds
is reported with its spread, and the ratio ours / onnxruntime (< 1 means
we are faster). Writes
OUT/bench_cpu.json and OUT/bench_cpu.png. Never asserts a time.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402
import sample_data  # noqa: E402

BENCH_RE = re.compile(r"median ([\d.]+) ms, p10 ([\d.]+), p90 ([\d.]+), "
                      r"min ([\d.]+), max ([\d.]+)")


def run_ours(build_dir, artifact, inputs, runs, warmup, threads, out_dir):
    args = [os.path.join(build_dir, "bin", "quant-run"), artifact,
            "--output-dir", out_dir, "--bench", str(runs), "--warmup",
            str(warmup), "--threads", str(threads)]
    for name, path in inputs.items():
        args += ["--input", f"{name}={path}"]
    res = subprocess.run(args, capture_output=True, text=True, check=True)
    m = BENCH_RE.search(res.stdout)
    if not m:
        raise RuntimeError("unexpected quant-run output:\n" + res.stdout)
    med, p10, p90, mn, mx = (float(v) for v in m.groups())
    return {"median_ms": med, "p10_ms": p10, "p90_ms": p90, "min_ms": mn,
            "max_ms": mx}


def onnxruntime_session(model_path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model_path, so,
                                providers=["CPUExecutionProvider"])


def time_onnxruntime(sess, feeds, runs, warmup):
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def summarize(times):
    times = sorted(times)
    pct = lambda p: times[int(p * (len(times) - 1))]
    return {"median_ms": pct(0.5), "p10_ms": pct(0.1), "p90_ms": pct(0.9),
            "min_ms": times[0], "max_ms": times[-1]}


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; no chart written "
              "(pip install matplotlib)")
        return None
    names = [r["model"] for r in results]
    ours = [r["ours"]["median_ms"] for r in results]
    theirs = [r["onnxruntime"]["median_ms"] for r in results]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, ours, 0.4, label="quant-opt")
    ax.bar(x + 0.2, theirs, 0.4, label="onnxruntime CPU EP")
    for i, r in enumerate(results):
        ax.text(x[i], max(ours[i], theirs[i]), f"{r['ratio']:.2f}x",
                ha="center", va="bottom")
    ax.set_xticks(x, names)
    ax.set_ylabel("median latency (ms, log)")
    ax.set_yscale("log")
    ax.set_title("float32 inference, same machine and threads "
                 "(label: ours / onnxruntime)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="transformer,mlp,cnn,transformer_large")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "cpu")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)

    results = []
    for name in args.models.split(","):
        model_dir = os.path.join(data, name)
        if not os.path.exists(os.path.join(model_dir, "model.onnx")):
            make_examples.write_model(data, name, calib=2, eval_=1)
        model = os.path.join(model_dir, "model.onnx")
        artifact = os.path.join(out, name + ".so")
        t0 = time.perf_counter()
        subprocess.run([os.path.join(args.build_dir, "bin", "quant-compile"),
                        model, "-o", artifact], check=True)
        compile_s = time.perf_counter() - t0
        # The same model without the run-time checks of dynamic shapes and
        # integer division (docs/Security.md): their cost, measured here.
        unchecked = os.path.join(out, name + ".nochecks.so")
        subprocess.run([os.path.join(args.build_dir, "bin", "quant-compile"),
                        model, "-o", unchecked, "--no-runtime-checks"],
                       check=True)
        sample = sample_data.list_samples(os.path.join(model_dir, "eval"))[0]
        inputs = sample_data.sample_inputs(sample)
        feeds = sample_data.load_inputs(sample)
        runs = max(10, args.runs // (10 if name == "transformer_large" else 1))
        run_dir = os.path.join(out, "outputs", name)
        sess = onnxruntime_session(model, args.threads)
        ref_out = sess.run(None, feeds)
        ours_rounds, theirs_times, unchecked_rounds = [], [], []
        for _ in range(args.rounds):
            ours_rounds.append(run_ours(args.build_dir, artifact, inputs, runs,
                                        args.warmup, args.threads, run_dir))
            theirs_times += time_onnxruntime(sess, feeds, runs, args.warmup)
            unchecked_rounds.append(run_ours(
                args.build_dir, unchecked, inputs, runs, args.warmup,
                args.threads, run_dir + "-nochecks"))
        # quant-run reports a summary per round: combine the rounds'
        # medians (and the extremes) for our side.
        meds = sorted(r["median_ms"] for r in ours_rounds)
        ours = {"median_ms": meds[len(meds) // 2],
                "p10_ms": min(r["p10_ms"] for r in ours_rounds),
                "p90_ms": max(r["p90_ms"] for r in ours_rounds),
                "min_ms": min(r["min_ms"] for r in ours_rounds),
                "max_ms": max(r["max_ms"] for r in ours_rounds),
                "round_medians_ms": meds}
        theirs = summarize(theirs_times)
        unchecked_meds = sorted(r["median_ms"] for r in unchecked_rounds)
        unchecked_ms = unchecked_meds[len(unchecked_meds) // 2]
        sess_outputs = [o.name for o in ort.InferenceSession(
            model, providers=["CPUExecutionProvider"]).get_outputs()]
        max_err = 0.0
        for oname, ref in zip(sess_outputs, ref_out):
            got = np.load(os.path.join(run_dir, oname + ".npy"))
            max_err = max(max_err, float(np.max(np.abs(got - ref))))
        ratio = ours["median_ms"] / theirs["median_ms"]
        results.append({"model": name, "threads": args.threads, "runs": runs,
                        "rounds": args.rounds,
                        "compile_s": round(compile_s, 3), "ours": ours,
                        "onnxruntime": theirs, "ratio": ratio,
                        "without_runtime_checks_median_ms": unchecked_ms,
                        "runtime_checks_overhead": ours["median_ms"] /
                        unchecked_ms - 1,
                        "max_abs_error_vs_onnxruntime": max_err})
        print(f"{name:18s} ours {ours['median_ms']:9.4f} ms  "
              f"onnxruntime {theirs['median_ms']:9.4f} ms  "
              f"ours/ort {ratio:5.2f}x  max|err| {max_err:.2e}  "
              f"checks {100 * (ours['median_ms'] / unchecked_ms - 1):+.1f}%")

    report = {
        "benchmark": "cpu float32 latency, quant-opt vs onnxruntime",
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()},
        "onnxruntime_version": ort.__version__,
        "threads": args.threads,
        "results": results,
    }
    with open(os.path.join(out, "bench_cpu.json"), "w") as f:
        json.dump(report, f, indent=2)
    png = chart(results, os.path.join(out, "bench_cpu.png"))
    print("wrote", os.path.join(out, "bench_cpu.json"), png or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
