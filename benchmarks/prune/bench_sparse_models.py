#!/usr/bin/env python3
"""Compiled pruned models with sparse storage against their dense
artifacts, side by side in one run: the bundled MLP (256-512-512-10) and
transformer block, at batch 1, 8 and 16.

    .venv/bin/python benchmarks/prune/bench_sparse_models.py --build-dir build
        [--models mlp,transformer] [--batches 1,8,16] [--runs 300]
        [--rounds 3] [--threads N] [--out build/benchmarks/prune]

Artifacts (quant-compile): `f32` dense, `f32 2:4` (--prune=2:4: 2:4
values + positions, the f32 2:4 kernel), `f32 csr` (--prune=magnitude:0.8:
CSR storage, the CSR kernel), `w8a8` dense (--quantize=w8a8), `w8a8 2:4`
(--prune=2:4 --quantize=w8a8: int8 values + positions, the int8 2:4
kernel), `w8` and `w8 2:4` (weight-only int8, dense / 2:4); the input is the first eval sample's first row repeated to the
batch. Latency: quant-run --bench medians, the artifacts alternating round
by round, best of rounds. Writes OUT/bench_sparse_models.json; never
asserts.
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402
import sample_data  # noqa: E402
from bench_prune import bench_ms, run  # noqa: E402

ARTIFACTS = [
    ("f32", []),
    ("f32 2:4", ["--prune=2:4"]),
    ("f32 csr 80%", ["--prune=magnitude:0.8"]),
    ("w8a8", ["--quantize=w8a8"]),
    ("w8a8 2:4", ["--prune=2:4", "--quantize=w8a8"]),
    ("w8", ["--quantize=w8"]),
    ("w8 2:4", ["--prune=2:4", "--quantize=w8"]),
]
PAIRS = [("f32 2:4", "f32"), ("f32 csr 80%", "f32"), ("w8a8 2:4", "w8a8"),
         ("w8 2:4", "w8")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="mlp,transformer")
    ap.add_argument("--batches", default="1,8,16")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "prune")
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    bindir = os.path.join(args.build_dir, "bin")
    results = []
    for name in args.models.split(","):
        make_examples.write_model(data, name, calib=16, eval_=1)
        mdir = os.path.join(data, name)
        model = os.path.join(mdir, "model.onnx")
        calib = os.path.join(mdir, "calibration")
        sos = {}
        for label, flags in ARTIFACTS:
            tag = label.replace(" ", "_").replace(":", "of").replace("%", "")
            sos[label] = os.path.join(out, f"models_{name}_{tag}.so")
            run([os.path.join(bindir, "quant-compile"), model, "-o", sos[label],
                 "--calibration-data", calib] + flags)
        sample = sample_data.list_samples(os.path.join(mdir, "eval"))[0]
        inputs = sample_data.sample_inputs(sample)
        for batch in map(int, args.batches.split(",")):
            bdir = os.path.join(out, "models_inputs", name, f"batch{batch}")
            os.makedirs(bdir, exist_ok=True)
            for inp, path in inputs.items():
                x = np.load(path)
                np.save(os.path.join(bdir, f"{inp}.npy"),
                        np.repeat(x[:1], batch, axis=0))
            best = {}
            for _ in range(args.rounds):
                for label, _ in ARTIFACTS:
                    v = bench_ms(bindir, sos[label], bdir, args.runs, args.threads)
                    best[label] = min(best.get(label, v), v)
            row = {"model": name, "batch": batch, "ms": best,
                   "speedup": {f"{a} vs {b}": best[b] / best[a] for a, b in PAIRS},
                   "artifact_bytes": {l: os.path.getsize(sos[l]) for l, _ in ARTIFACTS}}
            results.append(row)
            print(f"{name:11s} batch {batch:2d}: " + ", ".join(
                f"{l} {best[l]:.4f} ms" for l, _ in ARTIFACTS) + " | " + ", ".join(
                f"{k} {v:.2f}x" for k, v in row["speedup"].items()), flush=True)
    result = {"threads": args.threads, "runs": args.runs, "rounds": args.rounds,
              "load": os.getloadavg(), "results": results}
    path = os.path.join(out, "bench_sparse_models.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
