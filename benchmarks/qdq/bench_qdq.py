#!/usr/bin/env python3
"""QDQ models on the CPU: a model quantized by onnxruntime's quantize_static
(QDQ, per-channel, MinMax) compiled by quant-compile (its QDQ patterns folded
into integer layers), against our artifact of the float model, the same QDQ
model unfolded (--fold-qdq=false: its float semantics), and onnxruntime
running the QDQ and the float model — side by side in one run.

    .venv/bin/python benchmarks/qdq/bench_qdq.py --build-dir build
        [--models mlp,cnn,transformer,rcnn,yolo,bert,llama] [--runs 200]
        [--rounds 3] [--threads 2] [--preprocess] [--seq 64]
        [--out build/benchmarks/qdq]

`bert` and `llama` are one block of benchmarks/ptq/bench_w4.py's generated
BERT-like (post-LayerNorm, GELU MLP 1024) and Llama-like (RMS norm, SwiGLU
MLP 688) transformers, hidden 256, 4 heads, `--seq` tokens, calibrated on
16 and evaluated on one standard-normal input.

rcnn and yolo are examples/qdq_cnns.py's residual CNN (Concat of two
scales, AveragePool, residual Add, GlobalAveragePool) and YOLO-style neck
(stride-2 convs, MaxPool, nearest Resize x2, Concat).

With --preprocess, each model also goes through onnxruntime's recommended
quant_pre_process (BatchNorm folded into convolutions, graph optimized)
first, float and QDQ alike (rows `<model>+pre`).

For each model: the largest difference of our folded artifact from
onnxruntime's QDQ run in steps of the output scale (LSB), both with its
default graph optimizations (its fused QLinear kernels, which round some
intermediate activations differently) and with them off (the QDQ model's
reference semantics, `max_diff_lsb_ort_reference`), the layers folded
and left float, and the median latencies (quant-run --bench, onnxruntime's
CPU provider, alternating rounds). Writes OUT/bench_qdq.json. Never asserts
a time.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                      QuantFormat, QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "examples"))
import make_examples  # noqa: E402
import qdq_cnns  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "ptq"))
import bench_w4  # noqa: E402

GENERATED = ("bert", "llama")

MEDIAN = re.compile(r"median ([\d.]+) ms")
INPUTS = {"mlp": "input", "cnn": "image", "transformer": "hidden_states",
          "transformer_large": "hidden_states", "rcnn": "image",
          "yolo": "image", "bert": "hidden_states", "llama": "hidden_states"}


def write_generated(tmp, name, seq):
    """One block of bench_w4's generated transformer `name`, with 16
    calibration and one eval input in make_examples' layout."""
    folder = os.path.join(tmp, name)
    os.makedirs(folder, exist_ok=True)
    onnx.save(bench_w4.build(name, 1, seq, seed=len(name)),
              os.path.join(folder, "model.onnx"))
    rng = np.random.default_rng(len(name))
    for sub, count in (("calibration", 16), ("eval", 1)):
        for i in range(count):
            d = os.path.join(folder, sub, f"sample_{i:03d}")
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, "hidden_states.npy"), rng.standard_normal(
                (1, seq, bench_w4.HIDDEN)).astype(np.float32))


class Reader(CalibrationDataReader):
    def __init__(self, folder, name):
        self.samples = [{name: np.load(os.path.join(folder, s, name + ".npy"))}
                        for s in sorted(os.listdir(folder))]

    def get_next(self):
        return self.samples.pop(0) if self.samples else None


