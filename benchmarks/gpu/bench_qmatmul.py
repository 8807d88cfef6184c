#!/usr/bin/env python3
"""On a GPU machine: the quantized matmuls compiled models call
(qopt_cuda_matmul_*, lib/Runtime/CUDA/QMatmul.cpp) at LLM decode shapes,
against torch fp16 (cuBLAS) on the same GPU. Weights rotate over copies
that together are 8x the L2, so they come from HBM as in decoding; each
kernel is timed by CUDA events around 50 back-to-back launches (median of
7). Bandwidth: bytes each call must read (weights, scales, x) over the time,
and that as a fraction of the device-to-device copy bandwidth measured in
the same run (read + write of 2 GiB).

    python3 benchmarks/gpu/bench_qmatmul.py --runtime libqopt_runtime.so --out out.json"""

import argparse
import ctypes
import json

import numpy as np

I64 = ctypes.c_int64


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="4096x4096,8192x8192,28672x8192")
    ap.add_argument("--batches", default="1,4,16")
    args = ap.parse_args()
    import torch
    rt = ctypes.CDLL(args.runtime)
    sigs = {"w8": 15, "w4": 21, "s8s8": 14, "s8t2": 15}
    for name, n in sigs.items():
        getattr(rt, f"qopt_cuda_matmul_{name}").argtypes = [I64] * n
    dev = "cuda"
    l2 = torch.cuda.get_device_properties(0).L2_cache_size

    def events(fn, reps=50):
        """us per fn(): `reps` calls captured in a CUDA graph (no host
        launch overhead), replayed between events, median of 7."""
        # Warm-up on the capture stream: the first call per stream sets up
        # (s8t2's scratch buffer), which is no capturable work.
        side = torch.cuda.Stream()
        with torch.cuda.stream(side):
            for _ in range(3):
                fn()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=side):
            for _ in range(reps):
                fn()
        g.replay()
        torch.cuda.synchronize()
        ts = []
        for _ in range(7):
            a, b = torch.cuda.Event(True), torch.cuda.Event(True)
            a.record()
            g.replay()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b) / reps * 1e3)
        return float(np.median(ts))

    big = torch.empty(1 << 30, dtype=torch.float16, device=dev)
    big2 = torch.empty_like(big)
    copy_us = events(lambda: big2.copy_(big), reps=5)
    copy_gbps = 4 * (1 << 30) / copy_us / 1e3
    del big, big2
    rows = []
    for shape in args.shapes.split(","):
        n, k = map(int, shape.split("x"))
        for batch in map(int, args.batches.split(",")):
            def stream_now():
                return torch.cuda.current_stream().cuda_stream
            xf = torch.randn(batch, k, device=dev)
            xh = xf.half()
            yf = torch.zeros(batch, n, device=dev)
            yi = torch.zeros(batch, n, device=dev, dtype=torch.int32)
            row = {"n": n, "k": k, "batch": batch}

            def rotate(make, bytes_each):
                copies = max(2, int(8 * l2 // bytes_each) + 1)
                return [make() for _ in range(copies)]

            # torch fp16
            ws = rotate(lambda: torch.randn(n, k, device=dev, dtype=torch.float16), 2 * n * k)
            it = iter(range(1 << 60))
            row["torch_fp16_us"] = events(lambda: torch.mm(xh, ws[next(it) % len(ws)].t()))
            row["torch_fp16_frac_hbm_4800"] = 2 * n * k / row["torch_fp16_us"] / 1e3 / 4800
            del ws
            formats = {
                "w8": (n * k, lambda w, s: rt.qopt_cuda_matmul_w8(
                    batch, n, k, xf.data_ptr(), k, 1, w.data_ptr(), k, 1, s.data_ptr(), 1,
                    yf.data_ptr(), n, 1, stream_now()), n * 4),
                "w4": (n * k // 2, lambda w, s: rt.qopt_cuda_matmul_w4(
                    batch, n, k, 128, 1, xf.data_ptr(), k, 1, w.data_ptr(), k // 2, 1,
                    s.data_ptr(), k // 128, 1, 0, 0, 0, yf.data_ptr(), n, 1, stream_now()),
                       n * (k // 128) * 4),
                "s8s8": (n * k, lambda w, s: rt.qopt_cuda_matmul_s8s8(
                    batch, n, k, xi8.data_ptr(), k, 1, w.data_ptr(), k, 1, yi.data_ptr(), n,
                    1, 1, stream_now()), 0),
                "s8t2": (n * k // 4, lambda w, s: rt.qopt_cuda_matmul_s8t2(
                    batch, n, k, xf.data_ptr(), k, 1, sx.data_ptr(), 1, w.data_ptr(), k // 4,
                    1, yi.data_ptr(), n, 1, stream_now()), 0),
            }
            xi8 = torch.randint(-128, 128, (batch, k), device=dev, dtype=torch.int8)
            sx = torch.full((batch,), 10.0, device=dev)
            for fmt, (wbytes, call, sbytes) in formats.items():
                ws = rotate(lambda: torch.randint(0, 255, (wbytes,), device=dev,
                                                  dtype=torch.uint8), wbytes)
                sc = torch.rand(max(sbytes // 4, 1), device=dev) + 0.5
                it2 = iter(range(1 << 60))
                us = events(lambda: call(ws[next(it2) % len(ws)], sc))
                del ws
                moved = wbytes + sbytes + batch * k * (1 if fmt == "s8s8" else 4)
                row[f"{fmt}_us"] = us
                row[f"{fmt}_gbps"] = moved / us / 1e3
                row[f"{fmt}_frac_copy"] = moved / us / 1e3 / copy_gbps
                row[f"{fmt}_frac_hbm_4800"] = moved / us / 1e3 / 4800
                row[f"{fmt}_speedup_vs_torch_fp16"] = row["torch_fp16_us"] / us
            torch.cuda.synchronize()
            rows.append(row)
            print(json.dumps(row), flush=True)
    doc = {"benchmark": "qopt_cuda_matmul_* (compiled models' quantized matmuls) vs torch fp16",
           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "copy_gbps": copy_gbps, "results": rows,
           "notes": "x float32 (int8 for s8s8), y float32/int32; w4 signed int4 group 128; "
                    "s8t2 quantizes x per token in a separate kernel (included)"}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
