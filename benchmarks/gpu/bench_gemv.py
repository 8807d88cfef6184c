#!/usr/bin/env python3
"""GEMV for LLM decoding on the GPU: the runtime's kernels against torch fp16.

For each weight shape N x K (4096x4096, 11008x4096, 8192x8192, 28672x8192)
and batch (1, 4, 16): y = x @ W^T with x, y float16 and W in float16, int8
(per-row scales) and int4 / uint4 (group 128, f16 scales, uint4 with zero
points), run through libqopt_runtime.so (ctypes, qopt_cuda_gemv) and through
torch.nn.functional.linear on the float16 weight (cuBLAS) in the same
process. Every kernel is first checked against a float32 torch reference
computed from its dequantized weight.

Timing: CUDA graphs of back-to-back launches, each on another copy of the
weights (together several times the L2, so the weights come from device
memory as in decoding), replayed between CUDA events; the median over
rounds, with p10/p90. Our kernels are timed at each launch shape
(row tiles x warps) as well as the automatic choice. Achieved bandwidth
counts the bytes each GEMV must move (weights, scales, zero points, x, y)
and is also given as a fraction of the measured device-to-device copy
bandwidth (a torch copy of 2 GiB, bytes read plus written).

    python3 benchmarks/gpu/bench_gemv.py --runtime build-device/libqopt_runtime.so \
        [--out results.json] [--batches 1,4,16] [--quick]

Writes JSON (and prints a table); it never asserts a time.
"""

import argparse
import ctypes
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

F16, INT8, INT4, UINT4 = 0, 1, 2, 3
DTYPE_F16 = 10
FORMATS = {"f16": F16, "int8": INT8, "int4": INT4, "uint4": UINT4}
SHAPES = [(4096, 4096), (11008, 4096), (8192, 8192), (28672, 8192)]
LAUNCH_SHAPES = [(1, 4), (1, 8), (2, 4), (2, 8)]
GROUP = 128


class GemvArgs(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("x", ctypes.c_void_p),
                ("weight", ctypes.c_void_p), ("scales", ctypes.c_void_p),
                ("scale_dtype", ctypes.c_int), ("zero_points", ctypes.c_void_p),
                ("bias", ctypes.c_void_p), ("y", ctypes.c_void_p),
                ("batch", ctypes.c_int64), ("n", ctypes.c_int64),
                ("k", ctypes.c_int64), ("group_size", ctypes.c_int64)]


def load_runtime(path):
    lib = ctypes.CDLL(path)
    lib.qopt_cuda_available.restype = ctypes.c_int
    lib.qopt_cuda_last_error.restype = ctypes.c_char_p
    lib.qopt_last_error.restype = ctypes.c_char_p
    lib.qopt_cuda_gemv_tuned.argtypes = [ctypes.POINTER(GemvArgs),
                                         ctypes.c_void_p, ctypes.c_int,
                                         ctypes.c_int]
    lib.qopt_cuda_gemv_tuned.restype = ctypes.c_int
    if not lib.qopt_cuda_available():
        sys.exit("CUDA unavailable: " + lib.qopt_cuda_last_error().decode())
    return lib


# --- weights -----------------------------------------------------------------

def quantize(fmt, w):
    """Quantized storage and the dequantized weight (float32) of fmt."""
    n, k = w.shape
    wf = w.float()
    if fmt == F16:
        return dict(weight=w), wf
    if fmt == INT8:
        scale = (wf.abs().amax(1) / 127).clamp_min(1e-8).half()
        q = torch.clamp(torch.round(wf / scale.float()[:, None]), -127, 127)
        return (dict(weight=q.to(torch.int8), scales=scale),
                q * scale.float()[:, None])
    blocks = wf.view(n, k // GROUP, GROUP)
    if fmt == INT4:
        scale = (blocks.abs().amax(2) / 7).clamp_min(1e-8).half()
        q = torch.clamp(torch.round(blocks / scale.float()[..., None]), -8, 7)
        zero = None
        deq = q * scale.float()[..., None]
    else:
        lo, hi = blocks.amin(2), blocks.amax(2)
        scale = ((hi - lo) / 15).clamp_min(1e-8).half()
        zero = torch.clamp(torch.round(-lo / scale.float()), 0, 15)
        q = torch.clamp(torch.round(blocks / scale.float()[..., None]) +
                        zero[..., None], 0, 15)
        deq = (q - zero[..., None]) * scale.float()[..., None]
        zero = zero.to(torch.uint8)
    q = q.view(n, k).to(torch.int32) & 0xF
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).to(torch.uint8)
    return dict(weight=packed, scales=scale, zeros=zero), deq.view(n, k)


