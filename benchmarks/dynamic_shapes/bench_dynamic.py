"""Cost of dynamic shapes: one artifact compiled with dynamic batch and
sequence vs artifacts pinned to each measured shape (--pin-dim), and
onnxruntime, on the transformer graphs of test/python/dynamic_models.py
(the shape computations of Llama, GPT-2, BERT, ViT) at a larger size.
Writes JSON (medians, p10/p90, ratios); asserts no time."""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "python"))
import dynamic_models as dm  # noqa: E402


def bench_ours(build, so, inputs, tmp, runs, threads):
    args = [os.path.join(build, "bin", "quant-run"), so, "--bench", str(runs),
            "--warmup", "5", "--threads", str(threads)]
    for name, arr in inputs.items():
        path = os.path.join(tmp, f"bench_{name}.npy")
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    m = re.search(r"median ([0-9.]+) ms, p10 ([0-9.]+), p90 ([0-9.]+)",
                  out.stdout + out.stderr)
    return {"median_ms": float(m.group(1)), "p10_ms": float(m.group(2)),
            "p90_ms": float(m.group(3))}


def bench_ort(model, inputs, runs, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, opts,
                                providers=["CPUExecutionProvider"])
    for _ in range(5):
        sess.run(None, inputs)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, inputs)
        times.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": float(np.median(times)),
            "p10_ms": float(np.percentile(times, 10)),
            "p90_ms": float(np.percentile(times, 90))}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="llama,gpt2,bert,vit")
    ap.add_argument("--seq", default="16,128")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dm.configure(a.hidden, a.heads, a.ffn,
                 max_pos=max(int(s) for s in a.seq.split(",")))
    out_path = a.out or os.path.join(a.build_dir, "benchmarks",
                                     "dynamic_shapes", "bench_dynamic.json")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    compile_bin = os.path.join(a.build_dir, "bin", "quant-compile")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            model = os.path.join(tmp, name + ".onnx")
            onnx.save(dm.MODELS[name](), model)
            dyn_so = os.path.join(tmp, name + ".so")
            subprocess.run([compile_bin, model, "-o", dyn_so], check=True)
            seqs = [0] if name == "vit" else [int(s) for s in a.seq.split(",")]
            for seq in seqs:
                inputs = dm.inputs_for(name, a.batch, seq)
                pins = ["--pin-dim", f"batch={a.batch}"]
                if name != "vit":
                    pins += ["--pin-dim", f"sequence={seq}"]
                pin_so = os.path.join(tmp, f"{name}_{seq}.so")
                subprocess.run([compile_bin, model, "-o", pin_so, *pins],
                               check=True)
                row = {"model": name, "batch": a.batch,
                       "sequence": 17 if name == "vit" else seq,
                       "dynamic": bench_ours(a.build_dir, dyn_so, inputs, tmp,
                                             a.runs, a.threads),
                       "pinned": bench_ours(a.build_dir, pin_so, inputs, tmp,
                                            a.runs, a.threads),
                       "onnxruntime": bench_ort(model, inputs, a.runs,
                                                a.threads)}
                d, p = row["dynamic"]["median_ms"], row["pinned"]["median_ms"]
                row["dynamic_over_pinned"] = d / p
                row["dynamic_over_onnxruntime"] = \
                    d / row["onnxruntime"]["median_ms"]
                results.append(row)
                print(f"{name} b{a.batch} s{row['sequence']}: dynamic {d:.3f}"
                      f" ms, pinned {p:.3f} ms ({d / p:.2f}x), onnxruntime "
                      f"{row['onnxruntime']['median_ms']:.3f} ms", flush=True)
    with open(out_path, "w") as f:
        json.dump({"hidden": a.hidden, "heads": a.heads, "ffn": a.ffn,
                   "threads": a.threads, "runs": a.runs,
                   "onnxruntime": ort.__version__, "results": results}, f,
                  indent=1)
    print("wrote", out_path)


if __name__ == "__main__":
    main()
