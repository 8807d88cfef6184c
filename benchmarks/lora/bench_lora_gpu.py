#!/usr/bin/env python3
"""LoRA adapters on the GPU (NVPTX artifacts): the cost of an unmerged,
switchable adapter against the merged model, at batch 1 and 16, for ranks
8, 16 and 64, in one run on the device.

Two steps, as the GPU machine has no compiler:

    # here: the model, three PEFT adapters (r = 8, 16, 64), the NVPTX
    # artifacts and the CPU references
    .venv/bin/python benchmarks/lora/bench_lora_gpu.py prepare \
        --build-dir build --dir build-lora-bench
    # on the GPU machine (build-lora-bench carried; quant-run built there
    # by benchmarks/gpu/build_on_device.sh)
    python3 benchmarks/lora/bench_lora_gpu.py run --dir build-lora-bench \
        --quant-run BUILD/quant-run --out OUT

The model is the bundled transformer block at hidden 640, MLP 2560 (so that
both artifacts fit one 64 MiB transfer), sequence 16, dynamic batch. A
merged model has the base model's cost whatever its adapter (the same
shapes, other weight values), so the base artifact stands for every merged
one. The switch artifact carries the three adapters; each call picks one.
Every GPU output is checked against the CPU artifact's before timing.
Writes OUT/bench_lora_gpu.json. Never asserts a time.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDIAN = re.compile(r"median ([\d.]+) ms")
MODEL = "transformer_640"
RANKS = (8, 16, 64)
BATCHES = (1, 16)
SEQ = 16


def prepare(args):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_examples
    import onnx
    from bench_lora import layer_shapes, write_adapter

    make_examples.MODEL_CONFIGS[MODEL] = dict(
        hidden=640, heads=10, mlp=2560, layers=1, batch=1, sequence=SEQ,
        num_outlier_channels=4, eps=1e-5)
    make_examples.DEFAULT_COUNTS[MODEL] = (0, 0)
    make_examples._BUILDERS[MODEL] = make_examples._BUILDERS[
        "transformer_large"]
    d = args.dir
    os.makedirs(d, exist_ok=True)
    make_examples.write_model(d, MODEL, calib=0, eval_=0)
    model = os.path.join(d, MODEL, "model.onnx")
    shapes = layer_shapes(onnx.load(model))
    hidden = next(iter(shapes.values()))[0]
    bindir = os.path.join(args.build_dir, "bin")
    names = []
    for r in RANKS:
        name = f"r{r}"
        write_adapter(os.path.join(d, name), shapes, r, seed=r)
        names.append(name)

    def compile_model(out, *extra):
        subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o",
                        out, *extra], check=True)

    adapters = [f"--adapter={os.path.join(d, n)}" for n in names]
    gpu = ["--target=nvptx", f"--gpu-arch={args.gpu_arch}"]
    compile_model(os.path.join(d, "base.gpu.so"), *gpu)
    compile_model(os.path.join(d, "switch.gpu.so"), *gpu,
                  "--adapter-mode=switch", *adapters)
    cpu_switch = os.path.join(d, "switch.cpu.so")
    compile_model(cpu_switch, "--adapter-mode=switch", *adapters)
    for b in BATCHES:
        x = np.random.default_rng(b).standard_normal(
            (b, SEQ, hidden)).astype(np.float32)
        np.save(os.path.join(d, f"x_b{b}.npy"), x)
        for a in [None] + names:
            out = os.path.join(d, "ref", f"b{b}_{a or 'base'}")
            cmd = [os.path.join(bindir, "quant-run"), cpu_switch, "--input",
                   f"hidden_states={os.path.join(d, f'x_b{b}.npy')}",
                   "--output-dir", out]
            if a:
                cmd += ["--adapter", a]
            subprocess.run(cmd, check=True, capture_output=True)
    # Only what the device needs stays (the artifacts hold the weights).
    os.remove(cpu_switch)
    shutil.rmtree(os.path.join(d, MODEL))
    for n in names:
        shutil.rmtree(os.path.join(d, n))
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"model": MODEL, "hidden": hidden, "seq": SEQ,
                   "layers": len(shapes), "adapters": names,
                   "ranks": list(RANKS), "batches": list(BATCHES)}, f)
    print("prepared", d, {n: os.path.getsize(os.path.join(d, n))
                          for n in ("base.gpu.so", "switch.gpu.so")})
    return 0


def run(args):
    d = args.dir
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)

    def quant_run(so, b, adapter=None, bench=0, out=None):
        cmd = [args.quant_run, os.path.join(d, so), "--device=cuda",
               "--input", f"hidden_states={os.path.join(d, f'x_b{b}.npy')}"]
        if adapter:
            cmd += ["--adapter", adapter]
        if bench:
            cmd += ["--bench", str(bench), "--warmup", "10"]
        if out:
            cmd += ["--output-dir", out]
        p = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return float(MEDIAN.search(p.stdout).group(1)) if bench else None

    os.makedirs(args.out, exist_ok=True)
    result = dict(man, device=subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True, text=True).stdout.strip(), rows=[])
    for b in man["batches"]:
        # Correctness first: every GPU output against the CPU artifact's.
        err = {}
        for a in [None] + man["adapters"]:
            key = a or "base"
            out = os.path.join(args.out, "gpu", f"b{b}_{key}")
            quant_run("switch.gpu.so", b, a, out=out)
            got = np.load(os.path.join(out, "output.npy"))
            want = np.load(os.path.join(d, "ref", f"b{b}_{key}", "output.npy"))
            err[key] = float(np.abs(got - want).max() / np.abs(want).max())
        best = {}
        for _ in range(args.rounds):
            cases = [("merged", "base.gpu.so", None),
                     ("switch_base", "switch.gpu.so", None)]
            cases += [(f"switch_{a}", "switch.gpu.so", a)
                      for a in man["adapters"]]
            for key, so, a in cases:
                v = quant_run(so, b, a, bench=args.runs)
                best[key] = min(best.get(key, v), v)
        row = {"batch": b, "latency_ms": best,
               "max_rel_err_vs_cpu": err,
               "unmerged_overhead": {a: best[f"switch_{a}"] / best["merged"]
                                     for a in man["adapters"]}}
        print(f"batch {b}: merged {best['merged']:.3f} ms; " + ", ".join(
            f"{a} {best['switch_' + a]:.3f} ms "
            f"({row['unmerged_overhead'][a]:.2f}x)" for a in man["adapters"])
            + f"; switch base {best['switch_base']:.3f} ms; max rel err "
            f"{max(err.values()):.2e}")
        result["rows"].append(row)
    with open(os.path.join(args.out, "bench_lora_gpu.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--build-dir", default="build")
    p.add_argument("--dir", default="build-lora-bench")
    p.add_argument("--gpu-arch", default="sm_90")
    r = sub.add_parser("run")
    r.add_argument("--dir", default="build-lora-bench")
    r.add_argument("--quant-run", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--runs", type=int, default=100)
    r.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    return prepare(args) if args.step == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())
