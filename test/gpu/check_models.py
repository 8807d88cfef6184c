#!/usr/bin/env python3
"""On a GPU machine: runs every case of prepare_models.py's folder with
quant-run --device=cuda and compares each output with the CPU artifact's
(max |err| relative to the reference's range; a case may carry its own
"tolerance"). With --device-io every case is run a second time on
device-resident inputs and outputs (quant-run --device-io:
qopt_cuda_model_run) and checked the same way. Writes a JSON summary.

    python3 test/gpu/check_models.py --dir build-gpurun --quant-run build-device/quant-run --out $OUT/gpu_models.json
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="build-gpurun")
    ap.add_argument("--quant-run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--jobs", "-j", type=int, default=1,
                    help="quant-run processes at a time")
    ap.add_argument("--device-io", action="store_true",
                    help="also run every case with quant-run --device-io")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="also run every case with --device-io --cuda-graph "
                         "(the output checked is a graph replay's) and compare "
                         "it with the --device-io output")
    args = ap.parse_args()
    cases = json.load(open(os.path.join(args.dir, "cases.json")))
    base = cases
    if args.device_io:
        cases = cases + [dict(c, device_io=True) for c in base]
    if args.cuda_graph:
        cases = cases + [dict(c, device_io=True, cuda_graph=True) for c in base]

    def check(index, c):
        out = os.path.join("/tmp", "gpu_out", os.path.basename(args.dir),
                           str(index))
        cmd = [args.quant_run, os.path.join(args.dir, c["artifact"]), "--device=cuda",
               "--output-dir", out] + (["--device-io"] if c.get("device_io") else []) \
            + (["--cuda-graph"] if c.get("cuda_graph") else [])
        for k, v in c["inputs"].items():
            cmd += ["--input", f"{k}={os.path.join(args.dir, v)}"]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        row = dict(c, seconds=time.perf_counter() - t, returncode=r.returncode,
                   out_dir=out)
        if c.get("cuda_graph"):  # quant-run: "cuda graph: call N: <note>"
            row["graph_notes"] = [line.split(": ", 3)[3] for line in r.stderr.splitlines()
                                  if line.startswith("quant-run: cuda graph: call")]
        if r.returncode != 0:
            row["error"] = r.stderr[-2000:]
            row["ok"] = False
            return row
        ref_dir = os.path.join(args.dir, c["reference"])
        worst = 0.0
        for f in os.listdir(ref_dir):
            if not f.endswith(".npy"):  # .pb (dtypes .npy cannot hold)
                row["unchecked_outputs"] = row.get("unchecked_outputs", 0) + 1
                continue
            ref = np.load(os.path.join(ref_dir, f)).astype(np.float64)
            got = np.load(os.path.join(out, f)).astype(np.float64)
            if ref.shape != got.shape:
                worst = float("inf")
                continue
            if ref.size == 0:
                continue
            finite = np.isfinite(ref)
            if not np.array_equal(finite, np.isfinite(got)) or not np.array_equal(
                    ref[~finite], got[~finite], equal_nan=True):
                worst = float("inf")
                continue
            scale = max(1.0, float(np.abs(ref[finite]).max(initial=0)))
            worst = max(worst, float(np.abs(got[finite] - ref[finite]).max(
                initial=0)) / scale)
        row["max_rel_error"] = worst
        row["ok"] = worst <= c.get("tolerance", args.tolerance)
        return row

    # Several processes share the GPU: the run is bound by process start,
    # context creation and module loading, not by the kernels.
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda ic: check(*ic), enumerate(cases)))
    # A graph replay's outputs against the same case's --device-io call.
    plain = {(r["artifact"], r.get("sample")): r for r in results
             if r.get("device_io") and not r.get("cuda_graph")}
    for row in results:
        other = plain.get((row["artifact"], row.get("sample")))
        if not row.get("cuda_graph") or not other or not row["ok"] or not other["ok"]:
            continue
        diff = 0.0
        for f in os.listdir(row["out_dir"]):
            if f.endswith(".npy"):
                a = np.load(os.path.join(row["out_dir"], f)).astype(np.float64)
                b = np.load(os.path.join(other["out_dir"], f)).astype(np.float64)
                d = np.abs(a - b)
                diff = max(diff, float(d[np.isfinite(d)].max(initial=0)))
        row["max_abs_diff_vs_device_io"] = diff
    failed = sum(not r["ok"] for r in results)
    if args.cuda_graph:
        graph = [r for r in results if r.get("cuda_graph")]
        replayed = sum(1 for r in graph if r.get("graph_notes", [""])[-1] == "replayed")
        print(f"cuda graph: {replayed}/{len(graph)} cases replayed a graph; the others "
              "fell back: " + "; ".join(sorted({r["graph_notes"][-1] for r in graph
                                                   if r.get("graph_notes") and
                                                   r["graph_notes"][-1] != "replayed"})))
    for row in results:
        if not row["ok"]:
            print(row["model"], row["scheme"], row["sample"],
                  "device-io" if row.get("device_io") else "",
                  "cuda-graph" if row.get("cuda_graph") else "", "rc",
                  row["returncode"], row.get("max_rel_error"),
                  row.get("error", "")[:300], flush=True)
    json.dump({"cases": len(cases), "failed": failed, "results": results},
              open(args.out, "w"), indent=1)
    print(f"{len(cases) - failed}/{len(cases)} match the CPU artifacts")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
