#!/usr/bin/env python3
"""On a GPU machine: the float32 matmul compiled models call
(qopt_cuda_matmul_f32, lib/Runtime/CUDA/FloatMatmul.cpp) against torch on
the same GPU: cuBLAS float32 (torch.backends.cuda.matmul.allow_tf32 off,
the SGEMM our `f32` precision stands in for) and cuBLAS TF32 (on, what
our `tf32` competes with). Shapes: 4096^3 and transformer shapes (the
hidden-1024 block at seq 128, attention's batched products, M up to 4096).
Each timing: 20 calls captured in a CUDA graph, replayed between CUDA
events, median of 7. Every result is checked against a float64 product
first (max |C - ref| / (|A|·|B|)).

With --h16-out, also the 16-bit matmul (qopt_cuda_matmul_h16: float16 /
bfloat16 operands, C of the same type, the TMA + wgmma kernels on Hopper)
against torch.mm / torch.bmm in float16 / bfloat16 (cuBLAS) at 4096^3 and
transformer shapes (M = 128..4096, N, K = 1024..8192), checked the same way
against a float64 product of the same 16-bit values.

    python3 benchmarks/gpu/bench_fmatmul.py --runtime libqopt_runtime.so --out out.json \
        [--h16-out h16.json] [--skip-f32]"""

import argparse
import ctypes
import json

import numpy as np

I64 = ctypes.c_int64

# name, batch, M, N, K, B layout ("nt": B stored [N, K], linear layers and
# Q·Kᵀ; "nn": [K, N])
SHAPES = [
    ("gemm 4096^3 nt", 1, 4096, 4096, 4096, "nt"),
    ("gemm 4096^3 nn", 1, 4096, 4096, 4096, "nn"),
    ("block qkv 128x3072x1024", 1, 128, 3072, 1024, "nt"),
    ("block out/q/k/v 128x1024x1024", 1, 128, 1024, 1024, "nt"),
    ("block mlp up 128x4096x1024", 1, 128, 4096, 1024, "nt"),
    ("block mlp down 128x1024x4096", 1, 128, 1024, 4096, "nt"),
    ("attn scores 16x128x128x64", 16, 128, 128, 64, "nt"),
    ("attn values 16x128x64x128", 16, 128, 64, 128, "nn"),
    ("512x4096x4096", 1, 512, 4096, 4096, "nt"),
    ("2048x4096x1024", 1, 2048, 4096, 1024, "nt"),
    ("4096x1024x4096", 1, 4096, 1024, 4096, "nn"),
    ("2048x8192x2048", 1, 2048, 8192, 2048, "nt"),
]


# 16-bit: name, batch, M, N, K, B layout.
H16_SHAPES = [
    ("gemm 4096^3 nt", 1, 4096, 4096, 4096, "nt"),
    ("gemm 4096^3 nn", 1, 4096, 4096, 4096, "nn"),
    ("gemm 8192^3 nt", 1, 8192, 8192, 8192, "nt"),
] + [(f"{m}x{n}x{k}", 1, m, n, k, lay)
     for m in (128, 512, 2048, 4096)
     for n, k, lay in ((1024, 1024, "nt"), (3072, 1024, "nt"), (4096, 1024, "nt"),
                       (1024, 4096, "nt"), (4096, 4096, "nt"), (8192, 8192, "nt"),
                       (4096, 4096, "nn"))]


def events(fn, reps=20):
    import torch
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


