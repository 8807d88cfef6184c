#!/usr/bin/env python3
"""The main job: post-training quantization of the bundled transformer block.

Generates the model and its calibration and held-back samples
(examples/make_examples.py, fixed seed), quantizes it W8A8 static with
quant-compile (observers, calibration on the compiled float model, int8
per-channel weights, integer kernels), compiles the float model too, prints
quant-compile's report (per-layer SQNR, output SQNR/cosine/max error,
weight bytes, latency), and checks the int8 artifact independently: run
with quant-run on the held-back samples against onnxruntime's float model
(numpy SQNR), and timed against the float artifact with quant-run.

    python3 examples/run_ptq_example.py --build-dir build [--scheme w8a8]

Ends with one verdict line (PASS/FAIL: size, SQNR vs float, speed-up);
exits non-zero when the held-back SQNR is below 30 dB.
"""

import argparse
import json
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

# The held-back SQNR below which the example fails.
MIN_SQNR_DB = 30


def bench(bindir, artifact, files, threads, runs=300):
    cmd = [os.path.join(bindir, "quant-run"), artifact, "--bench", str(runs),
           "--warmup", "30", "--threads", str(threads)]
    cmd += sample_data.quant_run_inputs(files)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return float(re.search(r"median ([\d.]+) ms", out.stdout).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--model", default="transformer",
                    choices=make_examples.ALL_MODELS)
    ap.add_argument("--scheme", default="w8a8",
                    choices=["w8a8", "w8a8-dynamic", "w8", "w4"])
    ap.add_argument("--calibration-samples", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--work-dir", default=None,
                    help="where the model, its samples and the outputs go "
                         "(default BUILD_DIR/examples-data)")
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    work = args.work_dir or os.path.join(args.build_dir, "examples-data")
    info = make_examples.write_model(work, args.model,
                                     calib=args.calibration_samples, eval_=8)
    d = os.path.join(work, args.model)
    model = os.path.join(d, "model.onnx")
    calib, held = os.path.join(d, "calibration"), os.path.join(d, "eval")
    float_so = os.path.join(d, "model.so")
    int8_so = os.path.join(d, f"model.{args.scheme}.so")
    report = os.path.join(d, f"report.{args.scheme}.json")

    subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o",
                    float_so], check=True)
    t0 = time.perf_counter()
    r = subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o",
                        int8_so, f"--quantize={args.scheme}",
                        f"--calibration-data={calib}", f"--eval-data={held}",
                        f"--report={report}"], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    seconds = time.perf_counter() - t0
    print(f"quant-opt: {args.model} ({info['parameters']:,} parameters) "
          f"quantized {args.scheme} with {args.calibration_samples} "
          f"calibration samples in {seconds:.1f} s -> {int8_so}")
    print(r.stdout, end="")
    rep = json.loads(open(report).read())

    # Independent check: the int8 artifact against onnxruntime's float model.
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    num = den = 0.0
    samples = sample_data.list_samples(held)
    for sdir in samples:
        out_dir = sample_data.outputs_dir(d, int8_so, sdir)
        cmd = [os.path.join(bindir, "quant-run"), int8_so, "--output-dir",
               out_dir] + sample_data.quant_run_inputs(
                   sample_data.sample_inputs(sdir))
        subprocess.run(cmd, check=True, capture_output=True)
        ref = sess.run(None, sample_data.load_inputs(sdir))
        for name, want in zip(out_names, ref):
            got = np.load(os.path.join(out_dir, name + ".npy"))
            num += float(np.sum(want.astype(np.float64) ** 2))
            den += float(np.sum((got.astype(np.float64) - want) ** 2))
    sqnr = 10 * np.log10(num / den) if den > 0 else float("inf")

    files = sample_data.sample_inputs(samples[0])
    f_ms = min(bench(bindir, float_so, files, args.threads),
               bench(bindir, float_so, files, args.threads))
    q_ms = min(bench(bindir, int8_so, files, args.threads),
               bench(bindir, int8_so, files, args.threads))
    wb = rep["weight_bytes"]
    ratio = wb["float"] / wb["quantized"]
    print(f"  size: weights {wb['float']:,} -> {wb['quantized']:,} bytes "
          f"({ratio:.2f}x smaller)")
    print(f"  {len(samples)} held-back samples vs onnxruntime float: "
          f"SQNR {sqnr:.1f} dB")
    print(f"  latency (quant-run, {args.threads} threads, median of 300): "
          f"float {f_ms:.4f} ms, {args.scheme} {q_ms:.4f} ms "
          f"({f_ms / q_ms:.2f}x)")
    ok = sqnr >= MIN_SQNR_DB
    verdict = "PASS" if ok else "FAIL"
    why = "" if ok else f" (below the {MIN_SQNR_DB} dB floor)"
    print(f"{verdict}: {args.model} quantized {args.scheme}: weights "
          f"{ratio:.2f}x smaller, SQNR {sqnr:.1f} dB vs float on "
          f"{len(samples)} held-back samples{why}, speed-up {f_ms / q_ms:.2f}x "
          f"vs the float artifact -> {int8_so}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(sample_data.run_main(main))
