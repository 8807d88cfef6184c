#!/usr/bin/env python3
"""CPU GEMV: our ternary kernels against llama.cpp's TQ1_0/TQ2_0 (ggml).

The anchor of the ternary benchmark (bench_ternary.py): llama.cpp's own
ternary weight types, built from its source, timed in the same process and
the same interleaved rounds as our runtime's kernels.

1. llama.cpp's source comes from PyPI by name: the `llama-cpp-python` sdist
   (`pip download --no-binary :all: --no-deps llama-cpp-python`), which
   vendors llama.cpp and its tensor library ggml. Cached under
   <build>/llamacpp/sdist; skipped with a message (exit 0) when pip cannot
   fetch it.
2. ggml's CPU backend is built from it (static, -march=native, no OpenMP)
   under <build>/llamacpp/ggml, and ggml_gemv.cpp (next to this script), a
   small C API over ggml's mul_mat, is linked into
   <build>/llamacpp/libggml_gemv.so. Builds go through --build-lock (flock)
   with --jobs jobs.
3. For each N x K (default 4096x4096 and 8192x8192) at --batch rows, the
   formats of bench_ternary.py (ours: f32, int8 w8/w8a8, int4 g128, ternary
   s8t2/f32t2) and ggml's mul_mat of a weight of each --ggml-types type
   (default tq1_0, tq2_0, q4_0, q8_0, f16) run in turn for --rounds rounds
   of --calls calls each, on --threads threads each (our thread pool, a
   persistent ggml threadpool parked between rounds). ggml's mul_mat
   quantizes the f32 activations to the type's vec_dot_type (Q8_K for
   TQ1_0/TQ2_0) inside each call.

The ternary weights given to ggml are the ones our kernels use, t * gamma
with t in {-1, 0, +1} (gamma = mean|W| of the float weight, rounded to a
half so that TQ2_0's f16 block scale holds it exactly); the other ggml types
quantize the float weight W of our f32/int8/int4 formats. Checks (in the
JSON): ggml's dequantized TQ1_0/TQ2_0 weights equal t * gamma exactly; each
ggml output's max difference relative to max |y| against the f64 product of
the weight it was given, and, for TQ1_0/TQ2_0, against our s8t2 kernel's
output (both quantize activations to int8: per token for ours, per block of
256 for ggml's Q8_K). Reports median / p10 / p90 ms and GB/s of weight bytes
(and, with one thread, the median CPU time of the calling thread, which runs
every call alone and is robust to other jobs on a shared machine);
writes JSON to <build>/benchmarks/ternary/bench_llamacpp.json (and --copy-to,
if given). Never asserts a time.
"""

import argparse
import ctypes
import datetime
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_ternary  # noqa: E402

I64 = ctypes.c_int64
VP = ctypes.c_void_p


def log(msg):
    print(msg, flush=True)


def fetch_sdist(cache):
    """The cached llama-cpp-python sdist, downloaded by pip if missing."""
    os.makedirs(cache, exist_ok=True)
    have = sorted(glob.glob(os.path.join(cache, "llama_cpp_python-*.tar.gz")))
    if have:
        return have[-1]
    log("downloading the llama-cpp-python sdist with pip ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
           "--no-deps", "--no-build-isolation", "llama-cpp-python",
           "-d", cache]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"pip failed: {e}")
        return None
    have = sorted(glob.glob(os.path.join(cache, "llama_cpp_python-*.tar.gz")))
    if r.returncode != 0 and not have:
        # Without build isolation pip may lack the sdist's build backend to
        # read its metadata; with it, it needs the network for that too.
        cmd.remove("--no-build-isolation")
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"pip failed: {e}")
            return None
        have = sorted(glob.glob(os.path.join(cache,
                                             "llama_cpp_python-*.tar.gz")))
    if not have:
        log("pip could not download llama-cpp-python:\n" +
            (r.stderr or r.stdout).strip()[-2000:])
        return None
    return have[-1]


