#!/usr/bin/env python3
"""2:4 semi-structured GEMV (batch 1) against the dense f32 kernel on the
same zeroed weights, side by side in one run.

    .venv/bin/python benchmarks/prune/bench_sparse24.py --build-dir build
        [--shapes 1024x1024,4096x4096,11008x4096] [--rounds 5]
        [--out build/benchmarks/prune]

For each weight shape [N, K]: a random weight with 2 nonzeros in every 4,
packed into values [N, K/2] + 2-bit positions [N, K/8] (qopt/Support
Sparse24.h, the same layout through the runtime's own packer is checked
by the unit tests); y = W·x through libqopt_runtime's
qopt_kernel_gemv_sparse24_f32 and through qopt_kernel_matmul_f32 (M = 1,
constant B: packed once and cached, as compiled models call it), both on
the runtime's thread pool. Median time per call over repeated calls,
alternating the two each round (best of rounds); the outputs are compared.
Writes OUT/bench_sparse24.json. Never asserts. This measures the GEMV
alone; compiled 2:4 layers call its matmul form (bench_prune.py times
them in a model).
"""

import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pack24(w):
    """numpy twin of qopt::pack24 (positions of the two kept values)."""
    n, k = w.shape
    g = w.reshape(n, k // 4, 4)
    nz = g != 0
    # Kept positions: the nonzeros, padded with zero positions, ascending.
    order = np.argsort(~nz, axis=2, kind="stable")[:, :, :2]
    pos = np.sort(order, axis=2)
    values = np.take_along_axis(g, pos, axis=2).reshape(n, k // 2)
    nib = (pos[:, :, 0] | (pos[:, :, 1] << 2)).astype(np.uint8)
    meta = (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(values, np.float32), np.ascontiguousarray(meta)


def time_calls(fn, calls):
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--shapes", default="1024x1024,4096x4096,11008x4096")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "prune")
    os.makedirs(out, exist_ok=True)
    rt = ctypes.CDLL(os.path.join(args.build_dir, "lib", "libqopt_runtime.so"))
    i64 = ctypes.c_int64
    rt.qopt_kernel_gemv_sparse24_f32.argtypes = [i64] * 6
    rt.qopt_kernel_matmul_f32.argtypes = [i64] * 21
    rt.qopt_kernel_isa_sparse24.restype = ctypes.c_char_p
    rt.qopt_kernel_isa.restype = ctypes.c_char_p
    rng = np.random.default_rng(0)
    results = []
    for shape in args.shapes.split(","):
        n, k = map(int, shape.split("x"))
        w = rng.standard_normal((n, k)).astype(np.float32)
        g = w.reshape(n, k // 4, 4)
        drop = np.argsort(np.abs(g), axis=2)[:, :, :2]
        np.put_along_axis(g, drop, 0, axis=2)
        w = np.ascontiguousarray(g.reshape(n, k))
        values, meta = pack24(w)
        x = rng.standard_normal(k).astype(np.float32)
        ys = np.zeros(n, np.float32)
        yd = np.zeros(n, np.float32)
        p = lambda a: a.ctypes.data  # noqa: E731

        def sparse():
            rt.qopt_kernel_gemv_sparse24_f32(n, k, p(x), p(values), p(meta), p(ys))

        def dense():
            yd[:] = 0
            rt.qopt_kernel_matmul_f32(1, 1, 1, n, k, p(x), k, 0, k, 1, p(w), 0, 0,
                                      1, k, p(yd), n, 0, n, 1, 1)

        sparse()
        dense()
        ref = w.astype(np.float64) @ x.astype(np.float64)
        err = {"sparse": float(np.abs(ys - ref).max()),
               "dense": float(np.abs(yd - ref).max()),
               "sparse_vs_dense": float(np.abs(ys - yd).max())}
        calls = max(20, int(2e8 / (n * k)))
        best = {}
        for _ in range(args.rounds):
            for key, fn in (("dense", dense), ("sparse24", sparse)):
                fn()
                v = time_calls(fn, calls)
                best[key] = min(best.get(key, v), v)
        row = {"n": n, "k": k, "calls_per_round": calls,
               "ms": best, "speedup": best["dense"] / best["sparse24"],
               "bytes": {"dense": w.nbytes, "sparse24": values.nbytes + meta.nbytes},
               "max_abs_error": err}
        results.append(row)
        print(f"{n}x{k}: dense {best['dense']:.4f} ms, 2:4 {best['sparse24']:.4f} ms "
              f"({row['speedup']:.2f}x), bytes {w.nbytes} -> "
              f"{row['bytes']['sparse24']}, |sparse - dense| {err['sparse_vs_dense']:.2g}",
              flush=True)
    result = {"isa": {"dense": rt.qopt_kernel_isa().decode(),
                      "sparse24": rt.qopt_kernel_isa_sparse24().decode()},
              "threads": os.environ.get("QOPT_NUM_THREADS", "default"),
              "batch": 1, "results": results}
    path = os.path.join(out, "bench_sparse24.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
