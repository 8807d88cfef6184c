#!/usr/bin/env python3
"""The runtime thread pool's hand-off cost (issue 22): bench_threads.cpp
(next to this script) compiled against a build's libqopt_runtime.so, timing
per call an empty qopt::rt::parallelFor over the pool's threads and the
async-runtime calls one generated parallel loop makes (group, tokens,
mlirAsyncRuntimeExecute, await), with 0 / 2 / 20 / 200 µs of caller work
between calls, at 1 and 2 threads (or --threads N).

    .venv/bin/python benchmarks/cpu/bench_threads.py --build-dir build
        [--baseline-build OTHER_BUILD] [--calls 20000] [--threads N]
        [--out build/benchmarks/cpu]

Writes OUT/bench_threads.json (median, p10, p90, p99 ns per call). Never
asserts a time.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_bench(build, out):
    exe = os.path.join(out, "bench_threads_" + os.path.basename(os.path.dirname(os.path.abspath(build))))
    build = os.path.abspath(build)
    lib = os.path.join(build, "lib")
    subprocess.run(["clang++-22", "-O2", "-std=c++17",
                    "-I", os.path.join(ROOT, "lib", "Runtime"),
                    os.path.join(HERE, "bench_threads.cpp"), "-o", exe,
                    "-L", lib, "-lqopt_runtime", f"-Wl,-rpath,{lib}",
                    "-fuse-ld=lld", "-pthread"], check=True)
    return exe


def build_tsan(out):
    """Threads.cpp and RunGuard.cpp compiled into the benchmark under
    ThreadSanitizer (the sanitized CI build is ASan/UBSan only)."""
    exe = os.path.join(out, "bench_threads_tsan")
    rt = os.path.join(ROOT, "lib", "Runtime")
    subprocess.run(["clang++-22", "-O1", "-g", "-std=c++17",
                    "-fsanitize=thread", "-DQOPT_BENCH_THREADS_STANDALONE",
                    "-I", rt, "-I", os.path.join(ROOT, "include"),
                    os.path.join(HERE, "bench_threads.cpp"),
                    os.path.join(rt, "Threads.cpp"),
                    os.path.join(rt, "RunGuard.cpp"), "-o", exe,
                    "-fuse-ld=lld", "-pthread"], check=True)
    return exe


def run(exe, calls, threads):
    args = [exe, str(calls)] + ([str(threads)] if threads else [])
    r = subprocess.run(args, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in r.stdout.splitlines() if line]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline-build", default=None)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--tsan", action="store_true",
                    help="only run the calls under ThreadSanitizer "
                    "(non-zero exit on a report); times not written")
    args = ap.parse_args(argv)
    out = args.out or os.path.join(args.build_dir, "benchmarks", "cpu")
    os.makedirs(out, exist_ok=True)
    if args.tsan:
        exe = build_tsan(out)
        env = {**os.environ, "TSAN_OPTIONS": "halt_on_error=1:exitcode=66"}
        for t in ([args.threads] if args.threads else [1, 2, 4]):
            r = subprocess.run([exe, str(min(args.calls, 2000)), str(t)],
                               capture_output=True, text=True, env=env)
            print(f"tsan threads {t}: exit {r.returncode}")
            if r.returncode != 0:
                print(r.stderr[-4000:])
                return 1
        return 0
    builds = {"ours": args.build_dir}
    if args.baseline_build:
        builds["baseline"] = args.baseline_build
    results = {}
    for who, build in builds.items():
        exe = build_bench(build, out)
        results[who] = run(exe, args.calls, args.threads)
        for r in results[who]:
            print(f"{who:8s} {r['what']:13s} threads {r['threads']} gap "
                  f"{r['gap_ns'] / 1000:6.1f} us: median {r['median_ns']:8.0f}"
                  f" ns, p90 {r['p90_ns']:8.0f}, p99 {r['p99_ns']:8.0f}")
    report = {"machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "calls": args.calls, "results": results}
    path = os.path.join(out, "bench_threads.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print("wrote", path)


if __name__ == "__main__":
    sys.exit(main())