def extract(sdist, dest):
    """vendor/llama.cpp/ggml of the sdist, extracted once under dest."""
    name = os.path.basename(sdist)[:-len(".tar.gz")]
    root = os.path.join(dest, name)
    ggml = os.path.join(root, "vendor", "llama.cpp", "ggml")
    if not os.path.isdir(ggml):
        log(f"extracting {os.path.basename(sdist)} ...")
        os.makedirs(dest, exist_ok=True)
        with tarfile.open(sdist) as tf:
            members = [m for m in tf.getmembers()
                       if "/vendor/llama.cpp/ggml/" in m.name + "/"
                       or m.name.endswith("/vendor/llama.cpp/ggml")]
            try:
                tf.extractall(dest, members=members, filter="data")
            except TypeError:  # Python without extraction filters
                tf.extractall(dest, members=members)
    return name, ggml


def locked(cmd, lock):
    if lock and shutil.which("flock"):
        return ["flock", lock] + cmd
    return cmd


def build(ggml_src, out_dir, a):
    """Builds ggml's CPU backend and libggml_gemv.so; returns its path."""
    bdir = os.path.join(out_dir, "ggml")
    lib = os.path.join(out_dir, "libggml_gemv.so")
    src = os.path.join(HERE, "ggml_gemv.cpp")
    env = dict(os.environ, CC=a.cc, CXX=a.cxx)
    # The sdist leaves out ggml.pc.in, which a standalone configure of ggml
    # reads (only to install a pkg-config file).
    pc = os.path.join(ggml_src, "ggml.pc.in")
    if not os.path.exists(pc):
        open(pc, "w").close()
    if not os.path.exists(os.path.join(bdir, "build.ninja")):
        subprocess.run([
            "cmake", "-G", "Ninja", "-S", ggml_src, "-B", bdir,
            "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
            "-DCMAKE_POSITION_INDEPENDENT_CODE=ON", "-DGGML_NATIVE=ON",
            "-DGGML_OPENMP=OFF", "-DGGML_BUILD_TESTS=OFF",
            "-DGGML_BUILD_EXAMPLES=OFF", "-DGGML_METAL=OFF",
            "-DGGML_BLAS=OFF",
            # Not the git commit of whatever repository holds the build.
            "-DGIT_EXE=OFF"], check=True, env=env)
    subprocess.run(locked(["ninja", "-C", bdir, f"-j{a.jobs}", "ggml-cpu",
                           "ggml-base"], a.build_lock), check=True)
    archives = [os.path.join(bdir, "src", n)
                for n in ("libggml-cpu.a", "libggml-base.a")]
    newest = max(os.path.getmtime(p) for p in archives + [src])
    if not os.path.exists(lib) or os.path.getmtime(lib) < newest:
        subprocess.run(locked([
            a.cxx, "-O2", "-std=c++17", "-fPIC", "-shared", "-o", lib, src,
            "-I", os.path.join(ggml_src, "include")] + archives +
            ["-lpthread", "-lm"], a.build_lock), check=True)
    return lib


def load_ggml(path):
    g = ctypes.CDLL(path)
    g.ggml_gemv_type.argtypes = [ctypes.c_char_p]
    g.ggml_gemv_threadpool_new.restype = VP
    g.ggml_gemv_threadpool_new.argtypes = [ctypes.c_int]
    for f in ("ggml_gemv_threadpool_free", "ggml_gemv_pause",
              "ggml_gemv_resume"):
        getattr(g, f).argtypes = [VP]
    g.ggml_gemv_new.restype = VP
    g.ggml_gemv_new.argtypes = [ctypes.c_int, I64, I64, I64, VP, VP,
                                ctypes.c_int]
    g.ggml_gemv_weight_bytes.restype = I64
    g.ggml_gemv_weight_bytes.argtypes = [VP]
    for f in ("ggml_gemv_set_input", "ggml_gemv_get_output",
              "ggml_gemv_dequantize"):
        getattr(g, f).argtypes = [VP, VP]
    g.ggml_gemv_run.argtypes = [VP]
    g.ggml_gemv_free.argtypes = [VP]
    g.ggml_gemv_cpu_features.restype = ctypes.c_char_p
    return g


def rel_diff(y, ref):
    return float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-30))