def compile_model(bindir, model, out, *args):
    r = subprocess.run([os.path.join(bindir, "quant-compile"), model, "-o",
                        out, *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stderr)


def bench_ours(bindir, so, name, x, runs, threads):
    out = subprocess.run([os.path.join(bindir, "quant-run"), so, "--input",
                          f"{name}={x}", "--bench", str(runs), "--warmup", "10",
                          "--threads", str(threads)],
                         check=True, capture_output=True, text=True)
    return float(MEDIAN.search(out.stdout).group(1))


def bench_ort(model, feeds, runs, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    for _ in range(10):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def lsb_error(bindir, so, qdq_model, name, x_path, tmp):
    model = onnx.load(qdq_model)
    out_name = model.graph.output[0].name
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    node, scale = producer.get(out_name), None
    while node is not None and node.op_type == "Identity":
        node = producer.get(node.input[0])
    if node is not None and node.op_type == "DequantizeLinear":
        scale = float(inits[node.input[1]])
    subprocess.run([os.path.join(bindir, "quant-run"), so, "--input",
                    f"{name}={x_path}", "--output-dir", tmp], check=True,
                   capture_output=True)
    got = np.load(os.path.join(tmp, out_name + ".npy")).astype(np.float64)
    diffs = []
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        sess = ort.InferenceSession(qdq_model, opts,
                                    providers=["CPUExecutionProvider"])
        ref = sess.run(None, {name: np.load(x_path)})[0].astype(np.float64)
        diffs.append(float(np.abs(got - ref).max()))
    lsb = [d / scale if scale else None for d in diffs]
    return diffs[0], scale, lsb[0], lsb[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--models", default="mlp,cnn,transformer,rcnn,yolo")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preprocess", action="store_true")
    ap.add_argument("--seq", type=int, default=64,
                    help="tokens of the generated bert / llama models")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    bindir = os.path.join(args.build_dir, "bin")
    out_dir = args.out or os.path.join(args.build_dir, "benchmarks", "qdq")
    os.makedirs(out_dir, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(n, False) for n in args.models.split(",")]
        if args.preprocess:
            runs += [(n, True) for n in args.models.split(",")]
        for name, pre in runs:
            if not pre and name in qdq_cnns.BUILDERS:
                qdq_cnns.write_model(tmp, name, calib=16, eval_=1)
            elif not pre and name in GENERATED:
                write_generated(tmp, name, args.seq)
            elif not pre:
                make_examples.write_model(tmp, name, calib=16, eval_=1)
            folder = os.path.join(tmp, name)
            inp = INPUTS[name]
            fmodel = os.path.join(folder, "model.onnx")
            qmodel = os.path.join(folder, "qdq.onnx")
            if pre:
                fmodel = os.path.join(folder, "pre.onnx")
                qmodel = os.path.join(folder, "pre_qdq.onnx")
                quant_pre_process(os.path.join(folder, "model.onnx"), fmodel,
                                  skip_symbolic_shape=True)
            quantize_static(fmodel, qmodel,
                            Reader(os.path.join(folder, "calibration"), inp),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            eval_dir = os.path.join(folder, "eval")
            x_path = os.path.join(eval_dir, sorted(os.listdir(eval_dir))[0],
                                  inp + ".npy")
            feeds = {inp: np.load(x_path)}
            arts = {k: os.path.join(folder, k + ("_pre" if pre else "") + ".so")
                    for k in ("float", "qdq_folded", "qdq_unfolded")}
            compile_model(bindir, fmodel, arts["float"])
            report = os.path.join(folder, "report.json")
            compile_model(bindir, qmodel, arts["qdq_folded"],
                          f"--report={report}")
            compile_model(bindir, qmodel, arts["qdq_unfolded"],
                          "--fold-qdq=false")
            with open(report) as f:
                rep = json.load(f)["qdq"]
            diff, scale, lsb, lsb_ref = lsb_error(bindir, arts["qdq_folded"], qmodel,
                                         inp, x_path, folder)
            times = {k: [] for k in list(arts) + ["ort_qdq", "ort_float"]}
            for _ in range(args.rounds):
                for k, so in arts.items():
                    times[k].append(bench_ours(bindir, so, inp, x_path,
                                               args.runs, args.threads))
                times["ort_qdq"].append(bench_ort(qmodel, feeds, args.runs,
                                                  args.threads))
                times["ort_float"].append(bench_ort(fmodel, feeds, args.runs,
                                                    args.threads))
            med = {k: float(np.median(v)) for k, v in times.items()}
            row = dict(model=name + ("+pre" if pre else ""), input_shape=list(feeds[inp].shape),
                       folded=len(rep["folded"]),
                       stays_float=rep["stays_float"],
                       max_abs_diff_vs_ort_qdq=diff, output_scale=scale,
                       max_diff_lsb=lsb, max_diff_lsb_ort_reference=lsb_ref,
                       median_ms=med,
                       all_ms=times,
                       speedup_folded_vs_our_float=med["float"] /
                       med["qdq_folded"],
                       speedup_folded_vs_unfolded=med["qdq_unfolded"] /
                       med["qdq_folded"],
                       folded_vs_ort_qdq=med["qdq_folded"] / med["ort_qdq"])
            results.append(row)
            print(f"{row['model']}: {row['folded']} folded, "
                  f"{len(row['stays_float'])} float; |ours - ort| = "
                  f"{lsb} LSB ({lsb_ref} LSB from its reference "
                  "semantics); ms: " +
                  ", ".join(f"{k} {v:.3f}" for k, v in med.items()) +
                  f"; folded vs our float {row['speedup_folded_vs_our_float']:.2f}x")
    meta = dict(machine=platform.machine(), processor=platform.processor(),
                cpus=os.cpu_count(), onnxruntime=ort.__version__,
                threads=args.threads, runs=args.runs, rounds=args.rounds,
                date=time.strftime("%Y-%m-%d"))
    path = os.path.join(out_dir, "bench_qdq.json")
    with open(path, "w") as f:
        json.dump(dict(meta=meta, results=results), f, indent=2)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
