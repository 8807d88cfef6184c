#!/usr/bin/env bash
# One call on a GPU machine: build the runtime there (g++ + nvcc, no
# LLVM/MLIR), run the CUDA pytest suite, dump the kernels' SASS resource
# usage, then the GEMV benchmark. Results go to $OUT (default build-device/out).
#
#   benchmarks/gpu/run_on_device.sh [bench_gemv.py arguments...]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-device/out}"
BUILD="$ROOT/build-device"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total \
  --format=csv 2>&1 | tee "$OUT/device.txt"

"$ROOT/benchmarks/gpu/build_on_device.sh" "$BUILD" > "$OUT/build.log" 2>&1 \
  || { cat "$OUT/build.log"; exit 1; }
export QOPT_RUNTIME_LIB="$BUILD/libqopt_runtime.so"

# Registers, spills and the instructions the hot loops use.
nvcc -cubin -arch=sm_90 -O3 -std=c++17 -Xptxas -v \
  -o "$BUILD/gemv.sm_90.cubin" "$ROOT/lib/Runtime/GPUKernels/Gemv.cu" \
  > "$OUT/ptxas.txt" 2>&1
cuobjdump --dump-sass "$BUILD/gemv.sm_90.cubin" > "$BUILD/gemv.sm_90.sass" 2>&1
{
  for k in f16_n1_m1 i8_n1_m1 i4_n1_m1; do
    echo "== qopt_gemv_$k"
    awk "/Function : qopt_gemv_$k\$/{p=1;next} /Function :/{p=0} p" \
      "$BUILD/gemv.sm_90.sass" | grep -oE '(HMMA|LDG|LDS|STS|LOP3|PRMT|HADD2|HFMA2|FFMA|BAR|SHFL)[.A-Z0-9_]*' \
      | sort | uniq -c
  done
} > "$OUT/sass_summary.txt"
awk '/Function : qopt_gemv_i4_n1_m1$/{p=1} /Function : qopt_gemv_i4_n1_m2$/{p=0} p' \
  "$BUILD/gemv.sm_90.sass" > "$OUT/sass_i4_n1_m1.txt"

timeout 300 python3 -m pytest -q -p no:cacheprovider "$ROOT/test/python/test_cuda_runtime.py" \
  2>&1 | tee "$OUT/pytest.txt" | tail -5

timeout 420 python3 "$ROOT/benchmarks/gpu/bench_gemv.py" --runtime "$QOPT_RUNTIME_LIB" \
  --out "$OUT/bench_gemv.json" "$@" 2>&1 | tee "$OUT/bench.txt"
