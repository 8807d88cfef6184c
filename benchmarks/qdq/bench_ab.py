#!/usr/bin/env python3
"""Artifacts side by side: quant-run --bench over each NAME=SO artifact in
alternating rounds, median of the rounds' medians per artifact. For
before/after comparisons of one model compiled by two builds (the
artifacts are self-contained; one quant-run and runtime run them all).

    .venv/bin/python benchmarks/qdq/bench_ab.py --build-dir build \\
        --input hidden_states=x.npy --threads 1 --runs 200 --rounds 7 \\
        --out results.json before=old.so after=new.so

Writes the JSON given by --out. Never asserts a time.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import time

import numpy as np

MEDIAN = re.compile(r"median ([\d.]+) ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--input", action="append", required=True,
                    help="NAME=FILE, as quant-run --input")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", required=True)
    ap.add_argument("artifacts", nargs="+", help="NAME=SO")
    args = ap.parse_args()
    run = os.path.join(args.build_dir, "bin", "quant-run")
    arts = dict(a.split("=", 1) for a in args.artifacts)
    times = {k: [] for k in arts}
    inputs = [x for i in args.input for x in ("--input", i)]
    for _ in range(args.rounds):
        for name, so in arts.items():
            out = subprocess.run([run, so, *inputs, "--bench", str(args.runs),
                                  "--warmup", "10", "--threads",
                                  str(args.threads)], check=True,
                                 capture_output=True, text=True).stdout
            times[name].append(float(MEDIAN.search(out).group(1)))
    med = {k: float(np.median(v)) for k, v in times.items()}
    meta = dict(machine=platform.machine(), cpus=os.cpu_count(),
                threads=args.threads, runs=args.runs, rounds=args.rounds,
                load_average=os.getloadavg(), date=time.strftime("%Y-%m-%d"),
                artifacts=arts)
    with open(args.out, "w") as f:
        json.dump(dict(meta=meta, median_ms=med, all_ms=times), f, indent=2)
        f.write("\n")
    print(", ".join(f"{k} {v:.4f} ms" for k, v in med.items()))


if __name__ == "__main__":
    main()
