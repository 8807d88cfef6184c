#!/usr/bin/env python3
"""On a GPU machine: times compiled NVPTX transformer artifacts
(prepare_bench_models.py's cases, "before" and "after" builds side by side)
with quant-run --device=cuda --bench, per-kernel times of each "after" case
with CUDA events (QOPT_CUDA_PROFILE), and the same block in torch on the
same GPU (float32, eager and as a CUDA graph, with and without the host<->
device copies). Writes JSON.

    python3 benchmarks/gpu/bench_models.py --dir DIR --quant-run quant-run --out out.json

An artifact call is end to end: the input copied from host memory, every
kernel, the output copied back; "device_io" rows time the same call on
device-resident input and output (quant-run --device-io: qopt_cuda_model_run,
no host transfers), checked against the CPU artifact too; with --cuda-graph
"graph" columns time it through a CUDA graph (quant-run --device-io
--cuda-graph: qopt_cuda_model_run_graph replays), checked too. torch's block is a float32 re-implementation
of the same shapes (pre-LN attention + GELU MLP, weights random), for
timing only."""

import argparse
import json
import os
import re
import subprocess
import tempfile

import numpy as np


def torch_block(torch, hidden, heads, mlp, seq):
    nn = torch.nn
    dev = "cuda"

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(hidden)
            self.qkv = nn.Linear(hidden, 3 * hidden)
            self.o = nn.Linear(hidden, hidden)
            self.ln2 = nn.LayerNorm(hidden)
            self.fc1 = nn.Linear(hidden, mlp)
            self.fc2 = nn.Linear(mlp, hidden)

        def forward(self, x):
            b, s, _ = x.shape
            h = self.ln1(x)
            q, k, v = self.qkv(h).split(hidden, dim=-1)
            q = q.view(b, s, heads, -1).transpose(1, 2)
            k = k.view(b, s, heads, -1).transpose(1, 2)
            v = v.view(b, s, heads, -1).transpose(1, 2)
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.o(a.transpose(1, 2).reshape(b, s, hidden))
            return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))

    return Block().to(dev).eval()


def time_cuda(fn, torch, reps=100):
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(7):
        start, end = torch.cuda.Event(True), torch.cuda.Event(True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / reps)
    return float(np.median(times))


