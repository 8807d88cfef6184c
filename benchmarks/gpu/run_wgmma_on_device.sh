#!/usr/bin/env bash
# One call on a GPU machine: build the runtime there (g++ + nvcc, no
# LLVM/MLIR), run the 16-bit / float matmul CUDA tests (test_cuda_h16.py,
# test_cuda_fmatmul.py), then bench_fmatmul.py (float32 and, with
# --h16-out, float16 / bfloat16 against cuBLAS). Results go to $OUT
# (default build-device/out): build.txt, ptxas.txt, pytest_*.txt,
# bench.txt, bench_fmatmul.json, bench_h16.json.
#
#   benchmarks/gpu/run_wgmma_on_device.sh [--skip-f32]
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
timeout "${QOPT_BENCH_TIMEOUT:-120}" python3 benchmarks/gpu/bench_fmatmul.py \
  --runtime "$QOPT_RUNTIME_LIB" --out "$OUT/bench_fmatmul.json" \
  --h16-out "$OUT/bench_h16.json" "$@" > "$OUT/bench.txt" 2>&1
cat "$OUT/bench.txt"