def nbytes(t):
    return 0 if t is None else t.numel() * t.element_size()


def gemv_args(fmt, store, x, y):
    n, k = y.shape[1], x.shape[1]
    a = GemvArgs(format=fmt, x=x.data_ptr(), weight=store["weight"].data_ptr(),
                 scale_dtype=DTYPE_F16, y=y.data_ptr(), batch=x.shape[0],
                 n=n, k=k, group_size=GROUP)
    if store.get("scales") is not None:
        a.scales = store["scales"].data_ptr()
    if store.get("zeros") is not None:
        a.zero_points = store["zeros"].data_ptr()
    return a


# --- timing ------------------------------------------------------------------

def copies_for(bytes_per_copy, l2_bytes):
    """Enough weight copies that one pass over them is 8x the L2."""
    return max(2, math.ceil(8 * l2_bytes / bytes_per_copy))


def time_graph(launch_all, rounds, replays):
    """Median/p10/p90 microseconds per launch of a captured sequence."""
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        launch_all()  # warm-up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="relaxed"):
        count = launch_all()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(rounds):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / (replays * count))
    times.sort()
    return dict(median_us=statistics.median(times),
                p10_us=times[max(0, int(0.1 * len(times)))],
                p90_us=times[min(len(times) - 1, int(0.9 * len(times)))])


def copy_bandwidth():
    n = 1 << 30  # 2 GiB of float16 each way
    src = torch.randn(n, device="cuda", dtype=torch.float16)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        dst.copy_(src)
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * n * 2 / statistics.median(times)


# --- one shape ---------------------------------------------------------------

