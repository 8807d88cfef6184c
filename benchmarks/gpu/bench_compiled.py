#!/usr/bin/env python3
"""On a GPU machine: times compiled NVPTX artifacts (test/gpu/prepare_kernels.py's
cases: float16 matmuls on the tensor cores, fused softmax / layer norm /
RMS norm) with quant-run --device=cuda --bench, next to the same operation
in torch on the same GPU, in one run. Writes JSON.

    python3 benchmarks/gpu/bench_compiled.py --dir build-gpukernels \\
        --quant-run build-device/models/quant-run --out $OUT/bench_compiled.json

What is measured differs, and the JSON says so: an artifact call is end to
end (inputs copied into managed memory, buffers allocated and freed, every
kernel launched, synchronized, outputs copied back to host memory); torch's
time is the operation alone on device-resident tensors (CUDA events, median
of many launches). Their ratio shows what the call's overhead costs at each
size, not the kernels' speed alone."""

import argparse
import json
import os
import re
import subprocess
import time

import numpy as np


def torch_op(name, inputs, torch):
    """The torch version of a prepare_kernels.py case, or None."""
    dev = "cuda"
    t = {k: torch.from_numpy(v).to(dev) for k, v in inputs.items()}
    m = re.match(r"matmul_f16_(\d+)x(\d+)x(\d+)", name)
    if m:
        k, n = int(m.group(2)), int(m.group(3))
        w = torch.randn(k, n, device=dev, dtype=torch.float16)  # timing only
        return lambda: torch.matmul(t["x"], w)
    if name.startswith("softmax"):
        return lambda: torch.softmax(t["x"], dim=-1)
    if name.startswith("layernorm"):
        x = t["x"]
        g = torch.ones(x.shape[-1], device=dev)
        b = torch.zeros(x.shape[-1], device=dev)
        return lambda: torch.nn.functional.layer_norm(x, x.shape[-1:], g, b)
    if name.startswith("rmsnorm"):
        x = t["x"]
        return lambda: x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6)
    return None


def time_torch(fn, torch, reps=200):
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        start, end = torch.cuda.Event(True), torch.cuda.Event(True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / reps)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="build-gpukernels")
    ap.add_argument("--quant-run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", type=int, default=50)
    args = ap.parse_args()
    import torch
    cases = json.load(open(os.path.join(args.dir, "cases.json")))
    rows = []
    for c in cases:
        inputs = {k: np.load(os.path.join(args.dir, v)) for k, v in c["inputs"].items()}
        cmd = [args.quant_run, os.path.join(args.dir, c["artifact"]), "--device=cuda",
               "--bench", str(args.bench), "--warmup", "5"]
        for k, v in c["inputs"].items():
            cmd += ["--input", f"{k}={os.path.join(args.dir, v)}"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        row = {"case": c["model"], "returncode": r.returncode,
               "wall_s": time.perf_counter() - t0}
        m = re.search(r"median ([0-9.]+) ms", r.stdout + r.stderr)
        if m:
            row["ours_call_ms"] = float(m.group(1))
        else:
            row["error"] = (r.stdout + r.stderr)[-500:]
        fn = torch_op(c["model"], inputs, torch)
        if fn is not None:
            row["torch_op_ms"] = time_torch(fn, torch)
        rows.append(row)
        print(row, flush=True)
    doc = {"benchmark": "compiled NVPTX artifacts vs torch",
           "device": torch.cuda.get_device_name(),
           "torch": torch.__version__,
           "ours": "quant-run --device=cuda --bench: one whole artifact call "
                   "(managed-memory copies, allocations, launches, sync)",
           "torch_op": "the operation alone on device tensors, CUDA events",
           "results": rows}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