def bench_h16(rt, torch, out_path):
    rt.qopt_cuda_matmul_h16.argtypes = [I64] * 25
    rt.qopt_cuda_matmul_h16.restype = None
    rt.qopt_cuda_wgmma_last_kernel.restype = ctypes.c_char_p
    rows = []
    for name, bt, m, n, k, layout in H16_SHAPES:
        for tdt, tag, code in ((torch.float16, "f16", 0), (torch.bfloat16, "bf16", 1)):
            a = torch.randn(bt, m, k, device="cuda").to(tdt)
            bkn = torch.randn(bt, k, n, device="cuda").to(tdt)
            bst = bkn.transpose(1, 2).contiguous() if layout == "nt" else bkn
            c = torch.zeros(bt, m, n, device="cuda", dtype=tdt)
            sb = (k * n, 0, 1, k) if layout == "nt" else (k * n, 0, n, 1)

            def ours():
                rt.qopt_cuda_matmul_h16(
                    bt, 1, m, n, k, a.data_ptr(), m * k, 0, k, 1, bst.data_ptr(),
                    *sb, c.data_ptr(), m * n, 0, n, 1, 0, code, 0, 0,
                    torch.cuda.current_stream().cuda_stream)

            ours()
            torch.cuda.synchronize()
            kernel = rt.qopt_cuda_wgmma_last_kernel().decode()
            ref = torch.bmm(a.double(), bkn.double())
            scale = torch.bmm(a.abs().double(), bkn.abs().double()) + 1
            row = {"name": name, "dtype": tag, "batch": bt, "m": m, "n": n, "k": k,
                   "layout": layout, "kernel": kernel}
            flops = 2.0 * bt * m * n * k
            row["ours_err"] = float(((c.double() - ref).abs() / scale).max())
            row["ours_us"] = events(ours)
            row["ours_tflops"] = flops / row["ours_us"] / 1e6
            bmat = bst.transpose(1, 2) if layout == "nt" else bst
            outt = torch.empty(bt, m, n, device="cuda", dtype=tdt)
            row["cublas_us"] = events(lambda: torch.bmm(a, bmat, out=outt))
            row["cublas_tflops"] = flops / row["cublas_us"] / 1e6
            row["cublas_err"] = float(((torch.bmm(a, bmat).double() - ref).abs() / scale).max())
            row["ours_vs_cublas"] = row["cublas_us"] / row["ours_us"]
            rows.append(row)
            print(f"{tag:4s} {name:24s} ours {row['ours_us']:8.1f}us {row['ours_tflops']:6.1f}TF "
                  f"(err {row['ours_err']:.1e}, {kernel}) cuBLAS {row['cublas_us']:8.1f}us "
                  f"{row['cublas_tflops']:6.1f}TF (err {row['cublas_err']:.1e}) "
                  f"{100 * row['ours_vs_cublas']:5.1f}%", flush=True)
            del a, bkn, bst, c, ref, scale, outt
    doc = {"benchmark": "qopt_cuda_matmul_h16 vs torch.bmm float16 / bfloat16 (cuBLAS)",
           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "results": rows}
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--h16-out", default="")
    ap.add_argument("--skip-f32", action="store_true")
    args = ap.parse_args()
    import torch
    rt = ctypes.CDLL(args.runtime)
    rt.qopt_cuda_matmul_f32.argtypes = [I64] * 23
    rt.qopt_cuda_matmul_f32.restype = None
    rt.qopt_cuda_wgmma_last_kernel.restype = ctypes.c_char_p
    if args.h16_out:
        bench_h16(rt, torch, args.h16_out)
    if args.skip_f32:
        return

    rows = []
    for name, bt, m, n, k, layout in SHAPES:
        a = torch.randn(bt, m, k, device="cuda")
        bkn = torch.randn(bt, k, n, device="cuda")
        bst = bkn.transpose(1, 2).contiguous() if layout == "nt" else bkn
        c = torch.zeros(bt, m, n, device="cuda")
        sb = (k * n, 0, 1, k) if layout == "nt" else (k * n, 0, n, 1)

        def ours(prec):
            rt.qopt_cuda_matmul_f32(
                bt, 1, m, n, k, a.data_ptr(), m * k, 0, k, 1, bst.data_ptr(),
                *sb, c.data_ptr(), m * n, 0, n, 1, 0, prec,
                torch.cuda.current_stream().cuda_stream)

        ref = torch.bmm(a.double(), bkn.double())
        scale = torch.bmm(a.abs().double(), bkn.abs().double()) + 1
        row = {"name": name, "batch": bt, "m": m, "n": n, "k": k, "layout": layout}
        flops = 2.0 * bt * m * n * k
        for prec, tag in ((0, "f32"), (1, "tf32")):
            c.zero_()
            ours(prec)
            torch.cuda.synchronize()
            row[f"ours_{tag}_err"] = float(((c.double() - ref).abs() / scale).max())
            row[f"ours_{tag}_kernel"] = rt.qopt_cuda_wgmma_last_kernel().decode()
            us = events(lambda: ours(prec))
            row[f"ours_{tag}_us"] = us
            row[f"ours_{tag}_tflops"] = flops / us / 1e6
        bmat = bst.transpose(1, 2) if layout == "nt" else bst
        for allow, tag in ((False, "fp32"), (True, "tf32")):
            torch.backends.cuda.matmul.allow_tf32 = allow
            out = torch.empty(bt, m, n, device="cuda")
            us = events(lambda: torch.bmm(a, bmat, out=out))
            row[f"cublas_{tag}_us"] = us
            row[f"cublas_{tag}_tflops"] = flops / us / 1e6
            row[f"cublas_{tag}_err"] = float(((torch.bmm(a, bmat).double() - ref).abs() / scale).max())
        torch.backends.cuda.matmul.allow_tf32 = False
        row["ours_f32_vs_cublas_fp32"] = row["cublas_fp32_us"] / row["ours_f32_us"]
        row["ours_f32_vs_cublas_tf32"] = row["cublas_tf32_us"] / row["ours_f32_us"]
        row["ours_tf32_vs_cublas_tf32"] = row["cublas_tf32_us"] / row["ours_tf32_us"]
        rows.append(row)
        print(f"{name:32s} f32 {row['ours_f32_us']:8.1f}us {row['ours_f32_tflops']:6.1f}TF "
              f"(err {row['ours_f32_err']:.1e}) tf32 {row['ours_tf32_us']:8.1f}us "
              f"{row['ours_tf32_tflops']:6.1f}TF (err {row['ours_tf32_err']:.1e}) | cuBLAS fp32 "
              f"{row['cublas_fp32_tflops']:6.1f}TF tf32 {row['cublas_tf32_tflops']:6.1f}TF | "
              f"f32/sgemm {row['ours_f32_vs_cublas_fp32']:.2f}x tf32/tf32 "
              f"{row['ours_tf32_vs_cublas_tf32']:.2f}", flush=True)
        del a, bkn, bst, c, ref, scale
    doc = {"benchmark": "qopt_cuda_matmul_f32 vs torch.bmm (cuBLAS fp32 and tf32)",
           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "results": rows}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
