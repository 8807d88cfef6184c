#!/usr/bin/env python3
"""Prepares the control-flow models of test/python/test_control_flow.py
(If with a run-time condition, Loop with trip count / condition / growing
scan buffers, Scan in both directions, Scan in a Loop, the VAD If) for a GPU
check: an NVPTX artifact each, inputs, and the CPU artifact's outputs as
the reference, in the layout test/gpu/check_models.py reads.

    .venv/bin/python test/gpu/prepare_control_flow.py --build-dir build --out build-gpucf
    # on the GPU machine:  test/gpu/run_on_device.sh build-gpucf"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, save

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "python"))
import test_control_flow as cf  # noqa: E402


def cases():
    r = np.random.default_rng(11)

    def randn(*s):
        return r.standard_normal(s).astype(np.float32)

    then_g = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["zt"])], "t", [],
        [cf.vi("zt", cf.F, [3])])
    else_g = helper.make_graph(
        [helper.make_node("Concat", ["x", "y"], ["ze"], axis=0)], "e", [],
        [cf.vi("ze", cf.F, [6])])
    if_model = cf.model_of(
        [helper.make_node("If", ["c"], ["z"], then_branch=then_g,
                          else_branch=else_g)],
        [cf.vi("c", cf.B, []), cf.vi("x", cf.F, [3]), cf.vi("y", cf.F, [3])],
        [cf.vi("z", cf.F, None)])
    yield "if", if_model, [{"c": np.array(v), "x": randn(3), "y": randn(3)}
                           for v in (True, False)]
    loop = cf.loop_model(True, True)
    yield "loop", loop, [{"m": np.array(m, np.int64), "c": np.array(True),
                          "x": np.array([1.0, 0.5], np.float32),
                          "lim": np.array(lim, np.float32)}
                         for m, lim in ((5, 6.0), (40, 1e9))]
    loop_nom = cf.loop_model(False, True)
    yield "loop_no_trip_count", loop_nom, [
        {"m": np.array(0, np.int64), "c": np.array(True),
         "x": np.array([1.0, 0.5], np.float32),
         "lim": np.array(lim, np.float32)} for lim in (6.0, 200.0)]
    yield "recurrent_loop", cf.recurrent_loop_model(), [
        {"m": np.array(m, np.int64), "x": randn(1, 64)} for m in (1, 7)]
    yield "vad", cf.vad_model(), [
        {"audio": randn(1, 512) * 0.3, "sr": np.array(16000, np.int64)},
        {"audio": randn(1, 256) * 0.3, "sr": np.array(8000, np.int64)}]
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x"], ["s2"]),
         helper.make_node("Tanh", ["s2"], ["y"])], "b",
        [cf.vi("s", cf.F, [64]), cf.vi("x", cf.F, [64])],
        [cf.vi("s2", cf.F, [64]), cf.vi("y", cf.F, [64])])
    scan = cf.model_of(
        [helper.make_node("Scan", ["s0", "seq"], ["s", "ys"], body=body,
                          num_scan_inputs=1, scan_input_directions=[1],
                          scan_output_axes=[1])],
        [cf.vi("s0", cf.F, [64]), cf.vi("seq", cf.F, ["T", 64])],
        [cf.vi("s", cf.F, [64]), cf.vi("ys", cf.F, None)])
    yield "scan", scan, [{"s0": randn(64), "seq": randn(t, 64) * 0.1}
                         for t in (1, 300)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", default="build-gpucf")
    ap.add_argument("--gpu-arch", default="sm_90")
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    out = []
    for name, model, samples in cases():
        mdir = os.path.join(args.out, name)
        os.makedirs(mdir, exist_ok=True)
        path = os.path.join(mdir, "model.onnx")
        save(model, path)
        cpu_so = os.path.join(mdir, "cpu.so")
        gpu_so = os.path.join(mdir, f"{args.gpu_arch}.so")
        subprocess.run([os.path.join(bindir, "quant-compile"), path, "-o",
                        cpu_so], check=True)
        subprocess.run([os.path.join(bindir, "quant-compile"), path, "-o",
                        gpu_so, "--target=nvptx",
                        f"--gpu-arch={args.gpu_arch}"], check=True)
        for i, sample in enumerate(samples):
            sdir = os.path.join(mdir, "in", str(i))
            os.makedirs(sdir, exist_ok=True)
            ref = os.path.join(mdir, "ref", str(i))
            cmd = [os.path.join(bindir, "quant-run"), cpu_so,
                   "--output-dir", ref]
            inputs = {}
            for k, v in sample.items():
                p = os.path.join(sdir, k + ".npy")
                np.save(p, v)
                inputs[k] = os.path.relpath(p, args.out)
                cmd += ["--input", f"{k}={p}"]
            subprocess.run(cmd, check=True, capture_output=True)
            out.append({"model": name, "scheme": "float", "sample": str(i),
                        "artifact": os.path.relpath(gpu_so, args.out),
                        "inputs": inputs,
                        "reference": os.path.relpath(ref, args.out)})
        os.remove(cpu_so)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(out)} cases in {args.out}")


if __name__ == "__main__":
    main()
