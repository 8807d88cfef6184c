#!/usr/bin/env python3
"""Convolution kernels benchmark: two builds of quant-opt (e.g. main before
a kernel change and the change) and onnxruntime, side by side in one run,
on CNNs.

    .venv/bin/python benchmarks/cpu/bench_conv.py --build-dir build \\
        [--baseline-dir /path/to/other/build] [--models db,resnet,cnn] \\
        [--threads 2] [--runs 20] [--warmup 3] [--rounds 5] \\
        [--env NAME=VALUE ...] [--out build/benchmarks/cpu]

db and resnet come from benchmarks/cpu/model_zoo.py (DB/OCR-style detector
1x3x640x640, ResNet-style 1x3x224x224), cnn from examples/make_examples.py.
Each model is compiled by each build's quant-compile (shapes pinned to the
input's). The systems alternate within every round (baseline, ours,
onnxruntime, in that order), so that a busy phase of a shared machine hits
all of them; reported: each system's median over all rounds' medians, the
spread of the round medians (min-max), and ours / onnxruntime and
ours / baseline. --env sets variables for our side only (QOPT_CONV=gemm
compares the kernels of one build). Also the largest absolute difference
of each system's output to onnxruntime. Writes OUT/bench_conv.json. Never
asserts a time.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, HERE)
from bench_cpu import BENCH_RE, onnxruntime_session, summarize  # noqa: E402
from bench_memory import prepare  # noqa: E402


def run_ours(build_dir, so, inputs, runs, warmup, threads, out_dir, env):
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            out_dir, "--bench", str(runs), "--warmup", str(warmup),
            "--threads", str(threads)]
    for name, path in inputs.items():
        args += ["--input", f"{name}={path}"]
    res = subprocess.run(args, capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    m = BENCH_RE.search(res.stdout)
    if not m:
        raise RuntimeError("unexpected quant-run output:\n" + res.stdout)
    return float(m.group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline-dir", default=None)
    ap.add_argument("--models", default="db,resnet,cnn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--compile-flag", action="append", default=[],
                    help="extra quant-compile flag for both builds")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "cpu")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    env = dict(e.split("=", 1) for e in args.env)
    builds = {"ours": args.build_dir}
    if args.baseline_dir:
        builds = {"baseline": args.baseline_dir, **builds}

    results = []
    for name in args.models.split(","):
        model, inputs = prepare(name, data)
        feeds = {k: np.load(v) for k, v in inputs.items()}
        pins = []
        for k, v in feeds.items():
            pins += ["--pin-shape", f"{k}=" + "x".join(map(str, v.shape))]
        sos = {}
        for system, bdir in builds.items():
            sos[system] = os.path.join(out, f"{name}.conv-{system}.so")
            subprocess.run([os.path.join(bdir, "bin", "quant-compile"), model,
                            "-o", sos[system], *pins, *args.compile_flag],
                           check=True)
        sess = onnxruntime_session(model, args.threads)
        ref = sess.run(None, feeds)
        names = [o.name for o in sess.get_outputs()]
        times = {s: [] for s in [*builds, "onnxruntime"]}
        for _ in range(args.rounds):
            for system, bdir in builds.items():
                times[system].append(run_ours(
                    bdir, sos[system], inputs, args.runs, args.warmup,
                    args.threads, os.path.join(out, "outputs", name, system),
                    env if system == "ours" else {}))
            for _ in range(args.warmup):
                sess.run(None, feeds)
            t = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                sess.run(None, feeds)
                t.append((time.perf_counter() - t0) * 1e3)
            times["onnxruntime"].append(summarize(t)["median_ms"])
        err = {}
        for system in builds:
            e = 0.0
            for oname, want in zip(names, ref):
                got = np.load(os.path.join(out, "outputs", name, system,
                                           oname.replace("/", "_") + ".npy"))
                e = max(e, float(np.max(np.abs(got - want))))
            err[system] = e
        med = {k: float(np.median(v)) for k, v in times.items()}
        row = {"model": name, "threads": args.threads, "runs": args.runs,
               "rounds": args.rounds, "env": env, "median_ms": med,
               "round_medians_ms": times,
               "spread_ms": {k: [min(v), max(v)] for k, v in times.items()},
               "ours_over_onnxruntime": med["ours"] / med["onnxruntime"],
               "max_abs_error_vs_onnxruntime": err}
        line = f"{name:10s}"
        if "baseline" in med:
            row["baseline_over_onnxruntime"] = (med["baseline"] /
                                                med["onnxruntime"])
            row["ours_over_baseline"] = med["ours"] / med["baseline"]
            line += (f" baseline {med['baseline']:8.2f} ms "
                     f"[{min(times['baseline']):.1f}-"
                     f"{max(times['baseline']):.1f}]")
        line += (f" ours {med['ours']:8.2f} ms [{min(times['ours']):.1f}-"
                 f"{max(times['ours']):.1f}] ort {med['onnxruntime']:8.2f} ms "
                 f"[{min(times['onnxruntime']):.1f}-"
                 f"{max(times['onnxruntime']):.1f}] ours/ort "
                 f"{row['ours_over_onnxruntime']:.2f}x")
        if "baseline" in med:
            line += f" ours/baseline {row['ours_over_baseline']:.2f}x"
        line += f" max|err| {max(err.values()):.1e}"
        results.append(row)
        print(line, flush=True)

    report = {"benchmark": "f32/int8 CNN convolutions: quant-opt builds vs "
                           "onnxruntime",
              "machine": {"cpu": platform.processor() or platform.machine(),
                          "cores": os.cpu_count(),
                          "load_average": os.getloadavg()},
              "onnxruntime_version": ort.__version__,
              "builds": builds, "threads": args.threads,
              "compile_flags": args.compile_flag, "results": results}
    path = os.path.join(out, "bench_conv.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
