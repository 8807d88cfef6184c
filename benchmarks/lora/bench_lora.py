#!/usr/bin/env python3
"""LoRA adapters on the CPU: the cost of keeping adapters switchable
(unmerged, chosen per call) against merging them, and the size of one
base with N adapters against N merged models, side by side in one run.

    .venv/bin/python benchmarks/lora/bench_lora.py --build-dir build
        [--model transformer_large] [--ranks 8,16,64] [--batches 1,16]
        [--seq 16] [--adapters 4] [--runs 50] [--rounds 3]
        [--out build/benchmarks/lora]

For each rank r: a PEFT adapter on every linear layer of the model (numpy,
safetensors), compiled merged (--adapter) and switched (--adapter-mode=
switch, N adapters of rank r); for each batch, the median latency (quant-run
--bench, the same input, alternating rounds) of the merged artifact, the
switched one running an adapter, and the switched one running the base.
Sizes: the switched artifact against N merged artifacts (their files).
Writes OUT/bench_lora.json. Never asserts a time.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402

MEDIAN = re.compile(r"median ([\d.]+) ms")


def layer_shapes(model):
    """{module path: (in, out)} of the MatMul layers (legacy-export names)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            path = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
            out[path] = inits[node.input[1]].shape
    return out


def write_adapter(directory, shapes, r, seed):
    rng = np.random.default_rng(seed)
    tensors = {}
    for m, (n_in, n_out) in shapes.items():
        tensors[f"base_model.model.{m}.lora_A.weight"] = (
            rng.standard_normal((r, n_in)) * 0.02).astype(np.float32)
        tensors[f"base_model.model.{m}.lora_B.weight"] = (
            rng.standard_normal((n_out, r)) * 0.02).astype(np.float32)
    os.makedirs(directory, exist_ok=True)
    save_file(tensors, os.path.join(directory, "adapter_model.safetensors"))
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": r, "lora_alpha": 2 * r,
                   "bias": "none"}, f)


def compile_model(bindir, model, out, *args):
    subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o", out,
                    *args], check=True)


def bench(bindir, so, x, runs, threads, adapter=None):
    cmd = [os.path.join(bindir, "quant-run"), so, "--input",
           f"hidden_states={x}", "--bench", str(runs), "--warmup", "5",
           "--threads", str(threads)]
    if adapter:
        cmd += ["--adapter", adapter]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(MEDIAN.search(out.stdout).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--model", default="transformer_large",
                    choices=["transformer", "transformer_large"])
    ap.add_argument("--ranks", default="8,16,64")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--adapters", type=int, default=4)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    out = args.out or os.path.join(args.build_dir, "benchmarks", "lora")
    os.makedirs(out, exist_ok=True)
    make_examples.write_model(out, args.model, calib=0, eval_=0)
    model = os.path.join(out, args.model, "model.onnx")
    shapes = layer_shapes(onnx.load(model))
    hidden = next(iter(shapes.values()))[0]
    inputs = {}
    for b in map(int, args.batches.split(",")):
        x = np.random.default_rng(b).standard_normal(
            (b, args.seq, hidden)).astype(np.float32)
        inputs[b] = os.path.join(out, f"x_b{b}.npy")
        np.save(inputs[b], x)

    base_so = os.path.join(out, "base.so")
    compile_model(bindir, model, base_so)
    results = []
    for r in map(int, args.ranks.split(",")):
        dirs = []
        for i in range(args.adapters):
            d = os.path.join(out, f"r{r}", f"a{i}")
            write_adapter(d, shapes, r, seed=100 * r + i)
            dirs.append(d)
        merged = os.path.join(out, f"merged_r{r}.so")
        switched = os.path.join(out, f"switch_r{r}.so")
        compile_model(bindir, model, merged, f"--adapter={dirs[0]}")
        compile_model(bindir, model, switched, "--adapter-mode=switch",
                      *[f"--adapter={d}" for d in dirs])
        row = {"rank": r, "adapters": args.adapters, "layers": len(shapes),
               "bytes": {"base_so": os.path.getsize(base_so),
                         "merged_so": os.path.getsize(merged),
                         "switch_so_all_adapters": os.path.getsize(switched),
                         "n_merged_so": args.adapters *
                         os.path.getsize(merged)},
               "latency_ms": {}}
        for b, x in inputs.items():
            best = {}
            for _ in range(args.rounds):
                for key, fn in (
                        ("merged", lambda: bench(bindir, merged, x, args.runs,
                                                 args.threads)),
                        ("switch_adapter", lambda: bench(
                            bindir, switched, x, args.runs, args.threads,
                            "a0")),
                        ("switch_base", lambda: bench(
                            bindir, switched, x, args.runs, args.threads))):
                    v = fn()
                    best[key] = min(best.get(key, v), v)
            best["unmerged_overhead"] = best["switch_adapter"] / best["merged"]
            row["latency_ms"][f"batch{b}"] = best
            print(f"r={r:3d} batch {b:3d}: merged {best['merged']:.3f} ms, "
                  f"switched (adapter) {best['switch_adapter']:.3f} ms "
                  f"({best['unmerged_overhead']:.2f}x), switched (base) "
                  f"{best['switch_base']:.3f} ms")
        by = row["bytes"]
        print(f"r={r:3d} sizes: 1 base + {args.adapters} adapters "
              f"{by['switch_so_all_adapters'] / 1e6:.1f} MB vs "
              f"{args.adapters} merged {by['n_merged_so'] / 1e6:.1f} MB")
        results.append(row)
    with open(os.path.join(out, "bench_lora.json"), "w") as f:
        json.dump({"model": args.model, "seq": args.seq,
                   "threads": args.threads, "machine": platform.processor() or
                   platform.machine(), "results": results}, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
