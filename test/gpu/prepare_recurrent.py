#!/usr/bin/env python3
"""Prepares recurrent models (LSTM, GRU, RNN and the voice-activity-style
model of test/python/test_recurrent.py) for a GPU check, in
check_models.py's format: per model an NVPTX artifact, a CPU artifact, the
inputs and the CPU artifact's outputs as the reference.

    .venv/bin/python test/gpu/prepare_recurrent.py --build-dir build --out build-gpurun-rnn
    test/gpu/run_on_device.sh build-gpurun-rnn      (on the GPU machine)
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
from test_recurrent import recurrent_model, vad_model  # noqa: E402


def models():
    yield "vad_b3", *vad_model(batch=3)
    yield "lstm_bidir_lens", *recurrent_model(
        "LSTM", direction="bidirectional", initial_h=True, initial_c=True,
        seq_lens=[5, 4, 2], peepholes=True)
    yield "gru_reverse_lbr", *recurrent_model(
        "GRU", direction="reverse", linear_before_reset=1, seq_lens=[1, 5, 3])
    yield "gru_bidir_layout1", *recurrent_model(
        "GRU", direction="bidirectional", layout=1, initial_h=True)
    yield "rnn_relu_clip", *recurrent_model(
        "RNN", activations=["Relu"], clip=1.5, T=16, batch=8, H=64, I=32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build-gpurun-rnn"))
    args = ap.parse_args()
    tool = lambda name: os.path.join(args.build_dir, "bin", name)  # noqa: E731
    cases = []
    for name, model, feeds in models():
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        onnx.save(model, os.path.join(d, "model.onnx"))
        inputs = {}
        for k, v in feeds.items():
            np.save(os.path.join(d, k + ".npy"), v)
            inputs[k] = f"{name}/{k}.npy"
        for target, so in (("cpu", "cpu.so"), ("nvptx", "gpu.so")):
            subprocess.run([tool("quant-compile"), os.path.join(d, "model.onnx"),
                            "-o", os.path.join(d, so), f"--target={target}"],
                           check=True)
        cmd = [tool("quant-run"), os.path.join(d, "cpu.so"), "--output-dir",
               os.path.join(d, "ref")]
        for k in feeds:
            cmd += ["--input", f"{k}={os.path.join(d, k + '.npy')}"]
        subprocess.run(cmd, check=True, capture_output=True)
        cases.append({"model": name, "scheme": "float", "sample": 0,
                      "artifact": f"{name}/gpu.so", "inputs": inputs,
                      "reference": f"{name}/ref"})
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} cases in {args.out}")


if __name__ == "__main__":
    main()
