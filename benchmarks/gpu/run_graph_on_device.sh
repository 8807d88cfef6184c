#!/usr/bin/env bash
# One call on a GPU machine, for CUDA graphs of device-resident calls
# (qopt_cuda_model_run_graph): build the runtime and quant-run there (g++
# and nvcc), check each NVPTX artifact of CASES (test/gpu/prepare_models.py)
# through the C API on 4 input values (check_graph_api.py), every case from
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
timeout 40 python3 "$ROOT/test/gpu/check_graph_api.py" --dir "$CASES" \
  --runtime "$BUILD/libqopt_runtime.so" --out "$OUT/graph_api.json" > "$OUT/graph_api.txt" 2>&1
tail -3 "$OUT/graph_api.txt"
timeout 70 python3 "$ROOT/test/gpu/check_models.py" --jobs 8 --device-io --cuda-graph \
  --dir "$CASES" --quant-run "$BUILD/quant-run" --out "$OUT/models.json" > "$OUT/models.txt" 2>&1
tail -4 "$OUT/models.txt"
echo "checked $(date +%T)"
timeout "${BENCH_TIMEOUT:-110}" python3 "$ROOT/benchmarks/gpu/bench_models.py" --dir "$BENCH" \
  --cuda-graph --no-profile --quant-run "$BUILD/quant-run" --out "$OUT/bench_models.json" \
  > "$OUT/bench_models.txt" 2>&1
tail -12 "$OUT/bench_models.txt"
echo "done $(date +%T)"
