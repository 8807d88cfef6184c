#!/usr/bin/env python3
"""Structured pruning that shrinks the model: size and latency of the
bundled transformer block with whole attention heads (heads:S) or MLP
neurons (neurons:S) pruned and removed (--shrink-structured), against the
unpruned block.

    .venv/bin/python benchmarks/prune/bench_structured.py --build-dir build
        [--models transformer,transformer_large] [--runs 200] [--rounds 3]
        [--threads 2] [--out build/benchmarks/prune]

For each model and configuration (dense, heads:0.25, heads:0.5,
neurons:0.5): quant-compile builds the artifact (--report gives parameters
and weight bytes), --emit=onnx writes the shrunk ONNX model (its file size,
and onnxruntime's output on it against the artifact: max |diff|);
quant-run --bench medians in alternating rounds (best of rounds) and
onnxruntime's median on the exported model; the output SQNR against the
dense model on the evaluation samples (the accuracy cost of pruning
without fine-tuning). Writes OUT/bench_structured.json. Never asserts.
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
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402

CONFIGS = [("dense", []), ("heads:0.25", ["--prune=heads:0.25"]),
           ("heads:0.5", ["--prune=heads:0.5"]),
           ("neurons:0.5", ["--prune=neurons:0.5"])]


def run(cmd):
    return subprocess.run([str(c) for c in cmd], check=True,
                          capture_output=True, text=True)


def sqnr(ref, got):
    ref = ref.astype(np.float64).ravel()
    err = got.astype(np.float64).ravel() - ref
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum(err ** 2), 1e-300)))


def bench_ms(bindir, so, x_path, runs, threads):
    out = run([os.path.join(bindir, "quant-run"), so, "--bench", runs,
               "--warmup", "20", "--threads", threads, "--input",
               f"hidden_states={x_path}"])
    return float(re.search(r"median ([\d.]+) ms", out.stdout).group(1))


def ort_ms(path, x, runs, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    for _ in range(10):
        sess.run(None, {"hidden_states": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"hidden_states": x})
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="transformer,transformer_large")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "benchmarks",
                                                  "prune"))
    args = ap.parse_args(argv)
    bindir = os.path.join(args.build_dir, "bin")
    os.makedirs(args.out, exist_ok=True)
    result = {"threads": args.threads, "runs": args.runs,
              "rounds": args.rounds, "models": {}}
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            make_examples.write_model(work, name, calib=2, eval_=2)
            ex = os.path.join(work, name)
            model = os.path.join(ex, "model.onnx")
            evals = sorted(os.listdir(os.path.join(ex, "eval")))
            xs = [os.path.join(ex, "eval", s, "hidden_states.npy") for s in evals]
            entries = {}
            for tag, extra in CONFIGS:
                d = os.path.join(work, name + "_" + tag.replace(":", "_"))
                os.makedirs(d, exist_ok=True)
                shrink = ["--shrink-structured"] if extra else []
                so, onnx_path = os.path.join(d, "m.so"), os.path.join(d, "m.onnx")
                rep = os.path.join(d, "r.json")
                if extra:
                    run([os.path.join(bindir, "quant-compile"), model, "-o", so,
                         "--report", rep, "--report-latency-runs=0",
                         "--calibration-data", os.path.join(ex, "calibration")]
                        + extra + shrink)
                    with open(rep) as f:
                        r = json.load(f)
                    run([os.path.join(bindir, "quant-compile"), model, "-o",
                         onnx_path, "--emit=onnx"] + extra + shrink)
                    params, wbytes = r["parameters"]["after"], r["weight_bytes"]["quantized"]
                else:
                    run([os.path.join(bindir, "quant-compile"), model, "-o", so])
                    onnx_path = model
                    params = wbytes = None
                outs = []
                for x in xs:
                    od = os.path.join(d, "out")
                    os.makedirs(od, exist_ok=True)
                    run([os.path.join(bindir, "quant-run"), so, "--input",
                         f"hidden_states={x}", "--output-dir", od])
                    outs.append(np.load(os.path.join(od, "output.npy")))
                sess = ort.InferenceSession(onnx_path,
                                            providers=["CPUExecutionProvider"])
                ort_diff = max(float(np.abs(sess.run(None, {"hidden_states": np.load(x)})[0] - o).max())
                               for x, o in zip(xs, outs))
                entries[tag] = {"so": so, "onnx": onnx_path, "outs": outs,
                                "parameters": params, "weight_bytes": wbytes,
                                "artifact_bytes": os.path.getsize(so),
                                "onnx_bytes": os.path.getsize(onnx_path),
                                "onnxruntime_vs_artifact_max_abs": ort_diff}
            dense = entries["dense"]
            # Latency: alternating rounds, best median per configuration.
            best = {t: float("inf") for t in entries}
            best_ort = {t: float("inf") for t in entries}
            x0 = np.load(xs[0])
            for _ in range(args.rounds):
                for t, e in entries.items():
                    best[t] = min(best[t], bench_ms(bindir, e["so"], xs[0],
                                                    args.runs, args.threads))
                    best_ort[t] = min(best_ort[t], ort_ms(e["onnx"], x0,
                                                          args.runs, args.threads))
            out = {}
            for t, e in entries.items():
                out[t] = {
                    "parameters": e["parameters"],
                    "weight_bytes": e["weight_bytes"],
                    "artifact_bytes": e["artifact_bytes"],
                    "onnx_bytes": e["onnx_bytes"],
                    "quant_run_median_ms": best[t],
                    "onnxruntime_median_ms": best_ort[t],
                    "speedup_vs_dense": best["dense"] / best[t],
                    "onnxruntime_speedup_vs_dense": best_ort["dense"] / best_ort[t],
                    "onnxruntime_vs_artifact_max_abs": e["onnxruntime_vs_artifact_max_abs"],
                    "output_sqnr_vs_dense_db": None if t == "dense" else
                    sqnr(np.concatenate([o.ravel() for o in dense["outs"]]),
                         np.concatenate([o.ravel() for o in e["outs"]])),
                }
            # The dense parameter count: the report's "before".
            with open(os.path.join(work, name + "_heads_0.5", "r.json")) as f:
                r = json.load(f)
            out["dense"]["parameters"] = r["parameters"]["before"]
            out["dense"]["weight_bytes"] = r["weight_bytes"]["float"]
            result["models"][name] = out
            print(name)
            for t, o in out.items():
                print(f"  {t:12s} params {o['parameters']:>10} weights "
                      f"{o['weight_bytes']:>10} B  artifact {o['artifact_bytes']:>9} B  "
                      f"onnx {o['onnx_bytes']:>9} B  quant-run {o['quant_run_median_ms']:.3f} ms "
                      f"({o['speedup_vs_dense']:.2f}x)  ort {o['onnxruntime_median_ms']:.3f} ms "
                      f"({o['onnxruntime_speedup_vs_dense']:.2f}x)  sqnr "
                      f"{o['output_sqnr_vs_dense_db']}  ort-vs-artifact "
                      f"{o['onnxruntime_vs_artifact_max_abs']:.2e}")
    path = os.path.join(args.out, "bench_structured.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    main()