def ggml_formats(g, tp, threads, types, n, k, keep):
    """(name, bytes, call, check, info, handle) for each ggml type."""
    x, w, t = keep["x"], keep["w"], keep["t"]
    m = x.shape[0]
    gamma = float(np.float16(np.abs(w).mean()))
    wt = (t.astype(np.float32) * np.float32(gamma)).astype(np.float32)
    ref_t = x.astype(np.float64) @ wt.astype(np.float64).T
    ref_w = x.astype(np.float64) @ w.astype(np.float64).T
    # Our s8t2 output (exact int32 sums) in float: / s per row, * gamma.
    ours_t = keep["c_s8t2"] / keep["s"][:, None].astype(np.float64) * gamma
    out = []
    for ty in types:
        code = g.ggml_gemv_type(ty.encode())
        if code < 0:
            raise SystemExit(f"ggml has no CPU mul_mat for type {ty!r}")
        ternary = ty.startswith("tq")
        src = np.ascontiguousarray(wt if ternary else w)
        h = g.ggml_gemv_new(code, n, k, m, addr(src), tp, threads)
        if not h:
            raise SystemExit(f"ggml {ty}: K={k} does not fit its blocks")
        g.ggml_gemv_set_input(h, addr(x))
        y = np.zeros((m, n), np.float32)
        info = {"gamma": gamma} if ternary else {}

        def call(h=h):
            g.ggml_gemv_run(h)

        def check(h=h, y=y, ternary=ternary, info=info):
            g.ggml_gemv_get_output(h, addr(y))
            deq = np.zeros((n, k), np.float32)
            g.ggml_gemv_dequantize(h, addr(deq))
            # The kernel against its own (dequantized) weights: only the
            # activations' quantization differs.
            info["max_rel_diff_vs_f64_dequantized"] = rel_diff(
                y, x.astype(np.float64) @ deq.astype(np.float64).T)
            info["max_rel_diff_vs_f64"] = rel_diff(y,
                                                   ref_t if ternary else ref_w)
            ok = info["max_rel_diff_vs_f64_dequantized"] < 0.05
            if ternary:
                info["weights_exact"] = bool((deq == wt).all())
                info["max_rel_diff_vs_ours_s8t2"] = rel_diff(y, ours_t)
                info["ours_s8t2_max_rel_diff_vs_f64"] = rel_diff(ours_t,
                                                                 ref_t)
                ok = ok and info["weights_exact"] and \
                    info["max_rel_diff_vs_ours_s8t2"] < 0.05
            return ok

        out.append((f"llama.cpp {ty.upper()}", g.ggml_gemv_weight_bytes(h),
                    call, check, info, h))
    return out


def addr(a):
    return a.ctypes.data


