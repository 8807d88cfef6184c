#!/usr/bin/env bash
# One call on a GPU machine: build the runtime and quant-run there (g++ and
# nvcc), run the CUDA kernel tests, check the NVPTX artifacts of
# test/gpu/prepare_models.py against their CPU references (and again on
# device-resident inputs and outputs, --device-io), then the
# benchmarks of the float and quantized matmuls (bench_fmatmul.py,
# bench_qmatmul.py; SKIP_FMATMUL=1 / SKIP_QMATMUL=1 skip them) and of compiled
# transformers before/after (bench_models.py). Results in $OUT.
#
#   benchmarks/gpu/run_models_on_device.sh CASES_DIR BENCH_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CASES="$1"
BENCH="$2"
OUT="${OUT:-$ROOT/build-device/out}"
BUILD="$ROOT/build-device/rt"
mkdir -p "$OUT" "$BUILD"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv > "$OUT/build.txt" 2>&1
CXXFLAGS="-include string" \
  "$ROOT/benchmarks/gpu/build_on_device.sh" "$BUILD" >> "$OUT/build.txt" 2>&1 \
  || { tail -40 "$OUT/build.txt"; exit 1; }
g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" \
  -o "$BUILD/quant-run" -L"$BUILD" -lqopt_runtime -Wl,-rpath,"$BUILD" \
  >> "$OUT/build.txt" 2>&1 || { tail -40 "$OUT/build.txt"; exit 1; }
echo "built $(date +%T)"
export QOPT_RUNTIME_LIB="$BUILD/libqopt_runtime.so"
# PYTEST_FILES (names under test/python) narrows the kernel tests.
PYTEST_FILES="${PYTEST_FILES:-test_cuda_fmatmul.py test_cuda_qmatmul.py test_cuda_runtime.py}"
timeout 240 python3 -m pytest -q -p no:cacheprovider \
  $(for f in $PYTEST_FILES; do echo "$ROOT/test/python/$f"; done) \
  > "$OUT/pytest.txt" 2>&1
tail -4 "$OUT/pytest.txt"
timeout 240 python3 "$ROOT/test/gpu/check_models.py" --jobs 8 --device-io --dir "$CASES" \
  --quant-run "$BUILD/quant-run" --out "$OUT/models.json" >> "$OUT/pytest.txt" 2>&1
tail -2 "$OUT/pytest.txt"
echo "checked $(date +%T)"
[ "${SKIP_FMATMUL:-0}" = 1 ] || timeout 150 python3 "$ROOT/benchmarks/gpu/bench_fmatmul.py" \
  --runtime "$QOPT_RUNTIME_LIB" --out "$OUT/bench_fmatmul.json" > "$OUT/bench_fmatmul.txt" 2>&1
cat "$OUT/bench_fmatmul.txt"
[ "${SKIP_QMATMUL:-0}" = 1 ] || timeout 150 python3 "$ROOT/benchmarks/gpu/bench_qmatmul.py" \
  --runtime "$QOPT_RUNTIME_LIB" --out "$OUT/bench_qmatmul.json" > "$OUT/bench_qmatmul.txt" 2>&1
tail -2 "$OUT/bench_qmatmul.txt"
timeout 240 python3 "$ROOT/benchmarks/gpu/bench_models.py" --dir "$BENCH" \
  --quant-run "$BUILD/quant-run" --out "$OUT/bench_models.json" > "$OUT/bench_models.txt" 2>&1
tail -30 "$OUT/bench_models.txt"
echo "done $(date +%T)"
