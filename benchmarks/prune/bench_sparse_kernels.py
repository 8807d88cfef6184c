#!/usr/bin/env python3
"""The runtime's sparse kernels against its dense kernels on the same
(zeroed) weights, side by side in one run, for several rows of A.

    .venv/bin/python benchmarks/prune/bench_sparse_kernels.py --build-dir build
        [--shapes 1024x1024,4096x4096,11008x4096] [--batches 1,8,16]
        [--kinds f32-2:4,int8-2:4,w8-2:4,csr-0.7,csr-0.8] [--rounds 5]
        [--out build/benchmarks/prune]

For each weight shape [N, K], batch M and kind, C += A·Wᵀ through
libqopt_runtime's kernels, as compiled layers call them:
* `f32-2:4`: qopt_kernel_matmul_sparse24_f32 (values + 2-bit positions)
  vs qopt_kernel_matmul_f32 (constant B: packed once and cached).
* `int8-2:4`: qopt_kernel_matmul_sparse24_s8s8 (int8 values + positions)
  vs qopt_kernel_matmul_s8s8 (constant B), both i32 results, which must be
  identical.
* `w8-2:4`: qopt_kernel_matmul_sparse24_w8 (weight-only int8 values +
  positions, f32 A) vs qopt_kernel_matmul_w8 (dense int8 weight-only).
* `csr-S`: a weight with a fraction S of zeros at random positions (as
  magnitude pruning of a Gaussian weight leaves them),
  qopt_kernel_matmul_csr_f32 vs qopt_kernel_matmul_f32.
Each pair alternates, round by round; the figure is the best of the rounds'
mean time per call, on the runtime's thread pool (QOPT_NUM_THREADS).
Outputs are compared to each other. Writes OUT/bench_sparse_kernels.json;
never asserts.
"""

import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_sparse24 import pack24  # noqa: E402


def time_calls(fn, calls):
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls * 1e3


