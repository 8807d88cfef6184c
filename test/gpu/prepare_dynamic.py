#!/usr/bin/env python3
"""Prepares the dynamic-shape transformer graphs of
test/python/dynamic_models.py (the shape computations of Llama, Qwen2,
Mistral, GPT-2, BERT, ViT) for a GPU check: ONE NVPTX artifact per model,
compiled with dynamic batch and sequence, run at several (batch, sequence)
shapes against the CPU artifact's outputs, in check_models.py's layout.

    .venv/bin/python test/gpu/prepare_dynamic.py --build-dir build --out build-gpudyn
    test/gpu/run_on_device.sh build-gpudyn      (on the GPU machine)
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "python"))
from dynamic_models import MODELS, inputs_for  # noqa: E402

SHAPES = [(1, 1), (1, 7), (3, 19), (2, 40)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build-gpudyn"))
    ap.add_argument("--gpu-arch", default="sm_90")
    args = ap.parse_args()
    tool = lambda name: os.path.join(args.build_dir, "bin", name)  # noqa: E731
    cases = []
    for name, make in MODELS.items():
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        onnx.save(make(), os.path.join(d, "model.onnx"))
        for target, so, extra in (("cpu", "cpu.so", []),
                                  ("nvptx", "gpu.so",
                                   [f"--gpu-arch={args.gpu_arch}"])):
            subprocess.run([tool("quant-compile"),
                            os.path.join(d, "model.onnx"), "-o",
                            os.path.join(d, so), f"--target={target}",
                            *extra], check=True)
        for batch, seq in SHAPES:
            tag = f"b{batch}s{seq}"
            feeds = inputs_for(name, batch, seq)
            inputs = {}
            cmd = [tool("quant-run"), os.path.join(d, "cpu.so"),
                   "--output-dir", os.path.join(d, "ref_" + tag)]
            for k, v in feeds.items():
                path = os.path.join(d, f"{k}_{tag}.npy")
                np.save(path, v)
                inputs[k] = f"{name}/{k}_{tag}.npy"
                cmd += ["--input", f"{k}={path}"]
            subprocess.run(cmd, check=True, capture_output=True)
            cases.append({"model": name, "scheme": "float-dynamic",
                          "sample": tag, "artifact": f"{name}/gpu.so",
                          "inputs": inputs, "reference": f"{name}/ref_{tag}"})
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} cases in {args.out}")


if __name__ == "__main__":
    main()
