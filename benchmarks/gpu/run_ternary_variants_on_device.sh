#!/usr/bin/env bash
# One call on a GPU machine: builds the runtime with the default launch
# shape of the fused batch-1 ternary kernel (qopt_qmm_s8t2_fused) and with
# other shapes (QOPT_T2F_WARPS / _ROWS / _DEPTH, GPUKernels/QMatmul.cu),
# runs the quantized and float matmul kernel tests on the default one and
# the ternary tests on the variants, then bench_qmatmul.py at 8192x8192 and
# 28672x8192, batch 1, for each. Results in $OUT (q_<variant>.json).
#
#   benchmarks/gpu/run_ternary_variants_on_device.sh \
#       [name:nvcc flags;...]   (default: the shapes benchmarks/gpu/README.md lists)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-$ROOT/build-device/out}"
B="$ROOT/build-device/t2"
mkdir -p "$OUT" "$B"
export CXXFLAGS="-include string" QOPT_CUDA_ARCHS=sm_90 PYTHONUNBUFFERED=1
IFS=';' read -r -a variants <<< "${1:-default:;d2:-DQOPT_T2F_DEPTH=2;w32r2:-DQOPT_T2F_WARPS=32 -DQOPT_T2F_ROWS=2;w8r4d2:-DQOPT_T2F_WARPS=8 -DQOPT_T2F_DEPTH=2}"
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086
  bash "$ROOT/benchmarks/gpu/build_on_device.sh" "$B/${v%%:*}" ${v#*:} \
    > "$OUT/build_${v%%:*}.txt" 2>&1 &
done
wait
export QOPT_RUNTIME_LIB="$B/default/libqopt_runtime.so"
timeout 200 python3 -m pytest -q -p no:cacheprovider "$ROOT/test/python/test_cuda_qmatmul.py" \
  "$ROOT/test/python/test_cuda_fmatmul.py" > "$OUT/pytest.txt" 2>&1
tail -1 "$OUT/pytest.txt"
for v in "${variants[@]}"; do
  name="${v%%:*}"
  [ "$name" = default ] && continue
  QOPT_RUNTIME_LIB="$B/$name/libqopt_runtime.so" timeout 60 python3 -m pytest -q \
    -p no:cacheprovider "$ROOT/test/python/test_cuda_qmatmul.py" -k s8t2 2>&1 | tail -1
done
for v in "${variants[@]}" "unfused:"; do
  name="${v%%:*}"
  lib="$B/$name/libqopt_runtime.so"
  env=()
  if [ "$name" = unfused ]; then lib="$QOPT_RUNTIME_LIB"; env=(QOPT_CUDA_T2_FUSED=0); fi
  echo "== $name"
  env "${env[@]+"${env[@]}"}" timeout 100 python3 "$ROOT/benchmarks/gpu/bench_qmatmul.py" \
    --runtime "$lib" --out "$OUT/q_$name.json" --shapes 8192x8192,28672x8192 --batches 1 |
    python3 -c "
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(r['n'], r['k'], 'torch fp16', round(r['torch_fp16_us'], 1), 'us; s8t2',
          round(r['s8t2_us'], 1), 'us, x%.2f, %.0f%% of 4.8 TB/s' % (
              r['s8t2_speedup_vs_torch_fp16'], 100 * r['s8t2_frac_hbm_4800']))"
done
