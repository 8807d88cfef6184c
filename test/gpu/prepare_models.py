#!/usr/bin/env python3
"""Prepares the bundled models for a GPU check: for each model and scheme,
a CPU artifact and an NVPTX artifact (quant-compile --target=nvptx), the
held-back inputs and the CPU artifact's outputs as the reference.

    .venv/bin/python test/gpu/prepare_models.py --build-dir build --out build-gpurun

The output folder travels to a GPU machine, where test/gpu/check_models.py
runs the NVPTX artifacts with quant-run --device=cuda and compares."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402

SCHEMES = {"float": [], "w8a8": ["--quantize=w8a8"], "w4": ["--quantize=w4", "--group-size=32"],
           "ternary": ["--quantize=ternary"],
           # 2:4 magnitude pruning, then W8A8 (pruning and quantization chained).
           "prune24-w8a8": ["--prune=2:4", "--quantize=w8a8"],
           "wanda-w4": ["--prune=wanda:0.5", "--quantize=w4", "--group-size=32"],
           # 2:4 float layers on the sparse tensor cores (mma.sp): bf16 hi + lo
           # (f32, the default) and one f16 product (tf32).
           "prune24": ["--prune=2:4"],
           "prune24-tf32": ["--prune=2:4", "--gpu-precision=tf32"]}
# --gpu-precision is the NVPTX artifact's alone; a case's own tolerance.
GPU_ONLY = ("--gpu-precision=",)
TOLERANCE = {"prune24-tf32": 1e-2}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", default="build-gpurun")
    ap.add_argument("--models", default="transformer,mlp,cnn")
    ap.add_argument("--gpu-arch", default="sm_90")
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    data = os.path.join(args.out, "data")
    cases = []
    for name in args.models.split(","):
        make_examples.write_model(data, name, calib=8, eval_=2)
        mdir = os.path.join(data, name)
        model = os.path.join(mdir, "model.onnx")
        for scheme in args.schemes.split(","):
            flags = SCHEMES[scheme]
            if scheme != "float":
                flags = flags + [f"--calibration-data={os.path.join(mdir, 'calibration')}"]
            cpu_so = os.path.join(mdir, f"{scheme}.cpu.so")
            gpu_so = os.path.join(mdir, f"{scheme}.{args.gpu_arch}.so")
            cpu_flags = [f for f in flags if not f.startswith(GPU_ONLY)]
            subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o", cpu_so, *cpu_flags],
                           check=True)
            subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o", gpu_so,
                            "--target=nvptx", f"--gpu-arch={args.gpu_arch}", *flags], check=True)
            for sample in sorted(os.listdir(os.path.join(mdir, "eval"))):
                sdir = os.path.join(mdir, "eval", sample)
                ref = os.path.join(mdir, "ref", scheme, sample)
                cmd = [os.path.join(bindir, "quant-run"), cpu_so, "--output-dir", ref]
                inputs = {}
                for f in os.listdir(sdir):
                    if f.endswith(".npy"):
                        inputs[f[:-4]] = os.path.relpath(os.path.join(sdir, f), args.out)
                        cmd += ["--input", f"{f[:-4]}={os.path.join(sdir, f)}"]
                subprocess.run(cmd, check=True, capture_output=True)
                cases.append({"model": name, "scheme": scheme, "sample": sample,
                              "artifact": os.path.relpath(gpu_so, args.out),
                              "inputs": inputs,
                              "reference": os.path.relpath(ref, args.out)})
                if scheme in TOLERANCE:
                    cases[-1]["tolerance"] = TOLERANCE[scheme]
            os.remove(cpu_so)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} cases in {args.out}")


if __name__ == "__main__":
    main()