def prune24(rng, n, k):
    w = rng.standard_normal((n, k)).astype(np.float32)
    g = w.reshape(n, k // 4, 4)
    drop = np.argsort(np.abs(g), axis=2)[:, :, :2]
    np.put_along_axis(g, drop, 0, axis=2)
    return np.ascontiguousarray(g.reshape(n, k))


def setup(rt, kind, n, k, m, rng):
    """(sparse call, dense call, (sparse bytes, dense bytes), difference,
    scale, arrays to keep alive). Addresses are taken once, outside the
    timed calls (ctypes' per-array overhead would dominate small shapes)."""
    ptrs = {}

    def p(a):
        if id(a) not in ptrs:
            ptrs[id(a)] = a.ctypes.data
        return ptrs[id(a)]
    if kind == "f32-2:4":
        w = prune24(rng, n, k)
        values, meta = pack24(w)
        a = rng.standard_normal((m, k)).astype(np.float32)
        cs = np.zeros((m, n), np.float32)
        cd = np.zeros((m, n), np.float32)

        def sparse():
            rt.qopt_kernel_matmul_sparse24_f32(m, n, k, p(a), k, 1, p(values),
                                               p(meta), p(cs), n, 1)

        def dense():
            rt.qopt_kernel_matmul_f32(1, 1, m, n, k, p(a), 0, 0, k, 1, p(w), 0,
                                      0, 1, k, p(cd), 0, 0, n, 1, 1)
        keep = (w, values, meta, a)
        nbytes = (values.nbytes + meta.nbytes, w.nbytes)
    elif kind == "int8-2:4":
        w = np.clip(np.round(prune24(rng, n, k) * 40), -127, 127).astype(np.int8)
        values, meta = pack24(w.astype(np.float32))
        values = np.ascontiguousarray(values.astype(np.int8))
        a = rng.integers(-128, 128, (m, k)).astype(np.int8)
        cs = np.zeros((m, n), np.int32)
        cd = np.zeros((m, n), np.int32)

        def sparse():
            rt.qopt_kernel_matmul_sparse24_s8s8(m, n, k, p(a), k, 1, p(values),
                                                p(meta), p(cs), n, 1)

        def dense():
            rt.qopt_kernel_matmul_s8s8(m, n, k, p(a), k, 1, p(w), k, 1, p(cd),
                                       n, 1, 1)
        keep = (w, values, meta, a)
        nbytes = (values.nbytes + meta.nbytes, w.nbytes)
    elif kind == "w8-2:4":
        w = np.clip(np.round(prune24(rng, n, k) * 40), -127, 127).astype(np.int8)
        values, meta = pack24(w.astype(np.float32))
        values = np.ascontiguousarray(values.astype(np.int8))
        wscale = (0.01 + 0.01 * rng.random(n)).astype(np.float32)
        a = rng.standard_normal((m, k)).astype(np.float32)
        cs = np.zeros((m, n), np.float32)
        cd = np.zeros((m, n), np.float32)

        def sparse():
            rt.qopt_kernel_matmul_sparse24_w8(m, n, k, p(a), k, 1, p(values),
                                              p(meta), p(wscale), 1, p(cs), n, 1)

        def dense():
            rt.qopt_kernel_matmul_w8(m, n, k, p(a), k, 1, p(w), k, 1, p(wscale),
                                     1, p(cd), n, 1, 1)
        keep = (w, values, meta, a, wscale)
        nbytes = (values.nbytes + meta.nbytes, w.nbytes)
    elif kind.startswith("csr-"):
        s = float(kind[4:])
        w = rng.standard_normal((n, k)).astype(np.float32)
        w[rng.random((n, k)) < s] = 0
        rowptr = np.zeros(n + 1, np.int32)
        rowptr[1:] = np.cumsum((w != 0).sum(axis=1))
        rows, cols = np.nonzero(w)
        cols = np.ascontiguousarray(cols.astype(np.uint16))
        vals = np.ascontiguousarray(w[rows, cols])
        a = rng.standard_normal((m, k)).astype(np.float32)
        cs = np.zeros((m, n), np.float32)
        cd = np.zeros((m, n), np.float32)

        def sparse():
            rt.qopt_kernel_matmul_csr_f32(m, n, k, p(a), k, 1, p(rowptr),
                                          p(rowptr) + 4, p(cols), p(vals),
                                          p(cs), n, 1)

        def dense():
            rt.qopt_kernel_matmul_f32(1, 1, m, n, k, p(a), 0, 0, k, 1, p(w), 0,
                                      0, 1, k, p(cd), 0, 0, n, 1, 1)
        keep = (w, rowptr, cols, vals, a)
        csr_bytes = 2 * 4 * n + vals.nbytes + cols.nbytes  # begin/end, u16 cols
        nbytes = (csr_bytes, w.nbytes)
    else:
        raise SystemExit(f"unknown kind {kind}")
    sparse()
    dense()
    diff = float(np.abs(cs.astype(np.float64) - cd.astype(np.float64)).max())
    scale = float(np.abs(cd.astype(np.float64)).max()) or 1.0
    return sparse, dense, nbytes, diff, scale, keep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--shapes", default="1024x1024,4096x4096,11008x4096")
    ap.add_argument("--batches", default="1,8,16")
    ap.add_argument("--kinds", default="f32-2:4,int8-2:4,w8-2:4,csr-0.7,csr-0.8")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "prune")
    os.makedirs(out, exist_ok=True)
    rt = ctypes.CDLL(os.path.join(args.build_dir, "lib", "libqopt_runtime.so"))
    i64 = ctypes.c_int64
    for name, count in (("qopt_kernel_matmul_sparse24_f32", 11),
                        ("qopt_kernel_matmul_sparse24_s8s8", 11),
                        ("qopt_kernel_matmul_csr_f32", 13),
                        ("qopt_kernel_matmul_f32", 21),
                        ("qopt_kernel_matmul_s8s8", 13),
                        ("qopt_kernel_matmul_sparse24_w8", 13),
                        ("qopt_kernel_matmul_w8", 15)):
        if hasattr(rt, name):
            getattr(rt, name).argtypes = [i64] * count
    isas = {}
    for name in ("qopt_kernel_isa", "qopt_kernel_isa_int8",
                 "qopt_kernel_isa_sparse24", "qopt_kernel_isa_csr"):
        if hasattr(rt, name):
            getattr(rt, name).restype = ctypes.c_char_p
            isas[name] = getattr(rt, name)().decode()
    rng = np.random.default_rng(0)
    results = []
    # Every weight stays alive to the end: the kernels cache repacked
    # constants by address (as a compiled model's constants, freed only
    # with the model), so a freed array's address must not come back.
    alive = []
    for kind in args.kinds.split(","):
        for shape in args.shapes.split(","):
            n, k = map(int, shape.split("x"))
            for m in map(int, args.batches.split(",")):
                sparse, dense, nbytes, diff, scale, keep = setup(
                    rt, kind, n, k, m, rng)
                calls = max(5, int(1e8 / (n * k * max(1, m // 4))))
                best = {}
                for _ in range(args.rounds):
                    for key, fn in (("dense", dense), ("sparse", sparse)):
                        v = time_calls(fn, calls)
                        best[key] = min(best.get(key, v), v)
                row = {"kind": kind, "n": n, "k": k, "m": m, "calls": calls,
                       "ms": best, "speedup": best["dense"] / best["sparse"],
                       "bytes": {"sparse": nbytes[0], "dense": nbytes[1]},
                       "max_abs_difference": diff, "max_abs_dense": scale}
                results.append(row)
                print(f"{kind:9s} {n}x{k} M={m:2d}: dense {best['dense']:.4f} ms, "
                      f"sparse {best['sparse']:.4f} ms ({row['speedup']:.2f}x), "
                      f"bytes {nbytes[1]} -> {nbytes[0]}, |sparse - dense| "
                      f"{diff:.3g} (of {scale:.3g})", flush=True)
                alive.append(keep)
    result = {"isa": isas, "threads": os.environ.get("QOPT_NUM_THREADS", "default"),
              "cpus": os.cpu_count(), "load": os.getloadavg(), "results": results}
    path = os.path.join(out, "bench_sparse_kernels.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
