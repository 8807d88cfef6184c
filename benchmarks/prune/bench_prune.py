#!/usr/bin/env python3
"""Pruning: accuracy of magnitude vs Wanda and the size/latency of a
channel-pruned, shrunk MLP, side by side in one run.

    .venv/bin/python benchmarks/prune/bench_prune.py --build-dir build
        [--models transformer,cnn] [--calib 32] [--eval 8] [--runs 300]
        [--rounds 3] [--out build/benchmarks/prune]

Accuracy: for each model and each pruning (magnitude:0.5 per layer and per
row, wanda:0.5 per row as in the paper, 2:4 by magnitude and by Wanda),
quant-compile --prune=... builds the artifact, quant-run runs it on the
held-back samples, and the output is compared with onnxruntime's float
model (SQNR in dB, cosine). Size and latency: the MLP example dense, and
with half of fc1's and fc2's output channels pruned (channels:0.5) and
removed (--shrink-structured): weight bytes of the graph, artifact bytes,
quant-run --bench medians in alternating rounds (best of rounds), output
SQNR vs the dense model; and the MLP pruned 2:4 (compressed storage and
the runtime's 2:4 kernel) against the dense MLP at batch 1 and 8. Writes
OUT/bench_prune.json (and bench_prune.png
when matplotlib is present). Never asserts.
"""

import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402
import sample_data  # noqa: E402

PRUNINGS = [
    ("magnitude:0.5 (layer)", ["--prune=magnitude:0.5"]),
    ("magnitude:0.5 (row)", ["--prune=magnitude:0.5", "--prune-scope=row"]),
    ("wanda:0.5 (row)", ["--prune=wanda:0.5"]),
    ("2:4 magnitude", ["--prune=2:4"]),
    ("2:4 wanda", ["--prune=2:4", "--prune-method=wanda"]),
]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def metrics(refs, gots):
    ref = np.concatenate([r.ravel() for r in refs]).astype(np.float64)
    got = np.concatenate([g.ravel() for g in gots]).astype(np.float64)
    err = got - ref
    return {"sqnr_db": float(10 * np.log10(np.sum(ref ** 2) / np.sum(err ** 2))),
            "cosine": float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got)))}


def outputs(bindir, so, eval_dir, work):
    outs = []
    for s in sample_data.list_samples(eval_dir):
        d = os.path.join(work, os.path.basename(s))
        os.makedirs(d, exist_ok=True)
        run([os.path.join(bindir, "quant-run"), so, "--output-dir", d]
            + sample_data.quant_run_inputs(sample_data.sample_inputs(s)))
        outs.append([np.load(os.path.join(d, f)) for f in sorted(os.listdir(d))])
    return outs


def reference(model, eval_dir):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = sorted(o.name for o in sess.get_outputs())
    return [sess.run(names, sample_data.load_inputs(s))
            for s in sample_data.list_samples(eval_dir)]


def bench_ms(bindir, so, sample_dir, runs, threads):
    out = run([os.path.join(bindir, "quant-run"), so, "--bench", str(runs),
               "--warmup", "20", "--threads", str(threads)]
              + sample_data.quant_run_inputs(sample_data.sample_inputs(sample_dir)))
    return float(re.search(r"median ([\d.]+) ms", out.stdout).group(1))


