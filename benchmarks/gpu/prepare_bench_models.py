#!/usr/bin/env python3
"""Prepares benchmarks/gpu/bench_models.py's cases: NVPTX artifacts of the
bundled transformer (hidden 64) and transformer_large (hidden 1024, MLP 4096)
for each scheme, compiled by this build ("after") and, with --before, by
another quant-compile (e.g. main's, "before"), plus inputs at prefill
(seq 128) and decode (seq 1) shapes.

    .venv/bin/python benchmarks/gpu/prepare_bench_models.py --build-dir build \\
        --before /work/main/build/bin/quant-compile --out DIR"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402

SCHEMES = {"float": [], "w8a8": ["--quantize=w8a8"],
           "w4": ["--quantize=w4", "--group-size=32"], "ternary": ["--quantize=ternary"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--before", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="transformer:float,w8a8,w4,ternary;"
                    "transformer_large:w8a8,w4,ternary")
    args = ap.parse_args()
    after = os.path.join(args.build_dir, "bin", "quant-compile")
    data = os.path.join(args.out, "data")
    cases = []
    for spec in args.models.split(";"):
        name, schemes = spec.split(":")
        make_examples.write_model(data, name, calib=4, eval_=1)
        mdir = os.path.join(data, name)
        cfg = make_examples.TRANSFORMER_CONFIGS[name]
        hidden = cfg["hidden"]
        inputs = {}
        rng = np.random.default_rng(0)
        for label, seq in (("prefill", 128), ("decode", 1)):
            x = rng.standard_normal((1, seq, hidden)).astype(np.float32)
            path = os.path.join(mdir, f"x_{label}.npy")
            np.save(path, x)
            inputs[label] = os.path.relpath(path, args.out)
        for scheme in schemes.split(","):
            flags = SCHEMES[scheme]
            if scheme != "float":
                flags = flags + [f"--calibration-data={os.path.join(mdir, 'calibration')}"]
            # The CPU artifact's outputs: the reference the GPU output is
            # checked against (the CPU artifact itself stays here).
            cpu_so = os.path.join(mdir, f"{scheme}.cpu.so")
            subprocess.run([after, os.path.join(mdir, "model.onnx"), "-o", cpu_so, *flags],
                           check=True)
            refs = {}
            for label, inp in inputs.items():
                ref = os.path.join(mdir, "ref", scheme, label)
                subprocess.run([os.path.join(args.build_dir, "bin", "quant-run"), cpu_so,
                                "--input", f"hidden_states={os.path.join(args.out, inp)}",
                                "--output-dir", ref], check=True, capture_output=True)
                refs[label] = os.path.relpath(os.path.join(ref, "output.npy"), args.out)
            os.remove(cpu_so)
            for variant, qc in (("after", after), ("before", args.before)):
                if not qc:
                    continue
                so = os.path.join(mdir, f"{scheme}.{variant}.so")
                subprocess.run([qc, os.path.join(mdir, "model.onnx"), "-o", so,
                                "--target=nvptx", "--gpu-arch=sm_90", *flags], check=True)
                for label, inp in inputs.items():
                    cases.append({"model": name, "scheme": scheme, "variant": variant,
                                  "shape": label, "artifact": os.path.relpath(so, args.out),
                                  "input_name": "hidden_states", "input": inp,
                                  "reference": refs[label],
                                  "hidden": hidden, "heads": cfg["heads"], "mlp": cfg["mlp"]})
    with open(os.path.join(args.out, "bench_cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} cases in {args.out}")


if __name__ == "__main__":
    main()
