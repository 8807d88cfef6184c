#!/usr/bin/env python3
"""The main job on the bundled example: generate the transformer block
(examples/make_examples.py, fixed seed), compile it with quant-compile into
a shared library for this CPU (dynamic batch and sequence kept), run it with
quant-run on the held-back evaluation inputs, compare every output with
onnxruntime, and time both.

    python3 examples/run_example.py --build-dir build [--model transformer]

Exits non-zero when an output differs from onnxruntime beyond float
tolerance.
"""

import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_examples  # noqa: E402
import sample_data  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--model", default="transformer",
                    choices=make_examples.ALL_MODELS)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--work-dir", default=None,
                    help="where the model, its samples and the outputs go "
                         "(default BUILD_DIR/examples-data)")
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    work = args.work_dir or os.path.join(args.build_dir, "examples-data")
    info = make_examples.write_model(work, args.model, calib=4, eval_=4)
    model_dir = os.path.join(work, args.model)
    model = os.path.join(model_dir, "model.onnx")
    artifact = os.path.join(model_dir, "model.so")

    t0 = time.perf_counter()
    subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o",
                    artifact], check=True)
    compile_s = time.perf_counter() - t0
    print(f"quant-opt: {args.model} ({info['parameters']:,} parameters) "
          f"compiled to {artifact} in {compile_s:.2f} s")

    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    worst = 0.0
    eval_dir = os.path.join(model_dir, "eval")
    samples = sample_data.list_samples(eval_dir)
    for sdir in samples:
        files = sample_data.sample_inputs(sdir)
        out_dir = sample_data.outputs_dir(model_dir, artifact, sdir)
        cmd = [os.path.join(bindir, "quant-run"), artifact, "--output-dir",
               out_dir] + sample_data.quant_run_inputs(files)
        subprocess.run(cmd, check=True, capture_output=True)
        ref = sess.run(None, sample_data.load_inputs(sdir))
        for name, want in zip(out_names, ref):
            got = np.load(os.path.join(out_dir, name + ".npy"))
            if got.shape != want.shape:
                print(f"error: {os.path.basename(sdir)}/{name}: shape "
                      f"{got.shape}, onnxruntime {want.shape}",
                      file=sys.stderr)
                return 1
            worst = max(worst, float(np.max(np.abs(got - want))))
    print(f"  {len(samples)} held-back samples: max |ours - onnxruntime| = "
          f"{worst:.2e}")

    # Latency on the first sample, same thread count for both.
    files = sample_data.sample_inputs(samples[0])
    cmd = [os.path.join(bindir, "quant-run"), artifact, "--bench", "200",
           "--warmup", "20", "--threads", str(args.threads)]
    cmd += sample_data.quant_run_inputs(files)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    ours = float(re.search(r"median ([\d.]+) ms", out.stdout).group(1))
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feeds = sample_data.load_inputs(samples[0])
    for _ in range(20):
        sess.run(None, feeds)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    theirs = float(np.median(times))
    print(f"  latency ({args.threads} threads, median of 200): ours "
          f"{ours:.3f} ms, onnxruntime {theirs:.3f} ms "
          f"({ours / theirs:.2f}x)")
    ok = worst <= 1e-3
    print("  result:", "matches onnxruntime" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(sample_data.run_main(main))