def torch_rows(torch, hidden, heads, mlp, seq):
    m = torch_block(torch, hidden, heads, mlp, seq)
    x_host = torch.randn(1, seq, hidden).pin_memory()
    x = x_host.to("cuda")
    out_host = torch.empty(1, seq, hidden).pin_memory()
    rows = {}
    with torch.no_grad():
        rows["torch_eager_ms"] = time_cuda(lambda: m(x), torch)

        def with_copies():
            out_host.copy_(m(x_host.to("cuda", non_blocking=True)), non_blocking=True)
        rows["torch_eager_copies_ms"] = time_cuda(with_copies, torch)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                m(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            y = m(x)
        rows["torch_graph_ms"] = time_cuda(g.replay, torch)

        def graph_copies():
            x.copy_(x_host, non_blocking=True)
            g.replay()
            out_host.copy_(y, non_blocking=True)
        rows["torch_graph_copies_ms"] = time_cuda(graph_copies, torch)
    return rows


def run_artifact(qr, artifact, input_name, inp, bench, env=None, out_dir=None,
                 extra=()):
    cmd = [qr, artifact, "--device=cuda", "--input", f"{input_name}={inp}", *extra]
    cmd += ["--output-dir", out_dir] if out_dir else ["--bench", str(bench), "--warmup", "5"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    m = re.search(r"median ([0-9.]+) ms", r.stdout + r.stderr)
    return (float(m.group(1)) if m else None), r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--quant-run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench", type=int, default=50)
    ap.add_argument("--cuda-graph", action="store_true",
                    help="also time device-resident calls through a CUDA graph")
    ap.add_argument("--no-profile", action="store_true",
                    help="skip the QOPT_CUDA_PROFILE run of each case")
    args = ap.parse_args()
    import torch
    cases = json.load(open(os.path.join(args.dir, "bench_cases.json")))
    rows = []
    torch_cache = {}
    doc = {"benchmark": "compiled NVPTX transformer artifacts vs torch",
           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "ours": "quant-run --device=cuda --bench: median of whole artifact calls "
                   "(input copy, kernels, output copy); ours_device_io_ms: quant-run "
                   "--device-io (device-resident input and output, no host transfers); "
                   "ours_graph_ms: quant-run --device-io --cuda-graph (CUDA graph replays, "
                   "graph_note: whether the timed calls replayed)",
           "kernels": "QOPT_CUDA_PROFILE CUDA-event times of the after build, 12 slowest, "
                      "per call",
           "torch": "float32 block of the same shapes (not the same weights), CUDA events; "
                    "_copies: with pinned host<->device copies of input and output",
           "results": rows}
    rows = doc["results"]
    for c in cases:
        art = os.path.join(args.dir, c["artifact"])
        inp = os.path.join(args.dir, c["input"])
        ms, r = run_artifact(args.quant_run, art, c["input_name"], inp, args.bench)
        row = dict(c, ours_call_ms=ms, returncode=r.returncode)
        if ms is None:
            row["error"] = (r.stdout + r.stderr)[-600:]
        # Output against the CPU artifact's (max |err| over the range).
        with tempfile.TemporaryDirectory() as tmp:
            run_artifact(args.quant_run, art, c["input_name"], inp, 0, out_dir=tmp)
            got_path = os.path.join(tmp, "output.npy")
            if os.path.exists(got_path):
                ref = np.load(os.path.join(args.dir, c["reference"])).astype(np.float64)
                got = np.load(got_path).astype(np.float64)
                row["max_rel_error_vs_cpu"] = float(
                    np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
        if c["variant"] == "after" and ms is not None:
            dms, r3 = run_artifact(args.quant_run, art, c["input_name"], inp, args.bench,
                                   extra=["--device-io"])
            row["ours_device_io_ms"] = dms
            if dms is None:
                row["device_io_error"] = (r3.stdout + r3.stderr)[-600:]
            with tempfile.TemporaryDirectory() as tmp:
                run_artifact(args.quant_run, art, c["input_name"], inp, 0, out_dir=tmp,
                             extra=["--device-io"])
                got_path = os.path.join(tmp, "output.npy")
                if os.path.exists(got_path):
                    ref = np.load(os.path.join(args.dir, c["reference"])).astype(np.float64)
                    got = np.load(got_path).astype(np.float64)
                    row["device_io_max_rel_error_vs_cpu"] = float(
                        np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
            if args.cuda_graph:
                gx = ["--device-io", "--cuda-graph"]
                gms, r4 = run_artifact(args.quant_run, art, c["input_name"], inp,
                                       args.bench, extra=gx)
                row["ours_graph_ms"] = gms
                notes = [line.split(": ", 3)[3] for line in r4.stderr.splitlines()
                         if line.startswith("quant-run: cuda graph: bench")]
                row["graph_note"] = notes[-1] if notes else (r4.stdout + r4.stderr)[-600:]
                with tempfile.TemporaryDirectory() as tmp:
                    run_artifact(args.quant_run, art, c["input_name"], inp, 0, out_dir=tmp,
                                 extra=gx)
                    got_path = os.path.join(tmp, "output.npy")
                    if os.path.exists(got_path):
                        ref = np.load(os.path.join(args.dir, c["reference"])).astype(np.float64)
                        got = np.load(got_path).astype(np.float64)
                        row["graph_max_rel_error_vs_cpu"] = float(
                            np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
            if not args.no_profile:
                with tempfile.TemporaryDirectory() as tmp:
                    prof = os.path.join(tmp, "profile.json")
                    env = dict(os.environ, QOPT_CUDA_PROFILE=prof)
                    _, r2 = run_artifact(args.quant_run, art, c["input_name"], inp, 20, env)
                    if os.path.exists(prof):
                        ks = json.load(open(prof))["kernels"]
                        calls = min(k["launches"] for k in ks)  # one-per-call kernels
                        row["kernels_per_call"] = [
                            dict(k, ms_per_call=k["total_ms"] / calls) for k in ks[:12]]
                        row["kernel_ms_per_call"] = sum(k["total_ms"] for k in ks) / calls
                        row["launches_per_call"] = sum(k["launches"] for k in ks) / calls
        seq = 128 if c["shape"] == "prefill" else 1
        key = (c["hidden"], seq)
        if key not in torch_cache:
            torch_cache[key] = torch_rows(torch, c["hidden"], c["heads"], c["mlp"], seq)
        row.update(torch_cache[key])
        rows.append(row)
        with open(args.out, "w") as f:  # after every case (a timeout keeps them)
            json.dump(doc, f, indent=1)
        print(json.dumps({k: row.get(k) for k in ("model", "scheme", "variant", "shape",
                                                   "ours_call_ms", "ours_device_io_ms",
                                                   "ours_graph_ms", "graph_note",
                                                   "graph_max_rel_error_vs_cpu",
                                                   "device_io_max_rel_error_vs_cpu",
                                                   "kernel_ms_per_call",
                                                   "launches_per_call", "max_rel_error_vs_cpu",
                                                   "torch_eager_ms",
                                                   "torch_graph_ms")}), flush=True)


if __name__ == "__main__":
    main()
