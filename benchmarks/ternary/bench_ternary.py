#!/usr/bin/env python3
"""CPU GEMV with ternary weights against our other weight formats.

Calls the runtime's kernels (libqopt_runtime.so, through ctypes) side by
side in one process, on the same input, alternating formats over --rounds
rounds, for each N x K weight (default 4096x4096 and 8192x8192) at batch 1:

  f32        qopt_kernel_matmul_f32   (weight packed once, as for a constant)
  int8 w8    qopt_kernel_matmul_w8    (weight-only int8, per-channel scale)
  int8 w8a8  qopt_kernel_matmul_s8s8  (int8 activations, packed once)
  int4 g128  qopt_kernel_matmul_w4    (weight-only int4, blocks of 128)
  ternary    qopt_kernel_matmul_s8t2  (BitLinear: int8 activations x 2-bit)
  ternary f  qopt_kernel_matmul_f32t2 (f32 activations x {-1, 0, +1};
             the scale is applied after, by the compiled model)

Each format's output is checked against numpy first (exact for the integer
kernels). Reports the median / p10 / p90 time per call in ms and the weight
bytes streamed per second (GB/s, weight bytes / median time), writes JSON
(default build/benchmarks/ternary/bench_ternary.json); never asserts a time.
The per-token scale of the ternary kernel (one pass over K floats, done by
the compiled model's generated code) is computed once outside the timing.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

I64 = ctypes.c_int64


def load_runtime(build_dir):
    lib = ctypes.CDLL(os.path.join(build_dir, "lib", "libqopt_runtime.so"))
    for name in ("qopt_kernel_isa", "qopt_kernel_isa_int8",
                 "qopt_kernel_isa_ternary"):
        getattr(lib, name).restype = ctypes.c_char_p
    lib.qopt_set_num_threads.argtypes = [ctypes.c_int]
    return lib


def addr(a):
    return a.ctypes.data


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def make_formats(lib, n, k, m, rng, keep=None):
    """(name, weight bytes, call(), check()) for each format, m rows.

    `keep`, a dict, receives the inputs shared with other harnesses
    (bench_llamacpp.py): x, w, the ternary t, its scales s and outputs."""
    x2 = rng.standard_normal((m, k)).astype(np.float32)
    x = x2.T  # [K, M]: W @ x is [N, M]
    w = (rng.standard_normal((n, k)) * 0.02).astype(np.float32)
    out = []

    # f32: C[1, N] = x · W^T, B = W^T viewed [K, N] with strides (1, K).
    c_f32 = np.zeros((m, n), np.float32)

    def f32():
        c_f32.fill(0)
        lib.qopt_kernel_matmul_f32(*map(I64, (
            1, 1, m, n, k, addr(x2), 0, 0, k, 1, addr(w), 0, 0, 1, k,
            addr(c_f32), 0, 0, n, 1, 1)))

    out.append(("f32", w.nbytes, f32,
                lambda: np.abs(c_f32 - (w @ x).T).max() < 1e-3))

    # int8 weight-only, per channel.
    s8 = (np.abs(w).max(axis=1) / 127).astype(np.float32)
    q8 = np.clip(np.round(w / s8[:, None]), -127, 127).astype(np.int8)
    c_w8 = np.zeros((m, n), np.float32)

    def w8():
        c_w8.fill(0)
        lib.qopt_kernel_matmul_w8(*map(I64, (
            m, n, k, addr(x2), k, 1, addr(q8), k, 1, addr(s8), 1,
            addr(c_w8), n, 1)))

    ref_w8 = (q8.astype(np.float32) * s8[:, None]) @ x
    out.append(("int8 weight-only (w8)", q8.nbytes + s8.nbytes, w8,
                lambda: np.abs(c_w8 - ref_w8.T).max() < 1e-3))

    # int8 x int8 (W8A8, activations quantized outside).
    xq = np.clip(np.round(x2 / (np.abs(x2).max() / 127)), -128, 127).astype(
        np.int8)
    c_s8 = np.zeros((m, n), np.int32)

    def s8s8():
        c_s8.fill(0)
        lib.qopt_kernel_matmul_s8s8(*map(I64, (
            m, n, k, addr(xq), k, 1, addr(q8), k, 1, addr(c_s8), n, 1, 1)))

    ref_s8 = xq.astype(np.int64) @ q8.astype(np.int64).T
    out.append(("int8 x int8 (w8a8)", q8.nbytes + s8.nbytes, s8s8,
                lambda: (c_s8 == ref_s8).all()))

    # int4 weight-only, blocks of 128 (two per byte, low nibble first).
    g = 128
    blocks = w.reshape(n, k // g, g)
    s4 = (np.abs(blocks).max(axis=2) / 7).astype(np.float32)
    q4 = np.clip(np.round(blocks / s4[..., None]), -8, 7).astype(np.int8)
    nib = (q4.reshape(n, k) & 15).astype(np.uint8)
    p4 = (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)
    c_w4 = np.zeros((m, n), np.float32)

    def w4():
        c_w4.fill(0)
        lib.qopt_kernel_matmul_w4(*map(I64, (
            m, n, k, g, 1, addr(x2), k, 1, addr(p4), k // 2, 1, addr(s4),
            k // g, 1, 0, 0, 0, addr(c_w4), n, 1)))

    ref_w4 = (q4.astype(np.float32) * s4[..., None]).reshape(n, k) @ x
    out.append(("int4 weight-only g128 (w4)", p4.nbytes + s4.nbytes, w4,
                lambda: np.abs(c_w4 - ref_w4.T).max() < 1e-3))

    # Ternary: codes t + 1 at bits 2(k%4) of byte k/4.
    t = rng.integers(-1, 2, size=(n, k)).astype(np.int8)
    codes = (t.astype(np.uint8) + 1).reshape(n, k // 4, 4)
    pt = (codes[..., 0] | codes[..., 1] << 2 | codes[..., 2] << 4 |
          codes[..., 3] << 6).astype(np.uint8)
    s = (np.float32(127) / np.maximum(np.abs(x2).max(axis=1),
                                      np.float32(1e-5))).astype(np.float32)
    c_t = np.zeros((m, n), np.int32)

    def s8t2():
        c_t.fill(0)
        lib.qopt_kernel_matmul_s8t2(*map(I64, (
            m, n, k, addr(x2), k, 1, addr(s), 1, addr(pt), k // 4, 1,
            addr(c_t), n, 1)))

    qx = np.clip(np.round(x2 * s[:, None]), -128, 127).astype(np.int64)
    ref_t = qx @ t.astype(np.int64).T
    out.append(("ternary x int8 (s8t2)", pt.nbytes + 4, s8t2,
                lambda: (c_t == ref_t).all()))

    c_tf = np.zeros((m, n), np.float32)

    def f32t2():
        c_tf.fill(0)
        lib.qopt_kernel_matmul_f32t2(*map(I64, (
            m, n, k, addr(x2), k, 1, addr(pt), k // 4, 1, addr(c_tf), n, 1)))

    ref_tf = (t.astype(np.float32) @ x).T
    out.append(("ternary x f32 (f32t2)", pt.nbytes + 4, f32t2,
                lambda: np.abs(c_tf - ref_tf).max() < 1e-3))
    if keep is not None:
        keep.update(x=x2, w=w, t=t, s=s, c_s8t2=c_t, c_f32t2=c_tf)
    return out


def time_calls(fn, calls):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default="build")
    p.add_argument("--shapes", default="4096x4096,8192x8192",
                   help="N x K weights, comma separated")
    p.add_argument("--batch", type=int, default=1,
                   help="rows of the input (1: GEMV; small-batch GEMM above)")
    p.add_argument("--threads", type=int, default=0,
                   help="runtime threads (0: one per core)")
    p.add_argument("--calls", type=int, default=50, help="timed calls a round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    lib = load_runtime(a.build_dir)
    if a.threads:
        assert lib.qopt_set_num_threads(a.threads) == 0
    threads = lib.qopt_get_num_threads()
    rng = np.random.default_rng(0)
    results = []
    for shape in a.shapes.split(","):
        n, k = map(int, shape.lower().split("x"))
        formats = make_formats(lib, n, k, a.batch, rng)
        for name, _, fn, check in formats:
            fn()  # packs constants once, warms caches
            if not check():
                raise SystemExit(f"{name} {n}x{k}: wrong result")
        times = {name: [] for name, *_ in formats}
        for _ in range(a.rounds):
            for name, _, fn, _ in formats:
                times[name] += time_calls(fn, a.calls)
        rows = []
        for name, nbytes, _, _ in formats:
            ts = sorted(times[name])
            med = statistics.median(ts)
            rows.append({
                "format": name, "weight_bytes": nbytes,
                "ms_median": med * 1e3,
                "ms_p10": ts[len(ts) // 10] * 1e3,
                "ms_p90": ts[len(ts) * 9 // 10] * 1e3,
                "weight_gb_per_s": nbytes / med / 1e9})
        by = {r["format"]: r for r in rows}
        tern = by["ternary x int8 (s8t2)"]["ms_median"]
        for r in rows:
            r["ternary_speedup"] = r["ms_median"] / tern
        results.append({"n": n, "k": k, "batch": a.batch, "formats": rows})
        print(f"\n{n}x{k}, batch {a.batch}, {threads} threads")
        print(f"{'format':30s} {'ms':>9s} {'p10':>9s} {'p90':>9s} "
              f"{'MB':>8s} {'GB/s':>7s} {'vs ternary':>10s}")
        for r in rows:
            print(f"{r['format']:30s} {r['ms_median']:9.4f} {r['ms_p10']:9.4f} "
                  f"{r['ms_p90']:9.4f} {r['weight_bytes'] / 1e6:8.2f} "
                  f"{r['weight_gb_per_s']:7.2f} {r['ternary_speedup']:9.2f}x")
    report = {
        "benchmark": "ternary_gemv_cpu", "batch": a.batch,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads,
        "kernel_isa": {"f32": lib.qopt_kernel_isa().decode(),
                       "int8": lib.qopt_kernel_isa_int8().decode(),
                       "ternary": lib.qopt_kernel_isa_ternary().decode()},
        "calls_per_round": a.calls, "rounds": a.rounds,
        "results": results}
    out = a.out or os.path.join(a.build_dir, "benchmarks", "ternary",
                                "bench_ternary.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
