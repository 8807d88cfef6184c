#!/usr/bin/env python3
"""W8A8 with the depthwise convolutions in int8 or float, beside our float
artifact and onnxruntime (float and its own int8 QDQ model), alternating
within every round on one model (MobileNetV3-style by default).

    .venv/bin/python benchmarks/cpu/bench_int8_depthwise.py \\
        --build-dir build [--model mobilenet] [--threads 1] [--runs 20] \\
        [--warmup 3] [--rounds 7] [--out build/benchmarks/cpu]

Systems (--baseline-dir adds `w8a8_int8_dw_baseline`, the same flags
compiled and run by another build): `float` (no quantization), `w8a8_float_dw` (--quantize=w8a8
--int8-depthwise=false: the depthwise convolutions float), `w8a8_int8_dw`
(--quantize=w8a8 --int8-depthwise), `onnxruntime`, `onnxruntime_int8`
(quantize_static QDQ, per-channel int8 weights, uint8 activations, the same
calibration samples as ours: bench_conv.py's). Reported: each system's
median of round medians, the spread, and each output's largest absolute
difference to onnxruntime's float output. Writes OUT/bench_int8_depthwise.json.
Never asserts a time.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_conv import Reader, calibration_samples, run_ours  # noqa: E402
from bench_cpu import onnxruntime_session, summarize  # noqa: E402
from bench_memory import prepare  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline-dir", default=None,
                    help="another build: its W8A8 --int8-depthwise artifact "
                         "joins the rounds as w8a8_int8_dw_baseline")
    ap.add_argument("--model", default="mobilenet")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "cpu")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    model, inputs = prepare(args.model, data)
    feeds = {k: np.load(v) for k, v in inputs.items()}
    pins = []
    for k, v in feeds.items():
        pins += ["--pin-shape", f"{k}=" + "x".join(map(str, v.shape))]
    calib = calibration_samples(data, args.model, feeds)
    w8a8 = ["--quantize=w8a8", "--calibration-data=" + calib]
    flags = {"float": [], "w8a8_float_dw": [*w8a8, "--int8-depthwise=false"],
             "w8a8_int8_dw": [*w8a8, "--int8-depthwise"]}
    builds = {s: args.build_dir for s in flags}
    if args.baseline_dir:
        flags["w8a8_int8_dw_baseline"] = flags["w8a8_int8_dw"]
        builds["w8a8_int8_dw_baseline"] = args.baseline_dir
    sos = {}
    for system, f in flags.items():
        sos[system] = os.path.join(out, f"{args.model}.dwq-{system}.so")
        subprocess.run([os.path.join(builds[system], "bin", "quant-compile"),
                        model, "-o", sos[system], *pins, *f], check=True)
    qdq = os.path.join(data, args.model, "qdq.onnx")
    if not os.path.exists(qdq):
        quantize_static(model, qdq, Reader(calib, list(feeds)),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    sessions = {"onnxruntime": onnxruntime_session(model, args.threads),
                "onnxruntime_int8": onnxruntime_session(qdq, args.threads)}
    ref = sessions["onnxruntime"].run(None, feeds)
    names = [o.name for o in sessions["onnxruntime"].get_outputs()]
    times = {s: [] for s in [*flags, *sessions]}
    for _ in range(args.rounds):
        for system in flags:
            times[system].append(run_ours(
                builds[system], sos[system], inputs, args.runs, args.warmup,
                args.threads, os.path.join(out, "outputs", "dwq", system), {}))
        for sname, se in sessions.items():
            for _ in range(args.warmup):
                se.run(None, feeds)
            t = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                se.run(None, feeds)
                t.append((time.perf_counter() - t0) * 1e3)
            times[sname].append(summarize(t)["median_ms"])
    err = {}
    for system in flags:
        e = 0.0
        for oname, want in zip(names, ref):
            got = np.load(os.path.join(out, "outputs", "dwq", system,
                                       oname.replace("/", "_") + ".npy"))
            e = max(e, float(np.max(np.abs(got - want))))
        err[system] = e
    med = {k: float(np.median(v)) for k, v in times.items()}
    row = {"model": args.model, "threads": args.threads, "runs": args.runs,
           "rounds": args.rounds, "baseline_dir": args.baseline_dir,
           "median_ms": med, "round_medians_ms": times,
           "spread_ms": {k: [min(v), max(v)] for k, v in times.items()},
           "max_abs_error_vs_onnxruntime": err,
           "machine": platform.processor() or platform.machine(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for k, v in med.items():
        print(f"{k:18s} {v:8.2f} ms [{min(times[k]):.2f}-{max(times[k]):.2f}]"
              + (f" max|err| {err[k]:.3g}" if k in err else ""))
    with open(os.path.join(out, "bench_int8_depthwise.json"), "w") as f:
        json.dump(row, f, indent=1)


if __name__ == "__main__":
    main()
