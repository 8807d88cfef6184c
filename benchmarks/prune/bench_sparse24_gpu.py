#!/usr/bin/env python3
"""On a GPU machine: the runtime's 2:4 sparse matmul on the sparse tensor
cores (qopt_cuda_matmul_sparse24_f16 / _f32, lib/Runtime/CUDA/Sparse24.cpp)
against torch dense fp16 (cuBLAS) and torch's own semi-structured sparse
(torch.sparse.to_sparse_semi_structured, cuSPARSELt or CUTLASS) on the
same 2:4 weight, y = x · Wᵀ with W [N, K]. Each timing: `reps` calls
captured in a CUDA graph, replayed between CUDA events, median of 7;
weights rotate over copies that together are 8x the L2 when one copy is
smaller (so they come from HBM, as in decoding). Also checks each result
against torch's dense product of the same zeroed weight.

    python3 benchmarks/prune/bench_sparse24_gpu.py --runtime libqopt_runtime.so --out out.json"""

import argparse
import ctypes
import json

import numpy as np

I64 = ctypes.c_int64


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="4096x4096,8192x8192,11008x4096")
    ap.add_argument("--batches", default="1,16,128,4096")
    ap.add_argument("--f32", action="store_true",
                    help="also time the f32 entry point (x converted, precision 0 and 1)")
    ap.add_argument("--int8", action="store_true",
                    help="also time the W8A8 2:4 kernel (qopt_cuda_matmul_sparse24_s8s8) "
                         "against torch._int_mm (dense int8, M > 16)")
    args = ap.parse_args()
    import torch
    rt = ctypes.CDLL(args.runtime)
    rt.qopt_cuda_matmul_sparse24_f16.argtypes = [I64] * 10
    rt.qopt_cuda_matmul_sparse24_f32.argtypes = [I64] * 13
    rt.qopt_cuda_matmul_sparse24_s8s8.argtypes = [I64] * 12
    dev = "cuda"
    l2 = torch.cuda.get_device_properties(0).L2_cache_size

    def events(fn, reps):
        side = torch.cuda.Stream()
        with torch.cuda.stream(side):
            for _ in range(2):
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

    def prune24(w):
        """Keeps the 2 largest |w| of every 4 along k: (dense zeroed, values
        [n, k/2] f32, meta [n, k/8] u8 as qopt/Support/Sparse24.h)."""
        n, k = w.shape
        g = w.view(n, k // 4, 4)
        idx = g.abs().topk(2, dim=-1).indices.sort(dim=-1).values
        vals = g.gather(-1, idx)
        dense = torch.zeros_like(g).scatter_(-1, idx, vals).view(n, k)
        nib = (idx[..., 0] | (idx[..., 1] << 2)).to(torch.uint8)
        meta = (nib[:, 0::2] | (nib[:, 1::2] << 4)).contiguous()
        # int8 (W8A8): the same pattern, values rounded to int8.
        vq = (vals.float() * 40).round().clamp(-128, 127).to(torch.int8)
        dq = torch.zeros(n, k // 4, 4, dtype=torch.int8, device=w.device).scatter_(
            -1, idx, vq).view(n, k)
        return (dense, vals.reshape(n, k // 2).float().contiguous(), meta,
                vq.reshape(n, k // 2).contiguous(), dq)

    semi = getattr(torch.sparse, "to_sparse_semi_structured", None)
    rows = []
    for shape in args.shapes.split(","):
        n, k = map(int, shape.split("x"))
        copies = max(1, int(8 * l2 // (2 * n * k)) + 1)
        ws = [prune24(torch.randn(n, k, device=dev, dtype=torch.float16)) for _ in range(copies)]
        sparse = []
        semi_error = None
        if semi is not None:
            try:
                sparse = [semi(w[0]) for w in ws]
            except Exception as e:  # no backend for this GPU / build
                semi_error = f"{type(e).__name__}: {e}"[:300]
        for m in map(int, args.batches.split(",")):
            reps = 50 if m <= 128 else 10
            x = torch.randn(m, k, device=dev, dtype=torch.float16)
            xf = x.float()
            y = torch.zeros(m, n, device=dev, dtype=torch.float32)
            row = {"n": n, "k": k, "m": m, "weight_copies": copies}
            it = iter(range(1 << 60))
            row["torch_fp16_us"] = events(
                lambda: torch.mm(x, ws[next(it) % copies][0].t()), reps)
            if args.int8:
                xi = torch.randint(-128, 128, (m, k), device=dev, dtype=torch.int8)
                yi = torch.zeros(m, n, device=dev, dtype=torch.int32)

                def ours8(i):
                    w = ws[i % copies]
                    rt.qopt_cuda_matmul_sparse24_s8s8(
                        m, n, k, xi.data_ptr(), k, 1, w[3].data_ptr(), w[2].data_ptr(),
                        yi.data_ptr(), n, 1, torch.cuda.current_stream().cuda_stream)
                for i in range(copies):
                    ours8(i)
                torch.cuda.synchronize()
                it8 = iter(range(1 << 60))
                row["sparse24_s8s8_us"] = events(lambda: ours8(next(it8)), reps)
                row["sparse24_s8s8_speedup_vs_torch_fp16"] = (
                    row["torch_fp16_us"] / row["sparse24_s8s8_us"])
                yi.zero_()
                ours8(0)
                torch.cuda.synchronize()
                ref8 = xi.double() @ ws[0][4].double().t()
                row["sparse24_s8s8_exact"] = bool(torch.equal(yi.double(), ref8))
                if m > 16:
                    it9 = iter(range(1 << 60))
                    try:
                        row["torch_int_mm_us"] = events(
                            lambda: torch._int_mm(xi, ws[next(it9) % copies][4].t()), reps)
                    except Exception as e:
                        row["torch_int_mm_error"] = f"{type(e).__name__}: {e}"[:200]

            def ours(i):
                _, v, mt = ws[i % copies][:3]
                rt.qopt_cuda_matmul_sparse24_f16(
                    m, n, k, x.data_ptr(), v.data_ptr(), mt.data_ptr(), y.data_ptr(), n, 1,
                    torch.cuda.current_stream().cuda_stream)
            for i in range(copies):  # pack each copy (first use) outside the graphs
                ours(i)
            torch.cuda.synchronize()
            it2 = iter(range(1 << 60))
            row["sparse24_us"] = events(lambda: ours(next(it2)), reps)
            row["sparse24_speedup_vs_torch_fp16"] = row["torch_fp16_us"] / row["sparse24_us"]
            # Correctness: one call into zeros against torch's dense product.
            y.zero_()
            ours(0)
            torch.cuda.synchronize()
            ref = (x.float() @ ws[0][0].float().t())
            row["sparse24_max_abs_err_vs_dense"] = float((y - ref).abs().max())
            row["ref_max_abs"] = float(ref.abs().max())
            if args.f32:
                for prec, name in ((0, "f32_bf16x3"), (1, "f32_f16")):
                    def ours32(i, prec=prec):
                        _, v, mt = ws[i % copies][:3]
                        rt.qopt_cuda_matmul_sparse24_f32(
                            m, n, k, xf.data_ptr(), k, 1, v.data_ptr(), mt.data_ptr(),
                            y.data_ptr(), n, 1, prec, torch.cuda.current_stream().cuda_stream)
                    for i in range(copies):
                        ours32(i)
                    torch.cuda.synchronize()
                    it3 = iter(range(1 << 60))
                    row[f"sparse24_{name}_us"] = events(lambda: ours32(next(it3)), reps)
                    y.zero_()
                    ours32(0)
                    torch.cuda.synchronize()
                    ref32 = xf.double() @ ws[0][0].double().t()
                    row[f"sparse24_{name}_max_abs_err"] = float((y.double() - ref32).abs().max())
            if sparse:
                try:
                    it4 = iter(range(1 << 60))
                    row["torch_semi_structured_us"] = events(
                        lambda: torch.nn.functional.linear(x, sparse[next(it4) % copies]), reps)
                    row["sparse24_speedup_vs_torch_semi_structured"] = (
                        row["torch_semi_structured_us"] / row["sparse24_us"])
                except Exception as e:
                    row["torch_semi_structured_error"] = f"{type(e).__name__}: {e}"[:300]
            elif semi_error:
                row["torch_semi_structured_error"] = semi_error
            rows.append(row)
            print(json.dumps(row), flush=True)
        del ws, sparse
        torch.cuda.empty_cache()
    doc = {"benchmark": "2:4 sparse matmul (mma.sp) vs torch dense fp16 and torch semi-structured",
           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "results": rows,
           "notes": "y = x W^T, x fp16 [m, k], W 2:4 [n, k]; ours writes f32 y (accumulates), "
                    "torch fp16 y; f32 entry point converts x in a separate kernel (included)"}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