def bench_shape(lib, n, k, batches, formats, l2, copy_bps, rounds, replays,
                launch_shapes, log):
    gen = torch.Generator(device="cuda").manual_seed(n * 7 + k)
    w = (torch.randn(n, k, device="cuda", generator=gen) * 0.02).half()
    results = []
    stores = {}
    for name in formats:
        stores[name] = quantize(FORMATS[name], w)
    for batch in batches:
        x = torch.randn(batch, k, device="cuda", generator=gen).half()
        # torch fp16 (cuBLAS) on rotating copies of W.
        w_bytes = nbytes(w)
        ncopy = copies_for(w_bytes, l2)
        ws = [w.clone() for _ in range(ncopy)]
        outs = [torch.empty(batch, n, device="cuda", dtype=torch.float16)
                for _ in range(ncopy)]

        def torch_all():
            for i in range(ncopy):
                torch.mm(x, ws[i].t(), out=outs[i])
            return ncopy
        torch_t = time_graph(torch_all, rounds, replays)
        ref_f16 = x.float() @ w.float().t()
        torch_err = ((F.linear(x, w).float() - ref_f16).norm() /
                     ref_f16.norm()).item()
        io_bytes = nbytes(x) + batch * n * 2
        del ws, outs
        torch.cuda.empty_cache()
        base = dict(n=n, k=k, batch=batch, torch_fp16_us=torch_t["median_us"],
                    torch_fp16_p10_us=torch_t["p10_us"],
                    torch_fp16_p90_us=torch_t["p90_us"],
                    torch_fp16_gbps=(w_bytes + io_bytes) / torch_t["median_us"] / 1e3,
                    torch_fp16_rel_err=torch_err)
        base["torch_fp16_frac_copy"] = base["torch_fp16_gbps"] * 1e9 / copy_bps
        for name in formats:
            fmt = FORMATS[name]
            store, deq = stores[name]
            # Correctness on fresh random x, output poisoned with NaN.
            y = torch.full((batch, n), float("nan"), device="cuda",
                           dtype=torch.float16)
            a = gemv_args(fmt, store, x, y)
            stream = torch.cuda.current_stream().cuda_stream
            if lib.qopt_cuda_gemv_tuned(ctypes.byref(a), stream, 0, 0):
                raise RuntimeError(lib.qopt_last_error().decode())
            torch.cuda.synchronize()
            ref = x.float() @ deq.t()
            finite = bool(torch.isfinite(y).all())
            rel = ((y.float() - ref).norm() / ref.norm()).item()
            wbytes = sum(nbytes(store.get(f)) for f in ("weight", "scales", "zeros"))
            ncopy = copies_for(wbytes, l2)
            copies = [dict((f, None if t is None else t.clone())
                           for f, t in store.items()) for _ in range(ncopy)]
            ys = [torch.empty(batch, n, device="cuda", dtype=torch.float16)
                  for _ in range(ncopy)]
            argv = [gemv_args(fmt, c, x, ys[i]) for i, c in enumerate(copies)]
            timings = {}
            for shape in [(0, 0)] + launch_shapes:
                def ours_all(shape=shape):
                    s = torch.cuda.current_stream().cuda_stream
                    for arg in argv:
                        if lib.qopt_cuda_gemv_tuned(ctypes.byref(arg), s, *shape):
                            raise RuntimeError(lib.qopt_last_error().decode())
                    return len(argv)
                timings[shape] = time_graph(ours_all, rounds, replays)
            del copies, ys, argv
            torch.cuda.empty_cache()
            auto = timings[(0, 0)]
            best_shape = min(launch_shapes or [(0, 0)],
                             key=lambda s: timings[s]["median_us"])
            best = timings[best_shape]
            moved = wbytes + io_bytes
            r = dict(base, format=name, group_size=GROUP if fmt >= INT4 else None,
                     correct=finite and rel < 2e-3, rel_err=rel,
                     ours_us=auto["median_us"], ours_p10_us=auto["p10_us"],
                     ours_p90_us=auto["p90_us"],
                     best_us=best["median_us"],
                     best_launch={"row_tiles": best_shape[0],
                                  "warps": best_shape[1]},
                     launch_shapes={f"{s[0]}x{s[1]}": timings[s]["median_us"]
                                    for s in launch_shapes},
                     bytes=moved,
                     ours_gbps=moved / auto["median_us"] / 1e3)
            r["ours_frac_copy"] = r["ours_gbps"] * 1e9 / copy_bps
            r["speedup_vs_torch_fp16"] = base["torch_fp16_us"] / auto["median_us"]
            results.append(r)
            log(f"{n:>6}x{k:<5} b{batch:<2} {name:>5}: ours {auto['median_us']:8.2f} us "
                f"({r['ours_gbps']:6.0f} GB/s, {100 * r['ours_frac_copy']:5.1f}% of copy; "
                f"best {best['median_us']:.2f} at {best_shape}) torch fp16 "
                f"{base['torch_fp16_us']:8.2f} us -> x{r['speedup_vs_torch_fp16']:.2f}"
                f"  rel err {rel:.1e}{'' if r['correct'] else '  WRONG'}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", default=os.environ.get("QOPT_RUNTIME_LIB",
                                                        "build-device/libqopt_runtime.so"))
    ap.add_argument("--out", default="bench_gemv.json")
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--formats", default="f16,int8,int4,uint4")
    ap.add_argument("--shapes", default=",".join(f"{n}x{k}" for n, k in SHAPES))
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--replays", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="automatic launch shape only (no sweep)")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    lib = load_runtime(args.runtime)
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    t0 = time.time()
    copy_bps = copy_bandwidth()
    print(f"{props.name}: device-to-device copy {copy_bps / 1e9:.0f} GB/s "
          f"(read + write), L2 {l2 >> 20} MiB", flush=True)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    results = []
    for n, k in shapes:
        results += bench_shape(lib, n, k, [int(b) for b in args.batches.split(",")],
                               args.formats.split(","), l2, copy_bps, args.rounds,
                               args.replays, [] if args.quick else LAUNCH_SHAPES,
                               lambda s: print(s, flush=True))
    out = dict(
        benchmark="gemv", device=props.name,
        compute_capability=f"{props.major}.{props.minor}",
        multiprocessors=props.multi_processor_count, l2_bytes=l2,
        torch=torch.__version__, cuda=torch.version.cuda,
        driver_version=lib.qopt_cuda_driver_version(),
        host=platform.node(), date=time.strftime("%Y-%m-%d %H:%M:%S"),
        copy_gbps=copy_bps / 1e9, group_size=GROUP,
        timing="CUDA graph of launches over rotating weight copies (8x L2), "
               f"{args.rounds} rounds x {args.replays} replays, median",
        seconds=time.time() - t0, results=results)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nwrote {args.out}\n")
    print(f"{'shape':>12} {'b':>2} {'fmt':>5} {'ours us':>8} {'GB/s':>6} {'%copy':>6} "
          f"{'torch us':>8} {'%copy':>6} {'speedup':>7} ok")
    for r in results:
        print(f"{r['n']:>6}x{r['k']:<5} {r['batch']:>2} {r['format']:>5} "
              f"{r['ours_us']:8.2f} {r['ours_gbps']:6.0f} {100 * r['ours_frac_copy']:5.1f}% "
              f"{r['torch_fp16_us']:8.2f} {100 * r['torch_fp16_frac_copy']:5.1f}% "
              f"{r['speedup_vs_torch_fp16']:6.2f}x {'y' if r['correct'] else 'NO'}")


if __name__ == "__main__":
    main()