def weight_bytes(bindir, args, model, work):
    """Weight bytes from the report of a pruned compile (after = pruned)."""
    rep = os.path.join(work, "report.json")
    run([os.path.join(bindir, "quant-compile"), model, "-o",
         os.path.join(work, "r.so"), "--report", rep,
         "--report-latency-runs=0"] + args)
    with open(rep) as f:
        r = json.load(f)
    return r["weight_bytes"], r["parameters"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="transformer,cnn")
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=8)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "prune")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    compile_ = os.path.join(bindir, "quant-compile")

    accuracy = []
    for name in args.models.split(","):
        make_examples.write_model(data, name, calib=args.calib, eval_=args.eval)
        mdir = os.path.join(data, name)
        model = os.path.join(mdir, "model.onnx")
        calib, eval_dir = os.path.join(mdir, "calibration"), os.path.join(mdir, "eval")
        refs = reference(model, eval_dir)
        for label, flags in PRUNINGS:
            tag = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
            so = os.path.join(out, f"{name}_{tag}.so")
            run([compile_, model, "-o", so, "--calibration-data", calib] + flags)
            got = outputs(bindir, so, eval_dir, os.path.join(out, "runs", name, tag))
            m = metrics([r for rs in refs for r in rs], [g for gs in got for g in gs])
            accuracy.append({"model": name, "pruning": label, "flags": flags,
                             "eval_samples": len(refs), **m})
            print(f"{name:12s} {label:24s} SQNR {m['sqnr_db']:6.1f} dB  "
                  f"cosine {m['cosine']:.6f}", flush=True)

    # Channel pruning + shrinking on the MLP, against the dense MLP.
    make_examples.write_model(data, "mlp", calib=args.calib, eval_=args.eval)
    mdir = os.path.join(data, "mlp")
    model = os.path.join(mdir, "model.onnx")
    eval_dir = os.path.join(mdir, "eval")
    shrink_flags = ["--prune=channels:0.5", "--prune-include=fc[12]",
                    "--shrink-structured"]
    dense_so = os.path.join(out, "mlp_dense.so")
    shrunk_so = os.path.join(out, "mlp_shrunk.so")
    run([compile_, model, "-o", dense_so])
    run([compile_, model, "-o", shrunk_so] + shrink_flags)
    wb, params = weight_bytes(bindir, shrink_flags + ["--calibration-data",
                                                      os.path.join(mdir, "calibration")],
                              model, out)
    sample = sample_data.list_samples(eval_dir)[0]
    best = {}
    for _ in range(args.rounds):
        for key, so in (("dense", dense_so), ("shrunk", shrunk_so)):
            v = bench_ms(bindir, so, sample, args.runs, args.threads)
            best[key] = min(best.get(key, v), v)
    dense_out = outputs(bindir, dense_so, eval_dir, os.path.join(out, "runs", "dense"))
    shrunk_out = outputs(bindir, shrunk_so, eval_dir, os.path.join(out, "runs", "shrunk"))
    mlp = {
        "flags": shrink_flags,
        "batch": int(np.load(sample_data.sample_inputs(sample)["input"]).shape[0]),
        "weight_bytes": {"dense": wb["float"], "shrunk": wb["quantized"],
                         "ratio": wb["float"] / wb["quantized"]},
        "parameters": params,
        "artifact_bytes": {"dense": os.path.getsize(dense_so),
                           "shrunk": os.path.getsize(shrunk_so)},
        "latency_ms": {"dense": best["dense"], "shrunk": best["shrunk"],
                       "speedup": best["dense"] / best["shrunk"],
                       "runs": args.runs, "rounds": args.rounds,
                       "threads": args.threads},
        "output_vs_dense": metrics([g for gs in dense_out for g in gs],
                                   [g for gs in shrunk_out for g in gs]),
    }
    print(f"mlp channels:0.5 shrunk: weights {wb['float']} -> {wb['quantized']} bytes "
          f"({mlp['weight_bytes']['ratio']:.2f}x), latency {best['dense']:.4f} -> "
          f"{best['shrunk']:.4f} ms ({mlp['latency_ms']['speedup']:.2f}x)")

    # 2:4 on the MLP: compressed storage and the runtime's 2:4 kernel, at
    # batch 1 and at the sample's batch, against the dense artifact.
    sparse_so = os.path.join(out, "mlp_2of4.so")
    run([compile_, model, "-o", sparse_so, "--prune=2:4"])
    one = os.path.join(out, "batch1")
    os.makedirs(one, exist_ok=True)
    x = np.load(sample_data.sample_inputs(sample)["input"])
    np.save(os.path.join(one, "input.npy"), x[:1])
    two4 = {"artifact_bytes": {"dense": os.path.getsize(dense_so),
                               "2of4": os.path.getsize(sparse_so)}}
    for label, sdir in (("batch_1", one), (f"batch_{x.shape[0]}", sample)):
        best = {}
        for _ in range(args.rounds):
            for key, so in (("dense", dense_so), ("2of4", sparse_so)):
                v = bench_ms(bindir, so, sdir, args.runs, args.threads)
                best[key] = min(best.get(key, v), v)
        best["speedup"] = best["dense"] / best["2of4"]
        two4[label] = best
        print(f"mlp 2:4 {label}: dense {best['dense']:.4f} ms, 2:4 "
              f"{best['2of4']:.4f} ms ({best['speedup']:.2f}x)")

    result = {"accuracy": accuracy, "mlp_channels_shrunk": mlp, "mlp_2of4": two4,
              "onnxruntime": ort.__version__}
    path = os.path.join(out, "bench_prune.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 0
    fig, ax = plt.subplots(figsize=(8, 4))
    models = args.models.split(",")
    width = 0.8 / len(PRUNINGS)
    for i, (label, _) in enumerate(PRUNINGS):
        vals = [next(a["sqnr_db"] for a in accuracy
                     if a["model"] == m and a["pruning"] == label) for m in models]
        ax.bar(np.arange(len(models)) + i * width, vals, width, label=label)
    ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2)
    ax.set_xticklabels(models)
    ax.set_ylabel("output SQNR vs float (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench_prune.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
