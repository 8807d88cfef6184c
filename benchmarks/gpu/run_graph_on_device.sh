#!/usr/bin/env bash
# One call on a GPU machine, for CUDA graphs of device-resident calls
# (qopt_cuda_model_run_graph): build the runtime and quant-run there (g++
# and nvcc), check every case of CASES (test/gpu/prepare_models.py) from
# host memory, device-resident and as a graph replay against the CPU
# (check_models.py --device-io --cuda-graph), then time BENCH
# (prepare_bench_models.py) with and without --cuda-graph next to torch
# (bench_models.py --cuda-graph --no-profile). Results in $OUT.
#
#   benchmarks/gpu/run_graph_on_device.sh CASES_DIR BENCH_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CASES="$1"
BENCH="$2"
OUT="${OUT:-$ROOT/build-device/out}"
BUILD="$ROOT/build-device/rt"
mkdir -p "$OUT" "$BUILD"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv > "$OUT/build.txt" 2>&1
CXXFLAGS="-include string" \
  "$ROOT/benchmarks/gpu/build_on_device.sh" "$BUILD" >> "$OUT/build.txt" 2>&1 \
  || { tail -40 "$OUT/build.txt"; exit 1; }
g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" \
  -o "$BUILD/quant-run" -L"$BUILD" -lqopt_runtime -Wl,-rpath,"$BUILD" \
  >> "$OUT/build.txt" 2>&1 || { tail -40 "$OUT/build.txt"; exit 1; }
echo "built $(date +%T)"
# test/gpu/check_graph_api.py (the C API on 4 input values) crashed on the
# H200 in qopt_model_load, before any graph call (2026-12-03; it runs here
# on the CPU side; suspected: the artifacts' DT_NEEDED libqopt_runtime.so,
# which this g++ build has no SONAME for, resolving to a second copy):
# CHECK_GRAPH_API=1 runs it, with LD_LIBRARY_PATH at the build.
if [ "${CHECK_GRAPH_API:-0}" = 1 ]; then
  LD_LIBRARY_PATH="$BUILD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 40 python3 -X faulthandler "$ROOT/test/gpu/check_graph_api.py" --dir "$CASES" \
    --runtime "$BUILD/libqopt_runtime.so" --out "$OUT/graph_api.json" > "$OUT/graph_api.txt" 2>&1
  tail -3 "$OUT/graph_api.txt"
fi
timeout 70 python3 "$ROOT/test/gpu/check_models.py" --jobs 8 --device-io --cuda-graph \
  --dir "$CASES" --quant-run "$BUILD/quant-run" --out "$OUT/models.json" > "$OUT/models.txt" 2>&1
tail -4 "$OUT/models.txt"
echo "checked $(date +%T)"
timeout "${BENCH_TIMEOUT:-110}" python3 "$ROOT/benchmarks/gpu/bench_models.py" --dir "$BENCH" \
  --cuda-graph --no-profile --quant-run "$BUILD/quant-run" --out "$OUT/bench_models.json" \
  > "$OUT/bench_models.txt" 2>&1
tail -12 "$OUT/bench_models.txt"
echo "done $(date +%T)"
