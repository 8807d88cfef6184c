#!/usr/bin/env bash
# One call on a GPU machine: build the runtime there (g++ + nvcc, no
# LLVM/MLIR), run the 16-bit / float matmul CUDA tests (test_cuda_h16.py,
# test_cuda_fmatmul.py), then bench_fmatmul.py (float32 and, with
# --h16-out, float16 / bfloat16 against cuBLAS). Results go to $OUT
# (default build-device/out): build.txt, ptxas.txt, pytest_*.txt,
# bench.txt, bench_fmatmul.json, bench_h16.json.
#
#   [QOPT_CASES=DIR] benchmarks/gpu/run_wgmma_on_device.sh [--skip-f32]
#
# QOPT_CASES: NVPTX artifacts of test/gpu/prepare_kernels.py (made where
# quant-compile is built): quant-run is built against the same runtime and
# test/gpu/check_models.py checks them (gpu_kernels.json), then
# bench_compiled.py times them (bench_compiled.json).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-device/out}"
BUILD="$ROOT/build-device/wgmma"
mkdir -p "$OUT" "$BUILD"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm \
  --format=csv > "$OUT/gpu.txt" 2>&1
CXXFLAGS="${CXXFLAGS:--include string}" QOPT_CUDA_ARCHS="${QOPT_CUDA_ARCHS:-sm_80 sm_90}" \
  "$ROOT/benchmarks/gpu/build_on_device.sh" "$BUILD" > "$OUT/build.txt" 2>&1 \
  || { tail -40 "$OUT/build.txt"; exit 1; }
ptxas -arch=sm_90a -O3 -v "$BUILD/GPUKernels/wgmma.sm_90a.ptx" -o "$BUILD/wgmma.cubin" \
  > "$OUT/ptxas.txt" 2>&1
export QOPT_RUNTIME_LIB="$BUILD/libqopt_runtime.so"
cd "$ROOT/test/python" || exit 1
timeout "${QOPT_TEST_TIMEOUT:-90}" python3 -m pytest -q -p no:cacheprovider \
  test_cuda_h16.py > "$OUT/pytest_h16.txt" 2>&1
tail -3 "$OUT/pytest_h16.txt"
timeout "${QOPT_TEST_TIMEOUT:-90}" python3 -m pytest -q -p no:cacheprovider \
  test_cuda_fmatmul.py > "$OUT/pytest_fmatmul.txt" 2>&1
tail -3 "$OUT/pytest_fmatmul.txt"
cd "$ROOT" || exit 1
if [ -n "${QOPT_CASES:-}" ]; then
  g++ -std=c++17 -O2 -I"$ROOT/include" "$ROOT/tools/quant-run/quant-run.cpp" \
    -o "$BUILD/quant-run" -L"$BUILD" -lqopt_runtime -Wl,-rpath,"$BUILD" \
    >> "$OUT/build.txt" 2>&1 || tail -20 "$OUT/build.txt"
  timeout 60 python3 test/gpu/check_models.py --jobs 8 --dir "$QOPT_CASES" \
    --quant-run "$BUILD/quant-run" --out "$OUT/gpu_kernels.json" 2>&1 | tail -20
  timeout 60 python3 benchmarks/gpu/bench_compiled.py --dir "$QOPT_CASES" \
    --quant-run "$BUILD/quant-run" --out "$OUT/bench_compiled.json" 2>&1 | tail -20
fi
timeout "${QOPT_BENCH_TIMEOUT:-120}" python3 benchmarks/gpu/bench_fmatmul.py \
  --runtime "$QOPT_RUNTIME_LIB" --out "$OUT/bench_fmatmul.json" \
  --h16-out "$OUT/bench_h16.json" "$@" > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
# QOPT_BENCH_ALT="VAR=VALUE ...": a second 16-bit pass with those variables
# (e.g. QOPT_CUDA_WGMMA_PERSISTENT=0, QOPT_CUDA_WGMMA_SPLIT16=0).
if [ -n "${QOPT_BENCH_ALT:-}" ]; then
  # shellcheck disable=SC2086
  env $QOPT_BENCH_ALT timeout 90 python3 benchmarks/gpu/bench_fmatmul.py \
    --runtime "$QOPT_RUNTIME_LIB" --out "$OUT/unused.json" --skip-f32 \
    --h16-out "$OUT/bench_h16_alt.json" > "$OUT/bench_alt.txt" 2>&1
  cat "$OUT/bench_alt.txt"
fi