def time_calls(fn, calls):
    """(wall seconds, calling thread's CPU seconds) of each call."""
    wall, cpu = [], []
    for _ in range(calls):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return wall, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default="build")
    p.add_argument("--shapes", default="4096x4096,8192x8192",
                   help="N x K weights, comma separated")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=0,
                   help="threads for ours and ggml (0: one per core)")
    p.add_argument("--calls", type=int, default=30, help="timed calls a round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--ggml-types", default="tq1_0,tq2_0,q4_0,q8_0,f16")
    p.add_argument("--cc", default=shutil.which("clang-22") or "cc")
    p.add_argument("--cxx", default=shutil.which("clang++-22") or "c++")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--build-lock", default="/tmp/qopt-build.lock",
                   help="flock file the builds take ('' for none)")
    p.add_argument("--out", default=None)
    p.add_argument("--copy-to", default=None,
                   help="also write the JSON there (e.g. results/)")
    a = p.parse_args()

    work = os.path.join(os.path.abspath(a.build_dir), "llamacpp")
    sdist = fetch_sdist(os.path.join(work, "sdist"))
    if sdist is None:
        log("skipped: llama.cpp's source (llama-cpp-python sdist) is not "
            "available; nothing measured")
        return 0
    sdist_name, ggml_src = extract(sdist, os.path.join(work, "src"))
    glib = load_ggml(build(ggml_src, work, a))

    lib = bench_ternary.load_runtime(a.build_dir)
    threads = a.threads or os.cpu_count()
    assert lib.qopt_set_num_threads(threads) == 0
    tp = glib.ggml_gemv_threadpool_new(threads)
    types = [t for t in a.ggml_types.split(",") if t]
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    results = []
    for shape in a.shapes.split(","):
        n, k = map(int, shape.lower().split("x"))
        keep = {}
        ours = [(nm, b, fn, ck, {}, None) for nm, b, fn, ck in
                bench_ternary.make_formats(lib, n, k, a.batch, rng, keep)]
        for nm, _, fn, ck, _, _ in ours:
            fn()
            if not ck():
                raise SystemExit(f"{nm} {n}x{k}: wrong result")
        theirs = ggml_formats(glib, tp, threads, types, n, k, keep)
        for nm, _, fn, ck, info, _ in theirs:
            fn()
            if not ck():
                raise SystemExit(f"{nm} {n}x{k}: wrong result {info}")
        glib.ggml_gemv_pause(tp)
        formats = ours + theirs
        times = {f[0]: [] for f in formats}
        cpu_times = {f[0]: [] for f in formats}
        for _ in range(a.rounds):
            for nm, _, fn, _, _, h in formats:
                wall, cpu = time_calls(fn, a.calls)
                times[nm] += wall
                cpu_times[nm] += cpu
                if h is not None:
                    glib.ggml_gemv_pause(tp)
        rows = []
        for nm, nbytes, _, _, info, _ in formats:
            ts = sorted(times[nm])
            med = statistics.median(ts)
            rows.append(dict({
                "format": nm, "weight_bytes": int(nbytes),
                "ms_median": med * 1e3, "ms_p10": ts[len(ts) // 10] * 1e3,
                "ms_p90": ts[len(ts) * 9 // 10] * 1e3,
                "weight_gb_per_s": nbytes / med / 1e9}, **info))
            if threads == 1:
                # One thread: every call runs on the calling thread, whose
                # CPU time leaves out what the scheduler gave other jobs.
                cmed = statistics.median(cpu_times[nm])
                rows[-1].update(cpu_ms_median=cmed * 1e3,
                                cpu_weight_gb_per_s=nbytes / cmed / 1e9)
        tern = next(r for r in rows
                    if r["format"] == "ternary x int8 (s8t2)")["ms_median"]
        for r in rows:
            r["ternary_speedup"] = r["ms_median"] / tern
        if threads == 1:
            ctern = next(r for r in rows if r["format"] ==
                         "ternary x int8 (s8t2)")["cpu_ms_median"]
            for r in rows:
                r["cpu_ternary_speedup"] = r["cpu_ms_median"] / ctern
        results.append({"n": n, "k": k, "batch": a.batch, "formats": rows})
        for *_, h in theirs:
            glib.ggml_gemv_free(h)
        print(f"\n{n}x{k}, batch {a.batch}, {threads} threads")
        print(f"{'format':30s} {'ms':>9s} {'p10':>9s} {'p90':>9s} "
              f"{'cpu ms':>9s} {'MB':>8s} {'GB/s':>7s} {'s8t2 faster':>11s}")
        for r in rows:
            print(f"{r['format']:30s} {r['ms_median']:9.4f} "
                  f"{r['ms_p10']:9.4f} {r['ms_p90']:9.4f} "
                  f"{r.get('cpu_ms_median', float('nan')):9.4f} "
                  f"{r['weight_bytes'] / 1e6:8.2f} "
                  f"{r['weight_gb_per_s']:7.2f} {r['ternary_speedup']:10.2f}x")
        for r in rows:
            if "max_rel_diff_vs_ours_s8t2" in r:
                print(f"{r['format']}: weights exact {r['weights_exact']}, "
                      f"max rel diff vs ours (s8t2) "
                      f"{r['max_rel_diff_vs_ours_s8t2']:.2e}, vs f64 "
                      f"{r['max_rel_diff_vs_f64']:.2e} (ours vs f64 "
                      f"{r['ours_s8t2_max_rel_diff_vs_f64']:.2e})")
    glib.ggml_gemv_threadpool_free(tp)
    report = {
        "benchmark": "ternary_gemv_cpu_vs_llamacpp", "batch": a.batch,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "cpu": bench_ternary.cpu_name(), "cores": os.cpu_count(),
        "threads": threads,
        "kernel_isa": {"f32": lib.qopt_kernel_isa().decode(),
                       "int8": lib.qopt_kernel_isa_int8().decode(),
                       "ternary": lib.qopt_kernel_isa_ternary().decode()},
        # The machine may be shared: its 1-minute load average before and
        # after the timing (more than the cores means others were running).
        "load_average_1min": [load_before[0], os.getloadavg()[0]],
        "llamacpp_source": sdist_name,
        "ggml_cpu_features": glib.ggml_gemv_cpu_features().decode(),
        "calls_per_round": a.calls, "rounds": a.rounds,
        "results": results}
    out = a.out or os.path.join(a.build_dir, "benchmarks", "ternary",
                                "bench_llamacpp.json")
    for path in filter(None, (out, a.copy_to)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
