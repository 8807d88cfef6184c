#!/usr/bin/env python3
"""Transformer blocks on the CPU, float / w8a8-dynamic / w4 / w8, ours against
onnxruntime in one run (issue 22, the transformer half).

    .venv/bin/python benchmarks/cpu/bench_transformers.py --build-dir build
        [--baseline-build OTHER_BUILD] [--models llama,qwen2,bert,vit]
        [--seq 32] [--layers 2] [--threads 2] [--runs 200] [--rounds 5]
        [--out build/benchmarks/cpu]

Models: benchmarks/ptq/bench_w4.py's torch-shaped transformer blocks
(hidden 256, 4 heads: Llama-like RMSNorm + SwiGLU, Qwen2-like with q/k/v
biases, BERT-like post-LayerNorm + GELU, ViT-like pre-LayerNorm + GELU;
attention as MatMul -> Mul(scale) -> Softmax -> MatMul with Reshape/
Transpose of the heads, as torch.onnx.export writes it).

Systems, each scheme against its onnxruntime counterpart:
  float          ours float                vs onnxruntime float
  w8a8-dynamic   ours --quantize=w8a8-dynamic vs quantize_dynamic (QInt8,
                 per channel)
  w4             ours --quantize=w4 g32 signed-extreme (onnxruntime's own
                 symmetric weights, bit for bit) vs MatMulNBits g32 sym
                 (accuracy_level 0: f32 compute, and 4: int8 activations)
  w8             ours --quantize=w8 (weight-only int8; onnxruntime has no
                 weight-only int8 CPU kernel, so it is compared with its float)
  w4-a8          ours w4 compiled with --w4-activations=int8 (int8
                 activations, VNNI) vs MatMulNBits g32 accuracy_level 4
With --baseline-build, every artifact of ours is also compiled and timed
with that build (e.g. main before a change): before/after in the same run.

Timing: `quant-run --bench` (its own median over --runs runs after a
warm-up) and onnxruntime in this process (same thread count, sequential),
all systems of a model alternating over --rounds rounds; reported: the
median over rounds of each round's median, and the spread (min and max of
the round medians). Correctness: SQNR (dB) and max abs error of each output
against onnxruntime's float model. Writes OUT/bench_transformers.json.
Never asserts a time.
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
from onnx import helper
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "ptq"))
import bench_w4  # noqa: E402

BENCH_RE = re.compile(r"median ([\d.]+) ms, p10 ([\d.]+)")

OURS = {
    "float": [],
    "w8a8-dynamic": ["--quantize=w8a8-dynamic"],
    "w4": ["--quantize=w4", "--group-size=32", "--int4-scale=signed-extreme"],
    "w8": ["--quantize=w8"],
    "w4-a8": ["--quantize=w4", "--group-size=32", "--int4-scale=signed-extreme",
              "--w4-activations=int8"],
}
# Environment of quant-run per scheme (none needs one: the int8 activations
# of w4-a8 are the artifact's, docs/Runtime/W4Int8.md).
ENV = {}


def ort_session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def ort_ms(sess, feeds, runs, warmup):
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def ours_ms(build, so, x, runs, warmup, threads, env=None):
    r = subprocess.run([os.path.join(build, "bin", "quant-run"), so, "--bench",
                        str(runs), "--warmup", str(warmup), "--threads",
                        str(threads), "--input", f"hidden_states={x}"],
                       check=True, capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    return float(BENCH_RE.search(r.stdout).group(1))


def accuracy(ref, got):
    ref = ref.astype(np.float64)
    got = got.astype(np.float64)
    err = float(np.max(np.abs(got - ref)))
    noise = float(np.sum((got - ref) ** 2))
    return {"sqnr_db": float(10 * np.log10(np.sum(ref ** 2) / noise))
            if noise > 0 else float("inf"), "max_abs_err": err}


def with_accuracy_level(model, level):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for node in m.graph.node:
        if node.op_type == "MatMulNBits":
            node.attribute.append(helper.make_attribute("accuracy_level", level))
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline-build", default=None)
    ap.add_argument("--models", default="llama,qwen2,bert,vit")
    ap.add_argument("--schemes", default="float,w8a8-dynamic,w4,w8")
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "cpu")
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench_tfm_")
    schemes = args.schemes.split(",")
    builds = {"ours": args.build_dir}
    if args.baseline_build:
        builds["baseline"] = args.baseline_build
    results = {}
    for arch in args.models.split(","):
        model = bench_w4.build(arch, args.layers, args.seq, seed=len(arch))
        path = os.path.join(tmp, f"{arch}.onnx")
        onnx.save(model, path)
        x = np.random.default_rng(7).standard_normal(
            (1, args.seq, bench_w4.HIDDEN)).astype(np.float32)
        xpath = os.path.join(tmp, f"{arch}_x.npy")
        np.save(xpath, x)
        feeds = {"hidden_states": x}
        fsess = ort_session(model, args.threads)
        ref = fsess.run(None, feeds)[0]
        systems = {}  # name -> ("ort", session) | ("ours", build, so)
        systems["onnxruntime float"] = ("ort", fsess)
        if "w8a8-dynamic" in schemes:
            qpath = os.path.join(tmp, f"{arch}_dyn.onnx")
            quantize_dynamic(path, qpath, weight_type=QuantType.QInt8,
                             per_channel=True)
            systems["onnxruntime quantize_dynamic"] = (
                "ort", ort_session(qpath, args.threads))
        if "w4" in schemes or "w4-a8" in schemes:
            nbits = bench_w4.matmulnbits(model, 32, True)
            systems["onnxruntime MatMulNBits g32"] = (
                "ort", ort_session(nbits, args.threads))
            systems["onnxruntime MatMulNBits g32 acc4"] = (
                "ort", ort_session(with_accuracy_level(nbits, 4), args.threads))
        entry = {}
        for scheme in schemes:
            for who, build in builds.items():
                so = os.path.join(tmp, f"{arch}_{scheme}_{who}.so")
                r = subprocess.run([os.path.join(build, "bin", "quant-compile"),
                                    path, "-o", so, *OURS[scheme]],
                                   capture_output=True, text=True)
                name = f"{who} {scheme}"
                if r.returncode != 0:
                    entry[name] = {"error": r.stderr.strip()[-400:]}
                    continue
                systems[name] = ("ours", build, so, ENV.get(scheme))
        for name, sysd in systems.items():
            if sysd[0] == "ort":
                got = sysd[1].run(None, feeds)[0]
            else:
                subprocess.run([os.path.join(sysd[1], "bin", "quant-run"),
                                sysd[2], "--input", f"hidden_states={xpath}",
                                "--output-dir", tmp], check=True,
                               capture_output=True,
                               env={**os.environ, **(sysd[3] or {})})
                got = np.load(os.path.join(tmp, "output.npy"))
            entry[name] = accuracy(ref, got)
            entry[name]["ms_rounds"] = []
        for _ in range(args.rounds):
            for name, sysd in systems.items():
                if sysd[0] == "ort":
                    ms = ort_ms(sysd[1], feeds, args.runs, args.warmup)
                else:
                    ms = ours_ms(sysd[1], sysd[2], xpath, args.runs,
                                 args.warmup, args.threads, sysd[3])
                entry[name]["ms_rounds"].append(ms)
        for e in entry.values():
            if "ms_rounds" in e:
                e["ms"] = float(np.median(e["ms_rounds"]))
                e["ms_min"] = float(min(e["ms_rounds"]))
                e["ms_max"] = float(max(e["ms_rounds"]))
        counterpart = {"float": "onnxruntime float",
                       "w8a8-dynamic": "onnxruntime quantize_dynamic",
                       "w4": "onnxruntime MatMulNBits g32",
                       "w8": "onnxruntime float",
                       "w4-a8": "onnxruntime MatMulNBits g32 acc4"}
        ratios = {}
        for scheme in schemes:
            for who in builds:
                e = entry.get(f"{who} {scheme}", {})
                o = entry.get(counterpart[scheme], {})
                if "ms" in e and "ms" in o:
                    ratios[f"{who} {scheme} / {counterpart[scheme]}"] = (
                        e["ms"] / o["ms"])
        results[arch] = {"systems": entry, "ratios": ratios}
        print(arch)
        for name, e in entry.items():
            if "error" in e:
                print(f"  {name:36s} error: {e['error']}")
                continue
            print(f"  {name:36s} {e['ms']:8.3f} ms [{e['ms_min']:.3f}, "
                  f"{e['ms_max']:.3f}]  SQNR {e['sqnr_db']:6.2f} dB")
        for k, v in ratios.items():
            print(f"  {k:60s} {v:5.2f}x")
    report = {"seq": args.seq, "layers": args.layers, "hidden": bench_w4.HIDDEN,
              "threads": args.threads, "runs": args.runs, "rounds": args.rounds,
              "onnxruntime": ort.__version__, "machine": platform.processor() or
              platform.machine(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "results": results}
    with open(os.path.join(out, "bench_transformers.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", os.path.join(out, "bench_transformers.json"))


if __name__ == "__main__":
    main()
